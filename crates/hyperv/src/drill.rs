//! DR drills on the replica host: its recovery points, the test failover that makes a test VM
//! from one while replication goes on (`Start-VMFailover -AsTest`), and the removal of that
//! test VM (`Stop-VMFailover` on a VM under test).
//!
//! - Recovery points are the replica VM's `Msvm_VirtualSystemSettingData` snapshots, reached
//!   through `Msvm_SnapshotOfVirtualSystem`, whose `VirtualSystemType` is
//!   `Microsoft:Hyper-V:Snapshot:Replica:Standard` ("a time-based replication point snapshot")
//!   or `Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent` ("a VSS replication point
//!   snapshot"): the values of
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsettingdata>.
//! - The test failover is `Msvm_ReplicationService.TestReplicaSystem(ComputerSystem,
//!   SnapshotSettingData)`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/testreplicasystem-msvm-replicationservice>):
//!   the recovery point's REF or null for the latest point; `ResultingSystem` is the test VM.
//! - The test VM is found from its replica through `Msvm_ReplicaSystemDependency`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicasystemdependency>),
//!   turned off if it runs, and destroyed with `Msvm_VirtualSystemManagementService.
//!   DestroySystem(AffectedSystem)`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/destroysystem-msvm-virtualsystemmanagementservice>).

use serde::{Serialize, Serializer};
use wsman_soap::{CimDateTime, Epr, Instance, SelectorSet, Value};

use crate::error::shell_quote;
use crate::job::{invoke_and_wait, JobWaitOptions, MethodResult, Progress, Target};
use crate::model::{EnabledState, ReplicationMode, ReplicationState};
use crate::msvm::{class_uri, datetime_prop, Vm, COMPUTER_SYSTEM, VIRTUAL_SYSTEM_SETTING_DATA};
use crate::ops::{invoke_service_method, request_on_vm, Ctx};
use crate::query::{associated, find_vm_by_guid, locate, management_service, VmTarget};
use crate::report::{Operation, OperationReport};
use crate::transport::Wsman;
use crate::Error;

/// `VirtualSystemType` of a standard (time-based) recovery point.
pub const REPLICA_STANDARD: &str = "Microsoft:Hyper-V:Snapshot:Replica:Standard";
/// `VirtualSystemType` of an application-consistent (VSS) recovery point.
pub const REPLICA_APPLICATION_CONSISTENT: &str = "Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent";
/// The association from a replica VM to its test VM.
pub const REPLICA_SYSTEM_DEPENDENCY: &str = "Msvm_ReplicaSystemDependency";
/// The association from a VM to its snapshots.
pub const SNAPSHOT_OF_VIRTUAL_SYSTEM: &str = "Msvm_SnapshotOfVirtualSystem";

/// One recovery point of a replica VM (`Get-VMSnapshot` SnapshotType Replica or
/// AppConsistentReplica).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryPoint {
    /// `ElementName` (e.g. `web01 - Standard Replica - (...)`).
    pub name: String,
    /// `CreationTime`, as RFC 3339 to the second with the host's offset: the form
    /// `--recovery-point` takes.
    #[serde(serialize_with = "serialize_second")]
    pub time: Option<CimDateTime>,
    /// Application-consistent (VSS) rather than standard (crash-consistent).
    pub application_consistent: bool,
    /// `InstanceID` of the snapshot's settings.
    pub instance_id: String,
    /// `VirtualSystemType`.
    pub virtual_system_type: String,
}

impl RecoveryPoint {
    /// Reads a recovery point from an `Msvm_VirtualSystemSettingData` instance; `None` for
    /// settings that are not a replica recovery point (the VM's own, a checkpoint).
    pub fn from_instance(i: &Instance) -> Option<RecoveryPoint> {
        let ty = i.get_str("VirtualSystemType")?.trim();
        let application_consistent = if ty.eq_ignore_ascii_case(REPLICA_APPLICATION_CONSISTENT) {
            true
        } else if ty.eq_ignore_ascii_case(REPLICA_STANDARD) {
            false
        } else {
            return None;
        };
        Some(RecoveryPoint {
            name: i.get_str("ElementName").unwrap_or_default().to_owned(),
            time: datetime_prop(i, "CreationTime"),
            application_consistent,
            instance_id: i.get_str("InstanceID").filter(|s| !s.is_empty())?.to_owned(),
            virtual_system_type: ty.to_owned(),
        })
    }

    /// Its EPR (the `SnapshotSettingData` REF parameter of `InitiateFailover` and
    /// `TestReplicaSystem`).
    pub fn epr(&self) -> Epr {
        Epr::new(
            class_uri(VIRTUAL_SYSTEM_SETTING_DATA),
            SelectorSet::new().with("InstanceID", self.instance_id.clone()),
        )
    }

    /// The time as listed: RFC 3339 to the second (empty when the host gives none).
    pub fn time_text(&self) -> String {
        self.time.as_ref().map(to_second).unwrap_or_default()
    }

    /// `standard` or `application-consistent`.
    pub fn kind(&self) -> &'static str {
        if self.application_consistent {
            "application-consistent"
        } else {
            "standard"
        }
    }
}

fn to_second(t: &CimDateTime) -> String {
    let mut t = *t;
    if let CimDateTime::Timestamp { microsecond, .. } = &mut t {
        *microsecond = 0;
    }
    t.to_iso8601()
}

fn serialize_second<S: Serializer>(v: &Option<CimDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&to_second(t)),
        None => s.serialize_none(),
    }
}

/// `hvctl replication recovery-points`: one VM's recovery points, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryPointsReport {
    /// The host.
    pub host: String,
    /// VM name.
    pub vm: String,
    /// VM GUID.
    pub guid: String,
    /// Its replication mode (recovery points are kept on the replica).
    pub replication_mode: ReplicationMode,
    /// The points, oldest first.
    pub recovery_points: Vec<RecoveryPoint>,
}

/// The test VM of a drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestVm {
    /// Its name (`<VM> - Test` on Windows).
    pub name: String,
    /// Its own GUID.
    pub guid: String,
    /// Its power state when read (before removal, for `failover test-stop`).
    pub enabled_state: EnabledState,
}

impl From<&Vm> for TestVm {
    fn from(v: &Vm) -> Self {
        TestVm {
            name: v.name.clone(),
            guid: v.guid.clone(),
            enabled_state: v.enabled_state,
        }
    }
}

/// The recovery points of a VM, oldest first: the `Msvm_VirtualSystemSettingData` instances
/// associated to it by `Msvm_SnapshotOfVirtualSystem` whose type is a replica recovery point.
pub async fn recovery_points(w: &impl Wsman, vm: &Vm) -> Result<Vec<RecoveryPoint>, Error> {
    let found = associated(w, vm, SNAPSHOT_OF_VIRTUAL_SYSTEM, VIRTUAL_SYSTEM_SETTING_DATA).await?;
    let mut points: Vec<RecoveryPoint> = found.iter().filter_map(RecoveryPoint::from_instance).collect();
    points.sort_by_key(|p| p.time.as_ref().and_then(CimDateTime::unix_seconds));
    Ok(points)
}

/// `Get-VMSnapshot -SnapshotType Replica`: the VM's recovery points.
pub async fn list_recovery_points(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
) -> Result<RecoveryPointsReport, Error> {
    let vm = locate(w, vm.into()).await?;
    let recovery_points = recovery_points(w, &vm).await?;
    Ok(RecoveryPointsReport {
        host: w.host().to_owned(),
        vm: vm.name.clone(),
        guid: vm.guid.clone(),
        replication_mode: vm.replication_mode,
        recovery_points,
    })
}

/// The recovery point `wanted` names among `points`: its name (case-insensitive), its
/// `InstanceID`, or its time (RFC 3339, compared to the second whatever the offset). Unknown
/// or naming several is [`Error::UnknownRecoveryPoint`], listing them.
pub fn pick_recovery_point(
    points: &[RecoveryPoint],
    wanted: &str,
    vm: &Vm,
    host: &str,
) -> Result<RecoveryPoint, Error> {
    let w = wanted.trim();
    let by_name: Vec<&RecoveryPoint> = points.iter().filter(|p| p.name.eq_ignore_ascii_case(w)).collect();
    let matches = if !by_name.is_empty() {
        by_name
    } else if let Some(p) = points.iter().find(|p| p.instance_id.eq_ignore_ascii_case(w)) {
        vec![p]
    } else {
        let at = CimDateTime::parse_iso8601(w).ok().and_then(|t| t.unix_seconds());
        points
            .iter()
            .filter(|p| at.is_some() && p.time.as_ref().and_then(CimDateTime::unix_seconds) == at)
            .collect()
    };
    if let [one] = matches.as_slice() {
        return Ok((*one).clone());
    }
    let listed: Vec<String> = points
        .iter()
        .map(|p| format!("{} '{}' ({})", p.time_text(), p.name, p.kind()))
        .collect();
    let how = if matches.is_empty() {
        format!("{} on {host} has no recovery point '{wanted}'", vm.name)
    } else {
        format!(
            "'{wanted}' names {} recovery points of {} on {host}",
            matches.len(),
            vm.name
        )
    };
    let which = if listed.is_empty() {
        "it has none (recovery points are kept on the replica host)".to_owned()
    } else {
        format!(
            "name one by its name or time as `hvctl replication recovery-points {}` lists them: {}",
            shell_quote(&vm.name),
            listed.join(", ")
        )
    };
    Err(Error::UnknownRecoveryPoint {
        explanation: format!("{how}; {which}"),
        wanted: wanted.to_owned(),
        candidates: points
            .iter()
            .flat_map(|p| [p.name.clone(), p.time_text()])
            .collect(),
    })
}

/// The recovery point of `vm` that `wanted` names ([`pick_recovery_point`] over its points).
pub(crate) async fn find_recovery_point(
    w: &impl Wsman,
    vm: &Vm,
    wanted: &str,
) -> Result<RecoveryPoint, Error> {
    let points = recovery_points(w, vm).await?;
    pick_recovery_point(&points, wanted, vm, w.host())
}

/// The `SnapshotSettingData` parameter for `recovery_point` (null for the latest) and how to
/// say it.
pub(crate) async fn snapshot_param(
    w: &impl Wsman,
    vm: &Vm,
    recovery_point: Option<&str>,
) -> Result<(Value, String), Error> {
    match recovery_point {
        None => Ok((Value::Null, "the latest point".to_owned())),
        Some(wanted) => {
            let p = find_recovery_point(w, vm, wanted).await?;
            let said = format!("recovery point '{}' ({}, {})", p.name, p.time_text(), p.kind());
            Ok((Value::Reference(p.epr()), said))
        }
    }
}

fn who(vm: &Vm, host: &str) -> String {
    format!("{} on {host}", vm.name)
}

fn invalid(explanation: String) -> Error {
    Error::InvalidState { explanation }
}

/// The replica's side of a drill: a replica VM, not a test VM or a primary.
fn preflight_replica(vm: &Vm, host: &str, what: &str) -> Result<(), Error> {
    let who = who(vm, host);
    let ps = vm.ps_replication_state;
    match vm.replication_mode {
        ReplicationMode::Replica | ReplicationMode::ExtendedReplica => Ok(()),
        ReplicationMode::TestReplica => Err(invalid(format!(
            "{who} is a test VM: {what} names its replica VM (the VM that replicates here), not the test VM"
        ))),
        ReplicationMode::Primary => Err(invalid(format!(
            "{who} is the primary ({ps}): {what} runs on the replica host, where the VM replicates to"
        ))),
        _ => Err(invalid(format!(
            "{who} is not replicated (ReplicationMode None): there is no replica to drill"
        ))),
    }
}

/// Preflight of `Start-VMFailover -AsTest`: a replica VM in state Replicating (the test VM is
/// made while replication goes on).
pub fn preflight_test_failover(vm: &Vm, host: &str) -> Result<(), Error> {
    preflight_replica(vm, host, "a test failover")?;
    match vm.replication_state {
        ReplicationState::Replicating => Ok(()),
        _ => Err(invalid(format!(
            "{} is {}: a test failover needs a Replicating replica",
            who(vm, host),
            vm.ps_replication_state
        ))),
    }
}

/// The test VM of a replica VM, found through `Msvm_ReplicaSystemDependency`; `None` when a
/// test failover is not under way.
pub async fn test_system(w: &impl Wsman, vm: &Vm) -> Result<Option<Vm>, Error> {
    let found = associated(w, vm, REPLICA_SYSTEM_DEPENDENCY, COMPUTER_SYSTEM).await?;
    found
        .iter()
        .filter(|i| Vm::is_vm_instance(i))
        .map(Vm::from_instance)
        .find(|v| !matches!(v, Ok(v) if v.guid.eq_ignore_ascii_case(&vm.guid)))
        .transpose()
}

fn stop_cmd(vm: &Vm) -> String {
    format!("`hvctl failover test-stop {}`", shell_quote(&vm.name))
}

/// The test VM must not exist yet: Hyper-V keeps one per replica.
fn already_testing(vm: &Vm, host: &str, test: &Vm) -> Error {
    invalid(format!(
        "{} already has a test VM, '{}' ({}): a test failover is under way; remove it with {} first",
        who(vm, host),
        test.name,
        test.guid,
        stop_cmd(vm)
    ))
}

fn no_test_vm(vm: &Vm, host: &str) -> Error {
    invalid(format!(
        "{} has no test VM (no Msvm_ReplicaSystemDependency): there is no test failover to stop; \
         start one with `hvctl failover test {}`",
        who(vm, host),
        shell_quote(&vm.name)
    ))
}

/// `Start-VMFailover -AsTest` on the replica host: find the VM, preflight (a Replicating
/// replica without a test VM), resolve the recovery point (null for the latest), invoke
/// `Msvm_ReplicationService.TestReplicaSystem(ComputerSystem = REF VM, SnapshotSettingData)`
/// once, follow the job, read the test VM (`ResultingSystem`, else through
/// `Msvm_ReplicaSystemDependency`) and the replica back.
pub async fn test_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    recovery_point: Option<&str>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "TestReplicaSystem";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_test_failover(&vm, w.host())?;
    if let Some(test) = test_system(w, &vm).await? {
        return Err(already_testing(&vm, w.host(), &test));
    }
    let (snapshot, point) = snapshot_param(w, &vm, recovery_point).await?;
    let params = vec![
        ("ComputerSystem".to_owned(), Value::Reference(vm.epr())),
        ("SnapshotSettingData".to_owned(), snapshot),
    ];
    let result = invoke_service_method(w, &vm, METHOD, &params, wait, progress).await?;
    let test = resulting_system(w, &vm, &result).await?;
    ctx.messages.push(format!(
        "test VM '{}' ({}) created from {point}; {} keeps replicating",
        test.name, test.guid, vm.name
    ));
    ctx.messages.push(format!(
        "start it with `hvctl vm start {}`; when the drill is done remove it with {}",
        shell_quote(&test.guid),
        stop_cmd(&vm)
    ));
    let mut report = ctx
        .finish(Operation::TestFailover, &vm, Some(METHOD), Some(result), None)
        .await?;
    report.test_vm = Some(TestVm::from(&test));
    Ok(report)
}

/// The test VM a completed `TestReplicaSystem` made: its `ResultingSystem` (a REF to the
/// `Msvm_ComputerSystem`), else the replica's `Msvm_ReplicaSystemDependency`.
async fn resulting_system(w: &impl Wsman, vm: &Vm, result: &MethodResult) -> Result<Vm, Error> {
    let named = result
        .output
        .get_reference("ResultingSystem")
        .and_then(|e| e.selectors.get("Name"))
        .map(str::to_owned);
    if let Some(guid) = named {
        match find_vm_by_guid(w, &guid).await {
            Err(Error::NotFound { .. }) => {}
            other => return other,
        }
    }
    test_system(w, vm).await?.ok_or_else(|| {
        Error::Unexpected(format!(
            "TestReplicaSystem on {} completed but {} has no test VM",
            w.host(),
            vm.name
        ))
    })
}

/// Preflight of `Stop-VMFailover` for a drill: a replica VM (its test VM is found next).
pub fn preflight_stop_test_failover(vm: &Vm, host: &str) -> Result<(), Error> {
    preflight_replica(vm, host, "failover test-stop")
}

/// `Stop-VMFailover` on a replica under test: find the test VM through
/// `Msvm_ReplicaSystemDependency` (none is an invalid state), turn it off if it is not off
/// (`RequestStateChange(3)`), invoke `Msvm_VirtualSystemManagementService.DestroySystem(
/// AffectedSystem = REF test VM)` once, follow the job, check the test VM is gone.
pub async fn stop_test_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "DestroySystem";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_stop_test_failover(&vm, w.host())?;
    let Some(test) = test_system(w, &vm).await? else {
        return Err(no_test_vm(&vm, w.host()));
    };
    if test.enabled_state != EnabledState::Off {
        request_on_vm(w, &test, "RequestStateChange", 3, wait, &mut *progress).await?;
        ctx.messages.push(format!(
            "test VM '{}' was {}: turned it off first",
            test.name, test.enabled_state
        ));
    }
    let service = management_service(w).await?;
    let params = vec![("AffectedSystem".to_owned(), Value::Reference(test.epr()))];
    let target = Target {
        vm: &test.name,
        method: METHOD,
    };
    let result = invoke_and_wait(
        w,
        &service.resource_uri,
        &service.selectors,
        target,
        &params,
        wait,
        progress,
    )
    .await?;
    match find_vm_by_guid(w, &test.guid).await {
        Err(Error::NotFound { .. }) => {}
        Ok(_) => {
            return Err(Error::Unexpected(format!(
                "DestroySystem of '{}' on {} completed but the test VM is still there",
                test.name,
                w.host()
            )))
        }
        Err(e) => return Err(e),
    }
    ctx.messages.push(format!(
        "removed test VM '{}' ({}); {} keeps replicating",
        test.name, test.guid, vm.name
    ));
    let mut report = ctx
        .finish(Operation::StopTestFailover, &vm, Some(METHOD), Some(result), None)
        .await?;
    report.test_vm = Some(TestVm::from(&test));
    Ok(report)
}

/// `--dry-run` of [`test_failover`]: the same reads and preflight; the step it would invoke.
pub(crate) async fn plan_test(
    w: &impl Wsman,
    vm: &Vm,
    recovery_point: Option<&str>,
    steps: &mut Vec<String>,
) -> Result<Operation, Error> {
    preflight_test_failover(vm, w.host())?;
    if let Some(test) = test_system(w, vm).await? {
        return Err(already_testing(vm, w.host(), &test));
    }
    let (_, point) = snapshot_param(w, vm, recovery_point).await?;
    steps.push(format!(
        "invoke Msvm_ReplicationService.TestReplicaSystem(ComputerSystem = {}), from {point}: a test VM is created, replication goes on",
        vm.name
    ));
    Ok(Operation::TestFailover)
}

/// `--dry-run` of [`stop_test_failover`]: the test VM found, the steps it would invoke.
pub(crate) async fn plan_test_stop(
    w: &impl Wsman,
    vm: &Vm,
    steps: &mut Vec<String>,
) -> Result<Operation, Error> {
    preflight_stop_test_failover(vm, w.host())?;
    let Some(test) = test_system(w, vm).await? else {
        return Err(no_test_vm(vm, w.host()));
    };
    if test.enabled_state != EnabledState::Off {
        steps.push(format!(
            "invoke Msvm_ComputerSystem.RequestStateChange(RequestedState = 3) on test VM '{}'",
            test.name
        ));
    }
    steps.push(format!(
        "invoke Msvm_VirtualSystemManagementService.DestroySystem(AffectedSystem = '{}' {})",
        test.name, test.guid
    ));
    Ok(Operation::StopTestFailover)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_soap::Scalar;

    fn point(name: &str, time: &str, ty: &str) -> Instance {
        Instance::new(VIRTUAL_SYSTEM_SETTING_DATA)
            .with("InstanceID", Scalar::String(format!("Microsoft:{name}")))
            .with("ElementName", Scalar::String(name.to_owned()))
            .with("VirtualSystemType", Scalar::String(ty.to_owned()))
            .with(
                "CreationTime",
                Scalar::Datetime(CimDateTime::parse_iso8601(time).unwrap()),
            )
    }

    fn replica() -> Vm {
        Vm::from_instance(
            &Instance::new(COMPUTER_SYSTEM)
                .with(
                    "Name",
                    Scalar::String("0C2E1DCE-2C55-4C9B-8B47-1A2B3C4D5E6F".into()),
                )
                .with("ElementName", Scalar::String("web01".into()))
                .with("ReplicationMode", Scalar::Uint16(2))
                .with("ReplicationState", Scalar::Uint16(3))
                .with("EnabledState", Scalar::Uint16(3)),
        )
        .unwrap()
    }

    fn points() -> Vec<RecoveryPoint> {
        [
            point("a", "2027-01-15T05:00:00.25Z", REPLICA_STANDARD),
            point("b", "2027-01-15T06:00:00Z", REPLICA_APPLICATION_CONSISTENT),
            point("c", "2027-01-15T06:00:00-00:00", REPLICA_STANDARD),
            point("d", "2027-01-15T07:00:00Z", "Microsoft:Hyper-V:System:Realized"),
        ]
        .iter()
        .filter_map(RecoveryPoint::from_instance)
        .collect()
    }

    #[test]
    fn only_replica_snapshots_are_recovery_points_and_their_time_is_to_the_second() {
        let p = points();
        assert_eq!(p.len(), 3);
        assert!(!p[0].application_consistent && p[1].application_consistent);
        assert_eq!(p[0].time_text(), "2027-01-15T05:00:00Z");
        assert_eq!(p[1].kind(), "application-consistent");
    }

    #[test]
    fn a_point_is_named_by_name_instance_id_or_time_in_any_offset() {
        let (p, vm) = (points(), replica());
        let pick = |w: &str| pick_recovery_point(&p, w, &vm, "hv02").map(|p| p.name);
        assert_eq!(pick("A").unwrap(), "a");
        assert_eq!(pick("Microsoft:b").unwrap(), "b");
        assert_eq!(pick("2027-01-15T05:00:00Z").unwrap(), "a");
        assert_eq!(pick("2027-01-15T00:00:00-05:00").unwrap(), "a");
    }

    #[test]
    fn an_unknown_or_ambiguous_point_is_a_usage_error_listing_the_points() {
        let (p, vm) = (points(), replica());
        let e = pick_recovery_point(&p, "2027-01-15T06:00:00Z", &vm, "hv02").unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Usage);
        let m = e.to_string();
        assert!(
            m.starts_with("'2027-01-15T06:00:00Z' names 2 recovery points of web01 on hv02"),
            "{m}"
        );
        let e = pick_recovery_point(&p, "yesterday", &vm, "hv02").unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Usage);
        assert_eq!(
            e.to_string(),
            "web01 on hv02 has no recovery point 'yesterday'; name one by its name or time as \
             `hvctl replication recovery-points web01` lists them: 2027-01-15T05:00:00Z 'a' (standard), \
             2027-01-15T06:00:00Z 'b' (application-consistent), 2027-01-15T06:00:00Z 'c' (standard)"
        );
        let e = pick_recovery_point(&[], "x", &vm, "hv02").unwrap_err();
        assert!(e
            .to_string()
            .ends_with("it has none (recovery points are kept on the replica host)"));
    }
}
