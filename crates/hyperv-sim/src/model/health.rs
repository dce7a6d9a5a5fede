//! Replication health and control: the statistics `GetReplicationStatisticsEx` returns, the
//! health issues (`Msvm_Error`) of a suspended VM or one that needs resynchronization, the
//! suspend / resume transitions of `RequestReplicationStateChangeEx`, and `Resynchronize`.
//!
//! Sources (learn.microsoft.com, hyperv_v2):
//! - `Msvm_ReplicationService::GetReplicationStatisticsEx`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/getreplicationstatisticsex-msvm-replicationservice>):
//!   `ComputerSystem` REF, `ReplicationRelationship` (embedded `Msvm_ReplicationRelationship`),
//!   out `ReplicationStatistics[]` (embedded `Msvm_ReplicationStatistics`) and
//!   `ReplicationHealthIssues[]` (embedded `Msvm_Error`); 0, 4096, 32768..32779.
//! - `Msvm_ReplicationStatistics`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationstatistics>): the
//!   property names and types written here ([`STATISTICS`]).
//! - `Msvm_ComputerSystem::RequestReplicationStateChangeEx`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-requestreplicationstatechangeex-computersystem>):
//!   the relationship parameter is optional (the primary relationship when absent); 32775 for a
//!   state not allowed now.
//! - `Msvm_ReplicationService::Resynchronize`
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/resynchronize-msvm-replicationservice>):
//!   `ComputerSystem` REF, `StartTime` (null: now).
//!
//! Assumptions (no recording shows them; the strictest plausible reading):
//! - a replication cycle runs every `ReplicationInterval` seconds from the relationship's
//!   creation; it is counted when the statistics are read or the state is changed here, in the
//!   state the VM has then: Replicating counts a success (deterministic size and latency from the
//!   VM GUID and the cycle number), Suspended, ResynchronizationSuspended (11, which this
//!   simulator also uses for "resynchronization required") and DiskUpdateCritical count a miss
//!   whose changes stay pending;
//! - the health follows the state: Normal (1) while Replicating or Resynchronizing, Warning (2)
//!   when Suspended or when more than a fifth of the window's cycles were missed, Critical (3)
//!   when resynchronization is required (11) or the disk update is critical (16); each non-Normal
//!   health comes with one `Msvm_Error` (the `MessageID`s are the simulator's own);
//! - `GetReplicationStatisticsEx` needs its relationship parameter (32773 without it); its
//!   statistics come back at once (ReturnValue 0, no job);
//! - `Resynchronize` runs on the primary in state 11 only (32775 otherwise); a scheduled start
//!   (non-null `StartTime`) is not modelled (32770 not supported).

use std::time::{Duration, SystemTime};

use wsman_soap::{Scalar, Value};

use super::jobs::VmPatch;
use super::{mode, output, rv, state, u32v, HostId, JobFailure, JobInjection, World, REL};
use crate::clock;
use crate::embedded::{self, OutProperty};
use crate::mof;

/// `Msvm_ReplicationStatistics`, as the class page lists it: name and CIM type.
pub const STATISTICS: &[(&str, &str)] = &[
    ("InstanceID", "string"),
    ("Caption", "string"),
    ("Description", "string"),
    ("ElementName", "string"),
    ("StartStatisticTime", "datetime"),
    ("EndStatisticTime", "datetime"),
    ("ReplicationSuccessCount", "uint32"),
    ("ReplicationSize", "uint64"),
    ("MaxReplicationSize", "uint64"),
    ("ReplicationLatency", "uint32"),
    ("ReplicationMissCount", "uint32"),
    ("MaxReplicationLatency", "uint32"),
    ("NetworkFailureCount", "uint32"),
    ("ReplicationFailureCount", "uint32"),
    ("PendingReplicationSize", "uint64"),
    ("ApplicationConsistentSnapshotFailureCount", "uint32"),
    ("ReplicationHealth", "uint32"),
    ("LastTestFailoverTime", "datetime"),
];

/// The replication statistics of one VM on one host since its relationship was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// The host.
    pub host: usize,
    /// The VM GUID.
    pub vm: String,
    /// `StartStatisticTime`.
    pub start: SystemTime,
    /// The end of the last cycle counted.
    pub counted_until: SystemTime,
    /// Cycles counted.
    pub cycles: u64,
    /// `ReplicationSuccessCount`.
    pub successes: u32,
    /// `ReplicationMissCount`.
    pub misses: u32,
    /// `ReplicationSize`: bytes replicated by the successful cycles.
    pub size: u64,
    /// `MaxReplicationSize`.
    pub max_size: u64,
    /// Sum of the successful cycles' latencies (seconds), for `ReplicationLatency` (the mean).
    pub latency_total: u64,
    /// `MaxReplicationLatency` (seconds).
    pub max_latency: u32,
    /// `PendingReplicationSize`: bytes changed during missed cycles, not yet sent.
    pub pending: u64,
}

impl Counters {
    /// `ReplicationLatency`: the mean latency of the successful cycles, in seconds.
    pub fn mean_latency(&self) -> u32 {
        if self.successes == 0 {
            return 0;
        }
        u32::try_from(self.latency_total / u64::from(self.successes)).unwrap_or(u32::MAX)
    }
}

/// `ReplicationState` 10: resynchronizing.
const RESYNCHRONIZING: u16 = 10;
/// `ReplicationState` 11: resynchronization suspended (also "resynchronization required").
const RESYNC_REQUIRED: u16 = 11;
/// `ReplicationState` 15: disk update in progress.
const DISK_UPDATE: u16 = 15;
/// `ReplicationState` 16: disk update critical.
const DISK_UPDATE_CRITICAL: u16 = 16;

/// A replication state change `RequestReplicationStateChangeEx` makes: the state while its job
/// runs, the state and health when it completes, the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transition {
    pub(super) during: Option<u16>,
    pub(super) to: u16,
    pub(super) health: Option<u16>,
    pub(super) job_type: u16,
    pub(super) caption: &'static str,
}

/// The suspend and resume changes of `RequestReplicationStateChangeEx` (`RequestedState` 7
/// Suspend, 3 Replicating, 15 after a critical disk update, as `Resume-VMReplication` sends it):
/// from Replicating or Resynchronizing to Suspended / ResynchronizationSuspended, from Suspended
/// back to Replicating, from DiskUpdateCritical through DiskUpdateInProgress to Replicating.
/// `None` is 32775: anything else, a resume of a VM that needs resynchronization included.
pub(super) fn transition(m: u16, st: u16, req: u16) -> Option<Transition> {
    if !matches!(m, mode::PRIMARY | mode::REPLICA) {
        return None;
    }
    let t = |during, to, health, caption| Transition {
        during,
        to,
        health: Some(health),
        job_type: 96,
        caption,
    };
    Some(match (st, req) {
        (state::REPLICATING, 7) => t(None, state::SUSPENDED, 2, "Suspending replication"),
        (RESYNCHRONIZING, 7) => t(None, RESYNC_REQUIRED, 3, "Suspending resynchronization"),
        (state::SUSPENDED, 3) => t(None, state::REPLICATING, 1, "Resuming replication"),
        (DISK_UPDATE_CRITICAL, 15) => t(
            Some(DISK_UPDATE),
            state::REPLICATING,
            1,
            "Resuming replication after the disk update",
        ),
        _ => return None,
    })
}

/// Checks the `ReplicationRelationship` parameter of a method on `vm_id`: absent or null is the
/// primary relationship unless `required`; otherwise an embedded `Msvm_ReplicationRelationship`
/// whose `InstanceID` is the VM's primary relationship and whose properties fit the class MOF
/// ([`mof::REPLICATION_RELATIONSHIP`]). `Err` is the ReturnValue (32773, or 32776 for a type
/// mismatch); `Ok(Some)` a job failure for datetimes not in DMTF form.
pub(super) fn relationship_param(
    vm_id: &str,
    rel: Option<&Value>,
    required: bool,
) -> Result<Option<JobFailure>, u32> {
    let text = match rel {
        None | Some(Value::Null) if !required => return Ok(None),
        Some(Value::Scalar(Scalar::String(text))) => text,
        _ => return Err(rv::INVALID_PARAMETER),
    };
    let Ok(e) = embedded::parse(text) else {
        return Err(rv::INVALID_PARAMETER);
    };
    let ours = e.class_name.eq_ignore_ascii_case(REL)
        && e.value("InstanceID")
            .is_some_and(|id| id.eq_ignore_ascii_case(&super::relationship_id(vm_id)));
    if !ours {
        return Err(rv::INVALID_PARAMETER);
    }
    mof::check(&e, mof::REPLICATION_RELATIONSHIP).map_err(|m| m.return_value())?;
    let bad = e.non_dmtf_datetimes();
    Ok((!bad.is_empty()).then(|| super::replication::bad_datetime_failure(&bad)))
}

/// A deterministic 64-bit mix of the VM GUID and the cycle number (FNV-1a, then a finaliser).
fn mix(vm: &str, cycle: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in vm.to_ascii_uppercase().bytes().chain(cycle.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

const MIB: u64 = 1024 * 1024;

impl World {
    /// The counters of a VM on a host, created at the relationship's creation time.
    fn counters_mut(&mut self, host: usize, vm: &str, created: SystemTime) -> &mut Counters {
        let i = match self
            .replication_stats
            .iter()
            .position(|c| c.host == host && c.vm.eq_ignore_ascii_case(vm))
        {
            Some(i) => i,
            None => {
                self.replication_stats.push(Counters {
                    host,
                    vm: vm.to_owned(),
                    start: created,
                    counted_until: created,
                    cycles: 0,
                    successes: 0,
                    misses: 0,
                    size: 0,
                    max_size: 0,
                    latency_total: 0,
                    max_latency: 0,
                    pending: 0,
                });
                self.replication_stats.len() - 1
            }
        };
        &mut self.replication_stats[i]
    }

    /// The statistics of a VM on a host as last counted (see [`World::count_replications`]).
    pub fn replication_counters(&self, host: HostId, vm: &str) -> Option<&Counters> {
        self.replication_stats
            .iter()
            .find(|c| c.host == host.0 && c.vm.eq_ignore_ascii_case(vm))
    }

    /// Counts the replication cycles of a VM on a host up to `now`, in its current state (see the
    /// module notes), records the last successful one as its `LastReplicationTime` (and the
    /// partner's) and sets its health from the state and the misses.
    pub fn count_replications(&mut self, host: HostId, vm_id: &str, now: SystemTime) {
        let Some(r) = self.vm(host, vm_id).and_then(|v| v.replication.clone()) else {
            return;
        };
        let interval = Duration::from_secs(u64::from(r.settings.replication_interval.max(30)));
        let c = self.counters_mut(host.0, vm_id, r.created);
        let mut last = None;
        while c.counted_until + interval <= now {
            c.counted_until += interval;
            c.cycles += 1;
            let h = mix(vm_id, c.cycles);
            let changed = 2 * MIB + h % (48 * MIB);
            let latency = 3 + u32::try_from((h >> 40) % 25).unwrap_or(0);
            match r.state {
                state::REPLICATING => {
                    let sent = changed + std::mem::take(&mut c.pending);
                    c.successes += 1;
                    c.size += sent;
                    c.max_size = c.max_size.max(sent);
                    c.latency_total += u64::from(latency);
                    c.max_latency = c.max_latency.max(latency);
                    last = Some(c.counted_until);
                }
                state::SUSPENDED | RESYNC_REQUIRED | DISK_UPDATE_CRITICAL | state::CRITICAL => {
                    c.misses += 1;
                    c.pending += changed;
                }
                _ => {}
            }
        }
        let (misses, cycles) = (u64::from(c.misses), c.cycles);
        let health = match r.state {
            state::REPLICATING if misses * 5 > cycles => Some(2),
            state::REPLICATING | RESYNCHRONIZING => Some(1),
            state::SUSPENDED => Some(2),
            RESYNC_REQUIRED | DISK_UPDATE_CRITICAL | state::CRITICAL => Some(3),
            _ => None,
        };
        let partner = self.partner(host.0, vm_id);
        if let Some(r) = self.vm_mut(host.0, vm_id).and_then(|v| v.replication.as_mut()) {
            if let Some(h) = health {
                r.health = h;
            }
            if last.is_some() {
                r.last_replication_time = last;
            }
        }
        if let (Some(p), Some(t)) = (partner, last) {
            if let Some(r) = self.vm_mut(p, vm_id).and_then(|v| v.replication.as_mut()) {
                r.last_replication_time = Some(t);
            }
        }
    }

    /// Puts a replicated VM into "resynchronization required" (state 11, health Critical) on
    /// both of its hosts, as Hyper-V does when the replication log overflows or the replica
    /// falls out of step: for tests. False when the VM is not replicating on `host`.
    pub fn require_resync(&mut self, host: HostId, vm_id: &str, now: SystemTime) -> bool {
        self.advance(now);
        let ok = self
            .vm(host, vm_id)
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|r| matches!(r.state, state::REPLICATING | state::SUSPENDED));
        if !ok {
            return false;
        }
        self.count_replications(host, vm_id, now);
        let partner = self.partner(host.0, vm_id);
        for h in std::iter::once(host.0).chain(partner) {
            if let Some(r) = self.vm_mut(h, vm_id).and_then(|v| v.replication.as_mut()) {
                r.state = RESYNC_REQUIRED;
                r.health = 3;
            }
        }
        true
    }

    /// `Msvm_ReplicationService.GetReplicationStatisticsEx`: the VM's counters as one embedded
    /// `Msvm_ReplicationStatistics` and its health issues as embedded `Msvm_Error`s, at once.
    pub(super) fn replication_statistics(
        &mut self,
        host: HostId,
        vm_id: &str,
        rel: Option<&Value>,
        now: SystemTime,
    ) -> wsman_soap::Instance {
        const M: &str = "GetReplicationStatisticsEx";
        match relationship_param(vm_id, rel, true) {
            Ok(None) => {}
            Ok(Some(_)) => return output(M, rv::FAILED, None),
            Err(code) => return output(M, code, None),
        }
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(M, rv::INVALID_STATE, None);
        };
        if vm.replication.as_ref().is_none_or(|r| r.mode == mode::NONE) {
            return output(M, rv::INVALID_STATE, None);
        }
        self.count_replications(host, vm_id, now);
        let (Some(r), Some(c)) = (
            self.vm(host, vm_id).and_then(|v| v.replication.clone()),
            self.replication_counters(host, vm_id).cloned(),
        ) else {
            return output(M, rv::FAILED, None);
        };
        let dmtf = |t: SystemTime| clock::to_cim(t).to_dmtf();
        let values: Vec<Option<String>> = vec![
            None,
            None,
            None,
            None,
            Some(dmtf(c.start)),
            Some(dmtf(now)),
            Some(c.successes.to_string()),
            Some(c.size.to_string()),
            Some(c.max_size.to_string()),
            Some(c.mean_latency().to_string()),
            Some(c.misses.to_string()),
            Some(c.max_latency.to_string()),
            Some("0".into()),
            Some("0".into()),
            Some(c.pending.to_string()),
            Some("0".into()),
            Some(r.health.to_string()),
            None,
        ];
        let props: Vec<OutProperty<'_>> = STATISTICS
            .iter()
            .zip(values)
            .map(|(&(name, cim_type), v)| OutProperty {
                name,
                cim_type,
                array: false,
                values: v.into_iter().collect(),
            })
            .collect();
        let stats = embedded::write("Msvm_ReplicationStatistics", &props);
        let issues: Vec<Scalar> = health_issue(&vm.name, vm_id, r.state, r.health, &c)
            .into_iter()
            .map(Scalar::String)
            .collect();
        let mut out = wsman_soap::Instance::new(format!("{M}_OUTPUT"));
        out.set("ReplicationHealthIssues", Value::Array(issues));
        out.set("ReplicationStatistics", Value::Array(vec![Scalar::String(stats)]));
        out.set("ReturnValue", u32v(rv::OK));
        out
    }

    /// `Msvm_ReplicationService.Resynchronize` on the primary of a VM that needs it (state 11):
    /// both sides Resynchronizing (10) while the job runs, then Replicating with health Normal.
    pub(super) fn resynchronize(
        &mut self,
        host: HostId,
        vm_id: &str,
        start_time: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> wsman_soap::Instance {
        const M: &str = "Resynchronize";
        if !matches!(start_time, None | Some(Value::Null)) {
            return output(M, rv::NOT_SUPPORTED, None);
        }
        let ok = self
            .vm(host, vm_id)
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|r| r.mode == mode::PRIMARY && r.state == RESYNC_REQUIRED);
        if !ok {
            return output(M, rv::INVALID_STATE, None);
        }
        self.count_replications(host, vm_id, now);
        let done = now + self.config.job_duration;
        let sides: Vec<HostId> = std::iter::once(host)
            .chain(self.partner(host.0, vm_id).map(HostId))
            .collect();
        let at_start = sides
            .iter()
            .map(|&h| VmPatch {
                state: Some(RESYNCHRONIZING),
                ..VmPatch::of(h, vm_id)
            })
            .collect();
        let success = sides
            .iter()
            .map(|&h| VmPatch {
                state: Some(state::REPLICATING),
                health: Some(1),
                last_replication_time: Some(done),
                ..VmPatch::of(h, vm_id)
            })
            .collect();
        let job = self.start_job(
            host,
            107,
            "Resynchronizing",
            vm_id,
            now,
            at_start,
            success,
            None,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }
}

/// The `Msvm_Error` (CIM-XML) of a VM whose health is not Normal, if any.
fn health_issue(name: &str, vm_id: &str, st: u16, health: u16, c: &Counters) -> Option<String> {
    let (id, message, severity) = match (st, health) {
        (state::SUSPENDED, _) => (
            "32546",
            format!("Replication is suspended for virtual machine '{name}'."),
            3,
        ),
        (RESYNC_REQUIRED, _) => (
            "32552",
            format!(
                "Replication for virtual machine '{name}' needs resynchronization: resume replication \
                 with resynchronization on the primary server."
            ),
            6,
        ),
        (DISK_UPDATE_CRITICAL, _) => (
            "32560",
            format!("The disk update of virtual machine '{name}' failed: resume replication."),
            6,
        ),
        (_, 2) => (
            "32548",
            format!(
                "Replication for virtual machine '{name}' missed {} of {} replication cycles.",
                c.misses, c.cycles
            ),
            3,
        ),
        _ => return None,
    };
    let one = |name: &'static str, cim_type: &'static str, v: String| OutProperty {
        name,
        cim_type,
        array: false,
        values: vec![v],
    };
    Some(embedded::write(
        "Msvm_Error",
        &[
            one("ErrorSource", "string", vm_id.to_owned()),
            one("ErrorSourceFormat", "uint16", "1".into()),
            one("ErrorType", "uint16", "1".into()),
            one("Message", "string", message),
            OutProperty {
                name: "MessageArguments",
                cim_type: "string",
                array: true,
                values: vec![name.to_owned()],
            },
            one("MessageID", "string", id.into()),
            one("OwningEntity", "string", "Microsoft-Windows-Hyper-V-VMMS".into()),
            one("PerceivedSeverity", "uint16", severity.to_string()),
        ],
    ))
}
