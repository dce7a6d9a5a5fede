//! WS-Addressing MessageIDs for requests ([DSP0226 §5.4.4]: `wsa:MessageID` is a unique URI;
//! WinRM clients use `uuid:` followed by an upper-case UUID).
//!
//! The IDs must be unique, not unpredictable: they travel inside the (sealed) envelope and
//! only pair a reply with its request (`wsa:RelatesTo`). So instead of drawing 16 fresh random
//! bytes from the OS per request (one `getrandom` system call each), the process draws 128
//! random bits once and then counts:
//!
//! * the high 64 bits are the random process prefix (60 random bits after the version nibble);
//! * the low 64 bits are the variant bits and 62 bits of `random start + counter`, so two IDs of
//!   one process differ until the counter wraps after 2^62 requests, and IDs of different
//!   processes differ unless their 60-bit random prefixes collide.
//!
//! Such IDs are not version-4 (random) UUIDs, so they do not claim to be: they carry version 8,
//! the version RFC 9562 §5.8 sets aside for UUIDs laid out by their creator, with the RFC
//! variant bits (`uuid:XXXXXXXX-XXXX-8XXX-[89AB]XXX-XXXXXXXXXXXX`). The shape (`uuid:` and
//! 8-4-4-4-12 hex digits, what a GUID parser reads) is that of any other WinRM client;
//! [DSP0226 §5.4.4] asks only for uniqueness (WS-Addressing types it `xs:anyURI`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The per-process random prefix and counter start.
static SEED: OnceLock<(u64, u64)> = OnceLock::new();
/// Requests numbered so far in this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A new MessageID: `uuid:` and 36 upper-case characters, unique within the process.
pub(crate) fn next() -> String {
    let (prefix, start) = *SEED.get_or_init(|| {
        let mut b = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        let (hi, lo) = b.split_at(8);
        let word = |s: &[u8]| s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        (word(hi), word(lo))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format_id(prefix, start.wrapping_add(n))
}

/// Formats the two halves with the RFC 9562 version (8, custom) and variant (10xx) bits set.
fn format_id(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xF000) | 0x8000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    let mut out = String::with_capacity(41);
    out.push_str("uuid:");
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn assert_shape(id: &str) {
        assert_eq!(id.len(), 41, "{id}");
        let uuid = id.strip_prefix("uuid:").unwrap();
        for (i, c) in uuid.chars().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{id}");
            } else {
                assert!(c.is_ascii_digit() || ('A'..='F').contains(&c), "{id}");
            }
        }
        assert_eq!(&uuid[14..15], "8", "version nibble in {id}");
        assert!("89AB".contains(&uuid[19..20]), "variant in {id}");
    }

    #[test]
    fn ids_have_the_uuid_v8_shape_and_are_unique() {
        let ids: Vec<String> = (0..20_000).map(|_| next()).collect();
        for id in &ids {
            assert_shape(id);
        }
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // One process prefix for all of them.
        assert!(ids.iter().all(|id| id[..23] == ids[0][..23]));
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..5_000).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 20_000);
    }

    #[test]
    fn formatting_places_every_byte_and_the_version_bits() {
        assert_eq!(
            format_id(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210),
            "uuid:01234567-89AB-8DEF-BEDC-BA9876543210"
        );
        assert_eq!(format_id(0, 0), "uuid:00000000-0000-8000-8000-000000000000");
        assert_eq!(
            format_id(u64::MAX, u64::MAX),
            "uuid:FFFFFFFF-FFFF-8FFF-BFFF-FFFFFFFFFFFF"
        );
        // The counter's low 62 bits are kept: consecutive values differ.
        assert_ne!(format_id(7, 41), format_id(7, 42));
    }
}
