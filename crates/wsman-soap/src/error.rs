//! The crate's error type and the input limits every parser enforces.

/// Everything that can go wrong while building, parsing or converting WS-Management messages.
///
/// A SOAP fault sent by the server is *not* an error here: it parses successfully into
/// [`crate::ResponseBody::Fault`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not well-formed XML (or not UTF-8).
    #[error("malformed xml: {0}")]
    Xml(String),
    /// The input contains a construct we refuse on principle (DOCTYPE, entity declaration).
    #[error("forbidden xml construct: {0}")]
    Forbidden(&'static str),
    /// The input is larger than [`Limits::max_bytes`].
    #[error("input larger than the {limit} byte limit")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Elements are nested deeper than [`Limits::max_depth`].
    #[error("xml nested deeper than {limit} elements")]
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A required element or attribute is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value is present but not valid.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A well-formed request that violates the WS-Management/WMI schema the way Windows rejects
    /// it (`w:SchemaValidationError`); produced by the server-side parser.
    #[error("schema validation failed: {0}")]
    Schema(String),
    /// The response's `a:RelatesTo` does not name the request that was sent.
    #[error("response relates to {found:?}, expected {expected}")]
    RelatesTo {
        /// The MessageID of the request.
        expected: String,
        /// The RelatesTo found in the response, if any.
        found: Option<String>,
    },
}

impl Error {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Bounds applied to every input before and while it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 16 MiB and 64 levels.
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

impl Limits {
    /// Limits for a response to a request that announced `max_envelope_size`
    /// (`w:MaxEnvelopeSize`); a little slack is allowed for the server's own accounting.
    pub fn for_envelope(max_envelope_size: u32) -> Self {
        let n = usize::try_from(max_envelope_size).unwrap_or(usize::MAX);
        Self {
            max_bytes: n.saturating_add(n / 4).max(64 * 1024),
            ..Self::default()
        }
    }
}
