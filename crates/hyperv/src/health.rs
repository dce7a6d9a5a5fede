//! Replication health and control: `Measure-VMReplication` ([`measure_replication`]),
//! `Suspend-VMReplication` ([`suspend_replication`]), `Resume-VMReplication`
//! ([`resume_replication`]) and `Resume-VMReplication -Resynchronize` ([`resync_replication`]),
//! each with the checks the cmdlet makes before it calls the host.
//!
//! The methods (learn.microsoft.com, hyperv_v2):
//! - `Msvm_ReplicationService::GetReplicationStatisticsEx(ComputerSystem, ReplicationRelationship,
//!   out ReplicationStatistics[], out ReplicationHealthIssues[], out Job)`:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/getreplicationstatisticsex-msvm-replicationservice>;
//!   the statistics are embedded `Msvm_ReplicationStatistics`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationstatistics>), the
//!   issues embedded `Msvm_Error`.
//! - `Msvm_ComputerSystem::RequestReplicationStateChangeEx(ReplicationRelationship,
//!   RequestedState, out Job, TimeoutPeriod)`:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-requestreplicationstatechangeex-computersystem>
//!   (7 Suspend, 3 Replicating; 32775 for a state not allowed now).
//! - `Msvm_ReplicationService::Resynchronize(ComputerSystem, StartTime, out Job)`:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/resynchronize-msvm-replicationservice>
//!   (`StartTime` null: now).
//!
//! Each method names the VM's primary relationship as the instance read from the host
//! (`Msvm_ReplicationRelationship` whose `InstanceID` ends in `\0`, through
//! `Msvm_SystemReplicationRelationship`), embedded and typed from its MOF
//! ([`RELATIONSHIP_SCHEMA`]), as the cmdlets send `GetEmbeddedInstance()` of it.
//!
//! Resync rule (our choice, documented in the CLI help): `resync` needs the primary in state 11
//! (ResynchronizeSuspended, which Hyper-V shows when a resynchronization is required or a
//! resynchronization was suspended). A Suspended VM is resumed with `resume`, not resynced: the
//! host keeps its pending changes and sends them when it resumes.

use serde::Serialize;
use wsman_soap::{CimDateTime, Instance, Scalar, Value};

use crate::job::{embedded_instances, invoke_and_wait, wait_job, JobWaitOptions, Progress, Target};
use crate::model::{ReplicationHealth, ReplicationMode, ReplicationState, ReturnCode};
use crate::msvm::{
    class_uri, datetime_prop, serialize_datetime, MsvmError, ReplicationRelationship, Vm, COMPUTER_SYSTEM,
    RELATIONSHIP_SCHEMA,
};
use crate::ops::{cmd, invalid, invoke_on_service, mode_phrase, who, Ctx};
use crate::query::{locate, replication_relationship, replication_service, VmTarget};
use crate::report::{Operation, OperationReport};
use crate::transport::Wsman;
use crate::Error;

/// A replication control operation, for [`crate::plan`] (`--dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthOp {
    /// [`suspend_replication`].
    Suspend,
    /// [`resume_replication`].
    Resume,
    /// [`resync_replication`].
    Resync,
}

impl HealthOp {
    /// The operation it reports as.
    pub fn operation(self) -> Operation {
        match self {
            HealthOp::Suspend => Operation::SuspendReplication,
            HealthOp::Resume => Operation::ResumeReplication,
            HealthOp::Resync => Operation::ResyncReplication,
        }
    }
}

const STATE_CHANGE: &str = "RequestReplicationStateChangeEx";
const RESYNCHRONIZE: &str = "Resynchronize";
const STATISTICS: &str = "GetReplicationStatisticsEx";

/// Refuses a VM that is not replicated or is a test replica (nothing to measure or control).
fn preflight_replicated(vm: &Vm, host: &str, what: &str) -> Result<(), Error> {
    match vm.replication_mode {
        ReplicationMode::None => Err(invalid(format!(
            "{} is not replicated (ReplicationMode None): there is no replication to {what}",
            who(vm, host)
        ))),
        ReplicationMode::TestReplica => Err(invalid(format!(
            "{} is a test replica: {what} the replica VM it was made from, not its test copy",
            who(vm, host)
        ))),
        _ => Ok(()),
    }
}

/// Preflight of `Suspend-VMReplication`: replication enabled, and Replicating or Resynchronizing
/// (the states `RequestReplicationStateChangeEx(7)` accepts).
pub fn preflight_suspend(vm: &Vm, host: &str) -> Result<(), Error> {
    preflight_replicated(vm, host, "suspend")?;
    let (who, ps) = (who(vm, host), vm.ps_replication_state);
    match vm.replication_state {
        ReplicationState::Replicating | ReplicationState::Resynchronizing => Ok(()),
        ReplicationState::Suspended => Err(invalid(format!(
            "{who} is already {ps}: resume it with {}",
            cmd("replication resume", vm)
        ))),
        ReplicationState::ResynchronizationSuspended => Err(invalid(format!(
            "{who} is {ps}: replication is stopped until it is resynchronized; there is nothing to \
             suspend (run {} against the primary host to resynchronize it)",
            cmd("replication resync", vm)
        ))),
        _ => Err(invalid(format!(
            "{who} is {ps}: only Replicating or Resynchronizing replication can be suspended"
        ))),
    }
}

/// Preflight of `Resume-VMReplication`: the `RequestedState` to send, 3 for a Suspended VM, 15
/// for one whose disk update is critical (UpdateError, 16), as the cmdlet does.
pub fn preflight_resume(vm: &Vm, host: &str) -> Result<u16, Error> {
    preflight_replicated(vm, host, "resume")?;
    let (who, ps) = (who(vm, host), vm.ps_replication_state);
    match vm.replication_state {
        ReplicationState::Suspended => Ok(3),
        ReplicationState::DiskUpdateCritical => Ok(15),
        ReplicationState::ResynchronizationSuspended => Err(invalid(format!(
            "{who} is {ps}: it needs a resynchronization, not a resume; run {} against the primary host",
            cmd("replication resync", vm)
        ))),
        ReplicationState::Replicating => Err(invalid(format!(
            "{who} is already {ps}: there is nothing to resume"
        ))),
        _ => Err(invalid(format!(
            "{who} is {ps}: only Suspended replication (or a failed disk update, UpdateError) can be resumed"
        ))),
    }
}

/// Preflight of `Resume-VMReplication -Resynchronize`: the primary, in state 11
/// (ResynchronizeSuspended: a resynchronization is required, or was suspended).
pub fn preflight_resync(vm: &Vm, host: &str) -> Result<(), Error> {
    preflight_replicated(vm, host, "resynchronize")?;
    let (who, ps) = (who(vm, host), vm.ps_replication_state);
    if vm.replication_mode != ReplicationMode::Primary {
        return Err(invalid(format!(
            "{who} is {} ({ps}): resync runs on the primary host of the VM; run it against the primary",
            mode_phrase(vm.replication_mode)
        )));
    }
    match vm.replication_state {
        ReplicationState::ResynchronizationSuspended => Ok(()),
        ReplicationState::Resynchronizing => Err(invalid(format!(
            "{who} is already {ps}: wait for the resynchronization to finish"
        ))),
        ReplicationState::Suspended => Err(invalid(format!(
            "{who} is {ps}: resume it with {} (its pending changes are sent then); resync is for a VM \
             that needs one (ResynchronizeSuspended)",
            cmd("replication resume", vm)
        ))),
        _ => Err(invalid(format!(
            "{who} is {ps}: resync is only for a VM that needs one (ResynchronizeSuspended)"
        ))),
    }
}

/// The VM's primary relationship, read from the host.
async fn primary_relationship(w: &impl Wsman, vm: &Vm) -> Result<ReplicationRelationship, Error> {
    replication_relationship(w, vm)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: format!(
                "{} has no primary replication relationship (Msvm_ReplicationRelationship)",
                who(vm, w.host())
            ),
        })
}

/// The relationship as the embedded instance to send: the properties its MOF declares, typed
/// from it (what the schema does not know is left out rather than typed by guess).
fn embedded(vm: &Vm, rel: &ReplicationRelationship) -> Result<Value, Error> {
    let (known, _) = rel.instance.split_by_schema(RELATIONSHIP_SCHEMA);
    let typed = known.retyped(RELATIONSHIP_SCHEMA).map_err(|e| {
        Error::Unexpected(format!(
            "the replication relationship of {} does not fit its schema: {e}",
            vm.name
        ))
    })?;
    Ok(Value::Instance(Box::new(typed)))
}

/// `RequestReplicationStateChangeEx(ReplicationRelationship = primary, RequestedState = state)`
/// on the VM, once, followed to the end of its job.
async fn request_state(
    w: &impl Wsman,
    operation: Operation,
    vm: &Vm,
    state: u16,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let mut ctx = Ctx::new(w);
    let rel = primary_relationship(w, vm).await?;
    let params = vec![
        ("ReplicationRelationship".to_owned(), embedded(vm, &rel)?),
        ("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(state))),
    ];
    let target = Target {
        vm: &vm.name,
        method: STATE_CHANGE,
    };
    let result = invoke_and_wait(
        w,
        &class_uri(COMPUTER_SYSTEM),
        &vm.selectors(),
        target,
        &params,
        wait,
        progress,
    )
    .await?;
    ctx.messages.push(format!(
        "{} was {}: asked for replication state {state} ({})",
        vm.name,
        vm.ps_replication_state,
        ReplicationState::from_value(state)
    ));
    ctx.finish(operation, vm, Some(STATE_CHANGE), Some(result), None)
        .await
}

/// `Suspend-VMReplication`: preflight ([`preflight_suspend`]), then
/// `RequestReplicationStateChangeEx(primary relationship, 7)`.
pub async fn suspend_replication(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let vm = locate(w, vm.into()).await?;
    preflight_suspend(&vm, w.host())?;
    request_state(w, Operation::SuspendReplication, &vm, 7, wait, progress).await
}

/// `Resume-VMReplication`: preflight ([`preflight_resume`]), then
/// `RequestReplicationStateChangeEx(primary relationship, 3)` (15 after a critical disk update).
pub async fn resume_replication(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let vm = locate(w, vm.into()).await?;
    let state = preflight_resume(&vm, w.host())?;
    request_state(w, Operation::ResumeReplication, &vm, state, wait, progress).await
}

/// `Resume-VMReplication -Resynchronize` on the primary: preflight ([`preflight_resync`]), then
/// `Msvm_ReplicationService.Resynchronize(ComputerSystem = REF VM, StartTime = null)`; the VM is
/// Resynchronizing while the job runs and Replicating when it completes.
pub async fn resync_replication(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_resync(&vm, w.host())?;
    ctx.messages
        .push(format!("resynchronizing {} with its replica", vm.name));
    let params = vec![
        ("ComputerSystem".to_owned(), Value::Reference(vm.epr())),
        ("StartTime".to_owned(), Value::Null),
    ];
    invoke_on_service(
        ctx,
        Operation::ResyncReplication,
        &vm,
        RESYNCHRONIZE,
        &params,
        None,
        wait,
        progress,
    )
    .await
}

/// The steps of a dry run of `op` on `vm`: the same preflight and reads, nothing invoked.
pub(crate) async fn plan_steps(w: &impl Wsman, vm: &Vm, op: HealthOp) -> Result<Vec<String>, Error> {
    let host = w.host();
    let state_change = |rel: &ReplicationRelationship, state: u16| {
        format!(
            "invoke Msvm_ComputerSystem.{STATE_CHANGE}(ReplicationRelationship = {}, RequestedState = {state}) on {}",
            rel.instance_id, vm.name
        )
    };
    Ok(match op {
        HealthOp::Suspend => {
            preflight_suspend(vm, host)?;
            vec![state_change(&primary_relationship(w, vm).await?, 7)]
        }
        HealthOp::Resume => {
            let state = preflight_resume(vm, host)?;
            vec![state_change(&primary_relationship(w, vm).await?, state)]
        }
        HealthOp::Resync => {
            preflight_resync(vm, host)?;
            vec![format!(
                "invoke Msvm_ReplicationService.{RESYNCHRONIZE}(ComputerSystem = {}, StartTime = null): \
                 Resynchronizing, then Replicating when the job completes",
                vm.name
            )]
        }
    })
}

/// One `Msvm_ReplicationStatistics`, as the host reports it (the class page,
/// <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationstatistics>); `None`
/// where the host gives no value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationStatistics {
    /// `StartStatisticTime`: the start of the monitoring window.
    #[serde(serialize_with = "serialize_datetime")]
    pub start_statistic_time: Option<CimDateTime>,
    /// `EndStatisticTime`: its end.
    #[serde(serialize_with = "serialize_datetime")]
    pub end_statistic_time: Option<CimDateTime>,
    /// `ReplicationSuccessCount`: successful replication cycles.
    pub replication_success_count: Option<u32>,
    /// `ReplicationSize`: bytes replicated in the window.
    pub replication_size: Option<u64>,
    /// `ReplicationSize` / `ReplicationSuccessCount` (our computation): the average bytes per
    /// successful cycle, `Measure-VMReplication`'s AvgReplSize.
    pub average_replication_size: Option<u64>,
    /// `MaxReplicationSize`: the largest cycle, bytes.
    pub max_replication_size: Option<u64>,
    /// `ReplicationLatency`: the average replication latency, seconds.
    pub replication_latency: Option<u32>,
    /// `MaxReplicationLatency`: seconds.
    pub max_replication_latency: Option<u32>,
    /// `ReplicationMissCount`: cycles missed.
    pub replication_miss_count: Option<u32>,
    /// `ReplicationFailureCount`: replication errors.
    pub replication_failure_count: Option<u32>,
    /// `NetworkFailureCount`: network errors.
    pub network_failure_count: Option<u32>,
    /// `PendingReplicationSize`: bytes not yet replicated.
    pub pending_replication_size: Option<u64>,
    /// `ApplicationConsistentSnapshotFailureCount`: VSS snapshot failures.
    pub application_consistent_snapshot_failure_count: Option<u32>,
    /// `ReplicationHealth` (a uint32 in this class).
    pub replication_health: Option<ReplicationHealth>,
    /// `LastTestFailoverTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_test_failover_time: Option<CimDateTime>,
}

impl ReplicationStatistics {
    /// Reads the statistics from an `Msvm_ReplicationStatistics` instance.
    pub fn from_instance(i: &Instance) -> ReplicationStatistics {
        let successes = i.get_u32("ReplicationSuccessCount");
        let size = i.get_u64("ReplicationSize");
        ReplicationStatistics {
            start_statistic_time: datetime_prop(i, "StartStatisticTime"),
            end_statistic_time: datetime_prop(i, "EndStatisticTime"),
            replication_success_count: successes,
            replication_size: size,
            average_replication_size: match (size, successes) {
                (Some(size), Some(n)) if n > 0 => Some(size / u64::from(n)),
                _ => None,
            },
            max_replication_size: i.get_u64("MaxReplicationSize"),
            replication_latency: i.get_u32("ReplicationLatency"),
            max_replication_latency: i.get_u32("MaxReplicationLatency"),
            replication_miss_count: i.get_u32("ReplicationMissCount"),
            replication_failure_count: i.get_u32("ReplicationFailureCount"),
            network_failure_count: i.get_u32("NetworkFailureCount"),
            pending_replication_size: i.get_u64("PendingReplicationSize"),
            application_consistent_snapshot_failure_count: i
                .get_u32("ApplicationConsistentSnapshotFailureCount"),
            replication_health: i
                .get_u32("ReplicationHealth")
                .and_then(|h| u16::try_from(h).ok())
                .map(ReplicationHealth::from_value),
            last_test_failover_time: datetime_prop(i, "LastTestFailoverTime"),
        }
    }
}

/// `hvctl replication measure`: one VM's replication as `Measure-VMReplication` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureReport {
    /// The host.
    pub host: String,
    /// VM name.
    pub vm: String,
    /// VM GUID.
    pub guid: String,
    /// Replication mode.
    pub replication_mode: ReplicationMode,
    /// The primary relationship's `InstanceID`.
    pub relationship: String,
    /// The relationship's WMI state.
    pub replication_state: ReplicationState,
    /// The state as PowerShell names it.
    pub ps_replication_state: crate::model::PsReplicationState,
    /// The health: the statistics' `ReplicationHealth`, else the relationship's.
    pub replication_health: ReplicationHealth,
    /// The relationship's `LastReplicationTime`.
    #[serde(serialize_with = "serialize_datetime")]
    pub last_replication_time: Option<CimDateTime>,
    /// The statistics (`None` if the host returned none).
    pub statistics: Option<ReplicationStatistics>,
    /// The health issues (`Msvm_Error`), empty when healthy.
    pub health_issues: Vec<MsvmError>,
    /// The job, when the host answered 4096.
    pub job_id: Option<String>,
}

/// `Measure-VMReplication`: `Msvm_ReplicationService.GetReplicationStatisticsEx(ComputerSystem =
/// REF VM, ReplicationRelationship = the embedded primary relationship)`. Read-only: a reply
/// that is lost changes nothing on the host, so it is a connection failure, not an unknown
/// outcome. ReturnValue 0 carries the outputs; 4096 is followed to the end of its job and the
/// outputs are taken from the reply.
pub async fn measure_replication(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<MeasureReport, Error> {
    let vm = locate(w, vm.into()).await?;
    preflight_replicated(&vm, w.host(), "measure")?;
    let rel = primary_relationship(w, &vm).await?;
    let params = vec![
        ("ComputerSystem".to_owned(), Value::Reference(vm.epr())),
        ("ReplicationRelationship".to_owned(), embedded(&vm, &rel)?),
    ];
    let service = replication_service(w).await?;
    let reply = w
        .invoke(&service.resource_uri, &service.selectors, STATISTICS, &params)
        .await
        .map_err(|e| Error::from_transport(format!("Invoke {STATISTICS}"), w.host(), e))?;
    let code = reply
        .return_value
        .map(ReturnCode::from_value)
        .ok_or_else(|| Error::Unexpected(format!("{STATISTICS} returned no ReturnValue")))?;
    let job_id = match code {
        ReturnCode::Completed => None,
        ReturnCode::JobStarted => {
            let Some(id) = reply.job_instance_id().map(str::to_owned) else {
                return Err(Error::Unexpected(format!(
                    "{STATISTICS} started a job (4096) without naming it"
                )));
            };
            wait_job(w, &id, wait, progress).await?;
            Some(id)
        }
        code => {
            return Err(Error::MethodFailed {
                method: STATISTICS,
                vm: vm.name.clone(),
                host: w.host().to_owned(),
                code,
            })
        }
    };
    let statistics = embedded_instances(&reply.out, &["ReplicationStatistics"])
        .first()
        .map(ReplicationStatistics::from_instance);
    if statistics.is_none() && job_id.is_some() {
        return Err(Error::Unexpected(format!(
            "{STATISTICS} on {} completed its job {} but returned no ReplicationStatistics",
            vm.name,
            job_id.as_deref().unwrap_or_default()
        )));
    }
    let health_issues = embedded_instances(&reply.out, &["ReplicationHealthIssues"])
        .iter()
        .map(MsvmError::from_instance)
        .collect();
    Ok(MeasureReport {
        host: w.host().to_owned(),
        vm: vm.name.clone(),
        guid: vm.guid.clone(),
        replication_mode: vm.replication_mode,
        relationship: rel.instance_id.clone(),
        replication_state: rel.state,
        ps_replication_state: crate::model::PsReplicationState::derive(vm.replication_mode, rel.state),
        replication_health: statistics
            .as_ref()
            .and_then(|s| s.replication_health)
            .unwrap_or(rel.health),
        last_replication_time: rel.last_replication_time,
        statistics,
        health_issues,
        job_id,
    })
}
