//! NTLM session security throughput: seal (wrap) and unseal (unwrap) of a 64 KiB SOAP body,
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

const BODY_LEN: usize = 64 * 1024;

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

/// A 64 KiB SOAP-looking body.
fn body() -> Vec<u8> {
    let unit = b"<p:ElementName>vm-0042 &amp; friends</p:ElementName>";
    unit.iter().copied().cycle().take(BODY_LEN).collect()
}

fn bench(c: &mut Criterion) {
    let body = body();
    let mut g = c.benchmark_group("ntlm_64KiB");
    g.throughput(Throughput::Bytes(BODY_LEN as u64));

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
                assert_eq!(plain.len(), BODY_LEN);
                plain
            },
            BatchSize::SmallInput,
        )
    });

    let (mut client, _) = established();
    g.bench_function("framing_encode", |b| {
        b.iter(|| black_box(framing::encode(client.as_mut(), black_box(&body)).unwrap()))
    });

    let (mut client, mut server) = established();
    g.bench_function("framing_decode", |b| {
        b.iter_batched(
            || framing::encode(client.as_mut(), &body).unwrap(),
            |(content_type, framed)| {
                let plain = framing::decode(server.as_mut(), &content_type, &framed).unwrap();
                assert_eq!(plain.len(), BODY_LEN);
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
