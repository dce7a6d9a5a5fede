//! CPU time of NTLM seal / unseal and WinRM framing of a 64 KiB body and of the real request
//! and reply sizes (2 KiB, 3.4 KiB), for a loaded machine where wall-clock benchmarks mislead.
//!
//! `cargo run --release -p winrm-auth --example seal_cpu -- [iterations]` (default 2000 for
//! 64 KiB, 30x that for the small bodies).
//! CPU time is this thread's on-CPU time from `/proc/thread-self/schedstat` (Linux, ns);
//! elsewhere only wall time is printed.

use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use winrm_auth::framing;
use winrm_auth::ntlm::{AcceptorConfig, ClientConfig, Credentials, NtlmAcceptor, NtlmClient, Rng, UserTable};
use winrm_auth::{ClientAuth, SessionSecurity, Step};

/// Body sizes: 64 KiB, a 2 KiB request and a 3.4 KiB reply (the Get of Msvm_ComputerSystem).
const BODY_LENS: [usize; 3] = [64 * 1024, 2048, 3408];

type Sessions = (Box<dyn SessionSecurity>, Box<dyn SessionSecurity>);

fn counter_rng(seed: u8) -> Rng {
    let mut n = seed;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_mul(31).wrapping_add(17);
            *b = n;
        }
    })
}

/// A client and a server session from a full NTLM handshake.
fn established() -> Result<Sessions, Box<dyn Error>> {
    let mut users = UserTable::new();
    users.add("HVLAB", "Administrator", "Passw0rd!");
    let config = AcceptorConfig {
        netbios_domain: "HVLAB".into(),
        netbios_computer: "HV01".into(),
        ..Default::default()
    };
    let mut acceptor = NtlmAcceptor::new(Arc::new(users), config, counter_rng(1), 133_000_000_000_000_000);
    let mut client = NtlmClient::new(
        Credentials::parse("HVLAB\\Administrator", "Passw0rd!"),
        ClientConfig::default(),
        counter_rng(2),
        1,
    );
    let Step::Continue(negotiate) = client.step(None)? else {
        return Err("client sent no negotiate".into());
    };
    let Step::Continue(challenge) = acceptor.step(&negotiate)? else {
        return Err("acceptor sent no challenge".into());
    };
    let Step::Done(Some(authenticate)) = client.step(Some(&challenge))? else {
        return Err("client sent no authenticate".into());
    };
    acceptor.step(&authenticate)?;
    let client = Box::new(client).into_session().ok_or("client has no session")?;
    let server = acceptor.into_session().ok_or("acceptor has no session")?;
    Ok((client, server))
}

/// This thread's CPU time, if the platform reports it.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` `n` times; prints wall and CPU µs per call and CPU MB/s for `len`-byte bodies.
fn measure(
    name: &str,
    len: usize,
    n: u32,
    mut f: impl FnMut() -> Result<(), Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    let cpu0 = thread_cpu();
    let wall0 = Instant::now();
    for _ in 0..n {
        f()?;
    }
    let wall = wall0.elapsed();
    let per_wall = wall.as_secs_f64() * 1e6 / f64::from(n);
    match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => {
            let per_cpu = (b - a).as_secs_f64() * 1e6 / f64::from(n);
            let mbps = len as f64 / per_cpu; // bytes per µs = MB/s
            println!("{name:<18} cpu {per_cpu:8.2} µs/op  {mbps:7.1} MB/s   wall {per_wall:8.1} µs/op");
        }
        _ => println!("{name:<18} wall {per_wall:8.1} µs/op"),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let n64: u32 = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 2000,
    };
    for len in BODY_LENS {
        let n = if len >= 64 * 1024 { n64 } else { n64 * 30 };
        run(len, n)?;
    }
    Ok(())
}

fn run(len: usize, n: u32) -> Result<(), Box<dyn Error>> {
    let unit = b"<p:ElementName>vm-0042 &amp; friends</p:ElementName>";
    let body: Vec<u8> = unit.iter().copied().cycle().take(len).collect();
    println!("{n} iterations of a {len}-byte body");

    let (mut client, _) = established()?;
    measure("seal", len, n, || {
        black_box(client.wrap(black_box(&body))?);
        Ok(())
    })?;

    let (mut client, _) = established()?;
    let mut buf = body.clone();
    let mut header = [0u8; 16];
    measure("seal_in_place", len, n, || {
        buf.copy_from_slice(&body);
        client.wrap_in_place(&mut header, black_box(&mut buf))?;
        black_box(&buf);
        Ok(())
    })?;

    // Unseal needs messages in send order: seal them all first (not measured).
    let (mut client, mut server) = established()?;
    let sealed = (0..n)
        .map(|_| client.wrap(&body))
        .collect::<Result<Vec<_>, _>>()?;
    let mut it = sealed.iter();
    measure("unseal", len, n, || {
        let w = it.next().ok_or("out of sealed messages")?;
        let plain = server.unwrap(&w.header, &w.data)?;
        if plain != body {
            return Err("unsealed body differs".into());
        }
        Ok(())
    })?;
    drop(sealed);

    let (mut client, _) = established()?;
    measure("framing_encode", len, n, || {
        black_box(framing::encode(client.as_mut(), black_box(&body))?);
        Ok(())
    })?;

    let (mut client, _) = established()?;
    let mut out = Vec::new();
    measure("framing_encode_into", len, n, || {
        out.clear();
        framing::encode_into(client.as_mut(), black_box(&body), &mut out)?;
        black_box(&out);
        Ok(())
    })?;

    let (mut client, mut server) = established()?;
    let framed = (0..n)
        .map(|_| framing::encode(client.as_mut(), &body))
        .collect::<Result<Vec<_>, _>>()?;
    let mut it = framed.iter();
    measure("framing_decode", len, n, || {
        let (content_type, bytes) = it.next().ok_or("out of framed messages")?;
        let plain = framing::decode(server.as_mut(), content_type, bytes)?;
        if plain != body {
            return Err("decoded body differs".into());
        }
        Ok(())
    })?;
    drop(framed);

    let (mut client, mut server) = established()?;
    let framed = (0..n)
        .map(|_| framing::encode(client.as_mut(), &body))
        .collect::<Result<Vec<_>, _>>()?;
    let mut it = framed.iter();
    let mut plain = Vec::new();
    measure("framing_decode_into", len, n, || {
        let (content_type, bytes) = it.next().ok_or("out of framed messages")?;
        plain.clear();
        framing::decode_into(server.as_mut(), content_type, bytes, &mut plain)?;
        if plain != body {
            return Err("decoded body differs".into());
        }
        Ok(())
    })?;
    Ok(())
}
