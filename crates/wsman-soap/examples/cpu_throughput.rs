//! Throughput measured in process CPU time (not wall time), for numbers that stay meaningful on
//! a loaded machine: `cargo run --release -p wsman-soap --example cpu_throughput`.
//!
//! `cpu_throughput OP N` runs only one operation N times (for `valgrind --tool=callgrind`):
//! OP is `pull` (the ~1 MiB PullResponse parse), `get-reply` / `invoke-reply` (the simulator's
//! Get of an Msvm_ComputerSystem and InitiateFailover replies in `benches/data/`),
//! `get-build` / `invoke-build` (the benchmark client's Get and InitiateFailover requests).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box as bb;

use wsman_soap::*;

/// User + system CPU time of this process in seconds (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

const V2: &str = "root/virtualization/v2";
/// The simulator's reply to the benchmark client's Get of Msvm_ComputerSystem.
const GET_REPLY: &str = include_str!("../benches/data/get_msvm_computersystem.response.xml");
/// The simulator's reply to the benchmark client's InitiateFailover.
const INVOKE_REPLY: &str = include_str!("../benches/data/initiate_failover.response.xml");

fn pull_body() -> String {
    let mut items = Vec::new();
    let uri = wmi_resource_uri(V2, "Msvm_ComputerSystem");
    for n in 0..800u32 {
        let i = Instance::new("Msvm_ComputerSystem")
            .with("Caption", Scalar::String("仮想マシン".into()))
            .with("ElementName", Scalar::String(format!("vm-{n}")))
            .with("EnabledState", Scalar::String("2".into()))
            .with("InstallDate", Scalar::Datetime(CimDateTime::NEVER))
            .with("Name", Scalar::String(format!("00000000-0000-4000-8000-{n:012}")))
            .with(
                "OperationalStatus",
                Value::Array(vec![Scalar::String("2".into()), Scalar::String("3".into())]),
            )
            .with("ReplicationMode", Scalar::String("1".into()))
            .with("TransitioningToState", Value::Null);
        items.push(Item {
            instance: Some(i),
            epr: Some(Epr::new(uri.clone(), SelectorSet::new().with("Name", "x"))),
        });
    }
    let page = EnumerationPage {
        context: Some("c".into()),
        items,
        end_of_sequence: false,
    };
    write_response(
        ns::ACTION_PULL_RESPONSE,
        "m",
        "r",
        &ResponseBody::Enumeration(page),
    )
}

/// The benchmark client's requests: (Get header, InitiateFailover header, its parameters).
fn client_requests() -> (RequestHeader, RequestHeader, Vec<(String, Value)>) {
    let cs_uri = wmi_resource_uri(V2, "Msvm_ComputerSystem");
    let cs_sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", "870CC4FF-6C27-4575-92FD-0067047393EC");
    let get = RequestHeader::new(
        "http://127.0.0.1:42475/wsman",
        cs_uri.clone(),
        "uuid:4DE83B78-564D-4B9B-BC9A-8336CB6CC54F",
    )
    .with_selectors(cs_sel.clone());
    let inv = RequestHeader::new(
        "http://127.0.0.1:42475/wsman",
        wmi_resource_uri(V2, "Msvm_ReplicationService"),
        "uuid:79DBD8A2-656E-408A-94D1-500E01E048EB",
    )
    .with_selectors(SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService"));
    let params = vec![(
        "ComputerSystem".to_owned(),
        Value::Reference(Epr::new(cs_uri, cs_sel)),
    )];
    (get, inv, params)
}

/// Runs `f` `n` times and prints CPU microseconds per call.
fn per_call(what: &str, n: u32, mut f: impl FnMut()) {
    let t0 = cpu_seconds();
    for _ in 0..n {
        f();
    }
    let dt = cpu_seconds() - t0;
    println!("{what}: {:.2} us cpu per call", dt / f64::from(n) * 1e6);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let op = args.first().map_or("all", String::as_str);
    let count = |default: u32| args.get(1).and_then(|n| n.parse().ok()).unwrap_or(default);
    let limits = Limits::default();
    let (get_h, inv_h, inv_params) = client_requests();
    if op == "all" || op == "pull" {
        let body = pull_body();
        let n = count(20);
        let t0 = cpu_seconds();
        for _ in 0..n {
            bb(parse_response(bb(body.as_bytes()), &limits).unwrap());
        }
        let dt = cpu_seconds() - t0;
        println!(
            "parse_response: {} bytes x {n} in {dt:.2} s cpu = {:.1} MB/s",
            body.len(),
            (body.len() * n as usize) as f64 / dt / 1e6
        );
    }
    if op == "all" || op == "get-reply" {
        per_call("parse Get reply (Msvm_ComputerSystem)", count(100_000), || {
            bb(parse_response(bb(GET_REPLY.as_bytes()), &limits).unwrap());
        });
    }
    if op == "all" || op == "invoke-reply" {
        per_call("parse InitiateFailover reply", count(100_000), || {
            bb(parse_response(bb(INVOKE_REPLY.as_bytes()), &limits).unwrap());
        });
    }
    if op == "all" || op == "get-build" {
        per_call("build Get request", count(200_000), || {
            bb(get(bb(&get_h)));
        });
    }
    if op == "all" || op == "invoke-build" {
        per_call("build InitiateFailover request", count(200_000), || {
            bb(invoke(bb(&inv_h), "InitiateFailover", bb(&inv_params)));
        });
    }
    if op == "all" || op == "reverse-build" {
        let h = RequestHeader::new(
            "https://h:5986/wsman",
            wmi_resource_uri(V2, "Msvm_ReplicationService"),
            "uuid:1",
        );
        let vm = Epr::new(
            wmi_resource_uri(V2, "Msvm_ComputerSystem"),
            SelectorSet::new()
                .with("CreationClassName", "Msvm_ComputerSystem")
                .with("Name", "G"),
        );
        let rsd = Instance::new("Msvm_ReplicationSettingData")
            .with("InstanceID", Scalar::String("Microsoft:G\\HVR\\0".into()))
            .with("RecoveryServerPortNumber", Scalar::Uint16(80));
        let params = vec![
            ("ComputerSystem".to_owned(), Value::Reference(vm)),
            ("ReplicationSettingData".to_owned(), rsd.into()),
        ];
        per_call(
            "invoke build (ReverseReplicationRelationship)",
            count(20_000),
            || {
                bb(invoke(&h, "ReverseReplicationRelationship", &params));
            },
        );
    }
}
