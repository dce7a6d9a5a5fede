//! Fuzz oracles: each takes arbitrary bytes and must never panic. Used by `fuzz/` targets and
//! the proptests below.

use crate::{Error, SessionSecurity, Wrapped};

/// CHALLENGE_MESSAGE decoding (and, when it decodes, a full client response to it).
pub fn ntlm_challenge(data: &[u8]) {
    if let Ok(c) = crate::ntlm::messages::parse_challenge(data) {
        let _ = c.timestamp();
    }
    let mut client = crate::ntlm::NtlmClient::new(
        crate::ntlm::Credentials::new("D", "u", "p"),
        crate::ntlm::ClientConfig::default(),
        Box::new(|b: &mut [u8]| b.fill(7)),
        0,
    );
    let _ = crate::ClientAuth::step(&mut client, None);
    let _ = crate::ClientAuth::step(&mut client, Some(data));
}

/// AUTHENTICATE/NEGOTIATE handling by the acceptor.
pub fn ntlm_acceptor(data: &[u8]) {
    let mut users = crate::ntlm::UserTable::new();
    users.add("D", "u", "p");
    let mut acc = crate::ntlm::NtlmAcceptor::new(
        std::sync::Arc::new(users),
        crate::ntlm::AcceptorConfig::default(),
        Box::new(|b: &mut [u8]| b.fill(3)),
        0,
    );
    let _ = acc.step(data);
    let negotiate = crate::ntlm::messages::negotiate(crate::ntlm::messages::CLIENT_FLAGS);
    let mut acc2 = crate::ntlm::NtlmAcceptor::new(
        std::sync::Arc::new(crate::ntlm::UserTable::new()),
        crate::ntlm::AcceptorConfig::default(),
        Box::new(|b: &mut [u8]| b.fill(3)),
        0,
    );
    let _ = acc2.step(&negotiate);
    let _ = acc2.step(data);
}

struct Identity;

impl SessionSecurity for Identity {
    fn protocol(&self) -> &'static str {
        "application/HTTP-SPNEGO-session-encrypted"
    }
    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
        Ok(Wrapped {
            header: Vec::new(),
            data: plaintext.to_vec(),
            padding: 0,
        })
    }
    fn unwrap(&mut self, _header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(data.to_vec())
    }
}

/// `multipart/encrypted` decoding with an identity "cipher", and with an NTLM session (the
/// in-place unsealing path). A body that is refused leaves `decode_into`'s output as it was.
pub fn framing_decode(data: &[u8]) {
    let ct = crate::framing::content_type("application/HTTP-SPNEGO-session-encrypted");
    let _ = crate::framing::decode(&mut Identity, &ct, data);
    let mut out = b"kept".to_vec();
    if crate::framing::decode_into(&mut Identity, &ct, data, &mut out).is_err() {
        assert_eq!(out, b"kept", "a refused body changed the output");
    }
    let mut ntlm = crate::ntlm::NtlmSession::new(&[0x55; 16], crate::ntlm::messages::CLIENT_FLAGS, false);
    out.truncate(4);
    if crate::framing::decode_into(&mut ntlm, &ct, data, &mut out).is_err() {
        assert_eq!(out, b"kept", "a refused body changed the output");
    }
}

/// `WWW-Authenticate` parsing.
pub fn www_authenticate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::www_authenticate::parse(&[&text]);
}

/// Certificate signature-algorithm reading.
pub fn certificate(data: &[u8]) {
    let _ = crate::cbt::ChannelBindings::tls_server_end_point(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn challenge_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..200), prefix in any::<bool>()) {
            if prefix && data.len() >= 12 {
                data[..8].copy_from_slice(b"NTLMSSP\0");
                data[8..12].copy_from_slice(&2u32.to_le_bytes());
            }
            super::ntlm_challenge(&data);
        }

        #[test]
        fn acceptor_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..200), kind in 1u32..4) {
            if data.len() >= 12 {
                data[..8].copy_from_slice(b"NTLMSSP\0");
                data[8..12].copy_from_slice(&kind.to_le_bytes());
            }
            super::ntlm_acceptor(&data);
        }

        #[test]
        fn framing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), pieces in proptest::collection::vec(0usize..6, 0..8)) {
            super::framing_decode(&data);
            // Bodies assembled from the grammar's own pieces reach deeper paths.
            let words: [&[u8]; 6] = [b"--Encrypted Boundary\r\n", b"\tContent-Type: application/octet-stream\r\n",
                b"\tOriginalContent: type=x;Length=3\r\n", b"-- Encrypted Boundary--\r\n", b"\x03\x00\x00\x00", b"abc"];
            let mut body = Vec::new();
            for p in pieces { body.extend_from_slice(words[p]); body.extend_from_slice(&data[..data.len().min(3)]); }
            super::framing_decode(&body);
        }

        #[test]
        fn www_authenticate_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::www_authenticate(&data);
        }

        #[test]
        fn certificate_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::certificate(&data);
        }
    }
}
