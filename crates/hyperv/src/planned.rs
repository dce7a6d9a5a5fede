//! The planned failover of a VM as one resumable sequence, over its primary and its replica
//! host: turn the primary off (when asked), prepare it, fail the replica over, reverse the
//! replication there and start the VM on it (the sequence of the `Start-VMFailover` page,
//! Example 4: <https://learn.microsoft.com/powershell/module/hyper-v/start-vmfailover>, with
//! `Set-VMReplication -Reverse` and `Start-VM`).
//!
//! It keeps no state of its own: before each step it reads the VM on both hosts, and what it
//! finds says whether that step is done ([`assess`]). So a run that was interrupted (killed,
//! a reply lost, a step done by hand) is resumed by running it again: a job an earlier run
//! left running is followed to its end first ([`pending_jobs`]), a step already done is
//! skipped with the state that shows it, and no completed step is sent twice.
//!
//! What each step leaves behind, as the hosts show it:
//!
//! | step | host | done when |
//! |---|---|---|
//! | `stop` | primary | the VM is Off (or already prepared) |
//! | `prepare` | primary | ReplicationState 4 (PreparedForFailover) |
//! | `failover` | replica | ReplicationState 5 or 6 (FailedOverWaitingCompletion, FailedOver) |
//! | `reverse` | replica | the replica host is the Primary and the primary host the Replica |
//! | `start` | replica | the VM runs on the replica host, now its primary |
//!
//! After the reverse the roles are swapped: the same command line run again finds the VM
//! Primary on `--replica` and Replica on `--primary`, which is the end of the sequence, not a
//! refusal. (The same states are what a VM that never moved shows with the two hosts given the
//! other way round: for the command both mean the VM is where it is asked to be.)

use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::job::{wait_job, JobProgress, JobWaitOptions};
use crate::model::{EnabledState, PsReplicationState, ReplicationMode, ReplicationState, ReturnCode};
use crate::msvm::{Job, Vm};
use crate::ops::{
    mode_phrase, plan_reverse, preflight_prepare, preflight_reverse, preflight_shutdown, preflight_start,
    preflight_start_failover, prepare_failover, reverse_replication, shutdown_vm, start_failover, start_vm,
    stop_vm, wait_until_off, ReverseOptions, StopMode,
};
use crate::query::{associated, find_vm, find_vm_by_guid, replication_settings, VmRef};
use crate::report::{serialize_millis, OperationReport, VmState};
use crate::transport::Wsman;

/// One step of the planned failover, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Turn the VM off on the primary host (`Stop-VM`, or `Stop-VM -TurnOff`).
    Stop,
    /// `Start-VMFailover -Prepare` on the primary host.
    Prepare,
    /// `Start-VMFailover` on the replica host.
    Failover,
    /// `Set-VMReplication -Reverse` on the replica host.
    Reverse,
    /// `Start-VM` on the replica host.
    Start,
    /// The state read on one host at the end (or, in a dry run, at the start).
    Status,
}

impl Step {
    /// The steps that change something, in order.
    pub const SEQUENCE: [Step; 5] = [
        Step::Stop,
        Step::Prepare,
        Step::Failover,
        Step::Reverse,
        Step::Start,
    ];

    /// Its name (`prepare`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Stop => "stop",
            Step::Prepare => "prepare",
            Step::Failover => "failover",
            Step::Reverse => "reverse",
            Step::Start => "start",
            Step::Status => "status",
        }
    }

    /// True for the steps that run on the primary host.
    pub fn on_primary(self) -> bool {
        matches!(self, Step::Stop | Step::Prepare)
    }
}

/// What became of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It ran in this run.
    Ran,
    /// It was done already (the reason says what shows it).
    Skipped,
    /// A dry run: it would run.
    WouldRun,
}

/// One step of one VM: what ran (or why not) and the state before and after on its host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// The step.
    pub step: Step,
    /// VM name.
    pub vm: String,
    /// VM GUID.
    pub guid: String,
    /// The host it ran (or would run) on.
    pub host: String,
    /// Ran, skipped, or would run.
    pub outcome: StepStatus,
    /// Why it was skipped, or what it would do; `None` when it ran.
    pub reason: Option<String>,
    /// The VM's state on `host` before the step.
    pub before: VmState,
    /// The VM's state on `host` after it (in a dry run, the state expected).
    pub after: VmState,
    /// The method invoked (or that would be); `None` when skipped.
    pub method: Option<String>,
    /// The job it started (an earlier run's job it waited for is in `messages`).
    pub job_id: Option<String>,
    /// Wall time of the step.
    #[serde(serialize_with = "serialize_millis", rename = "duration_ms")]
    pub duration: Duration,
    /// What happened, for humans.
    pub messages: Vec<String>,
}

/// Options of `hvctl failover planned`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlannedOptions {
    /// How to turn the primary VM off when it runs (`None`: a running VM is refused).
    pub stop: Option<StopMode>,
    /// The options of the reverse (as `hvctl replication reverse`).
    pub reverse: ReverseOptions,
}

/// The two hosts of the planned failover.
#[derive(Debug)]
pub struct PlannedPair<'a, W> {
    /// Where the VM runs now (`--primary`).
    pub primary: &'a W,
    /// Where it is to run (`--replica`).
    pub replica: &'a W,
}

impl<W> Clone for PlannedPair<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<W> Copy for PlannedPair<'_, W> {}

/// How one VM's run ended: the steps reported, in order, and the failure that stopped it.
#[derive(Debug, Default)]
pub struct PlannedRun {
    /// The steps (skipped or ran), then the status on both hosts when it finished.
    pub steps: Vec<StepReport>,
    /// The host and the error that stopped the VM, if one did.
    pub failure: Option<(String, Error)>,
}

/// What the run tells its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step starts on this host.
    Begin(Step, &'a str),
    /// The job of the step under way (or followed) progresses.
    Job(&'a JobProgress),
    /// A job an earlier run left running on this host is followed to its end.
    Follow(&'a str, &'a str),
    /// That job ended; the message says how.
    Followed(&'a str),
    /// A step ended (ran or skipped).
    End(&'a StepReport),
}

/// Where a step stands, from the states read on both hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    /// Already done: what shows it.
    Done(String),
    /// Still to do.
    Needed,
}

fn invalid(explanation: String) -> Error {
    Error::InvalidState { explanation }
}

fn who(vm: &Vm, host: &str) -> String {
    format!("{} on {host}", vm.name)
}

/// True when the VM's roles are already swapped: Primary on the replica host, Replica on the
/// primary host. Refuses two different VMs (GUIDs differ) and any other pair of modes.
pub fn switched(p: &Vm, r: &Vm, phost: &str, rhost: &str) -> Result<bool, Error> {
    if !p.guid.eq_ignore_ascii_case(&r.guid) {
        return Err(invalid(format!(
            "{} on {phost} ({}) and {} on {rhost} ({}) are different VMs (their GUIDs differ): a planned \
             failover moves one VM between its primary and its replica host",
            p.name, p.guid, r.name, r.guid
        )));
    }
    match (p.replication_mode, r.replication_mode) {
        (ReplicationMode::Primary, ReplicationMode::Replica) => Ok(false),
        (ReplicationMode::Replica, ReplicationMode::Primary) => Ok(true),
        (pm, rm) => Err(invalid(format!(
            "{} is {} ({}) and {} is {} ({}): a planned failover needs the VM Primary on --primary \
             and Replica on --replica",
            who(p, phost),
            mode_phrase(pm),
            p.ps_replication_state,
            who(r, rhost),
            mode_phrase(rm),
            r.ps_replication_state
        ))),
    }
}

/// Whether `step` is done, from the VM as read on the primary (`p`) and replica (`r`) host;
/// a pair of states no planned failover goes through is an invalid state.
pub fn assess(step: Step, p: &Vm, r: &Vm, phost: &str, rhost: &str) -> Result<Assessment, Error> {
    use Assessment::{Done, Needed};
    let (pw, rw) = (who(p, phost), who(r, rhost));
    if switched(p, r, phost, rhost)? {
        return Ok(match step {
            Step::Start if r.enabled_state != EnabledState::Running => Needed,
            Step::Start => Done(format!("{rw} is already Running")),
            _ => Done(format!(
                "already switched over: {rw} is the primary ({}) and {pw} the replica ({})",
                r.ps_replication_state, p.ps_replication_state
            )),
        });
    }
    let prepared = p.replication_state == ReplicationState::SyncedReplicationComplete;
    let failed_over = matches!(
        r.replication_state,
        ReplicationState::Recovered | ReplicationState::Committed
    );
    if !prepared && p.replication_state != ReplicationState::Replicating {
        return Err(invalid(format!(
            "{pw} is {}: a planned failover starts from a Replicating primary",
            p.ps_replication_state
        )));
    }
    if failed_over && !prepared {
        return Err(invalid(format!(
            "{rw} is already {} but {pw} is {}, not PreparedForFailover: that failover was not a \
             planned one; undo it with `hvctl failover cancel` on {rhost} and run this again, or \
             finish it by hand",
            r.ps_replication_state, p.ps_replication_state
        )));
    }
    if !failed_over && r.replication_state != ReplicationState::Replicating {
        return Err(invalid(format!(
            "{rw} is {}: a planned failover needs a Replicating replica",
            r.ps_replication_state
        )));
    }
    Ok(match step {
        Step::Stop if prepared => Done(format!("{pw} is already {}", p.ps_replication_state)),
        Step::Stop if p.enabled_state == EnabledState::Off => Done(format!("{pw} is already Off")),
        Step::Prepare if prepared => Done(format!("{pw} is already {}", p.ps_replication_state)),
        Step::Failover if failed_over => Done(format!("{rw} is already {}", r.ps_replication_state)),
        _ => Needed,
    })
}

fn set_replication(vm: &mut Vm, mode: ReplicationMode, state: ReplicationState) {
    vm.replication_mode = mode;
    vm.replication_state = state;
    vm.ps_replication_state = PsReplicationState::derive(mode, state);
}

/// The states a step leaves on both hosts (what the dry run expects).
fn predict(step: Step, p: &mut Vm, r: &mut Vm) {
    match step {
        Step::Stop => p.enabled_state = EnabledState::Off,
        Step::Prepare => set_replication(
            p,
            ReplicationMode::Primary,
            ReplicationState::SyncedReplicationComplete,
        ),
        Step::Failover => set_replication(r, ReplicationMode::Replica, ReplicationState::Recovered),
        Step::Reverse => {
            set_replication(p, ReplicationMode::Replica, ReplicationState::Replicating);
            p.enabled_state = EnabledState::Off;
            set_replication(r, ReplicationMode::Primary, ReplicationState::Replicating);
        }
        Step::Start => r.enabled_state = EnabledState::Running,
        Step::Status => {}
    }
}

/// The method a step invokes, as a sentence.
fn describe(step: Step, stop: Option<StopMode>, vm: &str) -> (&'static str, String) {
    match (step, stop) {
        (Step::Stop, Some(StopMode::TurnOff)) => (
            "RequestStateChange",
            format!(
                "invoke Msvm_ComputerSystem.RequestStateChange(RequestedState = 3) on {vm}: the power is cut"
            ),
        ),
        (Step::Stop, _) => (
            "InitiateShutdown",
            format!("invoke Msvm_ShutdownComponent.InitiateShutdown of {vm}, then wait until it is Off"),
        ),
        (Step::Prepare, _) => (
            "RequestReplicationStateChangeEx",
            format!("invoke Msvm_ComputerSystem.RequestReplicationStateChangeEx(RequestedState = 4) on {vm}"),
        ),
        (Step::Failover, _) => (
            "InitiateFailover",
            format!(
                "invoke Msvm_ReplicationService.InitiateFailover(ComputerSystem = {vm}), to the latest point"
            ),
        ),
        (Step::Reverse, _) => (
            "ReverseReplicationRelationship",
            format!("invoke Msvm_ReplicationService.ReverseReplicationRelationship(ComputerSystem = {vm})"),
        ),
        (Step::Start | Step::Status, _) => (
            "RequestStateChange",
            format!("invoke Msvm_ComputerSystem.RequestStateChange(RequestedState = 2) on {vm}"),
        ),
    }
}

/// The refusal of a running primary VM without a way to turn it off (a usage error: the
/// command line has to say how).
fn no_stop(p: &Vm, phost: &str) -> Error {
    Error::Usage(format!(
        "{} is {}: pass --shutdown to shut the guest down or --turn-off to cut the power before the failover",
        who(p, phost),
        p.enabled_state
    ))
}

/// Whether the primary VM can be turned off the way asked.
fn preflight_stop(p: &Vm, phost: &str, stop: Option<StopMode>) -> Result<(), Error> {
    match stop {
        // Shutting down already (an earlier run's): the step waits for it.
        Some(StopMode::Shutdown { .. }) if p.enabled_state == EnabledState::ShuttingDown => Ok(()),
        Some(StopMode::Shutdown { .. }) => preflight_shutdown(p, phost),
        Some(StopMode::TurnOff) => Ok(()),
        None | Some(StopMode::Save) => Err(no_stop(p, phost)),
    }
}

/// The whole sequence from the states read now, without changing anything: each step done or
/// still to do (with the states it is expected to find and leave on its host), checked with the
/// operations' own preflights against the states the steps before it leave. A refusal here is
/// what the run would refuse before changing anything.
pub fn plan_sequence(
    p: &Vm,
    r: &Vm,
    phost: &str,
    rhost: &str,
    stop: Option<StopMode>,
) -> Result<Vec<(Step, Assessment, VmState, VmState)>, Error> {
    let (mut p, mut r) = (p.clone(), r.clone());
    let mut out = Vec::new();
    for step in Step::SEQUENCE {
        let a = assess(step, &p, &r, phost, rhost)?;
        let before = VmState::from(if step.on_primary() { &p } else { &r });
        if a == Assessment::Needed {
            match step {
                Step::Stop => preflight_stop(&p, phost, stop)?,
                Step::Prepare => preflight_prepare(&p, phost)?,
                Step::Failover => preflight_start_failover(&r, rhost)?,
                Step::Reverse => preflight_reverse(&r, rhost)?,
                Step::Start | Step::Status => preflight_start(&r, rhost)?,
            }
            predict(step, &mut p, &mut r);
        }
        let after = VmState::from(if step.on_primary() { &p } else { &r });
        out.push((step, a, before, after));
    }
    Ok(out)
}

/// The unfinished jobs of a VM on one host (`Msvm_ConcreteJob`s linked to it by
/// `Msvm_AffectedJobElement`, <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-affectedjobelement>):
/// what an interrupted run may have left running.
pub async fn pending_jobs(w: &impl Wsman, vm: &Vm) -> Result<Vec<Job>, Error> {
    let found = associated(w, vm, "Msvm_AffectedJobElement", "Msvm_ConcreteJob").await?;
    let mut jobs = Vec::new();
    for i in &found {
        let job = Job::from_instance(i)?;
        if !job.state.is_finished() {
            jobs.push(job);
        }
    }
    Ok(jobs)
}

/// Reads the VM on both hosts by GUID.
async fn observe<W: Wsman>(pair: PlannedPair<'_, W>, guid: &str) -> Result<(Vm, Vm), (String, Error)> {
    let p = find_vm_by_guid(pair.primary, guid)
        .await
        .map_err(|e| (pair.primary.host().to_owned(), e))?;
    let r = find_vm_by_guid(pair.replica, guid)
        .await
        .map_err(|e| (pair.replica.host().to_owned(), e))?;
    Ok((p, r))
}

/// Finds the VM on both hosts by name or GUID ([`switched`] then refuses two VMs whose
/// GUIDs differ).
async fn find_pair<W: Wsman>(pair: PlannedPair<'_, W>, vm: &VmRef) -> Result<(Vm, Vm), (String, Error)> {
    let (ph, rh) = (pair.primary.host(), pair.replica.host());
    let p = find_vm(pair.primary, vm).await.map_err(|e| (ph.to_owned(), e))?;
    let r = find_vm(pair.replica, vm).await.map_err(|e| (rh.to_owned(), e))?;
    Ok((p, r))
}

/// Checks the whole sequence from the VM as read on both hosts ([`plan_sequence`]), the
/// reverse's options included when the reverse is still to do.
async fn preflight<W: Wsman>(
    pair: PlannedPair<'_, W>,
    p: &Vm,
    r: &Vm,
    opts: &PlannedOptions,
) -> Result<(Vec<(Step, Assessment, VmState, VmState)>, Option<String>), (String, Error)> {
    let (ph, rh) = (pair.primary.host(), pair.replica.host());
    let plan = plan_sequence(p, r, ph, rh, opts.stop).map_err(|e| (ph.to_owned(), e))?;
    let mut reverse = None;
    if plan
        .iter()
        .any(|(s, a, _, _)| *s == Step::Reverse && *a == Assessment::Needed)
    {
        let settings = replication_settings(pair.replica, r)
            .await
            .map_err(|e| (rh.to_owned(), e))?;
        let (_, d) = plan_reverse(r, &settings, &opts.reverse).map_err(|e| (rh.to_owned(), e))?;
        reverse = Some(format!(
            "new replica server {}:{} ({})",
            d.recovery_connection_point, d.port, d.authentication
        ));
    }
    Ok((plan, reverse))
}

fn report(step: Step, vm: &Vm, host: &str, status: StepStatus, reason: Option<String>) -> StepReport {
    StepReport {
        step,
        vm: vm.name.clone(),
        guid: vm.guid.clone(),
        host: host.to_owned(),
        outcome: status,
        reason,
        before: VmState::from(vm),
        after: VmState::from(vm),
        method: None,
        job_id: None,
        duration: Duration::ZERO,
        messages: Vec::new(),
    }
}

/// `--dry-run`: the state found on each host, then each step as it would run or be skipped.
/// Nothing is invoked.
pub async fn plan_planned<W: Wsman>(
    pair: PlannedPair<'_, W>,
    vm: &VmRef,
    opts: &PlannedOptions,
) -> PlannedRun {
    let (ph, rh) = (pair.primary.host(), pair.replica.host());
    let fail = |failure| PlannedRun {
        steps: Vec::new(),
        failure: Some(failure),
    };
    let (p, r) = match find_pair(pair, vm).await {
        Ok(x) => x,
        Err(failure) => return fail(failure),
    };
    // A job an earlier run left running leaves a state no step starts from (a replica
    // RecoveryInProgress, say): say so, since the run would follow it first.
    for (w, v) in [(pair.primary, &p), (pair.replica, &r)] {
        match pending_jobs(w, v).await {
            Ok(jobs) if !jobs.is_empty() => {
                let ids: Vec<&str> = jobs.iter().map(|j| j.instance_id.as_str()).collect();
                return fail((
                    w.host().to_owned(),
                    invalid(format!(
                        "{} has a job still running ({}), an earlier run's or another operation's: the \
                         steps after it depend on how it ends; run without --dry-run to follow it and go on, or \
                         wait for it with `hvctl job wait`",
                        who(v, w.host()),
                        ids.join(", ")
                    )),
                ));
            }
            Ok(_) => {}
            Err(e) => return fail((w.host().to_owned(), e)),
        }
    }
    let (plan, reverse) = match preflight(pair, &p, &r, opts).await {
        Ok(x) => x,
        Err(failure) => return fail(failure),
    };
    let mut steps = vec![
        report(Step::Status, &p, ph, StepStatus::Ran, None),
        report(Step::Status, &r, rh, StepStatus::Ran, None),
    ];
    for (step, a, before, after) in plan {
        let host = if step.on_primary() { ph } else { rh };
        let mut s = report(step, &p, host, StepStatus::Skipped, None);
        s.before = before;
        s.after = after;
        match a {
            Assessment::Done(why) => s.reason = Some(why),
            Assessment::Needed => {
                let (method, mut text) = describe(step, opts.stop, &p.name);
                if let (Step::Reverse, Some(d)) = (step, &reverse) {
                    text = format!("{text}: {d}");
                }
                s.outcome = StepStatus::WouldRun;
                s.method = Some(method.to_owned());
                s.reason = Some(text);
            }
        }
        steps.push(s);
    }
    PlannedRun { steps, failure: None }
}

/// Follows the jobs an earlier run left running on the VM on both hosts, so that what they
/// change is seen before anything is decided. Returns what was waited for, as messages.
async fn settle<W: Wsman>(
    pair: PlannedPair<'_, W>,
    p: &Vm,
    r: &Vm,
    wait: &JobWaitOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<String>, (String, Error)> {
    let mut messages = Vec::new();
    for (w, vm) in [(pair.primary, p), (pair.replica, r)] {
        let host = w.host();
        let jobs = pending_jobs(w, vm).await.map_err(|e| (host.to_owned(), e))?;
        for job in jobs {
            let id = &job.instance_id;
            events(Event::Follow(host, id));
            let mut cb = |j: &JobProgress| events(Event::Job(j));
            let message = match wait_job(w, id, wait, &mut cb).await {
                Ok(done) => format!(
                    "followed job {id} on {host}, left running by an earlier run, to its end ({})",
                    done.state
                ),
                Err(Error::JobFailed { state, code, .. }) => {
                    format!(
                        "job {id} on {host}, left running by an earlier run, ended {state} (error {code})"
                    )
                }
                Err(Error::JobDisappeared { .. }) => format!("job {id} on {host} ended and is gone"),
                Err(e) => return Err((host.to_owned(), e)),
            };
            events(Event::Followed(&message));
            messages.push(message);
        }
    }
    Ok(messages)
}

/// A guest shutdown an earlier run asked for (its reply lost) is still under way: waits until
/// the VM is Off and reports that, without asking again. `refused` is the return code of the
/// InitiateShutdown that found it under way, if one was sent.
async fn shutdown_under_way(
    w: &impl Wsman,
    p: &Vm,
    refused: Option<ReturnCode>,
    wait: &JobWaitOptions,
) -> Result<OperationReport, Error> {
    let start = w.now();
    wait_until_off(w, p, wait).await?;
    let after = find_vm_by_guid(w, &p.guid).await?;
    Ok(OperationReport {
        operation: crate::report::Operation::ShutdownVm,
        vm: p.name.clone(),
        guid: p.guid.clone(),
        host: w.host().to_owned(),
        before: VmState::from(p),
        after: VmState::from(&after),
        method: refused.map(|_| "InitiateShutdown".to_owned()),
        return_code: refused,
        job_id: None,
        duration: w.now().saturating_duration_since(start),
        messages: vec![format!(
            "the guest of {} was already shutting down (asked by an earlier run){}: waited until it was Off",
            p.name,
            if refused.is_some() {
                "; the host refused a second InitiateShutdown (32775) and changed nothing"
            } else {
                ""
            }
        )],
        reverse: None,
        test_vm: None,
    })
}

/// Runs one step against the VM as just read; the operation's own report.
async fn run_step<W: Wsman>(
    step: Step,
    pair: PlannedPair<'_, W>,
    p: &Vm,
    r: &Vm,
    opts: &PlannedOptions,
    wait: &JobWaitOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<OperationReport, Error> {
    let mut cb = |j: &JobProgress| events(Event::Job(j));
    let (primary, replica) = (pair.primary, pair.replica);
    match step {
        Step::Stop => match opts.stop {
            Some(StopMode::TurnOff) => stop_vm(primary, p, wait, &mut cb).await,
            // A host that shows the shutdown under way (EnabledState 4): wait for it.
            Some(StopMode::Shutdown { .. }) if p.enabled_state == EnabledState::ShuttingDown => {
                shutdown_under_way(primary, p, None, wait).await
            }
            Some(StopMode::Shutdown { force }) => match shutdown_vm(primary, p, force, wait, &mut cb).await {
                // 32775 for a running guest: a shutdown is already under way (one an earlier
                // run asked for, its reply lost); the host changed nothing: wait for it to end.
                Err(Error::MethodFailed {
                    code: ReturnCode::InvalidState,
                    ..
                }) => shutdown_under_way(primary, p, Some(ReturnCode::InvalidState), wait).await,
                other => other,
            },
            None | Some(StopMode::Save) => Err(no_stop(p, primary.host())),
        },
        Step::Prepare => prepare_failover(primary, p, wait, &mut cb).await,
        Step::Failover => start_failover(replica, r, None, wait, &mut cb).await,
        Step::Reverse => reverse_replication(replica, r, &opts.reverse, wait, &mut cb).await,
        Step::Start | Step::Status => start_vm(replica, r, wait, &mut cb).await,
    }
}

/// The planned failover of one VM from `pair.primary` to `pair.replica`, resumed from where
/// it stands: preflight on both hosts ([`plan_sequence`]); the jobs an earlier run left
/// running followed to their end; then each step of [`Step::SEQUENCE`] in turn, from the VM
/// read again on both hosts, skipped when [`assess`] finds it done, run otherwise; then the
/// status on both hosts. The first failure stops the VM (an unknown outcome included: the next
/// run resolves it by reading the hosts).
pub async fn planned_failover<W: Wsman>(
    pair: PlannedPair<'_, W>,
    vm: &VmRef,
    opts: &PlannedOptions,
    wait: &JobWaitOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
) -> PlannedRun {
    let mut run = PlannedRun::default();
    if let Err(failure) = planned_steps(pair, vm, opts, wait, events, &mut run.steps).await {
        run.failure = Some(failure);
    }
    run
}

async fn planned_steps<W: Wsman>(
    pair: PlannedPair<'_, W>,
    vm: &VmRef,
    opts: &PlannedOptions,
    wait: &JobWaitOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
    steps: &mut Vec<StepReport>,
) -> Result<(), (String, Error)> {
    let (ph, rh) = (pair.primary.host(), pair.replica.host());
    let (p, r) = find_pair(pair, vm).await?;
    // Jobs an earlier run left running come first: until they end, the states they change
    // (a replica RecoveryInProgress, say) are not ones a step starts from.
    let mut earlier = settle(pair, &p, &r, wait, events).await?;
    let guid = p.guid.clone();
    let (mut p, mut r) = if earlier.is_empty() {
        (p, r)
    } else {
        observe(pair, &guid).await?
    };
    preflight(pair, &p, &r, opts).await?;
    // Both hosts as last read: read again after each step that ran (a skipped step changed
    // nothing), so each step is decided from the states its predecessor left.
    for step in Step::SEQUENCE {
        let host = if step.on_primary() { ph } else { rh };
        let on_host = if step.on_primary() { &p } else { &r };
        let s = match assess(step, &p, &r, ph, rh).map_err(|e| (host.to_owned(), e))? {
            Assessment::Done(why) => {
                let mut s = report(step, on_host, host, StepStatus::Skipped, Some(why));
                s.messages = std::mem::take(&mut earlier);
                s
            }
            Assessment::Needed => {
                events(Event::Begin(step, host));
                let op = run_step(step, pair, &p, &r, opts, wait, events)
                    .await
                    .map_err(|e| (host.to_owned(), e))?;
                let mut messages = std::mem::take(&mut earlier);
                messages.extend(op.messages);
                (p, r) = observe(pair, &guid).await?;
                StepReport {
                    step,
                    vm: op.vm,
                    guid: op.guid,
                    host: host.to_owned(),
                    outcome: StepStatus::Ran,
                    reason: None,
                    before: op.before,
                    after: op.after,
                    method: op.method,
                    job_id: op.job_id,
                    duration: op.duration,
                    messages,
                }
            }
        };
        events(Event::End(&s));
        steps.push(s);
    }
    for (vm, host) in [(&p, ph), (&r, rh)] {
        let mut s = report(Step::Status, vm, host, StepStatus::Ran, None);
        s.messages.push(format!(
            "{} is now {} ({}, {})",
            who(vm, host),
            vm.ps_replication_state,
            vm.replication_mode,
            vm.enabled_state
        ));
        steps.push(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReplicationHealth;

    const GUID: &str = "0C2E1DCE-2C55-4C9B-8B47-1A2B3C4D5E6F";
    const SHUTDOWN: Option<StopMode> = Some(StopMode::Shutdown { force: false });

    fn vm(mode: ReplicationMode, state: ReplicationState, power: EnabledState) -> Vm {
        Vm {
            name: "web01".into(),
            guid: GUID.into(),
            enabled_state: power,
            replication_mode: mode,
            replication_state: state,
            ps_replication_state: PsReplicationState::derive(mode, state),
            replication_health: ReplicationHealth::Normal,
            // Replicated once: the replica has a recovery point to fail over to.
            last_replication_time: wsman_soap::CimDateTime::parse_iso8601("2026-12-06T23:00:00Z").ok(),
        }
    }

    /// A VM replicating from hv01 (running) to hv02.
    fn fresh() -> (Vm, Vm) {
        (
            vm(
                ReplicationMode::Primary,
                ReplicationState::Replicating,
                EnabledState::Running,
            ),
            vm(
                ReplicationMode::Replica,
                ReplicationState::Replicating,
                EnabledState::Off,
            ),
        )
    }

    fn assess_all(p: &Vm, r: &Vm) -> Vec<bool> {
        Step::SEQUENCE
            .iter()
            .map(|s| matches!(assess(*s, p, r, "hv01", "hv02").unwrap(), Assessment::Done(_)))
            .collect()
    }

    #[test]
    fn from_a_replicating_pair_every_step_is_needed_and_the_plan_ends_switched() {
        let (p, r) = fresh();
        let plan = plan_sequence(&p, &r, "hv01", "hv02", SHUTDOWN).unwrap();
        let steps: Vec<Step> = plan.iter().map(|(s, ..)| *s).collect();
        assert_eq!(steps, Step::SEQUENCE);
        assert!(plan.iter().all(|(_, a, ..)| *a == Assessment::Needed));
        // The stop leaves the primary Off; the start leaves the replica host running the VM.
        assert_eq!(plan[0].2.enabled_state, EnabledState::Running);
        assert_eq!(plan[0].3.enabled_state, EnabledState::Off);
        assert_eq!(
            plan[1].3.ps_replication_state,
            PsReplicationState::PreparedForFailover
        );
        assert_eq!(plan[3].3.replication_mode, ReplicationMode::Primary);
        assert_eq!(plan[4].3.enabled_state, EnabledState::Running);
    }

    /// The resumability property: after the first k steps, as the hosts show them, exactly the
    /// first k are done, whichever k.
    #[test]
    fn after_any_number_of_steps_exactly_those_are_assessed_done() {
        for k in 0..=Step::SEQUENCE.len() {
            let (mut p, mut r) = fresh();
            for s in &Step::SEQUENCE[..k] {
                predict(*s, &mut p, &mut r);
            }
            let done = assess_all(&p, &r);
            let expected: Vec<bool> = (0..Step::SEQUENCE.len()).map(|i| i < k).collect();
            assert_eq!(done, expected, "after {k} steps");
            // And the plan from there still passes every preflight.
            plan_sequence(&p, &r, "hv01", "hv02", SHUTDOWN).unwrap();
        }
    }

    #[test]
    fn a_running_vm_needs_a_way_to_stop_and_an_off_one_does_not() {
        let (p, r) = fresh();
        for stop in [None, Some(StopMode::Save)] {
            let e = plan_sequence(&p, &r, "hv01", "hv02", stop).unwrap_err();
            assert!(
                matches!(e, Error::Usage(ref m) if m.contains("--shutdown")),
                "{e}"
            );
        }
        plan_sequence(&p, &r, "hv01", "hv02", Some(StopMode::TurnOff)).unwrap();
        let off = vm(
            ReplicationMode::Primary,
            ReplicationState::Replicating,
            EnabledState::Off,
        );
        let plan = plan_sequence(&off, &r, "hv01", "hv02", None).unwrap();
        assert!(matches!(&plan[0].1, Assessment::Done(why) if why.contains("already Off")));
    }

    #[test]
    fn a_guest_already_shutting_down_is_waited_for_not_refused() {
        let (_, r) = fresh();
        let p = vm(
            ReplicationMode::Primary,
            ReplicationState::Replicating,
            EnabledState::ShuttingDown,
        );
        let plan = plan_sequence(&p, &r, "hv01", "hv02", SHUTDOWN).unwrap();
        assert_eq!(plan[0].1, Assessment::Needed);
    }

    #[test]
    fn pairs_no_planned_failover_goes_through_are_refused_and_say_why() {
        let (p, r) = fresh();
        let mut other = r.clone();
        other.guid = "11111111-2222-3333-4444-555555555555".into();
        let e = assess(Step::Stop, &p, &other, "hv01", "hv02").unwrap_err();
        assert!(e.to_string().contains("GUIDs differ"), "{e}");

        let e = assess(Step::Stop, &p, &p, "hv01", "hv02").unwrap_err();
        assert!(e.to_string().contains("Replica on --replica"), "{e}");

        // Failed over without a prepare: an unplanned failover, not this command's to finish.
        let r_failed = vm(
            ReplicationMode::Replica,
            ReplicationState::Recovered,
            EnabledState::Off,
        );
        let p_off = vm(
            ReplicationMode::Primary,
            ReplicationState::Replicating,
            EnabledState::Off,
        );
        let e = assess(Step::Failover, &p_off, &r_failed, "hv01", "hv02").unwrap_err();
        assert!(e.to_string().contains("hvctl failover cancel"), "{e}");

        let suspended = vm(
            ReplicationMode::Primary,
            ReplicationState::Suspended,
            EnabledState::Off,
        );
        let e = plan_sequence(&suspended, &r, "hv01", "hv02", SHUTDOWN).unwrap_err();
        assert!(e.to_string().contains("starts from a Replicating primary"), "{e}");
    }

    #[test]
    fn switched_over_but_off_leaves_only_the_start() {
        let p = vm(
            ReplicationMode::Replica,
            ReplicationState::Replicating,
            EnabledState::Off,
        );
        let r = vm(
            ReplicationMode::Primary,
            ReplicationState::Replicating,
            EnabledState::Off,
        );
        assert_eq!(assess_all(&p, &r), [true, true, true, true, false]);
        let running = vm(
            ReplicationMode::Primary,
            ReplicationState::Replicating,
            EnabledState::Running,
        );
        assert_eq!(assess_all(&p, &running), [true; 5]);
    }
}
