//! Simulated Hyper-V host over real WinRM (NTLM + message encryption).
//!
//! The [`model`] holds the Hyper-V objects and the replication state machine (pure logic, time
//! passed in); the server speaks WS-Management over HTTP with NTLM and WinRM message
//! encryption, like a default Windows listener.
#![forbid(unsafe_code)]

pub mod clock;
pub mod embedded;
pub mod fault;
pub mod inject;
pub mod model;
pub mod ops;
pub mod wql;

pub use fault::SimFault;
pub use inject::{FaultAction, FaultHandle, FaultRule, Match};
pub use model::{HostId, JobFailure, JobInjection, World, WorldConfig};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or configuration could not be set up.
    #[error("tls setup: {0}")]
    Tls(String),
    /// The host to serve does not exist in the world.
    #[error("unknown host")]
    UnknownHost,
}
