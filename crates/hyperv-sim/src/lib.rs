//! Simulated Hyper-V host over real WinRM (NTLM + message encryption).
//!
//! The [`model`] holds the Hyper-V objects and the replication state machine (pure logic, time
//! passed in); the server speaks WS-Management over HTTP with NTLM and WinRM message
//! encryption, like a default Windows listener.
#![forbid(unsafe_code)]

pub mod clock;
pub mod embedded;
pub mod fault;
pub mod model;
pub mod wql;

pub use fault::SimFault;
pub use model::{HostId, JobFailure, JobInjection, World, WorldConfig};
