//! Exit classes of the library crates' errors (the causes found in an `anyhow` chain).

use crate::exit::ExitClass;

/// The exit class of one cause, when it is an error type of a crate hvctl builds on.
pub fn classify_library(cause: &(dyn std::error::Error + 'static)) -> Option<ExitClass> {
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
