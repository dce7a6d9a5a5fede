//! The crate's error type.

use std::time::SystemTime;

use wsman_soap::Fault;

/// A boxed error source (never a reqwest or hyper type in the public API).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the WinRM transport.
///
/// Variants are grouped by who is at fault: configuration (ours), TLS/connection/timeouts
/// (network), authentication, protocol violations and faults (the server).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given an invalid or unsafe combination of options.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The server answered with a SOAP fault ([DSP0226 §14]); the fault is structured data.
    #[error("server fault: {}", .0.summary())]
    Fault(Box<Fault>),

    /// Authentication failed (after one re-authentication attempt, if any).
    #[error("authentication as '{user}' with {scheme} failed: {detail}; {hint}")]
    Auth {
        /// The user name as configured (never the password).
        user: String,
        /// The HTTP authentication scheme that was tried.
        scheme: String,
        /// What happened.
        detail: String,
        /// The usual causes for this scheme.
        hint: &'static str,
    },

    /// The TLS handshake failed (untrusted or mismatched certificate, protocol error).
    #[error("tls handshake with {endpoint} failed: {detail}")]
    Tls {
        /// The endpoint URL.
        endpoint: String,
        /// What happened.
        detail: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The server answered the authentication handshake with neither a challenge (401) nor an
    /// accepted context: an HTTP server that is not a WinRM listener (a web server answering
    /// 404 or 200 to `/wsman`). Classified as a connection error ([`Error::is_connection`]).
    #[error("no WinRM listener at {endpoint} (the server answered HTTP {status} to the authentication request, not 401 with a challenge)")]
    NotWinRm {
        /// The endpoint URL.
        endpoint: String,
        /// The HTTP status the server answered.
        status: u16,
    },

    /// A timeout expired (connect, or the HTTP read timeout above OperationTimeout).
    #[error("timed out: {0}")]
    Timeout(String),

    /// The connection could not be made or broke; for non-idempotent requests (Invoke, Put) and
    /// for a Pull this is only returned when the request was certainly not sent.
    #[error("connection to {endpoint} failed: {detail}")]
    Connection {
        /// The endpoint URL.
        endpoint: String,
        /// What happened.
        detail: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// A non-idempotent request (Invoke, Put) was sent but no reply came back: the server may or
    /// may not have executed it. It is never re-sent; check the target's state instead.
    ///
    /// A reply that failed its integrity check ([`Error::Integrity`]) counts as lost: the
    /// detail says so.
    ///
    /// A Pull whose reply was lost also gives this ([`crate::Client::pull`]): the server may
    /// have advanced the enumeration, so the same context is not pulled again. The enumeration
    /// stream and [`crate::Client::enumerate`] recover from it by restarting the enumeration
    /// (see [`Error::EnumerationInterrupted`]).
    #[error("outcome of {method} on {resource_uri} is unknown (sent at {}): {detail}", fmt_time(.sent_at))]
    OutcomeUnknown {
        /// The resource URI the request addressed.
        resource_uri: String,
        /// The method (or `Put`).
        method: String,
        /// The selectors of the target instance.
        selectors: Vec<(String, String)>,
        /// When the request was sent.
        sent_at: SystemTime,
        /// What happened to the connection.
        detail: String,
    },

    /// An enumeration lost the reply to a Pull (the server may have advanced past a page), the
    /// allowed restarts ([`crate::ClientBuilder::enumeration_restarts`]) were used up or the
    /// restart failed: the listing is incomplete. `items` were received before it broke; the
    /// listing should be re-run. Classified as a connection error ([`Error::is_connection`]).
    #[error(
        "enumeration interrupted after {items} item(s) were received: the listing is incomplete, \
         run it again"
    )]
    EnumerationInterrupted {
        /// Items the enumeration yielded before it broke.
        items: usize,
        /// Why the enumeration could not go on (usually [`Error::OutcomeUnknown`] of the Pull).
        #[source]
        source: Box<Error>,
    },

    /// A sealed reply failed its integrity check: its signature ([MS-NLMP 3.4.4], or the
    /// Kerberos wrap token's checksum) does not match its content, so it was altered on the
    /// way (tampering, or a proxy that rewrites bodies). The connection and its security
    /// context were dropped at once; the next request starts a new handshake on a new
    /// connection. An idempotent request (Identify, Get, Enumerate, Release) is sent once more
    /// that way before this is returned; a request the server may have executed (Invoke, Put,
    /// Pull) gives [`Error::OutcomeUnknown`] instead.
    #[error(
        "the reply to {method} from {endpoint} failed its integrity check: it was altered in transit \
         (tampering, or a proxy that rewrites bodies); {detail}"
    )]
    Integrity {
        /// The endpoint URL.
        endpoint: String,
        /// The operation (Identify, Get, Enumerate, Release).
        method: String,
        /// What was done about it.
        detail: String,
        /// The verification error.
        #[source]
        source: Option<BoxError>,
    },

    /// The server's reply violates the protocol (unencrypted reply, bad RelatesTo, bad XML,
    /// unexpected body).
    #[error("protocol error: {detail}")]
    Protocol {
        /// What was wrong.
        detail: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// An HTTP status with a body that is not a SOAP envelope.
    #[error("http status {status}: {detail}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// A short, sanitised description (the first bytes of the body).
        detail: String,
    },

    /// The reply is larger than the size cap derived from MaxEnvelopeSize.
    #[error("reply larger than the {limit}-byte cap derived from MaxEnvelopeSize")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },

    /// Writing a recorded exchange failed.
    #[error("recording exchange to {path}: {source}")]
    Record {
        /// The file that could not be written.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True for connect/read timeouts and for `w:TimedOut` faults.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Fault(f) => f.is_timeout(),
            _ => false,
        }
    }

    /// True when the credentials or the authentication handshake failed.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth { .. })
    }

    /// True for TLS handshake failures (certificate trust, hostname).
    pub fn is_tls(&self) -> bool {
        matches!(self, Error::Tls { .. })
    }

    /// True when `https://` reached a plain HTTP listener (the TLS handshake got an HTTP answer).
    pub fn is_plain_http(&self) -> bool {
        matches!(self, Error::Tls { detail, .. } if detail.starts_with(crate::tls::PLAIN_HTTP))
    }

    /// True for connection failures (refused, reset, lost before sending), for an
    /// enumeration interrupted by a lost Pull reply ([`Error::EnumerationInterrupted`]) and for
    /// an endpoint that is no WinRM listener ([`Error::NotWinRm`]).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. } | Error::EnumerationInterrupted { .. } | Error::NotWinRm { .. }
        )
    }

    /// True when a non-idempotent request may or may not have been executed.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// True when a reply failed its integrity check ([`Error::Integrity`]).
    pub fn is_integrity(&self) -> bool {
        matches!(self, Error::Integrity { .. })
    }

    /// The server's fault, if this is one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault(f) => Some(f),
            _ => None,
        }
    }

    pub(crate) fn protocol(detail: impl Into<String>) -> Self {
        Error::Protocol {
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn protocol_with(detail: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Protocol {
            detail: detail.into(),
            source: Some(source.into()),
        }
    }
}

fn fmt_time(t: &SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("unix {}.{:03}", d.as_secs(), d.subsec_millis()),
        Err(_) => "before 1970".to_owned(),
    }
}

/// The usual causes of an authentication failure for a scheme, for [`Error::Auth`].
pub(crate) fn auth_hint(scheme: &str) -> &'static str {
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => "usual causes: wrong user or password, Basic disabled on the listener (winrm/config/service/auth Basic=false), or a domain account (Basic accepts local accounts only)",
        "kerberos" => "usual causes: no ticket (run kinit), wrong SPN (try --spn-service HTTP/WSMAN/host, use the FQDN not an IP), realm not in upper case, clock skew",
        "certificate" => "usual causes: the certificate is not mapped to a user (winrm/config/service/certmapping), or Certificate auth is disabled",
        _ => "usual causes: wrong user or password or domain (use DOMAIN\\user or user@domain), a local administrator filtered by UAC (set LocalAccountTokenFilterPolicy=1), wrong SPN or realm case for Kerberos, channel binding required (CbtHardeningLevel=Strict) behind a TLS-terminating proxy",
    }
}
