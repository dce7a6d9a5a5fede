//! The network commands: each runs over every host (and VM), concurrently with a per-host
//! limit, and turns each outcome into an output [`Record`].

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures_util::future::join_all;
use hyperv::{
    HealthOp, JobWaitOptions, OperationReport, PlanReport, Planned, ReturnCode, StopMode, Vm, VmRef,
};
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use wsman_soap::{
    wmi_all_classes_uri, wmi_resource_uri, AssociationFilter, AssociationKind, Enumerate, EnumerationMode,
    Epr, Filter, Item, Limits, MethodOutput, Scalar, SelectorSet, Value,
};

use crate::cli::{Command, FailoverCmd, JobCmd, ReplicationCmd, VmCmd, WsmanCmd};
use crate::config::Resolved;
use crate::exit::{Classified, ExitClass, UsageError};
use crate::interrupt::{Inflight, Slot};
use crate::output::{epr_json, human_time, instance_human, instance_json, Record, Table};
use crate::progress::ProgressSink;
use crate::transport::{build_client, HostSession};

/// Sessions to every host, with a concurrency limit each.
pub struct Hosts {
    pub(crate) sessions: Vec<(HostSession, Arc<Semaphore>)>,
    pub(crate) wait: JobWaitOptions,
    progress: ProgressSink,
    /// What runs, for the Ctrl-C handler.
    pub inflight: Inflight,
}

/// One operation's label (`web01 on hv02`) and its place in [`Hosts::inflight`].
pub struct Track {
    pub(crate) label: String,
    pub(crate) slot: Slot,
}

impl Hosts {
    /// Builds one client per endpoint (no network traffic yet).
    pub fn connect(r: &Resolved) -> anyhow::Result<Hosts> {
        let mut sessions = Vec::new();
        for e in &r.endpoints {
            sessions.push((build_client(r, e)?, Arc::new(Semaphore::new(r.per_host))));
        }
        Ok(Hosts {
            sessions,
            wait: JobWaitOptions {
                timeout: r.job_timeout,
                ..JobWaitOptions::default()
            },
            progress: ProgressSink::new(r.progress_bars, r.quiet),
            inflight: Inflight::default(),
        })
    }

    /// The progress callback of one operation: shows its progress and tells
    /// [`Hosts::inflight`] the job id as soon as the host names it.
    pub(crate) fn callback(&self, track: Track) -> impl FnMut(&hyperv::JobProgress) + Send + 'static {
        let mut show = self.progress.callback(track.label);
        let inflight = self.inflight.clone();
        move |p: &hyperv::JobProgress| {
            inflight.job(track.slot, &p.job_id);
            show(p);
        }
    }

    /// Removes the progress bars (the run was interrupted).
    pub fn clear_progress(&self) {
        self.progress.clear();
    }

    fn multi(&self) -> bool {
        self.sessions.len() > 1
    }
}

/// What a command printed: records, and a table for human output.
pub struct Outcome {
    /// The command name (`replication reverse`).
    pub command: String,
    /// One record per item.
    pub records: Vec<Record>,
    /// A table to print above the record lines (human output).
    pub table: Option<Table>,
}

/// Runs `f` for every (host, VM) pair, at most `per_host` at a time per host.
///
/// First every host looks up all the VMs at once ([`hyperv::find_vms`]: one query per host,
/// whatever the number of names), all hosts concurrently; then `f` runs for each VM a host has,
/// with the VM as found. So a command costs O(hosts) lookups, not O(hosts x VMs), and every name
/// is resolved on every host before anything changes.
pub(crate) async fn per_vm<F, Fut>(
    hosts: &Hosts,
    command: &str,
    vms: &[String],
    resolve: Resolve,
    f: F,
) -> Vec<Record>
where
    F: Fn(HostSession, Vm, Track) -> Fut,
    Fut: Future<Output = anyhow::Result<(Json, String)>>,
{
    let refs: Vec<VmRef> = vms.iter().map(|v| VmRef::parse(v)).collect();
    let lookups = join_all(hosts.sessions.iter().map(|(session, limit)| {
        let refs = &refs;
        async move {
            let _permit = limit.acquire().await;
            let start = Instant::now();
            (hyperv::find_vms(session, refs).await, millis(start))
        }
    }))
    .await;
    // A name no host has is compared with the host's names ("did you mean ...?"): one
    // unfiltered listing per host that reported such a name not found, none when every name
    // was found somewhere.
    let found_somewhere = |i: usize| lookups.iter().any(|(f, _)| matches!(f, Ok(v) if v[i].is_ok()));
    let missing: Vec<bool> = (0..vms.len()).map(|i| !found_somewhere(i)).collect();
    let listings = join_all(
        hosts
            .sessions
            .iter()
            .zip(&lookups)
            .map(|((session, limit), (found, _))| {
                let missing = &missing;
                async move {
                    if !(0..missing.len()).any(|i| missing[i] && not_found(found, i).is_some()) {
                        return Vec::new();
                    }
                    let _permit = limit.acquire().await;
                    hyperv::list_vms(session)
                        .await
                        .map(|vms| vms.into_iter().map(|v| v.name).collect())
                        .unwrap_or_default()
                }
            }),
    )
    .await;
    let known: Vec<&str> = listings.iter().flatten().map(String::as_str).collect();
    if resolve == Resolve::AllFirst {
        if let Some(refused) = unresolved(hosts, command, vms, &lookups, &known) {
            return finish_records(refused, hosts, vms);
        }
    }
    let mut futs = Vec::new();
    let mut records = Vec::new();
    // Names given twice for one VM (its name and its GUID) run once, under the first; the
    // other name counts as found (a "not found" for it on another host is dropped).
    let mut merged = std::collections::HashSet::new();
    for ((session, limit), (found, lookup_ms)) in hosts.sessions.iter().zip(lookups) {
        let mut started = std::collections::HashSet::new();
        let host = hyperv::Wsman::host(session).to_owned();
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                let e = anyhow::Error::new(e);
                for vm in vms {
                    let mut rec = Record::failed(command, Some(&host), Some(vm), &e);
                    rec.elapsed_ms = lookup_ms;
                    hosts.inflight.record(&rec);
                    records.push(rec);
                }
                continue;
            }
        };
        for (vm, found) in vms.iter().zip(found) {
            let found = match found {
                Ok(v) => v,
                Err(e) => {
                    let rec = match e {
                        e @ hyperv::Error::NotFound { .. } => {
                            not_found_record(command, &host, vm, &e, lookup_ms, &known, "")
                        }
                        e => {
                            let mut rec =
                                Record::failed(command, Some(&host), Some(vm), &anyhow::Error::new(e));
                            rec.elapsed_ms = lookup_ms;
                            rec
                        }
                    };
                    hosts.inflight.record(&rec);
                    records.push(rec);
                    continue;
                }
            };
            if !started.insert(found.guid.to_ascii_uppercase()) {
                merged.insert(vm.clone());
                continue;
            }
            let limit = limit.clone();
            let host = host.clone();
            let label = format!("{vm} on {host}");
            let inflight = hosts.inflight.clone();
            let slot = inflight.register(command, &host, Some(vm), None);
            let fut = f(session.clone(), found, Track { label, slot });
            futs.push(async move {
                let _permit = limit.acquire().await;
                inflight.start(slot);
                let start = Instant::now();
                let mut rec = match fut.await {
                    Ok((data, human)) => Record::ok(command, Some(&host), Some(vm), data, human),
                    Err(e) => Record::failed(command, Some(&host), Some(vm), &e),
                };
                rec.elapsed_ms = lookup_ms + millis(start);
                inflight.finish(slot, &rec);
                rec
            });
        }
    }
    records.extend(join_all(futs).await);
    records
        .retain(|r| !(r.class() == ExitClass::NotFound && r.vm.as_ref().is_some_and(|v| merged.contains(v))));
    finish_records(records, hosts, vms)
}

/// The records of a command in the order named; with several hosts, a VM's "not found" said
/// once for all the hosts searched ([`drop_not_found_elsewhere`]).
fn finish_records(records: Vec<Record>, hosts: &Hosts, vms: &[String]) -> Vec<Record> {
    let records = order_like(records, hosts, vms);
    if hosts.multi() {
        drop_not_found_elsewhere(records)
    } else {
        records
    }
}

/// The failed record of a VM `host` does not have: the error, `suffix`, then the close names
/// among `known` ("did you mean ...?").
fn not_found_record(
    command: &str,
    host: &str,
    vm: &str,
    e: &hyperv::Error,
    lookup_ms: u64,
    known: &[&str],
    suffix: &str,
) -> Record {
    let hint = crate::suggest::did_you_mean(vm, known.iter().copied(), '\'');
    let e = anyhow::Error::new(Classified::new(ExitClass::NotFound, format!("{e}{suffix}{hint}")));
    let mut rec = Record::failed(command, Some(host), Some(vm), &e);
    rec.elapsed_ms = lookup_ms;
    rec
}

/// Whether [`per_vm`] acts on the VMs found even when some name is found on no host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// Each VM on its own (reads: `replication status`).
    Each,
    /// Every name must be found on some host before anything runs (state-changing commands).
    AllFirst,
}

/// The lookups of every host, each the VMs found (or the lookup's failure) and its time.
type Lookups = [(Result<Vec<Result<Vm, hyperv::Error>>, hyperv::Error>, u64)];

/// For a state-changing command: when some name is found on no host (every host answered
/// not found), its not-found record from each host (said once for all of them by
/// [`finish_records`]) and nothing run; `None` when every name was found somewhere (or a host
/// could not be asked).
fn unresolved(
    hosts: &Hosts,
    command: &str,
    vms: &[String],
    lookups: &Lookups,
    known: &[&str],
) -> Option<Vec<Record>> {
    let mut records = Vec::new();
    for (i, vm) in vms.iter().enumerate() {
        if !lookups.iter().all(|(found, _)| not_found(found, i).is_some()) {
            continue;
        }
        for ((session, _), (found, ms)) in hosts.sessions.iter().zip(lookups) {
            if let Some(e) = not_found(found, i) {
                let host = hyperv::Wsman::host(session);
                let suffix = ": nothing was changed on any host";
                records.push(not_found_record(command, host, vm, e, *ms, known, suffix));
            }
        }
    }
    (!records.is_empty()).then_some(records)
}

/// The not-found error one host's lookup gave for the `i`-th name, if that is what it gave.
fn not_found(
    found: &Result<Vec<Result<Vm, hyperv::Error>>, hyperv::Error>,
    i: usize,
) -> Option<&hyperv::Error> {
    match found {
        Ok(f) => f[i]
            .as_ref()
            .err()
            .filter(|e| e.class() == hyperv::ErrorClass::NotFound),
        Err(_) => None,
    }
}

/// Records in host order, then the order the VMs were named (the order of the command line).
fn order_like(mut records: Vec<Record>, hosts: &Hosts, vms: &[String]) -> Vec<Record> {
    let host_rank = |r: &Record| {
        hosts
            .sessions
            .iter()
            .position(|(s, _)| Some(hyperv::Wsman::host(s)) == r.host.as_deref())
    };
    let vm_rank = |r: &Record| vms.iter().position(|v| Some(v) == r.vm.as_ref());
    records.sort_by_key(|r| (host_rank(r), vm_rank(r)));
    records
}

/// With several hosts, a VM (or job) is looked for on each: "not found" on one host is dropped
/// when another host has it. Not found everywhere stays not found, said once for all the hosts
/// searched ("on any of A, B, C").
fn drop_not_found_elsewhere(records: Vec<Record>) -> Vec<Record> {
    let found: std::collections::HashSet<Option<String>> = records
        .iter()
        .filter(|r| r.class() != ExitClass::NotFound)
        .map(|r| r.vm.clone())
        .collect();
    let mut searched: std::collections::HashMap<Option<String>, Vec<String>> = Default::default();
    for r in records.iter().filter(|r| r.class() == ExitClass::NotFound) {
        searched.entry(r.vm.clone()).or_default().extend(r.host.clone());
    }
    let mut seen_missing = std::collections::HashSet::new();
    let mut out = Vec::new();
    for mut r in records {
        if r.class() == ExitClass::NotFound {
            if found.contains(&r.vm) || !seen_missing.insert(r.vm.clone()) {
                continue;
            }
            let all = searched.get(&r.vm).map(Vec::as_slice).unwrap_or_default();
            if let (Some(e), Some(h), true) = (r.error.as_mut(), r.host.as_deref(), all.len() > 1) {
                e.message =
                    e.message
                        .replacen(&format!(" on {h}"), &format!(" on any of {}", all.join(", ")), 1);
            }
        }
        out.push(r);
    }
    out
}

pub(crate) fn millis(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs a network command.
pub async fn run(hosts: &Hosts, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Replication(ReplicationCmd::Status { vms }) => status(hosts, &vms).await,
        Command::Replication(ReplicationCmd::Measure { vms }) => crate::health::measure(hosts, &vms).await,
        Command::Replication(ReplicationCmd::RecoveryPoints { vms }) => {
            crate::drill::recovery_points(hosts, &vms).await
        }
        Command::Replication(ReplicationCmd::Suspend { vms, dry }) => {
            crate::health::control(hosts, HealthOp::Suspend, &vms, dry.dry_run).await
        }
        Command::Replication(ReplicationCmd::Resume { vms, dry }) => {
            crate::health::control(hosts, HealthOp::Resume, &vms, dry.dry_run).await
        }
        Command::Replication(ReplicationCmd::Resync { vms, dry }) => {
            crate::health::control(hosts, HealthOp::Resync, &vms, dry.dry_run).await
        }
        Command::Replication(ReplicationCmd::Reverse(a)) => {
            let opts = a.reverse.options();
            const C: &str = "replication reverse";
            if a.dry_run {
                return dry_run(hosts, C, &a.vms, Planned::Reverse(&opts)).await;
            }
            operation(hosts, C, &a.vms, move |s, vm, label| {
                let opts = opts.clone();
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::reverse_replication(&s, &vm, &opts, &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Prepare { vms, dry }) => {
            const C: &str = "failover prepare";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::Prepare).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::prepare_failover(&s, &vm, &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Start {
            vms,
            recovery_point,
            dry,
        }) => {
            const C: &str = "failover start";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::StartFailover(recovery_point.as_deref())).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let rp = recovery_point.clone();
                let mut cb = hosts.callback(label);
                async move { hyperv::start_failover(&s, &vm, rp.as_deref(), &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Test {
            vms,
            recovery_point,
            dry,
        }) => {
            const C: &str = "failover test";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::TestFailover(recovery_point.as_deref())).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let rp = recovery_point.clone();
                let mut cb = hosts.callback(label);
                async move { hyperv::test_failover(&s, &vm, rp.as_deref(), &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::TestStop { vms, dry }) => {
            const C: &str = "failover test-stop";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::StopTestFailover).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::stop_test_failover(&s, &vm, &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Commit { vms, dry, .. }) => {
            const C: &str = "failover commit";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::Commit).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::commit_failover(&s, &vm, &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Cancel { vms, dry }) => {
            const C: &str = "failover cancel";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::Cancel).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::cancel_failover(&s, &vm, &wait, &mut cb).await }
            })
            .await
        }
        Command::Failover(FailoverCmd::Planned(a)) => crate::planned::run(hosts, a).await,
        Command::Vm(VmCmd::Start { vms, dry }) => {
            const C: &str = "vm start";
            if dry.dry_run {
                return dry_run(hosts, C, &vms, Planned::StartVm).await;
            }
            operation(hosts, C, &vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move { hyperv::start_vm(&s, &vm, &wait, &mut cb).await }
            })
            .await
        }
        Command::Vm(VmCmd::Stop(a)) => {
            const C: &str = "vm stop";
            let mode = a.mode();
            if a.dry.dry_run {
                return dry_run(hosts, C, &a.vms, Planned::StopVm(mode)).await;
            }
            operation(hosts, C, &a.vms, |s, vm, label| {
                let wait = hosts.wait;
                let mut cb = hosts.callback(label);
                async move {
                    match mode {
                        StopMode::Shutdown { force } => {
                            hyperv::shutdown_vm(&s, &vm, force, &wait, &mut cb).await
                        }
                        StopMode::TurnOff => hyperv::stop_vm(&s, &vm, &wait, &mut cb).await,
                        StopMode::Save => hyperv::save_vm(&s, &vm, &wait, &mut cb).await,
                    }
                }
            })
            .await
        }
        Command::Vm(VmCmd::List) => vm_list(hosts).await,
        Command::Job(JobCmd::Wait { job_id }) => job(hosts, "job wait", &job_id, true).await,
        Command::Job(JobCmd::Show { job_id }) => job(hosts, "job show", &job_id, false).await,
        Command::Wsman(cmd) => wsman(hosts, cmd).await,
        Command::Completions { .. }
        | Command::Man { .. }
        | Command::Complete { .. }
        | Command::Demo
        | Command::Sim(_) => Err(anyhow::Error::new(UsageError::new("not a network command"))),
    }
}

/// A workflow operation per VM: the report as data, its messages as the human text.
pub(crate) async fn operation<F, Fut>(
    hosts: &Hosts,
    command: &str,
    vms: &[String],
    f: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(HostSession, Vm, Track) -> Fut,
    Fut: Future<Output = Result<OperationReport, hyperv::Error>>,
{
    let records = per_vm(hosts, command, vms, Resolve::AllFirst, |s, vm, label| {
        let fut = f(s, vm, label);
        async move {
            let report = fut.await.map_err(with_guidance)?;
            let human = operation_human(&report);
            Ok((serde_json::to_value(&report)?, human))
        }
    })
    .await;
    Ok(Outcome {
        command: command.to_owned(),
        records,
        table: None,
    })
}

/// `--dry-run`: per VM and host, what the command would do, from the states read now (the
/// preflight runs, nothing is invoked).
pub(crate) async fn dry_run(
    hosts: &Hosts,
    command: &str,
    vms: &[String],
    planned: Planned<'_>,
) -> anyhow::Result<Outcome> {
    let records = per_vm(hosts, command, vms, Resolve::AllFirst, |s, vm, _| async move {
        let plan = hyperv::plan(&s, &vm, planned).await?;
        let human = plan_human(&plan);
        Ok((serde_json::to_value(&plan)?, human))
    })
    .await;
    Ok(Outcome {
        command: command.to_owned(),
        records,
        table: None,
    })
}

/// The human lines of a dry run: the state read, then each step.
pub fn plan_human(p: &PlanReport) -> String {
    let head = format!(
        "{} on {} ({}, {} {}): ",
        p.vm, p.host, p.state.enabled_state, p.state.replication_mode, p.state.ps_replication_state
    );
    if p.steps.is_empty() {
        return format!("{head}nothing to do");
    }
    let mut s = format!("{head}{} would", p.operation.verb());
    for step in &p.steps {
        s.push_str("\n  ");
        s.push_str(step);
    }
    s
}

/// What asks for confirmation: only what cannot be undone (`failover commit` deletes the other
/// recovery points, `vm stop --turn-off` cuts the power). The question, or `None`.
pub fn needs_confirmation(command: &Command) -> Option<String> {
    let list = |vms: &[String]| vms.join(", ");
    match command {
        Command::Failover(FailoverCmd::Commit { vms, dry, yes }) if !dry.dry_run && !yes.yes => {
            Some(format!(
                "commit the failover of {}? this deletes their other recovery points and cannot be undone",
                list(vms)
            ))
        }
        Command::Vm(VmCmd::Stop(a)) if a.turn_off && !a.dry.dry_run && !a.yes.yes => Some(format!(
            "cut the power of {}? the guests are not shut down and unsaved data is lost",
            list(&a.vms)
        )),
        _ => None,
    }
}

/// Shows a question and reads the answer (on the terminal).
pub type Ask<'a> = &'a mut dyn FnMut(&str) -> std::io::Result<String>;

/// Asks before what cannot be undone ([`needs_confirmation`]): `ask` shows the question on the
/// terminal and reads the answer (`None` without a terminal: refused, naming `--yes`). Only
/// `y` or `yes` goes ahead; anything else changes nothing. Both refusals are usage errors.
pub fn confirm(command: &Command, ask: Option<Ask<'_>>) -> anyhow::Result<()> {
    let Some(question) = needs_confirmation(command) else {
        return Ok(());
    };
    let Some(ask) = ask else {
        return Err(anyhow::Error::new(UsageError::new(format!(
            "not asking without a terminal: {} needs confirmation (it cannot be undone); pass --yes to go ahead",
            command_verb(command)
        ))));
    };
    let answer = ask(&format!("{question} [y/N] ")).context("reading the answer")?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(anyhow::Error::new(UsageError::new(format!(
            "{} not confirmed: nothing was changed",
            command_verb(command)
        )))),
    }
}

fn command_verb(command: &Command) -> &'static str {
    match command {
        Command::Failover(FailoverCmd::Commit { .. }) => "failover commit",
        _ => "vm stop --turn-off",
    }
}

/// Adds what to do next to an "outcome unknown" error (the domain names the status command).
fn with_guidance(e: hyperv::Error) -> anyhow::Error {
    let extra = match &e {
        hyperv::Error::OutcomeUnknown { host, job_id: None, .. } => Some(format!(
            "if the host started a job, list recent jobs with `hvctl wsman enumerate Msvm_ConcreteJob --host {}` \
             and follow it with `hvctl job wait JOB-ID --host {}`; do not simply re-run the command",
            hyperv::error::shell_quote(host),
            hyperv::error::shell_quote(host)
        )),
        hyperv::Error::OutcomeUnknown { .. } => Some("do not simply re-run the command".to_owned()),
        _ => None,
    };
    match extra {
        Some(x) => {
            let class = crate::errors::class_of_hyperv(&e);
            anyhow::Error::new(Classified::new(class, format!("{e}; {x}")))
        }
        None => anyhow::Error::new(e),
    }
}

/// The human lines of an operation report.
pub fn operation_human(r: &OperationReport) -> String {
    let mut s = format!(
        "{} on {}: {} done in {:.1}s",
        r.vm,
        r.host,
        r.operation.verb(),
        r.duration.as_secs_f64()
    );
    if let Some(j) = &r.job_id {
        s.push_str(&format!(" (job {j})"));
    }
    for m in &r.messages {
        s.push_str("\n  ");
        s.push_str(m);
    }
    s
}

async fn status(hosts: &Hosts, vms: &[String]) -> anyhow::Result<Outcome> {
    let records = per_vm(
        hosts,
        "replication status",
        vms,
        Resolve::Each,
        |s, vm, _| async move {
            let report = hyperv::replication_status(&s, &vm).await?;
            Ok((serde_json::to_value(&report)?, String::new()))
        },
    )
    .await;
    let mut table = Table::new(&[
        "HOST",
        "VM",
        "MODE",
        "STATE",
        "HEALTH",
        "POWER",
        "LAST REPLICATION",
    ])
    .wide_columns(&[
        "PRIMARY",
        "REPLICA",
        "GUID",
        "AUTH",
        "PORT",
        "INTERVAL",
        "LAST APPLY",
    ])
    .free_text(&["HOST", "VM"]);
    for r in &records {
        if let Ok(rep) = serde_json::from_value::<Json>(r.data.clone()) {
            if r.ok {
                table.row(status_row(&rep));
            }
        }
    }
    Ok(Outcome {
        command: "replication status".into(),
        records,
        table: Some(table),
    })
}

/// A JSON value as a table cell: `-` for null, a string as it is.
pub(crate) fn cell(v: &Json) -> String {
    match v {
        Json::Null => "-".to_owned(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_row(rep: &Json) -> Vec<String> {
    let s = cell;
    let vm = &rep["vm"];
    vec![
        s(&rep["host"]),
        s(&vm["name"]),
        s(&vm["replication_mode"]),
        s(&vm["ps_replication_state"]),
        s(&vm["replication_health"]),
        s(&vm["enabled_state"]),
        human_time(&s(&vm["last_replication_time"])),
        s(&rep["settings"]["primary_connection_point"]),
        s(&rep["settings"]["recovery_connection_point"]),
        s(&vm["guid"]),
        s(&rep["settings"]["authentication"]),
        s(&rep["settings"]["recovery_server_port"]),
        s(&rep["settings"]["replication_interval_seconds"]),
        human_time(&s(&rep["relationship"]["last_apply_time"])),
    ]
}

async fn vm_list(hosts: &Hosts) -> anyhow::Result<Outcome> {
    let futs = hosts.sessions.iter().map(|(s, limit)| async move {
        let _permit = limit.acquire().await;
        let start = Instant::now();
        let host = hyperv::Wsman::host(s).to_owned();
        match hyperv::list_vms(s).await {
            Ok(vms) => vms
                .iter()
                .map(|vm: &Vm| {
                    let data = serde_json::to_value(vm).unwrap_or(Json::Null);
                    let mut r = Record::ok("vm list", Some(&host), Some(&vm.name), data, String::new());
                    r.elapsed_ms = millis(start);
                    r
                })
                .collect::<Vec<_>>(),
            Err(e) => vec![Record::failed(
                "vm list",
                Some(&host),
                None,
                &anyhow::Error::new(e),
            )],
        }
    });
    let records: Vec<Record> = join_all(futs).await.into_iter().flatten().collect();
    let mut table = Table::new(&["HOST", "VM", "GUID", "POWER", "MODE", "STATE", "HEALTH"])
        .wide_columns(&["LAST REPLICATION"])
        .free_text(&["HOST", "VM", "GUID"]);
    for r in records.iter().filter(|r| r.ok) {
        let d = &r.data;
        let s = cell;
        table.row(vec![
            r.host.clone().unwrap_or_default(),
            s(&d["name"]),
            s(&d["guid"]),
            s(&d["enabled_state"]),
            s(&d["replication_mode"]),
            s(&d["ps_replication_state"]),
            s(&d["replication_health"]),
            human_time(&s(&d["last_replication_time"])),
        ]);
    }
    Ok(Outcome {
        command: "vm list".into(),
        records,
        table: Some(table),
    })
}

async fn job(hosts: &Hosts, command: &str, job_id: &str, wait: bool) -> anyhow::Result<Outcome> {
    let futs = hosts.sessions.iter().map(|(s, _)| async move {
        let start = Instant::now();
        let host = hyperv::Wsman::host(s).to_owned();
        let slot = hosts.inflight.register(command, &host, None, Some(job_id));
        hosts.inflight.start(slot);
        let res: anyhow::Result<(Json, String)> = async {
            if wait {
                let mut cb = hosts.callback(Track {
                    label: format!("job on {host}"),
                    slot,
                });
                let job = hyperv::wait_job(s, job_id, &hosts.wait, &mut cb).await?;
                let human = format!(
                    "job {} on {host}: {} ({}%){}",
                    job.instance_id,
                    job.state,
                    job.percent_complete.unwrap_or(0),
                    job.job_type_name.map(|n| format!(", {n}")).unwrap_or_default()
                );
                Ok((serde_json::to_value(&job)?, human))
            } else {
                let rep = hyperv::show_job(s, job_id).await?;
                let j = &rep.job;
                let mut human = format!(
                    "job {} on {host}: {} ({}%)",
                    j.instance_id,
                    j.state,
                    j.percent_complete.unwrap_or(0)
                );
                if let Some(n) = j.job_type_name {
                    human.push_str(&format!("\n  type: {n}"));
                }
                if let Some(c) = &j.caption {
                    human.push_str(&format!("\n  caption: {c}"));
                }
                if let Some(code) = j.error_code.filter(|c| *c != 0) {
                    human.push_str(&format!(
                        "\n  error {code}: {}",
                        j.error_description.as_deref().unwrap_or("")
                    ));
                }
                for e in &rep.errors {
                    human.push_str(&format!("\n  {}", e.message.as_deref().unwrap_or("(no message)")));
                }
                Ok((serde_json::to_value(&rep)?, human))
            }
        }
        .await;
        let mut r = match res {
            Ok((data, human)) => Record::ok(command, Some(&host), None, data, human),
            Err(e) => Record::failed(command, Some(&host), None, &e),
        };
        r.elapsed_ms = millis(start);
        hosts.inflight.finish(slot, &r);
        r
    });
    let records = join_all(futs).await;
    let records = if hosts.multi() {
        drop_not_found_elsewhere(records)
    } else {
        records
    };
    Ok(Outcome {
        command: command.to_owned(),
        records,
        table: None,
    })
}

/// The resource URI of a class argument: a full URI as is, else the WMI URI in `namespace`.
pub fn resource_uri(class: &str, namespace: &str) -> String {
    if class.contains("://") {
        class.to_owned()
    } else if class == "*" {
        wmi_all_classes_uri(namespace)
    } else {
        wmi_resource_uri(namespace, class)
    }
}

/// Parses `Class?Key=Value&Key=Value` into an EPR in `namespace`.
pub fn parse_ref(s: &str, namespace: &str) -> Result<Epr, UsageError> {
    let (class, query) = s.split_once('?').unwrap_or((s, ""));
    if class.trim().is_empty() {
        return Err(UsageError::new(format!(
            "reference `{s}` has no class (expected Class?Key=Value&...)"
        )));
    }
    let mut sel = SelectorSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) =
            crate::cli::parse_kv(pair).map_err(|e| UsageError::new(format!("reference `{s}`: {e}")))?;
        sel.push(k, v);
    }
    Ok(Epr::new(resource_uri(class.trim(), namespace), sel))
}

/// Builds the parameter list of `wsman invoke` (in the order given: scalars, refs, instances).
pub fn invoke_params(
    params: &[(String, String)],
    refs: &[(String, String)],
    instances: &[(String, String)],
    namespace: &str,
    read_file: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
) -> Result<Vec<(String, Value)>, UsageError> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in params {
        let existing = out.iter_mut().find(|(n, _)| n == k);
        match (existing, v.is_empty()) {
            (None, true) => out.push((k.clone(), Value::Null)),
            (None, false) => out.push((k.clone(), Value::Scalar(Scalar::String(v.clone())))),
            (Some((_, slot)), _) => {
                let prev = std::mem::replace(slot, Value::Null);
                *slot = match prev {
                    Value::Scalar(s) => Value::Array(vec![s, Scalar::String(v.clone())]),
                    Value::Array(mut a) => {
                        a.push(Scalar::String(v.clone()));
                        Value::Array(a)
                    }
                    _ => Value::Array(vec![Scalar::String(v.clone())]),
                };
            }
        }
    }
    for (k, v) in refs {
        out.push((k.clone(), Value::Reference(parse_ref(v, namespace)?)));
    }
    for (k, v) in instances {
        let path = v
            .strip_prefix('@')
            .ok_or_else(|| UsageError::new(format!("--instance {k}: expected {k}=@FILE, got `{v}`")))?;
        let text = read_file(std::path::Path::new(path))
            .map_err(|e| UsageError::new(format!("--instance {k}: cannot read {path}: {e}")))?;
        let inst = wsman_soap::cimxml::parse_instance(&text, &Limits::default())
            .map_err(|e| UsageError::new(format!("--instance {k}: {path} is not a CIM-XML INSTANCE: {e}")))?;
        out.push((k.clone(), Value::Instance(Box::new(inst))));
    }
    Ok(out)
}

fn client_err(e: winrm_client::Error) -> anyhow::Error {
    anyhow::Error::new(e)
}

/// `hvctl wsman`: one WS-Man verb on every host.
async fn wsman(hosts: &Hosts, cmd: WsmanCmd) -> anyhow::Result<Outcome> {
    let (command, records) = match cmd {
        WsmanCmd::Identify => ("wsman identify", wsman_identify(hosts).await),
        WsmanCmd::Get {
            class,
            selectors,
            namespace,
        } => {
            let uri = resource_uri(&class, &namespace);
            let records = wsman_get(hosts, &uri, &selectors.into_iter().collect()).await;
            ("wsman get", records)
        }
        WsmanCmd::Enumerate {
            class,
            wql,
            associators,
            assoc_class,
            result_class,
            epr,
            namespace,
        } => {
            let filter = enumerate_filter(wql, associators, assoc_class, result_class, &namespace)?;
            let uri = if filter.is_some() && !class.contains("://") {
                wmi_all_classes_uri(&namespace)
            } else {
                resource_uri(&class, &namespace)
            };
            let req = Enumerate {
                filter,
                mode: if epr {
                    EnumerationMode::ObjectAndEpr
                } else {
                    EnumerationMode::Objects
                },
                optimize: true,
                max_elements: None,
            };
            ("wsman enumerate", wsman_enumerate(hosts, &uri, &req).await)
        }
        WsmanCmd::Invoke {
            class,
            method,
            selectors,
            params,
            refs,
            instances,
            namespace,
        } => {
            let uri = resource_uri(&class, &namespace);
            let sel: SelectorSet = selectors.into_iter().collect();
            let read = |p: &std::path::Path| std::fs::read_to_string(p);
            let ps = invoke_params(&params, &refs, &instances, &namespace, &read)?;
            let records = wsman_invoke(hosts, &uri, &sel, &class, &method, &ps).await;
            ("wsman invoke", records)
        }
    };
    Ok(Outcome {
        command: command.to_owned(),
        records,
        table: None,
    })
}

/// `wsman identify`: the protocol version, vendor and product version of each host.
async fn wsman_identify(hosts: &Hosts) -> Vec<Record> {
    per_host(hosts, "wsman identify", |s| async move {
        let id = s.client().identify().await.map_err(client_err)?;
        let data = json!({
            "protocol_version": id.protocol_version,
            "product_vendor": id.product_vendor,
            "product_version": id.product_version,
            "security_profiles": id.security_profiles,
        });
        let human = format!(
            "{}: {} {} ({})",
            hyperv::Wsman::host(&s),
            id.product_vendor,
            id.product_version,
            id.protocol_version
        );
        Ok(vec![(data, human)])
    })
    .await
}

/// `wsman get`: one instance by its selectors.
async fn wsman_get(hosts: &Hosts, uri: &str, sel: &SelectorSet) -> Vec<Record> {
    per_host(hosts, "wsman get", |s| {
        let (uri, sel) = (uri.to_owned(), sel.clone());
        async move {
            let i = s.client().get(&uri, &sel).await.map_err(client_err)?;
            Ok(vec![(instance_json(&i), instance_human(&i))])
        }
    })
    .await
}

/// The filter of `wsman enumerate`: WQL, or the instances associated with a reference.
fn enumerate_filter(
    wql: Option<String>,
    associators: Option<String>,
    assoc_class: Option<String>,
    result_class: Option<String>,
    namespace: &str,
) -> anyhow::Result<Option<Filter>> {
    Ok(match (wql, associators) {
        (Some(q), _) => Some(Filter::Wql(q)),
        (None, Some(a)) => Some(Filter::Association(AssociationFilter {
            object: parse_ref(&a, namespace)?,
            kind: AssociationKind::AssociatedInstances,
            association_class: assoc_class,
            result_class,
            role: None,
            result_role: None,
        })),
        (None, None) => None,
    })
}

/// `wsman enumerate`: a record per item.
async fn wsman_enumerate(hosts: &Hosts, uri: &str, req: &Enumerate) -> Vec<Record> {
    per_host(hosts, "wsman enumerate", |s| {
        let (uri, req) = (uri.to_owned(), req.clone());
        async move {
            let items = s.client().enumerate(&uri, &req).await.map_err(client_err)?;
            Ok(items.iter().map(item_record).collect())
        }
    })
    .await
}

/// An enumerated item's record: its instance and its EPR, when present.
fn item_record(it: &Item) -> (Json, String) {
    let inst = it.instance.as_ref().map(instance_json).unwrap_or(Json::Null);
    let e = it.epr.as_ref().map(epr_json).unwrap_or(Json::Null);
    let mut human = it.instance.as_ref().map(instance_human).unwrap_or_default();
    if let Some(ep) = &it.epr {
        let sel: Vec<String> = ep.selectors.iter().map(|(k, v)| format!("{k}={v}")).collect();
        human.push_str(&format!("\n  EPR: {}?{}", ep.class_name(), sel.join("&")));
    }
    (json!({"instance": inst, "epr": e}), human)
}

/// `wsman invoke`: the method's output, or a classified error for a failing ReturnValue.
async fn wsman_invoke(
    hosts: &Hosts,
    uri: &str,
    sel: &SelectorSet,
    class: &str,
    method: &str,
    ps: &[(String, Value)],
) -> Vec<Record> {
    per_host(hosts, "wsman invoke", |s| {
        let (uri, sel, ps, method, class) = (
            uri.to_owned(),
            sel.clone(),
            ps.to_vec(),
            method.to_owned(),
            class.to_owned(),
        );
        async move {
            let host = hyperv::Wsman::host(&s).to_owned();
            let out = s
                .client()
                .invoke(&uri, &sel, &method, &ps)
                .await
                .map_err(client_err)?;
            Ok(vec![invoke_record(&host, &class, &method, &out)?])
        }
    })
    .await
}

/// An Invoke output's record; a ReturnValue other than Completed or JobStarted is an error.
fn invoke_record(
    host: &str,
    class: &str,
    method: &str,
    out: &MethodOutput,
) -> anyhow::Result<(Json, String)> {
    let rv = out.return_value;
    let job = out.job_instance_id().map(str::to_owned);
    if let Some(v) = rv {
        let code = ReturnCode::from_value(v);
        if !matches!(code, ReturnCode::Completed | ReturnCode::JobStarted) {
            let hint = code.hint().map(|h| format!(": {h}")).unwrap_or_default();
            return Err(anyhow::Error::new(Classified::new(
                return_code_class(code),
                format!("{method} on {} ({host}) returned {code}{hint}", class_name(class)),
            )));
        }
    }
    let mut human = instance_human(&out.out);
    if let Some(j) = &job {
        human.push_str(&format!(
            "\njob started: follow it with `hvctl job wait {j} --host {host}`"
        ));
    }
    let data = json!({
        "method": out.method,
        "return_value": rv,
        "job_id": job,
        "output": instance_json(&out.out),
    });
    Ok((data, human))
}

/// The exit class of a failing ReturnValue (as the domain classifies `MethodFailed`).
pub fn return_code_class(code: ReturnCode) -> ExitClass {
    match code {
        ReturnCode::AccessDenied => ExitClass::Auth,
        ReturnCode::InvalidState | ReturnCode::InvalidStateTransition => ExitClass::InvalidState,
        ReturnCode::FileNotFound => ExitClass::NotFound,
        _ => ExitClass::JobFailed,
    }
}

fn class_name(class: &str) -> &str {
    wsman_soap::class_of(class)
}

/// Runs `f` once per host; each returned item becomes a record.
async fn per_host<F, Fut>(hosts: &Hosts, command: &str, f: F) -> Vec<Record>
where
    F: Fn(HostSession) -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<(Json, String)>>>,
{
    let futs = hosts.sessions.iter().map(|(s, limit)| {
        let fut = f(s.clone());
        let host = hyperv::Wsman::host(s).to_owned();
        async move {
            let _permit = limit.acquire().await;
            let start = Instant::now();
            // The record names the host (and the transport's message its URL): said once.
            match fut.await.with_context(|| command.to_owned()) {
                Ok(items) => items
                    .into_iter()
                    .map(|(data, human)| {
                        let mut r = Record::ok(command, Some(&host), None, data, human);
                        r.elapsed_ms = millis(start);
                        r
                    })
                    .collect::<Vec<_>>(),
                Err(e) => {
                    let mut r = Record::failed(command, Some(&host), None, &e);
                    r.elapsed_ms = millis(start);
                    vec![r]
                }
            }
        }
    });
    join_all(futs).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn references_parse_into_eprs() {
        let e = parse_ref(
            "Msvm_ComputerSystem?CreationClassName=Msvm_ComputerSystem&Name=ABC",
            "root/virtualization/v2",
        )
        .unwrap();
        assert_eq!(
            e.resource_uri,
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ComputerSystem"
        );
        assert_eq!(e.selectors.get("Name"), Some("ABC"));
        assert_eq!(e.selectors.len(), 2);
        assert!(parse_ref("?a=b", "root/cimv2").is_err());
        assert!(parse_ref("C?novalue", "root/cimv2").is_err());
    }

    #[test]
    fn invoke_parameters_keep_order_arrays_and_nulls() {
        let xml = "<INSTANCE CLASSNAME=\"Msvm_X\"><PROPERTY NAME=\"A\" TYPE=\"uint16\"><VALUE>3</VALUE></PROPERTY></INSTANCE>";
        let read = |p: &Path| {
            if p == Path::new("x.xml") {
                Ok(xml.to_owned())
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::NotFound, "missing"))
            }
        };
        let ps = invoke_params(
            &[
                ("RequestedState".into(), "2".into()),
                ("Arr".into(), "a".into()),
                ("Arr".into(), "b".into()),
                ("Nil".into(), String::new()),
            ],
            &[("Job".into(), "Msvm_ConcreteJob?InstanceID=J".into())],
            &[("Setting".into(), "@x.xml".into())],
            "root/virtualization/v2",
            &read,
        )
        .unwrap();
        let names: Vec<&str> = ps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["RequestedState", "Arr", "Nil", "Job", "Setting"]);
        assert_eq!(ps[0].1, Value::Scalar(Scalar::String("2".into())));
        assert_eq!(
            ps[1].1,
            Value::Array(vec![Scalar::String("a".into()), Scalar::String("b".into())])
        );
        assert_eq!(ps[2].1, Value::Null);
        assert_eq!(
            ps[3].1.as_reference().unwrap().selectors.get("InstanceID"),
            Some("J")
        );
        let Value::Instance(i) = &ps[4].1 else {
            panic!("not an instance")
        };
        assert_eq!(i.class_name, "Msvm_X");
        assert_eq!(i.get_u16("A"), Some(3));
        let err = invoke_params(&[], &[], &[("S".into(), "nofile".into())], "root/cimv2", &read).unwrap_err();
        assert!(err.to_string().contains("expected S=@FILE"), "{err}");
        let err =
            invoke_params(&[], &[], &[("S".into(), "@gone.xml".into())], "root/cimv2", &read).unwrap_err();
        assert!(err.to_string().contains("cannot read gone.xml"), "{err}");
    }

    #[test]
    fn resource_uris_from_classes() {
        assert_eq!(
            resource_uri("Win32_Service", "root/cimv2"),
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"
        );
        assert_eq!(
            resource_uri("*", "root/cimv2"),
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*"
        );
        assert_eq!(resource_uri("http://x/y", "root/cimv2"), "http://x/y");
    }

    #[test]
    fn not_found_on_one_host_is_dropped_when_another_has_the_vm() {
        let nf = anyhow::Error::new(Classified::new(ExitClass::NotFound, "no vm"));
        let recs = vec![
            Record::failed("s", Some("a"), Some("web"), &nf),
            Record::ok("s", Some("b"), Some("web"), Json::Null, String::new()),
            Record::failed("s", Some("a"), Some("gone"), &nf),
            Record::failed("s", Some("b"), Some("gone"), &nf),
        ];
        let out = drop_not_found_elsewhere(recs);
        let gone = out[1].error.as_ref().unwrap();
        assert_eq!(
            gone.message, "no vm",
            "a message that names no host is kept as it is"
        );
        let nf = |h: &str| {
            anyhow::Error::new(Classified::new(
                ExitClass::NotFound,
                format!("no virtual machine named 'x' on {h}"),
            ))
        };
        let recs = ["a", "b", "c"]
            .iter()
            .map(|h| Record::failed("s", Some(h), Some("x"), &nf(h)))
            .collect();
        let out2 = drop_not_found_elsewhere(recs);
        assert_eq!(out2.len(), 1);
        assert_eq!(
            out2[0].error.as_ref().unwrap().message,
            "no virtual machine named 'x' on any of a, b, c"
        );
        let keys: Vec<(Option<&str>, Option<&str>, bool)> = out
            .iter()
            .map(|r| (r.host.as_deref(), r.vm.as_deref(), r.ok))
            .collect();
        assert_eq!(
            keys,
            [(Some("b"), Some("web"), true), (Some("a"), Some("gone"), false)]
        );
    }
}
