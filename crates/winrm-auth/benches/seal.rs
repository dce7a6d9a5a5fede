//! NTLM session security throughput: seal (wrap) and unseal (unwrap) of a 64 KiB, 2 KiB and 3.4 KiB SOAP body,
//! and the WinRM `multipart/encrypted` framing around it ([MS-WSMV 2.2.9.1]), on a context
//! established by a real client <-> acceptor handshake.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use winrm_auth::framing;
use winrm_auth::ntlm::{AcceptorConfig, ClientConfig, Credentials, NtlmAcceptor, NtlmClient, Rng, UserTable};
use winrm_auth::{ClientAuth, SessionSecurity, Step};

/// 64 KiB, and the real request / reply sizes (2 KiB, 3.4 KiB).
const BODY_LENS: [usize; 3] = [64 * 1024, 2048, 3408];

/// A deterministic byte source (the benchmark needs no real randomness).
fn counter_rng(seed: u8) -> Rng {
    let mut n = seed;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_mul(31).wrapping_add(17);
            *b = n;
        }
    })
}

/// Runs NEGOTIATE / CHALLENGE / AUTHENTICATE; returns (client session, server session).
fn established() -> (Box<dyn SessionSecurity>, Box<dyn SessionSecurity>) {
    let mut users = UserTable::new();
    users.add("HVLAB", "Administrator", "Passw0rd!");
    let config = AcceptorConfig {
        netbios_domain: "HVLAB".into(),
        netbios_computer: "HV01".into(),
        dns_domain: "hvlab.example".into(),
        dns_computer: "hv01.hvlab.example".into(),
        expected_channel_bindings: None,
    };
    let mut acceptor = NtlmAcceptor::new(Arc::new(users), config, counter_rng(1), 133_000_000_000_000_000);
    let mut client = NtlmClient::new(
        Credentials::parse("HVLAB\\Administrator", "Passw0rd!"),
        ClientConfig {
            workstation: "LINUXBOX".into(),
            target_spn: Some("HTTP/hv01.hvlab.example".into()),
            channel_bindings: None,
            require_seal: true,
        },
        counter_rng(2),
        1,
    );
    let Step::Continue(negotiate) = client.step(None).unwrap() else {
        panic!("client sent no negotiate")
    };
    let Step::Continue(challenge) = acceptor.step(&negotiate).unwrap() else {
        panic!("acceptor sent no challenge")
    };
    let Step::Done(Some(authenticate)) = client.step(Some(&challenge)).unwrap() else {
        panic!("client sent no authenticate")
    };
    assert_eq!(acceptor.step(&authenticate).unwrap(), Step::Done(None));
    client.finish(None).unwrap();
    let client = Box::new(client).into_session().unwrap();
    let server = acceptor.into_session().unwrap();
    (client, server)
}

/// A SOAP-looking body of `len` bytes.
fn body(len: usize) -> Vec<u8> {
    let unit = b"<p:ElementName>vm-0042 &amp; friends</p:ElementName>";
    unit.iter().copied().cycle().take(len).collect()
}

fn bench(c: &mut Criterion) {
    for len in BODY_LENS {
        bench_size(c, len);
    }
}

fn bench_size(c: &mut Criterion, len: usize) {
    let body = body(len);
    let mut g = c.benchmark_group(format!("ntlm_{len}B"));
    g.throughput(Throughput::Bytes(len as u64));

    let (mut client, _) = established();
    g.bench_function("seal", |b| {
        b.iter(|| black_box(client.wrap(black_box(&body)).unwrap()))
    });

    // Unsealing must follow the sender's order: setup seals message n (not measured), the
    // routine unseals it; criterion runs the inputs of a batch in the order they were built.
    let (mut client, mut server) = established();
    g.bench_function("unseal", |b| {
        b.iter_batched(
            || client.wrap(&body).unwrap(),
            |w| {
                let plain = server.unwrap(&w.header, &w.data).unwrap();
                assert_eq!(plain.len(), len);
                plain
            },
            BatchSize::SmallInput,
        )
    });

    let (mut client, _) = established();
    g.bench_function("framing_encode", |b| {
        b.iter(|| black_box(framing::encode(client.as_mut(), black_box(&body)).unwrap()))
    });

    let (mut client, _) = established();
    let mut out = Vec::new();
    g.bench_function("framing_encode_into", |b| {
        b.iter(|| {
            out.clear();
            framing::encode_into(client.as_mut(), black_box(&body), &mut out).unwrap();
            black_box(out.len())
        })
    });

    let (mut client, mut server) = established();
    let mut plain = Vec::new();
    g.bench_function("framing_decode_into", |b| {
        b.iter_batched(
            || framing::encode(client.as_mut(), &body).unwrap(),
            |(content_type, framed)| {
                plain.clear();
                framing::decode_into(server.as_mut(), &content_type, &framed, &mut plain).unwrap();
                assert_eq!(plain.len(), len);
            },
            BatchSize::SmallInput,
        )
    });

    let (mut client, mut server) = established();
    g.bench_function("framing_decode", |b| {
        b.iter_batched(
            || framing::encode(client.as_mut(), &body).unwrap(),
            |(content_type, framed)| {
                let plain = framing::decode(server.as_mut(), &content_type, &framed).unwrap();
                assert_eq!(plain.len(), len);
                plain
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
