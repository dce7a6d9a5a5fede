//! Async WinRM (WS-Management) transport on reqwest, rustls and tokio.
#![cfg_attr(doc, doc = include_str!("../README.md"))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod enumerate;
mod error;
mod guard;
mod msgid;
mod proxy;
mod record;
mod session;
mod tls;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use wsman_soap::{
    EnumerationPage, IdentifyResponse, Instance, Item, Limits, MethodOutput, RequestHeader, ResponseBody,
    SelectorSet, Value,
};

pub use crate::config::{AuthMethod, Encryption, Password, ProxyConfig};
pub use crate::error::{BoxError, Error};
use crate::guard::ConnGuard;
use crate::record::Recorder;
pub use crate::record::SCRUBBED_HOST;
use crate::session::{Op, Resend, Session};
pub use wsman_soap::{Enumerate, Fault};

/// Default `w:MaxEnvelopeSize` in bytes.
pub const DEFAULT_MAX_ENVELOPE_SIZE: u32 = 512_000;
/// Windows' default `MaxBatchItems` ([MS-WSMV 2.2.4.10] ConfigType): the most items a host
/// returns in one response, and the most a client should ask for ([MS-WSMAN 3.2.4.1.6]).
pub const DEFAULT_MAX_BATCH_ITEMS: u32 = 32_000;
/// The smallest item an enumeration returns, for bounding the page size by
/// `w:MaxEnvelopeSize`: an EPR-only item is about 600 bytes, so more than one item per 512
/// bytes of envelope can never fit.
const MIN_ITEM_BYTES: u32 = 512;
/// Default `w:OperationTimeout`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Default TCP/TLS connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times an enumeration stream restarts after a lost Pull reply before it gives up
/// with [`Error::EnumerationInterrupted`] (see [`ClientBuilder::enumeration_restarts`]).
pub const DEFAULT_ENUMERATION_RESTARTS: u32 = 1;
/// How far the HTTP read timeout is above OperationTimeout unless set explicitly.
pub const READ_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

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

/// Shared state of a [`Client`] and its clones.
pub(crate) struct Inner {
    pub(crate) cfg: Config,
    /// The endpoint URL as given (for messages and `a:To`).
    pub(crate) endpoint: String,
    pub(crate) url: reqwest::Url,
    /// The `Host` header for `url`, built once (see [`session::host_header`]).
    pub(crate) host_header: reqwest::header::HeaderValue,
    pub(crate) host: String,
    pub(crate) https: bool,
    pub(crate) encrypt: bool,
    pub(crate) recorder: Option<Recorder>,
    sessions: Vec<tokio::sync::Mutex<Session>>,
    guards: Vec<Arc<ConnGuard>>,
    next: AtomicUsize,
    /// Set once Negotiate's fallback from Kerberos to NTLM has been logged (once per client,
    /// i.e. per host, however many sessions or re-authentications follow).
    pub(crate) fallback_warned: AtomicBool,
    /// Set once the GSSAPI library in use has been logged.
    pub(crate) gssapi_logged: AtomicBool,
}

/// A WinRM client for one endpoint: a fixed set of sessions, each owning one authenticated
/// keep-alive connection. Cheap to clone (an `Arc` inside); clones share the sessions.
///
/// Requests are spread over the sessions: a request takes a free session, or waits for one.
/// Use [`ClientBuilder::sessions`] for parallel work to one host; separate clients (one per
/// host) share nothing.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("auth", &self.inner.cfg.auth.scheme_name())
            .field("encrypt", &self.inner.encrypt)
            .field("sessions", &self.inner.sessions.len())
            .finish()
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

/// The page size asked for when a request names none: as many items as could fit one
/// envelope of `max_envelope_size` bytes, at most [`DEFAULT_MAX_BATCH_ITEMS`], at least 1.
/// WS-Enumeration's own default is **one** item per response ([DSP0226 §8.2.3] `MaxElements`,
/// [WS-Enumeration §3.2]): a host that follows it answers a listing of N VMs in N round trips.
pub fn default_page_size(max_envelope_size: u32) -> u32 {
    (max_envelope_size / MIN_ITEM_BYTES).clamp(1, DEFAULT_MAX_BATCH_ITEMS)
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
    pub fn build(self) -> Result<Client, Error> {
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
        let auth = self
            .auth
            .ok_or_else(|| Error::Config("no authentication method given".to_owned()))?;
        match &auth {
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
        let host_header = session::host_header(&url)?;
        let encrypt = session::needs_encryption(self.encryption, &auth, https);
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
        let client_cert = match &auth {
            AuthMethod::Certificate { cert_pem, key_pem } => {
                Some((cert_pem.as_slice(), key_pem.expose().as_bytes()))
            }
            _ => None,
        };
        let tls = tls::client_config(&tls::TlsOptions {
            ca_pems: &self.ca_pems,
            insecure: self.insecure,
            client_cert,
            native_roots: https && self.platform_roots,
        })?;
        let recorder = match &self.record {
            Some((dir, scrub)) => {
                let mut secrets = Vec::new();
                match &auth {
                    AuthMethod::Ntlm { password, .. } | AuthMethod::Basic { password, .. } => {
                        secrets.push(zeroize::Zeroizing::new(password.expose().to_owned()));
                    }
                    AuthMethod::Negotiate {
                        password: Some(p), ..
                    }
                    | AuthMethod::Kerberos {
                        password: Some(p), ..
                    } => {
                        secrets.push(zeroize::Zeroizing::new(p.expose().to_owned()));
                    }
                    _ => {}
                }
                Some(Recorder::new(dir.clone(), *scrub, &host, secrets)?)
            }
            None => None,
        };
        let cfg = Config {
            auth,
            host: host.clone(),
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
        };
        let mut sessions = Vec::with_capacity(self.sessions);
        let mut guards = Vec::with_capacity(self.sessions);
        for i in 0..self.sessions {
            let s = Session::new(&cfg, i)?;
            guards.push(s.guard());
            sessions.push(tokio::sync::Mutex::new(s));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                cfg,
                endpoint: self.endpoint,
                url,
                host_header,
                host,
                https,
                encrypt,
                recorder,
                sessions,
                guards,
                next: AtomicUsize::new(0),
                fallback_warned: AtomicBool::new(false),
                gssapi_logged: AtomicBool::new(false),
            }),
        })
    }
}

impl Client {
    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The endpoint's host name.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// True when every message is sealed (MS-WSMV message encryption).
    pub fn is_encrypted(&self) -> bool {
        self.inner.encrypt
    }

    /// TCP connections opened so far, over all sessions.
    pub fn connections_opened(&self) -> u64 {
        self.inner.guards.iter().map(|g| g.connects()).sum()
    }

    /// [DSP0226 §11] Identify (no addressing headers, so no RelatesTo check).
    pub async fn identify(&self) -> Result<IdentifyResponse, Error> {
        let sel = SelectorSet::new();
        let op = self.op("Identify", "", &sel, Resend::Always);
        match self.call(&op, |_| wsman_soap::identify(), false).await? {
            ResponseBody::Identify(i) => Ok(i),
            other => Err(unexpected("IdentifyResponse", &other)),
        }
    }

    /// [DSP0226 §7.3] Get one instance.
    pub async fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<Instance, Error> {
        let op = self.op("Get", resource_uri, selectors, Resend::Always);
        match self
            .call(
                &op,
                |mid| wsman_soap::get(&self.header(resource_uri, selectors, mid)),
                true,
            )
            .await?
        {
            ResponseBody::Instance(i) => Ok(i),
            other => Err(unexpected("an instance", &other)),
        }
    }

    /// [DSP0226 §7.4] Put (replace) one instance; returns the instance as the server stored it.
    /// Not idempotent for our purposes: never re-sent.
    pub async fn put(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        instance: &Instance,
    ) -> Result<Instance, Error> {
        let op = self.op("Put", resource_uri, selectors, Resend::OnlyIfNotWritten);
        match self
            .call(
                &op,
                |mid| wsman_soap::put(&self.header(resource_uri, selectors, mid), instance),
                true,
            )
            .await?
        {
            ResponseBody::Instance(i) => Ok(i),
            ResponseBody::Empty => Ok(instance.clone()),
            other => Err(unexpected("an instance", &other)),
        }
    }

    /// [DSP0226 §8.2] Enumerate, then Pull until EndOfSequence; returns every item.
    ///
    /// Recovers from a lost Pull reply by restarting the enumeration, as
    /// [`Client::enumerate_stream`] does.
    pub async fn enumerate(&self, resource_uri: &str, e: &Enumerate) -> Result<Vec<Item>, Error> {
        use futures_util::TryStreamExt as _;
        self.enumerate_stream(resource_uri, e).try_collect().await
    }

    /// Enumerate as a stream of items, pulling pages as it is polled. Dropping it before the
    /// end releases the enumeration context on the server (in a background task).
    ///
    /// A Pull advances the enumeration on the server, so a Pull whose reply was lost (the
    /// connection broke after it was sent, or the read timeout) is never sent again with the
    /// same context: that would return the next page and silently skip one. Instead the stream
    /// restarts: it releases the old context (best effort, in the background), sends the same
    /// Enumerate again, skips as many items as it has already yielded and goes on. It restarts
    /// at most [`ClientBuilder::enumeration_restarts`] times (default
    /// [`DEFAULT_ENUMERATION_RESTARTS`]); then, or when the restart itself fails, the stream
    /// ends with [`Error::EnumerationInterrupted`] giving the number of items received.
    ///
    /// The restart assumes the provider returns the instances in the same order each time it
    /// enumerates (WMI providers enumerate a class in their own, stable order; this holds for
    /// the simulator and is assumed, not proven, for Hyper-V's providers) and that the set did
    /// not change in between. If the restarted enumeration has fewer items than were already
    /// yielded, the stream ends with [`Error::EnumerationInterrupted`].
    pub fn enumerate_stream(
        &self,
        resource_uri: &str,
        e: &Enumerate,
    ) -> impl Stream<Item = Result<Item, Error>> + Send + 'static {
        enumerate::stream(self.clone(), resource_uri.to_owned(), e.clone())
    }

    /// The Enumerate request alone (first page, with `optimize`). An optimized Enumerate
    /// without `max_elements` asks for the client's page size ([`ClientBuilder::page_size`]).
    pub async fn enumerate_page(&self, resource_uri: &str, e: &Enumerate) -> Result<EnumerationPage, Error> {
        let paged;
        let e = if e.optimize && e.max_elements.is_none() {
            paged = Enumerate {
                max_elements: Some(self.inner.cfg.page_size),
                ..e.clone()
            };
            &paged
        } else {
            e
        };
        let sel = SelectorSet::new();
        let op = self.op("Enumerate", resource_uri, &sel, Resend::Always);
        match self
            .call(
                &op,
                |mid| wsman_soap::enumerate(&self.header(resource_uri, &sel, mid), e),
                true,
            )
            .await?
        {
            ResponseBody::Enumeration(p) => Ok(p),
            other => Err(unexpected("EnumerateResponse", &other)),
        }
    }

    /// [DSP0226 §8.4] One Pull. Sent again only when it certainly did not reach the server
    /// (connect failed, the authenticated connection was gone before writing, a 401) or after a
    /// `w:TimedOut` fault (no items were returned, the context stays valid); a Pull whose reply
    /// was lost gives [`Error::OutcomeUnknown`], because the server may have advanced the
    /// enumeration past the page that was lost. `None` asks for the client's page size
    /// ([`ClientBuilder::page_size`]), not WS-Enumeration's default of one item.
    pub async fn pull(
        &self,
        resource_uri: &str,
        context: &str,
        max_elements: Option<u32>,
    ) -> Result<EnumerationPage, Error> {
        let max_elements = Some(max_elements.unwrap_or(self.inner.cfg.page_size));
        let sel = SelectorSet::new();
        let op = self.op("Pull", resource_uri, &sel, Resend::IfNotExecuted);
        match self
            .call(
                &op,
                |mid| wsman_soap::pull(&self.header(resource_uri, &sel, mid), context, max_elements),
                true,
            )
            .await?
        {
            ResponseBody::Enumeration(p) => Ok(p),
            other => Err(unexpected("PullResponse", &other)),
        }
    }

    /// [DSP0226 §8.6] Release an enumeration context.
    pub async fn release(&self, resource_uri: &str, context: &str) -> Result<(), Error> {
        let sel = SelectorSet::new();
        let op = self.op("Release", resource_uri, &sel, Resend::Always);
        match self
            .call(
                &op,
                |mid| wsman_soap::release(&self.header(resource_uri, &sel, mid), context),
                true,
            )
            .await?
        {
            ResponseBody::Empty => Ok(()),
            other => Err(unexpected("ReleaseResponse", &other)),
        }
    }

    /// Invokes a CIM method (`{resource_uri}/{method}`) on the instance `selectors` name (or
    /// a static method with no selectors). Sent at most once: a connection lost after sending
    /// gives [`Error::OutcomeUnknown`].
    pub async fn invoke(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> Result<MethodOutput, Error> {
        let op = self.op(method, resource_uri, selectors, Resend::OnlyIfNotWritten);
        let body = self
            .call(
                &op,
                |mid| wsman_soap::invoke(&self.header(resource_uri, selectors, mid), method, params),
                true,
            )
            .await?;
        match body {
            ResponseBody::Instance(i) => MethodOutput::from_instance(i)
                .map_err(|e| Error::protocol_with(format!("{method} output"), e)),
            other => Err(unexpected("a method output", &other)),
        }
    }

    fn op<'a>(
        &self,
        name: &'a str,
        resource_uri: &'a str,
        selectors: &'a SelectorSet,
        resend: Resend,
    ) -> Op<'a> {
        Op {
            name,
            resource_uri,
            selectors,
            resend,
        }
    }

    fn header(&self, resource_uri: &str, selectors: &SelectorSet, message_id: &str) -> RequestHeader {
        let cfg = &self.inner.cfg;
        RequestHeader {
            to: self.inner.endpoint.clone(),
            resource_uri: resource_uri.to_owned(),
            message_id: message_id.to_owned(),
            max_envelope_size: cfg.max_envelope_size,
            operation_timeout: cfg.operation_timeout,
            locale: cfg.locale.clone(),
            selectors: selectors.clone(),
            options: Vec::new(),
        }
    }

    /// Sends a request, with retries for idempotent operations.
    async fn call(
        &self,
        op: &Op<'_>,
        build: impl Fn(&str) -> String,
        check_relates_to: bool,
    ) -> Result<ResponseBody, Error> {
        let cfg = &self.inner.cfg;
        let mut attempt = 0u32;
        loop {
            let message_id = msgid::next();
            let soap = build(&message_id);
            match self.once(op, &soap, &message_id, check_relates_to).await {
                // A Pull's lost reply is `OutcomeUnknown` (not retryable); its connection
                // errors mean the request was not sent.
                Err(e)
                    if op.resend != Resend::OnlyIfNotWritten && attempt < cfg.retries && is_retryable(&e) =>
                {
                    let delay = cfg.retry_backoff.saturating_mul(1 << attempt.min(6));
                    // At info (-v): the final error is reported anyway, so a warning per attempt would
                    // print the same failure up to three times.
                    tracing::info!(op = %op.name, attempt = attempt + 1, ?delay, error = %e, "retrying request");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn once(
        &self,
        op: &Op<'_>,
        soap: &str,
        message_id: &str,
        check_relates_to: bool,
    ) -> Result<ResponseBody, Error> {
        let reply = {
            let mut session = self.session().await;
            session.exchange(&self.inner, soap, op).await?
        };
        let limits = Limits {
            max_bytes: self.inner.cfg.response_cap(),
            ..Limits::default()
        };
        let resp = match wsman_soap::parse_response(&reply.body, &limits) {
            Ok(r) => r,
            Err(e) if reply.status != 200 => {
                return Err(Error::Http {
                    status: reply.status,
                    detail: format!("{} ({e})", snippet(&reply.body)),
                })
            }
            Err(e) => {
                return Err(Error::protocol_with(
                    "the reply is not a valid WS-Management envelope",
                    e,
                ))
            }
        };
        let is_fault = matches!(resp.body, ResponseBody::Fault(_));
        if check_relates_to && (!is_fault || resp.header.relates_to.is_some()) {
            resp.header
                .check_relates_to(message_id)
                .map_err(|e| Error::protocol_with("the reply does not answer the request sent", e))?;
        }
        match resp.body {
            ResponseBody::Fault(f) => Err(Error::Fault(Box::new(f))),
            body if reply.status == 200 => Ok(body),
            _ => Err(Error::Http {
                status: reply.status,
                detail: snippet(&reply.body),
            }),
        }
    }

    /// The first free session in index order, or the next one in turn when all are busy.
    ///
    /// Sequential work therefore stays on session 0 and its one authenticated connection;
    /// sessions 1.. open (and authenticate) only when requests really overlap.
    async fn session(&self) -> tokio::sync::MutexGuard<'_, Session> {
        let sessions = &self.inner.sessions;
        for s in sessions.iter() {
            if let Ok(g) = s.try_lock() {
                return g;
            }
        }
        let n = sessions.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
        sessions[start].lock().await
    }
}

fn is_retryable(e: &Error) -> bool {
    matches!(e, Error::Connection { .. }) || e.fault().is_some_and(Fault::is_timeout)
}

fn unexpected(expected: &str, got: &ResponseBody) -> Error {
    let kind = match got {
        ResponseBody::Fault(_) => "a fault",
        ResponseBody::Identify(_) => "an IdentifyResponse",
        ResponseBody::Instance(_) => "an instance",
        ResponseBody::Enumeration(_) => "an enumeration page",
        ResponseBody::Empty => "an empty body",
        _ => "another kind of body",
    };
    Error::protocol(format!("expected {expected} in the reply, got {kind}"))
}

/// The first bytes of a body, printable characters only.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.trim().is_empty() {
        "empty body".to_owned()
    } else {
        clean.trim().to_owned()
    }
}

#[cfg(test)]
mod page_size_tests {
    use super::*;

    #[test]
    fn the_default_page_is_what_one_envelope_can_hold_within_max_batch_items() {
        assert_eq!(default_page_size(DEFAULT_MAX_ENVELOPE_SIZE), 1000);
        assert_eq!(default_page_size(8192), 16);
        assert_eq!(default_page_size(1_073_741_824), DEFAULT_MAX_BATCH_ITEMS);
        assert_eq!(default_page_size(0), 1);
    }
}
