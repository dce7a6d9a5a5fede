//! The server side of a WinRM connection's security, without the HTTP around it: the
//! handshake over `Authorization` / `WWW-Authenticate` tokens (the context is bound to the TCP
//! connection, one [`AuthConnection`] per connection) and the sealing of SOAP bodies with the
//! established context ([MS-WSMV 2.2.9.1]).
//!
//! The simulator's endpoint uses it with [`NtlmAcceptor`]; test servers that script their own
//! replies use it with NTLM or with an [`Acceptor`] of their own (a Kerberos context).

use std::sync::Arc;
use std::time::SystemTime;

use winrm_auth::cbt::ChannelBindings;
use winrm_auth::ntlm::{AcceptorConfig, NtlmAcceptor, UserTable};
use winrm_auth::{framing, SessionSecurity, Step};

/// The acceptor side of a handshake mechanism.
pub trait Acceptor: Send {
    /// Takes the client's token: a token to send back and wait for the next one, or the
    /// context is established (with a final token for the client, if the mechanism has one).
    fn step(&mut self, token: &[u8]) -> Result<Step, String>;

    /// The established context's per-message security (`None` before it is established).
    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>>;
}

impl Acceptor for NtlmAcceptor {
    fn step(&mut self, token: &[u8]) -> Result<Step, String> {
        NtlmAcceptor::step(self, token).map_err(|e| e.to_string())
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        NtlmAcceptor::into_session(*self)
    }
}

/// An NTLM acceptor for the computer `machine` in `dns_domain` (NetBIOS domain: the first
/// label of `dns_domain`, upper case), checking the users of `users` and, when given, the
/// channel bindings.
pub fn ntlm_acceptor(
    users: Arc<UserTable>,
    machine: &str,
    dns_domain: &str,
    channel_bindings: Option<ChannelBindings>,
) -> NtlmAcceptor {
    let config = AcceptorConfig {
        netbios_domain: dns_domain.split('.').next().unwrap_or("HV").to_ascii_uppercase(),
        netbios_computer: machine.to_owned(),
        dns_domain: dns_domain.to_owned(),
        dns_computer: format!("{}.{dns_domain}", machine.to_ascii_lowercase()),
        expected_channel_bindings: channel_bindings,
    };
    let rng = Box::new(|b: &mut [u8]| rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, b));
    NtlmAcceptor::new(users, config, rng, crate::clock::filetime(SystemTime::now()))
}

/// What one handshake leg gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    /// Send this token back (in a 401 under [`AuthConnection::scheme`]).
    Continue(Vec<u8>),
    /// The context is established; the mechanism's final token, if it has one.
    Done(Option<Vec<u8>>),
    /// The token was refused: the handshake is over, answer a bare 401.
    Refused,
}

/// A failure to seal or unseal a body.
#[derive(Debug)]
pub enum SealError {
    /// No established context on this connection.
    NoContext,
    /// The framing or the signature is wrong.
    Framing(winrm_auth::Error),
}

/// The security state of one connection: the handshake in progress, then the established
/// context.
#[derive(Default)]
pub struct AuthConnection {
    acceptor: Option<Box<dyn Acceptor>>,
    scheme: &'static str,
    session: Option<Box<dyn SessionSecurity>>,
}

impl AuthConnection {
    /// One handshake leg with the client's `token`. An NTLM NEGOTIATE message, or any token
    /// when no handshake is in progress, starts a new context from `new_acceptor` under
    /// `scheme` (the name the challenges go out under); a refused token ends the context.
    pub fn step(
        &mut self,
        scheme: &'static str,
        token: &[u8],
        new_acceptor: impl FnOnce() -> Box<dyn Acceptor>,
    ) -> Leg {
        let is_negotiate = token.len() >= 12 && token.starts_with(b"NTLMSSP\0") && token[8] == 1;
        if is_negotiate || self.acceptor.is_none() {
            self.acceptor = Some(new_acceptor());
            self.session = None;
            self.scheme = scheme;
        }
        let step = match self.acceptor.as_mut() {
            Some(acc) => acc.step(token),
            None => return Leg::Refused,
        };
        match step {
            Ok(Step::Continue(challenge)) => Leg::Continue(challenge),
            Ok(Step::Done(last)) => {
                self.session = self.acceptor.take().and_then(Acceptor::into_session);
                if self.session.is_none() {
                    return Leg::Refused;
                }
                Leg::Done(last)
            }
            Err(_) => {
                self.reset();
                Leg::Refused
            }
        }
    }

    /// The scheme of the current (or last) handshake.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// True once a handshake has established a context.
    pub fn is_established(&self) -> bool {
        self.session.is_some()
    }

    /// Forgets the handshake and the context (the client must authenticate again).
    pub fn reset(&mut self) {
        self.acceptor = None;
        self.session = None;
    }

    /// Forgets the established context (its sequence numbers are out of step).
    pub fn end_session(&mut self) {
        self.session = None;
    }

    /// The plaintext of a sealed body (`content_type` its `multipart/encrypted` type).
    pub fn unseal(&mut self, content_type: &str, body: &[u8]) -> Result<Vec<u8>, SealError> {
        let sec = self.session.as_deref_mut().ok_or(SealError::NoContext)?;
        framing::decode(sec, content_type, body).map_err(SealError::Framing)
    }

    /// Seals a reply body: its content type and the framed bytes.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<(String, Vec<u8>), SealError> {
        let sec = self.session.as_deref_mut().ok_or(SealError::NoContext)?;
        framing::encode(sec, plaintext).map_err(SealError::Framing)
    }
}
