//! End to end: `hvctl vm list` against a simulated Hyper-V host (`hyperv-sim`, NTLM with
//! WinRM message encryption) whose reply to a Pull is lost after the simulator processed it
//! (`FaultAction::DropAfterExecute`). One loss: the enumeration restarts (a second Enumerate)
//! and every VM is listed exactly once, exit 0. Two losses: exit 7 (connection) with a message
//! saying the enumeration was interrupted after N items and the listing is incomplete.
//! The binary and its environment come from `support` (shared with `e2e.rs`).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use hyperv_sim::{FaultAction, FaultRule, Match, SimConfig, SimHost};
use serde_json::Value as Json;

use support::{hvctl, runtime, Run, USER};

/// VMs on the host. The restart tests list them with `--page-size 1` (one item per page: one
/// Pull per VM), so that a lost reply can be placed on any page.
const VMS: usize = 12;

/// One simulated host with `VMS` VMs, served on a background runtime.
/// Fields drop in order: the host stops first, then the runtime.
struct Host {
    sim: SimHost,
    password: String,
    home: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Host {
    fn start() -> Host {
        let rt = runtime();
        let password = hyperv_sim::random_password().to_string();
        let mut cfg = SimConfig::new("HV01").user(USER, &password);
        cfg.vms = names();
        let sim = rt.block_on(SimHost::start(cfg)).unwrap();
        Host {
            sim,
            password,
            home: tempfile::tempdir().unwrap(),
            _rt: rt,
        }
    }

    /// `hvctl --auth ntlm --user USER --host <sim> --page-size 1 <args>` with the password in
    /// HVCTL_PASSWORD and an environment that cannot see the developer's config.
    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--page-size", "1"];
        all.extend_from_slice(args);
        self.run_paged(&all)
    }

    /// The same without `--page-size` (the client's default page size).
    fn run_paged(&self, args: &[&str]) -> Run {
        let mut cmd = hvctl(self.home.path());
        cmd.env("HVCTL_PASSWORD", &self.password)
            .args(["--auth", "ntlm", "--user", USER, "--host"])
            .arg(self.sim.addr().to_string())
            .args(args);
        Run::of(cmd, None)
    }
}

fn names() -> Vec<String> {
    (1..=VMS).map(|i| format!("vm{i:02}")).collect()
}

/// A rule that drops the connection after the simulator executed the `n`-th Pull (1-based)
/// counted from now, so the context advanced and the reply is lost.
fn drop_pull(n: u32) -> FaultRule {
    FaultRule {
        skip: n - 1,
        ..FaultRule::once(Match::Action("Pull".into()), FaultAction::DropAfterExecute)
    }
}

/// VM name -> how many times `vm list` listed it.
fn listed(results: &[Json]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in results {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["command"], "vm list", "{r}");
        *seen.entry(r["vm"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    seen
}

#[test]
fn vm_list_survives_a_lost_pull_reply_and_lists_every_vm_once() {
    let host = Host::start();

    // Baseline: a clean listing and the Pulls it takes.
    let (clean, _) = host.run(&["-o", "json", "vm", "list"]).expect(0).json_lines();
    let base = host.sim.stats();
    let pulls = base.count("Pull");
    assert!(pulls >= 3, "the listing must need several Pulls, took {pulls}");
    assert_eq!(base.count("Enumerate"), 1);

    host.sim.faults().inject(drop_pull(2));
    let run = host.run(&["-o", "json", "vm", "list"]);
    let (results, summary) = run.expect(0).json_lines();

    assert_eq!(
        host.sim.faults().fired().len(),
        1,
        "the 2nd Pull's reply was dropped"
    );
    let seen = listed(&results);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        names(),
        "every VM listed"
    );
    assert!(seen.values().all(|&n| n == 1), "a VM listed twice: {seen:?}");
    assert_eq!(summary["total"], VMS);
    assert_eq!(summary["failed"], 0);
    // Same VMs in the same order as the clean run.
    let guids = |l: &[Json]| l.iter().map(|r| r["data"]["guid"].clone()).collect::<Vec<_>>();
    assert_eq!(guids(&results), guids(&clean));

    // The simulator saw the restart: a second Enumerate, and the 2 Pulls of the broken run on
    // top of a full one.
    let st = host.sim.stats();
    assert_eq!(st.count("Enumerate") - base.count("Enumerate"), 2, "{st:?}");
    assert_eq!(st.count("Pull") - pulls, pulls + 2, "{st:?}");
}

#[test]
fn vm_list_with_two_lost_pull_replies_exits_7_saying_the_listing_is_incomplete() {
    let host = Host::start();
    // Enumerate carries item 1. Pull 1 carries item 2; Pull 2's reply is lost (2 items
    // received). The restart: Enumerate (item 1, skipped), Pull 3 (item 2, skipped), Pulls 4-6
    // (items 3-5, received), Pull 7's reply is lost: 5 items received and no restart left.
    host.sim.faults().inject(drop_pull(2));
    host.sim.faults().inject(drop_pull(5));

    let run = host.run(&["vm", "list"]);
    run.expect(7);
    assert_eq!(host.sim.faults().fired().len(), 2);
    assert!(
        run.stderr.contains(
            "enumeration interrupted after 5 item(s) were received: the listing is incomplete, run it again"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("outcome of Pull"),
        "the cause: {}",
        run.stderr
    );
    // No partial table: the listing is all or nothing.
    assert!(!run.stdout.contains("vm0"), "{}", run.stdout);
    let st = host.sim.stats();
    assert_eq!(st.count("Enumerate"), 2, "{st:?}");
    assert_eq!(st.count("Pull"), 7, "{st:?}");

    // The same in JSON: one failed result of class connection, exit code 7.
    host.sim.faults().inject(drop_pull(2));
    host.sim.faults().inject(drop_pull(5));
    let run = host.run(&["-o", "json", "vm", "list"]);
    let (results, summary) = run.expect(7).json_lines();
    assert_eq!(results.len(), 1, "{}", run.stdout);
    let e = &results[0]["error"];
    assert_eq!(results[0]["ok"], false);
    assert_eq!(e["class"], "connection", "{e}");
    assert_eq!(e["exit_code"], 7, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("enumeration interrupted after 5 item(s) were received: the listing is incomplete"),
        "{msg}"
    );
    assert_eq!(summary["exit_code"], 7);
}

/// `--max-envelope-size` reaches the wire: it is the `w:MaxEnvelopeSize` of every recorded
/// request, and the host fits fewer VM instances (about 2.9 KB each) into a page of 8192 bytes
/// than into the default 512000, so the same listing takes more Pulls.
#[test]
fn wsman_enumerate_honours_max_envelope_size() {
    let host = Host::start();
    let mut pulls = Vec::new();
    for (size, expected) in [
        (None, "512000"),
        (Some("8192"), "8192"),
        (Some("1048576"), "1048576"),
    ] {
        let rec = tempfile::tempdir().unwrap();
        let rec_dir = rec.path().to_str().unwrap().to_owned();
        let mut args = vec!["--record", rec_dir.as_str()];
        if let Some(n) = size {
            args.extend(["--max-envelope-size", n]);
        }
        args.extend(["wsman", "enumerate", "Msvm_ComputerSystem"]);
        let before = host.sim.stats().count("Pull");
        let run = host.run_paged(&args);
        run.expect(0);
        for name in names() {
            assert!(run.stdout.contains(&name), "{name} missing: {}", run.stdout);
        }
        pulls.push(host.sim.stats().count("Pull") - before);
        let mut requests = 0;
        for f in walk(rec.path()) {
            let text = std::fs::read_to_string(&f).unwrap();
            if f.to_string_lossy().contains("request") {
                requests += 1;
                assert!(
                    text.contains(&format!(">{expected}</w:MaxEnvelopeSize>")),
                    "{}: {text}",
                    f.display()
                );
            }
        }
        assert!(requests >= 1, "no request recorded: {:?}", walk(rec.path()));
    }
    assert!(pulls[1] > pulls[0], "8192-byte pages hold fewer VMs: {pulls:?}");
    assert_eq!(pulls[0], pulls[2], "{pulls:?}");
}

/// `vm list` asks for pages (MaxElements) instead of WS-Enumeration's default of one item per
/// response, which the simulator keeps as Windows does: 300 VMs (about 3 KB each) come in two
/// pages of at most 512000 bytes, one Enumerate and one Pull, where one item per page took 301.
#[test]
fn vm_list_of_300_vms_takes_two_requests() {
    let rt = runtime();
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = SimConfig::new("HV01").user(USER, &password);
    cfg.vms = (1..=300).map(|i| format!("vm{i:03}")).collect();
    let sim = rt.block_on(SimHost::start(cfg)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = hvctl(home.path());
    cmd.env("HVCTL_PASSWORD", &password)
        .args(["--auth", "ntlm", "--user", USER, "--host"])
        .arg(sim.addr().to_string())
        .args(["-o", "json", "vm", "list"]);
    let (results, summary) = Run::of(cmd, None).expect(0).json_lines();
    assert_eq!(summary["total"], 300);
    assert_eq!(listed(&results).len(), 300);
    let st = sim.stats();
    assert_eq!(
        (st.count("Enumerate"), st.count("Pull"), st.requests),
        (1, 1, 2),
        "{st:?}"
    );
    assert_eq!((st.connections, st.handshakes), (1, 1), "{st:?}");
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A host whose MaxBatchItems is below the client's page size refuses the Enumerate
/// (`w:InvalidBatchParameter`); the error says so, and `--page-size` within the limit lists.
#[test]
fn a_page_size_above_the_hosts_max_batch_items_is_explained_and_page_size_fixes_it() {
    let rt = runtime();
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = SimConfig::new("HV01").user(USER, &password);
    cfg.vms = names();
    cfg.max_batch_items = 5;
    let sim = rt.block_on(SimHost::start(cfg)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = hvctl(home.path());
        cmd.env("HVCTL_PASSWORD", &password)
            .args(["--auth", "ntlm", "--user", USER, "--host"])
            .arg(sim.addr().to_string())
            .args(extra)
            .args(["vm", "list"]);
        Run::of(cmd, None)
    };
    let refused = run(&[]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("above the host's MaxBatchItems")
            && refused.stderr.contains("pass --page-size N"),
        "{}",
        refused.stderr
    );
    let listed = run(&["--page-size", "5"]);
    listed.expect(0);
    for name in names() {
        assert!(listed.stdout.contains(&name), "{name}: {}", listed.stdout);
    }
}
