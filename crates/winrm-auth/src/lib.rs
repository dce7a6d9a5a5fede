//! Sans-IO WinRM authentication: NTLM with session security, Kerberos / SPNEGO through the
//! system GSSAPI, channel bindings and the `multipart/encrypted` framing.
#![cfg_attr(doc, doc = include_str!("../README.md"))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cbt;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod gssapi;
pub mod kerberos;
pub mod negotiate;
pub mod ntlm;
pub mod www_authenticate;

/// What the transport does after one step of a handshake. `Debug` prints the token lengths
/// only: an NTLM AUTHENTICATE carries the NTLMv2 response (open to offline password guessing)
/// and a Kerberos token an authenticator.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this token (in `Authorization: <scheme> <base64>`) and feed the reply's token back.
    Continue(Vec<u8>),
    /// The context is established on our side. A final token to send, if the mechanism has
    /// one (NTLM AUTHENTICATE is sent with `Done`); after the server's reply to it, call
    /// [`ClientAuth::finish`] with the server's last token, if any.
    Done(Option<Vec<u8>>),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |t: &[u8]| format!("<token, {} bytes>", t.len());
        match self {
            Step::Continue(t) => f.debug_tuple("Continue").field(&redacted(t)).finish(),
            Step::Done(t) => f.debug_tuple("Done").field(&t.as_deref().map(redacted)).finish(),
        }
    }
}

/// Per-message security of an established context: wrap (seal) and unwrap (unseal) WinRM bodies.
///
/// Implementations keep their own sequence numbers; wrap and unwrap must be called in the order
/// messages go on the wire.
pub trait SessionSecurity: Send {
    /// The MS-WSMV protocol string for the `multipart/encrypted` body, e.g.
    /// `application/HTTP-SPNEGO-session-encrypted`.
    fn protocol(&self) -> &'static str;

    /// Seals `plaintext`: returns the security header (signature or RFC 4121 token header),
    /// the encrypted data, and the number of padding bytes included in the data (0 for NTLM and
    /// AES Kerberos).
    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error>;

    /// Verifies and unseals one message. A bad signature is an error, never accepted data.
    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error>;

    /// The security header length when this mechanism can seal in place: the sealed data is
    /// exactly as long as the plaintext, the header has this fixed length and there is no
    /// padding (NTLM: `Some(16)`). `None` (the default) means: use [`wrap`](Self::wrap).
    fn in_place_header_len(&self) -> Option<usize> {
        None
    }

    /// Seals `data` in place and writes the security header into `header`, for mechanisms
    /// whose [`in_place_header_len`](Self::in_place_header_len) is `Some(header.len())`.
    ///
    /// The default calls [`wrap`](Self::wrap) and copies; it fails (after `wrap` has consumed
    /// a sequence number) if the output does not have that shape, so check
    /// `in_place_header_len` first.
    fn wrap_in_place(&mut self, header: &mut [u8], data: &mut [u8]) -> Result<(), Error> {
        let wrapped = self.wrap(data)?;
        if wrapped.header.len() != header.len() || wrapped.data.len() != data.len() || wrapped.padding != 0 {
            return Err(Error::InvalidState("this mechanism cannot seal in place"));
        }
        header.copy_from_slice(&wrapped.header);
        data.copy_from_slice(&wrapped.data);
        Ok(())
    }

    /// Verifies and unseals one message like [`unwrap`](Self::unwrap), appending the plaintext
    /// to `out`. On an error `out` is left as it was. The default calls `unwrap`.
    fn unwrap_into(&mut self, header: &[u8], data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let plaintext = self.unwrap(header, data)?;
        out.extend_from_slice(&plaintext);
        Ok(())
    }
}

/// The output of [`SessionSecurity::wrap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// Security header: the 16-byte NTLM signature or the Kerberos token header.
    pub header: Vec<u8>,
    /// Encrypted payload (including padding for RC4 Kerberos).
    pub data: Vec<u8>,
    /// Padding bytes counted into `OriginalContent` Length.
    pub padding: usize,
}

/// A client (initiator) authentication context, driven by the transport.
pub trait ClientAuth: Send {
    /// The HTTP authentication scheme: `Negotiate`, `Kerberos` or `NTLM`.
    fn scheme(&self) -> &'static str;

    /// One handshake step: `server_token` is `None` for the first call, then the token from the
    /// server's `WWW-Authenticate` header.
    fn step(&mut self, server_token: Option<&[u8]>) -> Result<Step, Error>;

    /// Completes the handshake with the server's last token (mutual authentication), if any.
    fn finish(&mut self, server_token: Option<&[u8]>) -> Result<(), Error>;

    /// The per-message security, once the handshake is complete.
    fn session(&mut self) -> Option<&mut dyn SessionSecurity>;

    /// Takes the per-message security out, once the handshake is complete.
    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>>;

    /// Why this context is NTLM although Kerberos was asked for: set on the context that
    /// [`negotiate::negotiate_client`] returns when Kerberos could not be used and it fell back
    /// to NTLM, `None` on every other context. NTLM does not authenticate the server (there is
    /// no mutual authentication), so the transport should make the fallback visible; this
    /// crate does no logging itself.
    fn kerberos_fallback(&self) -> Option<&Error> {
        None
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token or message from the peer could not be decoded.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The peer's signature or MIC did not verify.
    #[error("signature verification failed: {0}")]
    BadSignature(&'static str),
    /// The credentials were rejected (acceptor side), or a response did not verify.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// An operation was called in the wrong state.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The system GSSAPI library is missing or failed.
    #[error("gssapi: {0}")]
    Gssapi(String),
    /// [RFC 5929 §4.1] defines no `tls-server-end-point` binding for the server certificate's
    /// signature algorithm (no single hash, as Ed25519 and Ed448; or one we cannot identify).
    #[error("channel binding is undefined for this certificate's signature algorithm ({0})")]
    ChannelBindingUndefined(String),
    /// The `multipart/encrypted` body is malformed.
    #[error("encrypted body: {0}")]
    Framing(String),
}
