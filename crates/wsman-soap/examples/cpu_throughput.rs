//! Throughput measured in process CPU time (not wall time), for numbers that stay meaningful on
//! a loaded machine: `cargo run --release -p wsman-soap --example cpu_throughput`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

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

fn main() {
    let v2 = "root/virtualization/v2";
    let mut items = Vec::new();
    let uri = wmi_resource_uri(v2, "Msvm_ComputerSystem");
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
    let body = write_response(
        ns::ACTION_PULL_RESPONSE,
        "m",
        "r",
        &ResponseBody::Enumeration(page),
    );
    let n = 20;
    let t0 = cpu_seconds();
    for _ in 0..n {
        std::hint::black_box(parse_response(body.as_bytes(), &Limits::default()).unwrap());
    }
    let dt = cpu_seconds() - t0;
    println!(
        "parse_response: {} bytes x {n} in {dt:.2} s cpu = {:.1} MB/s",
        body.len(),
        (body.len() * n) as f64 / dt / 1e6
    );

    let h = RequestHeader::new(
        "https://h:5986/wsman",
        wmi_resource_uri(v2, "Msvm_ReplicationService"),
        "uuid:1",
    );
    let vm = Epr::new(
        uri,
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
    let m = 20_000;
    let t0 = cpu_seconds();
    for _ in 0..m {
        std::hint::black_box(invoke(&h, "ReverseReplicationRelationship", &params));
    }
    let dt = cpu_seconds() - t0;
    println!("invoke build: {:.2} us cpu per envelope", dt / f64::from(m) * 1e6);
}
