//! NTLM session security with extended session security ([MS-NLMP 3.4]): RC4 sealing and
//! HMAC-MD5 signatures with per-direction keys and sequence numbers.

use rc4::consts::U16;
use rc4::{Rc4, StreamCipher};

use super::crypto::{self, Key16};
use super::messages::{NEGOTIATE_KEY_EXCH, NEGOTIATE_SEAL};
use crate::{Error, SessionSecurity, Wrapped};

/// The protocol string of NTLM (and SPNEGO) WinRM message encryption ([MS-WSMV 2.2.9.1]).
pub const SPNEGO_PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";

/// The length of an NTLMSSP_MESSAGE_SIGNATURE ([MS-NLMP 2.2.2.9.2]).
pub const SIGNATURE_LEN: usize = 16;

struct Direction {
    sign_key: Key16,
    cipher: Rc4<U16>,
    seq: u32,
}

/// An established NTLM context's per-message security (one side: client or server).
///
/// Messages must be wrapped and unwrapped in wire order: the RC4 state and the sequence numbers
/// run on. After a signature fails to verify the context is unusable (its RC4 state has moved
/// on) and every later call fails.
pub struct NtlmSession {
    out: Direction,
    inbound: Direction,
    key_exch: bool,
    seal: bool,
    broken: bool,
}

impl std::fmt::Debug for NtlmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmSession")
            .field("send_seq", &self.out.seq)
            .field("recv_seq", &self.inbound.seq)
            .field("key_exch", &self.key_exch)
            .field("seal", &self.seal)
            .finish_non_exhaustive()
    }
}

impl NtlmSession {
    /// Derives the four keys ([MS-NLMP 3.4.5.2], [MS-NLMP 3.4.5.3]) from the exported session
    /// key and the negotiated flags; `client` selects which direction is outbound.
    pub(crate) fn new(exported_session_key: &[u8; 16], flags: u32, client: bool) -> Self {
        let dir = |client_to_server: bool| Direction {
            sign_key: crypto::sign_key(exported_session_key, client_to_server),
            cipher: crypto::rc4_handle(&crypto::seal_key(exported_session_key, flags, client_to_server)),
            seq: 0,
        };
        NtlmSession {
            out: dir(client),
            inbound: dir(!client),
            key_exch: flags & NEGOTIATE_KEY_EXCH != 0,
            seal: flags & NEGOTIATE_SEAL != 0,
            broken: false,
        }
    }

    /// The next (send, receive) sequence numbers.
    pub fn sequence_numbers(&self) -> (u32, u32) {
        (self.out.seq, self.inbound.seq)
    }

    fn checksum(dir: &mut Direction, key_exch: bool, seq: u32, plaintext: &[u8]) -> [u8; 8] {
        let mac = crypto::hmac_md5(dir.sign_key.as_slice(), &[&seq.to_le_bytes(), plaintext]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&mac[..8]);
        if key_exch {
            dir.cipher.apply_keystream(&mut checksum);
        }
        checksum
    }

    /// GSS_WrapEx ([MS-NLMP 3.4.6]): seals with RC4 first, then signs the plaintext.
    fn seal_message(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
        if self.broken {
            return Err(Error::InvalidState("ntlm session failed a signature check"));
        }
        if !self.seal {
            return Err(Error::InvalidState("ntlm sealing was not negotiated"));
        }
        let mut data = plaintext.to_vec();
        self.out.cipher.apply_keystream(&mut data);
        let seq = self.out.seq;
        let checksum = Self::checksum(&mut self.out, self.key_exch, seq, plaintext);
        self.out.seq = seq.wrapping_add(1);
        let mut header = Vec::with_capacity(SIGNATURE_LEN);
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&checksum);
        header.extend_from_slice(&seq.to_le_bytes());
        Ok(Wrapped {
            header,
            data,
            padding: 0,
        })
    }

    /// GSS_UnwrapEx ([MS-NLMP 3.4.7]): unseals, then verifies the signature and sequence number.
    fn unseal_message(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        if self.broken {
            return Err(Error::InvalidState("ntlm session failed a signature check"));
        }
        if !self.seal {
            return Err(Error::InvalidState("ntlm sealing was not negotiated"));
        }
        if header.len() != SIGNATURE_LEN || header[..4] != 1u32.to_le_bytes() {
            self.broken = true;
            return Err(Error::BadSignature("malformed ntlm message signature"));
        }
        let mut plaintext = data.to_vec();
        self.inbound.cipher.apply_keystream(&mut plaintext);
        let seq = self.inbound.seq;
        let expected = Self::checksum(&mut self.inbound, self.key_exch, seq, &plaintext);
        let seq_ok = header[12..16] == seq.to_le_bytes();
        if !crypto::ct_eq(&expected, &header[4..12]) || !seq_ok {
            self.broken = true;
            return Err(Error::BadSignature("ntlm message signature does not verify"));
        }
        self.inbound.seq = seq.wrapping_add(1);
        Ok(plaintext)
    }
}

impl SessionSecurity for NtlmSession {
    fn protocol(&self) -> &'static str {
        SPNEGO_PROTOCOL
    }

    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
        self.seal_message(plaintext)
    }

    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        self.unseal_message(header, data)
    }
}
