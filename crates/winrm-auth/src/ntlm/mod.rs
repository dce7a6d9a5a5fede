//! NTLM ([MS-NLMP]) initiator and acceptor with NTLMv2, MIC, channel bindings, key exchange
//! and session security (signing and sealing), built on the `ntlmclient` 0.2 codecs.
//!
//! Sans-IO: random bytes and the time come from the caller. The client draws, in this order,
//! the 8-byte client challenge and then (with key exchange) the 16-byte exported session key.

mod acceptor;
mod arc4;
mod crypto;
mod md5_hmac;
pub(crate) use self::md5_hmac::md5;
pub(crate) mod messages;
mod session;

use ntlmclient::{TargetInfoEntry, TargetInfoType};
use zeroize::Zeroizing;

pub use self::acceptor::{AcceptorConfig, NtlmAcceptor, UserTable};
use self::messages::*;
pub use self::session::{NtlmSession, SIGNATURE_LEN, SPNEGO_PROTOCOL};
use crate::cbt::ChannelBindings;
use crate::{ClientAuth, Error, SessionSecurity, Step};

/// Random-byte source injected by the caller (an OS RNG in production).
pub type Rng = Box<dyn FnMut(&mut [u8]) + Send>;

/// A wall-clock time as a Windows FILETIME, 100 ns ticks since 1601-01-01 UTC ([MS-DTYP 2.3.3]),
/// the form of the NTLMv2 client time and MsvAvTimestamp ([MS-NLMP 2.2.2.1]): the
/// `now_filetime` of [`NtlmClient::new`] and [`NtlmAcceptor::new`]. Times before 1970 give the
/// 1970 value. The caller reads the clock (this crate reads none).
pub fn filetime(t: std::time::SystemTime) -> u64 {
    /// 1601-01-01 to 1970-01-01 in 100 ns ticks.
    const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(std::time::Duration::ZERO);
    UNIX_EPOCH_TICKS + d.as_secs() * 10_000_000 + u64::from(d.subsec_nanos() / 100)
}

/// NTLM credentials. `Debug` prints the names only.
#[derive(Clone)]
pub struct Credentials {
    domain: String,
    user: String,
    password: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Credentials from separate parts.
    pub fn new(domain: &str, user: &str, password: &str) -> Self {
        Credentials {
            domain: domain.to_owned(),
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        }
    }

    /// `"DOMAIN\\user"`, `"user@domain.tld"` (UPN: empty domain, user as given) or `"user"`.
    pub fn parse(user: &str, password: &str) -> Self {
        match user.split_once('\\') {
            Some((domain, user)) => Credentials::new(domain, user, password),
            None => Credentials::new("", user, password),
        }
    }

    /// The domain (empty for UPN and bare user names).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The workstation name sent in AUTHENTICATE.
    pub workstation: String,
    /// The target SPN (`HTTP/host`), sent as MsvAvTargetName.
    pub target_spn: Option<String>,
    /// TLS channel bindings (HTTPS), sent as MsvAvChannelBindings; 16 zero bytes when `None`.
    pub channel_bindings: Option<ChannelBindings>,
    /// The session will seal messages (WinRM message encryption, [MS-WSMV 2.2.9.1]): a
    /// CHALLENGE that does not grant NTLMSSP_NEGOTIATE_SIGN and NTLMSSP_NEGOTIATE_SEAL is
    /// refused. `false` where the messages are not sealed (HTTPS without message encryption:
    /// TLS protects them); NTLMSSP_NEGOTIATE_128 and NTLMSSP_NEGOTIATE_KEY_EXCH are required
    /// either way. `true` by default.
    pub require_seal: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            workstation: String::new(),
            target_spn: None,
            channel_bindings: None,
            require_seal: true,
        }
    }
}

enum ClientState {
    Initial,
    NegotiateSent { negotiate: Vec<u8> },
    Done,
    Failed,
}

/// NTLM initiator: implements [`ClientAuth`] with raw NTLMSSP tokens, scheme `Negotiate` by
/// default (Windows accepts raw NTLMSSP there) or `NTLM` via [`NtlmClient::with_scheme`].
pub struct NtlmClient {
    creds: Credentials,
    config: ClientConfig,
    rng: Rng,
    now_filetime: u64,
    scheme: &'static str,
    state: ClientState,
    session: Option<NtlmSession>,
    /// Why Kerberos could not be used, when Negotiate fell back to this client
    /// ([`ClientAuth::kerberos_fallback`]).
    pub(crate) kerberos_fallback: Option<Error>,
}

impl std::fmt::Debug for NtlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmClient")
            .field("creds", &self.creds)
            .field("scheme", &self.scheme)
            .field("established", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

impl NtlmClient {
    /// A client for `creds`; `rng` fills buffers with random bytes, `now_filetime` is the
    /// current time as a FILETIME (100 ns since 1601), used when the server sends no timestamp.
    pub fn new(creds: Credentials, config: ClientConfig, rng: Rng, now_filetime: u64) -> Self {
        NtlmClient {
            creds,
            config,
            rng,
            now_filetime,
            scheme: "Negotiate",
            state: ClientState::Initial,
            session: None,
            kerberos_fallback: None,
        }
    }

    /// Uses another HTTP scheme name (`"NTLM"`).
    #[must_use]
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.scheme = scheme;
        self
    }

    /// The established session, with its concrete type.
    pub fn ntlm_session(&mut self) -> Option<&mut NtlmSession> {
        self.session.as_mut()
    }

    fn authenticate(&mut self, negotiate: &[u8], token: &[u8]) -> Result<Vec<u8>, Error> {
        let challenge = parse_challenge(token)?;
        if challenge.flags & NEGOTIATE_UNICODE == 0 {
            return Err(Error::AuthenticationFailed(
                "server does not negotiate unicode".into(),
            ));
        }
        if challenge.flags & NEGOTIATE_ESS == 0 {
            return Err(Error::AuthenticationFailed(
                "server does not negotiate extended session security".into(),
            ));
        }
        check_session_security(challenge.flags, self.config.require_seal)?;
        let flags = (challenge.flags & CLIENT_FLAGS) | NEGOTIATE_UNICODE | NEGOTIATE_ESS | NEGOTIATE_NTLM;
        let timestamp = challenge.timestamp();
        let time = timestamp.unwrap_or(self.now_filetime);

        let mut client_challenge = [0u8; 8];
        (self.rng)(&mut client_challenge);

        let target_info = client_target_info(&challenge.target_info, &self.config)?;
        let key = crypto::ntowfv2(&self.creds.password, &self.creds.user, &self.creds.domain);
        let resp = crypto::ntlmv2_response(
            &key,
            &challenge.server_challenge,
            &client_challenge,
            time,
            &encode_av_pairs(&target_info),
            timestamp.is_some(),
        );
        // KeyExchangeKey = SessionBaseKey for NTLMv2 ([MS-NLMP 3.4.5.1]); key exchange is
        // always negotiated (`check_session_security`), so the exported session key is a
        // fresh random one and the SessionBaseKey never leaves this function.
        let mut exported = Zeroizing::new([0u8; 16]);
        (self.rng)(exported.as_mut_slice());
        let encrypted_key = crypto::rc4_oneshot(&resp.session_base_key, exported.as_slice());
        let auth = Authenticate {
            lm_response: resp.lm_response,
            nt_response: resp.nt_response,
            domain: self.creds.domain.clone(),
            user: self.creds.user.clone(),
            workstation: self.config.workstation.clone(),
            encrypted_session_key: encrypted_key,
            flags,
            mic: None,
        };
        let mut bytes = auth.to_bytes()?;
        let mic = crypto::hmac_md5(exported.as_slice(), &[negotiate, token, &bytes]);
        bytes[MIC_OFFSET..MIC_OFFSET + 16].copy_from_slice(&mic);
        self.session = Some(NtlmSession::new(&exported, flags, true));
        Ok(bytes)
    }
}

/// Refuses a CHALLENGE whose flags would weaken the session ([MS-NLMP 3.1.5.1.2]: the client
/// MUST check that the features the server selected are strong enough): without
/// NTLMSSP_NEGOTIATE_128 the sealing keys would be cut to 56 or 40 bits ([MS-NLMP 3.4.5.3]);
/// without NTLMSSP_NEGOTIATE_KEY_EXCH the SessionBaseKey itself would key the session; and,
/// when `require_seal` (the session will seal messages), WinRM message encryption
/// ([MS-WSMV 2.2.9.1]) needs NTLMSSP_NEGOTIATE_SIGN and NTLMSSP_NEGOTIATE_SEAL. The client
/// asks for all four in NEGOTIATE, so a CHALLENGE without one it needs is a downgrade (or a
/// server that cannot protect the session), refused here rather than at the first wrap.
fn check_session_security(challenge_flags: u32, require_seal: bool) -> Result<(), Error> {
    let always = [
        (
            NEGOTIATE_128,
            "NTLMSSP_NEGOTIATE_128",
            "56- or 40-bit sealing keys are refused",
        ),
        (
            NEGOTIATE_KEY_EXCH,
            "NTLMSSP_NEGOTIATE_KEY_EXCH",
            "the session key must be exchanged",
        ),
    ];
    let sealing = [
        (
            NEGOTIATE_SIGN,
            "NTLMSSP_NEGOTIATE_SIGN",
            "message encryption needs signing",
        ),
        (
            NEGOTIATE_SEAL,
            "NTLMSSP_NEGOTIATE_SEAL",
            "message encryption needs sealing",
        ),
    ];
    let needed = always.iter().chain(sealing.iter().filter(|_| require_seal));
    for (flag, name, why) in needed {
        if challenge_flags & flag == 0 {
            return Err(Error::AuthenticationFailed(format!(
                "the server's ntlm challenge does not grant {name} ({why})"
            )));
        }
    }
    Ok(())
}

/// The server's AV pairs plus MsvAvFlags (MIC present), MsvAvChannelBindings and
/// MsvAvTargetName ([MS-NLMP 3.1.5.1.2]).
fn client_target_info(
    server: &[TargetInfoEntry],
    config: &ClientConfig,
) -> Result<Vec<TargetInfoEntry>, Error> {
    let mut flags = AV_FLAG_MIC;
    let mut out: Vec<TargetInfoEntry> = Vec::with_capacity(server.len() + 3);
    for e in server {
        match e.entry_type {
            TargetInfoType::Flags => {
                // [MS-NLMP 2.2.2.1]: a 32-bit value; any other length is malformed.
                let b = <[u8; 4]>::try_from(e.data.as_slice()).map_err(|_| Error::Malformed {
                    what: "challenge message",
                    detail: format!("MsvAvFlags is {} bytes, not 4", e.data.len()),
                })?;
                flags |= u32::from_le_bytes(b);
            }
            TargetInfoType::Terminator | TargetInfoType::ChannelBindings | TargetInfoType::TargetName => {}
            _ => out.push(e.clone()),
        }
    }
    out.push(TargetInfoEntry {
        entry_type: TargetInfoType::Flags,
        data: flags.to_le_bytes().to_vec(),
    });
    let cb = config
        .channel_bindings
        .as_ref()
        .map_or([0; 16], ChannelBindings::md5);
    out.push(TargetInfoEntry {
        entry_type: TargetInfoType::ChannelBindings,
        data: cb.to_vec(),
    });
    if let Some(spn) = &config.target_spn {
        out.push(TargetInfoEntry::from_string(TargetInfoType::TargetName, spn));
    }
    Ok(out)
}

impl ClientAuth for NtlmClient {
    fn scheme(&self) -> &'static str {
        self.scheme
    }

    fn step(&mut self, server_token: Option<&[u8]>) -> Result<Step, Error> {
        match (
            std::mem::replace(&mut self.state, ClientState::Failed),
            server_token,
        ) {
            (ClientState::Initial, None) => {
                let negotiate = negotiate(CLIENT_FLAGS);
                self.state = ClientState::NegotiateSent {
                    negotiate: negotiate.clone(),
                };
                Ok(Step::Continue(negotiate))
            }
            (ClientState::NegotiateSent { negotiate }, Some(token)) => {
                let auth = self.authenticate(&negotiate, token)?;
                self.state = ClientState::Done;
                Ok(Step::Done(Some(auth)))
            }
            (ClientState::NegotiateSent { .. }, None) => Err(Error::AuthenticationFailed(
                "server sent no ntlm challenge".into(),
            )),
            (ClientState::Initial, Some(_)) => Err(Error::InvalidState("ntlm token before negotiate")),
            (ClientState::Done, _) => Err(Error::InvalidState("ntlm handshake already complete")),
            (ClientState::Failed, _) => Err(Error::InvalidState("ntlm handshake failed")),
        }
    }

    fn finish(&mut self, _server_token: Option<&[u8]>) -> Result<(), Error> {
        // NTLM has no mutual authentication: the server's answer to AUTHENTICATE carries no token.
        match self.state {
            ClientState::Done => Ok(()),
            _ => Err(Error::InvalidState("ntlm handshake not complete")),
        }
    }

    fn session(&mut self) -> Option<&mut dyn SessionSecurity> {
        self.session.as_mut().map(|s| s as &mut dyn SessionSecurity)
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        self.session.map(|s| Box::new(s) as Box<dyn SessionSecurity>)
    }

    fn kerberos_fallback(&self) -> Option<&Error> {
        self.kerberos_fallback.as_ref()
    }
}

#[cfg(test)]
mod tests;
