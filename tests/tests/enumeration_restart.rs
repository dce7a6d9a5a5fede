//! `hyperv::list_vms` over the real `winrm-client` transport against `hyperv-sim` (NTLM,
//! encrypted HTTP) when the reply to a Pull is lost after the simulator processed it: the
//! enumeration restarts once (a second Enumerate, the items already received skipped) and every
//! VM comes back exactly once; a second lost Pull reply ends it with
//! `winrm_client::Error::EnumerationInterrupted`, which `hyperv` classifies as a connection
//! error (exit code 7). The CLI side is `crates/hvctl/tests/enumeration.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod support;

use hyperv::ErrorClass;
use hyperv_sim::{FaultAction, FaultRule, Match, SimConfig, SimHost};
use support::{Session, USER};
use wsman_soap::{Enumerate, Item};

/// VMs on the host, listed with a page size of one item (one Pull per VM) so that a lost reply
/// can be placed on any page.
const VMS: usize = 12;

fn names() -> Vec<String> {
    (1..=VMS).map(|i| format!("vm{i:02}")).collect()
}

async fn host_with_vms() -> (SimHost, Session) {
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = SimConfig::new("HV01").user(USER, &password);
    cfg.vms = names();
    let host = SimHost::start(cfg).await.unwrap();
    let s = Session {
        client: support::client_builder(&host, &password)
            .page_size(1)
            .build()
            .unwrap(),
        host: host.host_name().to_owned(),
    };
    (host, s)
}

/// The VMs' GUIDs in listing order.
fn guids(l: &[hyperv::Vm]) -> Vec<String> {
    l.iter().map(|v| v.guid.clone()).collect()
}

/// A rule that drops the connection after the simulator executed the `n`-th Pull (1-based)
/// counted from now, `times` times in a row.
fn drop_pull(n: u32, times: u32) -> FaultRule {
    FaultRule {
        skip: n - 1,
        times: Some(times),
        ..FaultRule::once(Match::Action("Pull".into()), FaultAction::DropAfterExecute)
    }
}

/// Waits (up to 5 s) until the simulator holds no enumeration context: the restart releases
/// the old one in a background task.
async fn until_no_open_enumeration(host: &SimHost) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.open_enumerations() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pull_reply_restarts_the_listing_and_every_vm_comes_back_once() {
    let (host, s) = host_with_vms().await;

    // Baseline: the Pulls a clean listing takes.
    let clean = hyperv::list_vms(&s).await.unwrap();
    assert_eq!(clean.len(), VMS);
    let base = host.stats();
    assert_eq!(base.count("Enumerate"), 1);
    let pulls = base.count("Pull");
    assert!(pulls >= 3, "the listing must need several Pulls, took {pulls}");

    // The reply to the 2nd Pull is lost after the simulator advanced the context.
    host.faults().inject(drop_pull(2, 1));
    let vms = hyperv::list_vms(&s).await.unwrap();

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &vms {
        *seen.entry(v.name.as_str()).or_default() += 1;
    }
    let expected = names();
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "every VM listed"
    );
    assert!(seen.values().all(|&n| n == 1), "a VM listed twice: {seen:?}");
    // Same order as the clean listing (the skipped items are the ones already received).
    assert_eq!(guids(&vms), guids(&clean));

    assert_eq!(host.faults().fired().len(), 1);
    assert_eq!(host.faults().pending(), 0);
    until_no_open_enumeration(&host).await;
    let after = host.stats();
    // The restart: a second Enumerate, and the 2 Pulls of the broken run on top of a full one.
    assert_eq!(after.count("Enumerate") - base.count("Enumerate"), 2);
    assert_eq!(after.count("Pull") - base.count("Pull"), pulls + 2);
    // The abandoned context (advanced by the lost Pull) was released, nothing is left open.
    assert_eq!(after.count("Release") - base.count("Release"), 1);
    assert_eq!(host.open_enumerations(), 0);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_lost_pull_reply_ends_the_listing_as_interrupted_connection_error() {
    let (host, s) = host_with_vms().await;
    // Enumerate carries item 1. Pull 1 carries item 2; Pull 2's reply is lost (2 items
    // received). The restart: Enumerate (item 1, skipped), Pull 3 (item 2, skipped), Pulls 4-6
    // (items 3-5, received), Pull 7's reply is lost: 5 items received, no restart left.
    host.faults().inject(drop_pull(2, 1));
    host.faults().inject(drop_pull(5, 1));
    let err = hyperv::list_vms(&s).await.unwrap_err();

    assert_eq!(err.class(), ErrorClass::Connection);
    assert_eq!(err.class().exit_code(), 7);
    // The whole chain: "Enumerate Msvm_ComputerSystem on HV01: connection failed: ...".
    let mut text = err.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(
        text.starts_with("Enumerate Msvm_ComputerSystem on HV01: connection failed: "),
        "{text}"
    );
    assert!(
        text.contains(
            "enumeration interrupted after 5 item(s) were received: the listing is incomplete, run it again"
        ),
        "{text}"
    );
    assert!(text.contains("outcome of Pull"), "the cause is named: {text}");
    assert_eq!(host.faults().fired().len(), 2);
    let st = host.stats();
    assert_eq!(st.count("Enumerate"), 2);
    assert_eq!(st.count("Pull"), 7);
    host.shutdown().await;
}

/// The restart wherever the reply goes missing: on the first Pull, on the last one (the page
/// with EndOfSequence, after which the simulator has already dropped the context), and with the
/// connection closed before the simulator executed the Pull (the client cannot tell the two
/// apart, so it restarts too). Every VM once, in the clean order, each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pull_reply_anywhere_in_the_listing_is_recovered() {
    let (host, s) = host_with_vms().await;
    let clean = hyperv::list_vms(&s).await.unwrap();
    let pulls = u32::try_from(host.stats().count("Pull")).unwrap();
    let cases = [
        (1, FaultAction::DropAfterExecute),
        (pulls, FaultAction::DropAfterExecute),
        (2, FaultAction::DropBeforeExecute),
        (pulls - 1, FaultAction::DropBeforeExecute),
    ];
    for (n, action) in cases {
        let before = host.stats();
        host.faults().inject(FaultRule {
            action: action.clone(),
            ..drop_pull(n, 1)
        });
        let vms = hyperv::list_vms(&s).await.unwrap();
        assert_eq!(guids(&vms), guids(&clean), "Pull {n}, {action:?}");
        assert_eq!(host.faults().pending(), 0, "Pull {n}, {action:?}: the rule fired");
        let after = host.stats();
        assert_eq!(
            after.count("Enumerate") - before.count("Enumerate"),
            2,
            "Pull {n}, {action:?}"
        );
        assert_eq!(
            after.count("Pull") - before.count("Pull"),
            u64::from(pulls + n),
            "Pull {n}, {action:?}: the {n} Pulls of the broken run, then a full run"
        );
    }
    assert_eq!(host.faults().fired().len(), 4);
    until_no_open_enumeration(&host).await;
    assert_eq!(host.open_enumerations(), 0);
    host.shutdown().await;
}

/// Pages of several items (the generic `Client::enumerate` with MaxElements 5, as
/// `hvctl wsman enumerate` sends MaxElements): the restart skips whole pages already received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pull_reply_with_pages_of_five_items_is_recovered() {
    let (host, s) = host_with_vms().await;
    let uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ComputerSystem";
    let request = Enumerate {
        optimize: true,
        max_elements: Some(5),
        ..Enumerate::default()
    };
    let name = |i: &Item| {
        i.instance
            .as_ref()
            .and_then(|x| x.get_str("Name"))
            .unwrap()
            .to_owned()
    };
    let clean: Vec<String> = s
        .client
        .enumerate(uri, &request)
        .await
        .unwrap()
        .iter()
        .map(name)
        .collect();
    // 12 VMs and the host itself: 5 with the Enumerate, 5 and 3 with two Pulls.
    assert_eq!(clean.len(), VMS + 1);
    assert_eq!(host.stats().count("Pull"), 2);

    host.faults().inject(drop_pull(1, 1));
    let items: Vec<String> = s
        .client
        .enumerate(uri, &request)
        .await
        .unwrap()
        .iter()
        .map(name)
        .collect();
    assert_eq!(items, clean);
    let st = host.stats();
    assert_eq!(st.count("Enumerate"), 3, "{st:?}");
    assert_eq!(st.count("Pull"), 2 + 1 + 2, "{st:?}");

    // Twice: the restart's first Pull is lost too, after the first 5 items.
    host.faults().inject(drop_pull(1, 2));
    let err = s.client.enumerate(uri, &request).await.unwrap_err();
    match &err {
        winrm_client::Error::EnumerationInterrupted { items, source } => {
            assert_eq!(*items, 5);
            assert!(source.is_outcome_unknown(), "{source}");
        }
        other => panic!("expected EnumerationInterrupted, got {other:?}"),
    }
    assert!(err.is_connection());
    host.shutdown().await;
}

/// A Pull that certainly did not advance the enumeration is sent again with the same context,
/// without a restart: a 401 (the simulator forgot the connection's security context and did not
/// execute the Pull; the client authenticates again) and a `w:TimedOut` fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_did_not_reach_the_enumeration_is_resent_without_a_restart() {
    let (host, s) = host_with_vms().await;
    let clean = hyperv::list_vms(&s).await.unwrap();
    let pulls = host.stats().count("Pull");
    let cases = [
        FaultAction::Unauthorized,
        FaultAction::TimeOut {
            cap: Duration::from_millis(10),
        },
    ];
    for action in cases {
        let before = host.stats();
        host.faults().inject(FaultRule {
            action: action.clone(),
            ..drop_pull(2, 1)
        });
        let vms = hyperv::list_vms(&s).await.unwrap();
        assert_eq!(guids(&vms), guids(&clean), "{action:?}");
        assert_eq!(host.faults().pending(), 0, "{action:?}: the rule fired");
        let after = host.stats();
        assert_eq!(
            after.count("Enumerate") - before.count("Enumerate"),
            1,
            "{action:?}: no restart"
        );
        assert_eq!(
            after.count("Pull") - before.count("Pull"),
            pulls + 1,
            "{action:?}: the 2nd Pull sent twice"
        );
        assert_eq!(after.count("Release"), before.count("Release"), "{action:?}");
    }
    host.shutdown().await;
}
