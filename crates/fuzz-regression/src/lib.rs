//! The fuzz oracles by target name, shared by `cargo test` replay and documentation.
//!
//! Each cargo-fuzz target in `fuzz/fuzz_targets/<name>.rs` is a one-line call of the oracle
//! listed here under the same name. Every file in `fuzz/corpus-seed/<name>/` and
//! `fuzz/regressions/<name>/` is replayed through that oracle by this crate's tests, so a
//! crash found once stays fixed (the IronRDP `fuzz_regression` pattern).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// One fuzz target: its directory name and the oracle that must not panic on any input.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The cargo-fuzz target name (also the corpus and regression directory name).
    pub name: &'static str,
    /// The oracle: feeds the bytes to one parser; panicking is the bug.
    pub oracle: fn(&[u8]),
}

/// Every fuzz target, in the order `scripts/fuzz-smoke.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "soap_response",
        oracle: wsman_soap::fuzzing::fuzz_parse_response,
    },
    Target {
        name: "soap_request",
        oracle: wsman_soap::fuzzing::fuzz_parse_request,
    },
    Target {
        name: "cimxml",
        oracle: wsman_soap::fuzzing::fuzz_cimxml,
    },
    Target {
        name: "ntlm_challenge",
        oracle: winrm_auth::fuzzing::ntlm_challenge,
    },
    Target {
        name: "ntlm_acceptor",
        oracle: winrm_auth::fuzzing::ntlm_acceptor,
    },
    Target {
        name: "encrypted_body",
        oracle: winrm_auth::fuzzing::framing_decode,
    },
    Target {
        name: "www_authenticate",
        oracle: winrm_auth::fuzzing::www_authenticate,
    },
    Target {
        name: "certificate",
        oracle: winrm_auth::fuzzing::certificate,
    },
];

/// The oracle of target `name`, if there is one.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The `fuzz/` directory of the workspace.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every regular file under `dir/<target>/` for each target directory present, sorted, as
/// (target directory name, file path). Missing `dir` gives an empty list.
pub fn inputs(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(entry.path())? {
            let file = file?;
            if file.file_type()?.is_file() && !file.file_name().to_string_lossy().starts_with('.') {
                out.push((name.clone(), file.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}
