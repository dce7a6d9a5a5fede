//! Documented exit codes and the mapping from errors to them.

use std::process::ExitCode;

use hyperv::ErrorClass;
use serde::Serialize;

/// The documented exit codes (see `hvctl --help` and README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitClass {
    /// 0: success.
    Success,
    /// 1: any other error.
    Other,
    /// 2: bad arguments, configuration or profile.
    Usage,
    /// 3: authentication failed or access denied.
    Auth,
    /// 4: VM, job, class or instance not found.
    NotFound,
    /// 5: the VM is not in a state that allows the operation.
    InvalidState,
    /// 6: the host ran the job and it failed.
    JobFailed,
    /// 7: connection failed or timed out, or replies failed their integrity check.
    Connection,
    /// 8: the request was sent and the reply lost: the outcome is unknown.
    OutcomeUnknown,
    /// 130 (128 + SIGINT, as shells report a process ended by Ctrl-C): the run was interrupted;
    /// jobs the hosts had started go on.
    Interrupted,
}

/// The exit code of an interrupted run: 128 + SIGINT (2), the shells' convention.
pub const INTERRUPTED_CODE: u8 = 130;

impl ExitClass {
    /// The process exit code: 0 for success, otherwise the number the domain crate defines for
    /// the matching [`ErrorClass`] ([`ErrorClass::exit_code`]), so the numbers live in one place.
    pub fn code(self) -> u8 {
        let class = match self {
            ExitClass::Success => return 0,
            ExitClass::Interrupted => return INTERRUPTED_CODE,
            ExitClass::Other => ErrorClass::Failure,
            ExitClass::Usage => ErrorClass::Usage,
            ExitClass::Auth => ErrorClass::Auth,
            ExitClass::NotFound => ErrorClass::NotFound,
            ExitClass::InvalidState => ErrorClass::InvalidState,
            ExitClass::JobFailed => ErrorClass::JobFailed,
            ExitClass::Connection => ErrorClass::Connection,
            ExitClass::OutcomeUnknown => ErrorClass::OutcomeUnknown,
        };
        class.exit_code()
    }

    /// Which of several failures decides the exit code of a run: the most urgent for an
    /// operator. An interrupted run says so first (its jobs go on), then an unknown outcome
    /// needs checking, then failed jobs, then the rest.
    fn urgency(self) -> u8 {
        match self {
            ExitClass::Success => 0,
            ExitClass::Other => 1,
            ExitClass::NotFound => 2,
            ExitClass::InvalidState => 3,
            ExitClass::Usage => 4,
            ExitClass::Connection => 5,
            ExitClass::Auth => 6,
            ExitClass::JobFailed => 7,
            ExitClass::OutcomeUnknown => 8,
            ExitClass::Interrupted => 9,
        }
    }

    /// The exit class of a run where each item ended with one of `classes`.
    pub fn combine(classes: impl IntoIterator<Item = ExitClass>) -> ExitClass {
        classes
            .into_iter()
            .max_by_key(|c| c.urgency())
            .unwrap_or(ExitClass::Success)
    }
}

impl From<ExitClass> for ExitCode {
    fn from(c: ExitClass) -> ExitCode {
        ExitCode::from(c.code())
    }
}

/// A usage or configuration error (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    /// A usage error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error that already knows its exit class (raised by hvctl itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The exit class.
    pub class: ExitClass,
    /// The message.
    pub message: String,
}

impl Classified {
    /// An error of this class.
    pub fn new(class: ExitClass, message: impl Into<String>) -> Self {
        Classified {
            class,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Classified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

/// The exit class of an error: the first cause in the chain that has a known class.
pub fn classify(err: &anyhow::Error) -> ExitClass {
    for cause in err.chain() {
        if let Some(c) = classify_one(cause) {
            return c;
        }
    }
    ExitClass::Other
}

fn classify_one(cause: &(dyn std::error::Error + 'static)) -> Option<ExitClass> {
    if cause.downcast_ref::<UsageError>().is_some() {
        return Some(ExitClass::Usage);
    }
    if let Some(c) = cause.downcast_ref::<Classified>() {
        return Some(c.class);
    }
    if let Some(e) = cause.downcast_ref::<clap::Error>() {
        return Some(if e.exit_code() == 0 {
            ExitClass::Success
        } else {
            ExitClass::Usage
        });
    }
    crate::errors::classify_library(cause)
}

/// True when the error is a broken pipe on stdout (e.g. `hvctl vm list | head`): exit 0.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (ExitClass::Success, 0),
            (ExitClass::Other, 1),
            (ExitClass::Usage, 2),
            (ExitClass::Auth, 3),
            (ExitClass::NotFound, 4),
            (ExitClass::InvalidState, 5),
            (ExitClass::JobFailed, 6),
            (ExitClass::Connection, 7),
            (ExitClass::OutcomeUnknown, 8),
            (ExitClass::Interrupted, 130),
        ];
        for (c, n) in all {
            assert_eq!(c.code(), n, "{c:?}");
            assert!(
                crate::cli::EXIT_CODES_HELP.contains(&format!("  {n:>3}  ")),
                "{n} missing from --help"
            );
        }
    }

    #[test]
    fn outcome_unknown_dominates_a_mixed_run() {
        use ExitClass::*;
        assert_eq!(
            ExitClass::combine([Success, JobFailed, OutcomeUnknown, NotFound]),
            OutcomeUnknown
        );
        assert_eq!(
            ExitClass::combine([Success, NotFound, InvalidState]),
            InvalidState
        );
        assert_eq!(ExitClass::combine([Success, Success]), Success);
        assert_eq!(ExitClass::combine([]), Success);
    }

    #[test]
    fn classification_walks_the_cause_chain() {
        let e = anyhow::Error::new(UsageError::new("bad")).context("while resolving");
        assert_eq!(classify(&e), ExitClass::Usage);
        let e = anyhow::Error::new(Classified::new(ExitClass::NotFound, "no vm")).context("x");
        assert_eq!(classify(&e), ExitClass::NotFound);
        assert_eq!(classify(&anyhow::anyhow!("plain")), ExitClass::Other);
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        let e = Err::<(), _>(io).context("writing output").unwrap_err();
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("x")));
    }
}
