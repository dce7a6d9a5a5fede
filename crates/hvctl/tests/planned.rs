//! `hvctl failover planned` through the binary against a simulated pair: the whole planned
//! failover of several VMs as one command, each method invoked once per VM (the simulator's
//! per-VM invoke counts); a run stopped at any step (the reply of that step's Invoke lost, or
//! the process killed while it waits for a job) and run again finishes with every method still
//! invoked exactly once, naming the steps it skipped; `--dry-run` changes nothing; a running VM
//! without `--shutdown`/`--turn-off`, two different VMs, or a VM that is not the primary on
//! `--primary` are refused before anything changes.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use hyperv_sim::{FaultAction, Match, SimHost};
use serde_json::Value as Json;
use support::{hvctl, Pair, Run, USER};

/// The methods of a planned failover, by host, each invoked once per VM.
const REPLICA_METHODS: [&str; 3] = [
    "InitiateFailover",
    "ReverseReplicationRelationship",
    "RequestStateChange",
];
const STEPS: [&str; 5] = ["stop", "prepare", "failover", "reverse", "start"];

/// Adds VMs replicating from the pair's primary to its replica (running on the primary).
fn add_vms(pair: &Pair, names: &[&str]) {
    let world = pair.primary.world();
    let mut w = world.lock().unwrap();
    for n in names {
        w.add_replicated_vm(
            pair.primary.host_id(),
            pair.replica.host_id(),
            n,
            SystemTime::now(),
        )
        .unwrap();
    }
}

fn guid(pair: &Pair, vm: &str) -> String {
    pair.primary.vm_id(vm).unwrap()
}

/// Every invoke a host received.
fn invokes(host: &SimHost) -> u64 {
    host.stats()
        .by_action
        .iter()
        .filter(|(k, _)| k.starts_with("Invoke:"))
        .map(|(_, n)| n)
        .sum()
}

/// Each method of the sequence was invoked exactly once on `vm` (with `stop` the method that
/// turned the primary off), and nothing else on it.
fn assert_each_once(pair: &Pair, vm: &str, stop: &str) {
    let g = guid(pair, vm);
    let p = pair.primary.stats();
    let r = pair.replica.stats();
    let prim = [stop, "RequestReplicationStateChangeEx"];
    for m in prim {
        assert_eq!(
            p.invokes(&g, m),
            1,
            "{vm}: {m} on the primary: {:?}",
            p.by_vm_invoke
        );
    }
    for m in REPLICA_METHODS {
        assert_eq!(
            r.invokes(&g, m),
            1,
            "{vm}: {m} on the replica: {:?}",
            r.by_vm_invoke
        );
    }
    let on_vm = |s: &hyperv_sim::Stats| -> u64 {
        s.by_vm_invoke
            .iter()
            .filter(|((v, _), _)| *v == g)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(on_vm(&p), 2, "{vm}: {:?}", p.by_vm_invoke);
    assert_eq!(on_vm(&r), 3, "{vm}: {:?}", r.by_vm_invoke);
}

/// The records of one VM, by step name (status records excluded).
fn steps_of<'a>(results: &'a [Json], vm: &str) -> Vec<&'a Json> {
    results
        .iter()
        .filter(|r| r["vm"] == vm && r["ok"] == true && r["data"]["step"] != "status")
        .collect()
}

fn outcomes(results: &[Json], vm: &str) -> Vec<(String, String)> {
    steps_of(results, vm)
        .iter()
        .map(|r| {
            (
                r["data"]["step"].as_str().unwrap().to_owned(),
                r["data"]["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn planned(pair: &Pair, vms: &[&str], extra: &[&str]) -> Run {
    let (p, r) = (pair.p(), pair.r());
    let mut args = vec!["-o", "json", "failover", "planned"];
    args.extend_from_slice(vms);
    args.extend_from_slice(&["--primary", &p, "--replica", &r]);
    args.extend_from_slice(extra);
    pair.run(&args)
}

/// The VM's (mode, state, power) on a host, from the simulator.
fn sim_state(host: &SimHost, vm: &str) -> (u16, u16, u16) {
    let world = host.world();
    let w = world.lock().unwrap();
    let v = w.vm_by_name(host.host_id(), vm).unwrap();
    let r = v.replication.as_ref().unwrap();
    (r.mode, r.state, v.enabled_state)
}

/// Switched over: Primary/Replicating and Running on the replica host, Replica/Replicating and
/// Off on the primary host.
fn assert_switched(pair: &Pair, vm: &str) {
    assert_eq!(sim_state(&pair.replica, vm), (1, 3, 2), "{vm} on the replica");
    assert_eq!(sim_state(&pair.primary, vm), (2, 3, 3), "{vm} on the primary");
}

#[test]
fn three_vms_switch_over_in_one_command_each_method_once_and_a_rerun_skips_everything() {
    let pair = Pair::start();
    add_vms(&pair, &["web02", "web03"]);
    let vms = ["demo-vm", "web02", "web03"];
    let run = planned(&pair, &vms, &["--shutdown"]);
    let (results, summary) = run.expect(0).json();
    assert_eq!(summary["failed"], 0, "{}", run.stdout);
    for vm in vms {
        let ran: Vec<(String, String)> = STEPS.iter().map(|s| (s.to_string(), "ran".to_owned())).collect();
        assert_eq!(outcomes(&results, vm), ran, "{vm}: {}", run.stdout);
        assert_each_once(&pair, vm, "InitiateShutdown");
        assert_switched(&pair, vm);
        // The status on both hosts closes each VM's records.
        let status: Vec<&Json> = results
            .iter()
            .filter(|r| r["vm"] == vm && r["data"]["step"] == "status")
            .collect();
        assert_eq!(status.len(), 2, "{vm}");
        assert_eq!(status[0]["host"], pair.p().as_str());
        assert_eq!(status[0]["data"]["after"]["replication_mode"], "Replica");
        assert_eq!(status[1]["host"], pair.r().as_str());
        assert_eq!(status[1]["data"]["after"]["replication_mode"], "Primary");
        assert_eq!(status[1]["data"]["after"]["enabled_state"], "Running");
    }
    let reverse = steps_of(&results, "web02")[3];
    assert_eq!(reverse["data"]["method"], "ReverseReplicationRelationship");
    assert!(reverse["data"]["job_id"].is_string(), "{reverse}");
    // The prepare ran on the primary, the failover on the replica.
    assert_eq!(steps_of(&results, "web03")[1]["host"], pair.p().as_str());
    assert_eq!(steps_of(&results, "web03")[2]["host"], pair.r().as_str());

    // The same command line again: the roles are swapped, which is the end of the sequence.
    let again = planned(&pair, &vms, &["--shutdown"]);
    let (results, _) = again.expect(0).json();
    for vm in vms {
        let skipped: Vec<(String, String)> = STEPS
            .iter()
            .map(|s| (s.to_string(), "skipped".to_owned()))
            .collect();
        assert_eq!(outcomes(&results, vm), skipped, "{vm}: {}", again.stdout);
        assert_each_once(&pair, vm, "InitiateShutdown");
    }
    let human = pair.run(&[
        "failover",
        "planned",
        "web02",
        "--primary",
        &pair.p(),
        "--replica",
        &pair.r(),
    ]);
    human.expect(0);
    assert!(
        human
            .stdout
            .contains("prepare: skipped, already switched over: web02 on"),
        "{}",
        human.stdout
    );
}

/// Runs the sequence with the reply of `method`'s Invoke on `host` lost (the host applied it):
/// exit 8 naming the rerun, then the same command again finishes, skipping what is done.
fn interrupted_at(step: usize, method: &str, on_replica: bool, stop_flag: &str, stop_method: &str) {
    let pair = Pair::start();
    let host = if on_replica { &pair.replica } else { &pair.primary };
    // The start's RequestStateChange is the replica's only one; the turn-off's the primary's.
    host.faults()
        .once(Match::Method(method.into()), FaultAction::DropAfterExecute);
    let run = planned(&pair, &["demo-vm"], &[stop_flag]);
    let (results, _) = run.expect(8).json();
    let failed = results.iter().find(|r| r["ok"] == false).unwrap();
    assert_eq!(failed["error"]["class"], "outcome_unknown", "{failed}");
    let msg = failed["error"]["message"].as_str().unwrap();
    assert!(msg.contains(method), "{msg}");
    assert!(
        msg.contains("run the same `hvctl failover planned` command again"),
        "{msg}"
    );
    let ran: Vec<(String, String)> = STEPS[..step]
        .iter()
        .map(|s| (s.to_string(), "ran".to_owned()))
        .collect();
    assert_eq!(outcomes(&results, "demo-vm"), ran, "{}", run.stdout);
    if method == "InitiateShutdown" {
        // No job to follow: the guest turns off on its own (the outcome is observed on the
        // host, as an operator would before running the command again).
        // (The simulator's clock moves when it is read, as each request does.)
        while sim_state(&pair.primary, "demo-vm").2 != 3 {
            std::thread::sleep(Duration::from_millis(20));
            pair.primary.world().lock().unwrap().advance(SystemTime::now());
        }
    }

    let rerun = planned(&pair, &["demo-vm"], &[stop_flag]);
    let (results, _) = rerun.expect(0).json();
    let expected: Vec<(String, String)> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.to_string(),
                if i <= step { "skipped" } else { "ran" }.to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes(&results, "demo-vm"), expected, "{}", rerun.stdout);
    let skipped = steps_of(&results, "demo-vm")[step];
    assert!(
        skipped["data"]["reason"].as_str().unwrap().contains("already"),
        "{skipped}"
    );
    assert_each_once(&pair, "demo-vm", stop_method);
    assert_switched(&pair, "demo-vm");
}

#[test]
fn a_lost_shutdown_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(0, "InitiateShutdown", false, "--shutdown", "InitiateShutdown");
}

/// The shutdown's reply lost and the command run again at once, while the guest is still
/// shutting down (the host shows it Running): the second InitiateShutdown is refused with 32775
/// and changes nothing, the rerun waits until the VM is Off, and goes on.
#[test]
fn a_rerun_while_the_guest_is_still_shutting_down_waits_for_it_and_goes_on() {
    let pair = Pair::start_with(Duration::from_secs(3));
    pair.primary.faults().once(
        Match::Method("InitiateShutdown".into()),
        FaultAction::DropAfterExecute,
    );
    planned(&pair, &["demo-vm"], &["--shutdown"]).expect(8);
    assert_eq!(sim_state(&pair.primary, "demo-vm").2, 2, "still running");

    let rerun = planned(&pair, &["demo-vm"], &["--shutdown"]);
    let (results, _) = rerun.expect(0).json();
    assert_eq!(
        outcomes(&results, "demo-vm"),
        STEPS
            .iter()
            .map(|s| (s.to_string(), "ran".to_owned()))
            .collect::<Vec<_>>(),
        "{}",
        rerun.stdout
    );
    let stop = steps_of(&results, "demo-vm")[0];
    let messages = stop["data"]["messages"].to_string();
    assert!(messages.contains("already shutting down"), "{stop}");
    assert!(messages.contains("32775"), "{stop}");
    let g = guid(&pair, "demo-vm");
    // Two asked, one accepted: the host refused the second (checked above through 32775).
    assert_eq!(pair.primary.stats().invokes(&g, "InitiateShutdown"), 2);
    assert_eq!(
        pair.primary
            .stats()
            .invokes(&g, "RequestReplicationStateChangeEx"),
        1
    );
    for m in REPLICA_METHODS {
        assert_eq!(pair.replica.stats().invokes(&g, m), 1, "{m}");
    }
    assert_switched(&pair, "demo-vm");
}

#[test]
fn a_lost_turn_off_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(0, "RequestStateChange", false, "--turn-off", "RequestStateChange");
}

#[test]
fn a_lost_prepare_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(
        1,
        "RequestReplicationStateChangeEx",
        false,
        "--shutdown",
        "InitiateShutdown",
    );
}

#[test]
fn a_lost_failover_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(2, "InitiateFailover", true, "--shutdown", "InitiateShutdown");
}

#[test]
fn a_lost_reverse_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(
        3,
        "ReverseReplicationRelationship",
        true,
        "--shutdown",
        "InitiateShutdown",
    );
}

#[test]
fn a_lost_start_reply_is_resolved_by_running_the_command_again() {
    interrupted_at(4, "RequestStateChange", true, "--shutdown", "InitiateShutdown");
}

#[test]
fn killed_while_waiting_for_a_job_the_rerun_follows_that_job_and_goes_on() {
    // Long jobs: the process is killed (SIGKILL) while it follows the failover's job.
    let pair = Pair::start_with(Duration::from_secs(2));
    let (p, r) = (pair.p(), pair.r());
    let mut cmd = hvctl(pair.home.path());
    cmd.args(["--auth", "ntlm", "--user", USER, "-o", "json"])
        .args([
            "failover",
            "planned",
            "demo-vm",
            "--primary",
            &p,
            "--replica",
            &r,
            "--turn-off",
        ])
        .env("HVCTL_PASSWORD", &pair.password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let label = format!("demo-vm failover on {r}: job ");
    let job = loop {
        let line = rx
            .recv()
            .expect("hvctl ended before the failover's job was shown");
        if let Some((_, rest)) = line.split_once(&label) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    child.kill().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(
        sim_state(&pair.replica, "demo-vm").1,
        12,
        "the failover is still running"
    );

    let rerun = planned(&pair, &["demo-vm"], &["--turn-off"]);
    let (results, _) = rerun.expect(0).json();
    let expected: Vec<(String, String)> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), if i <= 2 { "skipped" } else { "ran" }.to_owned()))
        .collect();
    assert_eq!(outcomes(&results, "demo-vm"), expected, "{}", rerun.stdout);
    let first = steps_of(&results, "demo-vm")[0];
    let said = first["data"]["messages"].to_string();
    assert!(said.contains(&format!("followed job {job}")), "{first}");
    assert_each_once(&pair, "demo-vm", "RequestStateChange");
    assert_switched(&pair, "demo-vm");
}

#[test]
fn dry_run_lists_the_steps_and_changes_nothing() {
    let pair = Pair::start();
    let run = planned(&pair, &["demo-vm"], &["--shutdown", "--dry-run"]);
    let (results, _) = run.expect(0).json();
    assert_eq!(invokes(&pair.primary) + invokes(&pair.replica), 0);
    let would: Vec<(String, String)> = STEPS
        .iter()
        .map(|s| (s.to_string(), "would_run".to_owned()))
        .collect();
    assert_eq!(outcomes(&results, "demo-vm"), would, "{}", run.stdout);
    // The states found on each host come first.
    assert_eq!(results[0]["data"]["step"], "status");
    assert_eq!(results[0]["data"]["before"]["enabled_state"], "Running");
    assert_eq!(results[1]["data"]["before"]["replication_mode"], "Replica");
    let reverse = steps_of(&results, "demo-vm")[3];
    assert!(
        reverse["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("new replica server hv-primary.contoso.test:"),
        "{reverse}"
    );

    // Part of the way by hand: the dry run says which steps it would skip, and why.
    let p = pair.p();
    pair.run(&["--host", &p, "vm", "stop", "demo-vm"]).expect(0);
    pair.run(&["--host", &p, "failover", "prepare", "demo-vm"])
        .expect(0);
    let before = invokes(&pair.primary) + invokes(&pair.replica);
    let run = pair.run(&[
        "failover",
        "planned",
        "demo-vm",
        "--primary",
        &p,
        "--replica",
        &pair.r(),
        "--dry-run",
    ]);
    run.expect(0);
    assert_eq!(invokes(&pair.primary) + invokes(&pair.replica), before);
    assert!(
        run.stdout.contains("prepare: skipped, demo-vm on ")
            && run.stdout.contains("is already PreparedForFailover"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("failover: would invoke Msvm_ReplicationService.InitiateFailover"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_running_vm_needs_shutdown_or_turn_off_and_nothing_changes_without() {
    let pair = Pair::start();
    let run = planned(&pair, &["demo-vm"], &[]);
    let (results, summary) = run.expect(2).json();
    assert_eq!(summary["exit_class"], "usage");
    let msg = results[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--shutdown") && msg.contains("--turn-off"), "{msg}");
    assert_eq!(invokes(&pair.primary) + invokes(&pair.replica), 0);
    assert_eq!(sim_state(&pair.primary, "demo-vm"), (1, 3, 2));
    // Both flags at once is a usage error of the command line.
    planned(&pair, &["demo-vm"], &["--shutdown", "--turn-off"]).expect(2);
}

#[test]
fn two_different_vms_or_a_vm_not_primary_on_primary_are_refused_before_anything_changes() {
    let pair = Pair::start();
    // Same name, different GUIDs.
    pair.primary.add_vm("solo");
    pair.replica.add_vm("solo");
    let run = planned(&pair, &["solo"], &["--turn-off"]);
    let (results, _) = run.expect(5).json();
    let msg = results[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("different VMs (their GUIDs differ)"), "{msg}");

    // Not replicated on --primary (same GUID as the replica's).
    {
        let world = pair.primary.world();
        let mut w = world.lock().unwrap();
        let id = pair.primary.host_id().0;
        let vm = w.hosts[id].vms.iter_mut().find(|v| v.name == "demo-vm").unwrap();
        vm.replication = None;
    }
    let run = planned(&pair, &["demo-vm"], &["--turn-off"]);
    let (results, _) = run.expect(5).json();
    let msg = results[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("needs the VM Primary on --primary"), "{msg}");
    assert_eq!(invokes(&pair.primary) + invokes(&pair.replica), 0);

    // --primary and --replica naming one host.
    let p = pair.p();
    let run = pair.run(&["failover", "planned", "demo-vm", "--primary", &p, "--replica", &p]);
    run.expect(2);
    assert!(run.stderr.contains("are the same host"), "{}", run.stderr);
}
