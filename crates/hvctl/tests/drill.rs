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
