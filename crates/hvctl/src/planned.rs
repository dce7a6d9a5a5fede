//! `hvctl failover planned`: the whole planned failover of VMs from `--primary` to `--replica`
//! as one command ([`hyperv::planned`]), the VMs concurrently, one record per step.

use std::time::Instant;

use futures_util::future::join_all;
use hyperv::{
    Event, JobProgress, PlannedOptions, PlannedPair, PlannedRun, StepReport, StepStatus, StopMode, VmRef,
};
use serde_json::Value as Json;

use crate::cli::{Cli, Command, FailoverCmd, PlannedArgs};
use crate::commands::{millis, Hosts, Outcome, Track};
use crate::exit::{Classified, UsageError};
use crate::interrupt::Slot;
use crate::output::Record;

/// The command's name in records.
pub const COMMAND: &str = "failover planned";

/// `--primary` and `--replica` are the hosts of `failover planned`, in that order: they take
/// the place of `--host`, an inventory and a profile's hosts (the profile's connection
/// settings and credentials still apply to both).
pub fn use_hosts(cli: &mut Cli) {
    if let Command::Failover(FailoverCmd::Planned(a)) = &cli.command {
        cli.global.hosts = vec![a.primary.clone(), a.replica.clone()];
        cli.global.inventory = None;
    }
}

/// Runs `failover planned` (or its dry run) for every VM named, concurrently.
pub async fn run(hosts: &Hosts, a: PlannedArgs) -> anyhow::Result<Outcome> {
    let [(primary, primary_limit), (replica, replica_limit)] = hosts.sessions.as_slice() else {
        return Err(anyhow::Error::new(UsageError::new(format!(
            "--primary {} and --replica {} are the same host: a planned failover moves VMs between two hosts",
            a.primary, a.replica
        ))));
    };
    let opts = PlannedOptions {
        stop: if a.shutdown {
            Some(StopMode::Shutdown { force: false })
        } else if a.turn_off {
            Some(StopMode::TurnOff)
        } else {
            None
        },
        reverse: a.reverse.options(),
    };
    let pair = PlannedPair { primary, replica };
    let dry = a.dry.dry_run;
    let runs = a.vms.iter().map(|name| {
        let opts = &opts;
        async move {
            // Both hosts' permits, always in this order (no two VMs wait on each other).
            let _p = primary_limit.acquire().await;
            let _r = replica_limit.acquire().await;
            let start = Instant::now();
            let vm = VmRef::parse(name);
            let mut live = Live {
                hosts,
                vm: name,
                slot: None,
                show: None,
            };
            let run = if dry {
                hyperv::plan_planned(pair, &vm, opts).await
            } else {
                let mut events = |e: Event<'_>| live.on(e);
                hyperv::planned_failover(pair, &vm, opts, &hosts.wait, &mut events).await
            };
            records(run, name, &mut live, start)
        }
    });
    let records = join_all(runs).await.into_iter().flatten().collect();
    Ok(Outcome {
        command: COMMAND.to_owned(),
        records,
        table: None,
    })
}

/// The records of one VM: one per step, then its failure.
fn records(run: PlannedRun, name: &str, live: &mut Live<'_>, start: Instant) -> Vec<Record> {
    let mut out: Vec<Record> = run.steps.iter().map(|s| step_record(s, name)).collect();
    if let Some((host, e)) = run.failure {
        let mut rec = Record::failed(COMMAND, Some(&host), Some(name), &with_guidance(e));
        rec.elapsed_ms = millis(start);
        live.end(&rec);
        out.push(rec);
    }
    out
}

/// A step's record: the step report as data, one line (and its messages) for humans.
fn step_record(s: &StepReport, name: &str) -> Record {
    let data = serde_json::to_value(s).unwrap_or(Json::Null);
    let mut rec = Record::ok(COMMAND, Some(&s.host), Some(name), data, step_human(s));
    rec.elapsed_ms = u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX);
    rec
}

/// `prepare: skipped, web01 on hv01 is already PreparedForFailover`, and the like.
pub fn step_human(s: &StepReport) -> String {
    let now = |st: &hyperv::VmState| {
        format!(
            "{} ({}, {})",
            st.ps_replication_state, st.replication_mode, st.enabled_state
        )
    };
    let step = s.step.name();
    let mut line = match (s.step, s.outcome) {
        (hyperv::Step::Status, _) => format!("{} on {}: {}", s.vm, s.host, now(&s.after)),
        (_, StepStatus::Skipped) => {
            format!("{step}: skipped, {}", s.reason.as_deref().unwrap_or("done"))
        }
        (_, StepStatus::WouldRun) => format!(
            "{step}: would {} on {}",
            s.reason.as_deref().unwrap_or("run"),
            s.host
        ),
        (_, StepStatus::Ran) => {
            let job = s
                .job_id
                .as_deref()
                .map(|j| format!(", job {j}"))
                .unwrap_or_default();
            format!(
                "{step}: {} on {}: done ({}{job}), now {}",
                s.vm,
                s.host,
                s.method.as_deref().unwrap_or("nothing invoked"),
                now(&s.after)
            )
        }
    };
    if s.step != hyperv::Step::Status {
        for m in &s.messages {
            line.push_str("\n  ");
            line.push_str(m);
        }
    }
    line
}

/// An unknown outcome says to run the same command again: it reads both hosts and goes on
/// from there (the other errors are as the operations give them).
fn with_guidance(e: hyperv::Error) -> anyhow::Error {
    if !matches!(e, hyperv::Error::OutcomeUnknown { .. }) {
        return anyhow::Error::new(e);
    }
    let class = crate::errors::class_of_hyperv(&e);
    anyhow::Error::new(Classified::new(
        class,
        format!(
            "{e}; then run the same `hvctl failover planned` command again: it reads both hosts, \
             follows a job still running to its end and goes on from where the VM stands, never \
             repeating a step that is done"
        ),
    ))
}

/// What runs for one VM, for the progress lines and the Ctrl-C handler: the step under way
/// (or the earlier run's job being followed), its job as soon as the host names it.
struct Live<'h> {
    hosts: &'h Hosts,
    vm: &'h str,
    /// The operation under way and its host.
    slot: Option<(Slot, String)>,
    show: Option<ShowProgress>,
}

/// The progress line of the job under way.
type ShowProgress = Box<dyn FnMut(&JobProgress) + Send + 'static>;

impl Live<'_> {
    fn open(&mut self, host: &str, label: String, job: Option<&str>) {
        let inflight = &self.hosts.inflight;
        let slot = inflight.register(COMMAND, host, Some(self.vm), job);
        inflight.start(slot);
        self.show = Some(Box::new(self.hosts.callback(Track { label, slot })));
        self.slot = Some((slot, host.to_owned()));
    }

    /// The operation under way ended with `rec` (or `rec` ended without one running).
    fn end(&mut self, rec: &Record) {
        self.show = None;
        match self.slot.take() {
            Some((slot, _)) => self.hosts.inflight.finish(slot, rec),
            None => self.hosts.inflight.record(rec),
        }
    }

    fn on(&mut self, e: Event<'_>) {
        match e {
            Event::Begin(step, host) => {
                let label = format!("{} {} on {host}", self.vm, step.name());
                self.open(host, label, None);
            }
            Event::Follow(host, job) => {
                let label = format!("{} (an earlier run's job) on {host}", self.vm);
                self.open(host, label, Some(job));
            }
            Event::Job(p) => {
                if let Some(show) = self.show.as_mut() {
                    show(p);
                }
            }
            // What it waited for goes into the next step's record (its `messages`).
            Event::Followed(_) => {
                self.show = None;
                if let Some((slot, _)) = self.slot.take() {
                    self.hosts.inflight.close(slot);
                }
            }
            Event::End(s) => self.end(&step_record(s, self.vm)),
        }
    }
}
