//! Simulated Hyper-V hosts speaking real WinRM (NTLM, message encryption, HTTPS), for tests,
//! benchmarks and `hvctl demo`.
#![cfg_attr(doc, doc = include_str!("../README.md"))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod clock;
pub mod embedded;
pub mod fault;
mod host;
pub mod inject;
pub mod model;
pub mod mof;
pub mod ops;
mod server;
pub mod stats;
mod tls;
pub mod variance;
pub mod wql;

pub use fault::SimFault;
pub use host::{start_pair, PairConfig, SimConfig, SimHost};
pub use inject::{FaultAction, FaultHandle, FaultRule, Match};
pub use model::{HostId, JobFailure, JobInjection, World, WorldConfig};
pub use stats::Stats;
pub use tls::CertificateKind;
pub use variance::Variance;

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

/// A random password for a simulated user (24 hex digits from the OS RNG), so that demos never
/// use a fixed secret.
pub fn random_password() -> zeroize::Zeroizing<String> {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    zeroize::Zeroizing::new(b.iter().map(|x| format!("{x:02x}")).collect())
}
