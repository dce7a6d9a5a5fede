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

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    inputs(&fuzz_dir().join("corpus-seed"))
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n == target)
        .map(|(_, p)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn ntlm_challenge_seeds_from_pyspnego_drive_our_client_to_an_authenticate_message() {
    use winrm_auth::ntlm::{ClientConfig, Credentials, NtlmClient};
    use winrm_auth::{ClientAuth, Step};
    let seeds = seeds("ntlm_challenge");
    assert_eq!(seeds.len(), 2);
    for (name, challenge) in seeds {
        let mut client = NtlmClient::new(
            Credentials::new("D", "u", "p"),
            ClientConfig::default(),
            Box::new(|b| b.fill(7)),
            0,
        );
        let Step::Continue(negotiate) = client.step(None).unwrap() else {
            panic!("no NEGOTIATE")
        };
        assert_eq!(&negotiate[..12], b"NTLMSSP\0\x01\0\0\0");
        match client.step(Some(&challenge)) {
            Ok(Step::Done(Some(auth))) => assert_eq!(&auth[..12], b"NTLMSSP\0\x03\0\0\0", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn encrypted_body_seeds_split_into_one_part_with_the_announced_length() {
    let ct = winrm_auth::framing::content_type("application/HTTP-SPNEGO-session-encrypted");
    let seeds = seeds("encrypted_body");
    assert_eq!(seeds.len(), 2);
    for (name, body) in seeds {
        let parts = winrm_auth::framing::parse(&ct, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parts.len(), 1, "{name}");
        assert_eq!(parts[0].protocol, "application/HTTP-SPNEGO-session-encrypted");
        assert_eq!(parts[0].data.len(), parts[0].length, "{name}");
        assert!(parts[0].data.starts_with(b"<s:Envelope"), "{name}");
    }
}

#[test]
fn www_authenticate_and_certificate_seeds_parse() {
    let mut schemes = Vec::new();
    for (_, v) in seeds("www_authenticate") {
        let text = String::from_utf8(v).unwrap();
        schemes.extend(
            winrm_auth::www_authenticate::parse(&[&text])
                .into_iter()
                .map(|c| c.scheme),
        );
    }
    schemes.sort();
    schemes.dedup();
    assert_eq!(schemes, ["Basic", "Kerberos", "NTLM", "Negotiate"]);
    let mut hashed = Vec::new();
    for (name, der) in seeds("certificate") {
        if winrm_auth::cbt::ChannelBindings::tls_server_end_point(&der).is_ok() {
            hashed.push(name);
        }
    }
    hashed.sort();
    assert!(
        hashed.contains(&"rsa_sha256.der".to_owned()) && hashed.contains(&"ec_sha384.der".to_owned()),
        "{hashed:?}"
    );
}
