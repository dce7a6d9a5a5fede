//! Job tracking: backoff, success, failure with GetErrorEx, disappearing jobs, timeouts.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperv::{ErrorClass, JobState, JobWaitOptions};
use support::*;
use wsman_soap::{Instance, Scalar, Value};

const JOB: &str = "0C1D2E3F-0000-4000-8000-0000000000AA";

/// A host whose job reads as each of `states` in turn (the last one repeats), whose GetErrorEx
/// answers `errors`, and that counts calls.
fn job_host(states: Vec<Instance>, errors: Option<Value>) -> Fake {
    let states = Arc::new(Mutex::new(states));
    Fake::new("hv02", move |call| match call {
        Call::Get { uri, selectors } if uri.ends_with("Msvm_ConcreteJob") => {
            assert_eq!(selectors.get("InstanceID"), Some(JOB));
            let mut st = states.lock().unwrap();
            let next = if st.len() > 1 { st.remove(0) } else { st[0].clone() };
            if next.class_name == "gone" {
                Reply::Err(not_found())
            } else {
                Reply::Instance(next)
            }
        }
        Call::Invoke {
            uri,
            selectors,
            method,
            params,
        } if method == "GetErrorEx" => {
            assert!(uri.ends_with("Msvm_ConcreteJob"));
            assert_eq!(selectors.get("InstanceID"), Some(JOB));
            assert!(params.is_empty());
            let mut out = output("GetErrorEx", 0, None);
            if let Some(e) = &errors {
                out.set("Errors", e.clone());
            }
            Reply::Output(out)
        }
        other => panic!("unexpected {other:?}"),
    })
}

fn failed(state: u16) -> Instance {
    job(JOB, state, 30)
        .with("ErrorCode", s("32768"))
        .with(
            "ErrorDescription",
            s("Hyper-V failed to enable reverse replication for 'web01'."),
        )
        .with("ErrorSummaryDescription", s("Reverse replication failed"))
}

const MSVM_ERROR: &str = r#"<INSTANCE CLASSNAME="Msvm_Error"><PROPERTY NAME="CIMStatusCode" TYPE="uint32"><VALUE>1</VALUE></PROPERTY><PROPERTY NAME="ErrorType" TYPE="uint16"><VALUE>4</VALUE></PROPERTY><PROPERTY NAME="Message" TYPE="string"><VALUE>Hyper-V cannot connect to the specified Replica server 'hv01.contoso.com'.</VALUE></PROPERTY><PROPERTY NAME="MessageID" TYPE="string"><VALUE>32000</VALUE></PROPERTY><PROPERTY.ARRAY NAME="MessageArguments" TYPE="string"><VALUE.ARRAY><VALUE>web01</VALUE><VALUE>hv01.contoso.com</VALUE></VALUE.ARRAY></PROPERTY.ARRAY><PROPERTY.ARRAY NAME="RecommendedActions" TYPE="string"><VALUE.ARRAY><VALUE>Check the Replica server name.</VALUE></VALUE.ARRAY></PROPERTY.ARRAY></INSTANCE>"#;

/// A host running one job of `duration` the way the simulator (and a job with linear progress)
/// does: New with 0% for the first tenth, then Running with PercentComplete = elapsed/duration
/// (truncated, 1..=99) and ElapsedTime = elapsed, Completed from `duration` on. Counts polls.
fn timed_job_host(duration: Duration) -> Fake {
    Fake::timed("hv02", move |call, now| match call {
        Call::Get { uri, selectors } if uri.ends_with("Msvm_ConcreteJob") => {
            assert_eq!(selectors.get("InstanceID"), Some(JOB));
            let ran = now.min(duration);
            let i = if now >= duration {
                job(JOB, 7, 100)
            } else if ran * 10 < duration {
                job(JOB, 2, 0)
            } else {
                let pct = (ran.as_millis() * 100 / duration.as_millis()).clamp(1, 99);
                job(JOB, 4, u16::try_from(pct).unwrap())
            };
            Reply::Instance(i.with(
                "ElapsedTime",
                Value::Scalar(Scalar::Datetime(wsman_soap::CimDateTime::interval(ran))),
            ))
        }
        other => panic!("unexpected {other:?}"),
    })
}

/// `hyperv::wait_job` of [`JOB`] with the default options and no progress output.
fn wait(fake: &Fake) -> Result<hyperv::Job, hyperv::Error> {
    block_on(hyperv::wait_job(
        fake,
        JOB,
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
}

fn polls(fake: &Fake) -> usize {
    fake.calls().len()
}

#[test]
fn without_progress_hints_polls_back_off_doubling_capped_and_report_progress() {
    let fake = job_host(
        vec![
            job(JOB, 2, 0),
            job(JOB, 3, 0),
            job(JOB, 4, 0),
            job(JOB, 4, 0),
            job(JOB, 6, 0),
            job(JOB, 4, 0),
            job(JOB, 7, 100),
        ],
        None,
    );
    let mut seen = Vec::new();
    let j = block_on(hyperv::wait_job(
        &fake,
        JOB,
        &JobWaitOptions::default(),
        &mut |p| seen.push((p.state, p.percent_complete, p.elapsed)),
    ))
    .unwrap();
    assert_eq!(j.state, JobState::Completed);
    assert_eq!(j.job_type_name, Some("Reverse Replication"));
    let ms = Duration::from_millis;
    assert_eq!(
        fake.sleeps(),
        [ms(250), ms(500), ms(1000), ms(2000), ms(2000), ms(2000)]
    );
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0], (JobState::New, Some(0), Duration::ZERO));
    assert_eq!(seen[6], (JobState::Completed, Some(100), ms(7750)));
    assert!(fake.invokes("GetErrorEx").is_empty());
}

/// A 3 s job: no hint at 0 ms and 250 ms (New, 0%), then at 750 ms 25% puts the end between
/// 2,135 and 2,250 ms later (the wait capped at 2 s), at 2,750 ms 91% between 240 and 272 ms
/// later: the poll aimed at the latest end sees it 22 ms after it, in five polls, where the
/// plain backoff (250, 500, 1000, 2000 ms) needed five polls too but saw it at 3,750 ms, 750 ms
/// late.
#[test]
fn a_job_with_progress_is_polled_near_its_estimated_end() {
    let fake = timed_job_host(Duration::from_secs(3));
    let j = wait(&fake).unwrap();
    assert_eq!(j.state, JobState::Completed);
    let ms = Duration::from_millis;
    assert_eq!(fake.sleeps(), [ms(250), ms(500), ms(2000), ms(272)]);
    assert_eq!(polls(&fake), 5);
    assert_eq!(fake.elapsed(), ms(3022));
}

/// A 1.5 s job seen at 16% after 250 ms could end anywhere from 1,221 to 1,313 ms later: one
/// refining poll where it could end first (less the 50 ms floor) reads 94%, which puts the end
/// 91 ms later: seen 12 ms after it, where aiming at 1,313 ms would have been 63 ms late.
#[test]
fn a_short_job_seen_at_a_low_percentage_is_refined_once() {
    let fake = timed_job_host(Duration::from_millis(1500));
    wait(&fake).unwrap();
    let ms = Duration::from_millis;
    assert_eq!(fake.sleeps(), [ms(250), ms(1171), ms(91)]);
    assert_eq!(polls(&fake), 4);
    assert_eq!(fake.elapsed(), ms(1512));
}

/// The 3 s job over a 30 ms round trip per request (the WAN of the benchmarks): the host reads
/// the state when a poll arrives, and the reply takes the round trip, which the wait takes off.
/// Polls read the job at 0 and 280 ms (New), 810 ms (27%: the end 2,053 to 2,160 ms after the
/// reply, so the refining poll 1,973 ms after it, a round trip and the floor early), 2,813 ms
/// (93%: 182 ms after the reply) and 3,025 ms (done); the last reply is back at 3,055 ms, 55 ms
/// after the end (goal: 150 ms).
#[test]
fn over_a_slow_link_the_end_is_seen_within_150_ms() {
    let fake = timed_job_host(Duration::from_secs(3)).with_round_trip(Duration::from_millis(30));
    wait(&fake).unwrap();
    let ms = Duration::from_millis;
    assert_eq!(fake.sleeps(), [ms(250), ms(500), ms(1973), ms(182)]);
    assert_eq!(polls(&fake), 5);
    assert_eq!(fake.elapsed(), ms(3055));
    assert!(fake.elapsed() - ms(3000) <= ms(150));
}

/// A job whose progress stalls at 99% for 20 s: each poll aimed at its "end" finds it running,
/// so the floor doubles (50, 100, 200 ... ms) up to the 2 s cap instead of polling every 50 ms.
#[test]
fn a_job_stalled_near_its_end_is_not_hammered() {
    let fake = Fake::timed("hv02", |call, now| match call {
        Call::Get { .. } if now >= Duration::from_secs(20) => Reply::Instance(job(JOB, 7, 100)),
        Call::Get { .. } => Reply::Instance(job(JOB, 4, 99).with(
            "ElapsedTime",
            Value::Scalar(Scalar::Datetime(wsman_soap::CimDateTime::interval(now))),
        )),
        other => panic!("unexpected {other:?}"),
    });
    wait(&fake).unwrap();
    let ms = Duration::from_millis;
    let mut expected = vec![ms(250), ms(50), ms(100), ms(200), ms(400), ms(800), ms(1600)];
    expected.extend([ms(2000); 9]);
    assert_eq!(fake.sleeps(), expected);
    assert_eq!(polls(&fake), 17);
    assert_eq!(fake.elapsed(), ms(21_400));
}

/// Without ElapsedTime the estimate scales PercentComplete by the time since the wait began.
#[test]
fn without_elapsed_time_the_estimate_uses_the_time_waited() {
    let fake = job_host(vec![job(JOB, 4, 0), job(JOB, 4, 40), job(JOB, 7, 100)], None);
    wait(&fake).unwrap();
    let ms = Duration::from_millis;
    // 40% after 250 ms waited: the end 360 to 375 ms later.
    assert_eq!(fake.sleeps(), [ms(250), ms(375)]);
}

#[test]
fn backoff_is_configurable() {
    let fake = job_host(
        vec![job(JOB, 4, 0), job(JOB, 4, 0), job(JOB, 4, 0), job(JOB, 7, 100)],
        None,
    );
    let opts = JobWaitOptions {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        ..JobWaitOptions::default()
    };
    block_on(hyperv::wait_job(&fake, JOB, &opts, &mut quiet())).unwrap();
    let ms = Duration::from_millis;
    assert_eq!(fake.sleeps(), [ms(100), ms(200), ms(300)]);
}

#[test]
fn every_failed_job_state_is_job_failed_with_geterrorex_errors() {
    for state in [8u16, 9, 10, 11] {
        let errors = Value::Array(vec![Scalar::String(MSVM_ERROR.into())]);
        let fake = job_host(vec![job(JOB, 4, 10), failed(state)], Some(errors));
        let e = wait(&fake).unwrap_err();
        let hyperv::Error::JobFailed {
            ref job_id,
            state: st,
            code,
            ref description,
            ref errors,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(job_id, JOB);
        assert_eq!(st, JobState::from_value(state));
        assert_eq!(code, 32768);
        assert_eq!(
            description.as_deref(),
            Some("Hyper-V failed to enable reverse replication for 'web01'.")
        );
        assert_eq!(errors.len(), 1);
        let err = &errors[0];
        assert_eq!(
            err.message.as_deref(),
            Some("Hyper-V cannot connect to the specified Replica server 'hv01.contoso.com'.")
        );
        assert_eq!(err.message_id.as_deref(), Some("32000"));
        assert_eq!(err.message_arguments, ["web01", "hv01.contoso.com"]);
        assert_eq!(err.cim_status_code, Some(1));
        assert_eq!(err.error_type, Some(4));
        assert_eq!(err.recommended_actions, ["Check the Replica server name."]);
        assert_eq!(e.class(), ErrorClass::JobFailed);
        assert_eq!(e.exit_code(), 6);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "job {JOB} ended {}: error 32768",
                JobState::from_value(state)
            )),
            "{msg}"
        );
        assert!(
            msg.contains("cannot connect to the specified Replica server"),
            "{msg}"
        );
        assert_eq!(fake.invokes("GetErrorEx").len(), 1);
    }
}

#[test]
fn a_failed_job_in_the_workflow_names_method_and_vm() {
    const GUID: &str = "11111111-2222-3333-4444-555555555555";
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(GUID, "web01", 2, 5, 3)])),
        Call::Get { .. } => Reply::Instance(failed(10)),
        Call::Invoke { method, .. } if method == "CommitFailover" => {
            Reply::Output(output(method, 4096, Some(JOB)))
        }
        // GetErrorEx fails: the job's own description still makes the error.
        Call::Invoke { .. } => Reply::Err(fault(0x8004_1008, "InvalidParameter")),
    });
    let e = block_on(hyperv::commit_failover(
        &fake,
        &hyperv::VmRef::parse("web01"),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "job {JOB} (CommitFailover on web01) ended Exception: error 32768: Hyper-V failed to enable reverse \
             replication for 'web01'."
        )
    );
}

#[test]
fn a_single_error_string_or_embedded_instance_is_read_too() {
    let fake = job_host(
        vec![failed(10)],
        Some(Value::Scalar(Scalar::String(MSVM_ERROR.into()))),
    );
    let errs = block_on(hyperv::job_errors(&fake, JOB));
    assert_eq!(errs.len(), 1);
    let inst = wsman_soap::cimxml::parse_instance(MSVM_ERROR, &wsman_soap::Limits::default()).unwrap();
    let fake = job_host(vec![failed(10)], Some(Value::Instance(Box::new(inst))));
    let errs = block_on(hyperv::job_errors(&fake, JOB));
    assert_eq!(errs[0].message_arguments, ["web01", "hv01.contoso.com"]);
}

#[test]
fn a_job_that_disappears_is_a_clear_error() {
    let fake = job_host(vec![job(JOB, 4, 20), Instance::new("gone")], None);
    let e = wait(&fake).unwrap_err();
    assert!(
        matches!(e, hyperv::Error::JobDisappeared { seen: true, .. }),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "job {JOB} disappeared on hv02: the host removes finished jobs"
        )),
        "{msg}"
    );
    assert!(msg.contains("hvctl replication status"), "{msg}");

    // Never seen: `hvctl job wait` with a wrong or expired id.
    let fake = job_host(vec![Instance::new("gone")], None);
    let e = wait(&fake).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("job {JOB} does not exist on hv02: check the job id")),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::NotFound);
    let e = block_on(hyperv::show_job(&fake, JOB)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
}

#[test]
fn a_suspended_job_is_reported_and_times_out_with_advice() {
    let fake = job_host(vec![job(JOB, 4, 10), job(JOB, 5, 60)], None);
    let opts = JobWaitOptions {
        timeout: Duration::from_secs(10),
        ..JobWaitOptions::default()
    };
    let mut states = Vec::new();
    let e = block_on(hyperv::wait_job(&fake, JOB, &opts, &mut |p| states.push(p.state))).unwrap_err();
    assert!(states.contains(&JobState::Suspended));
    let hyperv::Error::JobTimeout {
        state,
        percent,
        waited,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*state, JobState::Suspended);
    assert_eq!(*percent, Some(60));
    assert_eq!(
        *waited,
        Duration::from_secs(10),
        "the last sleep is cut to the deadline"
    );
    let total: Duration = fake.sleeps().iter().sum();
    assert_eq!(total, Duration::from_secs(10));
    let msg = e.to_string();
    assert!(msg.contains("was still Suspended (60%) after 10s"), "{msg}");
    assert!(
        msg.contains(&format!("`hvctl job wait {JOB} --host hv02`")),
        "{msg}"
    );
    assert!(msg.contains("it is suspended and needs to be resumed"), "{msg}");
    assert_eq!(e.class(), ErrorClass::Connection);
}

#[test]
fn transient_poll_errors_are_retried() {
    let n = Arc::new(Mutex::new(0));
    let n2 = n.clone();
    let fake = Fake::new("hv02", move |_| {
        let mut n = n2.lock().unwrap();
        *n += 1;
        match *n {
            1 => Reply::Instance(job(JOB, 4, 10)),
            2 | 3 => Reply::Err(hyperv::TransportError::Timeout("no reply in 60 s".into())),
            _ => Reply::Instance(job(JOB, 7, 100)),
        }
    });
    let j = wait(&fake).unwrap();
    assert_eq!(j.state, JobState::Completed);
    assert_eq!(*n.lock().unwrap(), 4);

    // By id (job wait), persistent failures stay transport errors.
    let fake = Fake::new("hv02", |_| {
        Reply::Err(hyperv::TransportError::Connection("refused".into()))
    });
    let e = wait(&fake).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Connection);
    assert_eq!(fake.calls().len(), 4);
}

#[test]
fn show_job_reads_once_and_adds_errors_for_failed_jobs() {
    let fake = job_host(vec![job(JOB, 4, 42)], None);
    let r = block_on(hyperv::show_job(&fake, JOB)).unwrap();
    assert_eq!(r.job.percent_complete, Some(42));
    assert!(r.errors.is_empty());
    assert_eq!(fake.calls().len(), 1);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["job"]["state"], "Running");
    assert_eq!(json["job"]["percent_complete"], 42);

    let fake = job_host(
        vec![failed(10)],
        Some(Value::Array(vec![Scalar::String(MSVM_ERROR.into())])),
    );
    let r = block_on(hyperv::show_job(&fake, JOB)).unwrap();
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.job.error_code, Some(32768));
}

#[test]
fn a_job_vanishing_mid_workflow_names_the_vm_in_the_check_command() {
    const GUID: &str = "11111111-2222-3333-4444-555555555555";
    let polls = Arc::new(Mutex::new(0));
    let p2 = polls.clone();
    let fake = Fake::new("hv02", move |call| match call {
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(GUID, "web 01", 2, 5, 3)])),
        Call::Get { .. } => {
            let mut n = p2.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Reply::Instance(job(JOB, 4, 50))
            } else {
                Reply::Err(not_found())
            }
        }
        Call::Invoke { method, .. } => Reply::Output(output(method, 4096, Some(JOB))),
    });
    let e = block_on(hyperv::commit_failover(
        &fake,
        &hyperv::VmRef::parse("web 01"),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    assert!(
        e.to_string()
            .contains("`hvctl replication status 'web 01' --host hv02`"),
        "{e}"
    );
    assert_eq!(fake.invokes("CommitFailover").len(), 1);
}

#[test]
fn a_lost_reply_to_a_read_is_a_connection_error() {
    let fake = Fake::new("hv02", |_| {
        Reply::Err(hyperv::TransportError::OutcomeUnknown {
            detail: "reset".into(),
        })
    });
    let e = block_on(hyperv::list_vms(&fake)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Connection);
    assert_eq!(e.exit_code(), 7);
}
