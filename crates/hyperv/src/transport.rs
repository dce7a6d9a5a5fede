//! What the domain needs from a WS-Management transport: the [`Wsman`] trait.
//!
//! The workflow is sans-IO in the sense of the rest of the core tier: every request, every
//! sleep and every clock read goes through this trait, so tests drive the whole workflow with an
//! in-memory fake that answers instantly and counts calls. `hvctl` implements it over
//! `winrm_client::Client` and tokio's timer.

use std::future::Future;
use std::time::{Duration, Instant};

use wsman_soap::{Enumerate, Fault, Instance, Item, MethodOutput, SelectorSet, Value};

/// A WS-Management session to one Hyper-V host, as the domain uses it.
///
/// Methods return futures that are `Send`, so the workflow functions can run on a
/// multi-threaded runtime (one task per host). Implementations may write the methods as
/// `async fn`.
///
/// # Contract for implementations
/// - [`Wsman::get`] and [`Wsman::enumerate`] are idempotent; the implementation may retry them.
/// - [`Wsman::invoke`] is **not** idempotent (ARCHITECTURE.md, "Architecture invariants"): it must be sent at most
///   once. If the request may have reached the server but no reply was read (connection drop
///   after sending, reply timeout), return [`TransportError::OutcomeUnknown`], never resend.
/// - A SOAP fault in the reply is [`TransportError::Fault`], with the parsed fault.
/// - [`Wsman::enumerate`] pulls to the end of the sequence and returns every item.
pub trait Wsman {
    /// The host name this session talks to, as the user named it (used in messages and reports).
    fn host(&self) -> &str;

    /// WS-Transfer Get of one instance ([DSP0226 §7.3]).
    fn get(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
    ) -> impl Future<Output = Result<Instance, TransportError>> + Send;

    /// WS-Enumeration Enumerate + Pull to the end ([DSP0226 §8]).
    fn enumerate(
        &self,
        resource_uri: &str,
        request: &Enumerate,
    ) -> impl Future<Output = Result<Vec<Item>, TransportError>> + Send;

    /// Invoke of a WMI method ([MS-WSMV 4.1.4]); the reply's `{Method}_OUTPUT`.
    fn invoke(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> impl Future<Output = Result<MethodOutput, TransportError>> + Send;

    /// Waits for `d` (job polling backoff). Fakes return at once and advance their clock.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;

    /// The current monotonic time (job timeouts and durations in reports).
    fn now(&self) -> Instant;
}

/// Why a request did not produce a reply the domain can use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server answered with a SOAP fault.
    #[error("{}", .0.summary())]
    Fault(Box<Fault>),
    /// The request may have reached the server, but no reply was read: whether it ran is
    /// unknown. Only meaningful for invokes; the caller must not resend.
    #[error("no reply after the request was sent: {detail}")]
    OutcomeUnknown {
        /// What happened (connection reset after sending, reply timeout, ...).
        detail: String,
    },
    /// Authentication failed or credentials were refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// No reply in time, and the request was not a non-idempotent invoke that may have run.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection could not be made or broke before the request was sent.
    #[error("connection failed: {0}")]
    Connection(String),
    /// Anything else (a malformed reply, TLS setup, a size limit).
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// The SOAP fault, when the server answered with one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            TransportError::Fault(f) => Some(f),
            _ => None,
        }
    }
}

impl From<Fault> for TransportError {
    fn from(f: Fault) -> Self {
        TransportError::Fault(Box::new(f))
    }
}
