//! Shared by the hvctl binary suites (`e2e.rs`, `enumeration.rs`): the binary with a clean
//! environment, its captured run, and the background runtime the simulated hosts live on.
// Each suite uses its own part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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
