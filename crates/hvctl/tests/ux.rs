//! End to end: how hvctl treats an operator used to kubectl, gh and Ansible: boolean
//! environment variables, repeated names, the JSON contract on every path, table widths,
//! suggestions for typos, verbosity, man pages and completions. The binary runs against
//! simulated hosts (`hyperv-sim`) over NTLM with WinRM message encryption.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv_sim::SimHost;
use support::{hvctl, Pair, Run, USER};

/// One simulated HTTPS host (a self-signed certificate) with the password, on its runtime.
fn https_host() -> (SimHost, String, tokio::runtime::Runtime) {
    let rt = support::runtime();
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = hyperv_sim::SimConfig::new("HV-TLS").user(USER, &password);
    cfg.https = true;
    cfg.vms = vec!["tls-vm".to_owned()];
    let host = rt.block_on(SimHost::start(cfg)).unwrap();
    (host, password, rt)
}

#[test]
fn boolean_variables_take_the_usual_spellings_and_name_themselves_when_wrong() {
    let (host, password, _rt) = https_host();
    let home = tempfile::tempdir().unwrap();
    let addr = host.addr().to_string();
    let run_with = |vars: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = hvctl(home.path());
        cmd.args(["--host", &addr, "--auth", "ntlm", "--user", USER])
            .args(extra)
            .args(["vm", "list"])
            .env("HVCTL_PASSWORD", &password);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::of(cmd, None)
    };
    for yes in ["1", "yes", "TRUE", "On", "true"] {
        let run = run_with(&[("HVCTL_HTTPS", yes), ("HVCTL_INSECURE", yes)], &[]);
        run.expect(0);
        assert!(run.stdout.contains("tls-vm"), "{yes}: {}", run.stdout);
    }
    // False values turn it off: plain HTTP against a TLS listener fails, and without
    // verification off the self-signed certificate is refused (a connection error).
    for no in ["0", "no", "FALSE", "off", ""] {
        run_with(&[("HVCTL_HTTPS", "yes"), ("HVCTL_INSECURE", no)], &[]).expect(7);
    }
    for (var, value) in [
        ("HVCTL_INSECURE", "maybe"),
        ("HVCTL_HTTPS", "2"),
        ("HVCTL_NO_PROGRESS", "enabled"),
    ] {
        let run = run_with(&[(var, value)], &[]);
        run.expect(2);
        assert_eq!(
            run.stderr.trim(),
            format!("error: {var}: expected 1/0/yes/no/true/false/on/off, got '{value}'"),
        );
        let (results, summary) = run_with(&[(var, value)], &["-o", "json"]).expect(2).json();
        assert_eq!(summary["exit_class"], "usage");
        assert!(results[0]["error"]["message"].as_str().unwrap().starts_with(var));
    }
    // Another variable's bad value names that variable, with clap's reason.
    let run = run_with(&[("HVCTL_PER_HOST", "lots")], &[]);
    run.expect(2);
    assert!(
        run.stderr
            .starts_with("error: HVCTL_PER_HOST: invalid value 'lots'"),
        "{}",
        run.stderr
    );
    // A typed flag's bad value still names the flag.
    let run = run_with(&[("HVCTL_PER_HOST", "lots")], &["--per-host", "many"]);
    run.expect(2);
    assert!(run.stderr.contains("'--per-host <PER_HOST>'"), "{}", run.stderr);
    drop(host);
}

#[test]
fn repeated_vm_names_and_guids_run_once() {
    let pair = Pair::start();
    let p = pair.p();
    let (list, _) = pair
        .run(&["--host", &p, "-o", "json", "vm", "list"])
        .expect(0)
        .json();
    let guid = list.iter().find(|r| r["vm"] == "demo-vm").unwrap()["data"]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let braced_lower = format!("{{{}}}", guid.to_lowercase());
    let before = pair.primary.stats().count("Invoke:RequestStateChange");
    let run = pair.run(&[
        "--host",
        &p,
        "-o",
        "json",
        "vm",
        "stop",
        "demo-vm",
        "demo-vm",
        "DEMO-VM",
        &guid,
        &braced_lower,
    ]);
    let (results, summary) = run.expect(0).json();
    assert_eq!(results.len(), 1, "{}", run.stdout);
    assert_eq!(results[0]["vm"], "demo-vm");
    assert_eq!(summary["total"], 1);
    assert_eq!(
        pair.primary.stats().count("Invoke:RequestStateChange"),
        before + 1
    );
    // Status of the same VM named twice, with two hosts: one line per host.
    let r = pair.r();
    let run = pair.run(&[
        "--host",
        &p,
        "--host",
        &r,
        "replication",
        "status",
        "Demo-VM",
        "demo-vm",
    ]);
    run.expect(0);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
}
