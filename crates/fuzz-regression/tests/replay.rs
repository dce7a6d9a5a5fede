//! Replays every seed and every minimised crash input through its fuzz oracle.
#![allow(clippy::unwrap_used)]

use std::panic;
use std::path::Path;

use fuzz_regression::{fuzz_dir, inputs, target, TARGETS};
use wsman_soap::{Limits, ResponseBody};

/// Runs each file through its target's oracle; returns the files that panicked.
fn replay(dir: &Path) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let files = inputs(dir).unwrap();
    for (name, path) in &files {
        let t =
            target(name).unwrap_or_else(|| panic!("{} is not a fuzz target name", dir.join(name).display()));
        let data = std::fs::read(path).unwrap();
        if panic::catch_unwind(|| (t.oracle)(&data)).is_err() {
            failures.push(path.display().to_string());
        }
    }
    (files.len(), failures)
}

#[test]
fn seed_corpora_replay_through_the_oracles_without_panic() {
    let (count, failures) = replay(&fuzz_dir().join("corpus-seed"));
    assert!(failures.is_empty(), "oracles panicked on: {failures:#?}");
    assert!(count >= TARGETS.len(), "only {count} seed files");
}

#[test]
fn regression_inputs_replay_through_the_oracles_without_panic() {
    let (_, failures) = replay(&fuzz_dir().join("regressions"));
    assert!(failures.is_empty(), "oracles panicked on: {failures:#?}");
}

#[test]
fn every_target_has_a_fuzz_target_file_a_seed_corpus_and_calls_its_oracle_module() {
    let seeds = inputs(&fuzz_dir().join("corpus-seed")).unwrap();
    for t in TARGETS {
        let src = std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{}.rs", t.name)))
            .unwrap_or_else(|e| panic!("fuzz target {}: {e}", t.name));
        assert!(
            src.contains("fuzz_target!") && src.contains("::fuzzing::"),
            "{} is not a one-line oracle call",
            t.name
        );
        assert!(
            seeds.iter().any(|(n, _)| n == t.name),
            "{} has no seed corpus",
            t.name
        );
    }
    for entry in std::fs::read_dir(fuzz_dir().join("fuzz_targets")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = file.trim_end_matches(".rs");
        assert!(
            target(name).is_some(),
            "fuzz/fuzz_targets/{file} has no oracle in TARGETS"
        );
    }
}

#[test]
fn soap_response_seeds_are_valid_responses_so_the_fuzzer_starts_from_deep_paths() {
    let limits = Limits::default();
    let mut faults = 0;
    let mut pages = 0;
    for (name, path) in inputs(&fuzz_dir().join("corpus-seed")).unwrap() {
        if name != "soap_response" {
            continue;
        }
        let r = wsman_soap::parse_response(&std::fs::read(&path).unwrap(), &limits)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match r.body {
            ResponseBody::Fault(f) => {
                assert!(!f.code.is_empty(), "{}", path.display());
                faults += 1;
            }
            ResponseBody::Enumeration(_) => pages += 1,
            _ => {}
        }
    }
    assert!(faults >= 4, "only {faults} fault seeds");
    assert!(pages >= 3, "only {pages} enumeration seeds");
}

#[test]
fn soap_request_and_cimxml_seeds_parse() {
    let limits = Limits::default();
    let mut classes = Vec::new();
    for (name, path) in inputs(&fuzz_dir().join("corpus-seed")).unwrap() {
        let data = std::fs::read(&path).unwrap();
        match name.as_str() {
            "soap_request" => {
                let r = wsman_soap::parse_request(&data, &limits)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let identify = matches!(r.body, wsman_soap::RequestBody::Identify);
                assert!(identify || !r.header.action.is_empty(), "{}", path.display());
            }
            "cimxml" => {
                let text = String::from_utf8(data).unwrap();
                let i = wsman_soap::cimxml::parse_instance(&text, &limits)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                classes.push(i.class_name.clone());
            }
            _ => {}
        }
    }
    classes.sort();
    classes.dedup();
    assert_eq!(classes, ["Msvm_Error", "Msvm_ReplicationSettingData"]);
}
