//! End to end: failures name their real cause, once. A web server that is no WinRM listener,
//! `--https` against a plain HTTP port, `negotiate` with neither a password nor a Kerberos
//! ticket, and the usual failures (wrong password, unknown host, a fault) naming the host once
//! and the user as typed. The binary runs against simulated hosts (`hyperv-sim`) and a
//! minimal HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use hyperv_sim::SimHost;
use support::{hvctl, Pair, Run, USER};

/// A plain HTTP server on 127.0.0.1 that answers every request with `status` and a short
/// HTML page (as a web server without WinRM on that port would). Returns its port.
fn web_server(status: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    // The request line and headers, up to the blank line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let page = "<html><body>It works</body></html>";
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                        page.len()
                    );
                    if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_web_server_on_the_port_is_no_winrm_listener_not_an_authentication_failure() {
    let home = tempfile::tempdir().unwrap();
    for (status, code) in [("404 Not Found", "404"), ("200 OK", "200")] {
        let port = web_server(status);
        let addr = format!("127.0.0.1:{port}");
        for auth in ["ntlm", "negotiate"] {
            let mut cmd = hvctl(home.path());
            cmd.args(["--host", &addr, "--auth", auth, "--user", USER, "vm", "list"])
                .env("HVCTL_PASSWORD", "secret");
            let run = Run::of(cmd, None);
            run.expect(7);
            assert!(
                run.stderr.contains(&format!(
                    "no WinRM listener at http port {port} (the server answered HTTP {code}"
                )),
                "{auth} {status}: {}",
                run.stderr
            );
            assert!(!run.stderr.contains("authentication failed"), "{}", run.stderr);
        }
    }
}

#[test]
fn https_against_a_plain_http_port_says_so_and_what_to_change() {
    let rt = support::runtime();
    let password = hyperv_sim::random_password().to_string();
    let cfg = hyperv_sim::SimConfig::new("HV-PLAIN").user(USER, &password);
    let host = rt.block_on(SimHost::start(cfg)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let addr = host.addr().to_string();
    for extra in [&["vm", "list"][..], &["wsman", "identify"]] {
        let mut cmd = hvctl(home.path());
        cmd.args(["--host", &addr, "--https", "--auth", "ntlm", "--user", USER])
            .args(extra)
            .env("HVCTL_PASSWORD", &password);
        let run = Run::of(cmd, None);
        run.expect(7);
        assert!(
            run.stderr.contains("the server answered in plain HTTP, not TLS"),
            "{extra:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("drop --https"), "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains("5986"), "{extra:?}: {}", run.stderr);
    }
}

#[test]
fn negotiate_without_a_password_or_a_ticket_says_how_to_give_either() {
    let pair = Pair::start();
    let missing = pair.home.path().join("no-such-ccache");
    let ccache = format!("FILE:{}", missing.display());
    for json in [false, true] {
        let mut cmd = hvctl(pair.home.path());
        cmd.args(["--host", &pair.p(), "--user", USER, "vm", "list"])
            .env("KRB5CCNAME", &ccache);
        if json {
            cmd.args(["-o", "json"]);
        }
        let run = Run::of(cmd, None);
        run.expect(2);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: no password and no Kerberos ticket for HV\\operator: "),
            "{}",
            run.stderr
        );
        for needed in [
            "HVCTL_PASSWORD",
            "--password-stdin",
            "prompted",
            "kinit user@REALM",
        ] {
            assert!(first.contains(needed), "{needed}: {first}");
        }
        assert!(!run.stderr.contains("gss_acquire_cred"), "{}", run.stderr);
        assert!(
            run.stderr.len() < 400,
            "{} characters: {}",
            run.stderr.len(),
            run.stderr
        );
        if json {
            let (results, summary) = run.json();
            assert_eq!(results.len(), 1, "{}", run.stdout);
            assert_eq!(results[0]["error"]["class"], "usage");
            assert_eq!(summary["exit_class"], "usage");
        }
    }
}

/// The `error:` lines of a run.
fn error_lines(run: &Run) -> Vec<&str> {
    run.stderr.lines().filter(|l| l.starts_with("error: ")).collect()
}

#[test]
fn failures_name_the_host_once_and_the_user_as_typed() {
    let pair = Pair::start();
    let host = pair.p();
    let wrong = [("HVCTL_PASSWORD", "wrong")];
    let cases: Vec<(Run, &str)> = vec![
        (
            pair.run_env(&["--host", &host, "vm", "list"], &wrong, None),
            host.as_str(),
        ),
        (
            pair.run_env(&["--host", &host, "vm", "start", "demo-vm"], &wrong, None),
            host.as_str(),
        ),
        (
            pair.run(&["--host", "nosuch.invalid", "vm", "list"]),
            "nosuch.invalid",
        ),
        (
            pair.run(&["--host", "nosuch.invalid", "vm", "stop", "demo-vm"]),
            "nosuch.invalid",
        ),
        (
            pair.run(&["--host", &host, "wsman", "get", "Msvm_Nope"]),
            host.as_str(),
        ),
        (
            pair.run(&["--host", &host, "wsman", "identify", "--https"]),
            host.as_str(),
        ),
    ];
    for (run, named) in &cases {
        assert_ne!(run.code, 0, "{}", run.stderr);
        let lines = error_lines(run);
        assert_eq!(lines.len(), 1, "one error line:\n{}", run.stderr);
        assert_eq!(
            lines[0].matches(named).count(),
            1,
            "{named} named once: {}",
            lines[0]
        );
        assert!(!run.stderr.contains("HV\\\\operator"), "{}", run.stderr);
    }
    for (run, _) in &cases[..2] {
        assert!(
            error_lines(run)[0].contains("authentication as 'HV\\operator' with NTLM failed"),
            "{}",
            run.stderr
        );
    }
    // An unknown name is retried (it may be a passing resolver failure), but said once.
    for (run, _) in &cases[2..4] {
        assert_eq!(run.stderr.matches("dns error").count(), 1, "{}", run.stderr);
    }
    // In JSON, the message names the host once too (the record's `host` names it again).
    let run = pair.run_env(&["--host", &host, "-o", "json", "vm", "list"], &wrong, None);
    let (results, _) = run.json();
    let message = results[0]["error"]["message"].as_str().unwrap();
    assert_eq!(message.matches(host.as_str()).count(), 1, "{message}");
    assert!(message.contains("'HV\\operator'"), "{message}");
}
