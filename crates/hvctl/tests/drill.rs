//! Recovery points through the binary against the strict simulated pair:
//! `replication recovery-points` lists a replica VM's points, and `failover start
//! --recovery-point` takes one by name or time (an unknown one is a usage error that lists them,
//! and nothing is invoked).
#![allow(clippy::unwrap_used)]

mod support;

use support::Pair;

#[test]
fn recovery_points_are_listed_and_one_is_chosen_by_name_or_time() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let run = pair.run(&[
        "--host",
        &r,
        "-o",
        "json",
        "replication",
        "recovery-points",
        "demo-vm",
    ]);
    run.expect(0);
    let (lines, _) = run.json();
    assert_eq!(lines.len(), 1);
    let points = lines[0]["data"]["recovery_points"].as_array().unwrap().clone();
    assert_eq!(points.len(), 3, "{points:?}");
    let consistent: Vec<_> = points
        .iter()
        .filter(|p| p["application_consistent"] == true)
        .collect();
    assert_eq!(consistent.len(), 1);
    let times: Vec<&str> = points.iter().map(|p| p["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    assert!(
        times.iter().all(|t| t.len() == "2026-12-06T22:25:10Z".len()),
        "{times:?}"
    );

    // Human: one table row per point; the primary has none and says why.
    let run = pair.run(&[
        "--host",
        &p,
        "--host",
        &r,
        "-o",
        "wide",
        "replication",
        "recovery-points",
        "demo-vm",
    ]);
    run.expect(0);
    assert_eq!(
        run.stdout.matches("application-consistent").count(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("standard").count(), 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("no recovery points (this host's copy is Primary"),
        "{}",
        run.stdout
    );

    // An unknown point: exit 2 with the list, nothing invoked.
    let run = pair.run(&[
        "--host",
        &r,
        "failover",
        "start",
        "demo-vm",
        "--recovery-point",
        "yesterday",
    ]);
    run.expect(2);
    assert!(
        run.stderr.contains(times[0]) && run.stderr.contains("replication recovery-points"),
        "{}",
        run.stderr
    );
    assert_eq!(pair.replica.stats().count("Invoke:InitiateFailover"), 0);

    // The application-consistent one, by its time: the failover runs to it.
    pair.run(&["--host", &p, "vm", "stop", "--turn-off", "--yes", "demo-vm"])
        .expect(0);
    pair.run(&["--host", &p, "failover", "prepare", "demo-vm"])
        .expect(0);
    let time = consistent[0]["time"].as_str().unwrap();
    let run = pair.run(&[
        "--host",
        &r,
        "-o",
        "json",
        "failover",
        "start",
        "demo-vm",
        "--recovery-point",
        time,
    ]);
    run.expect(0);
    let (lines, _) = run.json();
    assert_eq!(
        lines[0]["data"]["after"]["replication_state"], "Recovered",
        "{}",
        run.stdout
    );
    assert_eq!(pair.replica.stats().count("Invoke:InitiateFailover"), 1);
}

/// Every invoke the replica received.
fn invokes(pair: &Pair) -> u64 {
    let st = pair.replica.stats();
    st.by_action
        .iter()
        .filter(|(k, _)| k.starts_with("Invoke:"))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn a_dr_drill_makes_one_test_vm_and_test_stop_removes_it() {
    let pair = Pair::start();
    let r = pair.r();
    let vm_names = |pair: &Pair| -> Vec<String> {
        let run = pair.run(&["--host", &r, "-o", "json", "vm", "list"]);
        run.expect(0);
        run.json()
            .0
            .iter()
            .map(|l| l["data"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(vm_names(&pair), ["demo-vm"]);

    // --dry-run invokes nothing.
    let run = pair.run(&["--host", &r, "failover", "test", "--dry-run", "demo-vm"]);
    run.expect(0);
    assert!(run.stdout.contains("TestReplicaSystem"), "{}", run.stdout);
    assert_eq!(invokes(&pair), 0);

    let run = pair.run(&["--host", &r, "-o", "json", "failover", "test", "demo-vm"]);
    run.expect(0);
    let (lines, _) = run.json();
    let data = &lines[0]["data"];
    assert_eq!(data["operation"], "test_failover");
    assert_eq!(data["test_vm"]["name"], "demo-vm - Test", "{data}");
    let test_guid = data["test_vm"]["guid"].as_str().unwrap().to_owned();
    assert_ne!(test_guid, data["guid"].as_str().unwrap());
    assert_eq!(
        data["after"]["replication_state"], "Replicating",
        "replication goes on"
    );
    assert_eq!(vm_names(&pair), ["demo-vm", "demo-vm - Test"]);

    // One test VM per replica: a second drill is refused before anything is sent.
    let before = invokes(&pair);
    let run = pair.run(&["--host", &r, "failover", "test", "demo-vm"]);
    run.expect(5);
    assert!(
        run.stderr.contains("already has a test VM") && run.stderr.contains("failover test-stop"),
        "{}",
        run.stderr
    );
    assert_eq!(invokes(&pair), before);

    // The test VM runs during the drill; test-stop turns it off and removes it.
    pair.run(&["--host", &r, "vm", "start", &test_guid]).expect(0);
    let run = pair.run(&["--host", &r, "failover", "test-stop", "--dry-run", "demo-vm"]);
    run.expect(0);
    assert_eq!(pair.replica.stats().count("Invoke:DestroySystem"), 0);
    let run = pair.run(&["--host", &r, "-o", "json", "failover", "test-stop", "demo-vm"]);
    run.expect(0);
    let (lines, _) = run.json();
    assert_eq!(lines[0]["data"]["operation"], "stop_test_failover");
    assert_eq!(lines[0]["data"]["test_vm"]["guid"], test_guid.as_str());
    assert_eq!(pair.replica.stats().count("Invoke:DestroySystem"), 1);
    assert_eq!(vm_names(&pair), ["demo-vm"]);

    // Nothing left to stop: exit 5, naming the command that starts a drill.
    let run = pair.run(&["--host", &r, "failover", "test-stop", "demo-vm"]);
    run.expect(5);
    assert!(run.stderr.contains("has no test VM"), "{}", run.stderr);
}
