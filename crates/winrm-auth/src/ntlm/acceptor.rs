//! NTLM acceptor (server side, [MS-NLMP 3.2]): CHALLENGE, NTLMv2 verification against a user
//! table, MIC and channel-binding checks, server-direction session keys.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::crypto::{self, Key16};
use super::messages::*;
use super::{NtlmSession, Rng};
use crate::cbt::ChannelBindings;
use crate::{Error, SessionSecurity, Step};

struct UserEntry {
    domain: String,
    user: String,
    nt_hash: Key16,
}

/// Accounts the acceptor knows: (domain, user) with the NT hash of the password.
/// `Debug` prints the names only.
#[derive(Default)]
pub struct UserTable {
    users: Vec<UserEntry>,
}

impl std::fmt::Debug for UserTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.users.iter().map(|u| format!("{}\\{}", u.domain, u.user)))
            .finish()
    }
}

impl UserTable {
    /// An empty table.
    pub fn new() -> Self {
        UserTable::default()
    }

    /// Adds an account (the password is kept only as its NT hash).
    pub fn add(&mut self, domain: &str, user: &str, password: &str) {
        self.users.push(UserEntry {
            domain: domain.to_owned(),
            user: user.to_owned(),
            nt_hash: crypto::nt_hash(password),
        });
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Accounts matching what the client sent: user names compare case-insensitively; an
    /// empty client domain, an empty table domain, or equal domains match; a UPN
    /// (`user@realm`, empty domain) matches on its user part.
    fn candidates<'a>(&'a self, domain: &'a str, user: &'a str) -> impl Iterator<Item = &'a UserEntry> + 'a {
        let upn_user = if domain.is_empty() {
            user.split_once('@').map(|(u, _)| u)
        } else {
            None
        };
        self.users.iter().filter(move |e| {
            let user_ok =
                e.user.eq_ignore_ascii_case(user) || upn_user.is_some_and(|u| e.user.eq_ignore_ascii_case(u));
            let domain_ok = domain.is_empty() || e.domain.is_empty() || e.domain.eq_ignore_ascii_case(domain);
            user_ok && domain_ok
        })
    }
}

/// The acceptor's identity and policy.
#[derive(Debug, Clone, Default)]
pub struct AcceptorConfig {
    /// NetBIOS domain name (MsvAvNbDomainName and the CHALLENGE target name).
    pub netbios_domain: String,
    /// NetBIOS computer name (MsvAvNbComputerName).
    pub netbios_computer: String,
    /// DNS domain name (MsvAvDnsDomainName, MsvAvDnsTreeName).
    pub dns_domain: String,
    /// DNS computer name (MsvAvDnsComputerName).
    pub dns_computer: String,
    /// When set, the client's MsvAvChannelBindings must equal `md5()` of these.
    pub expected_channel_bindings: Option<ChannelBindings>,
}

enum AcceptorState {
    Initial,
    Challenged {
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
        flags: u32,
    },
    Done,
    Failed,
}

/// NTLM acceptor: NEGOTIATE in → `Continue(CHALLENGE)`; AUTHENTICATE in → `Done(None)` or an
/// error (`AuthenticationFailed` for bad credentials, `BadSignature` for a bad MIC).
pub struct NtlmAcceptor {
    users: Arc<UserTable>,
    config: AcceptorConfig,
    rng: Rng,
    now_filetime: u64,
    state: AcceptorState,
    user: Option<(String, String)>,
    session: Option<NtlmSession>,
}

impl std::fmt::Debug for NtlmAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmAcceptor")
            .field("user", &self.user)
            .field("established", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Flags the acceptor will agree to.
const SERVER_FLAGS: u32 = NEGOTIATE_UNICODE
    | NEGOTIATE_SIGN
    | NEGOTIATE_SEAL
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_ESS
    | NEGOTIATE_128
    | NEGOTIATE_56
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_VERSION;

impl NtlmAcceptor {
    /// An acceptor for one connection; `rng` supplies the server challenge, `now_filetime` the
    /// MsvAvTimestamp.
    pub fn new(users: Arc<UserTable>, config: AcceptorConfig, rng: Rng, now_filetime: u64) -> Self {
        NtlmAcceptor {
            users,
            config,
            rng,
            now_filetime,
            state: AcceptorState::Initial,
            user: None,
            session: None,
        }
    }

    /// NEGOTIATE in → `Continue(CHALLENGE)`; AUTHENTICATE in → `Done(None)` or
    /// `Err(AuthenticationFailed)`.
    pub fn step(&mut self, client_token: &[u8]) -> Result<Step, Error> {
        match std::mem::replace(&mut self.state, AcceptorState::Failed) {
            AcceptorState::Initial => {
                let (challenge, server_challenge, flags) = self.challenge(client_token)?;
                self.state = AcceptorState::Challenged {
                    negotiate: client_token.to_vec(),
                    challenge: challenge.clone(),
                    server_challenge,
                    flags,
                };
                Ok(Step::Continue(challenge))
            }
            AcceptorState::Challenged {
                negotiate,
                challenge,
                server_challenge,
                flags,
            } => {
                self.verify(&negotiate, &challenge, &server_challenge, flags, client_token)?;
                self.state = AcceptorState::Done;
                Ok(Step::Done(None))
            }
            AcceptorState::Done => Err(Error::InvalidState("ntlm handshake already complete")),
            AcceptorState::Failed => Err(Error::InvalidState("ntlm handshake failed")),
        }
    }

    /// (domain, user) as the client sent them, once authenticated.
    pub fn user(&self) -> Option<(String, String)> {
        self.user.clone()
    }

    /// The server-side session security, once authenticated.
    pub fn into_session(self) -> Option<Box<dyn SessionSecurity>> {
        self.session.map(|s| Box::new(s) as Box<dyn SessionSecurity>)
    }

    /// The established session, with its concrete type.
    pub fn ntlm_session(&mut self) -> Option<&mut NtlmSession> {
        self.session.as_mut()
    }

    fn challenge(&mut self, negotiate: &[u8]) -> Result<(Vec<u8>, [u8; 8], u32), Error> {
        let client_flags = parse_negotiate_flags(negotiate)?;
        if client_flags & NEGOTIATE_UNICODE == 0 {
            return Err(Error::AuthenticationFailed(
                "client does not negotiate unicode".into(),
            ));
        }
        if client_flags & NEGOTIATE_ESS == 0 {
            return Err(Error::AuthenticationFailed(
                "client does not negotiate extended session security".into(),
            ));
        }
        let mut flags =
            (client_flags & SERVER_FLAGS) | NEGOTIATE_NTLM | NEGOTIATE_TARGET_INFO | NEGOTIATE_VERSION;
        flags |= TARGET_TYPE_DOMAIN;
        if client_flags & REQUEST_TARGET != 0 {
            flags |= REQUEST_TARGET;
        }
        let mut server_challenge = [0u8; 8];
        (self.rng)(&mut server_challenge);
        let c = &self.config;
        let mut ti = Vec::new();
        for (id, value) in [
            (AV_NB_DOMAIN, &c.netbios_domain),
            (AV_NB_COMPUTER, &c.netbios_computer),
            (AV_DNS_DOMAIN, &c.dns_domain),
            (AV_DNS_COMPUTER, &c.dns_computer),
            (AV_DNS_TREE, &c.dns_domain),
        ] {
            push_av(&mut ti, id, &crypto::utf16le(value));
        }
        push_av(&mut ti, AV_TIMESTAMP, &self.now_filetime.to_le_bytes());
        ti.extend_from_slice(&[0, 0, 0, 0]);
        let msg = challenge(flags, &c.netbios_domain, &server_challenge, &ti);
        Ok((msg, server_challenge, flags))
    }

    fn verify(
        &mut self,
        negotiate: &[u8],
        challenge: &[u8],
        server_challenge: &[u8; 8],
        challenge_flags: u32,
        token: &[u8],
    ) -> Result<(), Error> {
        let auth = Authenticate::parse(token)?;
        if auth.nt_response.is_empty() && auth.user.is_empty() {
            return Err(Error::AuthenticationFailed(
                "anonymous logon is not accepted".into(),
            ));
        }
        if auth.nt_response.len() < 16 + 28 {
            return Err(Error::AuthenticationFailed(
                "only ntlmv2 responses are accepted".into(),
            ));
        }
        let (proof, temp) = auth.nt_response.split_at(16);
        if temp[0] != 1 || temp[1] != 1 {
            return Err(Error::AuthenticationFailed(
                "unknown ntlmv2 response version".into(),
            ));
        }
        let av = parse_av_pairs(&temp[28..])?;
        // Verify the proof against every matching account (usually exactly one).
        let mut base_key: Option<Key16> = None;
        for entry in self.users.candidates(&auth.domain, &auth.user) {
            let key = crypto::ntowfv2_from_hash(&entry.nt_hash, &auth.user, &auth.domain);
            let expected = crypto::hmac_md5(key.as_slice(), &[server_challenge, temp]);
            if crypto::ct_eq(&expected, proof) {
                base_key = Some(Zeroizing::new(crypto::hmac_md5(key.as_slice(), &[proof])));
                break;
            }
        }
        let Some(base_key) = base_key else {
            return Err(Error::AuthenticationFailed(format!(
                "unknown user or wrong password for {}\\{}",
                auth.domain, auth.user
            )));
        };
        let flags = auth.flags & challenge_flags;
        let exported: Key16 = if flags & NEGOTIATE_KEY_EXCH != 0 {
            let enc: [u8; 16] =
                auth.encrypted_session_key.as_slice().try_into().map_err(|_| {
                    Error::AuthenticationFailed("encrypted session key is not 16 bytes".into())
                })?;
            let esk: [u8; 16] = crypto::rc4_oneshot(&base_key, &enc).try_into().unwrap_or([0; 16]);
            Zeroizing::new(esk)
        } else {
            base_key
        };
        let av_flags = av
            .iter()
            .find(|(id, _)| *id == AV_FLAGS)
            .and_then(|(_, v)| <[u8; 4]>::try_from(*v).ok())
            .map_or(0, u32::from_le_bytes);
        if av_flags & AV_FLAG_MIC != 0 {
            let Some(mic) = auth.mic else {
                return Err(Error::BadSignature("mic announced but missing"));
            };
            let mut zeroed = token.to_vec();
            zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
            let expected = crypto::hmac_md5(exported.as_slice(), &[negotiate, challenge, &zeroed]);
            if !crypto::ct_eq(&expected, &mic) {
                return Err(Error::BadSignature("ntlm mic does not verify"));
            }
        }
        if let Some(cb) = &self.config.expected_channel_bindings {
            let sent = av
                .iter()
                .find(|(id, _)| *id == AV_CHANNEL_BINDINGS)
                .map(|(_, v)| *v);
            if !sent.is_some_and(|v| crypto::ct_eq(v, &cb.md5())) {
                return Err(Error::AuthenticationFailed(
                    "channel bindings do not match".into(),
                ));
            }
        }
        self.session = Some(NtlmSession::new(&exported, flags, false));
        self.user = Some((auth.domain, auth.user));
        Ok(())
    }
}

fn push_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(value);
}
