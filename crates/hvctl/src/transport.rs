//! The `hyperv::Wsman` trait over `winrm_client::Client`, and building clients from the
//! resolved configuration.

use std::time::{Duration, Instant};

use anyhow::Context;
use hyperv::{TransportError, Wsman};
use winrm_client::{AuthMethod, Client};
use wsman_soap::{Enumerate, Instance, Item, MethodOutput, SelectorSet, Value};

use crate::cli::AuthKind;
use crate::config::{Endpoint, Resolved};

/// One host's WinRM client, as the domain sees it.
#[derive(Clone)]
pub struct HostSession {
    client: Client,
    host: String,
}

impl HostSession {
    /// Wraps a client for `host` (the name used in messages).
    pub fn new(client: Client, host: impl Into<String>) -> Self {
        HostSession {
            client,
            host: host.into(),
        }
    }

    /// The underlying client (for the generic `wsman` verbs).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Maps a transport error to the domain's transport error.
///
/// The domain's message names the host already (`Enumerate ... on HOST`), so the endpoint URL
/// of a connection error is said as its scheme and port only (`http port 5985`).
pub fn map_error(e: winrm_client::Error) -> TransportError {
    use winrm_client::Error as E;
    match e {
        E::Fault(f) => TransportError::Fault(f),
        E::OutcomeUnknown { .. } => TransportError::OutcomeUnknown {
            detail: e.to_string(),
        },
        E::Auth { .. } => TransportError::Auth(e.to_string()),
        E::Timeout(_) => TransportError::Timeout(e.to_string()),
        E::Connection { ref endpoint, .. }
        | E::Tls { ref endpoint, .. }
        | E::NotWinRm { ref endpoint, .. } => {
            let msg = e
                .to_string()
                .replace(endpoint.as_str(), &scheme_and_port(endpoint));
            TransportError::Connection(match advice(&e) {
                Some(a) => format!("{msg}; {a}"),
                None => msg,
            })
        }
        // An enumeration cut short by a lost Pull reply: a connection-class error (re-run it).
        E::EnumerationInterrupted { ref source, .. } => TransportError::Connection(format!("{e}: {source}")),
        // A read whose reply failed its integrity check again on a new connection: the path to
        // the host alters replies (exit code 7, like other failures of the connection).
        E::Integrity {
            source: Some(ref source),
            ..
        } => TransportError::Connection(format!("{e}: {source}")),
        E::Integrity { .. } => TransportError::Connection(e.to_string()),
        other => TransportError::Other(other.to_string()),
    }
}

/// What to change in hvctl's own flags for a transport error, when that is known.
pub fn advice(e: &winrm_client::Error) -> Option<&'static str> {
    e.is_plain_http()
        .then_some("drop --https, or give the port of the host's HTTPS listener (--port 5986 by default)")
}

/// `http://hv01:5985/wsman` as `http port 5985` (the default port when the URL has none).
fn scheme_and_port(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && !port.contains(']') && !host.is_empty() => port.to_owned(),
        _ if scheme.eq_ignore_ascii_case("https") => "5986".to_owned(),
        _ => "5985".to_owned(),
    };
    format!("{scheme} port {port}")
}

impl Wsman for HostSession {
    fn host(&self) -> &str {
        &self.host
    }

    async fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<Instance, TransportError> {
        self.client.get(resource_uri, selectors).await.map_err(map_error)
    }

    async fn enumerate(&self, resource_uri: &str, request: &Enumerate) -> Result<Vec<Item>, TransportError> {
        self.client
            .enumerate(resource_uri, request)
            .await
            .map_err(map_error)
    }

    async fn invoke(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> Result<MethodOutput, TransportError> {
        self.client
            .invoke(resource_uri, selectors, method, params)
            .await
            .map_err(map_error)
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The client's authentication method from the resolved configuration.
pub fn auth_method(r: &Resolved) -> anyhow::Result<AuthMethod> {
    let pw = || {
        r.password
            .as_ref()
            .map(|p| winrm_client::Password::new(p.expose()))
    };
    let need_user = || r.user.clone().context("this authentication method needs --user");
    let need_pw = || pw().context("this authentication method needs a password");
    Ok(match r.auth {
        AuthKind::Negotiate => AuthMethod::Negotiate {
            user: r.user.clone(),
            password: pw(),
            keytab: None,
            delegate: false,
        },
        AuthKind::Ntlm => AuthMethod::Ntlm {
            user: need_user()?,
            password: need_pw()?,
        },
        AuthKind::Kerberos => AuthMethod::Kerberos {
            principal: r.user.clone(),
            password: pw(),
            keytab: None,
            delegate: false,
        },
        AuthKind::Basic => AuthMethod::Basic {
            user: need_user()?,
            password: need_pw()?,
        },
        AuthKind::Certificate => {
            let (cert, key) = r
                .client_cert
                .as_ref()
                .context("--auth certificate needs --client-cert")?;
            let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            let key_pem =
                std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
            AuthMethod::Certificate {
                cert_pem,
                key_pem: winrm_client::Password::new(key_pem),
            }
        }
    })
}

/// Builds the client for one endpoint.
pub fn build_client(r: &Resolved, e: &Endpoint) -> anyhow::Result<HostSession> {
    let mut b = Client::builder(&e.url)
        .auth(auth_method(r)?)
        .insecure(r.insecure)
        .operation_timeout(r.operation_timeout)
        .connect_timeout(r.connect_timeout)
        .sessions(r.per_host);
    if let Some(n) = r.max_envelope_size {
        b = b.max_envelope_size(n);
    }
    if let Some(n) = r.page_size {
        b = b.page_size(n);
    }
    if let Some(ca) = &r.ca_cert {
        let pem = std::fs::read(ca).with_context(|| format!("reading CA certificate {}", ca.display()))?;
        b = b.ca_cert_pem(&pem);
    }
    if let Some(spn) = &r.spn {
        let (service, host) = match spn.split_once('/') {
            Some((s, h)) => (s, Some(h)),
            None => (spn.as_str(), None),
        };
        b = b.spn(service, host);
    }
    if let Some(dir) = &r.record {
        b = b.record(dir.clone(), true);
    }
    let client = b
        .build()
        .map_err(|e| anyhow::Error::new(crate::exit::UsageError::new(e.to_string())))?;
    Ok(HostSession::new(client, e.host.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_said_as_scheme_and_port() {
        assert_eq!(scheme_and_port("http://hv01:5985/wsman"), "http port 5985");
        assert_eq!(scheme_and_port("https://hv01/wsman"), "https port 5986");
        assert_eq!(scheme_and_port("http://[::1]/wsman"), "http port 5985");
        assert_eq!(scheme_and_port("http://[::1]:80/wsman"), "http port 80");
    }

    #[test]
    fn an_interrupted_enumeration_is_a_connection_error_with_exit_code_7() {
        let e = winrm_client::Error::EnumerationInterrupted {
            items: 4,
            source: Box::new(winrm_client::Error::Timeout("no reply to Pull".to_owned())),
        };
        assert_eq!(
            crate::errors::class_of_client(&e),
            crate::exit::ExitClass::Connection
        );
        assert_eq!(crate::exit::ExitClass::Connection.code(), 7);
        match map_error(e) {
            TransportError::Connection(msg) => {
                assert!(msg.contains("after 4 item(s)"), "{msg}");
                assert!(msg.contains("no reply to Pull"), "{msg}");
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }

    #[test]
    fn a_reply_failing_its_integrity_check_is_a_connection_error_with_exit_code_7() {
        let e = winrm_client::Error::Integrity {
            endpoint: "http://hv01:5985/wsman".to_owned(),
            method: "Get".to_owned(),
            detail: "it failed again when sent once more on a new connection and security context".to_owned(),
            source: Some("ntlm message signature does not verify".into()),
        };
        assert_eq!(
            crate::errors::class_of_client(&e),
            crate::exit::ExitClass::Connection
        );
        match map_error(e) {
            TransportError::Connection(msg) => {
                assert!(msg.contains("failed its integrity check"), "{msg}");
                assert!(msg.contains("signature does not verify"), "{msg}");
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }
}
