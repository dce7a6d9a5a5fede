//! End to end: how hvctl treats an operator used to kubectl, gh and Ansible: boolean
//! environment variables, repeated names, the JSON contract on every path, table widths,
//! suggestions for typos, verbosity, man pages and completions. The binary runs against
//! simulated hosts (`hyperv-sim`) over NTLM with WinRM message encryption.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv_sim::SimHost;
use serde_json::Value as Json;
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
    let before = pair.primary.stats().count("Invoke:InitiateShutdown");
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
    assert_eq!(pair.primary.stats().count("Invoke:InitiateShutdown"), before + 1);
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

/// What OUTPUT.md promises, read from the page itself.
struct Contract {
    /// Per command, the JSON example of its `data`.
    examples: std::collections::BTreeMap<String, Json>,
    /// The enumerated fields and their values ("field | values" table).
    values: Vec<(Vec<String>, Vec<String>)>,
    /// The keys of a result line.
    result_keys: Vec<String>,
    /// The documented commands.
    commands: Vec<String>,
    /// The summary example.
    summary: Json,
    /// The failure-before-any-item example.
    early_failure: Json,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

impl Contract {
    fn read() -> Contract {
        let doc = include_str!("../OUTPUT.md");
        let json_after = |from: usize| -> Json {
            let start = from + doc[from..].find("```json\n").unwrap() + "```json\n".len();
            let end = start + doc[start..].find("```").unwrap();
            serde_json::from_str(&doc[start..end]).unwrap_or_else(|e| panic!("OUTPUT.md example: {e}"))
        };
        let mut examples = std::collections::BTreeMap::new();
        for (at, line) in doc.match_indices("\n### ") {
            let heading = doc[at + 5..].lines().next().unwrap();
            let _ = line;
            for cmd in backticked(heading) {
                let json = json_after(at);
                let names: Vec<String> = match cmd.strip_suffix(" *") {
                    Some("failover") => ["prepare", "start", "commit", "cancel"]
                        .iter()
                        .map(|v| format!("failover {v}"))
                        .collect(),
                    _ => vec![cmd],
                };
                for n in names {
                    examples.insert(n, json.clone());
                }
            }
        }
        let section = |title: &str| doc.find(title).unwrap_or_else(|| panic!("no {title}"));
        let table_rows = |from: usize| -> Vec<&str> {
            doc[from..]
                .lines()
                .skip_while(|l| !l.starts_with('|'))
                .take_while(|l| l.starts_with('|'))
                .skip(2)
                .collect()
        };
        let result_rows = table_rows(section("## `result`"));
        let result_keys = result_rows
            .iter()
            .map(|r| backticked(r.split('|').nth(1).unwrap())[0].clone())
            .collect();
        let commands = backticked(
            result_rows
                .iter()
                .find(|r| r.starts_with("| `command`"))
                .unwrap()
                .split('|')
                .nth(3)
                .unwrap(),
        );
        let values = table_rows(section("| field | values |"))
            .iter()
            .map(|r| {
                let cells: Vec<&str> = r.split('|').collect();
                (backticked(cells[1]), backticked(cells[2]))
            })
            .collect();
        Contract {
            examples,
            values,
            result_keys,
            commands,
            summary: json_after(section("## `summary`")),
            early_failure: json_after(section("Every run with JSON output ends")),
        }
    }

    /// The documented values of the string at `key` inside `parent`, if it is enumerated.
    fn allowed(&self, parent: &str, key: &str, obj: &serde_json::Map<String, Json>) -> Option<&[String]> {
        let dotted = format!("{parent}.{key}");
        let job = obj.contains_key("percent_complete");
        self.values
            .iter()
            .find(|(fields, _)| fields.contains(&dotted))
            .or_else(|| {
                self.values
                    .iter()
                    .find(|(fields, _)| fields.iter().any(|f| f == key) && (key != "state" || job))
            })
            .map(|(_, v)| v.as_slice())
    }

    /// `real` has the shape of `doc` (OUTPUT.md's conventions), and enumerated strings have
    /// documented values.
    fn conforms(&self, doc: &Json, real: &Json, path: &str) {
        match (doc, real) {
            (_, Json::Null) => assert!(
                !matches!(doc, Json::Object(_) | Json::Array(_) | Json::Bool(_)) || path.ends_with(".error"),
                "{path}: null where OUTPUT.md shows {doc}"
            ),
            (Json::Null, r) => assert!(
                !r.is_object() && !r.is_array(),
                "{path}: {r} where OUTPUT.md shows null"
            ),
            (Json::String(_), r) => assert!(r.is_string(), "{path}: {r} is not a string"),
            (Json::Number(_), r) => assert!(r.is_number(), "{path}: {r} is not a number"),
            (Json::Bool(_), r) => assert!(r.is_boolean(), "{path}: {r} is not a bool"),
            (Json::Array(d), Json::Array(r)) => {
                if let Some(first) = d.first() {
                    for (i, x) in r.iter().enumerate() {
                        self.conforms(first, x, &format!("{path}[{i}]"));
                    }
                }
            }
            (Json::Object(d), Json::Object(r)) => {
                if d.is_empty() {
                    return; // the instance's own keys
                }
                let parent = path.rsplit('.').next().unwrap_or("");
                for (k, v) in r {
                    let dv = d
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} is not in OUTPUT.md ({real})"));
                    self.conforms(dv, v, &format!("{path}.{k}"));
                    if let (Some(s), Some(allowed)) = (v.as_str(), self.allowed(parent, k, r)) {
                        assert!(
                            allowed.iter().any(|a| a == s) || s.starts_with("Undocumented("),
                            "{path}.{k} = {s:?}, OUTPUT.md allows {allowed:?}"
                        );
                    }
                }
                for k in d.keys() {
                    let optional =
                        k == "reverse" && r.get("operation").is_some_and(|o| o != "reverse_replication");
                    assert!(
                        r.contains_key(k) || optional,
                        "{path}: OUTPUT.md's `{k}` is missing from {real}"
                    );
                }
            }
            (d, r) => panic!("{path}: {r} where OUTPUT.md shows {d}"),
        }
    }

    /// Every line of a JSON run against the page.
    fn check(&self, run: &Run, seen: &mut std::collections::BTreeSet<String>) {
        let (results, summary) = run.json();
        let shape = |s: &Json| -> Vec<(String, &'static str)> {
            s.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if v.is_string() {
                            "string"
                        } else if v.is_u64() {
                            "integer"
                        } else {
                            "other"
                        },
                    )
                })
                .collect()
        };
        assert_eq!(shape(&summary), shape(&self.summary), "summary {summary}");
        for r in &results {
            let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
            let mut documented: Vec<&String> = self.result_keys.iter().collect();
            documented.sort();
            let mut keys = keys.clone();
            keys.sort();
            assert_eq!(keys, documented, "{r}");
            let command = r["command"].as_str().unwrap();
            let early = r["ok"] == false && r["host"].is_null() && r["vm"].is_null();
            assert!(
                self.commands
                    .iter()
                    .any(|c| c == command || (early && c.starts_with(command))),
                "undocumented command {command:?}"
            );
            if r["ok"] == true {
                // A dry run's data is its plan, whatever the command.
                let key = if r["data"].get("steps").is_some() {
                    "--dry-run"
                } else {
                    command
                };
                let example = self
                    .examples
                    .get(key)
                    .unwrap_or_else(|| panic!("no example for {command}"));
                self.conforms(example, &r["data"], "data");
                seen.insert(key.to_owned());
            } else if r["host"].is_null() && r["vm"].is_null() {
                self.conforms(&self.early_failure, r, "result");
            }
        }
    }
}

#[test]
fn json_output_matches_output_md() {
    let contract = Contract::read();
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let mut seen = std::collections::BTreeSet::new();
    let mut ok = |args: &[&str], code: i32| {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        let run = pair.run(&full);
        run.expect(code);
        contract.check(&run, &mut seen);
        run
    };
    ok(
        &["--host", &p, "--host", &r, "replication", "status", "demo-vm"],
        0,
    );
    let list = ok(&["--host", &p, "--host", &r, "vm", "list"], 0);
    let guid = list.json_lines().0[0]["data"]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&["--host", &r, "replication", "recovery-points", "demo-vm"], 0);
    ok(&["--host", &r, "failover", "test", "demo-vm"], 0);
    ok(&["--host", &r, "failover", "test-stop", "demo-vm"], 0);
    // Replication health and control, on the primary.
    ok(&["--host", &p, "replication", "measure", "demo-vm"], 0);
    ok(
        &["--host", &p, "replication", "suspend", "--dry-run", "demo-vm"],
        0,
    );
    ok(&["--host", &p, "replication", "suspend", "demo-vm"], 0);
    ok(&["--host", &p, "replication", "measure", "demo-vm"], 0);
    ok(&["--host", &p, "replication", "resume", "demo-vm"], 0);
    assert!(pair.primary.require_resync("demo-vm"));
    ok(&["--host", &p, "replication", "measure", "demo-vm"], 0);
    ok(&["--host", &p, "replication", "resync", "demo-vm"], 0);
    ok(&["--host", &p, "vm", "stop", "--dry-run", "demo-vm"], 0);
    ok(&["--host", &p, "vm", "stop", "demo-vm"], 0);
    ok(&["--host", &p, "failover", "prepare", "demo-vm"], 0);
    ok(&["--host", &p, "failover", "cancel", "demo-vm"], 0);
    ok(&["--host", &p, "failover", "prepare", "demo-vm"], 0);
    ok(&["--host", &r, "failover", "start", "demo-vm"], 0);
    ok(&["--host", &r, "failover", "commit", "--yes", "demo-vm"], 0);
    ok(
        &["--host", &r, "replication", "reverse", "--dry-run", "demo-vm"],
        0,
    );
    ok(&["--host", &r, "replication", "reverse", "demo-vm"], 0);
    let start = ok(&["--host", &r, "vm", "start", "demo-vm"], 0);
    let job = start.json_lines().0[0]["data"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&["--host", &r, "job", "wait", &job], 0);
    ok(&["--host", &r, "job", "show", &job], 0);
    ok(&["--host", &r, "replication", "status", "demo-vm"], 0);
    // A failed job: `job show` lists its errors.
    pair.replica.faults().once(
        hyperv_sim::Match::Method("RequestStateChange".into()),
        hyperv_sim::FaultAction::FailJob {
            code: 32768,
            description: "The simulated power operation failed".into(),
        },
    );
    let failed = ok(&["--host", &r, "vm", "stop", "--turn-off", "--yes", "demo-vm"], 6);
    let message = failed.json_lines().0[0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed_job = message
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.len() == 36)
        .unwrap_or_else(|| panic!("no job id in {message}"))
        .to_owned();
    let show = ok(&["--host", &r, "job", "show", &failed_job], 0);
    assert!(
        !show.json_lines().0[0]["data"]["errors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        show.stdout
    );
    // The whole switch-over back, as one command (demo-vm is the primary on r now, and running).
    ok(
        &[
            "failover",
            "planned",
            "demo-vm",
            "--primary",
            &r,
            "--replica",
            &p,
            "--turn-off",
            "--dry-run",
        ],
        0,
    );
    ok(
        &[
            "failover",
            "planned",
            "demo-vm",
            "--primary",
            &r,
            "--replica",
            &p,
            "--turn-off",
        ],
        0,
    );

    ok(&["--host", &r, "wsman", "identify"], 0);
    ok(
        &[
            "--host",
            &r,
            "wsman",
            "get",
            "Msvm_ReplicationService",
            "-s",
            "Name=replicasvc",
        ],
        0,
    );
    ok(
        &["--host", &r, "wsman", "enumerate", "Msvm_ComputerSystem", "--epr"],
        0,
    );
    ok(
        &[
            "--host",
            &p,
            "wsman",
            "invoke",
            "Msvm_ComputerSystem",
            "RequestStateChange",
            "-s",
            "CreationClassName=Msvm_ComputerSystem",
            "-s",
            &format!("Name={guid}"),
            "--param",
            "RequestedState=3",
        ],
        0,
    );

    // Failures before any item: each still ends with the summary line.
    let bad_config = pair.home.path().join("bad.toml");
    std::fs::write(&bad_config, "[profiles.x]\nhost = 'typo'\n").unwrap();
    let bad_config = bad_config.to_str().unwrap();
    let early: &[(&[&str], i32, &str)] = &[
        (
            &["--host", &p, "--per-host", "many", "vm", "list"],
            2,
            "--per-host",
        ),
        (&["--host", &p, "vm", "launch", "demo-vm"], 2, "launch"),
        (
            &["--host", &p, "--no-such-flag", "vm", "list"],
            2,
            "--no-such-flag",
        ),
        (&["--host", &p, "vm", "stop"], 2, "required"),
        (
            &["--config", bad_config, "--host", &p, "vm", "list"],
            2,
            "unknown field",
        ),
        (&["-p", "nope", "--host", &p, "vm", "list"], 2, "profile"),
        (
            &["--host", &p, "wsman", "invoke", "C", "M", "--ref", "J=?x"],
            2,
            "reference",
        ),
    ];
    for (args, code, needle) in early {
        let run = ok(args, *code);
        let (results, summary) = run.json_lines();
        assert_eq!(summary["exit_class"], "usage", "{args:?}");
        assert_eq!(results.len(), 1, "{args:?}");
        let msg = results[0]["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
    // A VM that does not exist is an item: a result naming it, exit 4.
    let run = ok(&["--host", &p, "vm", "start", "no-such-vm"], 4);
    assert_eq!(run.json_lines().0[0]["vm"], "no-such-vm");
    // No password: a usage error before anything is sent.
    let mut cmd = hvctl(pair.home.path());
    cmd.args([
        "--auth", "ntlm", "--user", USER, "--host", &p, "-o", "json", "vm", "list",
    ]);
    let run = Run::of(cmd, None);
    run.expect(2);
    contract.check(&run, &mut seen);
    // HVCTL_OUTPUT=json counts as -o json for an argument error too.
    let mut cmd = hvctl(pair.home.path());
    cmd.args(["vm", "--bogus"]).env("HVCTL_OUTPUT", "json");
    let run = Run::of(cmd, None);
    run.expect(2);
    contract.check(&run, &mut seen);
    // Every documented command with data was run (demo is a sequence of the others).
    for c in &contract.commands {
        assert!(c == "demo" || seen.contains(c), "{c} not exercised");
    }
}

#[test]
fn help_shows_a_jq_recipe_that_fits_the_records() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = hvctl(home.path());
    cmd.arg("--help");
    let help = Run::of(cmd, None);
    help.expect(0);
    let recipe = help
        .stdout
        .split("With jq:")
        .nth(1)
        .expect("no jq recipe in --help");
    assert!(recipe.contains("hvctl -o json replication status"), "{recipe}");
    assert!(recipe.contains("select(.type==\"result\""), "{recipe}");
    // Every path the recipe reads exists in a real `replication status` result.
    let pair = Pair::start();
    let run = pair.run(&[
        "--host",
        &pair.p(),
        "-o",
        "json",
        "replication",
        "status",
        "demo-vm",
    ]);
    let (results, _) = run.expect(0).json();
    let paths: Vec<&str> = recipe
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '(' || c == ')')
        .filter(|w| w.starts_with('.') && w.len() > 1)
        .filter(|w| {
            w.chars()
                .all(|c| c == '.' || c == '_' || c.is_ascii_alphanumeric())
        })
        .collect();
    assert!(paths.contains(&".data.vm.ps_replication_state"), "{paths:?}");
    for path in paths {
        let mut v = &results[0];
        for key in path.trim_start_matches('.').split('.') {
            v = v
                .get(key)
                .unwrap_or_else(|| panic!("{path}: no `{key}` in {}", results[0]));
        }
        assert!(!v.is_null(), "{path} is null");
    }
}

/// The lines of a terminal capture as they end up on screen: escape sequences dropped, split
/// at carriage returns and newlines.
fn screen_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(['\r', '\n']) {
        let mut line = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                continue;
            }
            line.push(c);
        }
        if !line.is_empty() {
            out.push(line);
        }
    }
    out
}

fn is_second_timestamp(w: &str) -> bool {
    // `2026-12-06 21:32:20Z`: the date, then the time to the second and the zone.
    w.len() == 9 && w.as_bytes()[2] == b':' && w.as_bytes()[5] == b':' && w.ends_with('Z')
}

#[test]
fn tables_fit_the_width_wide_shows_everything_and_times_stop_at_the_second() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let status = [
        "--host",
        p.as_str(),
        "--host",
        r.as_str(),
        "replication",
        "status",
        "demo-vm",
    ];
    // Piped, as kubectl: full width, nothing cut.
    let run = pair.run(&status);
    run.expect(0);
    assert!(!run.stdout.contains('…'), "{}", run.stdout);
    assert!(
        run.stdout.contains(&p) && run.stdout.contains("LAST REPLICATION"),
        "{}",
        run.stdout
    );
    let times: Vec<&str> = run
        .stdout
        .split_whitespace()
        .filter(|w| is_second_timestamp(w))
        .collect();
    assert_eq!(times.len(), 2, "{}", run.stdout);
    let fractions = run
        .stdout
        .split_whitespace()
        .any(|w| w.len() > 9 && w.as_bytes()[2] == b':' && w.as_bytes()[8] == b'.');
    assert!(!fractions, "{}", run.stdout);
    // COLUMNS: every line fits and cut cells end with an ellipsis; at 80 the host gives and
    // the states stay whole, at 60 the states give too.
    for width in [80usize, 60] {
        let w = width.to_string();
        let run = pair.run_env(
            &status,
            &[("HVCTL_PASSWORD", &pair.password), ("COLUMNS", &w)],
            None,
        );
        run.expect(0);
        for line in run.stdout.lines() {
            assert!(line.chars().count() <= width, "{width}: {line:?}");
        }
        assert!(run.stdout.contains('…'), "{}", run.stdout);
        assert_eq!(run.stdout.contains("Replicating"), width == 80, "{}", run.stdout);
    }
    // -o wide: never cut, and the extra columns.
    let mut wide = status.to_vec();
    wide.splice(0..0, ["-o", "wide"]);
    let run = pair.run_env(
        &wide,
        &[("HVCTL_PASSWORD", &pair.password), ("COLUMNS", "60")],
        None,
    );
    run.expect(0);
    let header = run.stdout.lines().next().unwrap();
    for col in ["PRIMARY", "REPLICA", "GUID", "AUTH", "LAST APPLY"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        !run.stdout.contains('…') && run.stdout.contains("hv-replica.contoso.test"),
        "{}",
        run.stdout
    );
    let run = pair.run(&["--host", &p, "-o", "wide", "vm", "list"]);
    assert!(
        run.expect(0)
            .stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("LAST REPLICATION"),
        "{}",
        run.stdout
    );
}

/// Progress bars on a terminal of 60 columns stay on one line each (`script` gives the
/// binary a pseudo-terminal; util-linux's syntax, hence Linux only).
#[cfg(target_os = "linux")]
#[test]
fn progress_bars_fit_one_terminal_line() {
    let pair = Pair::start();
    let shell = format!(
        "stty rows 24 cols 60; {{hvctl}} --host {} vm stop --turn-off --yes demo-vm",
        pair.p()
    );
    let run = pair.run_on_terminal(&shell, "xterm", None);
    run.expect(0);
    let lines = screen_lines(&run.stdout);
    let bars: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("] ") && l.contains('%'))
        .collect();
    assert!(!bars.is_empty(), "no progress bar drawn:\n{}", run.stdout);
    for bar in bars {
        assert!(
            bar.chars().count() <= 60,
            "{} columns: {bar:?}",
            bar.chars().count()
        );
    }
}
