//! NTLM session security with extended session security ([MS-NLMP 3.4]): RC4 sealing and
//! HMAC-MD5 signatures with per-direction keys and sequence numbers.

use super::arc4::Rc4;
use super::crypto;
use super::md5_hmac::HmacMd5;
use super::messages::{NEGOTIATE_KEY_EXCH, NEGOTIATE_SEAL};
use crate::{Error, SessionSecurity, Wrapped};
use subtle::ConstantTimeEq;

/// The protocol string of NTLM (and SPNEGO) WinRM message encryption ([MS-WSMV 2.2.9.1]).
pub const SPNEGO_PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";

/// The length of an NTLMSSP_MESSAGE_SIGNATURE ([MS-NLMP 2.2.2.9.2]).
pub const SIGNATURE_LEN: usize = 16;

/// One direction's keys: the HMAC-MD5 keyed once with SIGNKEY (its pad blocks pre-hashed),
/// the RC4 handle keyed with SEALKEY, and the next sequence number.
struct Direction {
    sign: HmacMd5,
    cipher: Rc4,
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
            sign: HmacMd5::new(crypto::sign_key(exported_session_key, client_to_server).as_slice()),
            cipher: Rc4::new(crypto::seal_key(exported_session_key, flags, client_to_server).as_slice()),
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

    /// The first 8 bytes of HMAC_MD5(SigningKey, SeqNum || Message), RC4-encrypted with the
    /// sealing handle when keys were exchanged ([MS-NLMP 3.4.4.2]).
    fn encrypt_checksum(dir: &mut Direction, key_exch: bool, mac: &[u8; 16]) -> [u8; 8] {
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&mac[..8]);
        if key_exch {
            dir.cipher.apply(&mut checksum);
        }
        checksum
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::InvalidState("ntlm session failed a signature check"));
        }
        if !self.seal {
            return Err(Error::InvalidState("ntlm sealing was not negotiated"));
        }
        Ok(())
    }

    /// GSS_WrapEx ([MS-NLMP 3.4.6]) in place: `data` holds the plaintext and receives the
    /// sealed bytes (RC4 runs over the message first, then over the checksum); returns the
    /// NTLMSSP_MESSAGE_SIGNATURE over the plaintext.
    fn seal_in_place(&mut self, data: &mut [u8]) -> Result<[u8; SIGNATURE_LEN], Error> {
        self.check_usable()?;
        let seq = self.out.seq;
        // The MAC covers the plaintext, so each block is hashed before it is sealed; the
        // keystream order (message, then checksum) is that of [MS-NLMP 3.4.6].
        // One interleaved pass: MD5 of each plaintext block and RC4 over it.
        let mut inner = self.out.sign.start();
        inner.update(&seq.to_le_bytes());
        inner.update_sealing(&mut self.out.cipher, data);
        let mac = self.out.sign.finish(inner);
        let checksum = Self::encrypt_checksum(&mut self.out, self.key_exch, &mac);
        self.out.seq = seq.wrapping_add(1);
        let mut header = [0u8; SIGNATURE_LEN];
        header[..4].copy_from_slice(&1u32.to_le_bytes());
        header[4..12].copy_from_slice(&checksum);
        header[12..].copy_from_slice(&seq.to_le_bytes());
        Ok(header)
    }

    /// GSS_UnwrapEx ([MS-NLMP 3.4.7]) in place: unseals `data`, then verifies the signature
    /// and sequence number. On an error `data` holds bytes that did not verify: the caller
    /// must discard them.
    fn unseal_in_place(&mut self, header: &[u8], data: &mut [u8]) -> Result<(), Error> {
        self.check_usable()?;
        if header.len() != SIGNATURE_LEN || header[..4] != 1u32.to_le_bytes() {
            self.broken = true;
            return Err(Error::BadSignature("malformed ntlm message signature"));
        }
        let seq = self.inbound.seq;
        // One interleaved pass: RC4 over each block, MD5 of the plaintext.
        let mut inner = self.inbound.sign.start();
        inner.update(&seq.to_le_bytes());
        inner.update_unsealing(&mut self.inbound.cipher, data);
        let mac = self.inbound.sign.finish(inner);
        let expected = Self::encrypt_checksum(&mut self.inbound, self.key_exch, &mac);
        let seq_ok = header[12..16] == seq.to_le_bytes();
        if !bool::from(expected.ct_eq(&header[4..12])) || !seq_ok {
            self.broken = true;
            return Err(Error::BadSignature("ntlm message signature does not verify"));
        }
        self.inbound.seq = seq.wrapping_add(1);
        Ok(())
    }
}

impl SessionSecurity for NtlmSession {
    fn protocol(&self) -> &'static str {
        SPNEGO_PROTOCOL
    }

    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
        self.check_usable()?;
        let mut data = plaintext.to_vec();
        let header = self.seal_in_place(&mut data)?;
        Ok(Wrapped {
            header: header.to_vec(),
            data,
            padding: 0,
        })
    }

    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut plaintext = data.to_vec();
        self.unseal_in_place(header, &mut plaintext)?;
        Ok(plaintext)
    }

    fn in_place_header_len(&self) -> Option<usize> {
        Some(SIGNATURE_LEN)
    }

    fn wrap_in_place(&mut self, header: &mut [u8], data: &mut [u8]) -> Result<(), Error> {
        if header.len() != SIGNATURE_LEN {
            return Err(Error::InvalidState("ntlm signature buffer is not 16 bytes"));
        }
        header.copy_from_slice(&self.seal_in_place(data)?);
        Ok(())
    }

    fn unwrap_into(&mut self, header: &[u8], data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(data);
        match self.unseal_in_place(header, &mut out[start..]) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Never hand out bytes that did not verify.
                out.truncate(start);
                Err(e)
            }
        }
    }
}
