//! The replication workflow of `hyperv` over `winrm-client` against simulated hosts that answer
//! with Windows' response variance (`hyperv_sim::Variance`): every variant must give the same
//! reports as the canonical output, step by step (stop, prepare, fail over, reverse, status),
//! and the domain views must read a null property and an absent one alike.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use hyperv::{JobProgress, JobWaitOptions, OperationReport, ReverseOptions, VmRef};
use hyperv_sim::{PairConfig, SimHost, Variance};
use support::{session, USER};

fn wait() -> JobWaitOptions {
    JobWaitOptions {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
        ..JobWaitOptions::default()
    }
}

async fn pair(job: Duration) -> (SimHost, SimHost, String) {
    let password = hyperv_sim::random_password().to_string();
    let cfg = PairConfig {
        job_duration: job,
        ..PairConfig::default()
    }
    .user(USER, &password);
    let (p, r) = hyperv_sim::start_pair(cfg).await.unwrap();
    (p, r, password)
}

/// What a report says, without what differs from run to run (GUIDs, job ids, durations).
fn summary(r: &OperationReport) -> String {
    format!(
        "{:?} {} on {}: {:?} -> {:?}, {:?} returned {:?}, job {}, reverse {:?}",
        r.operation,
        r.vm,
        r.host,
        r.before,
        r.after,
        r.method,
        r.return_code,
        r.job_id.is_some(),
        r.reverse
    )
}

/// The planned failover and the reverse of `demo-vm` on a fresh pair whose hosts answer with
/// `v`; the summaries of each step and of the final status on both hosts.
async fn workflow(v: &Variance) -> Vec<String> {
    let job = if v.complete_synchronously {
        Duration::ZERO
    } else {
        Duration::from_millis(60)
    };
    let (primary, replica, pw) = pair(job).await;
    // Enough VMs on the primary that its listing spans several pages of 7.
    for i in 1..=9 {
        primary.add_vm(&format!("extra{i}"));
    }
    primary.set_variance(v.clone());
    replica.set_variance(v.clone());
    let (p, r) = (session(&primary, &pw, 1), session(&replica, &pw, 1));
    let (o, vm) = (wait(), VmRef::parse("demo-vm"));
    let mut cb = |_: &JobProgress| {};
    let mut out = Vec::new();
    let listed = hyperv::list_vms(&p).await.unwrap();
    out.push(format!(
        "{:?}",
        listed.iter().map(|v| &v.name).collect::<Vec<_>>()
    ));
    let steps = [
        hyperv::stop_vm(&p, &vm, &o, &mut cb).await,
        hyperv::prepare_failover(&p, &vm, &o, &mut cb).await,
        hyperv::start_failover(&r, &vm, None, &o, &mut cb).await,
        hyperv::reverse_replication(&r, &vm, &ReverseOptions::default(), &o, &mut cb).await,
    ];
    for s in steps {
        out.push(summary(&s.unwrap_or_else(|e| panic!("{v:?}: {e}"))));
    }
    for w in [&p, &r] {
        let st = hyperv::replication_status(w, &vm).await.unwrap();
        let settings = st.settings.as_ref().unwrap();
        out.push(format!(
            "{} {:?} {:?} {:?} {:?} {:?} {:?}",
            st.host,
            st.vm.ps_replication_state,
            st.vm.replication_mode,
            settings.primary_connection_point,
            settings.recovery_connection_point,
            settings.recovery_server_port,
            settings.authentication
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_runs_the_workflow_to_the_same_reports() {
    let canonical = workflow(&Variance::default()).await;
    assert_eq!(canonical.len(), 7);
    assert!(canonical[0].contains("extra9"));
    assert!(canonical[4].contains("ReverseReplication") && canonical[4].contains("job true"));
    let variants = [
        Variance {
            page_cap: Some(1),
            ..Variance::default()
        },
        Variance {
            page_cap: Some(7),
            ..Variance::default()
        },
        Variance {
            ignore_optimize: true,
            ..Variance::default()
        },
        Variance {
            omit_nulls: true,
            ..Variance::default()
        },
        Variance {
            nil_job: true,
            return_value_first: true,
            ..Variance::default()
        },
        Variance::pretty("\r\n", 2),
        Variance::other_prefixes(),
        Variance::renamed(&[("p", "")]),
        Variance {
            single_quotes: true,
            prolog: "<?xml version=\"1.0\"?>\r\n".into(),
            ..Variance::renamed(&[("p", "ns0"), ("s", "")])
        },
    ];
    for v in &variants {
        assert_eq!(workflow(v).await, canonical, "{v:?}");
    }
    // Methods that finish before returning: ReturnValue 0, `<p:Job xsi:nil="true"/>`, no job
    // to follow; the states read back are the same.
    let sync = workflow(&Variance {
        complete_synchronously: true,
        nil_job: true,
        ..Variance::default()
    })
    .await;
    let expected: Vec<String> = canonical
        .iter()
        .map(|s| {
            s.replace("Some(JobStarted)", "Some(Completed)")
                .replace("job true", "job false")
        })
        .collect();
    assert_eq!(sync, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_views_read_nil_and_absent_properties_alike() {
    let (primary, replica, pw) = pair(Duration::from_millis(20)).await;
    let (p, r) = (session(&primary, &pw, 1), session(&replica, &pw, 1));
    let vm = VmRef::parse("demo-vm");
    for (host, w) in [(&primary, &p), (&replica, &r)] {
        host.set_variance(Variance::default());
        let nil = hyperv::replication_status(w, &vm).await.unwrap();
        let nil_vms = hyperv::list_vms(w).await.unwrap();
        host.set_variance(Variance {
            omit_nulls: true,
            ..Variance::default()
        });
        let absent = hyperv::replication_status(w, &vm).await.unwrap();
        let absent_vms = hyperv::list_vms(w).await.unwrap();
        assert_eq!(absent.vm, nil.vm);
        assert_eq!(absent_vms, nil_vms);
        assert_eq!(absent.relationship, nil.relationship);
        let (a, n) = (absent.settings.unwrap(), nil.settings.unwrap());
        // The settings read alike; only the kept instance differs (its nulls are absent).
        assert_ne!(a.instance, n.instance);
        assert_eq!(ReplicationSettingsView::of(&a), ReplicationSettingsView::of(&n));
        let mut stripped = n.instance.clone();
        stripped.properties.retain(|p| p.value != wsman_soap::Value::Null);
        assert_eq!(a.instance, stripped);
    }
}

/// The typed fields of `ReplicationSettings` (everything but the instance).
#[derive(Debug, PartialEq)]
struct ReplicationSettingsView(String);

impl ReplicationSettingsView {
    fn of(s: &hyperv::ReplicationSettings) -> Self {
        let mut s = s.clone();
        s.instance = wsman_soap::Instance::new("");
        Self(format!("{s:?}"))
    }
}
