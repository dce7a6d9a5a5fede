//! One session: a reqwest client with a single pinned keep-alive connection, its security
//! context, the 401 handshake, message sealing and the send/receive of one exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST,
    LOCATION, USER_AGENT, WWW_AUTHENTICATE,
};
use tokio::time::Sleep;
use winrm_auth::{ClientAuth, SessionSecurity, Step};
use wsman_soap::SelectorSet;
use zeroize::Zeroizing;

use crate::config::{AuthMethod, Config, Encryption};
use crate::error::{auth_hint, BoxError};
use crate::guard::{is_connection_lost, ConnGuard, GuardLayer};
use crate::{Error, Inner};

/// The WS-Man security profile header value for TLS client certificate authentication
/// ([DSP0226 §C.3.5] `https/mutual`).
const MUTUAL_PROFILE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";
const MAX_HANDSHAKE_LEGS: usize = 6;

type Rng = Box<dyn FnMut(&mut [u8]) + Send>;

/// What the caller knows about the request being sent (borrowed from the call's arguments;
/// copied only into an [`Error::OutcomeUnknown`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'a> {
    /// Short name: Identify, Get, Put, Enumerate, Pull, Release or the method name.
    pub(crate) name: &'a str,
    pub(crate) resource_uri: &'a str,
    pub(crate) selectors: &'a SelectorSet,
    /// When the request may be sent again.
    pub(crate) resend: Resend,
}

/// When a request may be sent a second time.
///
/// Three cases are told apart: the request was certainly not executed (the pinned connection
/// was gone before anything was written, the connect failed, or the server answered 401 to
/// it); the request may have been executed and its reply was lost (the connection broke after
/// sending, the read timeout); or the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Idempotent (Identify, Get, Enumerate, Release): sent again whenever the reply is lost.
    Always,
    /// Sent again only when the server certainly did not execute it. A Pull advances the
    /// enumeration on the server ([DSP0226 §8.4]), so re-sending it after a lost reply would
    /// return the next page and skip one: a lost reply is [`Error::OutcomeUnknown`] instead,
    /// and the enumeration stream restarts (see `enumerate.rs`).
    IfNotExecuted,
    /// Not idempotent (Invoke, Put): sent again only when nothing of it was written (the
    /// pinned connection was gone); not after a 401, not after a failed connect.
    OnlyIfNotWritten,
}

impl Op<'_> {
    /// The error for a request that may have been executed and whose reply cannot be used.
    fn outcome_unknown(&self, sent_at: SystemTime, detail: String) -> Error {
        Error::OutcomeUnknown {
            resource_uri: self.resource_uri.to_owned(),
            method: self.name.to_owned(),
            selectors: self
                .selectors
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            sent_at,
            detail,
        }
    }
}

/// What one exchange has used of its bounded second chances.
#[derive(Debug, Default)]
struct Attempts {
    /// The one re-authentication after a 401.
    reauthenticated: bool,
    /// Times the pinned connection was gone before the request was written.
    lost: u32,
    /// The one re-send of an idempotent request after its reply failed its integrity check.
    integrity_retried: bool,
}

/// Why a reply could not be unsealed.
enum Unsealed {
    /// It failed its integrity check (the connection and the context are dropped).
    Integrity(winrm_auth::Error),
    /// Anything else: the error to return.
    Refused(Error),
}

/// A reply that came back, decrypted.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

enum State {
    /// No context (yet, or lost).
    Fresh,
    /// Authenticated (or using per-request Basic / certificate auth).
    Ready {
        security: Option<Box<dyn SessionSecurity>>,
    },
}

/// One authenticated connection to the endpoint.
pub(crate) struct Session {
    pub(crate) index: usize,
    http: reqwest::Client,
    guard: Arc<ConnGuard>,
    state: State,
    pub(crate) handshakes: u64,
    /// `http` is a new client that has opened no connection yet ([`Session::drop_connection`]).
    new_pool: bool,
    /// The last sealed content type and its header value: the framing repeats the same one, so
    /// the header value is validated and copied once, then shared.
    content_type: Option<(String, HeaderValue)>,
    /// The HTTP read timeout (see [`Session::arm_timer`]).
    read_timeout: Duration,
    /// The read timer, kept between requests on the runtime that created it.
    timer: Option<(tokio::runtime::Id, Pin<Box<Sleep>>)>,
}

/// The request headers that vary; `Accept-Encoding` and `User-Agent` are static.
#[derive(Default)]
struct ReqHeaders {
    content_type: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
}

struct HttpReply {
    status: u16,
    headers: HeaderMap,
    peer_cert: Option<Vec<u8>>,
    body: Bytes,
}

impl HttpReply {
    fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn www_authenticate(&self) -> Vec<&str> {
        self.headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect()
    }

    fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// The error for a 3xx: WinRM requests are never redirected (a sealed request belongs to
    /// the connection and context it was sealed for, and a redirected Invoke could run twice).
    fn redirect_error(&self) -> Error {
        let target = self
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| "no Location header".to_owned(), |l| format!("to {l}"));
        Error::Http {
            status: self.status,
            detail: format!(
                "the server redirected the request ({target}); WinRM requests are not redirected, \
                 check the endpoint URL"
            ),
        }
    }
}

enum SendError {
    /// The pinned connection is gone; nothing was written.
    Lost,
    /// Certainly not sent (connect or TLS failure).
    NotSent(Error),
    /// Sent (or possibly sent) but no complete reply.
    MaybeSent {
        timeout: bool,
        detail: String,
        source: Option<BoxError>,
    },
    /// The reply is over the cap.
    TooLarge(usize),
}

/// The request headers for a body of `content_type`: per-request `Authorization` for Basic
/// and certificate authentication (the GSS schemes authenticate the connection instead).
fn request_headers(auth: &AuthMethod, content_type: HeaderValue) -> Result<ReqHeaders, Error> {
    let authorization = match auth {
        AuthMethod::Basic { user, password } => {
            let raw = Zeroizing::new(format!("{user}:{}", password.expose()));
            let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()));
            let value = Zeroizing::new(format!("Basic {}", b64.as_str()));
            Some(HeaderValue::from_str(&value).map_err(|_| {
                Error::Config("the Basic credentials do not fit in an HTTP header".to_owned())
            })?)
        }
        AuthMethod::Certificate { .. } => Some(HeaderValue::from_static(MUTUAL_PROFILE)),
        _ => None,
    };
    Ok(ReqHeaders {
        content_type: Some(content_type),
        authorization,
    })
}

/// The session's reqwest client: HTTP/1.1, a pool of one idle connection, no retries, no
/// redirects, and the connection guard as its connector layer.
fn http_client(cfg: &Config, guard: &Arc<ConnGuard>) -> Result<reqwest::Client, Error> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(None)
        .connect_timeout(cfg.connect_timeout)
        // No reqwest read timeout: `post` applies `read_timeout` with one reusable timer.
        // No retries (and no copy of each request kept for one), no redirects.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .redirect(reqwest::redirect::Policy::none())
        .connector_layer(GuardLayer(guard.clone()));
    if let Some(tls) = &cfg.tls {
        b = b.tls_backend_preconfigured(tls.clone()).tls_info(true);
    }
    b = crate::proxy::apply(b, &cfg.proxy, &cfg.host)?;
    b.build()
        .map_err(|e| Error::Config(format!("http client: {}", e.without_url())))
}

impl Session {
    pub(crate) fn new(inner_cfg: &Config, index: usize) -> Result<Session, Error> {
        let guard = Arc::new(ConnGuard::default());
        let http = http_client(inner_cfg, &guard)?;
        Ok(Session {
            index,
            http,
            guard,
            state: State::Fresh,
            handshakes: 0,
            new_pool: false,
            content_type: None,
            read_timeout: inner_cfg.read_timeout(),
            timer: None,
        })
    }

    /// The header value for a sealed content type (cached: it repeats).
    fn content_type_value(&mut self, ct: &str) -> Result<HeaderValue, Error> {
        if let Some((s, v)) = &self.content_type {
            if s == ct {
                return Ok(v.clone());
            }
        }
        let v = HeaderValue::from_str(ct)
            .map_err(|_| Error::Config("invalid content-type header value".to_owned()))?;
        self.content_type = Some((ct.to_owned(), v.clone()));
        Ok(v)
    }

    fn reset(&mut self) {
        self.state = State::Fresh;
        self.guard.unpin();
    }

    /// Sends one SOAP request and returns the decrypted reply. Re-authenticates once on a 401
    /// (and re-sends only requests whose [`Resend`] allows it); never re-sends a request that
    /// may have been executed unless it is idempotent ([`Resend::Always`]).
    pub(crate) async fn exchange(&mut self, inner: &Inner, soap: &str, op: &Op<'_>) -> Result<Reply, Error> {
        let mut attempts = Attempts::default();
        loop {
            if matches!(self.state, State::Fresh) {
                self.establish(inner).await?;
            }
            let (content_type, body) = self.seal_request(soap)?;
            let headers = request_headers(&inner.cfg.auth, content_type)?;
            let sent_at = SystemTime::now();
            let started = Instant::now();
            tracing::debug!(session = self.index, op = %op.name, bytes = body.len(), "sending request");
            if tracing::enabled!(tracing::Level::TRACE) {
                tracing::trace!(session = self.index, op = %op.name, "request body (decrypted):\n{}", inner.log_scrub.apply(soap));
            }
            let reply = match self.post(inner, headers, body, false).await {
                Ok(r) => r,
                Err(e) => {
                    self.after_send_error(inner, op, e, sent_at, &mut attempts)?;
                    continue;
                }
            };
            if reply.status == 401 {
                self.after_unauthorized(inner, op, &mut attempts).await?;
                continue;
            }
            if reply.is_redirect() {
                // The server did not take the request; a sealed message it did not read leaves
                // the sequence numbers out of step, so the next request starts a new context.
                self.reset();
                return Err(reply.redirect_error());
            }
            let status = reply.status;
            match self.open_reply(inner, reply) {
                Ok(plain) => return self.accept_reply(inner, soap, op, status, plain, started),
                Err(Unsealed::Integrity(e)) => {
                    self.after_integrity_failure(inner, op, e, sent_at, &mut attempts)?;
                }
                Err(Unsealed::Refused(e)) => return Err(e),
            }
        }
    }

    /// The request body, sealed on an encrypted session, and its content type.
    fn seal_request(&mut self, soap: &str) -> Result<(HeaderValue, Vec<u8>), Error> {
        let State::Ready { security } = &mut self.state else {
            return Err(Error::protocol("session not established"));
        };
        let Some(sec) = security.as_deref_mut() else {
            return Ok((
                HeaderValue::from_static(SOAP_CONTENT_TYPE),
                soap.as_bytes().to_vec(),
            ));
        };
        let (ct, body) = match winrm_auth::framing::encode(sec, soap.as_bytes()) {
            Ok(sealed) => sealed,
            Err(e) => {
                // Nothing was sent; the context cannot seal (its state is unknown): start over.
                self.reset();
                return Err(Error::protocol_with("sealing the request", e));
            }
        };
        match self.content_type_value(&ct) {
            Ok(v) => Ok((v, body)),
            Err(e) => {
                // The message was sealed (the sequence number moved on): start over.
                self.reset();
                Err(e)
            }
        }
    }

    /// After a request that got no reply: `Ok` to send it again (the pinned connection was gone
    /// before anything was written), otherwise the error to return. The context is dropped.
    fn after_send_error(
        &mut self,
        inner: &Inner,
        op: &Op<'_>,
        e: SendError,
        sent_at: SystemTime,
        attempts: &mut Attempts,
    ) -> Result<(), Error> {
        self.reset();
        match e {
            SendError::Lost => {
                attempts.lost += 1;
                if attempts.lost > 2 {
                    return Err(Error::Connection {
                        endpoint: inner.endpoint.clone(),
                        detail: "the server keeps closing the connection after authentication".to_owned(),
                        source: None,
                    });
                }
                tracing::debug!(
                    session = self.index,
                    "connection closed while idle; re-authenticating"
                );
                Ok(())
            }
            SendError::NotSent(e) => Err(e),
            SendError::TooLarge(limit) => Err(Error::TooLarge { limit }),
            SendError::MaybeSent {
                timeout,
                detail,
                source,
            } => {
                if op.resend != Resend::Always {
                    return Err(op.outcome_unknown(sent_at, detail));
                }
                if timeout {
                    return Err(Error::Timeout(format!(
                        "no reply to {} within the {} s read timeout",
                        op.name,
                        inner.cfg.read_timeout().as_secs()
                    )));
                }
                Err(Error::Connection {
                    endpoint: inner.endpoint.clone(),
                    detail,
                    source,
                })
            }
        }
    }

    /// After a 401 on an authenticated session: `Ok` to send the request again on a new
    /// context (once, and only when its [`Resend`] allows it), otherwise the error to return.
    async fn after_unauthorized(
        &mut self,
        inner: &Inner,
        op: &Op<'_>,
        attempts: &mut Attempts,
    ) -> Result<(), Error> {
        let cfg = &inner.cfg;
        self.reset();
        if !cfg.auth.is_gss() {
            return Err(self.auth_error(cfg, "the server rejected the credentials (HTTP 401)"));
        }
        if attempts.reauthenticated {
            return Err(self.auth_error(cfg, "the server answered 401 again after re-authentication"));
        }
        tracing::info!(session = self.index, op = %op.name, "401 on an authenticated session; re-authenticating once");
        attempts.reauthenticated = true;
        if op.resend == Resend::OnlyIfNotWritten {
            self.establish(inner).await?;
            return Err(self.auth_error(
                cfg,
                &format!(
                    "the server rejected the authenticated session with 401; the session re-authenticated, but \
                     {} is not idempotent and was not re-sent (a 401 means the server did not execute it)",
                    op.name
                ),
            ));
        }
        Ok(())
    }

    /// After a reply that failed its integrity check (the connection and the context are
    /// already dropped): `Ok` to send an idempotent request once more, on a new connection and
    /// context, as after a 401; otherwise the error to return. A request the server may have
    /// executed is never sent again: its outcome is unknown, as when its reply is lost (for a
    /// Pull the enumeration restarts, see `enumerate.rs`).
    fn after_integrity_failure(
        &mut self,
        inner: &Inner,
        op: &Op<'_>,
        e: winrm_auth::Error,
        sent_at: SystemTime,
        attempts: &mut Attempts,
    ) -> Result<(), Error> {
        if op.resend != Resend::Always {
            return Err(op.outcome_unknown(
                sent_at,
                format!(
                    "the reply failed its integrity check ({e}): it was altered in transit (tampering, or a \
                     proxy that rewrites bodies), so what the server did is unknown; the connection and its \
                     security context were dropped"
                ),
            ));
        }
        if attempts.integrity_retried {
            return Err(Error::Integrity {
                endpoint: inner.endpoint.clone(),
                method: op.name.to_owned(),
                detail: "it failed again when sent once more on a new connection and security context"
                    .to_owned(),
                source: Some(Box::new(e)),
            });
        }
        attempts.integrity_retried = true;
        tracing::warn!(
            session = self.index,
            op = %op.name,
            error = %e,
            "a reply failed its integrity check (altered in transit); sending the request once more on a new connection and security context"
        );
        Ok(())
    }

    /// The unsealed reply, logged and recorded.
    fn accept_reply(
        &mut self,
        inner: &Inner,
        soap: &str,
        op: &Op<'_>,
        status: u16,
        plain: Bytes,
        started: Instant,
    ) -> Result<Reply, Error> {
        let elapsed = started.elapsed();
        // `hvctl -v`: one line per WS-Man exchange.
        tracing::info!(
            "{} {} {}: HTTP {status} in {} ms",
            inner.host,
            op.name,
            class_of(op.resource_uri),
            elapsed.as_millis()
        );
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(
                session = self.index,
                op = %op.name,
                "reply body (decrypted):\n{}",
                inner.log_scrub.apply(&String::from_utf8_lossy(&plain))
            );
        }
        if let Some(rec) = &inner.recorder {
            rec.write(op, soap, status, &plain, elapsed, self.is_sealed(), self.index)?;
        }
        Ok(Reply { status, body: plain })
    }

    fn is_sealed(&self) -> bool {
        matches!(&self.state, State::Ready { security: Some(_) })
    }

    /// Decrypts the reply, refusing plaintext where encryption is required. A sealed reply that
    /// cannot be unsealed leaves the sequence numbers out of step (the server sealed a message
    /// this side did not take), so the connection and its context are dropped.
    fn open_reply(&mut self, inner: &Inner, reply: HttpReply) -> Result<Bytes, Unsealed> {
        let State::Ready { security } = &mut self.state else {
            return Err(Unsealed::Refused(Error::protocol("session not established")));
        };
        let Some(sec) = security.as_deref_mut() else {
            return Ok(reply.body);
        };
        let content_type = reply.content_type();
        if winrm_auth::framing::is_encrypted(content_type) {
            let e = match winrm_auth::framing::decode(sec, content_type, &reply.body) {
                Ok(plain) => return Ok(Bytes::from(plain)),
                Err(e) => e,
            };
            self.drop_connection(&inner.cfg);
            return Err(match e {
                // The body's framing is broken: nothing was verified yet.
                winrm_auth::Error::Framing(_) => {
                    Unsealed::Refused(Error::protocol_with("unsealing the reply", e))
                }
                // The signature (or GSS wrap token) did not verify.
                e => Unsealed::Integrity(e),
            });
        }
        let status = reply.status;
        let ct = if content_type.is_empty() {
            "no content type"
        } else {
            content_type
        };
        let e = Error::protocol(format!(
            "the server sent an unencrypted reply (HTTP {status}, {ct}, {} bytes) on an encrypted session; refused",
            reply.body.len()
        ));
        self.reset();
        Err(Unsealed::Refused(e))
    }

    /// Drops the security context and, now, the connection it is bound to: the next request
    /// starts a new handshake on a new connection pool.
    fn drop_connection(&mut self, cfg: &Config) {
        self.reset();
        match http_client(cfg, &self.guard) {
            Ok(http) => {
                // Dropping the old client closes its connection.
                self.http = http;
                self.new_pool = true;
            }
            // `establish` builds the new pool (and reports the error) before the next request.
            Err(e) => tracing::debug!(session = self.index, error = %e, "no new connection pool yet"),
        }
    }

    fn auth_error(&self, cfg: &Config, detail: &str) -> Error {
        let scheme = cfg.auth.scheme_name();
        Error::Auth {
            user: cfg.auth.user_name(),
            scheme: scheme.to_owned(),
            detail: detail.to_owned(),
            hint: auth_hint(scheme),
        }
    }

    /// Sets the session up: the GSS handshake, or nothing for Basic / certificate.
    async fn establish(&mut self, inner: &Inner) -> Result<(), Error> {
        self.reset();
        let cfg = &inner.cfg;
        if !cfg.auth.is_gss() {
            self.state = State::Ready { security: None };
            return Ok(());
        }
        if self.guard.connects() > 0 && !std::mem::take(&mut self.new_pool) {
            // A new context starts on a new pool: the old connection (perhaps still on its way
            // back to the pool after a 401) must not serve any leg of the handshake, or NEGOTIATE
            // and AUTHENTICATE can land on different connections and the server refuses the
            // second. Dropping the old client closes its connections.
            self.http = http_client(cfg, &self.guard)?;
        }
        self.handshakes += 1;
        let mut cert = None;
        if inner.https {
            // Channel binding needs the server certificate before the first token (Kerberos puts
            // it in the authenticator): an anonymous empty POST opens the connection and returns
            // the certificate with its 401.
            let r = self.handshake_post(inner, None).await?;
            self.guard.pin();
            if r.is_redirect() {
                return Err(r.redirect_error());
            }
            cert = r.peer_cert;
            if cert.is_none() {
                return Err(Error::protocol(
                    "the TLS connection did not expose the server certificate",
                ));
            }
        }
        let mut ctx = self.make_context(inner, cert.as_deref())?;
        let scheme = ctx.scheme();
        let mut out = ctx
            .step(None)
            .map_err(|e| self.auth_error(cfg, &format!("starting the handshake: {e}")))?;
        for _ in 0..MAX_HANDSHAKE_LEGS {
            let (token, done) = match out {
                Step::Continue(t) => (Some(t), false),
                Step::Done(t) => (t, true),
            };
            let authorization = match &token {
                Some(t) => Some(
                    HeaderValue::from_str(&format!(
                        "{scheme} {}",
                        base64::engine::general_purpose::STANDARD.encode(t)
                    ))
                    .map_err(|_| Error::Config("invalid Authorization header value".to_owned()))?,
                ),
                None => None,
            };
            let r = self.handshake_post(inner, authorization).await?;
            self.guard.pin();
            if r.is_redirect() {
                return Err(r.redirect_error());
            }
            let www_authenticate = r.www_authenticate();
            let server_token = server_token(&www_authenticate, scheme);
            if r.status == 401 {
                if done || server_token.is_none() {
                    let offered = offered_schemes(&www_authenticate);
                    return Err(self.auth_error(
                        cfg,
                        &format!("the server rejected the credentials (HTTP 401; it offers: {offered})"),
                    ));
                }
                out = ctx
                    .step(server_token.as_deref())
                    .map_err(|e| self.auth_error(cfg, &format!("processing the server's challenge: {e}")))?;
                continue;
            }
            if !(200..300).contains(&r.status) || (!done && server_token.is_none()) {
                // Neither a challenge nor an accepted context: not a WinRM listener.
                return Err(Error::NotWinRm {
                    endpoint: inner.endpoint.clone(),
                    status: r.status,
                });
            }
            // The server accepted. Kerberos: its reply carries the AP-REP that completes our
            // side (mutual authentication); NTLM: nothing more. `finish` checks either.
            ctx.finish(server_token.as_deref())
                .map_err(|e| self.auth_error(cfg, &format!("verifying the server's last token: {e}")))?;
            let security = if inner.encrypt {
                Some(ctx.into_session().ok_or_else(|| {
                    self.auth_error(
                        cfg,
                        "the negotiated context cannot encrypt messages (required over HTTP)",
                    )
                })?)
            } else {
                None
            };
            tracing::debug!(
                session = self.index,
                scheme,
                sealed = security.is_some(),
                "authenticated"
            );
            self.state = State::Ready { security };
            return Ok(());
        }
        Err(self.auth_error(cfg, "the handshake did not finish"))
    }

    fn make_context(&self, inner: &Inner, cert: Option<&[u8]>) -> Result<Box<dyn ClientAuth>, Error> {
        use winrm_auth::{cbt::ChannelBindings, kerberos, negotiate, ntlm};
        let cfg = &inner.cfg;
        let cbt = || -> Result<Option<ChannelBindings>, Error> {
            cert.map(ChannelBindings::tls_server_end_point)
                .transpose()
                .map_err(|e| Error::protocol_with("channel binding from the server certificate", e))
        };
        let rng =
            || -> Rng { Box::new(|buf: &mut [u8]| rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, buf)) };
        let spn_host = cfg.spn_host.clone().unwrap_or_else(|| inner.host.clone());
        let ntlm_config = |cbt: Option<ChannelBindings>| ntlm::ClientConfig {
            workstation: workstation(),
            target_spn: Some(format!("{}/{}", cfg.spn_service, spn_host)),
            channel_bindings: cbt,
            // SIGN and SEAL are needed only when the messages are sealed.
            require_seal: inner.encrypt,
        };
        let kerberos_config = |principal: &Option<String>,
                               password: &Option<crate::Password>,
                               keytab: &Option<std::path::PathBuf>,
                               delegate: bool,
                               cbt: Option<ChannelBindings>| {
            let credentials = match (keytab, password, principal) {
                (Some(path), _, p) => kerberos::KerberosCredentials::Keytab {
                    principal: p.clone(),
                    path: path.clone(),
                },
                (None, Some(pw), Some(p)) if p.contains('@') => kerberos::KerberosCredentials::Password {
                    principal: p.clone(),
                    password: Zeroizing::new(pw.expose().to_owned()),
                },
                _ => kerberos::KerberosCredentials::Default,
            };
            kerberos::KerberosConfig {
                service: cfg.spn_service.clone(),
                hostname: spn_host.clone(),
                delegate,
                channel_bindings: cbt,
                credentials,
                spnego: true,
            }
        };
        let auth_err =
            |e: winrm_auth::Error| self.auth_error(cfg, &format!("creating the security context: {e}"));
        Ok(match &cfg.auth {
            AuthMethod::Ntlm { user, password } => Box::new(ntlm::NtlmClient::new(
                ntlm::Credentials::parse(user, password.expose()),
                ntlm_config(cbt()?),
                rng(),
                filetime_now(),
            )),
            AuthMethod::Negotiate {
                user,
                password,
                keytab,
                delegate,
            } => {
                let krb = kerberos_config(user, password, keytab, *delegate, cbt()?);
                let ntlm = match (user, password) {
                    (Some(u), Some(p)) => {
                        Some((ntlm::Credentials::parse(u, p.expose()), ntlm_config(cbt()?)))
                    }
                    _ => None,
                };
                let ctx =
                    negotiate::negotiate_client(Some(krb), ntlm, rng(), filetime_now()).map_err(auth_err)?;
                match ctx.kerberos_fallback() {
                    Some(reason) => warn_fallback(inner, reason),
                    None => log_gssapi_library(inner),
                }
                ctx
            }
            AuthMethod::Kerberos {
                principal,
                password,
                keytab,
                delegate,
            } => {
                let ctx = kerberos::KerberosClient::new(kerberos_config(
                    principal,
                    password,
                    keytab,
                    *delegate,
                    cbt()?,
                ))
                .map_err(auth_err)?;
                log_gssapi_library(inner);
                Box::new(ctx)
            }
            AuthMethod::Basic { .. } | AuthMethod::Certificate { .. } => {
                return Err(Error::Config(
                    "no security context for Basic or certificate authentication".to_owned(),
                ))
            }
        })
    }

    /// A handshake POST with an empty body; errors are connection or TLS errors.
    async fn handshake_post(
        &mut self,
        inner: &Inner,
        authorization: Option<HeaderValue>,
    ) -> Result<HttpReply, Error> {
        let headers = ReqHeaders {
            content_type: None,
            authorization,
        };
        match self.post(inner, headers, Vec::new(), true).await {
            Ok(r) => Ok(r),
            Err(SendError::NotSent(e)) => Err(e),
            Err(SendError::Lost) => Err(Error::Connection {
                endpoint: inner.endpoint.clone(),
                detail: "the server closed the connection during the authentication handshake".to_owned(),
                source: None,
            }),
            Err(SendError::TooLarge(limit)) => Err(Error::TooLarge { limit }),
            Err(SendError::MaybeSent { timeout: true, .. }) => Err(Error::Timeout(
                "no reply during the authentication handshake".to_owned(),
            )),
            Err(SendError::MaybeSent { detail, source, .. }) => Err(Error::Connection {
                endpoint: inner.endpoint.clone(),
                detail: format!("during the authentication handshake: {detail}"),
                source,
            }),
        }
    }

    /// One POST to the endpoint; reads the whole reply up to the size cap, within the read
    /// timeout (from the start of the request to the reply headers, then between body chunks).
    /// `want_cert` keeps the server certificate of an HTTPS connection (for channel binding).
    async fn post(
        &mut self,
        inner: &Inner,
        headers: ReqHeaders,
        body: Vec<u8>,
        want_cert: bool,
    ) -> Result<HttpReply, SendError> {
        let (runtime, mut timer) = self.arm_timer()?;
        let r = self.post_timed(inner, headers, body, want_cert, &mut timer).await;
        self.timer = Some((runtime, timer));
        r
    }

    /// The read timer, due `read_timeout` from now.
    ///
    /// One `Sleep` per session is reset for every request instead of a new timer per request
    /// (and another per response body, as reqwest's own read timeout does): moving a registered
    /// timer's deadline later is one atomic update in tokio, while a new timer is registered in
    /// and removed from the timer wheel under its lock. A timer belongs to the runtime that
    /// created it, so a session used from another runtime gets a new one.
    fn arm_timer(&mut self) -> Result<(tokio::runtime::Id, Pin<Box<Sleep>>), SendError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| SendError::NotSent(Error::Config("winrm-client needs a tokio runtime".to_owned())))?
            .id();
        let deadline = deadline_after(self.read_timeout);
        match self.timer.take() {
            Some((id, mut sleep)) if id == runtime => {
                sleep.as_mut().reset(deadline);
                Ok((runtime, sleep))
            }
            _ => Ok((runtime, Box::pin(tokio::time::sleep_until(deadline)))),
        }
    }

    async fn post_timed(
        &mut self,
        inner: &Inner,
        headers: ReqHeaders,
        body: Vec<u8>,
        want_cert: bool,
        timer: &mut Pin<Box<Sleep>>,
    ) -> Result<HttpReply, SendError> {
        let mut req = reqwest::Request::new(reqwest::Method::POST, inner.url.clone());
        let h = req.headers_mut();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hvctl-winrm-client/", env!("CARGO_PKG_VERSION"))),
        );
        if body.is_empty() {
            h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        if let Some(ct) = headers.content_type {
            h.insert(CONTENT_TYPE, ct);
        }
        if let Some(mut auth) = headers.authorization {
            auth.set_sensitive(true);
            h.insert(AUTHORIZATION, auth);
        }
        // The two headers reqwest and hyper would add (reqwest's default `Accept`, hyper's `Host`
        // formatted from the URI for every request), in the same order, built once.
        h.insert(ACCEPT, HeaderValue::from_static("*/*"));
        h.insert(HOST, inner.host_header.clone());
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(
                session = self.index,
                "POST {}\n{}",
                inner.url,
                headers_for_log(req.headers())
            );
        }
        *req.body_mut() = Some(reqwest::Body::from(body));
        let mut resp = match within(timer, self.http.execute(req)).await {
            Some(r) => r.map_err(|e| self.classify(inner, e, false))?,
            None => return Err(read_timed_out(inner)),
        };
        let status = resp.status().as_u16();
        let cap = inner.cfg.response_cap();
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(SendError::TooLarge(cap));
        }
        let headers = std::mem::take(resp.headers_mut());
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(
                session = self.index,
                "HTTP {status}\n{}",
                headers_for_log(&headers)
            );
        }
        let peer_cert = if want_cert {
            resp.extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|i| i.peer_certificate())
                .map(<[u8]>::to_vec)
        } else {
            None
        };
        // Usually the whole body is one chunk: keep it as is; join only when there are more.
        let mut first: Option<Bytes> = None;
        let mut joined: Vec<u8> = Vec::new();
        let mut total = 0usize;
        loop {
            timer.as_mut().reset(deadline_after(self.read_timeout));
            let chunk = match within(timer, resp.chunk()).await {
                Some(Ok(Some(chunk))) => chunk,
                Some(Ok(None)) => break,
                Some(Err(e)) => return Err(self.classify(inner, e, true)),
                None => return Err(read_timed_out(inner)),
            };
            total = total.saturating_add(chunk.len());
            if total > cap {
                return Err(SendError::TooLarge(cap));
            }
            if first.is_none() && joined.is_empty() {
                first = Some(chunk);
            } else {
                if let Some(f) = first.take() {
                    joined.reserve(resp.content_length().map_or(0, |n| n as usize).max(total));
                    joined.extend_from_slice(&f);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        Ok(HttpReply {
            status,
            headers,
            peer_cert,
            body: first.unwrap_or_else(|| Bytes::from(joined)),
        })
    }

    fn classify(&self, inner: &Inner, e: reqwest::Error, reading_body: bool) -> SendError {
        let e = e.without_url();
        if is_connection_lost(&e) {
            return SendError::Lost;
        }
        if !reading_body && e.is_connect() {
            if let Some(tls) = find_source::<rustls::Error>(&e) {
                return SendError::NotSent(Error::Tls {
                    endpoint: inner.endpoint.clone(),
                    detail: crate::tls::describe(tls),
                    source: Some(Box::new(e)),
                });
            }
            if e.is_timeout() {
                return SendError::NotSent(Error::Timeout(format!(
                    "connecting to {} took longer than {} s",
                    inner.endpoint,
                    inner.cfg.connect_timeout.as_secs_f32()
                )));
            }
            let detail = chain(&e);
            return SendError::NotSent(Error::Connection {
                endpoint: inner.endpoint.clone(),
                detail,
                source: Some(Box::new(e)),
            });
        }
        let timeout = e.is_timeout();
        let detail = if timeout {
            format!(
                "no reply within the read timeout ({} s)",
                inner.cfg.read_timeout().as_secs()
            )
        } else {
            format!("the connection broke after the request was sent: {}", chain(&e))
        };
        SendError::MaybeSent {
            timeout,
            detail,
            source: Some(Box::new(e)),
        }
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        // io::Error::source() skips the wrapped error itself; look inside.
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if let Some(t) = find_source::<T>(inner) {
                return Some(t);
            }
        }
        cur = err.source();
    }
    None
}

/// The error and its sources joined with ": " (the innermost is usually the useful part).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// `fut`'s output, or `None` when `timer` fires first.
async fn within<F: Future>(timer: &mut Pin<Box<Sleep>>, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// `now + d`, or far in the future when that overflows.
fn deadline_after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The read timeout expired: the request was (or may have been) sent.
fn read_timed_out(inner: &Inner) -> SendError {
    SendError::MaybeSent {
        timeout: true,
        detail: format!(
            "no reply within the read timeout ({} s)",
            inner.cfg.read_timeout().as_secs()
        ),
        source: None,
    }
}

/// The token the server sent for `scheme` in its `WWW-Authenticate` headers.
fn server_token(values: &[&str], scheme: &str) -> Option<Vec<u8>> {
    winrm_auth::www_authenticate::parse(values)
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case(scheme))
        .and_then(|c| c.token)
}

fn offered_schemes(values: &[&str]) -> String {
    let names: Vec<String> = winrm_auth::www_authenticate::parse(values)
        .into_iter()
        .map(|c| c.scheme)
        .collect();
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

/// Current time as a Windows FILETIME (100 ns ticks since 1601-01-01), for NTLMv2.
fn filetime_now() -> u64 {
    winrm_auth::ntlm::filetime(SystemTime::now())
}

/// Logs, once per client (so once per host), that Negotiate fell back from Kerberos to NTLM,
/// and why: NTLM does not authenticate the server, so the user should know, and can forbid
/// the fallback with Kerberos-only authentication (`AuthMethod::Kerberos`, hvctl's
/// `--auth kerberos`).
fn warn_fallback(inner: &Inner, reason: &winrm_auth::Error) {
    if !inner
        .fallback_warned
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            "kerberos could not be used for {}, so negotiate fell back to ntlm, which does not \
             authenticate the server (no mutual authentication): {reason}; use kerberos-only \
             authentication (hvctl --auth kerberos) to forbid the fallback",
            inner.host
        );
    }
}

/// Logs (at info level, shown by hvctl's `-v`), once per client, which GSSAPI library
/// Kerberos runs on. The library is already loaded: the call only reads the process-wide cache.
fn log_gssapi_library(inner: &Inner) {
    if let Ok(lib) = winrm_auth::gssapi::Library::system() {
        if !inner
            .gssapi_logged
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::info!(host = %inner.host, library = lib.path(), "kerberos through the system gssapi library");
        }
    }
}

/// The NetBIOS-style name of this machine, sent in NTLM messages.
fn workstation() -> String {
    // gethostname(3) on Unix (Linux and macOS alike), GetComputerNameExW on Windows.
    let name = gethostname::gethostname();
    let short = name
        .to_string_lossy()
        .trim()
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if short.is_empty() {
        "HVCTL".to_owned()
    } else {
        short.chars().take(15).collect()
    }
}

/// The `Host` header for requests to `url` ([RFC 9110 §7.2]): the host as the URL spells it
/// (IPv6 in brackets) and the port unless it is the scheme's default; the value hyper would
/// otherwise format for every request.
pub(crate) fn host_header(url: &reqwest::Url) -> Result<HeaderValue, Error> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::Config(format!("endpoint {url} has no host")))?;
    let value = match url.port() {
        Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
        None => HeaderValue::from_str(host),
    };
    value.map_err(|_| Error::Config(format!("endpoint host {host:?} is not a valid Host header")))
}

/// True when `mode` with `auth` over this scheme means sealing every message.
pub(crate) fn needs_encryption(mode: Encryption, auth: &AuthMethod, https: bool) -> bool {
    auth.is_gss()
        && match mode {
            Encryption::Always => true,
            Encryption::Auto => !https,
            Encryption::Never => false,
        }
}

impl Session {
    /// The connection guard (for connection counts).
    pub(crate) fn guard(&self) -> Arc<ConnGuard> {
        self.guard.clone()
    }
}

/// The class a resource URI names, for the `-v` log: its last path segment (`Msvm_ComputerSystem`,
/// `*` for an enumeration of a namespace), `-` for none (Identify).
fn class_of(resource_uri: &str) -> &str {
    match resource_uri.rsplit('/').next() {
        Some(last) if !last.is_empty() => last,
        _ => "-",
    }
}

/// Headers as `name: value` lines for the `-vv` log. Authorization headers and authentication
/// challenges keep their scheme only: the token after it is replaced by its length.
fn headers_for_log(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or("<not text>");
        let shown = if name == AUTHORIZATION
            || name == reqwest::header::PROXY_AUTHORIZATION
            || name == WWW_AUTHENTICATE
            || name == reqwest::header::PROXY_AUTHENTICATE
        {
            match value.split_once(' ') {
                Some((scheme, token)) => format!("{scheme} <redacted, {} bytes>", token.trim().len()),
                None => value.to_owned(),
            }
        } else {
            value.to_owned()
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("  ");
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(&shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> String {
        let url = reqwest::Url::parse(url).unwrap();
        host_header(&url).unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn host_header_matches_the_uri_authority_without_default_ports() {
        assert_eq!(host("http://127.0.0.1:5985/wsman"), "127.0.0.1:5985");
        assert_eq!(
            host("https://HV01.Corp.Example:5986/wsman"),
            "hv01.corp.example:5986"
        );
        assert_eq!(host("http://hv01/wsman"), "hv01");
        assert_eq!(host("http://hv01:80/wsman"), "hv01");
        assert_eq!(host("https://hv01:443/wsman"), "hv01");
        assert_eq!(host("http://hv01:443/wsman"), "hv01:443");
        assert_eq!(host("http://[::1]:5985/wsman"), "[::1]:5985");
        assert_eq!(host("https://[fe80::1]/wsman"), "[fe80::1]");
    }
}
