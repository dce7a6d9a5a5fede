//! Safeguards of the state-changing commands, through the binary against a simulated pair:
//! `vm stop` shuts the guest down (`--turn-off` cuts the power, `--save` saves), only what
//! cannot be undone asks first (`failover commit`, `vm stop --turn-off`), `--dry-run` invokes
//! nothing, and a name found on no host stops the command before anything changes.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv_sim::SimHost;
use support::Pair;

/// Every invoke the host received.
fn invokes(host: &SimHost) -> u64 {
    let stats = host.stats();
    stats
        .by_action
        .iter()
        .filter(|(k, _)| k.starts_with("Invoke:"))
        .map(|(_, n)| n)
        .sum()
}

fn power(pair: &Pair, host: &str) -> String {
    let run = pair.run(&["--host", host, "-o", "json", "vm", "list"]);
    let (res, _) = run.expect(0).json();
    let vm = res.iter().find(|r| r["vm"] == "demo-vm").unwrap();
    vm["data"]["enabled_state"].as_str().unwrap().to_owned()
}

#[test]
fn vm_stop_shuts_the_guest_down_and_turn_off_and_save_do_what_they_say() {
    let pair = Pair::start();
    let p = pair.p();

    let run = pair.run(&["--host", &p, "-o", "json", "vm", "stop", "demo-vm"]);
    let (res, _) = run.expect(0).json();
    let data = &res[0]["data"];
    assert_eq!(data["operation"], "shutdown_vm", "{data}");
    assert_eq!(data["method"], "InitiateShutdown");
    assert_eq!(data["return_code"], 0);
    assert_eq!(data["before"]["enabled_state"], "Running");
    assert_eq!(data["after"]["enabled_state"], "Off");
    assert_eq!(pair.primary.stats().count("Invoke:InitiateShutdown"), 1);
    assert_eq!(pair.primary.stats().count("Invoke:RequestStateChange"), 0);
    // Already off: nothing to do, nothing sent.
    let run = pair.run(&["--host", &p, "vm", "stop", "demo-vm"]);
    assert!(run.expect(0).stdout.contains("already Off"), "{}", run.stdout);
    assert_eq!(pair.primary.stats().count("Invoke:InitiateShutdown"), 1);

    pair.run(&["--host", &p, "vm", "start", "demo-vm"]).expect(0);
    let run = pair.run(&["--host", &p, "-o", "json", "vm", "stop", "--save", "demo-vm"]);
    let (res, _) = run.expect(0).json();
    assert_eq!(res[0]["data"]["operation"], "save_vm");
    assert_eq!(res[0]["data"]["after"]["enabled_state"], "Saved");
    // A saved guest cannot be asked to shut down: explained, nothing sent.
    let before = invokes(&pair.primary);
    let run = pair.run(&["--host", &p, "vm", "stop", "demo-vm"]);
    run.expect(5);
    assert!(run.stderr.contains("--turn-off"), "{}", run.stderr);
    assert_eq!(invokes(&pair.primary), before);

    // The power cut asks first; without a terminal it is refused, naming --yes.
    let run = pair.run(&["--host", &p, "vm", "stop", "--turn-off", "demo-vm"]);
    run.expect(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(invokes(&pair.primary), before);
    assert_eq!(power(&pair, &p), "Saved");
    let run = pair.run(&[
        "--host",
        &p,
        "-o",
        "json",
        "vm",
        "stop",
        "--turn-off",
        "-y",
        "demo-vm",
    ]);
    let (res, _) = run.expect(0).json();
    assert_eq!(res[0]["data"]["operation"], "stop_vm");
    assert_eq!(res[0]["data"]["method"], "RequestStateChange");
    assert_eq!(res[0]["data"]["after"]["enabled_state"], "Off");
}

#[test]
fn only_what_cannot_be_undone_asks() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    // None of these ask (no terminal, no --yes, and they run).
    pair.run(&["--host", &p, "vm", "stop", "demo-vm"]).expect(0);
    pair.run(&["--host", &p, "failover", "prepare", "demo-vm"])
        .expect(0);
    pair.run(&["--host", &r, "failover", "start", "demo-vm"])
        .expect(0);

    let run = pair.run(&["--host", &r, "failover", "commit", "demo-vm"]);
    run.expect(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(pair.replica.stats().count("Invoke:CommitFailover"), 0);

    #[cfg(target_os = "linux")]
    {
        // On a terminal the question is asked on it; anything but y/yes changes nothing.
        let answer = |text: &str| {
            let shell = format!("{{hvctl}} --host {r} failover commit demo-vm");
            pair.run_on_terminal(&shell, "dumb", Some(text))
        };
        let run = answer("n\n");
        assert!(run.stdout.contains("cannot be undone [y/N]"), "{}", run.stdout);
        assert!(run.stdout.contains("not confirmed"), "{}", run.stdout);
        assert_eq!(pair.replica.stats().count("Invoke:CommitFailover"), 0);
        let run = answer("y\n");
        run.expect(0);
        assert_eq!(pair.replica.stats().count("Invoke:CommitFailover"), 1);
    }
    #[cfg(not(target_os = "linux"))]
    pair.run(&["--host", &r, "failover", "commit", "--yes", "demo-vm"])
        .expect(0);

    // Reverse never asks.
    pair.run(&["--host", &r, "replication", "reverse", "demo-vm"])
        .expect(0);
}

#[test]
fn dry_run_reads_and_explains_and_invokes_nothing() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let quiet = |pair: &Pair| (invokes(&pair.primary), invokes(&pair.replica));
    let before = quiet(&pair);

    let run = pair.run(&["--host", &p, "vm", "stop", "--dry-run", "demo-vm"]);
    let out = &run.expect(0).stdout;
    assert!(out.contains("vm stop would"), "{out}");
    assert!(out.contains("InitiateShutdown(Force = false)"), "{out}");
    let run = pair.run(&["--host", &p, "vm", "stop", "--turn-off", "--dry-run", "demo-vm"]);
    assert!(
        run.expect(0)
            .stdout
            .contains("RequestStateChange(RequestedState = 3)"),
        "{}",
        run.stdout
    );
    let run = pair.run(&["--host", &p, "vm", "start", "--dry-run", "demo-vm"]);
    assert!(run.expect(0).stdout.contains("nothing to do"), "{}", run.stdout);
    // The preflight runs: prepare needs the VM off.
    let run = pair.run(&["--host", &p, "failover", "prepare", "--dry-run", "demo-vm"]);
    run.expect(5);
    assert!(run.stderr.contains("needs the VM off"), "{}", run.stderr);
    // Per host, from the states read: the replica is a replica, the primary is not.
    let run = pair.run(&[
        "--host",
        &p,
        "--host",
        &r,
        "-o",
        "json",
        "failover",
        "start",
        "--dry-run",
        "demo-vm",
    ]);
    let (res, _) = run.expect(5).json();
    let by_host = |h: &str| res.iter().find(|x| x["host"] == h).unwrap().clone();
    assert_eq!(by_host(&p)["error"]["class"], "invalid_state");
    let steps = by_host(&r)["data"]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(
        steps[0].as_str().unwrap().contains("InitiateFailover"),
        "{steps:?}"
    );
    assert_eq!(by_host(&r)["data"]["state"]["replication_mode"], "Replica");
    let run = pair.run(&["--host", &r, "failover", "commit", "--dry-run", "demo-vm"]);
    run.expect(5);
    let run = pair.run(&["--host", &r, "failover", "cancel", "--dry-run", "demo-vm"]);
    run.expect(5);
    let run = pair.run(&["--host", &r, "replication", "reverse", "--dry-run", "demo-vm"]);
    run.expect(5);
    assert_eq!(quiet(&pair), before, "a dry run invoked something");
    assert_eq!(power(&pair, &p), "Running");
}

#[test]
fn a_name_found_on_no_host_changes_nothing() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let run = pair.run(&["--host", &p, "vm", "stop", "demo-vm", "nosuch"]);
    run.expect(4);
    assert!(run.stderr.contains("nosuch"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(invokes(&pair.primary), 0);
    assert_eq!(power(&pair, &p), "Running");
    // With two hosts: demo-vm is on both, nosuch on neither.
    let run = pair.run(&[
        "--host",
        &p,
        "--host",
        &r,
        "-o",
        "json",
        "vm",
        "stop",
        "--turn-off",
        "--yes",
        "demo-vm",
        "nosuch",
    ]);
    let (res, _) = run.expect(4).json();
    assert_eq!(res.len(), 1, "{}", run.stdout);
    assert_eq!(res[0]["vm"], "nosuch");
    assert_eq!(invokes(&pair.primary) + invokes(&pair.replica), 0);
    // A name found on one of the hosts is found: the command runs.
    pair.run(&["--host", &p, "--host", &r, "vm", "stop", "demo-vm"])
        .expect(0);
    assert_eq!(power(&pair, &p), "Off");
}

#[test]
fn vm_shutdown_points_at_the_graceful_stop() {
    let pair = Pair::start();
    let run = pair.run(&["vm", "shutdown", "demo-vm"]);
    run.expect(2);
    assert!(run.stderr.contains("'stop'"), "{}", run.stderr);
    let run = pair.run(&["vm", "stop", "--help"]);
    let help = &run.expect(0).stdout;
    assert!(help.contains("through their guest"), "{help}");
    assert!(help.contains("--turn-off") && help.contains("--save"), "{help}");
}
