//! Jobs: `Msvm_ConcreteJob` over time. A method that starts a job applies its start patches
//! at once; [`World::advance`] completes it after [`WorldConfig::job_duration`] (applying its
//! success patches, or on failure undoing the start patches) and removes it after
//! `TimeBeforeRemoval`. `GetErrorEx` / `GetError` return its `Msvm_Error`.

use std::time::{Duration, SystemTime};

use wsman_soap::{Epr, Instance, Scalar, SelectorSet, Value};

#[cfg(doc)]
use super::WorldConfig;
use super::{
    b, dt, job_state, new_guid, output, rv, s, u16v, u32v, uri, HostId, Object, ReplicationSettings, World,
    JOB,
};
use crate::clock;
use crate::embedded::{self, OutProperty};

/// A failure a job ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// `ErrorCode`.
    pub code: u16,
    /// `ErrorDescription`.
    pub description: String,
}

/// A change a job makes to one VM on one host (`None`: left as is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct VmPatch {
    pub(super) host: usize,
    pub(super) vm: String,
    pub(super) enabled_state: Option<u16>,
    pub(super) mode: Option<u16>,
    pub(super) state: Option<u16>,
    pub(super) health: Option<u16>,
    pub(super) failed_over_type: Option<u16>,
    pub(super) settings: Option<ReplicationSettings>,
    pub(super) last_replication_time: Option<SystemTime>,
}

impl VmPatch {
    /// A patch of this VM that changes nothing yet.
    pub(super) fn of(host: HostId, vm: &str) -> Self {
        Self {
            host: host.0,
            vm: vm.to_owned(),
            ..Self::default()
        }
    }
}

/// A `Msvm_ConcreteJob`.
#[derive(Debug, Clone)]
pub struct Job {
    /// `InstanceID`: a bare GUID, as real hosts use.
    pub id: String,
    /// Host the job runs on.
    pub host: HostId,
    /// `JobType`.
    pub job_type: u16,
    /// `Caption`/`Description`.
    pub caption: String,
    /// `TimeSubmitted`.
    pub submitted: SystemTime,
    /// How long it runs.
    pub duration: Duration,
    /// The failure it ends with, if any.
    pub failure: Option<JobFailure>,
    /// The VM it affects (for `Msvm_AffectedJobElement`).
    pub affected_vm: Option<String>,
    /// Set when the job completed (effects applied).
    pub completed_at: Option<SystemTime>,
    /// The job disappears at this time even if running (fault injection).
    pub vanish_at: Option<SystemTime>,
    on_success: Vec<VmPatch>,
    on_failure: Vec<VmPatch>,
}

/// Fault injection for the next job(s), decided when the job is created.
#[derive(Debug, Clone, Default)]
pub struct JobInjection {
    /// End with this failure.
    pub fail: Option<JobFailure>,
    /// Disappear after this long.
    pub vanish_after: Option<Duration>,
}

impl World {
    /// Advances jobs to `now`: completes the due ones (applying their effects) and removes the
    /// ones past `TimeBeforeRemoval` or made to vanish.
    pub fn advance(&mut self, now: SystemTime) {
        self.complete_shutdowns(now);
        let mut due = Vec::new();
        for (i, j) in self.jobs.iter().enumerate() {
            if j.completed_at.is_none() && now >= j.submitted + j.duration {
                due.push(i);
            }
        }
        for i in due {
            let (patches, at) = {
                let j = &mut self.jobs[i];
                let at = j.submitted + j.duration;
                j.completed_at = Some(at);
                (
                    if j.failure.is_some() {
                        j.on_failure.clone()
                    } else {
                        j.on_success.clone()
                    },
                    at,
                )
            };
            for p in patches {
                self.apply(&p, at);
            }
        }
        self.settle_drill();
        let keep = self.config.time_before_removal;
        self.jobs.retain(|j| {
            // A vanished job still does its work; it is only hidden (see `visible`).
            let vanished = j.vanish_at.is_some_and(|v| now >= v) && j.completed_at.is_some();
            let expired = j.completed_at.is_some_and(|c| now >= c + keep);
            !vanished && !expired
        });
    }

    fn apply(&mut self, p: &VmPatch, at: SystemTime) {
        let Some(vm) = self.vm_mut(p.host, &p.vm) else {
            return;
        };
        if let Some(e) = p.enabled_state {
            if vm.enabled_state != e {
                vm.state_changed = at;
            }
            vm.enabled_state = e;
        }
        if let Some(r) = vm.replication.as_mut() {
            if let Some(m) = p.mode {
                r.mode = m;
            }
            if let Some(st) = p.state {
                r.state = st;
            }
            if let Some(h) = p.health {
                r.health = h;
            }
            if let Some(f) = p.failed_over_type {
                r.failed_over_type = f;
            }
            if let Some(set) = &p.settings {
                r.settings = set.clone();
            }
            if let Some(t) = p.last_replication_time {
                r.last_replication_time = Some(t);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_job(
        &mut self,
        host: HostId,
        job_type: u16,
        caption: &str,
        vm: &str,
        now: SystemTime,
        at_start: Vec<VmPatch>,
        on_success: Vec<VmPatch>,
        failure: Option<JobFailure>,
        injection: &JobInjection,
    ) -> Epr {
        // The failure patches restore what the start patches changed.
        let on_failure: Vec<VmPatch> = at_start.iter().map(|p| self.restore_patch(p)).collect();
        for p in &at_start {
            self.apply(p, now);
        }
        let id = new_guid();
        let failure = injection.fail.clone().or(failure);
        self.jobs.push(Job {
            id: id.clone(),
            host,
            job_type,
            caption: caption.to_owned(),
            submitted: now,
            duration: self.config.job_duration,
            failure,
            affected_vm: Some(vm.to_owned()),
            completed_at: None,
            vanish_at: injection.vanish_after.map(|d| now + d),
            on_success,
            on_failure,
        });
        Epr::new(uri(JOB), SelectorSet::new().with("InstanceID", id))
    }

    fn restore_patch(&self, p: &VmPatch) -> VmPatch {
        let Some(vm) = self
            .hosts
            .get(p.host)
            .and_then(|h| h.vms.iter().find(|v| v.id.eq_ignore_ascii_case(&p.vm)))
        else {
            return VmPatch {
                host: p.host,
                vm: p.vm.clone(),
                ..VmPatch::default()
            };
        };
        let r = vm.replication.as_ref();
        VmPatch {
            host: p.host,
            vm: p.vm.clone(),
            enabled_state: p.enabled_state.map(|_| vm.enabled_state),
            mode: p.mode.and(r.map(|r| r.mode)),
            state: p.state.and(r.map(|r| r.state)),
            health: p.health.and(r.map(|r| r.health)),
            failed_over_type: p.failed_over_type.and(r.map(|r| r.failed_over_type)),
            settings: p.settings.as_ref().and(r.map(|r| r.settings.clone())),
            last_replication_time: None,
        }
    }

    /// The job with this InstanceID.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id.eq_ignore_ascii_case(id))
    }

    pub(super) fn job_object(&self, j: &Job, now: SystemTime) -> Object {
        let elapsed = now
            .duration_since(j.submitted)
            .unwrap_or_default()
            .min(j.duration);
        let (js, pc) = match (j.completed_at, &j.failure) {
            (Some(_), None) => (job_state::COMPLETED, 100u16),
            (Some(_), Some(_)) => (job_state::EXCEPTION, 100),
            (None, _) if elapsed * 10 < j.duration => (job_state::NEW, 0),
            (None, _) => {
                let pct = elapsed.as_millis() * 100 / j.duration.as_millis().max(1);
                (job_state::RUNNING, u16::try_from(pct.clamp(1, 99)).unwrap_or(99))
            }
        };
        let failed = j.completed_at.is_some() && j.failure.is_some();
        let (code, desc, status) = match (&j.failure, j.completed_at) {
            (Some(f), Some(_)) => (f.code, f.description.clone(), "Job failed"),
            (_, Some(_)) => (0, String::new(), "Job completed successfully"),
            _ => (0, String::new(), "Job is running"),
        };
        let i = Instance::new(JOB)
            .with("Cancellable", b(false))
            .with("Caption", s(j.caption.clone()))
            .with("CommunicationStatus", Value::Null)
            .with("DeleteOnCompletion", b(false))
            .with("Description", s(j.caption.clone()))
            .with(
                "ElapsedTime",
                Value::Scalar(Scalar::Datetime(clock::interval(elapsed))),
            )
            .with("ElementName", s(j.caption.clone()))
            .with("ErrorCode", u16v(code))
            .with(
                "ErrorDescription",
                if desc.is_empty() {
                    Value::Null
                } else {
                    s(desc.clone())
                },
            )
            .with(
                "ErrorSummaryDescription",
                if desc.is_empty() { Value::Null } else { s(desc) },
            )
            .with("HealthState", u16v(5))
            .with("InstanceID", s(j.id.clone()))
            .with("JobState", u16v(js))
            .with("JobStatus", s(status))
            .with("JobType", u16v(j.job_type))
            .with("LocalOrUtcTime", u16v(2))
            .with("Name", s(j.caption.clone()))
            .with(
                "OperationalStatus",
                Value::Array(vec![Scalar::Uint16(if failed { 6 } else { 2 })]),
            )
            .with("PercentComplete", u16v(pc))
            .with("Priority", Value::Scalar(Scalar::Uint32(0)))
            .with("StartTime", dt(Some(j.submitted)))
            .with("Status", s(if failed { "Error" } else { "OK" }))
            .with(
                "TimeBeforeRemoval",
                Value::Scalar(Scalar::Datetime(clock::interval(self.config.time_before_removal))),
            )
            .with(
                "TimeOfLastStateChange",
                dt(Some(j.completed_at.unwrap_or(j.submitted))),
            )
            .with("TimeSubmitted", dt(Some(j.submitted)));
        Object {
            instance: i,
            epr: Epr::new(uri(JOB), SelectorSet::new().with("InstanceID", j.id.clone())),
        }
    }

    pub(super) fn get_error(&self, job_id: &str, method: &str) -> Instance {
        let Some(j) = self.job(job_id) else {
            return output(method, rv::INVALID_STATE, None);
        };
        let errors: Vec<String> = match (&j.failure, j.completed_at) {
            (Some(f), Some(_)) => vec![msvm_error(j, f)],
            _ => Vec::new(),
        };
        let mut out = Instance::new(format!("{method}_OUTPUT"));
        if method == "GetError" {
            out.set("Error", errors.first().map_or(Value::Null, |e| s(e.clone())));
        } else {
            out.set(
                "Errors",
                Value::Array(errors.into_iter().map(Scalar::String).collect()),
            );
        }
        out.set("ReturnValue", u32v(rv::OK));
        out
    }
}

pub(super) fn visible(j: &Job, now: SystemTime) -> bool {
    j.vanish_at.is_none_or(|v| now < v)
}

/// The `Msvm_Error` CIM-XML text `GetErrorEx` returns for a failed job.
fn msvm_error(j: &Job, f: &JobFailure) -> String {
    let one = |name: &'static str, ty: &'static str, v: String| OutProperty {
        name,
        cim_type: ty,
        array: false,
        values: vec![v],
    };
    embedded::write(
        "Msvm_Error",
        &[
            one("CIMStatusCode", "uint32", "1".into()),
            one("ErrorSource", "string", j.affected_vm.clone().unwrap_or_default()),
            one("ErrorSourceFormat", "uint16", "0".into()),
            one("ErrorType", "uint16", "1".into()),
            one("Message", "string", f.description.clone()),
            OutProperty {
                name: "MessageArguments",
                cim_type: "string",
                array: true,
                values: vec![j.affected_vm.clone().unwrap_or_default()],
            },
            one("MessageID", "string", f.code.to_string()),
            one("OwningEntity", "string", "Microsoft-Windows-Hyper-V-VMMS".into()),
            one("PerceivedSeverity", "uint16", "3".into()),
            one("ProbableCause", "uint16", "0".into()),
        ],
    )
}
