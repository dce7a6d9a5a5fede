//! RC4, the stream cipher of NTLM sealing ([MS-NLMP 3.4.3], [MS-NLMP 3.1.5.1]): the key
//! scheduling and output generation as described in RFC 6229 section 1 / the original
//! public description, keystream applied in place. Tested against the RFC 6229 vectors.

use zeroize::Zeroize;

/// The next keystream byte ([RFC 6229 1]: i += 1; j += S[i]; swap S[i], S[j];
/// output S[S[i] + S[j]]), with the S-box `$s`, indices `$i`, `$j` and `$si`, which holds
/// S[i + 1] on entry and on exit.
///
/// S[i + 1] for the next byte is read before this byte's swap is stored and corrected when
/// the swap wrote it (j = i + 1): the next byte's j then does not wait for the processor to
/// tell whether the load depends on the store. The entries are `u32` so that no two of them
/// share a 4-byte word (byte-sized entries run about twice as slow).
macro_rules! keystream_byte {
    ($s:ident, $i:ident, $j:ident, $si:ident) => {{
        $i = $i.wrapping_add(1);
        $j = $j.wrapping_add($si as u8);
        let sj = $s[usize::from($j)];
        let i1 = $i.wrapping_add(1);
        let ahead = $s[usize::from(i1)];
        $s[usize::from($i)] = sj;
        $s[usize::from($j)] = $si;
        let k = $s[usize::from(($si as u8).wrapping_add(sj as u8))] as u8;
        $si = if $j == i1 { $si } else { ahead };
        k
    }};
}
pub(super) use keystream_byte;

/// An RC4 cipher state: the permutation S (entries 0..=255 held in `u32`s) and the indices
/// i, j. Wiped when dropped.
#[derive(Clone)]
pub(crate) struct Rc4 {
    pub(super) s: [u32; 256],
    pub(super) i: u8,
    pub(super) j: u8,
}

impl Rc4 {
    /// Key scheduling: S = identity, then for i in 0..256: j += S[i] + key[i mod len];
    /// swap S[i], S[j]. NTLM keys are 5 to 16 bytes; an empty key acts as one zero byte.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut s = [0u32; 256];
        for (i, v) in (0u32..).zip(s.iter_mut()) {
            *v = i;
        }
        let len = key.len().max(1);
        let mut j = 0u8;
        for i in 0..256 {
            let k = key.get(i % len).copied().unwrap_or(0);
            j = j.wrapping_add(s[i] as u8).wrapping_add(k);
            s.swap(i, usize::from(j));
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts in place).
    #[inline]
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        let s = &mut self.s;
        let mut i = self.i;
        let mut j = self.j;
        let mut si = s[usize::from(i.wrapping_add(1))];
        for b in data {
            *b ^= keystream_byte!(s, i, j, si);
        }
        self.i = i;
        self.j = j;
    }
}

impl Drop for Rc4 {
    fn drop(&mut self) {
        self.s.zeroize();
        self.i.zeroize();
        self.j.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rc4::{KeyInit, StreamCipher};

    /// Keystream bytes `offset..offset + 16` for `key`.
    fn keystream(key: &[u8], offset: usize) -> String {
        let mut buf = vec![0u8; offset + 16];
        Rc4::new(key).apply(&mut buf);
        hex::encode(&buf[offset..])
    }

    #[test]
    fn rfc_6229_vectors() {
        // [RFC 6229 2]: keys 0x0102...; (key length, offset, keystream).
        let cases: [(usize, usize, &str); 10] = [
            (5, 0, "b2396305f03dc027ccc3524a0a1118a8"),
            (5, 16, "6982944f18fc82d589c403a47a0d0919"),
            (7, 0, "293f02d47f37c9b633f2af5285feb46b"),
            (7, 16, "e620f1390d19bd84e2e0fd752031afc1"),
            (8, 0, "97ab8a1bf0afb96132f2f67258da15a8"),
            (16, 0, "9ac7cc9a609d1ef7b2932899cde41b97"),
            (16, 16, "5248c4959014126a6e8a84f11d1a9e1c"),
            (16, 240, "065902e4b620f6cc36c8589f66432f2b"),
            (16, 256, "d39d566bc6bce3010768151549f3873f"),
            (16, 496, "b6d1e6c4a5e4771cad79538df295fb11"),
        ];
        for (len, offset, want) in cases {
            let key: Vec<u8> = (1..=len as u8).collect();
            assert_eq!(keystream(&key, offset), want, "key {len} offset {offset}");
        }
    }

    #[test]
    fn keystream_runs_on_across_calls() {
        let key = [7u8; 16];
        let mut whole = vec![0u8; 1000];
        Rc4::new(&key).apply(&mut whole);
        let mut pieces = vec![0u8; 1000];
        let mut c = Rc4::new(&key);
        for chunk in pieces.chunks_mut(37) {
            c.apply(chunk);
        }
        assert_eq!(whole, pieces);
    }

    proptest! {
        #[test]
        fn matches_rc4_crate(key: [u8; 16], data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let mut mine = data.clone();
            Rc4::new(&key).apply(&mut mine);
            let mut reference = data;
            rc4::Rc4::<rc4::consts::U16>::new(&key.into()).apply_keystream(&mut reference);
            prop_assert_eq!(mine, reference);
        }
    }
}
