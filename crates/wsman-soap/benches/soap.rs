//! Envelope building and response parsing throughput.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wsman_soap::*;

fn invoke_args() -> (RequestHeader, Vec<(String, Value)>) {
    let v2 = "root/virtualization/v2";
    let h = RequestHeader::new(
        "https://hv-replica.contoso.test:5986/wsman",
        wmi_resource_uri(v2, "Msvm_ReplicationService"),
        "uuid:00000000-0000-4000-8000-000000000001",
    )
    .with_selectors(
        SelectorSet::new()
            .with("CreationClassName", "Msvm_ReplicationService")
            .with("Name", "replicasvc")
            .with("SystemCreationClassName", "Msvm_ComputerSystem")
            .with("SystemName", "HV-REPLICA"),
    );
    let vm = Epr::new(
        wmi_resource_uri(v2, "Msvm_ComputerSystem"),
        SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", "8A1F7C2E-3B4D-4E5F-9A0B-1C2D3E4F5A6B"),
    );
    let mut rsd = Instance::new("Msvm_ReplicationSettingData")
        .with(
            "InstanceID",
            Scalar::String("Microsoft:8A1F7C2E-3B4D-4E5F-9A0B-1C2D3E4F5A6B\\HVR\\0".into()),
        )
        .with(
            "RecoveryConnectionPoint",
            Scalar::String("hv-primary.contoso.test".into()),
        )
        .with("RecoveryServerPortNumber", Scalar::Uint16(80))
        .with("AuthenticationType", Scalar::Uint16(1))
        .with("BypassProxyServer", Scalar::Boolean(false));
    for n in 0..20 {
        rsd.set(format!("Extra{n}"), Scalar::String(format!("value <{n}> & more")));
    }
    (
        h,
        vec![
            ("ComputerSystem".into(), Value::Reference(vm)),
            ("ReplicationSettingData".into(), rsd.into()),
        ],
    )
}

/// A PullResponse of about `target` bytes, shaped like the real fixture 08.
fn big_pull(target: usize) -> String {
    let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ComputerSystem");
    let mut items = Vec::new();
    let mut n = 0u32;
    let mut size = 0;
    while size < target {
        let i = Instance::new("Msvm_ComputerSystem")
            .with("Caption", Scalar::String("仮想マシン".into()))
            .with("CreationClassName", Scalar::String("Msvm_ComputerSystem".into()))
            .with("Description", Scalar::String("Microsoft Virtual Machine".into()))
            .with("ElementName", Scalar::String(format!("vm-{n}")))
            .with("EnabledState", Scalar::String("2".into()))
            .with(
                "InstallDate",
                Scalar::Datetime(CimDateTime::parse_iso8601("2026-10-08T15:15:36.68424Z").unwrap()),
            )
            .with("LastReplicationTime", Scalar::Datetime(CimDateTime::NEVER))
            .with("Name", Scalar::String(format!("00000000-0000-4000-8000-{n:012}")))
            .with(
                "OperationalStatus",
                Value::Array(vec![Scalar::String("2".into()), Scalar::String("32783".into())]),
            )
            .with("ReplicationMode", Scalar::String("1".into()))
            .with("ReplicationState", Scalar::String("3".into()))
            .with("TransitioningToState", Value::Null);
        size += 1300;
        n += 1;
        items.push(Item {
            instance: Some(i),
            epr: Some(Epr::new(uri.clone(), SelectorSet::new().with("Name", "x"))),
        });
    }
    let page = EnumerationPage {
        context: Some("uuid:c".into()),
        items,
        end_of_sequence: false,
    };
    write_response(
        ns::ACTION_PULL_RESPONSE,
        "uuid:m",
        "uuid:r",
        &ResponseBody::Enumeration(page),
    )
}

/// The simulator's reply to the benchmark client's Get of Msvm_ComputerSystem.
const GET_REPLY: &str = include_str!("data/get_msvm_computersystem.response.xml");
/// The simulator's reply to the benchmark client's InitiateFailover.
const INVOKE_REPLY: &str = include_str!("data/initiate_failover.response.xml");

/// The per-request work of the benchmark client (`benches/harness`): build its Get and
/// InitiateFailover requests, parse the simulator's replies.
fn client_requests(c: &mut Criterion) {
    let v2 = "root/virtualization/v2";
    let cs_uri = wmi_resource_uri(v2, "Msvm_ComputerSystem");
    let cs_sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", "870CC4FF-6C27-4575-92FD-0067047393EC");
    let get_h = RequestHeader::new(
        "http://127.0.0.1:42475/wsman",
        cs_uri.clone(),
        "uuid:4DE83B78-564D-4B9B-BC9A-8336CB6CC54F",
    )
    .with_selectors(cs_sel.clone());
    let inv_h = RequestHeader::new(
        "http://127.0.0.1:42475/wsman",
        wmi_resource_uri(v2, "Msvm_ReplicationService"),
        "uuid:79DBD8A2-656E-408A-94D1-500E01E048EB",
    )
    .with_selectors(SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService"));
    let params = vec![(
        "ComputerSystem".to_owned(),
        Value::Reference(Epr::new(cs_uri, cs_sel)),
    )];
    let limits = Limits::default();
    let mut g = c.benchmark_group("client request");
    g.bench_function("build Get Msvm_ComputerSystem", |b| {
        b.iter(|| black_box(get(black_box(&get_h))))
    });
    g.bench_function("build Invoke InitiateFailover (REF)", |b| {
        b.iter(|| black_box(invoke(black_box(&inv_h), "InitiateFailover", black_box(&params))))
    });
    g.bench_function(format!("parse Get reply {} bytes", GET_REPLY.len()), |b| {
        b.iter(|| black_box(parse_response(black_box(GET_REPLY.as_bytes()), &limits).unwrap()))
    });
    g.bench_function(
        format!("parse InitiateFailover reply {} bytes", INVOKE_REPLY.len()),
        |b| b.iter(|| black_box(parse_response(black_box(INVOKE_REPLY.as_bytes()), &limits).unwrap())),
    );
    g.finish();
}

fn bench(c: &mut Criterion) {
    let (h, params) = invoke_args();
    c.bench_function(
        "build invoke ReverseReplicationRelationship (REF + embedded instance)",
        |b| {
            b.iter(|| {
                black_box(invoke(
                    black_box(&h),
                    "ReverseReplicationRelationship",
                    black_box(&params),
                ))
            })
        },
    );

    let body = big_pull(1 << 20);
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function(format!("pull response {} bytes", body.len()), |b| {
        b.iter(|| {
            let r = parse_response(black_box(body.as_bytes()), &limits).unwrap();
            black_box(r)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = client_requests, bench
}
criterion_main!(benches);
