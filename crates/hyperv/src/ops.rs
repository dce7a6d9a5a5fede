//! The operations: reverse replication and the planned-failover workflow around it, VM power,
//! and replication status. Each one finds the VM, explains a wrong state before sending
//! anything, invokes once, follows the job and reads the state back (the planned-failover sequence of
//! the `Start-VMFailover` page, Example 4:
//! <https://learn.microsoft.com/powershell/module/hyper-v/start-vmfailover>).

use std::time::Instant;

use wsman_soap::{Instance, Scalar, Value};

use crate::drill::{plan_test, plan_test_stop, snapshot_param};
use crate::error::shell_quote;
use crate::health::HealthOp;
use crate::job::{invoke_and_wait, JobWaitOptions, MethodResult, Progress, Target};
use crate::model::{EnabledState, ReplicationAuth, ReplicationMode, ReplicationState};
use crate::msvm::{class_uri, ReplicationSettings, Vm, COMPUTER_SYSTEM, RSD_SCHEMA};
use crate::query::{
    find_vm_by_guid, locate, replication_relationship, replication_service, replication_settings,
    shutdown_component, VmTarget,
};
use crate::report::{Operation, OperationReport, PlanReport, ReverseDetails, StatusReport, VmState};
use crate::transport::Wsman;
use crate::Error;

/// Options of `hvctl replication reverse` (`Set-VMReplication -Reverse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReverseOptions {
    /// `-ReplicaServerName`: where the reversed replication goes. Default: the old primary
    /// (`PrimaryConnectionPoint`).
    pub replica_server: Option<String>,
    /// `-ReplicaServerPort`. Default: the current `RecoveryServerPortNumber`.
    pub port: Option<u16>,
    /// `-AuthenticationType`. Default: the current one (0 counts as Kerberos).
    pub auth: Option<ReplicationAuth>,
    /// `-CertificateThumbprint`: required with certificate authentication.
    pub thumbprint: Option<String>,
}

/// One operation under way: the transport, its start, the messages for the report.
pub(crate) struct Ctx<'a, W> {
    pub(crate) w: &'a W,
    start: Instant,
    pub(crate) messages: Vec<String>,
}

impl<'a, W: Wsman> Ctx<'a, W> {
    pub(crate) fn new(w: &'a W) -> Self {
        Ctx {
            w,
            start: w.now(),
            messages: Vec::new(),
        }
    }

    /// The report of the operation, with the VM's state read back.
    pub(crate) async fn finish(
        self,
        operation: Operation,
        before: &Vm,
        method: Option<&str>,
        result: Option<MethodResult>,
        reverse: Option<ReverseDetails>,
    ) -> Result<OperationReport, Error> {
        let after = find_vm_by_guid(self.w, &before.guid).await?;
        let mut messages = self.messages;
        messages.push(format!(
            "{} on {} is now {} ({}, {})",
            after.name,
            self.w.host(),
            after.ps_replication_state,
            after.replication_mode,
            after.enabled_state
        ));
        Ok(OperationReport {
            operation,
            vm: before.name.clone(),
            guid: before.guid.clone(),
            host: self.w.host().to_owned(),
            before: VmState::from(before),
            after: VmState::from(&after),
            method: method.map(str::to_owned),
            return_code: result.as_ref().map(|r| r.return_code),
            job_id: result.and_then(|r| r.job).map(|j| j.instance_id),
            duration: self.w.now().saturating_duration_since(self.start),
            messages,
            reverse,
            test_vm: None,
        })
    }
}

pub(crate) fn who(vm: &Vm, host: &str) -> String {
    format!("{} on {host}", vm.name)
}

pub(crate) fn cmd(verb: &str, vm: &Vm) -> String {
    format!("`hvctl {verb} {}`", shell_quote(&vm.name))
}

pub(crate) fn invalid(explanation: String) -> Error {
    Error::InvalidState { explanation }
}

/// Invokes `Msvm_ReplicationService.<method>(params)` once, follows the job and reports the
/// operation with the VM's state read back.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn invoke_on_service<W: Wsman>(
    ctx: Ctx<'_, W>,
    operation: Operation,
    vm: &Vm,
    method: &'static str,
    params: &[(String, Value)],
    reverse: Option<ReverseDetails>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let result = invoke_service_method(ctx.w, vm, method, params, wait, progress).await?;
    ctx.finish(operation, vm, Some(method), Some(result), reverse)
        .await
}

/// Invokes `Msvm_ReplicationService.<method>(params)` on `vm`'s behalf once and follows its
/// job: the result, for an operation that reads its outputs before reporting.
pub(crate) async fn invoke_service_method(
    w: &impl Wsman,
    vm: &Vm,
    method: &'static str,
    params: &[(String, Value)],
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<MethodResult, Error> {
    let service = replication_service(w).await?;
    let target = Target { vm: &vm.name, method };
    invoke_and_wait(
        w,
        &service.resource_uri,
        &service.selectors,
        target,
        params,
        wait,
        progress,
    )
    .await
}

/// Preflight of reverse replication (`Set-VMReplication -Reverse`,
/// <https://learn.microsoft.com/powershell/module/hyper-v/set-vmreplication>): PowerShell refuses mode
/// Primary; we also require a failed-over VM (state 5 Recovered or 6 Committed, shown as
/// FailedOverWaitingCompletion / FailedOver) and explain anything else before calling the host.
pub fn preflight_reverse(vm: &Vm, host: &str) -> Result<(), Error> {
    let who = who(vm, host);
    let ps = vm.ps_replication_state;
    match vm.replication_mode {
        ReplicationMode::None => {
            return Err(invalid(format!(
                "{who} is not replicated (ReplicationMode None): there is no replication to reverse"
            )))
        }
        ReplicationMode::Primary => {
            return Err(invalid(format!(
                "{who} is the primary ({ps}): reverse runs on the replica host where the VM was failed \
                 over; run `hvctl failover start` there first, then reverse it there"
            )))
        }
        ReplicationMode::TestReplica => {
            return Err(invalid(format!(
                "{who} is a test replica: reverse the replica VM, not its test copy"
            )))
        }
        _ => {}
    }
    match vm.replication_state {
        ReplicationState::Recovered | ReplicationState::Committed => Ok(()),
        ReplicationState::FailoverInProgress => Err(invalid(format!(
            "{who} is {ps}: a failover is still running; wait for it to finish (FailedOverWaitingCompletion) and retry"
        ))),
        _ => Err(invalid(format!(
            "{who} is {ps}: reverse needs a failed-over VM (FailedOverWaitingCompletion or FailedOver); \
             run `hvctl failover start` first"
        ))),
    }
}

/// Applies the `Set-VMReplication -Reverse` rules to the current settings and returns the
/// instance to send (retyped with [`RSD_SCHEMA`]) and what it sets (the Hyper-V PowerShell
/// module's `Set-VMReplication -Reverse`, whose parameters are documented at
/// <https://learn.microsoft.com/powershell/module/hyper-v/set-vmreplication>):
/// `RecoveryConnectionPoint := replica_server ?? PrimaryConnectionPoint` (must not be empty);
/// port from the options or the settings (0 refused); `AuthenticationType` 0 becomes Kerberos;
/// certificate authentication requires a thumbprint in the options.
pub fn plan_reverse(
    vm: &Vm,
    settings: &ReplicationSettings,
    opts: &ReverseOptions,
) -> Result<(Instance, ReverseDetails), Error> {
    let rcp = match &opts.replica_server {
        Some(s) if s.trim().is_empty() => {
            return Err(Error::Usage("the replica server name is empty".into()))
        }
        Some(s) => s.trim().to_owned(),
        None => settings.primary_connection_point.clone().ok_or_else(|| {
            Error::Usage(format!(
                "the replication settings of {} name no primary server (PrimaryConnectionPoint is empty); \
                 name the new replica server with --replica-server",
                vm.name
            ))
        })?,
    };
    let port = opts.port.or(settings.recovery_server_port).unwrap_or(0);
    if port == 0 {
        return Err(Error::Usage(match opts.port {
            Some(_) => "port 0 is not a valid replica server port".to_owned(),
            None => format!(
                "the replication settings of {} have no port (RecoveryServerPortNumber 0); pass --port",
                vm.name
            ),
        }));
    }
    let auth = opts
        .auth
        .or(settings.authentication)
        .unwrap_or(ReplicationAuth::Kerberos);
    let thumbprint = match auth {
        ReplicationAuth::Certificate => {
            let Some(t) = &opts.thumbprint else {
                return Err(Error::Usage(
                    "certificate authentication needs the certificate thumbprint (--thumbprint) for a reverse".into(),
                ));
            };
            let t: String = t
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase();
            if t.is_empty() || t.len() > 128 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Usage(format!(
                    "'{t}' is not a certificate thumbprint (hex digits)"
                )));
            }
            Some(t)
        }
        ReplicationAuth::Kerberos => {
            if opts.thumbprint.is_some() {
                return Err(Error::Usage(
                    "a certificate thumbprint only applies to certificate authentication (--auth certificate)".into(),
                ));
            }
            None
        }
        ReplicationAuth::Other(v) => {
            return Err(Error::Usage(format!(
                "authentication type {v} is not Kerberos (1) or Certificate (2)"
            )))
        }
    };
    let mut rsd = settings.instance.clone();
    rsd.set("RecoveryConnectionPoint", Scalar::String(rcp.clone()));
    rsd.set("RecoveryServerPortNumber", Scalar::Uint16(port));
    rsd.set("AuthenticationType", Scalar::Uint16(auth.value()));
    if let Some(t) = &thumbprint {
        rsd.set("CertificateThumbPrint", Scalar::String(t.clone()));
    }
    // Every property goes with its class type, nulls included, the way WMI serialises an
    // instance; what the schema does not know is left out rather than typed by guess.
    let (rsd, left_out_properties) = rsd.split_by_schema(RSD_SCHEMA);
    let rsd = rsd.retyped(RSD_SCHEMA).map_err(|e| {
        Error::Unexpected(format!(
            "the replication settings of {} do not fit their schema: {e}",
            vm.name
        ))
    })?;
    let details = ReverseDetails {
        recovery_connection_point: rcp,
        previous_recovery_connection_point: settings.recovery_connection_point.clone(),
        port,
        authentication: auth,
        certificate_thumbprint: thumbprint,
        left_out_properties,
    };
    Ok((rsd, details))
}

/// `Set-VMReplication -Reverse` on the host where the VM was failed over, in these steps:
/// find the VM, preflight, read its primary-relationship settings, apply [`plan_reverse`],
/// invoke `Msvm_ReplicationService.ReverseReplicationRelationship(ComputerSystem = REF VM,
/// ReplicationSettingData = embedded RSD)` once, follow the job, read the state back.
pub async fn reverse_replication(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    opts: &ReverseOptions,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "ReverseReplicationRelationship";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_reverse(&vm, w.host())?;
    let settings = replication_settings(w, &vm).await?;
    let (rsd, details) = plan_reverse(&vm, &settings, opts)?;
    ctx.messages.push(format!(
        "reversing replication of {}: new replica server {}:{} ({})",
        vm.name, details.recovery_connection_point, details.port, details.authentication
    ));
    if !details.left_out_properties.is_empty() {
        ctx.messages.push(format!(
            "left out of the settings sent, their types being unknown to this version: {}",
            details.left_out_properties.join(", ")
        ));
    }
    let params = vec![
        ("ComputerSystem".to_owned(), Value::Reference(vm.epr())),
        (
            "ReplicationSettingData".to_owned(),
            Value::Instance(Box::new(rsd)),
        ),
    ];
    invoke_on_service(
        ctx,
        Operation::ReverseReplication,
        &vm,
        METHOD,
        &params,
        Some(details),
        wait,
        progress,
    )
    .await
}

/// Preflight of `Start-VMFailover -Prepare` (primary host): mode Primary, state Replicating,
/// VM off.
pub fn preflight_prepare(vm: &Vm, host: &str) -> Result<(), Error> {
    let who = who(vm, host);
    let ps = vm.ps_replication_state;
    if vm.replication_mode != ReplicationMode::Primary {
        return Err(invalid(format!(
            "{who} is {} ({ps}): prepare runs on the primary host of the VM",
            mode_phrase(vm.replication_mode)
        )));
    }
    match vm.replication_state {
        ReplicationState::Replicating => {}
        ReplicationState::SyncedReplicationComplete => {
            return Err(invalid(format!(
                "{who} is already {ps}: run `hvctl failover start` on the replica host next"
            )))
        }
        _ => return Err(invalid(format!("{who} is {ps}: prepare needs a Replicating VM"))),
    }
    if vm.enabled_state != EnabledState::Off {
        return Err(invalid(format!(
            "{who} is {}: a planned failover needs the VM off; shut it down first ({})",
            vm.enabled_state,
            cmd("vm stop", vm)
        )));
    }
    Ok(())
}

pub(crate) fn mode_phrase(mode: ReplicationMode) -> &'static str {
    match mode {
        ReplicationMode::None => "not replicated",
        ReplicationMode::Primary => "the primary",
        ReplicationMode::Replica => "a replica",
        ReplicationMode::TestReplica => "a test replica",
        ReplicationMode::ExtendedReplica => "an extended replica",
        ReplicationMode::Other(_) => "in an undocumented replication mode",
    }
}

/// `Start-VMFailover -Prepare` on the primary host: `Msvm_ComputerSystem.
/// RequestReplicationStateChangeEx(RequestedState = 4)` on the VM (the relationship parameter
/// omitted: the primary relationship), which sends pending changes and leaves the primary
/// PreparedForFailover.
pub async fn prepare_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "RequestReplicationStateChangeEx";
    let ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_prepare(&vm, w.host())?;
    let result = request_on_vm(w, &vm, METHOD, 4, wait, progress).await?;
    ctx.finish(Operation::PrepareFailover, &vm, Some(METHOD), Some(result), None)
        .await
}

/// Preflight of `Start-VMFailover` (replica host): replica mode, VM off, state Replicating (or
/// Resynchronizing / Suspended, resumed first, or DiskUpdateInProgress) and at least one
/// replication received.
pub fn preflight_start_failover(vm: &Vm, host: &str) -> Result<(), Error> {
    let who = who(vm, host);
    let ps = vm.ps_replication_state;
    if !vm.replication_mode.is_replica() {
        let next = if vm.replication_mode == ReplicationMode::Primary {
            "; on the primary, run `hvctl failover prepare` first"
        } else {
            ""
        };
        return Err(invalid(format!(
            "{who} is {} ({ps}): failover start runs on the replica host{next}",
            mode_phrase(vm.replication_mode)
        )));
    }
    match vm.replication_state {
        ReplicationState::Replicating
        | ReplicationState::Resynchronizing
        | ReplicationState::Suspended
        | ReplicationState::DiskUpdateInProgress => {}
        ReplicationState::Recovered | ReplicationState::Committed => {
            return Err(invalid(format!(
                "{who} is already {ps}: next run {} (or {} to undo)",
                cmd("replication reverse", vm),
                cmd("failover cancel", vm)
            )))
        }
        _ => {
            return Err(invalid(format!(
                "{who} is {ps}: failover needs a Replicating replica"
            )))
        }
    }
    if vm.enabled_state != EnabledState::Off {
        return Err(invalid(format!(
            "{who} is {}: failover needs the replica VM off",
            vm.enabled_state
        )));
    }
    if vm.last_replication_time.is_none() {
        return Err(invalid(format!(
            "{who} has not received any replication yet: there is no recovery point to fail over to"
        )));
    }
    Ok(())
}

/// `Start-VMFailover` on the replica host: `Msvm_ReplicationService.InitiateFailover(
/// ComputerSystem = REF VM, SnapshotSettingData = null)` for the latest point in time, or a
/// REF to the recovery point whose name, time or InstanceID is `recovery_point`
/// ([`crate::drill::pick_recovery_point`]). A Resynchronizing or
/// Suspended replica is first set back to Replicating (`RequestReplicationStateChangeEx(3)`),
/// as PowerShell does.
pub async fn start_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    recovery_point: Option<&str>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "InitiateFailover";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_start_failover(&vm, w.host())?;
    let (snapshot, point) = snapshot_param(w, &vm, recovery_point).await?;
    if recovery_point.is_some() {
        ctx.messages.push(format!("failing over to {point}"));
    }
    if matches!(
        vm.replication_state,
        ReplicationState::Resynchronizing | ReplicationState::Suspended
    ) {
        const RESUME: &str = "RequestReplicationStateChangeEx";
        request_on_vm(w, &vm, RESUME, 3, wait, &mut *progress).await?;
        ctx.messages.push(format!(
            "{} was {}: set back to Replicating first",
            vm.name, vm.ps_replication_state
        ));
    }
    let params = vec![
        ("ComputerSystem".to_owned(), Value::Reference(vm.epr())),
        ("SnapshotSettingData".to_owned(), snapshot),
    ];
    invoke_on_service(
        ctx,
        Operation::StartFailover,
        &vm,
        METHOD,
        &params,
        None,
        wait,
        progress,
    )
    .await
}

/// Preflight of `Complete-VMFailover`: replica mode and state 5 (FailedOverWaitingCompletion).
pub fn preflight_commit(vm: &Vm, host: &str) -> Result<(), Error> {
    let who = who(vm, host);
    let ps = vm.ps_replication_state;
    if !vm.replication_mode.is_replica() {
        return Err(invalid(format!(
            "{who} is {} ({ps}): failover commit runs on the replica host after `hvctl failover start`",
            mode_phrase(vm.replication_mode)
        )));
    }
    match vm.replication_state {
        ReplicationState::Recovered => Ok(()),
        ReplicationState::Committed => Err(invalid(format!("{who} is already {ps}: the failover is committed"))),
        _ => Err(invalid(format!(
            "{who} is {ps}: commit needs a failed-over VM (FailedOverWaitingCompletion); run `hvctl failover start` first"
        ))),
    }
}

/// `Complete-VMFailover`: `Msvm_ReplicationService.CommitFailover(ComputerSystem = REF VM)`.
pub async fn commit_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "CommitFailover";
    let ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_commit(&vm, w.host())?;
    let params = vec![("ComputerSystem".to_owned(), Value::Reference(vm.epr()))];
    invoke_on_service(
        ctx,
        Operation::CommitFailover,
        &vm,
        METHOD,
        &params,
        None,
        wait,
        progress,
    )
    .await
}

/// Preflight of `Stop-VMFailover`: state 5 FailedOverWaitingCompletion (replica), 4
/// PreparedForFailover (primary) or 12 RecoveryInProgress.
pub fn preflight_cancel(vm: &Vm, host: &str) -> Result<(), Error> {
    match vm.replication_state {
        ReplicationState::Recovered
        | ReplicationState::SyncedReplicationComplete
        | ReplicationState::FailoverInProgress => Ok(()),
        _ => Err(invalid(format!(
            "{} is {}: there is no failover to cancel (cancel applies to FailedOverWaitingCompletion, \
             PreparedForFailover or RecoveryInProgress)",
            who(vm, host),
            vm.ps_replication_state
        ))),
    }
}

/// `Stop-VMFailover`: turns the VM off if it is running (as PowerShell does), then
/// `Msvm_ReplicationService.RevertFailover(ComputerSystem = REF VM)`. On the replica this
/// discards the failover; on the primary it cancels a prepare.
pub async fn cancel_failover(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "RevertFailover";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_cancel(&vm, w.host())?;
    if vm.enabled_state != EnabledState::Off {
        request_on_vm(w, &vm, "RequestStateChange", 3, wait, &mut *progress).await?;
        ctx.messages.push(format!(
            "{} was {}: turned it off first",
            vm.name, vm.enabled_state
        ));
    }
    let params = vec![("ComputerSystem".to_owned(), Value::Reference(vm.epr()))];
    invoke_on_service(
        ctx,
        Operation::CancelFailover,
        &vm,
        METHOD,
        &params,
        None,
        wait,
        progress,
    )
    .await
}

/// Invokes `Msvm_ComputerSystem.<method>(RequestedState = state)` on the VM once and follows the
/// job (`RequestStateChange`, `RequestReplicationStateChangeEx`).
pub(crate) async fn request_on_vm(
    w: &impl Wsman,
    vm: &Vm,
    method: &'static str,
    state: u16,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<MethodResult, Error> {
    let params = vec![("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(state)))];
    let target = Target { vm: &vm.name, method };
    invoke_and_wait(
        w,
        &class_uri(COMPUTER_SYSTEM),
        &vm.selectors(),
        target,
        &params,
        wait,
        progress,
    )
    .await
}

/// `Start-VM`: `Msvm_ComputerSystem.RequestStateChange(RequestedState = 2)`; nothing is sent
/// when the VM is already running.
pub async fn start_vm(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    power(w, vm, Operation::StartVm, EnabledState::Running, wait, progress).await
}

/// `Stop-VM -TurnOff`: `Msvm_ComputerSystem.RequestStateChange(RequestedState = 3)` (power off,
/// no guest shutdown); nothing is sent when the VM is already off.
pub async fn stop_vm(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    power(w, vm, Operation::StopVm, EnabledState::Off, wait, progress).await
}

/// Checks that `Start-VM` can start the VM: a replica that was not failed over cannot run
/// (Hyper-V refuses with 32775 Invalid state; the replica's disks are being replicated into).
/// A failed-over replica (FailedOverWaitingCompletion, FailedOver) can.
pub fn preflight_start(vm: &Vm, host: &str) -> Result<(), Error> {
    if !vm.replication_mode.is_replica()
        || matches!(
            vm.replication_state,
            ReplicationState::Recovered | ReplicationState::Committed
        )
    {
        return Ok(());
    }
    Err(invalid(format!(
        "{} is a replica ({}): a replica VM cannot be started; to run it, fail over first ({} on \
         this host), or for a drill start a test failover on the host (`Start-VMFailover -AsTest`) and \
         start the test VM it creates",
        who(vm, host),
        vm.ps_replication_state,
        cmd("failover start", vm)
    )))
}

async fn power(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    operation: Operation,
    wanted: EnabledState,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    if operation == Operation::StartVm {
        preflight_start(&vm, w.host())?;
    }
    if vm.enabled_state == wanted {
        ctx.messages
            .push(format!("{} is already {wanted}: nothing to do", vm.name));
        return ctx.finish(operation, &vm, None, None, None).await;
    }
    let result = request_on_vm(
        w,
        &vm,
        "RequestStateChange",
        requested_state(wanted),
        wait,
        progress,
    )
    .await?;
    ctx.finish(operation, &vm, Some("RequestStateChange"), Some(result), None)
        .await
}

/// The `RequestedState` of `Msvm_ComputerSystem.RequestStateChange` that leads to `wanted`
/// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem-requeststatechange>):
/// 2 Running, 3 Off, 6 Offline for a saved state.
fn requested_state(wanted: EnabledState) -> u16 {
    match wanted {
        EnabledState::Saved => 6,
        other => other.value(),
    }
}

/// `Stop-VM -Save`: `Msvm_ComputerSystem.RequestStateChange(RequestedState = 6)` (Offline),
/// for a running VM; nothing is sent when it is already saved.
pub async fn save_vm(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    let vm = locate(w, vm.into()).await?;
    preflight_save(&vm, w.host())?;
    power(w, &vm, Operation::SaveVm, EnabledState::Saved, wait, progress).await
}

/// Preflight of `Stop-VM -Save`: only a running (or already saved) VM.
pub fn preflight_save(vm: &Vm, host: &str) -> Result<(), Error> {
    match vm.enabled_state {
        EnabledState::Running | EnabledState::Saved => Ok(()),
        other => Err(invalid(format!(
            "{} is {other}: only a running VM can be saved",
            who(vm, host)
        ))),
    }
}

/// Preflight of `Stop-VM` (guest shutdown): a running VM (an off one needs nothing).
pub fn preflight_shutdown(vm: &Vm, host: &str) -> Result<(), Error> {
    match vm.enabled_state {
        EnabledState::Running | EnabledState::Off => Ok(()),
        other => Err(invalid(format!(
            "{} is {other}: only a running guest can be shut down; cut the power with {}",
            who(vm, host),
            turn_off_cmd(vm)
        ))),
    }
}

fn turn_off_cmd(vm: &Vm) -> String {
    format!("`hvctl vm stop --turn-off {}`", shell_quote(&vm.name))
}

/// The reason `InitiateShutdown` passes to the guest.
const SHUTDOWN_REASON: &str = "hvctl vm stop";

/// `Stop-VM` (`-Force` with `force`): asks the guest to shut down through its
/// `Msvm_ShutdownComponent.InitiateShutdown(Force, Reason)`
/// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-shutdowncomponent>), follows the
/// job when the host starts one, then reads the VM until it is Off, polled with the job
/// backoff ([`JobWaitOptions::initial_delay`] doubling to `max_delay`) and bounded by
/// [`JobWaitOptions::timeout`] ([`Error::ShutdownTimeout`]). Nothing is sent when the VM is off;
/// a VM without a shutdown component (no integration services) is an invalid state.
pub async fn shutdown_vm(
    w: &impl Wsman,
    vm: impl Into<VmTarget<'_>>,
    force: bool,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<OperationReport, Error> {
    const METHOD: &str = "InitiateShutdown";
    let mut ctx = Ctx::new(w);
    let vm = locate(w, vm.into()).await?;
    preflight_shutdown(&vm, w.host())?;
    if vm.enabled_state == EnabledState::Off {
        ctx.messages
            .push(format!("{} is already Off: nothing to do", vm.name));
        return ctx.finish(Operation::ShutdownVm, &vm, None, None, None).await;
    }
    let component = shutdown_component_of(w, &vm).await?;
    let params = vec![
        ("Force".to_owned(), Value::Scalar(Scalar::Boolean(force))),
        (
            "Reason".to_owned(),
            Value::Scalar(Scalar::String(SHUTDOWN_REASON.into())),
        ),
    ];
    let target = Target {
        vm: &vm.name,
        method: METHOD,
    };
    let result = invoke_and_wait(
        w,
        &component.resource_uri,
        &component.selectors,
        target,
        &params,
        wait,
        progress,
    )
    .await?;
    wait_until_off(w, &vm, wait).await?;
    ctx.messages
        .push(format!("asked the guest of {} to shut down", vm.name));
    ctx.finish(Operation::ShutdownVm, &vm, Some(METHOD), Some(result), None)
        .await
}

/// The shutdown component of a running VM, or an invalid state naming `--turn-off`.
async fn shutdown_component_of(w: &impl Wsman, vm: &Vm) -> Result<wsman_soap::Epr, Error> {
    shutdown_component(w, vm).await?.ok_or_else(|| {
        invalid(format!(
            "{} has no guest shutdown service (Msvm_ShutdownComponent): the guest cannot be asked \
             to shut down; cut the power with {}",
            who(vm, w.host()),
            turn_off_cmd(vm)
        ))
    })
}

/// Reads the VM until its `EnabledState` is Off, at the job backoff, until `wait.timeout`.
pub(crate) async fn wait_until_off(w: &impl Wsman, vm: &Vm, wait: &JobWaitOptions) -> Result<(), Error> {
    let start = w.now();
    let mut delay = wait.initial_delay;
    loop {
        let now = find_vm_by_guid(w, &vm.guid).await?;
        if now.enabled_state == EnabledState::Off {
            return Ok(());
        }
        let waited = w.now().saturating_duration_since(start);
        if waited >= wait.timeout {
            return Err(Error::ShutdownTimeout {
                vm: vm.name.clone(),
                host: w.host().to_owned(),
                state: now.enabled_state,
                waited,
            });
        }
        w.sleep(delay.min(wait.timeout - waited)).await;
        delay = (delay * 2).min(wait.max_delay.max(wait.initial_delay));
    }
}

/// `Get-VMReplication`: the VM's mode, state (with its PowerShell name), health and last
/// replication time, its primary relationship and settings (when replication is enabled).
pub async fn replication_status(w: &impl Wsman, vm: impl Into<VmTarget<'_>>) -> Result<StatusReport, Error> {
    let vm = locate(w, vm.into()).await?;
    let (relationship, settings) = if vm.replication_mode == ReplicationMode::None {
        (None, None)
    } else {
        let rel = replication_relationship(w, &vm).await?;
        let settings = match replication_settings(w, &vm).await {
            Ok(s) => Some(s),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        (rel, settings)
    };
    Ok(StatusReport {
        host: w.host().to_owned(),
        vm,
        relationship,
        settings,
    })
}

/// How `hvctl vm stop` stops a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// `Stop-VM`: the guest shuts down (`Force` as `Stop-VM -Force`).
    Shutdown {
        /// `InitiateShutdown`'s `Force`.
        force: bool,
    },
    /// `Stop-VM -TurnOff`: the power is cut.
    TurnOff,
    /// `Stop-VM -Save`: the state is saved.
    Save,
}

/// A state-changing operation, as `--dry-run` plans it.
#[derive(Debug, Clone, Copy)]
pub enum Planned<'a> {
    /// [`reverse_replication`].
    Reverse(&'a ReverseOptions),
    /// [`prepare_failover`].
    Prepare,
    /// [`start_failover`], to the latest point or a named one.
    StartFailover(Option<&'a str>),
    /// [`commit_failover`].
    Commit,
    /// [`cancel_failover`].
    Cancel,
    /// [`start_vm`].
    StartVm,
    /// [`crate::test_failover`], from the latest point or a named one.
    TestFailover(Option<&'a str>),
    /// [`crate::stop_test_failover`].
    StopTestFailover,
    /// [`shutdown_vm`], [`stop_vm`] or [`save_vm`].
    StopVm(StopMode),
    /// Suspend, resume or resynchronize replication ([`crate::health`]).
    Health(HealthOp),
}

/// What an operation would do to one VM, from the states read now: the same reads and
/// preflight as the operation, and nothing invoked (`--dry-run`). Empty `steps` means there
/// is nothing to do; a preflight that refuses is the operation's own error.
pub async fn plan(w: &impl Wsman, vm: impl Into<VmTarget<'_>>, op: Planned<'_>) -> Result<PlanReport, Error> {
    let vm = locate(w, vm.into()).await?;
    let host = w.host();
    let on_vm =
        |method: &str, args: &str| format!("invoke Msvm_ComputerSystem.{method}({args}) on {}", vm.name);
    let on_service = |method: &str| {
        format!(
            "invoke Msvm_ReplicationService.{method}(ComputerSystem = {})",
            vm.name
        )
    };
    let mut steps = Vec::new();
    let operation = match op {
        Planned::Reverse(opts) => {
            preflight_reverse(&vm, host)?;
            let settings = replication_settings(w, &vm).await?;
            let (_, d) = plan_reverse(&vm, &settings, opts)?;
            steps.push(format!(
                "{}: new replica server {}:{} ({})",
                on_service("ReverseReplicationRelationship"),
                d.recovery_connection_point,
                d.port,
                d.authentication
            ));
            Operation::ReverseReplication
        }
        Planned::Prepare => {
            preflight_prepare(&vm, host)?;
            steps.push(on_vm("RequestReplicationStateChangeEx", "RequestedState = 4"));
            Operation::PrepareFailover
        }
        Planned::StartFailover(point) => {
            preflight_start_failover(&vm, host)?;
            let (_, point) = snapshot_param(w, &vm, point).await?;
            if matches!(
                vm.replication_state,
                ReplicationState::Resynchronizing | ReplicationState::Suspended
            ) {
                steps.push(on_vm("RequestReplicationStateChangeEx", "RequestedState = 3"));
            }
            steps.push(format!("{}, to {point}", on_service("InitiateFailover")));
            Operation::StartFailover
        }
        Planned::Commit => {
            preflight_commit(&vm, host)?;
            steps.push(format!(
                "{}: the other recovery points are deleted",
                on_service("CommitFailover")
            ));
            Operation::CommitFailover
        }
        Planned::Cancel => {
            preflight_cancel(&vm, host)?;
            if vm.enabled_state != EnabledState::Off {
                steps.push(on_vm("RequestStateChange", "RequestedState = 3"));
            }
            steps.push(on_service("RevertFailover"));
            Operation::CancelFailover
        }
        Planned::TestFailover(point) => plan_test(w, &vm, point, &mut steps).await?,
        Planned::StopTestFailover => plan_test_stop(w, &vm, &mut steps).await?,
        Planned::StartVm => {
            if vm.enabled_state != EnabledState::Running {
                steps.push(on_vm("RequestStateChange", "RequestedState = 2"));
            }
            Operation::StartVm
        }
        Planned::StopVm(StopMode::Shutdown { force }) => {
            preflight_shutdown(&vm, host)?;
            if vm.enabled_state != EnabledState::Off {
                shutdown_component_of(w, &vm).await?;
                steps.push(format!(
                    "invoke Msvm_ShutdownComponent.InitiateShutdown(Force = {force}) of {}, then wait until it is Off",
                    vm.name
                ));
            }
            Operation::ShutdownVm
        }
        Planned::StopVm(StopMode::TurnOff) => {
            if vm.enabled_state != EnabledState::Off {
                steps.push(on_vm("RequestStateChange", "RequestedState = 3"));
            }
            Operation::StopVm
        }
        Planned::StopVm(StopMode::Save) => {
            preflight_save(&vm, host)?;
            if vm.enabled_state != EnabledState::Saved {
                steps.push(on_vm("RequestStateChange", "RequestedState = 6"));
            }
            Operation::SaveVm
        }
        Planned::Health(op) => {
            steps = crate::health::plan_steps(w, &vm, op).await?;
            op.operation()
        }
    };
    Ok(PlanReport {
        operation,
        vm: vm.name.clone(),
        guid: vm.guid.clone(),
        host: host.to_owned(),
        state: VmState::from(&vm),
        steps,
    })
}
