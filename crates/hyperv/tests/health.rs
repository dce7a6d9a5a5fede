//! Replication health and control against the in-memory fake: `measure` reads the statistics
//! whether the host answers at once (0) or with a job (4096), sends the relationship embedded and
//! typed from its MOF, and treats a lost reply as a connection failure (it is a read);
//! `suspend` / `resume` / `resync` explain a wrong state before sending anything.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv::health::{preflight_resume, preflight_resync, preflight_suspend};
use hyperv::{ErrorClass, JobWaitOptions, TransportError, Vm};
use support::{block_on, job, output, quiet, s, service_items, uri, vm, Call, Fake, Reply};
use wsman_soap::{Instance, Scalar, Value};

const GUID: &str = "3F6B1D2A-5C4E-4B7A-9D1F-0A2B3C4D5E6F";

fn the_vm(mode: u16, state: u16) -> Vm {
    Vm::from_instance(&vm(GUID, "web01", mode, state, 2)).unwrap()
}

/// The primary relationship as a host returns it (untyped, as read).
fn relationship() -> Instance {
    Instance::new("Msvm_ReplicationRelationship")
        .with("Caption", s("Replication Relationship"))
        .with("ElementName", s("web01"))
        .with("FailedOverReplicationType", s("0"))
        .with("InstanceID", s(&format!("Microsoft:{GUID}\\HVR\\0")))
        .with("LastReplicationTime", support::dt("2026-11-25T09:00:00Z"))
        .with("ReplicationHealth", s("2"))
        .with("ReplicationState", s("7"))
        .with("SomethingNewer", s("x"))
}

const STATS: &str = r#"<INSTANCE CLASSNAME="Msvm_ReplicationStatistics"><PROPERTY NAME="StartStatisticTime" TYPE="datetime"><VALUE>20261125080000.000000+000</VALUE></PROPERTY><PROPERTY NAME="ReplicationSuccessCount" TYPE="uint32"><VALUE>4</VALUE></PROPERTY><PROPERTY NAME="ReplicationSize" TYPE="uint64"><VALUE>40000000</VALUE></PROPERTY><PROPERTY NAME="MaxReplicationSize" TYPE="uint64"><VALUE>16000000</VALUE></PROPERTY><PROPERTY NAME="ReplicationLatency" TYPE="uint32"><VALUE>12</VALUE></PROPERTY><PROPERTY NAME="ReplicationFailureCount" TYPE="uint32"><VALUE>1</VALUE></PROPERTY><PROPERTY NAME="ReplicationHealth" TYPE="uint32"><VALUE>2</VALUE></PROPERTY><PROPERTY NAME="LastTestFailoverTime" TYPE="datetime"></PROPERTY></INSTANCE>"#;
const ISSUE: &str = r#"<INSTANCE CLASSNAME="Msvm_Error"><PROPERTY NAME="Message" TYPE="string"><VALUE>Replication is suspended for virtual machine 'web01'.</VALUE></PROPERTY><PROPERTY NAME="MessageID" TYPE="string"><VALUE>32546</VALUE></PROPERTY><PROPERTY NAME="PerceivedSeverity" TYPE="uint16"><VALUE>3</VALUE></PROPERTY></INSTANCE>"#;

/// A host that answers the statistics with `rv` (and a job that is complete at once for 4096).
fn host(rv: u32) -> Fake {
    Fake::new("hv01", move |call| match call {
        Call::Get { uri: u, .. } if u == &uri("Msvm_ReplicationRelationship") => {
            Reply::Instance(relationship())
        }
        Call::Get { uri: u, .. } if u == &uri("Msvm_ConcreteJob") => Reply::Instance(job("J1", 7, 100)),
        Call::Enumerate { .. } => Reply::Items(service_items("hv01")),
        Call::Invoke { method, .. } if method == "GetReplicationStatisticsEx" => {
            let mut out = output(method, rv, (rv == 4096).then_some("J1"));
            out.set(
                "ReplicationStatistics",
                Value::Array(vec![Scalar::String(STATS.into())]),
            );
            out.set(
                "ReplicationHealthIssues",
                Value::Array(vec![Scalar::String(ISSUE.into())]),
            );
            Reply::Output(out)
        }
        other => panic!("unexpected {other:?}"),
    })
}

fn measure(w: &Fake, vm: &Vm) -> Result<hyperv::MeasureReport, hyperv::Error> {
    let mut cb = quiet();
    block_on(hyperv::measure_replication(
        w,
        vm,
        &JobWaitOptions::default(),
        &mut cb,
    ))
}

#[test]
fn measure_reads_the_statistics_at_once_or_after_a_job() {
    let vm = the_vm(1, 7);
    for rv in [0, 4096] {
        let w = host(rv);
        let rep = measure(&w, &vm).unwrap();
        let st = rep.statistics.as_ref().unwrap();
        assert_eq!(st.replication_success_count, Some(4));
        assert_eq!(st.replication_size, Some(40_000_000));
        assert_eq!(st.average_replication_size, Some(10_000_000));
        assert_eq!(st.max_replication_size, Some(16_000_000));
        assert_eq!(st.replication_latency, Some(12));
        assert_eq!(st.replication_failure_count, Some(1));
        assert_eq!(st.replication_miss_count, None, "absent stays absent");
        assert_eq!(st.last_test_failover_time, None);
        assert_eq!(rep.replication_health.name(), "Warning");
        assert_eq!(rep.ps_replication_state.name(), "Suspended");
        assert_eq!(rep.health_issues.len(), 1);
        assert_eq!(rep.health_issues[0].message_id.as_deref(), Some("32546"));
        assert_eq!(rep.health_issues[0].perceived_severity, Some(3));
        assert_eq!(rep.job_id.as_deref(), (rv == 4096).then_some("J1"));
        let polls = w
            .summaries()
            .iter()
            .filter(|c| *c == "Get Msvm_ConcreteJob")
            .count();
        assert_eq!(
            polls,
            usize::from(rv == 4096),
            "the job is followed only for 4096"
        );
        // The relationship goes embedded, typed from its MOF, the unknown property left out.
        let Call::Invoke { params, .. } = &w.invokes("GetReplicationStatisticsEx")[0] else {
            unreachable!()
        };
        let rel = params
            .iter()
            .find(|(n, _)| n == "ReplicationRelationship")
            .map(|(_, v)| v)
            .unwrap();
        let Value::Instance(rel) = rel else {
            panic!("{rel:?}")
        };
        assert_eq!(
            rel.get("ReplicationState"),
            Some(&Value::Scalar(Scalar::Uint16(7)))
        );
        assert!(rel.get("SomethingNewer").is_none());
        assert!(matches!(params[0].1, Value::Reference(_)));
    }
}

#[test]
fn measure_of_a_lost_reply_is_a_connection_failure_and_a_refusal_is_reported() {
    let vm = the_vm(1, 3);
    let w = Fake::new("hv01", |call| match call {
        Call::Get { .. } => Reply::Instance(relationship()),
        Call::Enumerate { .. } => Reply::Items(service_items("hv01")),
        Call::Invoke { .. } => Reply::Err(TransportError::OutcomeUnknown {
            detail: "connection reset".into(),
        }),
    });
    let e = measure(&w, &vm).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Connection, "{e}");
    assert!(!e.to_string().contains("outcome unknown"), "{e}");
    let e = measure(&host(32775), &vm).unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidState, "{e}");
    assert!(e.to_string().contains("GetReplicationStatisticsEx"), "{e}");
    // Not replicated: explained, nothing sent.
    let w = host(0);
    let e = measure(&w, &the_vm(0, 0)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidState);
    assert!(w.calls().is_empty());
}

#[test]
fn preflights_name_the_state_and_what_to_run() {
    // Suspend: Replicating or Resynchronizing.
    assert!(preflight_suspend(&the_vm(1, 3), "hv01").is_ok());
    assert!(preflight_suspend(&the_vm(2, 10), "hv02").is_ok());
    let e = preflight_suspend(&the_vm(1, 7), "hv01").unwrap_err().to_string();
    assert!(
        e.contains("already Suspended") && e.contains("hvctl replication resume web01"),
        "{e}"
    );
    let e = preflight_suspend(&the_vm(0, 0), "hv01").unwrap_err().to_string();
    assert!(e.contains("not replicated"), "{e}");
    let e = preflight_suspend(&the_vm(2, 5), "hv02").unwrap_err().to_string();
    assert!(e.contains("FailedOverWaitingCompletion"), "{e}");
    // Resume: 3 from Suspended, 15 from UpdateError (16); resync required is named.
    assert_eq!(preflight_resume(&the_vm(1, 7), "hv01").unwrap(), 3);
    assert_eq!(preflight_resume(&the_vm(2, 16), "hv02").unwrap(), 15);
    let e = preflight_resume(&the_vm(1, 11), "hv01").unwrap_err().to_string();
    assert!(
        e.contains("ResynchronizeSuspended") && e.contains("replication resync"),
        "{e}"
    );
    let e = preflight_resume(&the_vm(1, 3), "hv01").unwrap_err().to_string();
    assert!(e.contains("already Replicating"), "{e}");
    // Resync: the primary, in state 11.
    assert!(preflight_resync(&the_vm(1, 11), "hv01").is_ok());
    let e = preflight_resync(&the_vm(2, 11), "hv02").unwrap_err().to_string();
    assert!(e.contains("a replica") && e.contains("primary host"), "{e}");
    let e = preflight_resync(&the_vm(1, 7), "hv01").unwrap_err().to_string();
    assert!(e.contains("Suspended") && e.contains("replication resume"), "{e}");
    let e = preflight_resync(&the_vm(1, 3), "hv01").unwrap_err().to_string();
    assert!(e.contains("Replicating"), "{e}");
}
