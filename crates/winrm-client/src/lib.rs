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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use wsman_soap::{
    EnumerationPage, IdentifyResponse, Instance, Item, Limits, MethodOutput, RequestHeader, ResponseBody,
    SelectorSet, Value,
};

use crate::config::Config;
pub use crate::config::{AuthMethod, ClientBuilder, Encryption, Password, ProxyConfig};
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
    /// What the body log (`trace` level) strips: the configured password.
    pub(crate) log_scrub: record::Scrub,
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

/// The page size asked for when a request names none: as many items as could fit one
/// envelope of `max_envelope_size` bytes, at most [`DEFAULT_MAX_BATCH_ITEMS`], at least 1.
/// WS-Enumeration's own default is **one** item per response ([DSP0226 §8.2.3] `MaxElements`,
/// [WS-Enumeration §3.2]): a host that follows it answers a listing of N VMs in N round trips.
pub fn default_page_size(max_envelope_size: u32) -> u32 {
    (max_envelope_size / MIN_ITEM_BYTES).clamp(1, DEFAULT_MAX_BATCH_ITEMS)
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
