//! The crate's error type and its classification into the CLI's exit codes.

use std::time::Duration;

use wsman_soap::{Fault, KnownFault};

use crate::model::{JobState, ReturnCode};
use crate::msvm::MsvmError;
use crate::transport::TransportError;

/// Everything the domain operations can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The VM, job or setting does not exist on the host.
    #[error("{what}")]
    NotFound {
        /// What was not found, as a full sentence fragment ("no virtual machine named 'x' on h").
        what: String,
    },
    /// A VM name matches more than one VM.
    #[error(
        "{} virtual machines named '{name}' on {host} ({}); name one by its GUID",
        guids.len(),
        guids.join(", ")
    )]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The host.
        host: String,
        /// The GUIDs of the matching VMs.
        guids: Vec<String>,
    },
    /// Preflight: the VM is not in a state the operation accepts. Nothing was sent.
    #[error("{explanation}")]
    InvalidState {
        /// What is wrong and what to do, e.g. "web01 on hv02 is Replicating: reverse needs a
        /// failed-over VM (FailedOverWaitingCompletion or FailedOver); run `hvctl failover start`
        /// first".
        explanation: String,
    },
    /// The method returned a failure `ReturnValue`.
    #[error("{method} on {vm} ({host}) returned {code}{}", hint_suffix(*code))]
    MethodFailed {
        /// The WMI method.
        method: &'static str,
        /// The VM name.
        vm: String,
        /// The host.
        host: String,
        /// The decoded return value.
        code: ReturnCode,
    },
    /// The job the method started ended without success.
    #[error(
        "job {job_id}{} ended {state}: error {code}{}{}",
        if vm.is_empty() { String::new() } else { format!(" ({method} on {vm})") },
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default(),
        errors_suffix(errors)
    )]
    JobFailed {
        /// The job's `InstanceID`.
        job_id: String,
        /// The method that started it (or "job" when followed by id).
        method: &'static str,
        /// The VM name (empty when followed by id).
        vm: String,
        /// Its final `JobState` (8, 9, 10 or 11).
        state: JobState,
        /// `ErrorCode`.
        code: u16,
        /// `ErrorDescription` (or `ErrorSummaryDescription`).
        description: Option<String>,
        /// The `Msvm_Error`s from `GetErrorEx`.
        errors: Vec<MsvmError>,
    },
    /// The job was not finished when the wait timed out. It may still complete.
    #[error(
        "job {job_id} on {host} was still {state} ({}%) after {}s; it may still finish: \
         follow it with `hvctl job wait {job_id} --host {host}`{}",
        percent.unwrap_or(0),
        waited.as_secs(),
        if *state == JobState::Suspended { "; it is suspended and needs to be resumed on the host" } else { "" }
    )]
    JobTimeout {
        /// The job's `InstanceID`.
        job_id: String,
        /// The host.
        host: String,
        /// Its last seen state.
        state: JobState,
        /// Its last seen `PercentComplete`.
        percent: Option<u16>,
        /// How long we waited.
        waited: Duration,
    },
    /// A guest shutdown was asked for and the VM was not off when the wait timed out. It may
    /// still turn off.
    #[error(
        "{vm} on {host} was still {state} {}s after the guest was asked to shut down; it may still \
         turn off: check with `hvctl vm list --host {}`, or cut the power with `hvctl vm stop --turn-off {}`",
        waited.as_secs(),
        shell_quote(host),
        shell_quote(vm)
    )]
    ShutdownTimeout {
        /// The VM name.
        vm: String,
        /// The host.
        host: String,
        /// Its last seen power state.
        state: crate::model::EnabledState,
        /// How long we waited.
        waited: Duration,
    },
    /// The job object is gone from the host.
    #[error(
        "job {job_id} {} on {host}: {hint}",
        if *seen { "disappeared" } else { "does not exist" }
    )]
    JobDisappeared {
        /// The job's `InstanceID`.
        job_id: String,
        /// The host.
        host: String,
        /// True when it was seen before it vanished (its outcome is then unknown).
        seen: bool,
        /// What to check.
        hint: String,
    },
    /// A non-idempotent invoke was sent and no reply was read, or the job could not be followed
    /// to its end: whether the operation ran is unknown. It was not sent again.
    #[error(
        "outcome unknown: {method} on {vm} ({host}) was sent but {detail}; it was not sent again. \
         check what happened with `{}`{}",
        status_command(vm, host),
        job_id.as_deref().map(|j| format!(" and `hvctl job wait {j} --host {host}`")).unwrap_or_default()
    )]
    OutcomeUnknown {
        /// The method.
        method: &'static str,
        /// The VM name.
        vm: String,
        /// The host.
        host: String,
        /// The job id, when the method reply (and so the job) was received.
        job_id: Option<String>,
        /// What went wrong.
        detail: String,
    },
    /// The host answered with a SOAP fault.
    #[error("{operation} on {host} failed: {}", fault.summary())]
    Fault {
        /// What was being done ("Get Msvm_ComputerSystem").
        operation: String,
        /// The host.
        host: String,
        /// The parsed fault.
        fault: Box<Fault>,
    },
    /// The transport failed (authentication, timeout, connection, ...).
    #[error("{operation} on {host}")]
    Transport {
        /// What was being done.
        operation: String,
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: TransportError,
    },
    /// The request is not valid as given (options that contradict each other or the settings).
    #[error("{0}")]
    Usage(String),
    /// `--recovery-point` names no recovery point of the VM, or several: a usage error.
    #[error("{explanation}")]
    UnknownRecoveryPoint {
        /// What is wrong, with the VM's recovery points listed.
        explanation: String,
        /// What was asked for.
        wanted: String,
        /// The names and times it could have been (for "did you mean").
        candidates: Vec<String>,
    },
    /// The host answered something the domain cannot use (a missing key, a missing ReturnValue).
    #[error("unexpected answer from the host: {0}")]
    Unexpected(String),
}

fn hint_suffix(code: ReturnCode) -> String {
    code.hint().map(|h| format!(": {h}")).unwrap_or_default()
}

fn errors_suffix(errors: &[MsvmError]) -> String {
    let msgs: Vec<&str> = errors.iter().filter_map(|e| e.message.as_deref()).collect();
    if msgs.is_empty() {
        String::new()
    } else {
        format!(" ({})", msgs.join("; "))
    }
}

/// The `hvctl replication status` command line for a VM on a host (quoted for a POSIX shell).
pub fn status_command(vm: &str, host: &str) -> String {
    format!(
        "hvctl replication status {} --host {}",
        shell_quote(vm),
        shell_quote(host)
    )
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'@'));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The class of an error, one per documented CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Anything not classified below (unexpected answers, other faults).
    Failure,
    /// Invalid arguments or ambiguous names: the user must change the command.
    Usage,
    /// Authentication failed or access was denied.
    Auth,
    /// The VM, setting or job does not exist.
    NotFound,
    /// The VM is not in a state that allows the operation.
    InvalidState,
    /// The method or its job failed on the host.
    JobFailed,
    /// Could not connect, or timed out.
    Connection,
    /// An invoke was sent and its outcome is unknown.
    OutcomeUnknown,
}

impl ErrorClass {
    /// The proposed process exit code: 1 failure, 2 usage, 3 auth, 4 not found, 5 invalid
    /// state, 6 job failed, 7 connection/timeout, 8 outcome unknown (0 is success).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Failure => 1,
            ErrorClass::Usage => 2,
            ErrorClass::Auth => 3,
            ErrorClass::NotFound => 4,
            ErrorClass::InvalidState => 5,
            ErrorClass::JobFailed => 6,
            ErrorClass::Connection => 7,
            ErrorClass::OutcomeUnknown => 8,
        }
    }
}

impl Error {
    /// The class of this error (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::Ambiguous { .. } | Error::Usage(_) | Error::UnknownRecoveryPoint { .. } => {
                ErrorClass::Usage
            }
            Error::InvalidState { .. } => ErrorClass::InvalidState,
            Error::MethodFailed { code, .. } => match code {
                ReturnCode::AccessDenied => ErrorClass::Auth,
                ReturnCode::InvalidState | ReturnCode::InvalidStateTransition => ErrorClass::InvalidState,
                ReturnCode::FileNotFound => ErrorClass::NotFound,
                _ => ErrorClass::JobFailed,
            },
            Error::JobFailed { .. } => ErrorClass::JobFailed,
            Error::JobTimeout { .. } | Error::ShutdownTimeout { .. } => ErrorClass::Connection,
            Error::JobDisappeared { seen: true, .. } => ErrorClass::OutcomeUnknown,
            Error::JobDisappeared { seen: false, .. } => ErrorClass::NotFound,
            Error::OutcomeUnknown { .. } => ErrorClass::OutcomeUnknown,
            Error::Fault { fault, .. } => match fault.known() {
                Some(KnownFault::AccessDenied) => ErrorClass::Auth,
                Some(KnownFault::ResourceNotFound) => ErrorClass::NotFound,
                Some(KnownFault::OperationTimeout) => ErrorClass::Connection,
                _ => ErrorClass::Failure,
            },
            Error::Transport { source, .. } => match source {
                TransportError::Auth(_) => ErrorClass::Auth,
                TransportError::Timeout(_) | TransportError::Connection(_) => ErrorClass::Connection,
                // Invokes turn a lost reply into `Error::OutcomeUnknown` with context; on a read
                // (Get/Enumerate) nothing changed on the host, so it is a connection failure.
                TransportError::OutcomeUnknown { .. } => ErrorClass::Connection,
                TransportError::Fault(_) | TransportError::Other(_) => ErrorClass::Failure,
            },
            Error::Unexpected(_) => ErrorClass::Failure,
        }
    }

    /// The proposed exit code, `self.class().exit_code()`.
    pub fn exit_code(&self) -> u8 {
        self.class().exit_code()
    }

    /// The SOAP fault, for fault errors.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault { fault, .. } => Some(fault),
            Error::Transport { source, .. } => source.fault(),
            _ => None,
        }
    }

    /// Wraps a transport error of a read (Get/Enumerate), lifting faults into [`Error::Fault`].
    pub(crate) fn from_transport(operation: impl Into<String>, host: &str, e: TransportError) -> Error {
        match e {
            TransportError::Fault(fault) => Error::Fault {
                operation: operation.into(),
                host: host.to_owned(),
                fault,
            },
            source => Error::Transport {
                operation: operation.into(),
                host: host.to_owned(),
                source,
            },
        }
    }
}
