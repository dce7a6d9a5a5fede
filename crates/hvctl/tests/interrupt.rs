//! End to end: Ctrl-C (SIGINT) during `vm start` and `job wait` stops waiting, says which job
//! goes on on which host and how to follow it, writes the JSON summary with an `interrupted`
//! record, and exits 130; the host's job is left running and completes. The binary runs
//! against a simulated host (`hyperv-sim`) whose jobs take several seconds.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hyperv_sim::SimHost;
use support::{check_result, check_summary, hvctl, Run, USER};

/// Starts hvctl with `args` (JSON output, NTLM), waits until its progress on stderr names the
/// job, and sends it SIGINT. Returns the job id and the finished run.
fn interrupt(addr: &str, password: &str, home: &std::path::Path, args: &[&str]) -> (String, Run) {
    let mut cmd = hvctl(home);
    cmd.args(["--host", addr, "--auth", "ntlm", "--user", USER, "-o", "json"])
        .args(args)
        .env("HVCTL_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    // The progress line `LABEL: job ID STATE N%` (stderr is not a terminal): the job runs.
    let job_id = loop {
        let line = rx.recv().expect("hvctl ended before its job was shown");
        if let Some((_, rest)) = line.split_once(": job ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let stderr = reader.join().unwrap();
    (job_id, Run { code, stdout, stderr })
}

#[test]
fn ctrl_c_stops_waiting_names_the_job_that_goes_on_and_exits_130() {
    let rt = support::runtime();
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = hyperv_sim::SimConfig::new("HV-INT").user(USER, &password);
    cfg.vms = vec!["int-vm".to_owned()];
    cfg.job_duration = Duration::from_secs(6);
    let host = rt.block_on(SimHost::start(cfg)).unwrap();
    let addr = host.addr().to_string();
    let home = tempfile::tempdir().unwrap();
    let follow = |job: &str| format!("`hvctl job wait {job} --host {addr}`");

    for args in [&["vm", "start", "int-vm"][..], &["job", "wait", "JOB"]] {
        let (job, run) = if args[0] == "job" {
            // Start a job to wait for: `vm stop` (interrupted too), then `job wait` on it.
            let (job, first) = interrupt(
                &addr,
                &password,
                home.path(),
                &["vm", "stop", "--turn-off", "--yes", "int-vm"],
            );
            first.expect(130);
            let (again, run) = interrupt(&addr, &password, home.path(), &["job", "wait", &job]);
            assert_eq!(again, job);
            (job, run)
        } else {
            interrupt(&addr, &password, home.path(), args)
        };
        run.expect(130);
        // stderr names the job, the host and the command that follows it.
        assert!(run.stderr.contains(&follow(&job)), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("job {job} continues on {addr}")),
            "{}",
            run.stderr
        );
        // stdout: the interrupted record and the summary line.
        let (results, summary) = run.json_lines();
        check_summary(&summary, &results, 130);
        assert_eq!(results.len(), 1, "{}", run.stdout);
        check_result(&results[0]);
        let r = &results[0];
        assert_eq!(r["ok"], false);
        assert_eq!(r["host"], addr.as_str());
        assert_eq!(r["error"]["class"], "interrupted");
        assert_eq!(r["error"]["exit_code"], 130);
        assert!(
            r["error"]["message"].as_str().unwrap().contains(&follow(&job)),
            "{r}"
        );
        assert_eq!(summary["exit_class"], "interrupted");
        if args[0] == "vm" {
            assert_eq!(r["vm"], "int-vm");
        }
        // The host's job went on: following it ends with it completed.
        let mut cmd = hvctl(home.path());
        cmd.args([
            "--host", &addr, "--auth", "ntlm", "--user", USER, "-o", "json", "job", "wait", &job,
        ])
        .env("HVCTL_PASSWORD", &password);
        let done = Run::of(cmd, None);
        done.expect(0);
        let (results, _) = done.json();
        assert_eq!(results[0]["data"]["state"], "Completed", "{}", done.stdout);
    }
}
