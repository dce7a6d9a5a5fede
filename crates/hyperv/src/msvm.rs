//! Typed views of the Msvm instances the workflow reads, built from `wsman_soap::Instance`:
//! `Msvm_ComputerSystem` ([`Vm`]), `Msvm_ReplicationSettingData` ([`ReplicationSettings`]),
//! `Msvm_ReplicationRelationship` ([`ReplicationRelationship`]), `Msvm_ConcreteJob` ([`Job`]),
//! `Msvm_Error` ([`MsvmError`]); plus resource URIs, EPRs and the RSD MOF schema.

use serde::{Serialize, Serializer};
use wsman_soap::epr::wmi_resource_uri;
use wsman_soap::{CimDateTime, CimType, Epr, Instance, Scalar, SelectorSet, Value};

use crate::model::{
    job_type_name, EnabledState, JobState, PsReplicationState, ReplicationAuth, ReplicationHealth,
    ReplicationMode, ReplicationState,
};
use crate::Error;

/// The WMI namespace of the Hyper-V v2 classes.
pub const NAMESPACE: &str = "root/virtualization/v2";

/// `Msvm_ComputerSystem`.
pub const COMPUTER_SYSTEM: &str = "Msvm_ComputerSystem";
/// `Msvm_ReplicationService`.
pub const REPLICATION_SERVICE: &str = "Msvm_ReplicationService";
/// `Msvm_ReplicationSettingData`.
pub const REPLICATION_SETTING_DATA: &str = "Msvm_ReplicationSettingData";
/// `Msvm_ReplicationRelationship`.
pub const REPLICATION_RELATIONSHIP: &str = "Msvm_ReplicationRelationship";
/// `Msvm_ConcreteJob`.
pub const CONCRETE_JOB: &str = "Msvm_ConcreteJob";
/// `Msvm_ShutdownComponent`: a running VM's guest shutdown integration service.
pub const SHUTDOWN_COMPONENT: &str = "Msvm_ShutdownComponent";
/// The keys of `Msvm_ShutdownComponent` (those of `CIM_LogicalDevice`,
/// <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-shutdowncomponent>).
pub const SHUTDOWN_COMPONENT_KEYS: [&str; 4] = [
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];
/// `Msvm_VirtualSystemSettingData` (recovery points are snapshots of this class).
pub const VIRTUAL_SYSTEM_SETTING_DATA: &str = "Msvm_VirtualSystemSettingData";
/// `Msvm_VirtualSystemManagementService`
pub const VIRTUAL_SYSTEM_MANAGEMENT_SERVICE: &str = "Msvm_VirtualSystemManagementService";

/// The resource URI of an Msvm class in [`NAMESPACE`] ([MS-WSMV 3.1.4.1.1]).
pub fn class_uri(class: &str) -> String {
    wmi_resource_uri(NAMESPACE, class)
}

/// The "all classes" URI of [`NAMESPACE`], for WQL and association filters.
pub fn all_classes_uri() -> String {
    wmi_resource_uri(NAMESPACE, "*")
}

/// The selectors of a VM's `Msvm_ComputerSystem`: both keys, `CreationClassName` first (a Get
/// with `Name` alone fails on real hosts, as reported by r4sd/go-wsman's real-host tests;
/// libvirt's Hyper-V driver, `src/hyperv/hyperv_wmi.c`, also sends both).
pub fn vm_selectors(guid: &str) -> SelectorSet {
    SelectorSet::new()
        .with("CreationClassName", COMPUTER_SYSTEM)
        .with("Name", guid)
}

/// The EPR of a VM's `Msvm_ComputerSystem` (the `ComputerSystem` REF parameter).
pub fn vm_epr(guid: &str) -> Epr {
    Epr::new(class_uri(COMPUTER_SYSTEM), vm_selectors(guid))
}

/// The `InstanceID` of a VM's primary-relationship RSD and relationship:
/// `Microsoft:<GUID>\HVR\0` ([msvm-replicationsettingdata], 8.1+).
pub fn primary_relationship_id(guid: &str) -> String {
    format!("Microsoft:{guid}\\HVR\\0")
}

/// True for the `8-4-4-4-12` hex form Hyper-V uses for VM names (`Msvm_ComputerSystem.Name`).
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8usize, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The MOF schema of `Msvm_ReplicationSettingData`
/// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationsettingdata>): `(property, CIM type, is_array)`, used with
/// `Instance::retyped` so the embedded instance carries the right `TYPE`s and DMTF datetimes.
pub const RSD_SCHEMA: &[(&str, CimType, bool)] = &[
    ("InstanceID", CimType::String, false),
    ("Caption", CimType::String, false),
    ("Description", CimType::String, false),
    ("ElementName", CimType::String, false),
    ("VirtualSystemIdentifier", CimType::String, false),
    ("VirtualSystemType", CimType::String, false),
    ("Notes", CimType::String, true),
    ("CreationTime", CimType::Datetime, false),
    ("ConfigurationID", CimType::String, false),
    ("ConfigurationDataRoot", CimType::String, false),
    ("ConfigurationFile", CimType::String, false),
    ("SnapshotDataRoot", CimType::String, false),
    ("SuspendDataRoot", CimType::String, false),
    ("SwapFileDataRoot", CimType::String, false),
    ("LogDataRoot", CimType::String, false),
    ("AutomaticStartupAction", CimType::Uint16, false),
    ("AutomaticStartupActionDelay", CimType::Datetime, false),
    ("AutomaticStartupActionSequenceNumber", CimType::Uint16, false),
    ("AutomaticShutdownAction", CimType::Uint16, false),
    ("AutomaticRecoveryAction", CimType::Uint16, false),
    ("RecoveryFile", CimType::String, false),
    ("AuthenticationType", CimType::Uint16, false),
    ("CertificateThumbPrint", CimType::String, false),
    ("RootCertificateThumbPrint", CimType::String, false),
    ("CompressionEnabled", CimType::Boolean, false),
    ("BypassProxyServer", CimType::Boolean, false),
    ("RecoveryConnectionPoint", CimType::String, false),
    ("RecoveryHostSystem", CimType::String, false),
    ("PrimaryConnectionPoint", CimType::String, false),
    ("PrimaryHostSystem", CimType::String, false),
    ("RecoveryServerPortNumber", CimType::Uint16, false),
    ("ReplicateHostKvpItems", CimType::Boolean, false),
    ("ApplicationConsistentSnapshotInterval", CimType::Uint16, false),
    ("RecoveryHistory", CimType::Uint16, false),
    ("IncludedDisks", CimType::String, true),
    ("AutoResynchronizeEnabled", CimType::Boolean, false),
    ("AutoResynchronizeIntervalStart", CimType::Datetime, false),
    ("AutoResynchronizeIntervalEnd", CimType::Datetime, false),
    ("EnableWriteOrderPreservationAcrossDisks", CimType::Boolean, false),
    ("ReplicationProvider", CimType::String, false),
    ("AdditionalSettings", CimType::String, false),
    ("ReplicationInterval", CimType::Uint16, false),
];

/// The MOF schema of `Msvm_ReplicationRelationship`
/// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationrelationship>) with the
/// properties it inherits from `CIM_ManagedSystemElement` (DMTF CIM Schema): `(property, CIM
/// type, is_array)`, to type the embedded relationship `RequestReplicationStateChangeEx` and
/// `GetReplicationStatisticsEx` take.
pub const RELATIONSHIP_SCHEMA: &[(&str, CimType, bool)] = &[
    ("InstanceID", CimType::String, false),
    ("ReplicationState", CimType::Uint16, false),
    ("ReplicationHealth", CimType::Uint16, false),
    ("FailedOverReplicationType", CimType::Uint16, false),
    ("LastReplicationType", CimType::Uint16, false),
    (
        "LastApplicationConsistentReplicationTime",
        CimType::Datetime,
        false,
    ),
    ("LastReplicationTime", CimType::Datetime, false),
    ("LastApplyTime", CimType::Datetime, false),
    ("Caption", CimType::String, false),
    ("Description", CimType::String, false),
    ("ElementName", CimType::String, false),
    ("InstallDate", CimType::Datetime, false),
    ("Name", CimType::String, false),
    ("OperationalStatus", CimType::Uint16, true),
    ("StatusDescriptions", CimType::String, true),
    ("Status", CimType::String, false),
    ("HealthState", CimType::Uint16, false),
    ("CommunicationStatus", CimType::Uint16, false),
    ("DetailedStatus", CimType::Uint16, false),
    ("OperatingStatus", CimType::Uint16, false),
    ("PrimaryStatus", CimType::Uint16, false),
];

/// A datetime property: typed `cim:Datetime`/`cim:Interval`, or text in ISO 8601 or DMTF form.
/// Null, absent, unparsable and the "never" value (1601-01-01) give `None`.
pub fn datetime_prop(i: &Instance, name: &str) -> Option<CimDateTime> {
    let dt = match i.get(name)?.as_scalar()? {
        Scalar::Datetime(d) => *d,
        Scalar::String(s) => {
            let s = s.trim();
            CimDateTime::parse_iso8601(s)
                .or_else(|_| CimDateTime::parse_dmtf(s))
                .ok()?
        }
        _ => return None,
    };
    (!dt.is_never()).then_some(dt)
}

fn string_prop(i: &Instance, name: &str) -> Option<String> {
    i.get_str(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn string_array_prop(i: &Instance, name: &str) -> Vec<String> {
    match i.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Scalar(s)) => s.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub(crate) fn serialize_datetime<S: Serializer>(v: &Option<CimDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_str(&d.to_iso8601()),
        None => s.serialize_none(),
    }
}

/// A virtual machine: the replication-relevant view of its `Msvm_ComputerSystem`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vm {
    /// `ElementName`: the name users see (`Get-VM` Name).
    pub name: String,
    /// `Name`: the VM GUID.
    pub guid: String,
    /// `EnabledState`: power state.
    pub enabled_state: EnabledState,
    /// `ReplicationMode`.
    pub replication_mode: ReplicationMode,
    /// `ReplicationState` (WMI value).
    pub replication_state: ReplicationState,
    /// The state as PowerShell names it, derived from mode and state.
    pub ps_replication_state: PsReplicationState,
    /// `ReplicationHealth`.
    pub replication_health: ReplicationHealth,
    /// `LastReplicationTime`; `None` when never (1601-01-01) or null.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_replication_time: Option<CimDateTime>,
}

impl Vm {
    /// Reads a VM from its `Msvm_ComputerSystem` instance.
    pub fn from_instance(i: &Instance) -> Result<Vm, Error> {
        let guid = string_prop(i, "Name")
            .ok_or_else(|| Error::Unexpected("an Msvm_ComputerSystem instance has no Name".into()))?;
        let mode = ReplicationMode::from_value(i.get_u16("ReplicationMode").unwrap_or(0));
        let state = ReplicationState::from_value(i.get_u16("ReplicationState").unwrap_or(0));
        Ok(Vm {
            name: i.get_str("ElementName").unwrap_or_default().to_owned(),
            guid,
            enabled_state: EnabledState::from_value(i.get_u16("EnabledState").unwrap_or(0)),
            replication_mode: mode,
            replication_state: state,
            ps_replication_state: PsReplicationState::derive(mode, state),
            replication_health: ReplicationHealth::from_value(i.get_u16("ReplicationHealth").unwrap_or(0)),
            last_replication_time: datetime_prop(i, "LastReplicationTime"),
        })
    }

    /// True for an instance that is a VM (its `Name` is a GUID), not the host itself.
    pub fn is_vm_instance(i: &Instance) -> bool {
        i.get_str("Name").is_some_and(|n| is_guid(n.trim()))
    }

    /// The VM's EPR (for `ComputerSystem` REF parameters).
    pub fn epr(&self) -> Epr {
        vm_epr(&self.guid)
    }

    /// The VM's selectors (for invokes on the VM itself).
    pub fn selectors(&self) -> SelectorSet {
        vm_selectors(&self.guid)
    }
}

/// A VM's replication settings: `Msvm_ReplicationSettingData`
/// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationsettingdata>).
///
/// The full instance as read is kept in [`ReplicationSettings::instance`]: reverse replication
/// sends it back whole, with the changed properties applied, as PowerShell does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationSettings {
    /// `InstanceID` (`Microsoft:<GUID>\HVR\0` for the primary relationship).
    pub instance_id: String,
    /// `PrimaryConnectionPoint`: the primary server as configured.
    pub primary_connection_point: Option<String>,
    /// `PrimaryHostSystem`: the primary host's FQDN.
    pub primary_host_system: Option<String>,
    /// `RecoveryConnectionPoint`: the replica server as configured.
    pub recovery_connection_point: Option<String>,
    /// `RecoveryHostSystem`: the replica host's FQDN.
    pub recovery_host_system: Option<String>,
    /// `RecoveryServerPortNumber`.
    pub recovery_server_port: Option<u16>,
    /// `AuthenticationType` (1 Kerberos, 2 Certificate; `None` for 0 or absent).
    pub authentication: Option<ReplicationAuth>,
    /// `CertificateThumbPrint`.
    pub certificate_thumbprint: Option<String>,
    /// `CompressionEnabled`.
    pub compression_enabled: Option<bool>,
    /// `ReplicationInterval` in seconds.
    pub replication_interval_seconds: Option<u16>,
    /// `RecoveryHistory`: number of extra recovery points.
    pub recovery_history: Option<u16>,
    /// `ApplicationConsistentSnapshotInterval` in hours (0 = VSS off).
    pub application_consistent_snapshot_interval: Option<u16>,
    /// The instance as read from the host.
    #[serde(skip)]
    pub instance: Instance,
}

impl ReplicationSettings {
    /// Reads the settings from an `Msvm_ReplicationSettingData` instance.
    pub fn from_instance(i: &Instance) -> Result<ReplicationSettings, Error> {
        let instance_id = string_prop(i, "InstanceID").ok_or_else(|| {
            Error::Unexpected("an Msvm_ReplicationSettingData instance has no InstanceID".into())
        })?;
        Ok(ReplicationSettings {
            instance_id,
            primary_connection_point: string_prop(i, "PrimaryConnectionPoint"),
            primary_host_system: string_prop(i, "PrimaryHostSystem"),
            recovery_connection_point: string_prop(i, "RecoveryConnectionPoint"),
            recovery_host_system: string_prop(i, "RecoveryHostSystem"),
            recovery_server_port: i.get_u16("RecoveryServerPortNumber"),
            authentication: i
                .get_u16("AuthenticationType")
                .filter(|v| *v != 0)
                .map(ReplicationAuth::from_value),
            certificate_thumbprint: string_prop(i, "CertificateThumbPrint"),
            compression_enabled: i.get_bool("CompressionEnabled"),
            replication_interval_seconds: i.get_u16("ReplicationInterval"),
            recovery_history: i.get_u16("RecoveryHistory"),
            application_consistent_snapshot_interval: i.get_u16("ApplicationConsistentSnapshotInterval"),
            instance: i.clone(),
        })
    }

    /// True for the primary relationship's settings (`InstanceID` ending in `\0`, or the
    /// Windows 8 form ending in `\HVR`).
    pub fn is_primary_relationship(&self) -> bool {
        let id = self.instance_id.to_ascii_uppercase();
        id.ends_with("\\HVR\\0") || id.ends_with("\\HVR")
    }
}

/// `Msvm_ReplicationRelationship` (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationrelationship>).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationRelationship {
    /// `InstanceID` (`Microsoft:<GUID>\HVR\0` primary, `\1` extended).
    pub instance_id: String,
    /// `ReplicationState` (includes the 15..21 values).
    pub state: ReplicationState,
    /// `ReplicationHealth`.
    pub health: ReplicationHealth,
    /// `LastReplicationTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_replication_time: Option<CimDateTime>,
    /// `LastApplyTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_apply_time: Option<CimDateTime>,
    /// `LastApplicationConsistentReplicationTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_application_consistent_replication_time: Option<CimDateTime>,
    /// The instance as read from the host (sent back embedded by the methods that name a
    /// relationship, as PowerShell does).
    #[serde(skip)]
    pub instance: Instance,
}

impl ReplicationRelationship {
    /// Reads a relationship from its instance.
    pub fn from_instance(i: &Instance) -> Result<ReplicationRelationship, Error> {
        let instance_id = string_prop(i, "InstanceID").ok_or_else(|| {
            Error::Unexpected("an Msvm_ReplicationRelationship instance has no InstanceID".into())
        })?;
        Ok(ReplicationRelationship {
            instance_id,
            state: ReplicationState::from_value(i.get_u16("ReplicationState").unwrap_or(0)),
            health: ReplicationHealth::from_value(i.get_u16("ReplicationHealth").unwrap_or(0)),
            last_replication_time: datetime_prop(i, "LastReplicationTime"),
            last_apply_time: datetime_prop(i, "LastApplyTime"),
            last_application_consistent_replication_time: datetime_prop(
                i,
                "LastApplicationConsistentReplicationTime",
            ),
            instance: i.clone(),
        })
    }
}

/// An `Msvm_ConcreteJob` ([msvm-concretejob]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// `InstanceID` (a bare GUID on real hosts).
    pub instance_id: String,
    /// `JobState`.
    pub state: JobState,
    /// `PercentComplete`, 0..=100.
    pub percent_complete: Option<u16>,
    /// `JobType`.
    pub job_type: Option<u16>,
    /// The documented name of `JobType`, when known.
    pub job_type_name: Option<&'static str>,
    /// `Caption` or `ElementName`.
    pub caption: Option<String>,
    /// `JobStatus` (free text).
    pub status: Option<String>,
    /// `ErrorCode` (0 on success).
    pub error_code: Option<u16>,
    /// `ErrorDescription`.
    pub error_description: Option<String>,
    /// `ErrorSummaryDescription`.
    pub error_summary_description: Option<String>,
    /// `Cancellable`.
    pub cancellable: Option<bool>,
    /// `TimeSubmitted`.
    #[serde(serialize_with = "serialize_datetime")]
    pub time_submitted: Option<CimDateTime>,
    /// `StartTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub start_time: Option<CimDateTime>,
    /// `ElapsedTime` (an interval).
    #[serde(serialize_with = "serialize_datetime")]
    pub elapsed_time: Option<CimDateTime>,
}

impl Job {
    /// Reads a job from its instance.
    pub fn from_instance(i: &Instance) -> Result<Job, Error> {
        let instance_id = string_prop(i, "InstanceID")
            .ok_or_else(|| Error::Unexpected("an Msvm_ConcreteJob instance has no InstanceID".into()))?;
        let state = i
            .get_u16("JobState")
            .map(JobState::from_value)
            .ok_or_else(|| Error::Unexpected(format!("job {instance_id} has no JobState")))?;
        let job_type = i.get_u16("JobType");
        Ok(Job {
            instance_id,
            state,
            percent_complete: i.get_u16("PercentComplete"),
            job_type,
            job_type_name: job_type.and_then(job_type_name),
            caption: string_prop(i, "Caption").or_else(|| string_prop(i, "ElementName")),
            status: string_prop(i, "JobStatus"),
            error_code: i.get_u16("ErrorCode"),
            error_description: string_prop(i, "ErrorDescription"),
            error_summary_description: string_prop(i, "ErrorSummaryDescription"),
            cancellable: i.get_bool("Cancellable"),
            time_submitted: datetime_prop(i, "TimeSubmitted"),
            start_time: datetime_prop(i, "StartTime"),
            elapsed_time: datetime_prop(i, "ElapsedTime"),
        })
    }

    /// The selectors of a job by `InstanceID`.
    pub fn selectors(job_id: &str) -> SelectorSet {
        SelectorSet::new().with("InstanceID", job_id)
    }
}

/// One `Msvm_Error` (from `Msvm_ConcreteJob.GetErrorEx`, embedded CIM-XML) ([msvm-error]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MsvmError {
    /// `Message`.
    pub message: Option<String>,
    /// `MessageID`.
    pub message_id: Option<String>,
    /// `MessageArguments[]`.
    pub message_arguments: Vec<String>,
    /// `CIMStatusCode`.
    pub cim_status_code: Option<u32>,
    /// `ErrorType`.
    pub error_type: Option<u16>,
    /// `PerceivedSeverity`.
    pub perceived_severity: Option<u16>,
    /// `ErrorSource`.
    pub error_source: Option<String>,
    /// `RecommendedActions[]`.
    pub recommended_actions: Vec<String>,
}

impl MsvmError {
    /// Reads an error from its instance.
    pub fn from_instance(i: &Instance) -> MsvmError {
        MsvmError {
            message: string_prop(i, "Message"),
            message_id: string_prop(i, "MessageID"),
            message_arguments: string_array_prop(i, "MessageArguments"),
            cim_status_code: i.get_u32("CIMStatusCode"),
            error_type: i.get_u16("ErrorType"),
            perceived_severity: i.get_u16("PerceivedSeverity"),
            error_source: string_prop(i, "ErrorSource"),
            recommended_actions: string_array_prop(i, "RecommendedActions"),
        }
    }
}
