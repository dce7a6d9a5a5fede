//! Negotiate's fallback from Kerberos to NTLM is logged: once per client (per host), with the
//! reason. A test binary of its own, because it installs the process-wide `tracing`
//! subscriber and sets KRB5CCNAME.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::{ntlm_server, standard_responder, PASSWORD, RSD_URI, USER};
use winrm_client::{AuthMethod, Client};
use wsman_soap::SelectorSet;

/// Log lines written by a `tracing` subscriber, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The fallback from Kerberos to NTLM is visible: one warning per client (so per host) with
/// the reason and the way to forbid it, however many sessions authenticate.
#[tokio::test]
async fn negotiate_fallback_to_ntlm_is_warned_once_per_host() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    // The only test of this binary, so the process-wide subscriber sees only this client's
    // events, and no other thread races it for the callsites' interest.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let ccache = tempfile::tempdir().unwrap();
    std::env::set_var(
        "KRB5CCNAME",
        format!("FILE:{}", ccache.path().join("none").display()),
    );
    let server = ntlm_server(standard_responder()).await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::negotiate(USER, PASSWORD))
        .sessions(3)
        .build()
        .unwrap();
    let sel = SelectorSet::new();
    let (a, b, d) = tokio::join!(c.get(RSD_URI, &sel), c.get(RSD_URI, &sel), c.get(RSD_URI, &sel));
    for r in [a, b, d] {
        r.unwrap();
    }
    assert_eq!(
        server.stats.handshakes.load(Ordering::SeqCst),
        3,
        "three sessions, three contexts, each a fallback"
    );
    let warned = logs.lines_with("fell back to ntlm");
    assert_eq!(warned.len(), 1, "{warned:#?}");
    let w = &warned[0];
    assert!(w.contains("WARN"), "{w}");
    assert!(w.contains("127.0.0.1"), "the host: {w}");
    assert!(w.contains("does not authenticate the server"), "{w}");
    assert!(w.contains("--auth kerberos"), "the way out: {w}");
    assert!(w.contains("gssapi: "), "the kerberos error: {w}");
    // Another client (another host) warns for itself.
    let other = ntlm_server(standard_responder()).await;
    let c2 = Client::builder(&other.endpoint())
        .auth(AuthMethod::negotiate(USER, PASSWORD))
        .build()
        .unwrap();
    c2.get(RSD_URI, &sel).await.unwrap();
    assert_eq!(logs.lines_with("fell back to ntlm").len(), 2);
}
