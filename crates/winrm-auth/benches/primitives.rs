//! NTLM sealing primitives in isolation ([MS-NLMP 3.4.6], [MS-NLMP 3.4.7]): the hand-written
//! interleaved RC4 + HMAC-MD5 pass (`src/ntlm/arc4.rs`, `src/ntlm/md5_hmac.rs`) against the
//! RustCrypto crates (`rc4`'s `apply_keystream` in place, a pre-keyed `Hmac<Md5>` cloned per
//! message), on 2 KiB, 3.4 KiB and 64 KiB bodies. Both compute the same signature over the
//! same bytes (checked before measuring); only the primitives differ.
//!
//! This is why the crate keeps its own MD5 / HMAC-MD5 / RC4 (the crates are only
//! dev-dependencies, as references): figures in BENCHMARKS.md, section 7.
//! `cargo bench -p winrm-auth --bench primitives -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, dead_code, missing_docs)]

// The crate's own modules, compiled into the benchmark as they are (they are crate-private).
// Their unit tests' imports go unused here: the test functions are not built into a bench.
#[allow(unused_imports)]
#[path = "../src/ntlm/arc4.rs"]
mod arc4;
#[allow(unused_imports)]
#[path = "../src/ntlm/md5_hmac.rs"]
mod md5_hmac;

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput};
use hmac::{Hmac, Mac};
use md5::Md5;
use rc4::consts::U16;
use rc4::{KeyInit, StreamCipher};

const BODY_LENS: [usize; 3] = [2048, 3408, 64 * 1024];
const SIGN_KEY: [u8; 16] = [0x11; 16];
const SEAL_KEY: [u8; 16] = [0x22; 16];

/// One direction of NTLM sealing ([MS-NLMP 3.4.6]): seal or unseal in place and return the
/// (RC4-encrypted) checksum; the sequence number runs on.
trait Direction {
    const NAME: &'static str;
    fn new() -> Self;
    fn seal(&mut self, data: &mut [u8]) -> [u8; 8];
    fn unseal(&mut self, data: &mut [u8]) -> [u8; 8];
}

/// One direction's state, hand-written primitives.
struct Hand {
    sign: md5_hmac::HmacMd5,
    cipher: arc4::Rc4,
    seq: u32,
}

impl Hand {
    fn checksum(&mut self, mac: &[u8; 16]) -> [u8; 8] {
        let mut c = [0u8; 8];
        c.copy_from_slice(&mac[..8]);
        self.cipher.apply(&mut c);
        self.seq = self.seq.wrapping_add(1);
        c
    }
}

impl Direction for Hand {
    const NAME: &'static str = "hand";

    fn new() -> Self {
        Hand {
            sign: md5_hmac::HmacMd5::new(&SIGN_KEY),
            cipher: arc4::Rc4::new(&SEAL_KEY),
            seq: 0,
        }
    }

    fn seal(&mut self, data: &mut [u8]) -> [u8; 8] {
        let mut inner = self.sign.start();
        inner.update(&self.seq.to_le_bytes());
        inner.update_sealing(&mut self.cipher, data);
        let mac = self.sign.finish(inner);
        self.checksum(&mac)
    }

    fn unseal(&mut self, data: &mut [u8]) -> [u8; 8] {
        let mut inner = self.sign.start();
        inner.update(&self.seq.to_le_bytes());
        inner.update_unsealing(&mut self.cipher, data);
        let mac = self.sign.finish(inner);
        self.checksum(&mac)
    }
}

/// One direction's state, RustCrypto crates.
struct Crates {
    sign: Hmac<Md5>,
    cipher: rc4::Rc4<U16>,
    seq: u32,
}

impl Crates {
    fn checksum(&mut self, mac: &[u8]) -> [u8; 8] {
        let mut c = [0u8; 8];
        c.copy_from_slice(&mac[..8]);
        self.cipher.apply_keystream(&mut c);
        self.seq = self.seq.wrapping_add(1);
        c
    }

    fn mac(&self, data: &[u8]) -> [u8; 16] {
        let mut mac = self.sign.clone();
        mac.update(&self.seq.to_le_bytes());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl Direction for Crates {
    const NAME: &'static str = "crates";

    fn new() -> Self {
        Crates {
            sign: <Hmac<Md5> as Mac>::new_from_slice(&SIGN_KEY).unwrap(),
            cipher: rc4::Rc4::<U16>::new(&SEAL_KEY.into()),
            seq: 0,
        }
    }

    fn seal(&mut self, data: &mut [u8]) -> [u8; 8] {
        let mac = self.mac(data);
        self.cipher.apply_keystream(data);
        self.checksum(&mac)
    }

    fn unseal(&mut self, data: &mut [u8]) -> [u8; 8] {
        self.cipher.apply_keystream(data);
        let mac = self.mac(data);
        self.checksum(&mac)
    }
}

/// A SOAP-looking body of `len` bytes.
fn body(len: usize) -> Vec<u8> {
    let unit = b"<p:ElementName>vm-0042 &amp; friends</p:ElementName>";
    unit.iter().copied().cycle().take(len).collect()
}

/// Both implementations give the same ciphertext and checksum, and unseal it back.
fn check_same(len: usize) {
    let plain = body(len);
    let (mut a, mut b) = (plain.clone(), plain.clone());
    let (mut hand, mut crates) = (Hand::new(), Crates::new());
    for _ in 0..3 {
        assert_eq!(hand.seal(&mut a), crates.seal(&mut b));
        assert_eq!(a, b);
    }
    let (mut hand, mut crates) = (Hand::new(), Crates::new());
    let mut sealed = plain.clone();
    let sum = Crates::new().seal(&mut sealed);
    let (mut a, mut b) = (sealed.clone(), sealed);
    assert_eq!(hand.unseal(&mut a), sum);
    assert_eq!(crates.unseal(&mut b), sum);
    assert_eq!(a, plain);
    assert_eq!(b, plain);
}

/// Seal and unseal of `plain` with `D`; unsealing runs over bytes a peer sealed in the same
/// order (setup, not measured).
fn bench_direction<D: Direction>(g: &mut BenchmarkGroup<'_, WallTime>, plain: &[u8]) {
    let mut d = D::new();
    let mut buf = plain.to_vec();
    g.bench_function(format!("seal/{}", D::NAME), |b| {
        b.iter(|| black_box(d.seal(black_box(&mut buf))))
    });
    let (mut peer, mut d) = (Crates::new(), D::new());
    g.bench_function(format!("unseal/{}", D::NAME), |b| {
        b.iter_batched(
            || {
                let mut data = plain.to_vec();
                let sum = peer.seal(&mut data);
                (data, sum)
            },
            |(mut data, sum)| {
                assert_eq!(d.unseal(&mut data), sum);
                data
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    for len in BODY_LENS {
        check_same(len);
        let plain = body(len);
        let mut g = c.benchmark_group(format!("primitives_{len}B"));
        g.throughput(Throughput::Bytes(len as u64));
        bench_direction::<Hand>(&mut g, &plain);
        bench_direction::<Crates>(&mut g, &plain);
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
