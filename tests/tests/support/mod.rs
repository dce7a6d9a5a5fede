//! Shared by the suites of `hvctl-tests`: the smallest `hyperv::Wsman` over
//! `winrm_client::Client` (hvctl's adapter in `crates/hvctl/src/transport.rs` maps errors the
//! same way) and the NTLM client every suite builds against `hyperv-sim`.
// Each suite uses its own part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use hyperv::{TransportError, Wsman};
use hyperv_sim::SimHost;
use winrm_client::{AuthMethod, Client, ClientBuilder};
use wsman_soap::{Enumerate, Instance, Item, MethodOutput, SelectorSet, Value};

pub const USER: &str = "HV\\operator";

/// An NTLM client builder for `h` (message encryption by default) with a 5 s operation timeout.
pub fn client_builder(h: &SimHost, password: &str) -> ClientBuilder {
    Client::builder(&h.endpoint())
        .auth(AuthMethod::ntlm(USER, password))
        .operation_timeout(Duration::from_secs(5))
}

/// A `Wsman` session on `h` over a client with `sessions` sessions.
pub fn session(h: &SimHost, password: &str, sessions: usize) -> Session {
    Session {
        client: client_builder(h, password).sessions(sessions).build().unwrap(),
        host: h.host_name().to_owned(),
    }
}

pub struct Session {
    pub client: Client,
    pub host: String,
}

/// The client's error as the workflow's `TransportError`, keeping its text; an interrupted
/// enumeration is a connection error that names its cause.
pub fn map(e: winrm_client::Error) -> TransportError {
    if let winrm_client::Error::EnumerationInterrupted { source, .. } = &e {
        TransportError::Connection(format!("{e}: {source}"))
    } else if e.is_outcome_unknown() {
        TransportError::OutcomeUnknown {
            detail: e.to_string(),
        }
    } else if e.is_auth() {
        TransportError::Auth(e.to_string())
    } else if let winrm_client::Error::Fault(f) = e {
        TransportError::Fault(f)
    } else if e.is_timeout() {
        TransportError::Timeout(e.to_string())
    } else if e.is_connection() {
        TransportError::Connection(e.to_string())
    } else {
        TransportError::Other(e.to_string())
    }
}

impl Wsman for Session {
    fn host(&self) -> &str {
        &self.host
    }

    async fn get(&self, uri: &str, sel: &SelectorSet) -> Result<Instance, TransportError> {
        self.client.get(uri, sel).await.map_err(map)
    }

    async fn enumerate(&self, uri: &str, e: &Enumerate) -> Result<Vec<Item>, TransportError> {
        self.client.enumerate(uri, e).await.map_err(map)
    }

    async fn invoke(
        &self,
        uri: &str,
        sel: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> Result<MethodOutput, TransportError> {
        self.client.invoke(uri, sel, method, params).await.map_err(map)
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
