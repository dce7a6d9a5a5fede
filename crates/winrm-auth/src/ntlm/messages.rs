//! NTLM message encoding and decoding ([MS-NLMP 2.2.1]).
//!
//! CHALLENGE is decoded with `ntlmclient`'s codec; NEGOTIATE, CHALLENGE (acceptor side) and
//! AUTHENTICATE are written here, because `ntlmclient`'s AUTHENTICATE has no MIC slot and its
//! CHALLENGE writer puts the reserved field in the payload. AUTHENTICATE is parsed here too, so
//! the acceptor can read the MIC and bound-check every buffer itself.

use ntlmclient::{Flags, TargetInfoEntry, TargetInfoType};

use crate::Error;

/// `NTLMSSP\0`.
pub(crate) const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

pub(crate) const NEGOTIATE_UNICODE: u32 = Flags::NEGOTIATE_UNICODE.bits();
pub(crate) const REQUEST_TARGET: u32 = Flags::REQUEST_TARGET.bits();
pub(crate) const NEGOTIATE_SIGN: u32 = Flags::NEGOTIATE_SIGN.bits();
pub(crate) const NEGOTIATE_SEAL: u32 = Flags::NEGOTIATE_SEAL.bits();
pub(crate) const NEGOTIATE_NTLM: u32 = Flags::NEGOTIATE_NTLM.bits();
pub(crate) const NEGOTIATE_ALWAYS_SIGN: u32 = Flags::NEGOTIATE_ALWAYS_SIGN.bits();
pub(crate) const TARGET_TYPE_DOMAIN: u32 = Flags::TARGET_TYPE_DOMAIN.bits();
/// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (called NTLM2_KEY by `ntlmclient`).
pub(crate) const NEGOTIATE_ESS: u32 = Flags::NEGOTIATE_NTLM2_KEY.bits();
pub(crate) const NEGOTIATE_TARGET_INFO: u32 = Flags::NEGOTIATE_TARGET_INFO.bits();
pub(crate) const NEGOTIATE_VERSION: u32 = Flags::NEGOTIATE_VERSION.bits();
pub(crate) const NEGOTIATE_128: u32 = Flags::NEGOTIATE_128BIT.bits();
pub(crate) const NEGOTIATE_KEY_EXCH: u32 = Flags::NEGOTIATE_KEY_EXCHANGE.bits();
pub(crate) const NEGOTIATE_56: u32 = Flags::NEGOTIATE_56BIT.bits();

/// The flags our client asks for: Unicode, sign, seal, NTLM, always-sign, extended session
/// security, version, 128-bit, 56-bit, key exchange (and a target name).
pub(crate) const CLIENT_FLAGS: u32 = NEGOTIATE_UNICODE
    | REQUEST_TARGET
    | NEGOTIATE_SIGN
    | NEGOTIATE_SEAL
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_ESS
    | NEGOTIATE_VERSION
    | NEGOTIATE_128
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56;

/// The VERSION structure we send: 10.0 build 20348, NTLMSSP_REVISION_W2K3 ([MS-NLMP 2.2.2.10]).
pub(crate) const VERSION: [u8; 8] = [10, 0, 0x7c, 0x4f, 0, 0, 0, 0x0f];

/// MsvAvFlags bit: the AUTHENTICATE message carries a MIC ([MS-NLMP 2.2.2.1]).
pub(crate) const AV_FLAG_MIC: u32 = 0x0000_0002;

pub(crate) const AV_EOL: u16 = 0x0000;
pub(crate) const AV_NB_COMPUTER: u16 = 0x0001;
pub(crate) const AV_NB_DOMAIN: u16 = 0x0002;
pub(crate) const AV_DNS_COMPUTER: u16 = 0x0003;
pub(crate) const AV_DNS_DOMAIN: u16 = 0x0004;
pub(crate) const AV_DNS_TREE: u16 = 0x0005;
pub(crate) const AV_FLAGS: u16 = 0x0006;
pub(crate) const AV_TIMESTAMP: u16 = 0x0007;
pub(crate) const AV_TARGET_NAME: u16 = 0x0009;
pub(crate) const AV_CHANNEL_BINDINGS: u16 = 0x000a;

/// Offset of the MIC in AUTHENTICATE: after the 64-byte fixed part and the 8-byte version.
pub(crate) const MIC_OFFSET: usize = 72;
/// Where the AUTHENTICATE payload starts when it carries a MIC.
const AUTH_PAYLOAD_OFFSET: usize = MIC_OFFSET + 16;

fn malformed(what: &'static str, detail: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        detail: detail.into(),
    }
}

/// NEGOTIATE_MESSAGE ([MS-NLMP 2.2.1.1]) with no domain or workstation and a version.
pub(crate) fn negotiate(flags: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    for _ in 0..2 {
        // DomainNameFields, WorkstationFields: empty, offset at the end of the fixed part.
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&40u32.to_le_bytes());
    }
    m.extend_from_slice(&VERSION);
    m
}

/// The flags of a NEGOTIATE_MESSAGE (the acceptor needs nothing else from it).
pub(crate) fn parse_negotiate_flags(token: &[u8]) -> Result<u32, Error> {
    check_header(token, 1, "negotiate message")?;
    let flags = token
        .get(12..16)
        .ok_or_else(|| malformed("negotiate message", "truncated"))?;
    Ok(u32::from_le_bytes([flags[0], flags[1], flags[2], flags[3]]))
}

fn check_header(token: &[u8], kind: u32, what: &'static str) -> Result<(), Error> {
    if token.len() < 12 || &token[..8] != SIGNATURE {
        return Err(malformed(what, "no NTLMSSP signature"));
    }
    let t = u32::from_le_bytes([token[8], token[9], token[10], token[11]]);
    if t != kind {
        return Err(malformed(what, format!("message type {t}, expected {kind}")));
    }
    Ok(())
}

/// The parts of a CHALLENGE_MESSAGE the client uses.
#[derive(Debug, Clone)]
pub(crate) struct Challenge {
    pub(crate) flags: u32,
    pub(crate) server_challenge: [u8; 8],
    /// AV pairs in the server's order, without MsvAvEOL.
    pub(crate) target_info: Vec<TargetInfoEntry>,
}

impl Challenge {
    /// The server's MsvAvTimestamp, if present.
    pub(crate) fn timestamp(&self) -> Option<u64> {
        self.target_info
            .iter()
            .find(|e| u16::from(e.entry_type) == AV_TIMESTAMP)
            .and_then(|e| {
                let b: [u8; 8] = e.data.as_slice().try_into().ok()?;
                Some(u64::from_le_bytes(b))
            })
    }
}

/// Decodes a CHALLENGE_MESSAGE ([MS-NLMP 2.2.1.2]) with `ntlmclient`. Hostile input returns an
/// error, never a panic.
pub(crate) fn parse_challenge(token: &[u8]) -> Result<Challenge, Error> {
    check_header(token, 2, "challenge message")?;
    let msg =
        ntlmclient::Message::try_from(token).map_err(|e| malformed("challenge message", format!("{e:?}")))?;
    let ntlmclient::Message::Challenge(c) = msg else {
        return Err(malformed("challenge message", "not a challenge"));
    };
    let target_info = c
        .target_information
        .into_iter()
        .filter(|e| e.entry_type != TargetInfoType::Terminator)
        .collect();
    Ok(Challenge {
        flags: c.flags.bits(),
        server_challenge: c.challenge,
        target_info,
    })
}

/// Serialises AV pairs with a terminating MsvAvEOL.
pub(crate) fn encode_av_pairs(entries: &[TargetInfoEntry]) -> Vec<u8> {
    let mut out: Vec<u8> = entries
        .iter()
        .filter(|e| e.entry_type != TargetInfoType::Terminator)
        .flat_map(TargetInfoEntry::to_bytes)
        .collect();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// Parses AV pairs up to MsvAvEOL (or the end). Any length is allowed; bounds are checked.
pub(crate) fn parse_av_pairs(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, Error> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let id = u16::from_le_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_le_bytes([b[2], b[3]]));
        if id == AV_EOL {
            return Ok(out);
        }
        let value = b
            .get(4..4 + len)
            .ok_or_else(|| malformed("av pairs", "value past the end"))?;
        out.push((id, value));
        b = &b[4 + len..];
    }
    if b.is_empty() {
        Ok(out)
    } else {
        Err(malformed("av pairs", "truncated pair"))
    }
}

/// A CHALLENGE_MESSAGE ([MS-NLMP 2.2.1.2]) written by the acceptor.
pub(crate) fn challenge(
    flags: u32,
    target_name: &str,
    server_challenge: &[u8; 8],
    target_info: &[u8],
) -> Vec<u8> {
    let name = super::crypto::utf16le(target_name);
    let mut m = Vec::with_capacity(56 + name.len() + target_info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    push_fields(&mut m, name.len(), 56);
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(server_challenge);
    m.extend_from_slice(&[0; 8]); // Reserved
    push_fields(&mut m, target_info.len(), 56 + name.len());
    m.extend_from_slice(&VERSION);
    m.extend_from_slice(&name);
    m.extend_from_slice(target_info);
    m
}

fn push_fields(m: &mut Vec<u8>, len: usize, offset: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    m.extend_from_slice(&len.to_le_bytes());
    m.extend_from_slice(&len.to_le_bytes());
    m.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
}

/// The fields of an AUTHENTICATE_MESSAGE ([MS-NLMP 2.2.1.3]). `Debug` prints the names, the
/// flags and the lengths of the responses and the key, never their bytes (the NTLMv2 response
/// can be attacked offline for the password).
#[derive(Clone, Default)]
pub(crate) struct Authenticate {
    pub(crate) lm_response: Vec<u8>,
    pub(crate) nt_response: Vec<u8>,
    pub(crate) domain: String,
    pub(crate) user: String,
    pub(crate) workstation: String,
    pub(crate) encrypted_session_key: Vec<u8>,
    pub(crate) flags: u32,
    /// The 16 bytes at offset 72, when the payload leaves room for them.
    pub(crate) mic: Option<[u8; 16]>,
}

impl std::fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |b: &[u8]| format!("<redacted, {} bytes>", b.len());
        f.debug_struct("Authenticate")
            .field("lm_response", &redacted(&self.lm_response))
            .field("nt_response", &redacted(&self.nt_response))
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("workstation", &self.workstation)
            .field("encrypted_session_key", &redacted(&self.encrypted_session_key))
            .field("flags", &format_args!("{:#010x}", self.flags))
            .field("mic", &self.mic.map(|_| "<redacted>"))
            .finish()
    }
}

impl Authenticate {
    /// Writes the message with a zero MIC at offset 72 and the payload after it.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let domain = super::crypto::utf16le(&self.domain);
        let user = super::crypto::utf16le(&self.user);
        let workstation = super::crypto::utf16le(&self.workstation);
        let fields: [&[u8]; 6] = [
            &self.lm_response,
            &self.nt_response,
            &domain,
            &user,
            &workstation,
            &self.encrypted_session_key,
        ];
        if fields.iter().any(|f| f.len() > usize::from(u16::MAX)) {
            return Err(Error::InvalidState("authenticate message field too long"));
        }
        // Payload order as Windows writes it: domain, user, workstation, LM, NT, key.
        let order = [2usize, 3, 4, 0, 1, 5];
        let mut offsets = [0usize; 6];
        let mut off = AUTH_PAYLOAD_OFFSET;
        for &i in &order {
            offsets[i] = off;
            off += fields[i].len();
        }
        let mut m = Vec::with_capacity(off);
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&3u32.to_le_bytes());
        for i in 0..6 {
            push_fields(&mut m, fields[i].len(), offsets[i]);
        }
        m.extend_from_slice(&self.flags.to_le_bytes());
        m.extend_from_slice(&VERSION);
        m.extend_from_slice(&self.mic.unwrap_or([0; 16]));
        for &i in &order {
            m.extend_from_slice(fields[i]);
        }
        Ok(m)
    }

    /// Parses an AUTHENTICATE_MESSAGE, checking every buffer against the message bounds.
    pub(crate) fn parse(token: &[u8]) -> Result<Authenticate, Error> {
        const WHAT: &str = "authenticate message";
        check_header(token, 3, WHAT)?;
        if token.len() < 64 {
            return Err(malformed(WHAT, "truncated"));
        }
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([token[o], token[o + 1]]));
        let u32_at = |o: usize| u32::from_le_bytes([token[o], token[o + 1], token[o + 2], token[o + 3]]);
        let mut min_offset = token.len();
        let mut field = |i: usize| -> Result<&[u8], Error> {
            let base = 12 + 8 * i;
            let len = u16_at(base);
            let off = usize::try_from(u32_at(base + 4)).map_err(|_| malformed(WHAT, "offset"))?;
            if len == 0 {
                return Ok(&[]);
            }
            let end = off
                .checked_add(len)
                .ok_or_else(|| malformed(WHAT, "offset overflow"))?;
            if off < 64 || end > token.len() {
                return Err(malformed(WHAT, format!("buffer {i} out of bounds")));
            }
            min_offset = min_offset.min(off);
            Ok(&token[off..end])
        };
        let lm = field(0)?.to_vec();
        let nt = field(1)?.to_vec();
        let domain = field(2)?.to_vec();
        let user = field(3)?.to_vec();
        let workstation = field(4)?.to_vec();
        let key = field(5)?.to_vec();
        let flags = u32_at(60);
        let text = |b: &[u8]| -> Result<String, Error> {
            if flags & NEGOTIATE_UNICODE != 0 {
                if b.len() % 2 != 0 {
                    return Err(malformed(WHAT, "odd-length unicode string"));
                }
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).map_err(|_| malformed(WHAT, "invalid utf-16"))
            } else {
                Ok(b.iter().map(|&c| char::from(c)).collect())
            }
        };
        let mic = if min_offset >= AUTH_PAYLOAD_OFFSET && token.len() >= AUTH_PAYLOAD_OFFSET {
            let mut mic = [0; 16];
            mic.copy_from_slice(&token[MIC_OFFSET..AUTH_PAYLOAD_OFFSET]);
            Some(mic)
        } else {
            None
        };
        Ok(Authenticate {
            lm_response: lm,
            nt_response: nt,
            domain: text(&domain)?,
            user: text(&user)?,
            workstation: text(&workstation)?,
            encrypted_session_key: key,
            flags,
            mic,
        })
    }
}
