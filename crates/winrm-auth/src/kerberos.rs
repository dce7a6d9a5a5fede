//! Kerberos and SPNEGO (HTTP `Negotiate`) authentication through the system GSSAPI.
//!
//! [`KerberosClient`] drives `gss_init_sec_context` with the tokens of the HTTP exchange
//! [RFC 4559 4], requires mutual authentication (the server's final token is verified in
//! [`ClientAuth::finish`]), and then seals WinRM messages with `gss_wrap_iov`
//! [MS-WSMV 2.2.9.1, RFC 4121 4.2.4]. The library is loaded at run time ([`crate::gssapi`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::cbt::ChannelBindings;
use crate::gssapi::{
    CredSource, GssContext, GssCred, GssName, Library, Mech, NameType, GSS_C_CONF_FLAG, GSS_C_DELEG_FLAG,
    GSS_C_INTEG_FLAG, GSS_C_MUTUAL_FLAG, GSS_C_REPLAY_FLAG, GSS_C_SEQUENCE_FLAG,
};
use crate::{ClientAuth, Error, SessionSecurity, Step, Wrapped};

/// The MS-WSMV protocol string for Negotiate (SPNEGO) contexts [MS-WSMV 2.2.9.1].
pub const PROTOCOL_SPNEGO: &str = "application/HTTP-SPNEGO-session-encrypted";
/// The MS-WSMV protocol string for the raw `Kerberos` HTTP scheme [MS-WSMV 2.2.9.1].
pub const PROTOCOL_KERBEROS: &str = "application/HTTP-Kerberos-session-encrypted";

/// Where the client's Kerberos credentials come from.
pub enum KerberosCredentials {
    /// The default credential cache (`KRB5CCNAME`, filled by `kinit`), or MIT's client keytab
    /// (`KRB5_CLIENT_KTNAME`) when the cache is empty.
    Default,
    /// A client keytab (`gss_acquire_cred_from` with `client_keytab`); tickets go to a private
    /// in-memory cache, the user's cache is not touched. Without a principal, the keytab's
    /// first principal is used.
    Keytab {
        /// `user@REALM`, or `None` for the keytab's first entry.
        principal: Option<String>,
        /// The keytab file.
        path: PathBuf,
    },
    /// A password (`gss_acquire_cred_with_password`, an AS exchange with the KDC).
    Password {
        /// `user@REALM`.
        principal: String,
        /// The password.
        password: Zeroizing<String>,
    },
}

impl std::fmt::Debug for KerberosCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KerberosCredentials::Default => f.write_str("Default"),
            KerberosCredentials::Keytab { principal, path } => f
                .debug_struct("Keytab")
                .field("principal", principal)
                .field("path", path)
                .finish(),
            KerberosCredentials::Password { principal, .. } => f
                .debug_struct("Password")
                .field("principal", principal)
                .finish_non_exhaustive(),
        }
    }
}

impl Clone for KerberosCredentials {
    fn clone(&self) -> Self {
        match self {
            KerberosCredentials::Default => KerberosCredentials::Default,
            KerberosCredentials::Keytab { principal, path } => KerberosCredentials::Keytab {
                principal: principal.clone(),
                path: path.clone(),
            },
            KerberosCredentials::Password { principal, password } => KerberosCredentials::Password {
                principal: principal.clone(),
                password: password.clone(),
            },
        }
    }
}

/// Configuration of a [`KerberosClient`].
#[derive(Debug, Clone)]
pub struct KerberosConfig {
    /// The service part of the SPN, `HTTP` by default (WinRM registers `HTTP/<fqdn>`; some
    /// setups use `WSMAN` or `host`). If it contains a `/`, it is taken as a complete Kerberos
    /// principal name (`HTTP/host.example.com@REALM`) and `hostname` is ignored.
    pub service: String,
    /// The server's host name, ideally its FQDN (the SPN is `service@hostname`, host-based).
    pub hostname: String,
    /// Ask for a forwardable TGT to be delegated to the server (`GSS_C_DELEG_FLAG`).
    pub delegate: bool,
    /// RFC 5929 `tls-server-end-point` bindings (HTTPS), placed in the authenticator checksum.
    pub channel_bindings: Option<ChannelBindings>,
    /// Where the credentials come from.
    pub credentials: KerberosCredentials,
    /// SPNEGO (HTTP scheme `Negotiate`) when true, the raw Kerberos mechanism (scheme
    /// `Kerberos`) otherwise.
    pub spnego: bool,
}

impl KerberosConfig {
    /// Defaults for `hostname`: SPN `HTTP@hostname`, default credentials, SPNEGO, no
    /// delegation, no channel bindings.
    pub fn new(hostname: &str) -> Self {
        KerberosConfig {
            service: "HTTP".to_owned(),
            hostname: hostname.to_owned(),
            delegate: false,
            channel_bindings: None,
            credentials: KerberosCredentials::Default,
            spnego: true,
        }
    }

    /// The target name as given to `gss_import_name`, and its name type.
    fn target(&self) -> (String, NameType) {
        if self.service.contains('/') {
            (self.service.clone(), NameType::Krb5Principal)
        } else {
            (
                format!("{}@{}", self.service, self.hostname),
                NameType::HostBasedService,
            )
        }
    }
}

/// Where a [`KerberosClient`] is in its handshake.
enum State {
    /// `step(None)` not called yet.
    Initial,
    /// Waiting for the server's next token.
    InProgress,
    /// Established: the per-message security is ready.
    Established,
    /// A call failed; the context cannot be used any more.
    Failed,
}

/// A Kerberos/SPNEGO initiator (client) context. See the module documentation.
pub struct KerberosClient {
    lib: Arc<Library>,
    cred: GssCred,
    target: GssName,
    target_text: String,
    mech: Mech,
    req_flags: u32,
    channel_binding: Option<Vec<u8>>,
    ctx: Option<GssContext>,
    state: State,
    /// The last server token fed to the library (a repeated `finish` with it is accepted).
    last_server_token: Option<Vec<u8>>,
    session: Option<KerberosSession>,
}

impl std::fmt::Debug for KerberosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosClient")
            .field("target", &self.target_text)
            .field("mech", &self.mech)
            .field("library", &self.lib.path())
            .finish_non_exhaustive()
    }
}

static CCACHE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl KerberosClient {
    /// Loads the system GSSAPI library ([`Library::system`]), imports the SPN and acquires the
    /// credentials. Fails here (not at the first step) when there is no usable ticket, keytab
    /// or password, so a caller can fall back to another mechanism.
    pub fn new(config: KerberosConfig) -> Result<Self, Error> {
        let lib = Library::system()?;
        Self::with_library(config, lib)
    }

    /// As [`KerberosClient::new`] with an explicitly loaded library ([`Library::open`]).
    pub fn with_library(config: KerberosConfig, lib: Arc<Library>) -> Result<Self, Error> {
        let (target_text, kind) = config.target();
        let ctx_err = |e: Error| match e {
            Error::Gssapi(s) => Error::Gssapi(format!("kerberos for {target_text}: {s}")),
            other => other,
        };
        if config.hostname.is_empty() && kind == NameType::HostBasedService {
            return Err(Error::Gssapi("kerberos: empty host name for the SPN".into()));
        }
        let target = GssName::import(&lib, &target_text, kind).map_err(ctx_err)?;
        let mech = if config.spnego { Mech::Spnego } else { Mech::Krb5 };
        let cred = match &config.credentials {
            KerberosCredentials::Default => GssCred::acquire(&lib, None, mech, CredSource::Default),
            KerberosCredentials::Keytab { principal, path } => {
                let name = principal
                    .as_deref()
                    .map(|p| GssName::import(&lib, p, NameType::Krb5Principal))
                    .transpose()
                    .map_err(ctx_err)?;
                let path = path
                    .to_str()
                    .ok_or_else(|| Error::Gssapi("kerberos: the keytab path is not valid UTF-8".into()))?;
                let ccache = format!(
                    "MEMORY:hvctl-{}-{}",
                    std::process::id(),
                    CCACHE_COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                GssCred::acquire(
                    &lib,
                    name.as_ref(),
                    mech,
                    CredSource::Keytab {
                        path,
                        ccache: &ccache,
                    },
                )
            }
            KerberosCredentials::Password { principal, password } => {
                let name = GssName::import(&lib, principal, NameType::Krb5Principal).map_err(ctx_err)?;
                GssCred::acquire(&lib, Some(&name), mech, CredSource::Password(password.as_bytes()))
            }
        }
        .map_err(ctx_err)?;
        let mut req_flags =
            GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
        if config.delegate {
            req_flags |= GSS_C_DELEG_FLAG;
        }
        Ok(KerberosClient {
            ctx: Some(GssContext::new(&lib)),
            lib,
            cred,
            target,
            target_text,
            mech,
            req_flags,
            channel_binding: config.channel_bindings.map(|c| c.application_data),
            state: State::Initial,
            last_server_token: None,
            session: None,
        })
    }

    /// The target name this client authenticates to (`HTTP@host` or a principal name).
    pub fn target(&self) -> &str {
        &self.target_text
    }

    /// The canonical SPN as the library resolved it, e.g. `HTTP/host@` (MIT) — for messages.
    pub fn target_display(&self) -> Option<String> {
        self.target.display()
    }

    /// Whether the context is established (mutual authentication verified).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// The established context's details, once [`KerberosClient::is_established`].
    pub fn info(&self) -> Option<&ContextInfo> {
        self.session.as_ref().map(|s| &s.info)
    }

    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed;
        self.ctx = None;
        match e {
            Error::Gssapi(s) => Error::Gssapi(format!("kerberos for {}: {s}", self.target_text)),
            other => other,
        }
    }

    /// One `gss_init_sec_context` call; establishes the session on completion.
    fn advance(&mut self, server_token: Option<&[u8]>) -> Result<(bool, Vec<u8>), Error> {
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(Error::InvalidState(
                "the kerberos context is gone after an earlier failure",
            ));
        };
        let r = ctx.init(
            &self.cred,
            &self.target,
            self.mech,
            self.req_flags,
            self.channel_binding.as_deref(),
            server_token,
        );
        let r = match r {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e)),
        };
        if !r.complete {
            self.state = State::InProgress;
            return Ok((false, r.token));
        }
        if r.flags & GSS_C_MUTUAL_FLAG == 0 {
            return Err(self.fail(Error::AuthenticationFailed(
                "kerberos: the context completed without mutual authentication".into(),
            )));
        }
        let Some(ctx) = self.ctx.take() else {
            return Err(Error::InvalidState("the kerberos context is gone"));
        };
        let (client, server, flags, _open) = match ctx.inquire() {
            Ok(v) => v,
            Err(e) => return Err(self.fail(e)),
        };
        self.session = Some(KerberosSession {
            ctx,
            protocol: if self.mech == Mech::Spnego {
                PROTOCOL_SPNEGO
            } else {
                PROTOCOL_KERBEROS
            },
            info: ContextInfo {
                client_principal: client,
                server_principal: server,
                flags: flags | r.flags,
                spnego: self.mech == Mech::Spnego,
            },
        });
        self.state = State::Established;
        Ok((true, r.token))
    }
}

/// Details of an established context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    /// The client principal, e.g. `alice@EXAMPLE.COM`.
    pub client_principal: Option<String>,
    /// The server principal, e.g. `HTTP/host.example.com@EXAMPLE.COM`.
    pub server_principal: Option<String>,
    /// The GSS context flags (`GSS_C_*_FLAG`) granted.
    pub flags: u32,
    /// Whether SPNEGO was used.
    pub spnego: bool,
}

impl ContextInfo {
    /// Whether the TGT was delegated to the server.
    pub fn delegated(&self) -> bool {
        self.flags & GSS_C_DELEG_FLAG != 0
    }
}

impl ClientAuth for KerberosClient {
    fn scheme(&self) -> &'static str {
        if self.mech == Mech::Spnego {
            "Negotiate"
        } else {
            "Kerberos"
        }
    }

    fn step(&mut self, server_token: Option<&[u8]>) -> Result<Step, Error> {
        match (&self.state, server_token) {
            (State::Initial, None) => {}
            (State::Initial, Some(_)) => {
                return Err(Error::InvalidState(
                    "kerberos: the first step takes no server token",
                ))
            }
            (State::InProgress, Some(_)) => {}
            (State::InProgress, None) => {
                return Err(Error::AuthenticationFailed(
                    "kerberos: the server answered without a Negotiate token".into(),
                ))
            }
            (State::Established, _) => {
                return Err(Error::InvalidState("kerberos: the handshake is complete"))
            }
            (State::Failed, _) => return Err(Error::InvalidState("kerberos: the handshake failed earlier")),
        }
        if let Some(t) = server_token {
            self.last_server_token = Some(t.to_vec());
        }
        let (complete, token) = self.advance(server_token)?;
        if complete {
            Ok(Step::Done(if token.is_empty() { None } else { Some(token) }))
        } else if token.is_empty() {
            Err(self.fail(Error::Gssapi(
                "gss_init_sec_context wants another round trip but produced no token".into(),
            )))
        } else {
            Ok(Step::Continue(token))
        }
    }

    fn finish(&mut self, server_token: Option<&[u8]>) -> Result<(), Error> {
        match (&self.state, server_token) {
            (State::Established, None) => Ok(()),
            (State::Established, Some(t)) => {
                if t.is_empty() || self.last_server_token.as_deref() == Some(t) {
                    Ok(())
                } else {
                    Err(Error::AuthenticationFailed(
                        "kerberos: the server sent another token after the handshake completed".into(),
                    ))
                }
            }
            (State::InProgress, None) => Err(self.fail(Error::AuthenticationFailed(
                "kerberos: the server accepted the request without a final token, so it did not prove \
                 its identity (mutual authentication is required)"
                    .into(),
            ))),
            (State::InProgress, Some(t)) => {
                self.last_server_token = Some(t.to_vec());
                let (complete, token) = self.advance(Some(t))?;
                if !complete {
                    Err(self.fail(Error::AuthenticationFailed(
                        "kerberos: the server's final token did not complete the context".into(),
                    )))
                } else if !token.is_empty() {
                    Err(self.fail(Error::AuthenticationFailed(
                        "kerberos: the mechanism has another token to send after the server's final reply"
                            .into(),
                    )))
                } else {
                    Ok(())
                }
            }
            (State::Initial, _) => Err(Error::InvalidState("kerberos: finish before the first step")),
            (State::Failed, _) => Err(Error::InvalidState("kerberos: the handshake failed earlier")),
        }
    }

    fn session(&mut self) -> Option<&mut dyn SessionSecurity> {
        self.session.as_mut().map(|s| s as &mut dyn SessionSecurity)
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        let this = *self;
        this.session.map(|s| Box::new(s) as Box<dyn SessionSecurity>)
    }
}

/// Per-message security of an established Kerberos/SPNEGO context.
pub struct KerberosSession {
    ctx: GssContext,
    protocol: &'static str,
    info: ContextInfo,
}

impl std::fmt::Debug for KerberosSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosSession")
            .field("protocol", &self.protocol)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl KerberosSession {
    /// Details of the context.
    pub fn info(&self) -> &ContextInfo {
        &self.info
    }
}

impl SessionSecurity for KerberosSession {
    fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// `gss_wrap_iov` with HEADER | DATA | PADDING, conf_req = 1 [MS-WSMV 2.2.9.1.1.2.2]:
    /// header = the RFC 4121 token header (with the rotated trailer), data = ciphertext and
    /// padding, padding = the padding length (0 for AES, non-zero for RC4-HMAC).
    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
        let w = self.ctx.wrap_iov(plaintext)?;
        let mut data = w.data;
        data.extend_from_slice(&w.padding);
        Ok(Wrapped {
            header: w.header,
            data,
            padding: w.padding.len(),
        })
    }

    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        if header.is_empty() {
            return Err(Error::Malformed {
                what: "kerberos wrap token",
                detail: "empty header".into(),
            });
        }
        self.ctx.unwrap(header, data)
    }
}
