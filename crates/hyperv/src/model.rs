//! Typed values of the Msvm properties and method results the workflow reads: replication
//! mode/state/health, VM power state, job state and method return codes, with their documented
//! meanings and the names PowerShell shows for them.

use std::fmt;

use serde::{Serialize, Serializer};

/// Declares a `u16`-valued enum with an `Other(u16)` catch-all, its name and description.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => ($label:literal, $desc:literal), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know.
            Other($repr),
        }

        impl $name {
            /// Every documented value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The variant for a raw value (unknown values become `Other`).
            pub fn from_value(v: $repr) -> Self {
                match v {
                    $( $value => $name::$variant, )*
                    other => $name::Other(other),
                }
            }

            /// The raw value.
            pub fn value(self) -> $repr {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Other(v) => v,
                }
            }

            /// A short CamelCase name (`Other(n)` gives `"Undocumented"`).
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )*
                    $name::Other(_) => "Undocumented",
                }
            }

            /// The meaning as documented by Microsoft.
            pub fn description(self) -> &'static str {
                match self {
                    $( $name::$variant => $desc, )*
                    $name::Other(_) => "undocumented value",
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Other(v) => write!(f, "Undocumented({v})"),
                    _ => f.write_str(self.name()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

coded_enum! {
    /// `Msvm_ComputerSystem.ReplicationMode` ([msvm-computersystem]); names as PowerShell's
    /// `VMReplicationMode`.
    pub enum ReplicationMode: u16 {
        /// 0: not replicated.
        None = 0 => ("None", "not replicated"),
        /// 1: the primary VM.
        Primary = 1 => ("Primary", "primary"),
        /// 2: a replica ("Recovery").
        Replica = 2 => ("Replica", "replica (recovery)"),
        /// 3: a test replica made by a test failover.
        TestReplica = 3 => ("TestReplica", "test replica"),
        /// 4: an extended replica.
        ExtendedReplica = 4 => ("ExtendedReplica", "extended replica"),
    }
}

coded_enum! {
    /// WMI `ReplicationState` of `Msvm_ComputerSystem` (0..14) and
    /// `Msvm_ReplicationRelationship` (adds 15..21, Windows 10 1703+)
    /// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem>,
    /// <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationrelationship>).
    pub enum ReplicationState: u16 {
        /// 0
        Disabled = 0 => ("Disabled", "disabled"),
        /// 1
        ReadyForReplication = 1 => ("ReadyForReplication", "ready for replication"),
        /// 2
        WaitingToCompleteInitialReplication = 2 =>
            ("WaitingToCompleteInitialReplication", "waiting to complete initial replication"),
        /// 3
        Replicating = 3 => ("Replicating", "replicating"),
        /// 4: what `Start-VMFailover -Prepare` leaves on the primary.
        SyncedReplicationComplete = 4 => ("SyncedReplicationComplete", "synced replication complete"),
        /// 5: failed over, not committed.
        Recovered = 5 => ("Recovered", "recovered"),
        /// 6: failover committed.
        Committed = 6 => ("Committed", "committed"),
        /// 7
        Suspended = 7 => ("Suspended", "suspended"),
        /// 8
        Critical = 8 => ("Critical", "critical"),
        /// 9
        WaitingToStartResynchronization = 9 =>
            ("WaitingToStartResynchronization", "waiting to start resynchronization"),
        /// 10
        Resynchronizing = 10 => ("Resynchronizing", "resynchronizing"),
        /// 11
        ResynchronizationSuspended = 11 => ("ResynchronizationSuspended", "resynchronization suspended"),
        /// 12
        FailoverInProgress = 12 => ("FailoverInProgress", "failover in progress"),
        /// 13
        FailbackInProgress = 13 => ("FailbackInProgress", "failback in progress"),
        /// 14
        FailbackComplete = 14 => ("FailbackComplete", "failback complete"),
        /// 15
        DiskUpdateInProgress = 15 => ("DiskUpdateInProgress", "disk update in progress"),
        /// 16
        DiskUpdateCritical = 16 => ("DiskUpdateCritical", "disk update critical"),
        /// 17: the documented value "Unknown".
        Unknown = 17 => ("Unknown", "unknown"),
        /// 18
        RepurposeReplicationInProgress = 18 =>
            ("RepurposeReplicationInProgress", "repurpose replication in progress"),
        /// 19
        PreparedForSyncReplication = 19 => ("PreparedForSyncReplication", "prepared for sync replication"),
        /// 20
        PreparedForGroupReverseReplication = 20 =>
            ("PreparedForGroupReverseReplication", "prepared for group reverse replication"),
        /// 21
        FiredrillInProgress = 21 => ("FiredrillInProgress", "firedrill in progress"),
    }
}

coded_enum! {
    /// `ReplicationHealth` ([msvm-computersystem]); names as PowerShell's
    /// `VMReplicationHealthState` (WMI "Ok" is PowerShell "Normal").
    pub enum ReplicationHealth: u16 {
        /// 0
        NotApplicable = 0 => ("NotApplicable", "not applicable"),
        /// 1: WMI "Ok".
        Normal = 1 => ("Normal", "ok"),
        /// 2
        Warning = 2 => ("Warning", "warning"),
        /// 3
        Critical = 3 => ("Critical", "critical"),
    }
}

coded_enum! {
    /// `Msvm_ComputerSystem.EnabledState` (VM power state); names as PowerShell's `VMState`
    /// ([msvm-computersystem], libvirt `hyperv_wmi_classes.h`).
    pub enum EnabledState: u16 {
        /// 0
        Unknown = 0 => ("Unknown", "unknown"),
        /// 1
        OtherState = 1 => ("Other", "other"),
        /// 2: running.
        Running = 2 => ("Running", "enabled (running)"),
        /// 3: off.
        Off = 3 => ("Off", "disabled (off)"),
        /// 4
        ShuttingDown = 4 => ("ShuttingDown", "shutting down"),
        /// 5
        NotApplicable = 5 => ("NotApplicable", "not applicable"),
        /// 6
        EnabledButOffline = 6 => ("EnabledButOffline", "enabled but offline"),
        /// 7
        InTest = 7 => ("InTest", "in test"),
        /// 8
        Deferred = 8 => ("Deferred", "deferred"),
        /// 9
        Quiesce = 9 => ("Quiesce", "quiesce"),
        /// 10
        StartingCim = 10 => ("Starting", "starting"),
        /// 32768
        Paused = 32768 => ("Paused", "paused"),
        /// 32769: saved state.
        Saved = 32769 => ("Saved", "suspended (saved)"),
        /// 32770
        Starting = 32770 => ("Starting", "starting"),
        /// 32771
        Snapshotting = 32771 => ("Snapshotting", "snapshotting"),
        /// 32773
        Saving = 32773 => ("Saving", "saving"),
        /// 32774
        Stopping = 32774 => ("Stopping", "stopping"),
        /// 32776
        Pausing = 32776 => ("Pausing", "pausing"),
        /// 32777
        Resuming = 32777 => ("Resuming", "resuming"),
    }
}

coded_enum! {
    /// `Msvm_ConcreteJob.JobState` ([msvm-concretejob]).
    pub enum JobState: u16 {
        /// 2
        New = 2 => ("New", "new"),
        /// 3
        Starting = 3 => ("Starting", "starting"),
        /// 4
        Running = 4 => ("Running", "running"),
        /// 5: suspended; it will not progress until resumed.
        Suspended = 5 => ("Suspended", "suspended"),
        /// 6
        ShuttingDown = 6 => ("ShuttingDown", "shutting down"),
        /// 7: completed successfully.
        Completed = 7 => ("Completed", "completed"),
        /// 8
        Terminated = 8 => ("Terminated", "terminated"),
        /// 9
        Killed = 9 => ("Killed", "killed"),
        /// 10
        Exception = 10 => ("Exception", "exception"),
        /// 11
        Service = 11 => ("Service", "service"),
    }
}

impl JobState {
    /// 7 Completed.
    pub fn is_success(self) -> bool {
        self == JobState::Completed
    }

    /// 8 Terminated, 9 Killed, 10 Exception, 11 Service: the job ended without success.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            JobState::Terminated | JobState::Killed | JobState::Exception | JobState::Service
        )
    }

    /// The job has ended (success or failure).
    pub fn is_finished(self) -> bool {
        self.is_success() || self.is_failure()
    }
}

impl ReplicationMode {
    /// Replica or extended replica: the modes where failover and reverse apply.
    pub fn is_replica(self) -> bool {
        matches!(self, ReplicationMode::Replica | ReplicationMode::ExtendedReplica)
    }
}

/// PowerShell's `VMReplicationState` (what `Get-VMReplication` shows), derived from the
/// replication mode and the WMI state exactly as the Hyper-V PowerShell module does (its
/// `ConvertFailoverReplicationStateToVMReplicationState`; the names are the `VMReplicationState`
/// values `Get-VMReplication` prints,
/// <https://learn.microsoft.com/powershell/module/hyper-v/get-vmreplication>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum PsReplicationState {
    Disabled,
    ReadyForInitialReplication,
    InitialReplicationInProgress,
    WaitingForInitialReplication,
    Replicating,
    PreparedForFailover,
    FailedOverWaitingCompletion,
    FailedOver,
    Suspended,
    Error,
    WaitingForStartResynchronize,
    Resynchronizing,
    ResynchronizeSuspended,
    RecoveryInProgress,
    FailbackInProgress,
    FailbackComplete,
    WaitingForUpdateCompletion,
    UpdateError,
    WaitingForRepurposeCompletion,
    PreparedForSyncReplication,
    PreparedForGroupReverseReplication,
    FiredrillInProgress,
}

impl PsReplicationState {
    /// The PowerShell name for `state` of a VM in `mode`.
    pub fn derive(mode: ReplicationMode, state: ReplicationState) -> Self {
        use PsReplicationState as P;
        use ReplicationState as S;
        let v = state.value();
        match mode {
            ReplicationMode::Primary => match v {
                1 => P::ReadyForInitialReplication,
                2 => P::InitialReplicationInProgress,
                3 => P::Replicating,
                4 => P::PreparedForFailover,
                7 => P::Suspended,
                8 => P::Error,
                9 => P::WaitingForStartResynchronize,
                10 => P::Resynchronizing,
                11 => P::ResynchronizeSuspended,
                12 => P::RecoveryInProgress,
                15 => P::WaitingForUpdateCompletion,
                16 => P::UpdateError,
                18 => P::WaitingForRepurposeCompletion,
                19 => P::PreparedForSyncReplication,
                20 => P::PreparedForGroupReverseReplication,
                _ => P::Disabled,
            },
            ReplicationMode::Replica | ReplicationMode::ExtendedReplica => {
                let extended = mode == ReplicationMode::ExtendedReplica;
                match state {
                    S::ReadyForReplication if extended => P::ReadyForInitialReplication,
                    S::WaitingToCompleteInitialReplication if extended => P::InitialReplicationInProgress,
                    S::WaitingToCompleteInitialReplication => P::WaitingForInitialReplication,
                    S::Replicating => P::Replicating,
                    S::Recovered => P::FailedOverWaitingCompletion,
                    S::Committed => P::FailedOver,
                    S::Suspended => P::Suspended,
                    S::Critical => P::Error,
                    S::WaitingToStartResynchronization if extended => P::WaitingForStartResynchronize,
                    S::Resynchronizing => P::Resynchronizing,
                    S::ResynchronizationSuspended => P::ResynchronizeSuspended,
                    S::FailoverInProgress => P::RecoveryInProgress,
                    S::FailbackInProgress => P::FailbackInProgress,
                    S::FailbackComplete => P::FailbackComplete,
                    S::DiskUpdateInProgress => P::WaitingForUpdateCompletion,
                    S::DiskUpdateCritical => P::UpdateError,
                    S::RepurposeReplicationInProgress if !extended => P::WaitingForRepurposeCompletion,
                    S::FiredrillInProgress => P::FiredrillInProgress,
                    _ => P::Disabled,
                }
            }
            _ => P::Disabled,
        }
    }

    /// The PowerShell enum name.
    pub fn name(self) -> &'static str {
        use PsReplicationState as P;
        match self {
            P::Disabled => "Disabled",
            P::ReadyForInitialReplication => "ReadyForInitialReplication",
            P::InitialReplicationInProgress => "InitialReplicationInProgress",
            P::WaitingForInitialReplication => "WaitingForInitialReplication",
            P::Replicating => "Replicating",
            P::PreparedForFailover => "PreparedForFailover",
            P::FailedOverWaitingCompletion => "FailedOverWaitingCompletion",
            P::FailedOver => "FailedOver",
            P::Suspended => "Suspended",
            P::Error => "Error",
            P::WaitingForStartResynchronize => "WaitingForStartResynchronize",
            P::Resynchronizing => "Resynchronizing",
            P::ResynchronizeSuspended => "ResynchronizeSuspended",
            P::RecoveryInProgress => "RecoveryInProgress",
            P::FailbackInProgress => "FailbackInProgress",
            P::FailbackComplete => "FailbackComplete",
            P::WaitingForUpdateCompletion => "WaitingForUpdateCompletion",
            P::UpdateError => "UpdateError",
            P::WaitingForRepurposeCompletion => "WaitingForRepurposeCompletion",
            P::PreparedForSyncReplication => "PreparedForSyncReplication",
            P::PreparedForGroupReverseReplication => "PreparedForGroupReverseReplication",
            P::FiredrillInProgress => "FiredrillInProgress",
        }
    }
}

impl fmt::Display for PsReplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for PsReplicationState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The `uint32` a WMI method returns (the `Msvm_ReplicationService` method pages,
/// <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationservice>, for the Hyper-V codes,
/// `CIM_EnabledLogicalElement.RequestStateChange` for the CIM generic ones).
///
/// Hyper-V methods use 0, 4096 and 32768..32779; CIM-generic methods (for example
/// `Msvm_ComputerSystem.RequestStateChange`) use 1..6 and 4097..4099. The two sets do not
/// overlap, so one type decodes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReturnCode {
    /// 0: completed with no error.
    Completed,
    /// 4096: method parameters checked, job started.
    JobStarted,
    /// 1 (CIM): not supported.
    CimNotSupported,
    /// 2 (CIM): unknown or unspecified error.
    CimUnknownError,
    /// 3 (CIM): cannot complete within the timeout period.
    CimTimeout,
    /// 4 (CIM): failed.
    CimFailed,
    /// 5 (CIM): invalid parameter.
    CimInvalidParameter,
    /// 6 (CIM): in use.
    CimInUse,
    /// 4097 (CIM): invalid state transition.
    InvalidStateTransition,
    /// 4098 (CIM): use of the timeout parameter is not supported.
    TimeoutParameterNotSupported,
    /// 4099 (CIM): busy.
    Busy,
    /// 32768: failed.
    Failed,
    /// 32769: access denied.
    AccessDenied,
    /// 32770: not supported.
    NotSupported,
    /// 32771: status is unknown.
    StatusUnknown,
    /// 32772: timeout.
    Timeout,
    /// 32773: invalid parameter.
    InvalidParameter,
    /// 32774: system is in use.
    SystemInUse,
    /// 32775: invalid state for this operation.
    InvalidState,
    /// 32776: incorrect data type.
    IncorrectDataType,
    /// 32777: system is not available.
    SystemNotAvailable,
    /// 32778: out of memory.
    OutOfMemory,
    /// 32779: file not found.
    FileNotFound,
    /// Any other value.
    Other(u32),
}

impl ReturnCode {
    /// Every documented value.
    pub const ALL: &'static [ReturnCode] = &[
        ReturnCode::Completed,
        ReturnCode::CimNotSupported,
        ReturnCode::CimUnknownError,
        ReturnCode::CimTimeout,
        ReturnCode::CimFailed,
        ReturnCode::CimInvalidParameter,
        ReturnCode::CimInUse,
        ReturnCode::JobStarted,
        ReturnCode::InvalidStateTransition,
        ReturnCode::TimeoutParameterNotSupported,
        ReturnCode::Busy,
        ReturnCode::Failed,
        ReturnCode::AccessDenied,
        ReturnCode::NotSupported,
        ReturnCode::StatusUnknown,
        ReturnCode::Timeout,
        ReturnCode::InvalidParameter,
        ReturnCode::SystemInUse,
        ReturnCode::InvalidState,
        ReturnCode::IncorrectDataType,
        ReturnCode::SystemNotAvailable,
        ReturnCode::OutOfMemory,
        ReturnCode::FileNotFound,
    ];

    /// Decodes a raw `ReturnValue`.
    pub fn from_value(v: u32) -> Self {
        match v {
            0 => ReturnCode::Completed,
            1 => ReturnCode::CimNotSupported,
            2 => ReturnCode::CimUnknownError,
            3 => ReturnCode::CimTimeout,
            4 => ReturnCode::CimFailed,
            5 => ReturnCode::CimInvalidParameter,
            6 => ReturnCode::CimInUse,
            4096 => ReturnCode::JobStarted,
            4097 => ReturnCode::InvalidStateTransition,
            4098 => ReturnCode::TimeoutParameterNotSupported,
            4099 => ReturnCode::Busy,
            32768 => ReturnCode::Failed,
            32769 => ReturnCode::AccessDenied,
            32770 => ReturnCode::NotSupported,
            32771 => ReturnCode::StatusUnknown,
            32772 => ReturnCode::Timeout,
            32773 => ReturnCode::InvalidParameter,
            32774 => ReturnCode::SystemInUse,
            32775 => ReturnCode::InvalidState,
            32776 => ReturnCode::IncorrectDataType,
            32777 => ReturnCode::SystemNotAvailable,
            32778 => ReturnCode::OutOfMemory,
            32779 => ReturnCode::FileNotFound,
            other => ReturnCode::Other(other),
        }
    }

    /// The raw value.
    pub fn value(self) -> u32 {
        match self {
            ReturnCode::Completed => 0,
            ReturnCode::CimNotSupported => 1,
            ReturnCode::CimUnknownError => 2,
            ReturnCode::CimTimeout => 3,
            ReturnCode::CimFailed => 4,
            ReturnCode::CimInvalidParameter => 5,
            ReturnCode::CimInUse => 6,
            ReturnCode::JobStarted => 4096,
            ReturnCode::InvalidStateTransition => 4097,
            ReturnCode::TimeoutParameterNotSupported => 4098,
            ReturnCode::Busy => 4099,
            ReturnCode::Failed => 32768,
            ReturnCode::AccessDenied => 32769,
            ReturnCode::NotSupported => 32770,
            ReturnCode::StatusUnknown => 32771,
            ReturnCode::Timeout => 32772,
            ReturnCode::InvalidParameter => 32773,
            ReturnCode::SystemInUse => 32774,
            ReturnCode::InvalidState => 32775,
            ReturnCode::IncorrectDataType => 32776,
            ReturnCode::SystemNotAvailable => 32777,
            ReturnCode::OutOfMemory => 32778,
            ReturnCode::FileNotFound => 32779,
            ReturnCode::Other(v) => v,
        }
    }

    /// The documented meaning.
    pub fn description(self) -> &'static str {
        match self {
            ReturnCode::Completed => "completed with no error",
            ReturnCode::JobStarted => "method parameters checked, job started",
            ReturnCode::CimNotSupported => "not supported",
            ReturnCode::CimUnknownError => "unknown or unspecified error",
            ReturnCode::CimTimeout => "cannot complete within the timeout period",
            ReturnCode::CimFailed => "failed",
            ReturnCode::CimInvalidParameter => "invalid parameter",
            ReturnCode::CimInUse => "in use",
            ReturnCode::InvalidStateTransition => "invalid state transition",
            ReturnCode::TimeoutParameterNotSupported => "use of the timeout parameter is not supported",
            ReturnCode::Busy => "busy",
            ReturnCode::Failed => "failed",
            ReturnCode::AccessDenied => "access denied",
            ReturnCode::NotSupported => "not supported",
            ReturnCode::StatusUnknown => "status is unknown",
            ReturnCode::Timeout => "timeout",
            ReturnCode::InvalidParameter => "invalid parameter",
            ReturnCode::SystemInUse => "system is in use",
            ReturnCode::InvalidState => "invalid state for this operation",
            ReturnCode::IncorrectDataType => "incorrect data type",
            ReturnCode::SystemNotAvailable => "system is not available",
            ReturnCode::OutOfMemory => "out of memory",
            ReturnCode::FileNotFound => "file not found",
            ReturnCode::Other(_) => "undocumented return value",
        }
    }

    /// A hint for the operator, where the code suggests one.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            ReturnCode::AccessDenied => {
                "the account needs to be in the host's Hyper-V Administrators or Administrators group"
            }
            ReturnCode::InvalidState | ReturnCode::InvalidStateTransition => {
                "the VM is not in a state that allows this; check it with `hvctl replication status`"
            }
            ReturnCode::SystemInUse | ReturnCode::Busy | ReturnCode::CimInUse => {
                "another operation is running on the VM; wait for it and retry"
            }
            ReturnCode::IncorrectDataType
            | ReturnCode::InvalidParameter
            | ReturnCode::CimInvalidParameter => {
                "the host rejected a parameter; re-run with `--record DIR` to write the request and the reply to DIR"
            }
            ReturnCode::SystemNotAvailable => "the Hyper-V management service may be stopped or overloaded",
            _ => return None,
        })
    }

    /// 0: done.
    pub fn is_success(self) -> bool {
        self == ReturnCode::Completed
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.value(), self.description())
    }
}

impl Serialize for ReturnCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.value())
    }
}

coded_enum! {
    /// `Msvm_ReplicationSettingData.AuthenticationType`.
    pub enum ReplicationAuth: u16 {
        /// 1: Kerberos over HTTP.
        Kerberos = 1 => ("Kerberos", "kerberos (http)"),
        /// 2: certificate over HTTPS.
        Certificate = 2 => ("Certificate", "certificate (https)"),
    }
}

/// The name of a replication `Msvm_ConcreteJob.JobType` ([msvm-concretejob]), when known.
pub fn job_type_name(job_type: u16) -> Option<&'static str> {
    Some(match job_type {
        90 => "Modify Replication Server Settings",
        91 => "Create Replication Relationship",
        92 => "Modify Replication Relationship Settings",
        93 => "Remove Replication Relationship",
        94 => "Start Inband Initial Replication",
        95 => "Import Replication",
        96 => "Replicate State Change",
        97 => "Initiate Failover",
        98 => "Revert Failover",
        99 => "Commit Failover",
        100 => "Initiate Synced Replication",
        101 => "Cancel Synced Replication",
        102 => "Initiate Test Replica",
        103 => "Remove Test Replica",
        104 => "Reverse Replication",
        105 => "Replication Sending Delta",
        106 => "Replication Receiving Delta",
        107 => "Resynchronizing",
        108 => "Apply change log",
        109 => "Stop Initial Replication",
        110 => "Stop Resynchronizing",
        111 => "Get Replica statistics",
        112..=114 => "Consistency Checker",
        115 => "Test Replication Connection",
        116 => "Sending Initial Replica",
        117 => "Start Resync Initial Replication",
        118 => "Start Export Initial Replication",
        119 => "Reset Replica Statistics",
        120 => "Apply Registered Deltas",
        121 => "Resynchronizing Extended Replication",
        122 => "Reading Test Replica Configuration",
        123 => "Change the replication mode to primary",
        124 => "Initiate Failback",
        125 => "Update Disk Set",
        _ => return None,
    })
}
