//! End to end: help for typos and for a command on the wrong VM. A mistyped VM name gets the
//! close names of the hosts searched (one extra listing per host, only when a name is
//! missing), "not found" on several hosts names them all once, a mistyped profile or config key
//! gets its close names, and `vm start` on a replica says what to do instead of 32775. The
//! binary runs against a simulated primary/replica pair (`hyperv-sim`).
#![allow(clippy::unwrap_used)]

mod support;

use support::Pair;

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error: ")).collect()
}

#[test]
fn a_mistyped_vm_gets_the_close_names_from_one_listing() {
    let pair = Pair::start();
    let p = pair.p();
    let before = pair.primary.stats().count("Enumerate");
    let run = pair.run(&["--host", &p, "vm", "start", "demo-mv", "zzzzzzzz"]);
    run.expect(4);
    let after = pair.primary.stats().count("Enumerate");
    assert_eq!(after - before, 2, "the lookup and one listing for both names");
    let lines = error_lines(&run.stderr);
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].ends_with(&format!(
            "no virtual machine named 'demo-mv' on {p}: nothing was changed on any host; did you mean 'demo-vm'?"
        )),
        "{}",
        run.stderr
    );
    assert!(
        lines[1].ends_with(&format!(
            "no virtual machine named 'zzzzzzzz' on {p}: nothing was changed on any host"
        )),
        "{}",
        run.stderr
    );

    // A name that is found costs no listing.
    let before = pair.primary.stats().count("Enumerate");
    pair.run(&["--host", &p, "replication", "status", "demo-vm"])
        .expect(0);
    let found = pair.primary.stats().count("Enumerate") - before;
    let before = pair.primary.stats().count("Enumerate");
    pair.run(&["--host", &p, "replication", "status", "demo-vm", "demo-mv"])
        .expect(4);
    assert_eq!(pair.primary.stats().count("Enumerate") - before, found + 1);
}

#[test]
fn not_found_on_several_hosts_names_them_all_once() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let run = pair.run(&["--host", &p, "--host", &r, "replication", "status", "demo-mv"]);
    run.expect(4);
    let lines = error_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert_eq!(
        lines[0],
        format!("error: no virtual machine named 'demo-mv' on any of {p}, {r}; did you mean 'demo-vm'?")
    );
    let run = pair.run(&["--host", &p, "--host", &r, "-o", "json", "vm", "stop", "nosuch"]);
    run.expect(4);
    let (results, _) = run.json();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0]["error"]["message"],
        format!("no virtual machine named 'nosuch' on any of {p}, {r}: nothing was changed on any host")
    );
}

#[test]
fn mistyped_profiles_and_config_keys_get_their_close_names() {
    let pair = Pair::start();
    let dir = pair.home.path().join("config/hvctl");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[profiles.primary]\nhosts = [\"{}\"]\n\n[profiles.replica]\nhosts = [\"{}\"]\n",
            pair.p(),
            pair.r()
        ),
    )
    .unwrap();
    let run = pair.run(&["-p", "primray", "vm", "list"]);
    run.expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: profile `primray` not found (known profiles: primary, replica); did you mean `primary`?"
    );
    std::fs::write(&file, "[profiles.primary]\nhosst = [\"hv01\"]\n").unwrap();
    let run = pair.run(&["-p", "primary", "vm", "list"]);
    run.expect(2);
    assert!(run.stderr.contains("unknown field `hosst`"), "{}", run.stderr);
    assert!(
        run.stderr.trim_end().ends_with("; did you mean `hosts`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn starting_a_replica_says_to_fail_over_first() {
    let pair = Pair::start();
    let r = pair.r();
    let before = pair.replica.stats().count("Invoke:RequestStateChange");
    let run = pair.run(&["--host", &r, "vm", "start", "demo-vm"]);
    run.expect(5);
    assert!(
        run.stderr
            .contains("is a replica (Replicating): a replica VM cannot be started"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`hvctl failover start demo-vm`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("32775"), "{}", run.stderr);
    assert_eq!(
        pair.replica.stats().count("Invoke:RequestStateChange"),
        before,
        "nothing sent"
    );
    // After the failover, the replica starts.
    pair.run(&["--host", &r, "failover", "start", "demo-vm"])
        .expect(0);
    pair.run(&["--host", &r, "vm", "start", "demo-vm"]).expect(0);
}
