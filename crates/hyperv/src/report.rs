//! What the operations report: serialisable, one object per VM.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::drill::TestVm;
use crate::model::{
    EnabledState, PsReplicationState, ReplicationAuth, ReplicationHealth, ReplicationMode, ReplicationState,
    ReturnCode,
};
use crate::msvm::{ReplicationRelationship, ReplicationSettings, Vm};

/// Which operation a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// `Set-VMReplication -Reverse`: `ReverseReplicationRelationship`.
    ReverseReplication,
    /// `Start-VMFailover -Prepare`: `RequestReplicationStateChangeEx(4)` on the primary.
    PrepareFailover,
    /// `Start-VMFailover`: `InitiateFailover` on the replica.
    StartFailover,
    /// `Complete-VMFailover`: `CommitFailover`.
    CommitFailover,
    /// `Stop-VMFailover`: `RevertFailover`.
    CancelFailover,
    /// `Start-VM`: `RequestStateChange(2)`.
    StartVm,
    /// `Stop-VM -TurnOff`: `RequestStateChange(3)`.
    StopVm,
    /// `Stop-VM`: `Msvm_ShutdownComponent.InitiateShutdown`, then the VM watched until Off.
    ShutdownVm,
    /// `Stop-VM -Save`: `RequestStateChange(6)`.
    SaveVm,
    /// `Suspend-VMReplication`: `RequestReplicationStateChangeEx(7)`.
    SuspendReplication,
    /// `Resume-VMReplication`: `RequestReplicationStateChangeEx(3)` (15 after 16).
    ResumeReplication,
    /// `Resume-VMReplication -Resynchronize`: `Resynchronize` on the primary.
    ResyncReplication,
    /// `Start-VMFailover -AsTest`: `TestReplicaSystem` on the replica.
    TestFailover,
    /// `Stop-VMFailover` of a test: the test VM's `DestroySystem`.
    StopTestFailover,
}

impl Operation {
    /// The CLI verb (`replication reverse`, `failover start`, ...).
    pub fn verb(self) -> &'static str {
        match self {
            Operation::ReverseReplication => "replication reverse",
            Operation::PrepareFailover => "failover prepare",
            Operation::StartFailover => "failover start",
            Operation::CommitFailover => "failover commit",
            Operation::CancelFailover => "failover cancel",
            Operation::StartVm => "vm start",
            Operation::StopVm => "vm stop --turn-off",
            Operation::ShutdownVm => "vm stop",
            Operation::SaveVm => "vm stop --save",
            Operation::SuspendReplication => "replication suspend",
            Operation::ResumeReplication => "replication resume",
            Operation::ResyncReplication => "replication resync",
            Operation::TestFailover => "failover test",
            Operation::StopTestFailover => "failover test-stop",
        }
    }
}

/// A VM's power and replication state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VmState {
    /// Power state.
    pub enabled_state: EnabledState,
    /// Replication mode.
    pub replication_mode: ReplicationMode,
    /// WMI replication state.
    pub replication_state: ReplicationState,
    /// The state as PowerShell names it.
    pub ps_replication_state: PsReplicationState,
    /// Replication health.
    pub replication_health: ReplicationHealth,
}

impl From<&Vm> for VmState {
    fn from(vm: &Vm) -> Self {
        VmState {
            enabled_state: vm.enabled_state,
            replication_mode: vm.replication_mode,
            replication_state: vm.replication_state,
            ps_replication_state: vm.ps_replication_state,
            replication_health: vm.replication_health,
        }
    }
}

/// The settings a reverse sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReverseDetails {
    /// The new `RecoveryConnectionPoint` (the old primary, or the user's choice).
    pub recovery_connection_point: String,
    /// `RecoveryConnectionPoint` before (this host, for a failed-over replica).
    pub previous_recovery_connection_point: Option<String>,
    /// `RecoveryServerPortNumber` sent.
    pub port: u16,
    /// `AuthenticationType` sent.
    pub authentication: ReplicationAuth,
    /// `CertificateThumbPrint` sent (certificate authentication).
    pub certificate_thumbprint: Option<String>,
    /// Properties the host returned that the `Msvm_ReplicationSettingData` schema this
    /// version knows does not list (a newer Windows): left out of the embedded instance,
    /// because their CIM type is unknown and a wrong `TYPE` fails the whole call.
    pub left_out_properties: Vec<String>,
}

/// The result of one operation on one VM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationReport {
    /// What was done.
    pub operation: Operation,
    /// VM name.
    pub vm: String,
    /// VM GUID.
    pub guid: String,
    /// The host it ran on.
    pub host: String,
    /// State before (as read for the preflight).
    pub before: VmState,
    /// State after, read back from the host once the job finished.
    pub after: VmState,
    /// The method invoked (`None` when nothing had to be done).
    pub method: Option<String>,
    /// Its `ReturnValue`.
    pub return_code: Option<ReturnCode>,
    /// The job it started.
    pub job_id: Option<String>,
    /// Wall time of the whole operation.
    #[serde(serialize_with = "serialize_millis", rename = "duration_ms")]
    pub duration: Duration,
    /// What happened, in order, for humans.
    pub messages: Vec<String>,
    /// For a reverse: what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse: Option<ReverseDetails>,
    /// For a test failover: the test VM made (or, for `failover test-stop`, removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_vm: Option<TestVm>,
}

/// What an operation would do to one VM (`--dry-run`): the state read and the steps, in order;
/// no step means nothing to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReport {
    /// The operation planned.
    pub operation: Operation,
    /// VM name.
    pub vm: String,
    /// VM GUID.
    pub guid: String,
    /// The host.
    pub host: String,
    /// The state read for the preflight.
    pub state: VmState,
    /// What would be invoked, in order.
    pub steps: Vec<String>,
}

/// `hvctl replication status`: one VM's replication as `Get-VMReplication` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// The host.
    pub host: String,
    /// The VM (mode, state, PowerShell state, health, last replication time).
    pub vm: Vm,
    /// The primary relationship, when replication is enabled.
    pub relationship: Option<ReplicationRelationship>,
    /// The primary-relationship settings, when replication is enabled.
    pub settings: Option<ReplicationSettings>,
}

pub(crate) fn serialize_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
