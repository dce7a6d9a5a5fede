//! NTLM cryptographic primitives ([MS-NLMP 3.3.2], [MS-NLMP 3.4.5]).
//!
//! MD5, HMAC-MD5 and RC4 have one implementation in this crate, [`super::md5_hmac`] and
//! [`super::arc4`] (faster than the `md-5`, `hmac` and `rc4` crates for sealing: see the
//! `primitives` benchmark and BENCHMARKS.md); MD4 is the `md4` crate.

use md4::digest::generic_array::GenericArray;
use md4::{Digest, Md4};
use zeroize::Zeroizing;

use super::arc4::Rc4;
pub(crate) use super::md5_hmac::md5;

/// A 16-byte key that is wiped when dropped.
pub(crate) type Key16 = Zeroizing<[u8; 16]>;

/// HMAC-MD5 over the concatenation of `parts`.
pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    super::md5_hmac::HmacMd5::new(key).mac(parts)
}

/// UTF-16LE bytes of a string.
pub(crate) fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// NTOWFv1: MD4 of the UTF-16LE password ([MS-NLMP 3.3.1]); the NT hash.
///
/// The UTF-16 password is written into a buffer allocated once at its final size (so no
/// reallocation leaves a copy behind) and wiped on drop, and the hash goes straight into the
/// wiped-on-drop result. (The MD4 state itself is not wiped: `md4` 0.10 has no zeroize
/// support.)
pub(crate) fn nt_hash(password: &str) -> Key16 {
    let mut pw = Zeroizing::new(Vec::with_capacity(2 * password.encode_utf16().count()));
    pw.extend(password.encode_utf16().flat_map(u16::to_le_bytes));
    let mut out = Zeroizing::new([0u8; 16]);
    let mut md4 = Md4::new();
    Digest::update(&mut md4, pw.as_slice());
    md4.finalize_into(GenericArray::from_mut_slice(out.as_mut_slice()));
    out
}

/// NTOWFv2 from an NT hash: HMAC-MD5(NT hash, UPPER(user) || domain), both UTF-16LE
/// ([MS-NLMP 3.3.2]).
pub(crate) fn ntowfv2_from_hash(nt_hash: &[u8; 16], user: &str, domain: &str) -> Key16 {
    Zeroizing::new(hmac_md5(
        nt_hash,
        &[&utf16le(&user.to_uppercase()), &utf16le(domain)],
    ))
}

/// NTOWFv2 from the password: the NT hash (wiped on drop, as is the UTF-16 password it is
/// computed from, see [`nt_hash`]), then [`ntowfv2_from_hash`]. `ntlmclient`'s
/// `ntlm_v2_password_func` computes the same value but leaves both in freed memory.
pub(crate) fn ntowfv2(password: &str, user: &str, domain: &str) -> Key16 {
    ntowfv2_from_hash(&nt_hash(password), user, domain)
}

/// The NTLMv2 `temp` blob ([MS-NLMP 3.3.2], NTLMv2_CLIENT_CHALLENGE 2.2.2.7).
pub(crate) fn ntlmv2_temp(time: u64, client_challenge: &[u8; 8], target_info: &[u8]) -> Vec<u8> {
    let mut temp = Vec::with_capacity(32 + target_info.len());
    temp.extend_from_slice(&[0x01, 0x01, 0, 0, 0, 0, 0, 0]); // RespType, HiRespType, reserved
    temp.extend_from_slice(&time.to_le_bytes());
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    temp
}

/// The NTLMv2 responses and session base key ([MS-NLMP 3.3.2]).
pub(crate) struct V2Response {
    /// NtChallengeResponse = NTProofStr || temp.
    pub(crate) nt_response: Vec<u8>,
    /// LmChallengeResponse: LMv2, or Z(24) when the server sent MsvAvTimestamp.
    pub(crate) lm_response: Vec<u8>,
    /// SessionBaseKey = HMAC-MD5(ResponseKeyNT, NTProofStr) (= KeyExchangeKey for NTLMv2).
    pub(crate) session_base_key: Key16,
}

/// Computes the NTLMv2 response with an injected client challenge and time (sans-IO).
pub(crate) fn ntlmv2_response(
    response_key_nt: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    target_info: &[u8],
    zero_lm: bool,
) -> V2Response {
    let temp = ntlmv2_temp(time, client_challenge, target_info);
    let nt_proof = hmac_md5(response_key_nt, &[server_challenge, &temp]);
    let mut nt_response = nt_proof.to_vec();
    nt_response.extend_from_slice(&temp);
    let lm_response = if zero_lm {
        vec![0; 24]
    } else {
        let mut lm = hmac_md5(response_key_nt, &[server_challenge, client_challenge]).to_vec();
        lm.extend_from_slice(client_challenge);
        lm
    };
    let session_base_key = Zeroizing::new(hmac_md5(response_key_nt, &[&nt_proof]));
    V2Response {
        nt_response,
        lm_response,
        session_base_key,
    }
}

/// RC4 of `data` with a fresh key (used for the key exchange).
pub(crate) fn rc4_oneshot(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    Rc4::new(key).apply(&mut out);
    out
}

/// RC4 of a 16-byte key with a fresh key, into a wiped-on-drop buffer (the acceptor's
/// decryption of the exported session key, [MS-NLMP 3.2.5.1.2]).
pub(crate) fn rc4_key(key: &[u8; 16], encrypted: &[u8; 16]) -> Key16 {
    let mut out = Zeroizing::new(*encrypted);
    Rc4::new(key).apply(out.as_mut_slice());
    out
}

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// SIGNKEY with extended session security ([MS-NLMP 3.4.5.2]).
pub(crate) fn sign_key(exported_session_key: &[u8; 16], client_to_server: bool) -> Key16 {
    let magic = if client_to_server {
        CLIENT_SIGN_MAGIC
    } else {
        SERVER_SIGN_MAGIC
    };
    Zeroizing::new(md5(&[exported_session_key, magic]))
}

/// SEALKEY with extended session security ([MS-NLMP 3.4.5.3]): the exported session key cut to
/// 16, 7 or 5 bytes by NEGOTIATE_128 / NEGOTIATE_56, then MD5 with the direction's magic.
pub(crate) fn seal_key(exported_session_key: &[u8; 16], flags: u32, client_to_server: bool) -> Key16 {
    let len = if flags & super::messages::NEGOTIATE_128 != 0 {
        16
    } else if flags & super::messages::NEGOTIATE_56 != 0 {
        7
    } else {
        5
    };
    let magic = if client_to_server {
        CLIENT_SEAL_MAGIC
    } else {
        SERVER_SEAL_MAGIC
    };
    Zeroizing::new(md5(&[&exported_session_key[..len], magic]))
}
