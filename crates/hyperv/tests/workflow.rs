//! The operations against the in-memory fake: exact calls in order, the parameters sent,
//! preflight explanations, and the never-resend rule.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperv::{
    ErrorClass, JobWaitOptions, Operation, ReplicationAuth, ReturnCode, ReverseOptions, TransportError, VmRef,
};
use support::*;
use wsman_soap::cimxml;
use wsman_soap::{CimType, Filter, Limits, Scalar, Value};

const GUID: &str = "5A1F0E22-9C3B-4D7E-8F10-2B3C4D5E6F70";
const JOB: &str = "3A7C1B2D-0000-4000-8000-000000000001";

/// A replica host `hv02` with one failed-over VM `web01` (mode Replica, state `state`, off),
/// whose reverse job runs 0 -> 40 -> 100 %, after which the VM reads back as Primary/Replicating.
struct Host {
    state: u16,
    mode: u16,
    enabled: u16,
    job_polls: Vec<(u16, u16)>,
    reversed: bool,
}

fn replica_host(state: u16) -> (Fake, Arc<Mutex<Host>>) {
    let h = Arc::new(Mutex::new(Host {
        state,
        mode: 2,
        enabled: 3,
        job_polls: vec![(4, 0), (4, 40), (7, 100)],
        reversed: false,
    }));
    let hh = h.clone();
    let fake = Fake::new("hv02", move |call| {
        let mut h = hh.lock().unwrap();
        match call {
            Call::Enumerate { request, .. } if matches!(request.filter, Some(Filter::Wql(_))) => {
                Reply::Items(items(vec![vm(GUID, "web01", h.mode, h.state, h.enabled)]))
            }
            Call::Enumerate { uri, .. } if uri.ends_with("Msvm_ReplicationService") => {
                Reply::Items(service_items("hv02"))
            }
            Call::Get { uri, .. } if uri.ends_with("Msvm_ComputerSystem") => {
                Reply::Instance(vm(GUID, "web01", h.mode, h.state, h.enabled))
            }
            Call::Get { uri, .. } if uri.ends_with("Msvm_ReplicationSettingData") => {
                Reply::Instance(rsd(GUID))
            }
            Call::Get { uri, .. } if uri.ends_with("Msvm_ConcreteJob") => {
                let (st, pct) = if h.job_polls.len() > 1 {
                    h.job_polls.remove(0)
                } else {
                    h.job_polls[0]
                };
                if st == 7 && !h.reversed {
                    h.reversed = true;
                    h.mode = 1;
                    h.state = 3;
                }
                Reply::Instance(job(JOB, st, pct))
            }
            Call::Invoke { method, .. } if method == "ReverseReplicationRelationship" => {
                Reply::Output(output(method, 4096, Some(JOB)))
            }
            other => panic!("unexpected call {other:?}"),
        }
    });
    (fake, h)
}

fn web01() -> VmRef {
    VmRef::parse("web01")
}

#[test]
fn reverse_issues_exactly_the_documented_calls_in_order() {
    let (fake, _) = replica_host(5);
    let mut seen = Vec::new();
    let mut progress = |p: &hyperv::JobProgress| seen.push((p.state, p.percent_complete));
    let report = block_on(hyperv::reverse_replication(
        &fake,
        &web01(),
        &ReverseOptions::default(),
        &JobWaitOptions::default(),
        &mut progress,
    ))
    .unwrap();
    assert_eq!(
        fake.summaries(),
        [
            "Enumerate *",                                                   // 1. find the VM (WQL)
            "Get Msvm_ReplicationSettingData",                               // 3. its RSD
            "Enumerate Msvm_ReplicationService",                             // the service EPR
            "Invoke Msvm_ReplicationService.ReverseReplicationRelationship", // 5.
            "Get Msvm_ConcreteJob",                                          // 6. poll
            "Get Msvm_ConcreteJob",
            "Get Msvm_ConcreteJob",
            "Get Msvm_ComputerSystem", // 7. read back
        ]
    );
    // As many sleeps as non-final polls: 250 ms while the job gives no hint (0%), then aimed
    // at its latest end (40% after 250 ms: 375 ms more).
    assert_eq!(
        fake.sleeps(),
        [Duration::from_millis(250), Duration::from_millis(375)]
    );
    assert_eq!(
        seen,
        [
            (hyperv::JobState::Running, Some(0)),
            (hyperv::JobState::Running, Some(40)),
            (hyperv::JobState::Completed, Some(100))
        ]
    );

    assert_eq!(report.operation, Operation::ReverseReplication);
    assert_eq!(report.vm, "web01");
    assert_eq!(report.guid, GUID);
    assert_eq!(report.host, "hv02");
    assert_eq!(report.job_id.as_deref(), Some(JOB));
    assert_eq!(report.return_code, Some(ReturnCode::JobStarted));
    assert_eq!(
        report.before.ps_replication_state.name(),
        "FailedOverWaitingCompletion"
    );
    assert_eq!(report.after.ps_replication_state.name(), "Replicating");
    assert_eq!(report.after.replication_mode, hyperv::ReplicationMode::Primary);
    assert_eq!(report.duration, Duration::from_millis(625));
    let rev = report.reverse.as_ref().unwrap();
    assert_eq!(rev.recovery_connection_point, "hv01.contoso.com");
    assert_eq!(
        rev.previous_recovery_connection_point.as_deref(),
        Some("hv02.contoso.com")
    );
    assert_eq!(rev.port, 80);
    assert_eq!(rev.authentication, ReplicationAuth::Kerberos);

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["operation"], "reverse_replication");
    assert_eq!(json["after"]["ps_replication_state"], "Replicating");
    assert_eq!(json["before"]["replication_state"], "Recovered");
    assert_eq!(json["return_code"], 4096);
    assert_eq!(json["duration_ms"], 625);
}

#[test]
fn reverse_sends_the_vm_ref_and_the_whole_rsd_with_the_swap_and_real_types() {
    let (fake, _) = replica_host(6);
    block_on(hyperv::reverse_replication(
        &fake,
        &web01(),
        &ReverseOptions::default(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let invokes = fake.invokes("ReverseReplicationRelationship");
    assert_eq!(invokes.len(), 1);
    let Call::Invoke {
        uri,
        selectors,
        params,
        ..
    } = &invokes[0]
    else {
        unreachable!()
    };
    assert_eq!(uri, &uri_of("Msvm_ReplicationService"));
    assert_eq!(selectors.get("Name"), Some("replicasvc"));
    assert_eq!(selectors.get("SystemName"), Some("HV02"));
    assert_eq!(selectors.len(), 4, "reuses the selectors Windows handed out");

    // MOF order: ComputerSystem, then ReplicationSettingData.
    assert_eq!(
        params.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["ComputerSystem", "ReplicationSettingData"]
    );
    let Value::Reference(epr) = &params[0].1 else {
        panic!("ComputerSystem is not a REF: {:?}", params[0].1)
    };
    assert_eq!(epr.resource_uri, uri_of("Msvm_ComputerSystem"));
    assert_eq!(
        epr.selectors.iter().collect::<Vec<_>>(),
        [("CreationClassName", "Msvm_ComputerSystem"), ("Name", GUID)]
    );

    let Value::Instance(sent) = &params[1].1 else {
        panic!("RSD is not an embedded instance")
    };
    // Serialise as the transport will, then parse the CIM-XML back.
    let text = cimxml::write_instance(sent).unwrap();
    assert!(
        text.contains("<VALUE>00000000183000.000000:000</VALUE>"),
        "interval in DMTF form: {text}"
    );
    assert!(
        text.contains("<VALUE>20261001080000.000000+000</VALUE>"),
        "timestamp in DMTF form: {text}"
    );
    let back = cimxml::parse_instance(&text, &Limits::default()).unwrap();
    assert_eq!(back.class_name, "Msvm_ReplicationSettingData");
    let scalar = |n: &str| back.get(n).and_then(Value::as_scalar).cloned().unwrap();
    assert_eq!(
        scalar("RecoveryConnectionPoint"),
        Scalar::String("hv01.contoso.com".into())
    );
    assert_eq!(
        scalar("PrimaryConnectionPoint"),
        Scalar::String("hv01.contoso.com".into())
    );
    assert_eq!(
        scalar("InstanceID"),
        Scalar::String(format!("Microsoft:{GUID}\\HVR\\0"))
    );
    assert_eq!(scalar("RecoveryServerPortNumber"), Scalar::Uint16(80));
    assert_eq!(scalar("AuthenticationType"), Scalar::Uint16(1));
    assert_eq!(scalar("ReplicationInterval"), Scalar::Uint16(300));
    assert_eq!(scalar("CompressionEnabled"), Scalar::Boolean(true));
    assert_eq!(
        scalar("AutoResynchronizeIntervalStart").cim_type(),
        CimType::Datetime
    );
    assert_eq!(
        back.get("IncludedDisks"),
        Some(&Value::Array(vec![
            Scalar::String("disk-1".into()),
            Scalar::String("disk-2".into())
        ]))
    );
    // Every property read was sent back (PowerShell sends the whole instance).
    assert_eq!(back.properties.len(), rsd(GUID).properties.len());
}

fn uri_of(class: &str) -> String {
    uri(class)
}

#[test]
fn reverse_applies_the_user_choices_and_certificate_rules() {
    let (fake, _) = replica_host(5);
    let opts = ReverseOptions {
        replica_server: Some("hv03.contoso.com".into()),
        port: Some(443),
        auth: Some(ReplicationAuth::Certificate),
        thumbprint: Some("ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01".into()),
    };
    let report = block_on(hyperv::reverse_replication(
        &fake,
        &web01(),
        &opts,
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let rev = report.reverse.unwrap();
    assert_eq!(rev.recovery_connection_point, "hv03.contoso.com");
    assert_eq!(
        rev.certificate_thumbprint.as_deref(),
        Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01")
    );
    let Call::Invoke { params, .. } = &fake.invokes("ReverseReplicationRelationship")[0] else {
        unreachable!()
    };
    let Value::Instance(sent) = &params[1].1 else {
        unreachable!()
    };
    assert_eq!(sent.get_str("RecoveryConnectionPoint"), Some("hv03.contoso.com"));
    assert_eq!(
        sent.get("RecoveryServerPortNumber"),
        Some(&Value::Scalar(Scalar::Uint16(443)))
    );
    assert_eq!(
        sent.get("AuthenticationType"),
        Some(&Value::Scalar(Scalar::Uint16(2)))
    );
    assert_eq!(
        sent.get_str("CertificateThumbPrint"),
        Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01")
    );
}

fn vm_of(mode: u16, state: u16, enabled: u16) -> hyperv::Vm {
    hyperv::Vm::from_instance(&vm(GUID, "web01", mode, state, enabled)).unwrap()
}

fn settings_with(f: impl FnOnce(&mut wsman_soap::Instance)) -> hyperv::ReplicationSettings {
    let mut i = rsd(GUID);
    f(&mut i);
    hyperv::ReplicationSettings::from_instance(&i).unwrap()
}

#[test]
fn reverse_rules_refuse_what_powershell_refuses() {
    let v = vm_of(2, 5, 3);
    let usage = |s: &hyperv::ReplicationSettings, o: &ReverseOptions| {
        let e = hyperv::plan_reverse(&v, s, o).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Usage, "{e}");
        e.to_string()
    };
    let plain = settings_with(|_| {});
    assert_eq!(
        usage(
            &plain,
            &ReverseOptions {
                port: Some(0),
                ..Default::default()
            }
        ),
        "port 0 is not a valid replica server port"
    );
    let no_port = settings_with(|i| i.set("RecoveryServerPortNumber", s("0")));
    assert!(usage(&no_port, &ReverseOptions::default()).contains("pass --port"));
    // ...but a port given by the user fixes it.
    let (_, d) = hyperv::plan_reverse(
        &v,
        &no_port,
        &ReverseOptions {
            port: Some(8080),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.port, 8080);
    let no_primary = settings_with(|i| i.set("PrimaryConnectionPoint", s("")));
    assert!(usage(&no_primary, &ReverseOptions::default()).contains("--replica-server"));
    let cert = ReverseOptions {
        auth: Some(ReplicationAuth::Certificate),
        ..Default::default()
    };
    assert!(usage(&plain, &cert).contains("--thumbprint"));
    // Certificate auth from the settings still needs the thumbprint on the command line.
    let cert_settings = settings_with(|i| {
        i.set("AuthenticationType", s("2"));
        i.set("CertificateThumbPrint", s("ABCDEF"));
    });
    assert!(usage(&cert_settings, &ReverseOptions::default()).contains("--thumbprint"));
    let kerb_thumb = ReverseOptions {
        thumbprint: Some("AB".into()),
        ..Default::default()
    };
    assert!(usage(&plain, &kerb_thumb).contains("only applies to certificate"));
    let bad_thumb = ReverseOptions {
        auth: Some(ReplicationAuth::Certificate),
        thumbprint: Some("xyz".into()),
        ..Default::default()
    };
    assert!(usage(&plain, &bad_thumb).contains("not a certificate thumbprint"));

    // AuthenticationType 0 counts as Kerberos.
    let zero = settings_with(|i| i.set("AuthenticationType", s("0")));
    let (sent, d) = hyperv::plan_reverse(&v, &zero, &ReverseOptions::default()).unwrap();
    assert_eq!(d.authentication, ReplicationAuth::Kerberos);
    assert_eq!(
        sent.get("AuthenticationType"),
        Some(&Value::Scalar(Scalar::Uint16(1)))
    );
}

#[test]
fn preflight_explains_and_sends_nothing() {
    let (fake, _) = replica_host(3);
    let e = block_on(hyperv::reverse_replication(
        &fake,
        &web01(),
        &ReverseOptions::default(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "web01 on hv02 is Replicating: reverse needs a failed-over VM (FailedOverWaitingCompletion or \
         FailedOver); run `hvctl failover start` first"
    );
    assert_eq!(e.class(), ErrorClass::InvalidState);
    assert_eq!(e.exit_code(), 5);
    assert_eq!(fake.summaries(), ["Enumerate *"], "only the lookup was sent");
}

#[test]
fn preflight_messages_per_mode_and_state() {
    let msg = |mode, state, enabled| {
        hyperv::ops::preflight_reverse(&vm_of(mode, state, enabled), "hv02")
            .unwrap_err()
            .to_string()
    };
    assert!(msg(1, 4, 3)
        .starts_with("web01 on hv02 is the primary (PreparedForFailover): reverse runs on the replica host"));
    assert!(msg(0, 0, 3).contains("is not replicated (ReplicationMode None)"));
    assert!(msg(3, 0, 3).contains("test replica"));
    assert!(msg(2, 12, 3).contains("RecoveryInProgress: a failover is still running"));
    assert!(msg(2, 7, 3).starts_with("web01 on hv02 is Suspended: reverse needs a failed-over VM"));
    assert!(hyperv::ops::preflight_reverse(&vm_of(2, 5, 2), "hv02").is_ok());
    assert!(
        hyperv::ops::preflight_reverse(&vm_of(4, 6, 3), "hv02").is_ok(),
        "extended replica, committed"
    );

    let prep = |mode, state, enabled| hyperv::ops::preflight_prepare(&vm_of(mode, state, enabled), "hv01");
    assert!(prep(1, 3, 3).is_ok());
    assert_eq!(
        prep(1, 3, 2).unwrap_err().to_string(),
        "web01 on hv01 is Running: a planned failover needs the VM off; shut it down first (`hvctl vm stop web01`)"
    );
    assert!(prep(2, 3, 3)
        .unwrap_err()
        .to_string()
        .contains("a replica (Replicating): prepare runs on the primary host"));
    assert!(prep(1, 4, 3)
        .unwrap_err()
        .to_string()
        .contains("already PreparedForFailover"));

    let start =
        |mode, state, enabled| hyperv::ops::preflight_start_failover(&vm_of(mode, state, enabled), "hv02");
    assert!(start(2, 3, 3).is_ok());
    assert!(start(2, 10, 3).is_ok());
    assert!(start(1, 4, 3)
        .unwrap_err()
        .to_string()
        .contains("run `hvctl failover prepare` first"));
    assert!(start(2, 5, 3)
        .unwrap_err()
        .to_string()
        .contains("already FailedOverWaitingCompletion: next run `hvctl replication reverse web01`"));
    assert!(start(2, 3, 2)
        .unwrap_err()
        .to_string()
        .contains("needs the replica VM off"));
    let mut never = vm(GUID, "web01", 2, 3, 3);
    never.set("LastReplicationTime", dt("1601-01-01T00:00:00Z"));
    let never = hyperv::Vm::from_instance(&never).unwrap();
    assert!(hyperv::ops::preflight_start_failover(&never, "hv02")
        .unwrap_err()
        .to_string()
        .contains("has not received any replication"));

    let start_vm = |mode, state| hyperv::ops::preflight_start(&vm_of(mode, state, 3), "hv02");
    assert_eq!(
        start_vm(2, 3).unwrap_err().to_string(),
        "web01 on hv02 is a replica (Replicating): a replica VM cannot be started; to run it, fail over \
         first (`hvctl failover start web01` on this host), or for a drill start a test failover on the \
         host (`Start-VMFailover -AsTest`) and start the test VM it creates"
    );
    assert!(start_vm(4, 3).is_err(), "extended replica");
    assert!(start_vm(2, 7).is_err(), "suspended replica");
    assert!(start_vm(2, 5).is_ok(), "failed over, waiting for completion");
    assert!(start_vm(2, 6).is_ok(), "failed over, committed");
    assert!(start_vm(1, 3).is_ok(), "primary");
    assert!(start_vm(0, 0).is_ok(), "not replicated");
    assert!(start_vm(3, 0).is_ok(), "test replica");

    assert!(hyperv::ops::preflight_commit(&vm_of(2, 5, 2), "hv02").is_ok());
    assert!(hyperv::ops::preflight_commit(&vm_of(2, 6, 2), "hv02")
        .unwrap_err()
        .to_string()
        .contains("already FailedOver"));
    assert!(hyperv::ops::preflight_cancel(&vm_of(1, 4, 3), "hv01").is_ok());
    assert!(hyperv::ops::preflight_cancel(&vm_of(2, 3, 3), "hv02")
        .unwrap_err()
        .to_string()
        .contains("no failover to cancel"));
}

#[test]
fn outcome_unknown_is_reported_with_commands_and_never_resent() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { request, .. } if request.filter.is_some() => {
            Reply::Items(items(vec![vm(GUID, "web 01", 2, 5, 3)]))
        }
        Call::Enumerate { .. } => Reply::Items(service_items("hv02")),
        Call::Get { .. } => Reply::Instance(rsd(GUID)),
        Call::Invoke { .. } => Reply::Err(TransportError::OutcomeUnknown {
            detail: "connection reset after sending".into(),
        }),
    });
    let e = block_on(hyperv::reverse_replication(
        &fake,
        &VmRef::parse("web 01"),
        &ReverseOptions::default(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(
        fake.invokes("ReverseReplicationRelationship").len(),
        1,
        "sent exactly once"
    );
    assert_eq!(fake.calls().len(), 4, "nothing after the lost invoke");
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    assert_eq!(e.exit_code(), 8);
    let msg = e.to_string();
    assert!(
        msg.starts_with("outcome unknown: ReverseReplicationRelationship on web 01 (hv02) was sent"),
        "{msg}"
    );
    assert!(msg.contains("connection reset after sending"), "{msg}");
    assert!(msg.contains("it was not sent again"), "{msg}");
    assert!(
        msg.contains("`hvctl replication status 'web 01' --host hv02`"),
        "{msg}"
    );
    assert!(!msg.contains("job wait"), "no job id is known: {msg}");
}

#[test]
fn a_timeout_fault_on_invoke_is_outcome_unknown_too() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(GUID, "web01", 2, 5, 3)])),
        Call::Get { .. } => panic!("no get expected"),
        Call::Invoke { .. } => Reply::Err(fault(0x8033_8029, "TimedOut")),
    });
    let e = block_on(hyperv::commit_failover(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    assert_eq!(fake.invokes("CommitFailover").len(), 1);
}

#[test]
fn losing_the_job_after_the_invoke_names_the_job_wait_command() {
    let polls = Arc::new(Mutex::new(0));
    let p2 = polls.clone();
    // Job polls fail with connection errors.
    let fake = Fake::new("hv02", move |call| match call {
        Call::Get { uri, .. } if uri.ends_with("Msvm_ConcreteJob") => {
            *p2.lock().unwrap() += 1;
            Reply::Err(TransportError::Connection("connection refused".into()))
        }
        Call::Get { uri, .. } if uri.ends_with("Msvm_ReplicationSettingData") => Reply::Instance(rsd(GUID)),
        Call::Enumerate { request, .. } if request.filter.is_some() => {
            Reply::Items(items(vec![vm(GUID, "web01", 2, 5, 3)]))
        }
        Call::Enumerate { .. } => Reply::Items(service_items("hv02")),
        Call::Invoke { method, .. } => Reply::Output(output(method, 4096, Some(JOB))),
        other => panic!("unexpected {other:?}"),
    });
    let e = block_on(hyperv::reverse_replication(
        &fake,
        &web01(),
        &ReverseOptions::default(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(*polls.lock().unwrap(), 4, "first poll + 3 tolerated retries");
    assert_eq!(fake.invokes("ReverseReplicationRelationship").len(), 1);
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("`hvctl job wait {JOB} --host hv02`")),
        "{msg}"
    );
    assert!(
        msg.contains("`hvctl replication status web01 --host hv02`"),
        "{msg}"
    );
}

#[test]
fn every_failure_return_value_is_method_failed_with_its_meaning() {
    for code in ReturnCode::ALL
        .iter()
        .copied()
        .filter(|c| !matches!(c, ReturnCode::Completed | ReturnCode::JobStarted))
    {
        let fake = Fake::new("hv02", move |call| match call {
            Call::Enumerate { request, .. } if request.filter.is_some() => {
                Reply::Items(items(vec![vm(GUID, "web01", 2, 5, 3)]))
            }
            Call::Enumerate { .. } => Reply::Items(service_items("hv02")),
            Call::Get { .. } => Reply::Instance(rsd(GUID)),
            Call::Invoke { method, .. } => Reply::Output(output(method, code.value(), None)),
        });
        let e = block_on(hyperv::reverse_replication(
            &fake,
            &web01(),
            &ReverseOptions::default(),
            &JobWaitOptions::default(),
            &mut quiet(),
        ))
        .unwrap_err();
        let hyperv::Error::MethodFailed {
            code: got, method, ..
        } = e
        else {
            panic!("{code:?}: {e:?}")
        };
        assert_eq!(got, code);
        assert_eq!(method, "ReverseReplicationRelationship");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "ReverseReplicationRelationship on web01 (hv02) returned {} ({})",
                code.value(),
                code.description()
            )),
            "{msg}"
        );
        let expected = match code {
            ReturnCode::AccessDenied => ErrorClass::Auth,
            ReturnCode::InvalidState | ReturnCode::InvalidStateTransition => ErrorClass::InvalidState,
            ReturnCode::FileNotFound => ErrorClass::NotFound,
            _ => ErrorClass::JobFailed,
        };
        assert_eq!(e.class(), expected, "{code:?}");
    }
}

#[test]
fn return_value_zero_finishes_without_polling() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(GUID, "web01", 2, 5, 3)])),
        Call::Get { uri, .. } if uri.ends_with("Msvm_ComputerSystem") => {
            Reply::Instance(vm(GUID, "web01", 2, 6, 3))
        }
        Call::Invoke { method, .. } => Reply::Output(output(method, 0, None)),
        other => panic!("unexpected {other:?}"),
    });
    let r = block_on(hyperv::commit_failover(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    assert_eq!(r.return_code, Some(ReturnCode::Completed));
    assert_eq!(r.job_id, None);
    assert_eq!(r.after.ps_replication_state.name(), "FailedOver");
    assert_eq!(
        fake.summaries(),
        [
            "Enumerate *",
            "Enumerate Msvm_ReplicationService",
            "Invoke Msvm_ReplicationService.CommitFailover",
            "Get Msvm_ComputerSystem"
        ]
    );
    let Call::Invoke { params, .. } = &fake.invokes("CommitFailover")[0] else {
        unreachable!()
    };
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].0, "ComputerSystem");
}

/// A host whose only VM is `vm_instance`; every method returns 0; records nothing else.
fn simple_host(vm_instance: wsman_soap::Instance) -> Fake {
    Fake::new("hv01", move |call| match call {
        Call::Enumerate { request, .. } if request.filter.is_some() => {
            Reply::Items(items(vec![vm_instance.clone()]))
        }
        Call::Enumerate { .. } => Reply::Items(service_items("hv01")),
        Call::Get { .. } => Reply::Instance(vm_instance.clone()),
        Call::Invoke { method, .. } => Reply::Output(output(method, 0, None)),
    })
}

#[test]
fn prepare_requests_state_4_on_the_vm_itself() {
    let fake = simple_host(vm(GUID, "web01", 1, 3, 3));
    let r = block_on(hyperv::prepare_failover(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    assert_eq!(r.operation, Operation::PrepareFailover);
    let calls = fake.invokes("RequestReplicationStateChangeEx");
    assert_eq!(calls.len(), 1);
    let Call::Invoke {
        uri,
        selectors,
        params,
        ..
    } = &calls[0]
    else {
        unreachable!()
    };
    assert_eq!(uri, &uri_of("Msvm_ComputerSystem"));
    assert_eq!(
        selectors.iter().collect::<Vec<_>>(),
        [("CreationClassName", "Msvm_ComputerSystem"), ("Name", GUID)]
    );
    assert_eq!(
        params,
        &vec![("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(4)))]
    );
}

#[test]
fn start_failover_sends_null_for_the_latest_point_and_resumes_a_suspended_replica_first() {
    let fake = simple_host(vm(GUID, "web01", 2, 7, 3));
    let r = block_on(hyperv::start_failover(
        &fake,
        &web01(),
        None,
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    assert_eq!(
        fake.summaries(),
        [
            "Enumerate *",
            "Invoke Msvm_ComputerSystem.RequestReplicationStateChangeEx",
            "Enumerate Msvm_ReplicationService",
            "Invoke Msvm_ReplicationService.InitiateFailover",
            "Get Msvm_ComputerSystem"
        ]
    );
    let Call::Invoke { params, .. } = &fake.invokes("RequestReplicationStateChangeEx")[0] else {
        unreachable!()
    };
    assert_eq!(params[0].1, Value::Scalar(Scalar::Uint16(3)));
    let Call::Invoke { params, .. } = &fake.invokes("InitiateFailover")[0] else {
        unreachable!()
    };
    assert_eq!(params[0].0, "ComputerSystem");
    assert_eq!(params[1], ("SnapshotSettingData".to_owned(), Value::Null));
    assert!(r
        .messages
        .iter()
        .any(|m| m.contains("set back to Replicating first")));
}

#[test]
fn start_failover_to_a_named_recovery_point_sends_its_ref() {
    let snap = wsman_soap::Instance::new("Msvm_VirtualSystemSettingData")
        .with("InstanceID", s("Microsoft:SNAP-1"))
        .with(
            "ElementName",
            s("web01 - Standard Replica - (25/11/2026 - 09:00:00)"),
        )
        .with("CreationTime", dt("2026-11-25T09:00:00Z"))
        .with(
            "VirtualSystemType",
            s("Microsoft:Hyper-V:Snapshot:Replica:Standard"),
        );
    // The VM's own settings are no recovery point, whatever their name.
    let own = wsman_soap::Instance::new("Msvm_VirtualSystemSettingData")
        .with("InstanceID", s(&format!("Microsoft:{GUID}")))
        .with("ElementName", s("web01"))
        .with("VirtualSystemType", s("Microsoft:Hyper-V:System:Realized"));
    let v = vm(GUID, "web01", 2, 3, 3);
    let fake = Fake::new("hv02", move |call| match call {
        Call::Enumerate { request, .. } => match &request.filter {
            Some(Filter::Wql(_)) => Reply::Items(items(vec![v.clone()])),
            Some(Filter::Association(a)) => {
                assert_eq!(
                    a.association_class.as_deref(),
                    Some("Msvm_SnapshotOfVirtualSystem")
                );
                Reply::Items(items(vec![own.clone(), snap.clone()]))
            }
            None => Reply::Items(service_items("hv02")),
        },
        Call::Get { .. } => Reply::Instance(v.clone()),
        Call::Invoke { method, .. } => Reply::Output(output(method, 0, None)),
    });
    block_on(hyperv::start_failover(
        &fake,
        &web01(),
        Some("web01 - standard replica - (25/11/2026 - 09:00:00)"),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let Call::Invoke { params, .. } = &fake.invokes("InitiateFailover")[0] else {
        unreachable!()
    };
    let Value::Reference(epr) = &params[1].1 else {
        panic!("{:?}", params[1])
    };
    assert_eq!(epr.class_name(), "Msvm_VirtualSystemSettingData");
    assert_eq!(epr.selectors.get("InstanceID"), Some("Microsoft:SNAP-1"));

    let e = block_on(hyperv::start_failover(
        &fake,
        &web01(),
        Some("nope"),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Usage);
    assert!(
        e.to_string().contains(
            "no recovery point 'nope'; name one by its name or time as `hvctl replication recovery-points web01` \
             lists them: 2026-11-25T09:00:00Z 'web01 - Standard Replica - (25/11/2026 - 09:00:00)' (standard)"
        ),
        "{e}"
    );
    assert_eq!(
        fake.invokes("InitiateFailover").len(),
        1,
        "nothing sent for an unknown point"
    );
    // By its time, as listed.
    block_on(hyperv::start_failover(
        &fake,
        &web01(),
        Some("2026-11-25T09:00:00Z"),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let Call::Invoke { params, .. } = &fake.invokes("InitiateFailover")[1] else {
        unreachable!()
    };
    assert_eq!(params[1].1, Value::Reference(epr.clone()));
}

#[test]
fn cancel_turns_a_running_vm_off_before_reverting() {
    let fake = simple_host(vm(GUID, "web01", 2, 5, 2));
    block_on(hyperv::cancel_failover(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    assert_eq!(
        fake.summaries(),
        [
            "Enumerate *",
            "Invoke Msvm_ComputerSystem.RequestStateChange",
            "Enumerate Msvm_ReplicationService",
            "Invoke Msvm_ReplicationService.RevertFailover",
            "Get Msvm_ComputerSystem"
        ]
    );
    let Call::Invoke { params, .. } = &fake.invokes("RequestStateChange")[0] else {
        unreachable!()
    };
    assert_eq!(
        params[0],
        ("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(3)))
    );
}

#[test]
fn start_vm_on_an_unfailed_replica_explains_and_sends_nothing() {
    let fake = simple_host(vm(GUID, "web01", 2, 3, 3));
    let e = block_on(hyperv::start_vm(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidState);
    assert!(e.to_string().contains("a replica VM cannot be started"), "{e}");
    assert!(fake.invokes("RequestStateChange").is_empty());
}

#[test]
fn start_vm_sends_2_and_does_nothing_when_already_running() {
    let fake = simple_host(vm(GUID, "web01", 1, 3, 3));
    let r = block_on(hyperv::start_vm(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let Call::Invoke { params, .. } = &fake.invokes("RequestStateChange")[0] else {
        unreachable!()
    };
    assert_eq!(params[0].1, Value::Scalar(Scalar::Uint16(2)));
    assert_eq!(r.method.as_deref(), Some("RequestStateChange"));

    let fake = simple_host(vm(GUID, "web01", 1, 3, 2));
    let r = block_on(hyperv::start_vm(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    assert!(fake.invokes("RequestStateChange").is_empty());
    assert_eq!(r.method, None);
    assert!(r.messages[0].contains("already Running"));
    let r = block_on(hyperv::stop_vm(
        &fake,
        &web01(),
        &JobWaitOptions::default(),
        &mut quiet(),
    ))
    .unwrap();
    let Call::Invoke { params, .. } = &fake.invokes("RequestStateChange")[0] else {
        unreachable!()
    };
    assert_eq!(params[0].1, Value::Scalar(Scalar::Uint16(3)));
    assert_eq!(r.operation, Operation::StopVm);
}

#[test]
fn status_reports_powershell_names_relationship_and_settings() {
    let rel = wsman_soap::Instance::new("Msvm_ReplicationRelationship")
        .with("InstanceID", s(&format!("Microsoft:{GUID}\\HVR\\0")))
        .with("ReplicationState", s("19"))
        .with("ReplicationHealth", s("2"))
        .with("LastReplicationTime", dt("2026-11-25T09:00:00Z"))
        .with("LastApplyTime", dt("1601-01-01T00:00:00Z"));
    let fake = Fake::new("hv01", move |call| match call {
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(GUID, "web01", 1, 4, 3)])),
        Call::Get { uri, .. } if uri.ends_with("Msvm_ReplicationRelationship") => {
            Reply::Instance(rel.clone())
        }
        Call::Get { uri, .. } if uri.ends_with("Msvm_ReplicationSettingData") => Reply::Instance(rsd(GUID)),
        other => panic!("unexpected {other:?}"),
    });
    let r = block_on(hyperv::replication_status(&fake, &web01())).unwrap();
    assert_eq!(r.vm.ps_replication_state.name(), "PreparedForFailover");
    let rel = r.relationship.as_ref().unwrap();
    assert_eq!(rel.state, hyperv::ReplicationState::PreparedForSyncReplication);
    assert_eq!(rel.last_apply_time, None, "1601-01-01 is never");
    assert_eq!(
        r.settings.as_ref().unwrap().primary_connection_point.as_deref(),
        Some("hv01.contoso.com")
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["vm"]["ps_replication_state"], "PreparedForFailover");
    assert_eq!(json["vm"]["replication_mode"], "Primary");
    assert_eq!(json["vm"]["replication_health"], "Normal");
    assert_eq!(json["vm"]["last_replication_time"], "2026-11-25T09:00:00Z");
    assert_eq!(json["relationship"]["health"], "Warning");
    assert_eq!(json["relationship"]["last_apply_time"], serde_json::Value::Null);
    assert_eq!(json["settings"]["recovery_server_port"], 80);
    assert_eq!(json["settings"]["authentication"], "Kerberos");
}

#[test]
fn workflow_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (fake, _) = replica_host(5);
    let opts = ReverseOptions::default();
    let wait = JobWaitOptions::default();
    let mut p = quiet();
    let vm = web01();
    let f = hyperv::reverse_replication(&fake, &vm, &opts, &wait, &mut p);
    assert_send(&f);
    drop(f);
}

#[test]
fn reverse_sends_nulls_with_their_class_types_and_leaves_out_unknown_properties() {
    let v = vm_of(2, 5, 3);
    let settings = settings_with(|i| {
        // As a Get returns them: nil elements say nothing of their type.
        i.set("AutomaticRecoveryAction", Value::Null);
        i.set("AutomaticStartupActionDelay", Value::Null);
        i.set("Notes", Value::Null);
        i.set("FutureSetting", s("x"));
        i.set("FutureNull", Value::Null);
    });
    let (sent, d) = hyperv::plan_reverse(&v, &settings, &ReverseOptions::default()).unwrap();
    assert_eq!(
        d.left_out_properties,
        vec!["FutureSetting".to_owned(), "FutureNull".to_owned()]
    );
    let text = cimxml::write_instance(&sent).unwrap();
    for written in [
        r#"<PROPERTY NAME="AutomaticRecoveryAction" TYPE="uint16"></PROPERTY>"#,
        r#"<PROPERTY NAME="AutomaticStartupActionDelay" TYPE="datetime"></PROPERTY>"#,
        r#"<PROPERTY.ARRAY NAME="Notes" TYPE="string"></PROPERTY.ARRAY>"#,
    ] {
        assert!(text.contains(written), "{written} not in {text}");
    }
    assert!(!text.contains("Future"), "{text}");
}
