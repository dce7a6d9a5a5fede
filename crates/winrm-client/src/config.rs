//! Configuration: authentication methods, secrets, encryption and proxy modes, the
//! [`ClientBuilder`] and the resolved [`Config`] it builds the [`Client`] from.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::guard::ConnGuard;
use crate::record::{Recorder, Scrub};
use crate::session::{self, Session};
use crate::{
    default_page_size, tls, Client, Error, Inner, DEFAULT_CONNECT_TIMEOUT, DEFAULT_ENUMERATION_RESTARTS,
    DEFAULT_MAX_ENVELOPE_SIZE, DEFAULT_OPERATION_TIMEOUT, READ_TIMEOUT_MARGIN,
};

/// A password or private key kept in memory that is zeroed on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Self {
        Password(Zeroizing::new(secret.into()))
    }

    /// The secret text (pass it on, never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

/// How the client authenticates ([MS-WSMV 3.1.4.1.29] lists the schemes WinRM accepts).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthMethod {
    /// SPNEGO: Kerberos when a ticket, keytab or password for it works, otherwise NTLM with the
    /// password. `user` is `DOMAIN\user`, `user@domain.tld` or `user`.
    Negotiate {
        /// User name; `None` uses the default Kerberos credential cache only.
        user: Option<String>,
        /// Password (needed for the NTLM fallback).
        password: Option<Password>,
        /// Kerberos keytab to acquire credentials from.
        keytab: Option<PathBuf>,
        /// Forward the TGT (Kerberos delegation).
        delegate: bool,
    },
    /// NTLMv2 only, sent as the `Negotiate` HTTP scheme with raw NTLMSSP tokens.
    Ntlm {
        /// User name: `DOMAIN\user`, `user@domain.tld` or `user`.
        user: String,
        /// Password.
        password: Password,
    },
    /// Kerberos only (SPNEGO-wrapped, scheme `Negotiate`) through the system GSSAPI.
    Kerberos {
        /// Client principal; `None` uses the default credential cache.
        principal: Option<String>,
        /// Password to obtain a ticket with (instead of a cache or keytab).
        password: Option<Password>,
        /// Keytab to acquire credentials from.
        keytab: Option<PathBuf>,
        /// Forward the TGT (Kerberos delegation).
        delegate: bool,
    },
    /// HTTP Basic; refused by the builder unless the endpoint is HTTPS.
    Basic {
        /// Local account name.
        user: String,
        /// Password.
        password: Password,
    },
    /// TLS client certificate (HTTPS only), with the WS-Man mutual-auth security profile header.
    Certificate {
        /// PEM certificate chain.
        cert_pem: Vec<u8>,
        /// PEM private key (zeroed on drop).
        key_pem: Password,
    },
}

impl AuthMethod {
    /// NTLM with a user and password.
    pub fn ntlm(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Ntlm {
            user: user.to_owned(),
            password: password.into(),
        }
    }

    /// Negotiate (Kerberos, falling back to NTLM) with a user and password.
    pub fn negotiate(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Negotiate {
            user: Some(user.to_owned()),
            password: Some(password.into()),
            keytab: None,
            delegate: false,
        }
    }

    /// Basic with a local user and password (HTTPS only).
    pub fn basic(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Basic {
            user: user.to_owned(),
            password: password.into(),
        }
    }

    /// The HTTP scheme name, for messages.
    pub(crate) fn scheme_name(&self) -> &'static str {
        match self {
            AuthMethod::Negotiate { .. } => "Negotiate",
            AuthMethod::Ntlm { .. } => "NTLM",
            AuthMethod::Kerberos { .. } => "Kerberos",
            AuthMethod::Basic { .. } => "Basic",
            AuthMethod::Certificate { .. } => "Certificate",
        }
    }

    /// The user, for messages.
    pub(crate) fn user_name(&self) -> String {
        match self {
            AuthMethod::Negotiate { user, .. } => {
                user.clone().unwrap_or_else(|| "(default credentials)".to_owned())
            }
            AuthMethod::Ntlm { user, .. } | AuthMethod::Basic { user, .. } => user.clone(),
            AuthMethod::Kerberos { principal, .. } => principal
                .clone()
                .unwrap_or_else(|| "(default credentials)".to_owned()),
            AuthMethod::Certificate { .. } => "(client certificate)".to_owned(),
        }
    }

    /// True for the connection-oriented GSS schemes that can seal messages.
    pub(crate) fn is_gss(&self) -> bool {
        matches!(
            self,
            AuthMethod::Negotiate { .. } | AuthMethod::Ntlm { .. } | AuthMethod::Kerberos { .. }
        )
    }
}

/// WinRM message encryption ([MS-WSMV 2.2.9.1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Encrypt over HTTP, not over HTTPS (the TLS channel protects the body).
    #[default]
    Auto,
    /// Encrypt over HTTP and HTTPS.
    Always,
    /// Never encrypt: plaintext SOAP over HTTP. Only for listeners with AllowUnencrypted=true;
    /// logged as a warning.
    Never,
}

/// Which HTTP proxy to use. Loopback endpoints never use a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` with `NO_PROXY` from the environment.
    #[default]
    Environment,
    /// No proxy.
    None,
    /// This proxy URL (`http://`, `https://`), skipping hosts in the `no_proxy` list
    /// (comma-separated, same syntax as `NO_PROXY`).
    Url {
        /// The proxy URL.
        url: String,
        /// Hosts that bypass the proxy.
        no_proxy: Option<String>,
    },
}

/// Resolved configuration (built by [`ClientBuilder::build`]).
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) auth: AuthMethod,
    pub(crate) host: String,
    pub(crate) operation_timeout: Duration,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_envelope_size: u32,
    pub(crate) spn_service: String,
    pub(crate) spn_host: Option<String>,
    pub(crate) proxy: ProxyConfig,
    pub(crate) tls: Option<rustls::ClientConfig>,
    pub(crate) retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) locale: Option<String>,
    pub(crate) enumeration_restarts: u32,
    pub(crate) page_size: u32,
}

impl Config {
    /// The HTTP read timeout: strictly above OperationTimeout.
    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
            .unwrap_or(self.operation_timeout + READ_TIMEOUT_MARGIN)
    }

    /// The largest reply accepted: twice MaxEnvelopeSize (Windows may answer in UTF-16) plus
    /// 64 KiB for the `multipart/encrypted` framing and HTTP slack.
    pub(crate) fn response_cap(&self) -> usize {
        usize::try_from(self.max_envelope_size)
            .unwrap_or(usize::MAX / 4)
            .saturating_mul(2)
            .saturating_add(64 * 1024)
    }
}

/// Builds a [`Client`]; defaults are safe (TLS verified, encryption required over HTTP).
#[must_use]
#[derive(Debug)]
pub struct ClientBuilder {
    endpoint: String,
    auth: Option<AuthMethod>,
    ca_pems: Vec<Vec<u8>>,
    platform_roots: bool,
    insecure: bool,
    encryption: Encryption,
    operation_timeout: Duration,
    read_timeout: Option<Duration>,
    connect_timeout: Duration,
    max_envelope_size: u32,
    spn_service: String,
    spn_host: Option<String>,
    proxy: ProxyConfig,
    record: Option<(PathBuf, bool)>,
    sessions: usize,
    retries: u32,
    retry_backoff: Duration,
    locale: Option<String>,
    enumeration_restarts: u32,
    page_size: Option<u32>,
}

impl Client {
    /// Starts building a client for `endpoint` (`http://host:5985/wsman` or
    /// `https://host:5986/wsman`).
    pub fn builder(endpoint: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_owned(),
            auth: None,
            ca_pems: Vec::new(),
            platform_roots: true,
            insecure: false,
            encryption: Encryption::Auto,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            read_timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
            spn_service: "HTTP".to_owned(),
            spn_host: None,
            proxy: ProxyConfig::Environment,
            record: None,
            sessions: 1,
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            locale: Some("en-US".to_owned()),
            enumeration_restarts: DEFAULT_ENUMERATION_RESTARTS,
            page_size: None,
        }
    }
}

impl ClientBuilder {
    /// The authentication method (required).
    pub fn auth(mut self, auth: AuthMethod) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Trusts this PEM CA certificate (or bundle) in addition to the platform trust store.
    pub fn ca_cert_pem(mut self, pem: &[u8]) -> Self {
        self.ca_pems.push(pem.to_vec());
        self
    }

    /// Whether to trust the platform's CA store (default true); tests turn it off.
    pub fn platform_roots(mut self, yes: bool) -> Self {
        self.platform_roots = yes;
        self
    }

    /// Disables TLS certificate and host name verification. Logged as a warning when built.
    pub fn insecure(mut self, yes: bool) -> Self {
        self.insecure = yes;
        self
    }

    /// Message encryption mode (default [`Encryption::Auto`]: over HTTP only).
    pub fn encryption(mut self, mode: Encryption) -> Self {
        self.encryption = mode;
        self
    }

    /// `w:OperationTimeout` (default 60 s). The HTTP read timeout follows it (5 s above).
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }

    /// The HTTP read timeout; must be strictly above the operation timeout.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = Some(d);
        self
    }

    /// TCP + TLS connect timeout (default 30 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// `w:MaxEnvelopeSize` in bytes (default 512000); replies above twice this plus 64 KiB are
    /// refused.
    pub fn max_envelope_size(mut self, n: u32) -> Self {
        self.max_envelope_size = n;
        self
    }

    /// Kerberos/NTLM service principal: service class (default `HTTP`) and host (default: the
    /// endpoint's host).
    pub fn spn(mut self, service: &str, host: Option<&str>) -> Self {
        self.spn_service = service.to_owned();
        self.spn_host = host.map(str::to_owned);
        self
    }

    /// Proxy selection (default: environment). Loopback endpoints never use a proxy.
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Records every exchange, decrypted, into `dir` (see the crate documentation);
    /// `scrub_hosts` replaces the endpoint's host name with [`SCRUBBED_HOST`].
    pub fn record(mut self, dir: PathBuf, scrub_hosts: bool) -> Self {
        self.record = Some((dir, scrub_hosts));
        self
    }

    /// Number of sessions (authenticated connections) for parallel requests (default 1).
    pub fn sessions(mut self, n: usize) -> Self {
        self.sessions = n.max(1);
        self
    }

    /// Retries of idempotent requests (Identify, Get, Enumerate, Release) on connection errors
    /// and `w:TimedOut` faults (default 2), with exponential backoff from `backoff`. A Pull is
    /// retried the same way only when it was certainly not sent (connect failed) or on a
    /// `w:TimedOut` fault; a Pull whose reply was lost is not re-sent (see
    /// [`ClientBuilder::enumeration_restarts`]).
    pub fn retries(mut self, n: u32, backoff: Duration) -> Self {
        self.retries = n;
        self.retry_backoff = backoff;
        self
    }

    /// How many times an enumeration ([`Client::enumerate`], [`Client::enumerate_stream`])
    /// restarts after a Pull whose reply was lost (default [`DEFAULT_ENUMERATION_RESTARTS`]);
    /// `0` fails at the first lost reply with [`Error::EnumerationInterrupted`].
    pub fn enumeration_restarts(mut self, n: u32) -> Self {
        self.enumeration_restarts = n;
        self
    }

    /// `MaxElements` of every Enumerate and Pull that does not set its own (default
    /// [`default_page_size`] of the MaxEnvelopeSize). The host may return fewer items per page
    /// (to fit MaxEnvelopeSize, or its MaxBatchItems); pages of any size are handled. Lower it
    /// for a host whose MaxBatchItems was set below the default.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// `w:Locale`/`p:DataLocale` (default `en-US`; `None` omits them).
    pub fn locale(mut self, locale: Option<&str>) -> Self {
        self.locale = locale.map(str::to_owned);
        self
    }

    /// Checks the options and builds the client. No connection is made yet.
    pub fn build(mut self) -> Result<Client, Error> {
        let (url, https, host) = self.parse_endpoint()?;
        let auth = self
            .auth
            .take()
            .ok_or_else(|| Error::Config("no authentication method given".to_owned()))?;
        self.check_auth(&auth, https)?;
        self.check_limits()?;
        let host_header = session::host_header(&url)?;
        let encrypt = self.resolve_encryption(&auth, https)?;
        let tls = self.tls_config(&auth, https)?;
        let recorder = self.recorder(&auth, &host)?;
        let log_scrub = Scrub::new(false, &host, secrets(&auth));
        let sessions = self.sessions;
        let endpoint = self.endpoint.clone();
        let cfg = self.into_config(auth, host.clone(), tls);
        let (sessions, guards) = open_sessions(&cfg, sessions)?;
        Ok(Client {
            inner: Arc::new(Inner {
                cfg,
                endpoint,
                url,
                host_header,
                host,
                https,
                encrypt,
                recorder,
                log_scrub,
                sessions,
                guards,
                next: AtomicUsize::new(0),
                fallback_warned: AtomicBool::new(false),
                gssapi_logged: AtomicBool::new(false),
            }),
        })
    }

    /// The endpoint URL, whether it is HTTPS, and its host (IPv6 without brackets).
    fn parse_endpoint(&self) -> Result<(reqwest::Url, bool, String), Error> {
        let url = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| Error::Config(format!("endpoint {:?}: {e}", self.endpoint)))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            s => return Err(Error::Config(format!("endpoint scheme {s:?}: use http or https"))),
        };
        let host = url
            .host_str()
            .ok_or_else(|| Error::Config(format!("endpoint {:?} has no host", self.endpoint)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok((url, https, host))
    }

    /// Refuses authentication that would expose credentials or cannot work on this scheme.
    fn check_auth(&self, auth: &AuthMethod, https: bool) -> Result<(), Error> {
        match auth {
            AuthMethod::Basic { .. } if !https => {
                return Err(Error::Config(
                    "Basic authentication sends the password in the clear; it is only allowed over HTTPS"
                        .to_owned(),
                ))
            }
            AuthMethod::Certificate { .. } if !https => {
                return Err(Error::Config(
                    "certificate authentication needs an https endpoint".to_owned(),
                ))
            }
            _ => {}
        }
        if self.encryption == Encryption::Always && !auth.is_gss() {
            return Err(Error::Config(format!(
                "message encryption needs Negotiate, NTLM or Kerberos, not {}",
                auth.scheme_name()
            )));
        }
        Ok(())
    }

    /// Refuses a read timeout at or below the operation timeout and a too small envelope.
    fn check_limits(&self) -> Result<(), Error> {
        if let Some(rt) = self.read_timeout {
            if rt <= self.operation_timeout {
                return Err(Error::Config(format!(
                    "the read timeout ({rt:?}) must be above the operation timeout ({:?})",
                    self.operation_timeout
                )));
            }
        }
        if self.max_envelope_size < 8192 {
            return Err(Error::Config(
                "MaxEnvelopeSize below 8192 bytes is not accepted by WinRM".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether every message is sealed; warns when plain HTTP goes unencrypted, and refuses
    /// `insecure` for an `http://` endpoint.
    fn resolve_encryption(&self, auth: &AuthMethod, https: bool) -> Result<bool, Error> {
        let encrypt = session::needs_encryption(self.encryption, auth, https);
        if !https && auth.is_gss() && !encrypt {
            tracing::warn!(
                endpoint = %self.endpoint,
                "message encryption is OFF over plain HTTP: SOAP bodies travel in the clear (needs AllowUnencrypted=true on the host)"
            );
        }
        if self.insecure && !https {
            return Err(Error::Config(
                "insecure only applies to https endpoints".to_owned(),
            ));
        }
        Ok(encrypt)
    }

    /// The rustls configuration: trust roots, `insecure`, the client certificate.
    fn tls_config(&self, auth: &AuthMethod, https: bool) -> Result<rustls::ClientConfig, Error> {
        let client_cert = match auth {
            AuthMethod::Certificate { cert_pem, key_pem } => {
                Some((cert_pem.as_slice(), key_pem.expose().as_bytes()))
            }
            _ => None,
        };
        tls::client_config(&tls::TlsOptions {
            ca_pems: &self.ca_pems,
            insecure: self.insecure,
            client_cert,
            native_roots: https && self.platform_roots,
        })
    }

    /// The recorder, when recording, with the configured password among the secrets it strips.
    fn recorder(&self, auth: &AuthMethod, host: &str) -> Result<Option<Recorder>, Error> {
        let Some((dir, scrub)) = &self.record else {
            return Ok(None);
        };
        Ok(Some(Recorder::new(dir.clone(), *scrub, host, secrets(auth))?))
    }

    /// The resolved configuration the sessions share.
    fn into_config(self, auth: AuthMethod, host: String, tls: rustls::ClientConfig) -> Config {
        Config {
            auth,
            host,
            operation_timeout: self.operation_timeout,
            read_timeout: self.read_timeout,
            connect_timeout: self.connect_timeout,
            max_envelope_size: self.max_envelope_size,
            spn_service: self.spn_service,
            spn_host: self.spn_host,
            proxy: self.proxy,
            tls: Some(tls),
            retries: self.retries,
            retry_backoff: self.retry_backoff,
            locale: self.locale,
            enumeration_restarts: self.enumeration_restarts,
            page_size: self
                .page_size
                .unwrap_or_else(|| default_page_size(self.max_envelope_size)),
        }
    }
}

/// The configured password, which recordings and the body log (`trace` level) strip.
fn secrets(auth: &AuthMethod) -> Vec<Zeroizing<String>> {
    let secret = match auth {
        AuthMethod::Ntlm { password, .. } | AuthMethod::Basic { password, .. } => Some(password),
        AuthMethod::Negotiate {
            password: Some(p), ..
        }
        | AuthMethod::Kerberos {
            password: Some(p), ..
        } => Some(p),
        _ => None,
    };
    secret
        .map(|p| Zeroizing::new(p.expose().to_owned()))
        .into_iter()
        .collect()
}

/// `n` sessions (no connection yet) and their connection guards.
#[allow(clippy::type_complexity)]
fn open_sessions(
    cfg: &Config,
    n: usize,
) -> Result<(Vec<tokio::sync::Mutex<Session>>, Vec<Arc<ConnGuard>>), Error> {
    let mut sessions = Vec::with_capacity(n);
    let mut guards = Vec::with_capacity(n);
    for i in 0..n {
        let s = Session::new(cfg, i)?;
        guards.push(s.guard());
        sessions.push(tokio::sync::Mutex::new(s));
    }
    Ok((sessions, guards))
}
