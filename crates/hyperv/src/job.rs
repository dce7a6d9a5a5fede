//! Invoking methods exactly once and following the `Msvm_ConcreteJob` they start.
//!
//! # Poll schedule
//!
//! The first poll goes out as soon as the method returns 4096 (a short job is often done by
//! then). After that the job's own hints decide when to look again, so that the end of a job is
//! seen soon after it happens without polling a busy host all the time:
//!
//! * **estimate**: a running job with a `PercentComplete` p between 1 and 99 and an
//!   `ElapsedTime` e (`CIM_Job`: "the time interval that the Job has been executing"; our own
//!   time since the wait started when the host leaves it out) ends, if its progress is linear,
//!   between e x (99 - p) / (p + 1) (it was about to show p + 1) and e x (100 - p) / p (it had
//!   just reached p) from when the host read it. Both are counted from when the poll was sent,
//!   so the poll's round trip comes off the wait and over a slow link the next request reaches
//!   the host at the end, not one round trip later.
//! * **aim**: the next poll goes out at the latest end, never sooner than the floor
//!   ([`JobWaitOptions::min_delay`]) nor later than [`JobWaitOptions::max_delay`] after the
//!   reply. With linear progress it finds the job done, late by at most the rounding of one
//!   percent.
//! * **refine, once**: when that rounding leaves more than `min_delay` of doubt (a short job
//!   seen at a low percentage), one poll goes out where the job could end first, a round trip
//!   and the floor before it; its higher percentage narrows the aim.
//! * **no hint** (`PercentComplete` missing or 0, or no time to scale it by): exponential
//!   backoff from [`JobWaitOptions::initial_delay`], doubling up to `max_delay`.
//! * **missed**: a poll aimed at the latest end that finds the job still running (progress not
//!   linear) doubles the floor (up to `max_delay`), so a job whose progress stalls near the end
//!   (99% for minutes) is polled at most as often as the plain backoff would, never at the
//!   floor's rate.
//!
//! So a job costs about one poll per `max_delay` of its run plus three to five, and its end is
//! seen within the rounding of its progress plus one round trip. The estimate assumes progress
//! roughly linear in time; when it is not, the floor and the cap bound the cost of the error.

use std::time::Duration;

use serde::Serialize;
use wsman_soap::cimxml;
use wsman_soap::{CimDateTime, Instance, KnownFault, Limits, Scalar, SelectorSet, Value};

use crate::error::status_command;
use crate::model::{JobState, ReturnCode};
use crate::msvm::{class_uri, Job, MsvmError, CONCRETE_JOB};
use crate::transport::{TransportError, Wsman};
use crate::Error;

/// How to follow a job: when to poll (see the [poll schedule](crate::job#poll-schedule)) and an overall
/// timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobWaitOptions {
    /// First delay between polls while the job gives no hint of its remaining time (default
    /// 250 ms); it doubles while the job still gives none.
    pub initial_delay: Duration,
    /// Longest delay between polls (default 2 s).
    pub max_delay: Duration,
    /// Shortest delay between polls (default 50 ms), also the first delay after a poll aimed at
    /// the job's estimated end found it still running; it doubles at each such miss.
    pub min_delay: Duration,
    /// Give up (with [`Error::JobTimeout`]) after this long (default 30 min).
    pub timeout: Duration,
    /// Consecutive poll failures (timeouts, connection errors) tolerated before giving up
    /// (default 3). Polls are Gets, so retrying them is safe.
    pub max_poll_errors: u32,
}

impl Default for JobWaitOptions {
    fn default() -> Self {
        JobWaitOptions {
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            min_delay: Duration::from_millis(50),
            timeout: Duration::from_secs(30 * 60),
            max_poll_errors: 3,
        }
    }
}

/// When a running job should end, from one poll, counted from the poll's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Estimate {
    /// If its PercentComplete p was about to become p + 1.
    earliest: Duration,
    /// If it had only just reached p.
    latest: Duration,
}

impl Estimate {
    /// `ElapsedTime` (or `waited`, the time from the start of the wait to the poll, when the host
    /// gives none) scaled by the progress, rounded up to the millisecond, less `round_trip` (the
    /// time from sending the poll to its reply). `None` without a PercentComplete in 1..=99 or
    /// without time to scale.
    fn of(job: &Job, waited: Duration, round_trip: Duration) -> Option<Estimate> {
        let percent = u128::from(job.percent_complete.filter(|p| (1..100).contains(p))?);
        let ran = job
            .elapsed_time
            .as_ref()
            .and_then(CimDateTime::as_duration)
            .filter(|d| !d.is_zero())
            .unwrap_or(waited)
            .as_nanos();
        if ran == 0 {
            return None;
        }
        let scaled = |num: u128, den: u128| {
            let ms = (ran * num).div_ceil(den).div_ceil(1_000_000);
            Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)).saturating_sub(round_trip)
        };
        Some(Estimate {
            earliest: scaled(99 - percent, percent + 1),
            latest: scaled(100 - percent, percent),
        })
    }
}

/// The delays between polls of one job (see the [poll schedule](crate::job#poll-schedule)).
#[derive(Debug)]
struct Schedule {
    /// The next delay when the job gives no hint.
    backoff: Duration,
    /// The shortest delay now allowed: `min_delay`, doubled at each miss.
    floor: Duration,
    /// The last delay was aimed at the job's latest end.
    aimed: bool,
    /// The refining poll has been sent.
    refined: bool,
}

impl Schedule {
    fn new(wait: &JobWaitOptions) -> Schedule {
        Schedule {
            backoff: wait.initial_delay,
            floor: wait.min_delay,
            aimed: false,
            refined: false,
        }
    }

    /// The delay before the next poll of a job that is still running, given what its last poll
    /// said about its end and that poll's round trip.
    fn next(&mut self, wait: &JobWaitOptions, estimate: Option<Estimate>, round_trip: Duration) -> Duration {
        let cap = wait.max_delay.max(wait.min_delay);
        if self.aimed {
            self.floor = (self.floor * 2).min(cap);
        }
        self.aimed = false;
        let Some(e) = estimate else {
            let d = self.backoff.clamp(self.floor, cap);
            self.backoff = (self.backoff * 2).min(cap);
            return d;
        };
        // The refining poll must leave a round trip and the floor before the earliest end, so
        // that the poll after it can still be aimed.
        let lead = round_trip + self.floor;
        let doubt = e.latest.saturating_sub(e.earliest);
        if !self.refined && doubt > wait.min_delay && e.earliest >= lead + self.floor {
            let d = e.earliest - lead;
            if d > cap {
                return cap;
            }
            self.refined = true;
            return d;
        }
        let d = e.latest.clamp(self.floor, cap);
        self.aimed = e.latest <= d;
        d
    }
}

/// One observation of a job, passed to the progress callback after every poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobProgress {
    /// The job's `InstanceID`.
    pub job_id: String,
    /// Its `JobState`.
    pub state: JobState,
    /// `PercentComplete`.
    pub percent_complete: Option<u16>,
    /// `JobStatus` text.
    pub status: Option<String>,
    /// Time since the wait started.
    pub elapsed: Duration,
}

/// A progress callback: called after every poll of the job.
pub type Progress<'a> = &'a mut (dyn FnMut(&JobProgress) + Send);

/// Who a method call is about, for messages (`web01` on `hv02`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// VM name (or another object's name).
    pub vm: &'a str,
    /// The method.
    pub method: &'static str,
}

/// What a method call ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    /// The method's `ReturnValue`.
    pub return_code: ReturnCode,
    /// The job, when the method started one (ReturnValue 4096), as last read (Completed).
    pub job: Option<Job>,
    /// The full output instance.
    pub output: Instance,
}

/// Invokes `method` once and, on 4096, follows its job to the end.
///
/// Never re-sends the invoke: a lost reply is [`Error::OutcomeUnknown`] (also for a
/// `w:TimedOut` fault, as the provider may have started the work). ReturnValue 0 is done;
/// other values are [`Error::MethodFailed`] with the documented meaning.
pub async fn invoke_and_wait(
    w: &impl Wsman,
    resource_uri: &str,
    selectors: &SelectorSet,
    target: Target<'_>,
    params: &[(String, Value)],
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<MethodResult, Error> {
    let out = match w.invoke(resource_uri, selectors, target.method, params).await {
        Ok(out) => out,
        Err(TransportError::OutcomeUnknown { detail }) => {
            return Err(Error::OutcomeUnknown {
                method: target.method,
                vm: target.vm.to_owned(),
                host: w.host().to_owned(),
                job_id: None,
                detail: format!("no reply was received ({detail})"),
            })
        }
        Err(TransportError::Fault(f)) if f.is_timeout() => {
            return Err(Error::OutcomeUnknown {
                method: target.method,
                vm: target.vm.to_owned(),
                host: w.host().to_owned(),
                job_id: None,
                detail: format!("the host answered with a timeout fault ({})", f.summary()),
            })
        }
        Err(e) => {
            return Err(Error::from_transport(
                format!("Invoke {}", target.method),
                w.host(),
                e,
            ))
        }
    };
    let Some(rv) = out.return_value else {
        return Err(Error::Unexpected(format!(
            "{} returned no ReturnValue",
            target.method
        )));
    };
    let code = ReturnCode::from_value(rv);
    match code {
        ReturnCode::Completed => Ok(MethodResult {
            return_code: code,
            job: None,
            output: out.out,
        }),
        ReturnCode::JobStarted => {
            let Some(job_id) = out.job_instance_id().map(str::to_owned) else {
                return Err(Error::OutcomeUnknown {
                    method: target.method,
                    vm: target.vm.to_owned(),
                    host: w.host().to_owned(),
                    job_id: None,
                    detail: "the host started a job (4096) without naming it".into(),
                });
            };
            let job = follow(w, &job_id, Some(&target), wait, progress).await?;
            Ok(MethodResult {
                return_code: code,
                job: Some(job),
                output: out.out,
            })
        }
        code => Err(Error::MethodFailed {
            method: target.method,
            vm: target.vm.to_owned(),
            host: w.host().to_owned(),
            code,
        }),
    }
}

/// Follows a job by id until it ends: `Ok` on 7 Completed, [`Error::JobFailed`] (with the
/// `Msvm_Error`s from `GetErrorEx`) on 8..11, [`Error::JobTimeout`] after `wait.timeout`,
/// [`Error::JobDisappeared`] when the job object is gone. For `hvctl job wait`.
pub async fn wait_job(
    w: &impl Wsman,
    job_id: &str,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<Job, Error> {
    follow(w, job_id, None, wait, progress).await
}

/// Reads a job once, with its errors when it failed. For `hvctl job show`.
pub async fn show_job(w: &impl Wsman, job_id: &str) -> Result<JobReport, Error> {
    let job = match get_job(w, job_id).await? {
        Some(j) => j,
        None => return Err(disappeared(w, job_id, false, None)),
    };
    let errors = if job.state.is_failure() {
        job_errors(w, job_id).await
    } else {
        Vec::new()
    };
    Ok(JobReport {
        host: w.host().to_owned(),
        job,
        errors,
    })
}

/// A job as read by [`show_job`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReport {
    /// The host.
    pub host: String,
    /// The job.
    pub job: Job,
    /// Its `Msvm_Error`s (failed jobs only).
    pub errors: Vec<MsvmError>,
}

/// The `Msvm_Error`s of a job, from `Msvm_ConcreteJob.GetErrorEx` (embedded CIM-XML strings).
/// Best effort: a failing call gives an empty list (the job's own ErrorDescription remains).
pub async fn job_errors(w: &impl Wsman, job_id: &str) -> Vec<MsvmError> {
    let Ok(out) = w
        .invoke(
            &class_uri(CONCRETE_JOB),
            &Job::selectors(job_id),
            "GetErrorEx",
            &[],
        )
        .await
    else {
        return Vec::new();
    };
    embedded_instances(&out.out, &["Errors", "Error"])
        .iter()
        .map(MsvmError::from_instance)
        .collect()
}

/// The embedded instances in the output parameters `names` of a method: CIM-XML strings (one or
/// an array, unparsable ones skipped) or instances already parsed.
pub(crate) fn embedded_instances(out: &Instance, names: &[&str]) -> Vec<Instance> {
    let mut found = Vec::new();
    for v in names.iter().filter_map(|n| out.get(n)) {
        match v {
            Value::Array(items) => found.extend(items.iter().filter_map(parse_embedded)),
            Value::Scalar(s) => found.extend(parse_embedded(s)),
            Value::Instance(i) => found.push((**i).clone()),
            _ => {}
        }
    }
    found
}

fn parse_embedded(s: &Scalar) -> Option<Instance> {
    cimxml::parse_instance(s.as_str()?, &Limits::default()).ok()
}

async fn get_job(w: &impl Wsman, job_id: &str) -> Result<Option<Job>, Error> {
    match w.get(&class_uri(CONCRETE_JOB), &Job::selectors(job_id)).await {
        Ok(i) => Job::from_instance(&i).map(Some),
        Err(e)
            if e.fault().and_then(|f| f.known()).is_some_and(|k| {
                matches!(
                    k,
                    KnownFault::ResourceNotFound | KnownFault::WmiNotFound | KnownFault::InvalidSelectors
                )
            }) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::from_transport(
            format!("Get Msvm_ConcreteJob {job_id}"),
            w.host(),
            e,
        )),
    }
}

fn disappeared(w: &impl Wsman, job_id: &str, seen: bool, vm: Option<&str>) -> Error {
    let status = status_command(vm.unwrap_or("VM"), w.host());
    let hint = if seen {
        format!(
            "the host removes finished jobs after their TimeBeforeRemoval (5 minutes by default), so its \
             result is unknown; check the VM's state with `{status}`"
        )
    } else {
        format!(
            "check the job id, and that this is the host that started it; finished jobs are removed \
             after 5 minutes, so check the VM's state with `{status}`"
        )
    };
    Error::JobDisappeared {
        job_id: job_id.to_owned(),
        host: w.host().to_owned(),
        seen,
        hint,
    }
}

async fn follow(
    w: &impl Wsman,
    job_id: &str,
    target: Option<&Target<'_>>,
    wait: &JobWaitOptions,
    progress: Progress<'_>,
) -> Result<Job, Error> {
    let start = w.now();
    let mut schedule = Schedule::new(wait);
    let mut poll_errors = 0u32;
    let mut seen = false;
    let mut last: Option<(JobState, Option<u16>)> = None;
    loop {
        let sent = w.now();
        let reply = get_job(w, job_id).await;
        // The host read the state on the way: estimates count from the sending.
        let round_trip = w.now().saturating_duration_since(sent);
        let estimate = match reply {
            Ok(Some(job)) => {
                seen = true;
                poll_errors = 0;
                progress(&JobProgress {
                    job_id: job_id.to_owned(),
                    state: job.state,
                    percent_complete: job.percent_complete,
                    status: job.status.clone(),
                    elapsed: w.now().saturating_duration_since(start),
                });
                if job.state.is_success() {
                    return Ok(job);
                }
                if job.state.is_failure() {
                    let errors = job_errors(w, job_id).await;
                    return Err(Error::JobFailed {
                        job_id: job_id.to_owned(),
                        method: target.map_or("job", |t| t.method),
                        vm: target.map_or(String::new(), |t| t.vm.to_owned()),
                        state: job.state,
                        code: job.error_code.unwrap_or(0),
                        description: job.error_description.or(job.error_summary_description),
                        errors,
                    });
                }
                last = Some((job.state, job.percent_complete));
                Estimate::of(&job, sent.saturating_duration_since(start), round_trip)
            }
            Ok(None) => return Err(disappeared(w, job_id, seen, target.map(|t| t.vm))),
            Err(e) if is_transient(&e) && poll_errors < wait.max_poll_errors => {
                poll_errors += 1;
                None
            }
            // After our own invoke, a job we cannot follow means the outcome is unknown; when
            // following a job by id (`hvctl job wait`) the transport error stands as it is.
            Err(e) => match target {
                Some(t) if is_transient(&e) => {
                    return Err(Error::OutcomeUnknown {
                        method: t.method,
                        vm: t.vm.to_owned(),
                        host: w.host().to_owned(),
                        job_id: Some(job_id.to_owned()),
                        detail: format!("its job could not be followed ({e})"),
                    })
                }
                _ => return Err(e),
            },
        };
        let waited = w.now().saturating_duration_since(start);
        if waited >= wait.timeout {
            let (state, percent) = last.unwrap_or((JobState::New, None));
            return Err(Error::JobTimeout {
                job_id: job_id.to_owned(),
                host: w.host().to_owned(),
                state,
                percent,
                waited,
            });
        }
        let delay = schedule.next(wait, estimate, round_trip);
        w.sleep(delay.min(wait.timeout - waited)).await;
    }
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Transport { source, .. } => matches!(
            source,
            TransportError::Timeout(_)
                | TransportError::Connection(_)
                | TransportError::OutcomeUnknown { .. }
        ),
        Error::Fault { fault, .. } => fault.is_timeout(),
        _ => false,
    }
}
