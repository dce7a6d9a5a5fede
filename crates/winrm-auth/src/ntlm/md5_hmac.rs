//! MD5 ([RFC 1321]) and HMAC-MD5 ([RFC 2104]) for NTLM message signatures
//! ([MS-NLMP 3.4.4.2]): the HMAC key's inner and outer pad blocks are hashed once per session
//! direction, so a signature costs the message's blocks plus two finalisations.
//!
//! Implemented from the RFC text; tested against the RFC 1321 and RFC 2104 / RFC 2202 vectors
//! and against the `md-5` / `hmac` crates.

use zeroize::Zeroize;

use super::arc4::{keystream_byte, Rc4};

/// The initial chaining value A, B, C, D ([RFC 1321 3.3]).
const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The auxiliary functions of [RFC 1321 3.4], in forms with fewer operations.
#[inline(always)]
fn ff(x: u32, y: u32, z: u32) -> u32 {
    // XY v not(X) Z
    z ^ (x & (y ^ z))
}

#[inline(always)]
fn gg(x: u32, y: u32, z: u32) -> u32 {
    // XZ v Y not(Z)
    y ^ (z & (x ^ y))
}

#[inline(always)]
fn hh(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn ii(x: u32, y: u32, z: u32) -> u32 {
    y ^ (x | !z)
}

/// One step of [RFC 1321 3.4]: a = b + ((a + F(b, c, d) + X[k] + T[i]) <<< s).
macro_rules! step {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr, $t:expr) => {
        $a = $b.wrapping_add(
            $a.wrapping_add($f($b, $c, $d))
                .wrapping_add($x)
                .wrapping_add($t)
                .rotate_left($s),
        );
    };
}

/// The sixteen little-endian words of a block ([RFC 1321 3.4]).
#[inline(always)]
fn words(block: &[u8; 64]) -> [u32; 16] {
    let mut x = [0u32; 16];
    for (w, c) in x.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    x
}

/// One 64-byte block ([RFC 1321 3.4]); the constants are floor(2^32 * abs(sin(i))), i = 1..64.
#[inline]
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    compress_words(state, &words(block));
}

/// [`compress`] of a block already split into words.
#[inline]
fn compress_words(state: &mut [u32; 4], x: &[u32; 16]) {
    let [mut a, mut b, mut c, mut d] = *state;
    // Round 1 [RFC 1321 3.4].
    step!(ff, a, b, c, d, x[0], 7, 0xd76aa478);
    step!(ff, d, a, b, c, x[1], 12, 0xe8c7b756);
    step!(ff, c, d, a, b, x[2], 17, 0x242070db);
    step!(ff, b, c, d, a, x[3], 22, 0xc1bdceee);
    step!(ff, a, b, c, d, x[4], 7, 0xf57c0faf);
    step!(ff, d, a, b, c, x[5], 12, 0x4787c62a);
    step!(ff, c, d, a, b, x[6], 17, 0xa8304613);
    step!(ff, b, c, d, a, x[7], 22, 0xfd469501);
    step!(ff, a, b, c, d, x[8], 7, 0x698098d8);
    step!(ff, d, a, b, c, x[9], 12, 0x8b44f7af);
    step!(ff, c, d, a, b, x[10], 17, 0xffff5bb1);
    step!(ff, b, c, d, a, x[11], 22, 0x895cd7be);
    step!(ff, a, b, c, d, x[12], 7, 0x6b901122);
    step!(ff, d, a, b, c, x[13], 12, 0xfd987193);
    step!(ff, c, d, a, b, x[14], 17, 0xa679438e);
    step!(ff, b, c, d, a, x[15], 22, 0x49b40821);
    // Round 2 [RFC 1321 3.4].
    step!(gg, a, b, c, d, x[1], 5, 0xf61e2562);
    step!(gg, d, a, b, c, x[6], 9, 0xc040b340);
    step!(gg, c, d, a, b, x[11], 14, 0x265e5a51);
    step!(gg, b, c, d, a, x[0], 20, 0xe9b6c7aa);
    step!(gg, a, b, c, d, x[5], 5, 0xd62f105d);
    step!(gg, d, a, b, c, x[10], 9, 0x02441453);
    step!(gg, c, d, a, b, x[15], 14, 0xd8a1e681);
    step!(gg, b, c, d, a, x[4], 20, 0xe7d3fbc8);
    step!(gg, a, b, c, d, x[9], 5, 0x21e1cde6);
    step!(gg, d, a, b, c, x[14], 9, 0xc33707d6);
    step!(gg, c, d, a, b, x[3], 14, 0xf4d50d87);
    step!(gg, b, c, d, a, x[8], 20, 0x455a14ed);
    step!(gg, a, b, c, d, x[13], 5, 0xa9e3e905);
    step!(gg, d, a, b, c, x[2], 9, 0xfcefa3f8);
    step!(gg, c, d, a, b, x[7], 14, 0x676f02d9);
    step!(gg, b, c, d, a, x[12], 20, 0x8d2a4c8a);
    // Round 3 [RFC 1321 3.4].
    step!(hh, a, b, c, d, x[5], 4, 0xfffa3942);
    step!(hh, d, a, b, c, x[8], 11, 0x8771f681);
    step!(hh, c, d, a, b, x[11], 16, 0x6d9d6122);
    step!(hh, b, c, d, a, x[14], 23, 0xfde5380c);
    step!(hh, a, b, c, d, x[1], 4, 0xa4beea44);
    step!(hh, d, a, b, c, x[4], 11, 0x4bdecfa9);
    step!(hh, c, d, a, b, x[7], 16, 0xf6bb4b60);
    step!(hh, b, c, d, a, x[10], 23, 0xbebfbc70);
    step!(hh, a, b, c, d, x[13], 4, 0x289b7ec6);
    step!(hh, d, a, b, c, x[0], 11, 0xeaa127fa);
    step!(hh, c, d, a, b, x[3], 16, 0xd4ef3085);
    step!(hh, b, c, d, a, x[6], 23, 0x04881d05);
    step!(hh, a, b, c, d, x[9], 4, 0xd9d4d039);
    step!(hh, d, a, b, c, x[12], 11, 0xe6db99e5);
    step!(hh, c, d, a, b, x[15], 16, 0x1fa27cf8);
    step!(hh, b, c, d, a, x[2], 23, 0xc4ac5665);
    // Round 4 [RFC 1321 3.4].
    step!(ii, a, b, c, d, x[0], 6, 0xf4292244);
    step!(ii, d, a, b, c, x[7], 10, 0x432aff97);
    step!(ii, c, d, a, b, x[14], 15, 0xab9423a7);
    step!(ii, b, c, d, a, x[5], 21, 0xfc93a039);
    step!(ii, a, b, c, d, x[12], 6, 0x655b59c3);
    step!(ii, d, a, b, c, x[3], 10, 0x8f0ccc92);
    step!(ii, c, d, a, b, x[10], 15, 0xffeff47d);
    step!(ii, b, c, d, a, x[1], 21, 0x85845dd1);
    step!(ii, a, b, c, d, x[8], 6, 0x6fa87e4f);
    step!(ii, d, a, b, c, x[15], 10, 0xfe2ce6e0);
    step!(ii, c, d, a, b, x[6], 15, 0xa3014314);
    step!(ii, b, c, d, a, x[13], 21, 0x4e0811a1);
    step!(ii, a, b, c, d, x[4], 6, 0xf7537e82);
    step!(ii, d, a, b, c, x[11], 10, 0xbd3af235);
    step!(ii, c, d, a, b, x[2], 15, 0x2ad7d2bb);
    step!(ii, b, c, d, a, x[9], 21, 0xeb86d391);
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// [`compress_words`] of `x` with the next 64 RC4 keystream bytes XORed into `data`, one byte
/// between every two MD5 steps. Both computations are chains of dependent operations (MD5
/// through its registers, RC4 through the S-box); interleaved, the processor runs them side by
/// side instead of one after the other. The results are exactly those of the two run apart.
#[inline]
#[allow(unused_assignments)] // the last byte's look-ahead of S[i + 1] is not needed
fn compress_words_rc4(state: &mut [u32; 4], x: &[u32; 16], rc4: &mut Rc4, data: &mut [u8; 64]) {
    let [mut a, mut b, mut c, mut d] = *state;
    let sbox = &mut rc4.s;
    let mut ri = rc4.i;
    let mut rj = rc4.j;
    let mut si = sbox[usize::from(ri.wrapping_add(1))];
    // One RC4 output byte ([`Rc4::apply`]).
    macro_rules! rc4_byte {
        ($n:expr) => {
            data[$n] ^= keystream_byte!(sbox, ri, rj, si);
        };
    }
    step!(ff, a, b, c, d, x[0], 7, 0xd76aa478);
    rc4_byte!(0);
    step!(ff, d, a, b, c, x[1], 12, 0xe8c7b756);
    rc4_byte!(1);
    step!(ff, c, d, a, b, x[2], 17, 0x242070db);
    rc4_byte!(2);
    step!(ff, b, c, d, a, x[3], 22, 0xc1bdceee);
    rc4_byte!(3);
    step!(ff, a, b, c, d, x[4], 7, 0xf57c0faf);
    rc4_byte!(4);
    step!(ff, d, a, b, c, x[5], 12, 0x4787c62a);
    rc4_byte!(5);
    step!(ff, c, d, a, b, x[6], 17, 0xa8304613);
    rc4_byte!(6);
    step!(ff, b, c, d, a, x[7], 22, 0xfd469501);
    rc4_byte!(7);
    step!(ff, a, b, c, d, x[8], 7, 0x698098d8);
    rc4_byte!(8);
    step!(ff, d, a, b, c, x[9], 12, 0x8b44f7af);
    rc4_byte!(9);
    step!(ff, c, d, a, b, x[10], 17, 0xffff5bb1);
    rc4_byte!(10);
    step!(ff, b, c, d, a, x[11], 22, 0x895cd7be);
    rc4_byte!(11);
    step!(ff, a, b, c, d, x[12], 7, 0x6b901122);
    rc4_byte!(12);
    step!(ff, d, a, b, c, x[13], 12, 0xfd987193);
    rc4_byte!(13);
    step!(ff, c, d, a, b, x[14], 17, 0xa679438e);
    rc4_byte!(14);
    step!(ff, b, c, d, a, x[15], 22, 0x49b40821);
    rc4_byte!(15);
    step!(gg, a, b, c, d, x[1], 5, 0xf61e2562);
    rc4_byte!(16);
    step!(gg, d, a, b, c, x[6], 9, 0xc040b340);
    rc4_byte!(17);
    step!(gg, c, d, a, b, x[11], 14, 0x265e5a51);
    rc4_byte!(18);
    step!(gg, b, c, d, a, x[0], 20, 0xe9b6c7aa);
    rc4_byte!(19);
    step!(gg, a, b, c, d, x[5], 5, 0xd62f105d);
    rc4_byte!(20);
    step!(gg, d, a, b, c, x[10], 9, 0x02441453);
    rc4_byte!(21);
    step!(gg, c, d, a, b, x[15], 14, 0xd8a1e681);
    rc4_byte!(22);
    step!(gg, b, c, d, a, x[4], 20, 0xe7d3fbc8);
    rc4_byte!(23);
    step!(gg, a, b, c, d, x[9], 5, 0x21e1cde6);
    rc4_byte!(24);
    step!(gg, d, a, b, c, x[14], 9, 0xc33707d6);
    rc4_byte!(25);
    step!(gg, c, d, a, b, x[3], 14, 0xf4d50d87);
    rc4_byte!(26);
    step!(gg, b, c, d, a, x[8], 20, 0x455a14ed);
    rc4_byte!(27);
    step!(gg, a, b, c, d, x[13], 5, 0xa9e3e905);
    rc4_byte!(28);
    step!(gg, d, a, b, c, x[2], 9, 0xfcefa3f8);
    rc4_byte!(29);
    step!(gg, c, d, a, b, x[7], 14, 0x676f02d9);
    rc4_byte!(30);
    step!(gg, b, c, d, a, x[12], 20, 0x8d2a4c8a);
    rc4_byte!(31);
    step!(hh, a, b, c, d, x[5], 4, 0xfffa3942);
    rc4_byte!(32);
    step!(hh, d, a, b, c, x[8], 11, 0x8771f681);
    rc4_byte!(33);
    step!(hh, c, d, a, b, x[11], 16, 0x6d9d6122);
    rc4_byte!(34);
    step!(hh, b, c, d, a, x[14], 23, 0xfde5380c);
    rc4_byte!(35);
    step!(hh, a, b, c, d, x[1], 4, 0xa4beea44);
    rc4_byte!(36);
    step!(hh, d, a, b, c, x[4], 11, 0x4bdecfa9);
    rc4_byte!(37);
    step!(hh, c, d, a, b, x[7], 16, 0xf6bb4b60);
    rc4_byte!(38);
    step!(hh, b, c, d, a, x[10], 23, 0xbebfbc70);
    rc4_byte!(39);
    step!(hh, a, b, c, d, x[13], 4, 0x289b7ec6);
    rc4_byte!(40);
    step!(hh, d, a, b, c, x[0], 11, 0xeaa127fa);
    rc4_byte!(41);
    step!(hh, c, d, a, b, x[3], 16, 0xd4ef3085);
    rc4_byte!(42);
    step!(hh, b, c, d, a, x[6], 23, 0x04881d05);
    rc4_byte!(43);
    step!(hh, a, b, c, d, x[9], 4, 0xd9d4d039);
    rc4_byte!(44);
    step!(hh, d, a, b, c, x[12], 11, 0xe6db99e5);
    rc4_byte!(45);
    step!(hh, c, d, a, b, x[15], 16, 0x1fa27cf8);
    rc4_byte!(46);
    step!(hh, b, c, d, a, x[2], 23, 0xc4ac5665);
    rc4_byte!(47);
    step!(ii, a, b, c, d, x[0], 6, 0xf4292244);
    rc4_byte!(48);
    step!(ii, d, a, b, c, x[7], 10, 0x432aff97);
    rc4_byte!(49);
    step!(ii, c, d, a, b, x[14], 15, 0xab9423a7);
    rc4_byte!(50);
    step!(ii, b, c, d, a, x[5], 21, 0xfc93a039);
    rc4_byte!(51);
    step!(ii, a, b, c, d, x[12], 6, 0x655b59c3);
    rc4_byte!(52);
    step!(ii, d, a, b, c, x[3], 10, 0x8f0ccc92);
    rc4_byte!(53);
    step!(ii, c, d, a, b, x[10], 15, 0xffeff47d);
    rc4_byte!(54);
    step!(ii, b, c, d, a, x[1], 21, 0x85845dd1);
    rc4_byte!(55);
    step!(ii, a, b, c, d, x[8], 6, 0x6fa87e4f);
    rc4_byte!(56);
    step!(ii, d, a, b, c, x[15], 10, 0xfe2ce6e0);
    rc4_byte!(57);
    step!(ii, c, d, a, b, x[6], 15, 0xa3014314);
    rc4_byte!(58);
    step!(ii, b, c, d, a, x[13], 21, 0x4e0811a1);
    rc4_byte!(59);
    step!(ii, a, b, c, d, x[4], 6, 0xf7537e82);
    rc4_byte!(60);
    step!(ii, d, a, b, c, x[11], 10, 0xbd3af235);
    rc4_byte!(61);
    step!(ii, c, d, a, b, x[2], 15, 0x2ad7d2bb);
    rc4_byte!(62);
    step!(ii, b, c, d, a, x[9], 21, 0xeb86d391);
    rc4_byte!(63);
    rc4.i = ri;
    rc4.j = rj;
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// A chunk of `chunks_exact(64)` as a block. Any other length is a bug here, so it panics
/// rather than skip input.
#[inline(always)]
#[allow(clippy::expect_used)]
fn block64(chunk: &[u8]) -> &[u8; 64] {
    chunk.try_into().expect("chunks_exact(64) yields 64-byte chunks")
}

/// [`block64`] for `chunks_exact_mut(64)`.
#[inline(always)]
#[allow(clippy::expect_used)]
fn block64_mut(chunk: &mut [u8]) -> &mut [u8; 64] {
    chunk
        .try_into()
        .expect("chunks_exact_mut(64) yields 64-byte chunks")
}

/// An MD5 computation in progress. Its state is wiped when dropped (it may be keyed).
#[derive(Clone)]
pub(crate) struct Md5 {
    state: [u32; 4],
    /// Bytes of an incomplete block.
    block: [u8; 64],
    /// How many bytes of `block` are used (always < 64 between calls).
    used: usize,
    /// Message length so far, in bytes.
    len: u64,
}

impl Md5 {
    /// A fresh computation.
    pub(crate) fn new() -> Self {
        Md5 {
            state: IV,
            block: [0; 64],
            used: 0,
            len: 0,
        }
    }

    /// Feeds `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.used > 0 {
            let take = (64 - self.used).min(data.len());
            self.block[self.used..self.used + take].copy_from_slice(&data[..take]);
            self.used += take;
            data = &data[take..];
            if self.used < 64 {
                return;
            }
            compress(&mut self.state, &self.block);
            self.used = 0;
        }
        let blocks = data.chunks_exact(64);
        let rest = blocks.remainder();
        for chunk in blocks {
            compress(&mut self.state, block64(chunk));
        }
        self.block[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    /// Feeds the plaintext in `data` and RC4-encrypts it in place: the same digest and the same
    /// ciphertext as `update(data)` followed by `rc4.apply(data)`, in one interleaved pass.
    pub(crate) fn update_sealing(&mut self, rc4: &mut Rc4, data: &mut [u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        let mut data = data;
        if self.used > 0 {
            let take = (64 - self.used).min(data.len());
            let (head, rest) = data.split_at_mut(take);
            self.block[self.used..self.used + take].copy_from_slice(head);
            rc4.apply(head);
            self.used += take;
            if self.used < 64 {
                return;
            }
            compress(&mut self.state, &self.block);
            self.used = 0;
            data = rest;
        }
        let mut blocks = data.chunks_exact_mut(64);
        for chunk in &mut blocks {
            let block = block64_mut(chunk);
            // The words are read before the keystream overwrites the block.
            let x = words(block);
            compress_words_rc4(&mut self.state, &x, rc4, block);
        }
        let rest = blocks.into_remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        rc4.apply(rest);
        self.used = rest.len();
    }

    /// RC4-decrypts `data` in place and feeds the plaintext: the same results as
    /// `rc4.apply(data)` followed by `update(data)`. Block k is hashed while block k + 1 is
    /// decrypted.
    pub(crate) fn update_unsealing(&mut self, rc4: &mut Rc4, data: &mut [u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        let mut data = data;
        if self.used > 0 {
            let take = (64 - self.used).min(data.len());
            let (head, rest) = data.split_at_mut(take);
            rc4.apply(head);
            self.block[self.used..self.used + take].copy_from_slice(head);
            self.used += take;
            if self.used < 64 {
                return;
            }
            compress(&mut self.state, &self.block);
            self.used = 0;
            data = rest;
        }
        let full = data.len() / 64 * 64;
        let (blocks, rest) = data.split_at_mut(full);
        let mut chunks = blocks.chunks_exact_mut(64);
        if let Some(first) = chunks.next() {
            rc4.apply(first);
            let mut x = words(block64_mut(first));
            for chunk in chunks {
                let next = block64_mut(chunk);
                compress_words_rc4(&mut self.state, &x, rc4, next);
                x = words(next);
            }
            compress_words(&mut self.state, &x);
            x.zeroize();
        }
        rc4.apply(rest);
        self.block[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    /// Pads ([RFC 1321 3.1, 3.2]) and returns the digest ([RFC 1321 3.5]).
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let used = self.used;
        self.block[used] = 0x80;
        if used + 1 > 56 {
            self.block[used + 1..].fill(0);
            compress(&mut self.state, &self.block);
            self.block[..56].fill(0);
        } else {
            self.block[used + 1..56].fill(0);
        }
        self.block[56..].copy_from_slice(&bits.to_le_bytes());
        compress(&mut self.state, &self.block);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

impl Drop for Md5 {
    fn drop(&mut self) {
        self.state.zeroize();
        self.block.zeroize();
    }
}

/// MD5 of the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// HMAC-MD5 ([RFC 2104]) keyed once: the MD5 states after the `K XOR ipad` and `K XOR opad`
/// blocks, cloned for every message. Wiped when dropped.
#[derive(Clone)]
pub(crate) struct HmacMd5 {
    inner: Md5,
    outer: Md5,
}

impl HmacMd5 {
    /// Keys the HMAC; keys longer than the 64-byte block are hashed first ([RFC 2104 2]).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..16].copy_from_slice(&md5(&[key]));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = [0u8; 64];
        let mut inner = Md5::new();
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x36;
        }
        inner.update(&pad);
        let mut outer = Md5::new();
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x5c;
        }
        outer.update(&pad);
        pad.zeroize();
        k.zeroize();
        HmacMd5 { inner, outer }
    }

    /// HMAC-MD5 of the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut inner = self.start();
        for p in parts {
            inner.update(p);
        }
        self.finish(inner)
    }

    /// The inner hash, keyed: feed the message to it, then pass it to [`finish`](Self::finish).
    pub(crate) fn start(&self) -> Md5 {
        self.inner.clone()
    }

    /// The HMAC of the message fed to `inner` (from [`start`](Self::start)).
    pub(crate) fn finish(&self, inner: Md5) -> [u8; 16] {
        let mut digest = inner.finalize();
        let mut outer = self.outer.clone();
        outer.update(&digest);
        digest.zeroize();
        outer.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;
    use md5::Digest;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        hex::encode(b)
    }

    #[test]
    fn sine_table_matches_rfc_1321_definition() {
        // The step constants are floor(4294967296 * abs(sin(i))); recompute the first and last.
        let t = |i: u32| (f64::from(i).sin().abs() * 4_294_967_296.0) as u32;
        assert_eq!(t(1), 0xd76a_a478);
        assert_eq!(t(17), 0xf61e_2562);
        assert_eq!(t(64), 0xeb86_d391);
    }

    #[test]
    fn rfc_1321_test_suite() {
        // [RFC 1321 A.5]
        let cases: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&md5(&[input])), want, "{:?}", String::from_utf8_lossy(input));
            // Byte-at-a-time feeding gives the same digest.
            let mut h = Md5::new();
            for b in input {
                h.update(std::slice::from_ref(b));
            }
            assert_eq!(hex(&h.finalize()), want);
        }
    }

    #[test]
    fn every_length_around_the_padding_boundaries_matches_md5_crate() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let want: [u8; 16] = ::md5::Md5::digest(&data[..len]).into();
            assert_eq!(md5(&[&data[..len]]), want, "length {len}");
        }
    }

    #[test]
    fn rfc_2202_hmac_md5_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 5] = [
            (
                vec![0x0b; 16],
                b"Hi There".to_vec(),
                "9294727a3638bb1c13f48ef8158bfc9d",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (vec![0xaa; 16], vec![0xdd; 50], "56be34521d144c88dbb8c733f0e8b3f6"),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".to_vec(),
                "6f630fad67cda0ee1fb1f562db3aa53e",
            ),
        ];
        for (key, data, want) in cases {
            let mac = HmacMd5::new(&key);
            assert_eq!(hex(&mac.mac(&[&data])), want);
            // The keyed state is reusable: a second message gives the same answer again.
            assert_eq!(hex(&mac.mac(&[&data[..1], &data[1..]])), want);
        }
    }

    /// Feeds `prefix`, then seals `data` through `update_sealing` (in pieces of `split`);
    /// returns (digest, ciphertext) and checks them against the two computations run apart.
    fn check_sealing(prefix: &[u8], data: &[u8], split: usize) {
        let key = [0x42u8; 16];
        let mut h = Md5::new();
        h.update(prefix);
        let mut rc4 = Rc4::new(&key);
        let mut sealed = data.to_vec();
        for piece in sealed.chunks_mut(split.max(1)) {
            h.update_sealing(&mut rc4, piece);
        }
        let mut want_ct = data.to_vec();
        Rc4::new(&key).apply(&mut want_ct);
        assert_eq!(
            sealed,
            want_ct,
            "ciphertext, prefix {} data {}",
            prefix.len(),
            data.len()
        );
        assert_eq!(h.finalize(), md5(&[prefix, data]), "digest");
        // Unsealing the ciphertext gives the plaintext back and the same digest.
        let mut h = Md5::new();
        h.update(prefix);
        let mut rc4 = Rc4::new(&key);
        let mut opened = sealed.clone();
        for piece in opened.chunks_mut(split.max(1)) {
            h.update_unsealing(&mut rc4, piece);
        }
        assert_eq!(
            opened,
            data,
            "plaintext, prefix {} data {}",
            prefix.len(),
            data.len()
        );
        assert_eq!(h.finalize(), md5(&[prefix, data]), "digest after unsealing");
    }

    #[test]
    fn interleaved_sealing_equals_md5_and_rc4_apart_at_every_alignment() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 13 + 5) as u8).collect();
        let prefix = [9u8; 70];
        for p in [0, 1, 4, 63, 64, 65, 70] {
            for len in (0..200).chain([255, 256, 257, 320, 399, 400]) {
                check_sealing(&prefix[..p], &data[..len], usize::MAX);
            }
        }
        // The RC4 state runs on across calls: 3 then 5 then 64 bytes ...
        for split in [1, 3, 63, 64, 65, 130] {
            check_sealing(&prefix[..4], &data, split);
        }
    }

    proptest! {
        #[test]
        fn interleaved_sealing_matches(
            prefix in proptest::collection::vec(any::<u8>(), 0..80),
            data in proptest::collection::vec(any::<u8>(), 0..1200),
            split in 1usize..300,
        ) {
            check_sealing(&prefix, &data, split);
        }

        #[test]
        fn hmac_matches_hmac_crate(
            key in proptest::collection::vec(any::<u8>(), 0..100),
            a in proptest::collection::vec(any::<u8>(), 0..200),
            b in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut reference = <hmac::Hmac<::md5::Md5> as Mac>::new_from_slice(&key).unwrap();
            reference.update(&a);
            reference.update(&b);
            let want: [u8; 16] = reference.finalize().into_bytes().into();
            prop_assert_eq!(HmacMd5::new(&key).mac(&[&a, &b]), want);
        }
    }
}
