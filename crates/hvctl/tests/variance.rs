//! End to end: hvctl prints the same thing whether the host writes null properties as
//! `xsi:nil` (Windows) or leaves them out, and whether it pretty-prints its responses with
//! other namespace prefixes (`hyperv_sim::Variance`).
#![allow(clippy::unwrap_used)]

mod support;

use hyperv_sim::{PairConfig, SimHost, Variance};
use support::{hvctl, runtime, Run, USER};

#[test]
fn status_and_listing_print_the_same_for_nil_and_absent_properties_and_any_markup() {
    let rt = runtime();
    let password = hyperv_sim::random_password().to_string();
    let (primary, replica): (SimHost, SimHost) = rt
        .block_on(hyperv_sim::start_pair(
            PairConfig::default().user(USER, &password),
        ))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = |host: &SimHost, args: &[&str]| {
        let mut cmd = hvctl(home.path());
        cmd.env("HVCTL_PASSWORD", &password)
            .args(["--auth", "ntlm", "--user", USER, "--host"])
            .arg(host.addr().to_string())
            .args(args);
        let r = Run::of(cmd, None);
        format!("exit {}\n{}", r.code, without_elapsed(&r.stdout))
    };
    // The domain commands, which must not tell a nil property from an absent one.
    let domain = [
        vec!["-o", "json", "replication", "status", "demo-vm"],
        vec!["replication", "status", "demo-vm"],
        vec!["-o", "json", "vm", "list"],
        vec!["vm", "list"],
    ];
    // The generic verbs show what the host sent (a nil property as null), so they are held
    // to the markup variants only; a missing instance is a fault.
    let get_missing = [
        "wsman",
        "get",
        "Msvm_ComputerSystem",
        "-s",
        "CreationClassName=Msvm_ComputerSystem",
        "-s",
        "Name=00000000-0000-0000-0000-000000000000",
    ];
    let json = |args: &[&'static str]| [&["-o", "json"], args].concat();
    let generic = [
        json(&["wsman", "enumerate", "Msvm_ReplicationSettingData"]),
        json(&["wsman", "enumerate", "Msvm_ReplicationService", "--epr"]),
        json(&get_missing),
        get_missing.to_vec(),
    ];
    let outputs = |v: &Variance, commands: &[Vec<&str>]| {
        primary.set_variance(v.clone());
        replica.set_variance(v.clone());
        let mut out = Vec::new();
        for host in [&primary, &replica] {
            for c in commands {
                out.push(run(host, c));
            }
        }
        out
    };
    let canonical = outputs(&Variance::default(), &domain);
    assert!(canonical[0].starts_with("exit 0\n"), "{}", canonical[0]);
    assert!(
        canonical[0].contains("\"primary_connection_point\""),
        "{}",
        canonical[0]
    );
    let canonical_generic = outputs(&Variance::default(), &generic);
    assert!(
        canonical_generic[0].contains("\"PrimaryConnectionPoint\":\"hv-primary"),
        "{}",
        canonical_generic[0]
    );
    assert!(
        !canonical_generic[2].starts_with("exit 0"),
        "{}",
        canonical_generic[2]
    );
    for v in [
        Variance {
            omit_nulls: true,
            ..Variance::default()
        },
        Variance {
            omit_nulls: true,
            page_cap: Some(1),
            ..Variance::pretty("\r\n", 2)
        },
    ] {
        assert_eq!(outputs(&v, &domain), canonical, "{v:?}");
    }
    for v in [
        Variance::pretty("\r\n", 2),
        Variance {
            page_cap: Some(1),
            single_quotes: true,
            prolog: "<?xml version=\"1.0\"?>\r\n".into(),
            ..Variance::renamed(&[("s", "env"), ("p", ""), ("w", "wsman"), ("f", "")])
        },
    ] {
        assert_eq!(outputs(&v, &domain), canonical, "{v:?}");
        assert_eq!(outputs(&v, &generic), canonical_generic, "{v:?}");
    }
    drop((primary, replica));
}

/// `stdout` with the `elapsed_ms` of each JSON line removed (human output as it is).
fn without_elapsed(stdout: &str) -> String {
    stdout
        .lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(mut o)) => {
                o.remove("elapsed_ms");
                serde_json::Value::Object(o).to_string()
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
