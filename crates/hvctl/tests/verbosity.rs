//! `-q` prints only results and errors; `-v` one line per WS-Man exchange, `-vv` the HTTP
//! headers (authentication tokens redacted), `-vvv` the decrypted bodies (the password
//! redacted); colours follow `NO_COLOR` (<https://no-color.org>).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use support::Pair;

/// The `-v` exchange lines of a run's stderr: (operation, class, HTTP status).
fn exchange_lines(stderr: &str) -> Vec<(String, String, u16)> {
    stderr
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(": HTTP ")?;
            let (status, ms) = tail.split_once(" in ")?;
            ms.strip_suffix(" ms")?.parse::<u64>().ok()?;
            // `<time>  INFO <host> <operation> <class>`
            let mut words = head.rsplit(' ');
            let class = words.next()?.to_owned();
            let op = words.next()?.to_owned();
            Some((op, class, status.parse().ok()?))
        })
        .collect()
}

#[test]
fn verbose_shows_one_line_per_exchange_the_host_counted() {
    let pair = Pair::start();
    let p = pair.p();
    let before = pair.primary.stats();
    let run = pair.run(&["--host", &p, "-v", "replication", "status", "demo-vm"]);
    run.expect(0);
    let after = pair.primary.stats();
    let lines = exchange_lines(&run.stderr);
    assert_eq!(
        lines.len() as u64,
        after.requests - before.requests,
        "one line per SOAP request:\n{}",
        run.stderr
    );
    // The same operations as the host saw, each as often.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (op, _, status) in &lines {
        assert_eq!(*status, 200, "{}", run.stderr);
        let label = match op.as_str() {
            "Identify" | "Get" | "Put" | "Enumerate" | "Pull" | "Release" => op.clone(),
            method => format!("Invoke:{method}"),
        };
        *seen.entry(label).or_default() += 1;
    }
    for (label, n) in &seen {
        assert_eq!(
            after.count(label) - before.count(label),
            *n,
            "{label}\n{}",
            run.stderr
        );
    }
    assert!(
        lines
            .iter()
            .any(|(_, class, _)| class == "Msvm_ReplicationSettingData"),
        "the class is named: {}",
        run.stderr
    );
    // No headers or bodies at -v.
    assert!(!run.stderr.contains("POST http"), "{}", run.stderr);
    assert!(!run.stderr.contains("<s:Envelope"), "{}", run.stderr);
}

#[test]
fn very_verbose_shows_headers_with_the_tokens_redacted() {
    let pair = Pair::start();
    let p = pair.p();
    let run = pair.run(&["--host", &p, "-vv", "vm", "list"]);
    run.expect(0);
    assert!(
        run.stderr.contains(&format!("POST http://{p}/wsman")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("content-type: multipart/encrypted"),
        "{}",
        run.stderr
    );
    let auth: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("authorization:") || l.trim_start().starts_with("www-authenticate:")
        })
        .collect();
    assert!(
        auth.len() >= 2,
        "the handshake's headers are shown: {}",
        run.stderr
    );
    for l in &auth {
        let value = l.split_once(": ").unwrap().1;
        let token = value.split_once(' ').map_or("", |(_, t)| t);
        assert!(
            token.is_empty() || (token.starts_with("<redacted, ") && token.ends_with(" bytes>")),
            "a token is shown: {l}"
        );
    }
    assert!(
        !run.stderr.contains("TlRMTVNT"),
        "an NTLM message in base64: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("<s:Envelope"),
        "no bodies at -vv: {}",
        run.stderr
    );
}

#[test]
fn trace_shows_decrypted_bodies_without_the_password() {
    let pair = Pair::start();
    let p = pair.p();
    // A VM name that is the password puts the password in a request body (the WQL filter).
    let run = pair.run(&[
        "--host",
        &p,
        "-vvv",
        "replication",
        "status",
        "demo-vm",
        &pair.password,
    ]);
    assert!(run.stderr.contains("request body (decrypted)"), "{}", run.stderr);
    assert!(run.stderr.contains("reply body (decrypted)"), "{}", run.stderr);
    assert!(run.stderr.contains("Msvm_ComputerSystem"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ElementName = &apos;********&apos;"),
        "{}",
        run.stderr
    );
    // Only the not-found error names it: the argument as the user typed it.
    let logged: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with("error: ")).collect();
    assert!(
        !logged.iter().any(|l| l.contains(&pair.password)),
        "the password is logged"
    );
}

#[test]
fn quiet_prints_only_results_and_errors() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    // A job's progress lines and the summary line of a multi-host command go away.
    let loud = pair.run(&["--host", &p, "vm", "stop", "--save", "demo-vm"]);
    loud.expect(0);
    assert!(
        loud.stderr.contains("job"),
        "progress without -q: {}",
        loud.stderr
    );
    pair.run(&["--host", &p, "vm", "start", "demo-vm"]).expect(0);
    let quiet = pair.run(&["--host", &p, "-q", "vm", "stop", "--save", "demo-vm"]);
    quiet.expect(0);
    assert_eq!(quiet.stderr, "", "nothing but results: {}", quiet.stderr);
    assert!(!quiet.stdout.is_empty(), "the result is printed");

    let both = ["--host", &p, "--host", &r, "replication", "status", "demo-vm"];
    let loud = pair.run(&both);
    assert!(loud.stderr.contains("ok, 0 failed"), "{}", loud.stderr);
    let quiet = pair.run(&[&["-q"][..], &both[..]].concat());
    quiet.expect(0);
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.stdout, loud.stdout);

    // Errors still show, without the summary line.
    let run = pair.run(&["--host", &p, "-q", "vm", "start", "nosuch"]);
    run.expect(4);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(!run.stderr.contains("failed (exit code"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // From the environment too; and it cannot be combined with -v.
    let run = pair.run_env(
        &["--host", &p, "vm", "stop", "--save", "demo-vm"],
        &[("HVCTL_PASSWORD", &pair.password), ("HVCTL_QUIET", "yes")],
        None,
    );
    assert_eq!(run.stderr, "", "{}", run.stderr);
    let run = pair.run(&["--host", &p, "-q", "-v", "vm", "list"]);
    run.expect(2);
    assert!(
        run.stderr.contains("--quiet") && run.stderr.contains("--verbose"),
        "{}",
        run.stderr
    );
}

#[cfg(target_os = "linux")]
#[test]
fn no_color_turns_the_colours_off_on_a_terminal() {
    let pair = Pair::start();
    let p = pair.p();
    let shell = |prefix: &str| format!("{prefix}{{hvctl}} --host {p} -v vm list");
    let coloured = pair.run_on_terminal(&shell(""), "xterm", None);
    coloured.expect(0);
    assert!(
        coloured.stdout.contains("\u{1b}["),
        "colours on a terminal: {:?}",
        coloured.stdout
    );
    let plain = pair.run_on_terminal(&shell("NO_COLOR=1 "), "xterm", None);
    plain.expect(0);
    assert!(plain.stdout.contains(": HTTP 200 in "), "{}", plain.stdout);
    assert!(!plain.stdout.contains("\u{1b}["), "NO_COLOR: {:?}", plain.stdout);
    // An empty NO_COLOR does not count (no-color.org).
    let empty = pair.run_on_terminal(&shell("NO_COLOR= "), "xterm", None);
    assert!(empty.stdout.contains("\u{1b}["), "{:?}", empty.stdout);
}
