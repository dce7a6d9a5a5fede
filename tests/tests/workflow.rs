//! The replication workflow of `hyperv` over the real `winrm-client` transport against
//! `hyperv-sim` (NTLM, encrypted HTTP), without the CLI: many VMs at once over a bounded number
//! of sessions, and the transport failures the workflow must turn into "outcome unknown"
//! without ever re-sending an invoke. The CLI itself is tested in `crates/hvctl/tests/e2e.rs`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
mod support;

use hyperv::{ErrorClass, JobProgress, JobWaitOptions, ReverseOptions, VmRef};
use hyperv_sim::{FaultAction, Match, PairConfig, SimHost};

use support::{session, USER};

fn wait() -> JobWaitOptions {
    JobWaitOptions {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
        ..JobWaitOptions::default()
    }
}

async fn pair(job_ms: u64) -> (SimHost, SimHost, String) {
    let password = hyperv_sim::random_password().to_string();
    let cfg = PairConfig {
        job_duration: Duration::from_millis(job_ms),
        ..PairConfig::default()
    }
    .user(USER, &password);
    let (p, r) = hyperv_sim::start_pair(cfg).await.unwrap();
    (p, r, password)
}

fn vm(name: &str) -> VmRef {
    VmRef::parse(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_vms_fail_over_and_reverse_concurrently_over_three_sessions() {
    let (primary, replica, pw) = pair(200).await;
    let names: Vec<String> = (1..=5)
        .map(|i| format!("app{i:02}"))
        .chain(["demo-vm".to_owned()])
        .collect();
    {
        let world = primary.world();
        let mut w = world.lock().unwrap();
        for n in &names[..5] {
            w.add_replicated_vm(primary.host_id(), replica.host_id(), n, SystemTime::now())
                .unwrap();
        }
    }
    let (p, r) = (session(&primary, &pw, 3), session(&replica, &pw, 3));
    let o = wait();

    let stops = join_all(names.iter().map(|n| async {
        let mut cb = |_: &JobProgress| {};
        hyperv::stop_vm(&p, &vm(n), &o, &mut cb).await
    }))
    .await;
    assert!(stops.iter().all(Result::is_ok), "{stops:?}");

    let prepared = join_all(names.iter().map(|n| async {
        let mut cb = |_: &JobProgress| {};
        hyperv::prepare_failover(&p, &vm(n), &o, &mut cb).await
    }))
    .await;
    for rep in &prepared {
        assert_eq!(
            rep.as_ref().unwrap().after.ps_replication_state.name(),
            "PreparedForFailover"
        );
    }

    let failed_over = join_all(names.iter().map(|n| async {
        let mut cb = |_: &JobProgress| {};
        hyperv::start_failover(&r, &vm(n), None, &o, &mut cb).await
    }))
    .await;
    for rep in &failed_over {
        assert_eq!(
            rep.as_ref().unwrap().after.ps_replication_state.name(),
            "FailedOverWaitingCompletion"
        );
    }

    let reversed = join_all(names.iter().map(|n| async {
        let mut percents = Vec::new();
        let mut cb = |p: &JobProgress| percents.push(p.percent_complete.unwrap_or(0));
        let rep = hyperv::reverse_replication(&r, &vm(n), &ReverseOptions::default(), &o, &mut cb).await;
        (rep, percents)
    }))
    .await;
    for (rep, percents) in &reversed {
        let rep = rep.as_ref().unwrap();
        assert_eq!(rep.after.replication_mode.name(), "Primary");
        assert_eq!(
            rep.reverse.as_ref().unwrap().recovery_connection_point,
            primary.fqdn()
        );
        assert!(
            percents.windows(2).all(|w| w[0] <= w[1]),
            "progress went backwards: {percents:?}"
        );
        assert_eq!(percents.last(), Some(&100));
    }
    // Six VMs at a time over at most three authenticated connections per host.
    assert!(replica.stats().connections <= 3, "{:?}", replica.stats());
    assert!(primary.stats().connections <= 3, "{:?}", primary.stats());
    assert_eq!(replica.stats().count("Invoke:ReverseReplicationRelationship"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_reply_to_reverse_is_outcome_unknown_and_sent_once() {
    let (primary, replica, pw) = pair(100).await;
    let (p, r) = (session(&primary, &pw, 1), session(&replica, &pw, 1));
    let o = wait();
    let mut cb = |_: &JobProgress| {};
    hyperv::stop_vm(&p, &vm("demo-vm"), &o, &mut cb).await.unwrap();
    hyperv::prepare_failover(&p, &vm("demo-vm"), &o, &mut cb)
        .await
        .unwrap();
    hyperv::start_failover(&r, &vm("demo-vm"), None, &o, &mut cb)
        .await
        .unwrap();

    replica.faults().once(
        Match::Method("ReverseReplicationRelationship".into()),
        FaultAction::DropAfterExecute,
    );
    let err = hyperv::reverse_replication(&r, &vm("demo-vm"), &ReverseOptions::default(), &o, &mut cb)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("demo-vm") && msg.contains("hvctl replication status"),
        "{msg}"
    );
    assert_eq!(replica.stats().count("Invoke:ReverseReplicationRelationship"), 1);
    // It did run: once its job (100 ms) is done, the state shows the reversed relationship.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = hyperv::replication_status(&r, &vm("demo-vm")).await.unwrap();
    assert_eq!(st.vm.replication_mode.name(), "Primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_fault_on_failover_is_outcome_unknown_and_not_resent() {
    let (primary, replica, pw) = pair(100).await;
    let (p, r) = (session(&primary, &pw, 1), session(&replica, &pw, 1));
    let o = wait();
    let mut cb = |_: &JobProgress| {};
    hyperv::stop_vm(&p, &vm("demo-vm"), &o, &mut cb).await.unwrap();
    hyperv::prepare_failover(&p, &vm("demo-vm"), &o, &mut cb)
        .await
        .unwrap();
    replica.faults().once(
        Match::Method("InitiateFailover".into()),
        FaultAction::TimeOut {
            cap: Duration::from_millis(200),
        },
    );
    let err = hyperv::start_failover(&r, &vm("demo-vm"), None, &o, &mut cb)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    assert_eq!(replica.stats().count("Invoke:InitiateFailover"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_that_vanishes_mid_wait_is_outcome_unknown() {
    let (primary, _replica, pw) = pair(2000).await;
    let p = session(&primary, &pw, 1);
    primary.faults().once(
        Match::Method("RequestStateChange".into()),
        FaultAction::VanishJob {
            after: Duration::from_millis(150),
        },
    );
    let mut seen = 0;
    let mut cb = |_: &JobProgress| seen += 1;
    let err = hyperv::stop_vm(&p, &vm("demo-vm"), &wait(), &mut cb)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    assert!(seen >= 1, "the job was never observed before it vanished");
    assert!(err.to_string().contains("disappeared"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_session_401_reauthenticates_once_and_succeeds() {
    let (primary, _replica, pw) = pair(100).await;
    let p = session(&primary, &pw, 1);
    let before = hyperv::replication_status(&p, &vm("demo-vm")).await.unwrap();
    let handshakes = primary.stats().handshakes;
    primary.faults().once(Match::Any, FaultAction::Unauthorized);
    let after = hyperv::replication_status(&p, &vm("demo-vm")).await.unwrap();
    assert_eq!(before.vm.guid, after.vm.guid);
    assert_eq!(primary.stats().handshakes, handshakes + 1);
    assert!(primary.stats().unauthorized >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_auth_error() {
    let (primary, _replica, _pw) = pair(100).await;
    let p = session(&primary, "not-the-password", 1);
    let err = hyperv::list_vms(&p).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");
}
