//! Shared by the hvctl binary suites (`e2e.rs`, `enumeration.rs`, `ux.rs`, ...): the binary with
//! a clean environment, its captured run, the background runtime the simulated hosts live on,
//! a primary/replica pair, and the checks of the JSON schema of OUTPUT.md.
// Each suite uses its own part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hyperv_sim::{PairConfig, SimHost};

use serde_json::Value as Json;

pub const USER: &str = "HV\\operator";

/// A two-worker runtime that serves the simulated hosts while the test drives the binary.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The binary with an environment that cannot see the developer's config or HVCTL_* variables.
pub fn hvctl(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hvctl"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HVCTL_") {
            cmd.env_remove(k);
        }
    }
    // Tables fit $COLUMNS when it is set; the suites see the piped default unless they set it.
    cmd.env_remove("COLUMNS");
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_COLOR", "1");
    cmd
}

/// One finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to the end, with `stdin` as its standard input (or none).
    pub fn of(mut cmd: Command, stdin: Option<&str>) -> Run {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out: Output = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Standard output as JSON lines: the results, then the summary line.
    pub fn json_lines(&self) -> (Vec<Json>, Json) {
        let mut lines: Vec<Json> = self
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.stderr))
            })
            .collect();
        let summary = lines.pop().expect("no summary line");
        assert_eq!(summary["type"], "summary", "{summary}");
        (lines, summary)
    }
}

/// A primary/replica pair with `demo-vm` replicating, served on a background runtime.
/// Fields drop in order: the hosts stop first, then the runtime.
pub struct Pair {
    pub primary: SimHost,
    pub replica: SimHost,
    pub password: String,
    pub home: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Pair {
    pub fn start() -> Pair {
        Pair::start_with(Duration::from_millis(300))
    }

    /// A pair whose jobs (and guest shutdowns) take `job_duration`.
    pub fn start_with(job_duration: Duration) -> Pair {
        let rt = runtime();
        let password = hyperv_sim::random_password().to_string();
        let cfg = PairConfig {
            job_duration,
            ..PairConfig::default()
        }
        .user(USER, &password);
        let (primary, replica) = rt.block_on(hyperv_sim::start_pair(cfg)).unwrap();
        Pair {
            primary,
            replica,
            password,
            home: tempfile::tempdir().unwrap(),
            _rt: rt,
        }
    }

    pub fn p(&self) -> String {
        self.primary.addr().to_string()
    }

    pub fn r(&self) -> String {
        self.replica.addr().to_string()
    }

    /// Runs hvctl with a clean environment, the password in HVCTL_PASSWORD and NTLM as `USER`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[("HVCTL_PASSWORD", &self.password)], None)
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = hvctl(self.home.path());
        cmd.args(["--auth", "ntlm", "--user", USER]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(cmd, stdin)
    }
}

impl Pair {
    /// Runs `shell` (a shell command line in which `{hvctl}` stands for the binary with NTLM as
    /// `USER`) under `script`, which gives it a pseudo-terminal (util-linux's syntax, hence
    /// Linux only); `stdin` is typed on that terminal. The password is in HVCTL_PASSWORD.
    pub fn run_on_terminal(&self, shell: &str, term: &str, stdin: Option<&str>) -> Run {
        let bin = format!(
            "{} --auth ntlm --user 'HV\\operator'",
            env!("CARGO_BIN_EXE_hvctl")
        );
        let inner = shell.replace("{hvctl}", &bin);
        let mut script = Command::new("script");
        script
            .args(["-qec", &inner, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("HVCTL_PASSWORD", &self.password)
            .env("TERM", term);
        Run::of(script, stdin)
    }
}

impl Run {
    /// The JSON lines, each checked against the documented schema (OUTPUT.md).
    pub fn json(&self) -> (Vec<Json>, Json) {
        let (lines, summary) = self.json_lines();
        check_summary(&summary, &lines, self.code);
        for r in &lines {
            check_result(r);
        }
        (lines, summary)
    }
}

/// OUTPUT.md: a result line.
pub fn check_result(r: &Json) {
    let o = r.as_object().unwrap();
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    for k in [
        "type",
        "command",
        "host",
        "vm",
        "ok",
        "data",
        "error",
        "elapsed_ms",
    ] {
        assert!(keys.contains(&k), "result without `{k}`: {r}");
    }
    assert_eq!(keys.len(), 8, "unexpected keys in {r}");
    assert_eq!(r["type"], "result");
    assert!(r["command"].is_string() && r["elapsed_ms"].is_u64());
    assert!(r["host"].is_string() || r["host"].is_null());
    assert!(r["vm"].is_string() || r["vm"].is_null());
    if r["ok"].as_bool().unwrap() {
        assert!(r["error"].is_null(), "{r}");
    } else {
        let e = &r["error"];
        assert!(r["data"].is_null(), "{r}");
        assert!(e["class"].is_string() && e["message"].is_string(), "{r}");
        let code = e["exit_code"].as_u64().unwrap();
        let class = e["class"].as_str().unwrap();
        assert_eq!(class_code(class), code, "{r}");
    }
}

pub fn class_code(class: &str) -> u64 {
    match class {
        "success" => 0,
        "other" => 1,
        "usage" => 2,
        "auth" => 3,
        "not_found" => 4,
        "invalid_state" => 5,
        "job_failed" => 6,
        "connection" => 7,
        "outcome_unknown" => 8,
        "interrupted" => 130,
        other => panic!("undocumented class {other}"),
    }
}

/// OUTPUT.md: the summary line.
pub fn check_summary(s: &Json, results: &[Json], code: i32) {
    assert_eq!(s["type"], "summary", "{s}");
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["total"].as_u64().unwrap() as usize, results.len());
    let failed = results.iter().filter(|r| r["ok"] == false).count();
    assert_eq!(s["failed"].as_u64().unwrap() as usize, failed);
    assert_eq!(s["succeeded"].as_u64().unwrap() as usize, results.len() - failed);
    assert_eq!(s["exit_code"].as_i64().unwrap(), i64::from(code));
    assert_eq!(
        class_code(s["exit_class"].as_str().unwrap()),
        s["exit_code"].as_u64().unwrap()
    );
    assert!(s["elapsed_ms"].is_u64());
}
