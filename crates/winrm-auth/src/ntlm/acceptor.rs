//! NTLM acceptor (server side, [MS-NLMP 3.2]): CHALLENGE, NTLMv2 verification against a user
//! table, MIC and channel-binding checks, server-direction session keys.

use std::sync::Arc;

use subtle::ConstantTimeEq;
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

    /// Accounts matching the names the client sent in AUTHENTICATE (its DomainName and
    /// UserName, [MS-NLMP 2.2.1.3]). The mapping, with names compared ASCII
    /// case-insensitively and "this host's names" being the configured NetBIOS and DNS domain
    /// and computer names:
    ///
    /// - `DOMAIN\user`: the accounts named `user` stored with domain `DOMAIN`. An account
    ///   stored with an empty domain is a local account of this host: it answers to any of
    ///   this host's names, and so does an account stored with one of them.
    /// - `user` with an empty DomainName: the client names no domain, so the account is looked
    ///   up in this host's own domain (accounts stored with an empty domain or one of this
    ///   host's names); an empty domain never matches an account of another domain.
    /// - `user@realm` with an empty DomainName (a UPN, [MS-NLMP 2.2.1.3] allows UserName in
    ///   that form): the accounts named `user` of `realm`, by the `DOMAIN\user` rule (so
    ///   `realm` is the stored domain, or `realm` and the stored domain are both this host's
    ///   names); an account stored under the whole UPN as its name matches too, in this host's
    ///   own domain.
    ///
    /// The NTLMv2 proof is then checked with the names exactly as sent, which is how the client
    /// computed it ([MS-NLMP 3.3.2]).
    fn candidates<'a>(
        &'a self,
        config: &'a AcceptorConfig,
        domain: &'a str,
        user: &'a str,
    ) -> impl Iterator<Item = &'a UserEntry> + 'a {
        let upn = if domain.is_empty() {
            user.rsplit_once('@')
                .filter(|(name, realm)| !name.is_empty() && !realm.is_empty())
        } else {
            None
        };
        self.users.iter().filter(move |e| {
            let as_sent = e.user.eq_ignore_ascii_case(user) && config.same_domain(&e.domain, domain);
            let by_upn = upn.is_some_and(|(name, realm)| {
                e.user.eq_ignore_ascii_case(name) && config.same_domain(&e.domain, realm)
            });
            as_sent || by_upn
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

impl AcceptorConfig {
    /// The names of this host (empty ones left out).
    fn own_names(&self) -> impl Iterator<Item = &str> {
        [
            &self.netbios_domain,
            &self.dns_domain,
            &self.netbios_computer,
            &self.dns_computer,
        ]
        .into_iter()
        .map(String::as_str)
        .filter(|n| !n.is_empty())
    }

    /// An empty domain or one of this host's names.
    fn is_own_domain(&self, domain: &str) -> bool {
        domain.is_empty() || self.own_names().any(|n| n.eq_ignore_ascii_case(domain))
    }

    /// Whether an account stored with domain `stored` belongs to the domain `sent` names.
    fn same_domain(&self, stored: &str, sent: &str) -> bool {
        stored.eq_ignore_ascii_case(sent) || (self.is_own_domain(stored) && self.is_own_domain(sent))
    }
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
    /// Host names accepted in MsvAvTargetName besides this host's own and loopback names.
    target_hosts: Vec<String>,
    /// Whether the CHALLENGE carries MsvAvTimestamp (always, except to replay the spec's
    /// timestamp-less exchange in tests).
    send_timestamp: bool,
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
            target_hosts: Vec::new(),
            send_timestamp: true,
        }
    }

    /// Also accepts `host` (an alias, or an address clients use) as the host part of the
    /// client's MsvAvTargetName; see [`NtlmAcceptor::step`].
    #[must_use]
    pub fn accept_target_host(mut self, host: &str) -> Self {
        self.target_hosts.push(host.to_owned());
        self
    }

    /// A CHALLENGE without MsvAvTimestamp, as in the [MS-NLMP 4.2.4] example (whose
    /// AUTHENTICATE has no MIC).
    #[cfg(test)]
    pub(crate) fn without_timestamp(mut self) -> Self {
        self.send_timestamp = false;
        self
    }

    /// NEGOTIATE in → `Continue(CHALLENGE)`; AUTHENTICATE in → `Done(None)` or
    /// `Err(AuthenticationFailed)`.
    ///
    /// AUTHENTICATE is checked as a strict Windows server would ([MS-NLMP 3.2.5.1.2]): only an
    /// NTLMv2 response; the proof against the matching accounts (see the name mapping on
    /// [`UserTable`]'s lookup); a MIC, which is required because the CHALLENGE carried
    /// MsvAvTimestamp ([MS-NLMP 3.1.5.1.2]: a client that received one provides a MIC) and
    /// must verify; the channel bindings when configured; and MsvAvTargetName when the
    /// client sent a non-empty one: it must be a service principal name `service/host[:port]`
    /// whose host is one of this host's configured names (DNS or NetBIOS computer or domain
    /// name), a name added with [`NtlmAcceptor::accept_target_host`], or a loopback name
    /// (`localhost`, 127.0.0.0/8, `::1`) — a name for another host means the authentication
    /// was meant for that host and is being relayed here. The service class is not checked
    /// (WinRM clients send `HTTP`, `WSMAN` or `host`).
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
        if self.send_timestamp {
            push_av(&mut ti, AV_TIMESTAMP, &self.now_filetime.to_le_bytes());
        }
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
        for entry in self.users.candidates(&self.config, &auth.domain, &auth.user) {
            let key = crypto::ntowfv2_from_hash(&entry.nt_hash, &auth.user, &auth.domain);
            let expected = crypto::hmac_md5(key.as_slice(), &[server_challenge, temp]);
            if bool::from(expected.ct_eq(proof)) {
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
            crypto::rc4_key(&base_key, &enc)
        } else {
            base_key
        };
        // [MS-NLMP 2.2.2.1]: MsvAvFlags is a 32-bit value; any other length is malformed (not
        // "no flags", which would skip the MIC check).
        let av_flags = match av.iter().find(|(id, _)| *id == AV_FLAGS) {
            None => 0,
            Some((_, v)) => u32::from_le_bytes(<[u8; 4]>::try_from(*v).map_err(|_| Error::Malformed {
                what: "authenticate message",
                detail: format!("MsvAvFlags is {} bytes, not 4", v.len()),
            })?),
        };
        if av_flags & AV_FLAG_MIC == 0 && self.send_timestamp {
            return Err(Error::BadSignature(
                "the challenge carried MsvAvTimestamp, so the authenticate message must carry a mic (MsvAvFlags bit 0x2)",
            ));
        }
        if av_flags & AV_FLAG_MIC != 0 {
            let Some(mic) = auth.mic else {
                return Err(Error::BadSignature("mic announced but missing"));
            };
            let mut zeroed = token.to_vec();
            zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
            let expected = crypto::hmac_md5(exported.as_slice(), &[negotiate, challenge, &zeroed]);
            if !bool::from(expected.ct_eq(&mic)) {
                return Err(Error::BadSignature("ntlm mic does not verify"));
            }
        }
        if let Some(cb) = &self.config.expected_channel_bindings {
            let sent = av
                .iter()
                .find(|(id, _)| *id == AV_CHANNEL_BINDINGS)
                .map(|(_, v)| *v);
            if !sent.is_some_and(|v| bool::from(v.ct_eq(&cb.md5()))) {
                return Err(Error::AuthenticationFailed(
                    "channel bindings do not match".into(),
                ));
            }
        }
        if let Some((_, name)) = av.iter().find(|(id, _)| *id == AV_TARGET_NAME) {
            self.check_target_name(name)?;
        }
        self.session = Some(NtlmSession::new(&exported, flags, false));
        self.user = Some((auth.domain, auth.user));
        Ok(())
    }

    /// MsvAvTargetName (UTF-16LE): see [`NtlmAcceptor::step`]. Empty means the client did not
    /// know the name.
    fn check_target_name(&self, value: &[u8]) -> Result<(), Error> {
        if value.is_empty() {
            return Ok(());
        }
        let units: Vec<u16> = value
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        let name = (value.len() % 2 == 0)
            .then(|| String::from_utf16(&units).ok())
            .flatten()
            .ok_or_else(|| {
                Error::AuthenticationFailed("the client's MsvAvTargetName is not valid utf-16".into())
            })?;
        let host = spn_host(&name).ok_or_else(|| {
            Error::AuthenticationFailed(format!(
                "the client's MsvAvTargetName {name:?} is not a service principal name (service/host)"
            ))
        })?;
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
        let known = self
            .config
            .own_names()
            .chain(self.target_hosts.iter().map(String::as_str))
            .any(|n| n.eq_ignore_ascii_case(host));
        if loopback || known {
            Ok(())
        } else {
            Err(Error::AuthenticationFailed(format!(
                "the client authenticated to {name:?}, not to this host (MsvAvTargetName names another host)"
            )))
        }
    }
}

/// The host part of `service/host[:port][/service-name]` ([MS-NLMP 3.1.1.2] SPN form); an
/// IPv6 address may be bracketed. `None` when there is no service class or no host.
fn spn_host(spn: &str) -> Option<&str> {
    let (service, rest) = spn.split_once('/')?;
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        let end = rest.find([':', '/']).unwrap_or(rest.len());
        &rest[..end]
    };
    (!service.is_empty() && !host.is_empty()).then_some(host)
}

fn push_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(value);
}
