//! Exit classes of the library crates' errors (the causes found in an `anyhow` chain).

use hyperv::ErrorClass;
use wsman_soap::KnownFault;

use crate::exit::{ExitClass, UsageError};

/// The exit class of one cause, when it is an error type of a crate hvctl builds on.
pub fn classify_library(cause: &(dyn std::error::Error + 'static)) -> Option<ExitClass> {
    if let Some(e) = cause.downcast_ref::<hyperv::Error>() {
        return Some(class_of_hyperv(e));
    }
    if let Some(e) = cause.downcast_ref::<winrm_client::Error>() {
        return Some(class_of_client(e));
    }
    if let Some(e) = cause.downcast_ref::<hyperv::TransportError>() {
        return Some(match e {
            hyperv::TransportError::Auth(_) => ExitClass::Auth,
            hyperv::TransportError::Timeout(_) | hyperv::TransportError::Connection(_) => {
                ExitClass::Connection
            }
            hyperv::TransportError::OutcomeUnknown { .. } => ExitClass::OutcomeUnknown,
            hyperv::TransportError::Fault(f) => class_of_fault(f),
            _ => ExitClass::Other,
        });
    }
    if let Some(e) = cause.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        return match e.kind() {
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::TimedOut
            | K::NotConnected => Some(ExitClass::Connection),
            K::NotFound => Some(ExitClass::NotFound),
            K::PermissionDenied => Some(ExitClass::Auth),
            _ => None,
        };
    }
    None
}

/// The SOAP fault behind an error, wherever it sits in the chain.
fn fault_in(err: &anyhow::Error) -> Option<&wsman_soap::Fault> {
    err.chain().find_map(|c| {
        c.downcast_ref::<hyperv::Error>()
            .and_then(hyperv::Error::fault)
            .or_else(|| {
                c.downcast_ref::<winrm_client::Error>()
                    .and_then(winrm_client::Error::fault)
            })
            .or_else(|| {
                c.downcast_ref::<hyperv::TransportError>()
                    .and_then(hyperv::TransportError::fault)
            })
    })
}

/// What the user can do about a fault or transport error that a setting of hvctl's own
/// answers, in its words.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    if let Some(a) = err.chain().find_map(|c| {
        c.downcast_ref::<winrm_client::Error>()
            .and_then(crate::transport::advice)
    }) {
        return Some(a);
    }
    let f = fault_in(err)?;
    if f.is_max_envelope_size_exceeded() {
        return Some("raise --max-envelope-size (and the host's MaxEnvelopeSizekb)");
    }
    match f.known() {
        Some(KnownFault::InvalidBatchParameter) => Some(
            "pass --page-size N, N at most the host's MaxBatchItems (`winrm get winrm/config` on the host)",
        ),
        _ => None,
    }
}

/// The exit class of a domain error (the domain's own classification).
pub fn class_of_hyperv(e: &hyperv::Error) -> ExitClass {
    match e.class() {
        ErrorClass::Usage => ExitClass::Usage,
        ErrorClass::Auth => ExitClass::Auth,
        ErrorClass::NotFound => ExitClass::NotFound,
        ErrorClass::InvalidState => ExitClass::InvalidState,
        ErrorClass::JobFailed => ExitClass::JobFailed,
        ErrorClass::Connection => ExitClass::Connection,
        ErrorClass::OutcomeUnknown => ExitClass::OutcomeUnknown,
        _ => ExitClass::Other,
    }
}

/// The exit class of a transport error (generic `wsman` verbs).
pub fn class_of_client(e: &winrm_client::Error) -> ExitClass {
    if e.is_outcome_unknown() {
        ExitClass::OutcomeUnknown
    } else if e.is_auth() {
        ExitClass::Auth
    } else if let Some(f) = e.fault() {
        class_of_fault(f)
    } else if e.is_timeout() || e.is_connection() || e.is_tls() || e.is_integrity() {
        ExitClass::Connection
    } else if matches!(e, winrm_client::Error::Config(_)) {
        ExitClass::Usage
    } else {
        ExitClass::Other
    }
}

/// The exit class of a SOAP fault.
pub fn class_of_fault(f: &wsman_soap::Fault) -> ExitClass {
    match f.known() {
        Some(KnownFault::AccessDenied) => ExitClass::Auth,
        Some(KnownFault::ResourceNotFound | KnownFault::InvalidSelectors | KnownFault::WmiNotFound) => {
            ExitClass::NotFound
        }
        Some(KnownFault::OperationTimeout) => ExitClass::Connection,
        _ => ExitClass::Other,
    }
}

/// The run failed only because `negotiate` had no password and the GSSAPI found no Kerberos
/// credentials (`gss_acquire_cred` failed): said as what to give, a usage error (exit 2),
/// instead of one GSSAPI status per host and VM. `None` when anything else happened.
pub fn missing_credentials(
    r: &crate::config::Resolved,
    records: &[crate::output::Record],
) -> Option<UsageError> {
    if r.password.is_some()
        || !matches!(
            r.auth,
            crate::cli::AuthKind::Negotiate | crate::cli::AuthKind::Kerberos
        )
    {
        return None;
    }
    let no_ticket = |rec: &crate::output::Record| {
        rec.error.as_ref().is_some_and(|e| {
            e.class == ExitClass::Auth
                && e.message.contains("creating the security context")
                && e.message.contains("gss_acquire_cred")
        })
    };
    if records.is_empty() || !records.iter().all(no_ticket) {
        return None;
    }
    let user = r.user.as_deref().map(|u| format!(" for {u}")).unwrap_or_default();
    Some(UsageError::new(format!(
        "no password and no Kerberos ticket{user}: give a password (HVCTL_PASSWORD, --password-stdin, or \
         run on a terminal to be prompted), or get a ticket with `kinit user@REALM` (KRB5CCNAME names \
         the ticket cache)"
    )))
}
