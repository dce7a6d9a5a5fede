//! Kerberos end to end: a throwaway MIT realm on 127.0.0.1 (`tests/peers/kdc/make-realm.sh`),
//! a ticket from `kinit`, and the loopback WinRM server whose acceptor is python-gssapi
//! (`tests/peers/kdc/gss_acceptor.py`, independent of our code): the token is sent
//! preemptively with the first POST, the server's mutual-authentication token is checked, and
//! every exchange is sealed with Kerberos (gss_wrap_iov / gss_unwrap_iov on the server side).
//! The KDC and the acceptors are stopped by PID.
#![allow(clippy::unwrap_used)]

mod support;

use support::RSD_URI;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyperv_sim::auth::Acceptor;
use support::{standard_responder, Auth, GssServer};
use winrm_auth::{SessionSecurity, Step, Wrapped};
use winrm_client::{AuthMethod, Client};
use wsman_soap::SelectorSet;

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/kdc")
}

/// The KDC, killed by PID on drop; the realm directory removed.
struct Kdc {
    child: Child,
    dir: PathBuf,
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_kdc() -> Kdc {
    let dir = std::env::temp_dir().join(format!("winrm-client-kdc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default());
    let st = Command::new("bash")
        .arg(peers().join("make-realm.sh"))
        .arg(&dir)
        .arg(port.to_string())
        .env("PATH", &path)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "make-realm.sh failed (scripts/install-peers.sh installs MIT Kerberos)"
    );
    let child = Command::new("krb5kdc")
        .args(["-n", "-r", "HVCTL.TEST", "-P"])
        .arg(dir.join("kdc.pid"))
        .env("PATH", &path)
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kdc = Kdc {
        child,
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "krb5kdc did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Process-wide for the GSSAPI library: set before any GSSAPI call (single test).
    std::env::set_var("KRB5_CONFIG", dir.join("krb5.conf"));
    std::env::set_var("KRB5CCNAME", format!("FILE:{}/alice.ccache", dir.display()));
    let mut kinit = Command::new("kinit")
        .arg("alice@HVCTL.TEST")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(kinit.stdin.take().unwrap(), "alice-Pass-1").unwrap();
    assert!(kinit.wait().unwrap().success());
    kdc
}

/// One python-gssapi acceptor process per connection, killed by PID on drop.
struct PyAcceptor {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for PyAcceptor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(b: &[u8]) -> String {
    if b.is_empty() {
        "-".to_owned()
    } else {
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}

fn unb64(s: &str) -> Vec<u8> {
    if s == "-" {
        Vec::new()
    } else {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }
}

impl PyAcceptor {
    fn start(dir: &Path) -> PyAcceptor {
        let mut child = Command::new("python3")
            .arg(peers().join("gss_acceptor.py"))
            .env("KRB5_CONFIG", dir.join("krb5.conf"))
            .env("KRB5_KTNAME", format!("FILE:{}/http.keytab", dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut a = PyAcceptor { child, stdin, stdout };
        assert_eq!(a.line(), "ready");
        a
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).unwrap();
        l.trim_end().to_owned()
    }

    fn cmd(&mut self, args: &[&str]) -> Result<Vec<String>, String> {
        writeln!(self.stdin, "{}", args.join(" ")).unwrap();
        let l = self.line();
        match l.strip_prefix("ok") {
            Some(rest) => Ok(rest.split_whitespace().map(str::to_owned).collect()),
            None => Err(l),
        }
    }
}

struct PyGss(PathBuf);

impl GssServer for PyGss {
    fn new_context(&self) -> Box<dyn Acceptor> {
        Box::new(PyContext(PyAcceptor::start(&self.0)))
    }
}

struct PyContext(PyAcceptor);

impl Acceptor for PyContext {
    fn step(&mut self, token: &[u8]) -> Result<Step, String> {
        let r = self.0.cmd(&["step", &b64(token)])?;
        let token = unb64(&r[1]);
        Ok(if r[0] == "1" {
            Step::Done(Some(token))
        } else {
            Step::Continue(token)
        })
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        Some(Box::new(PySession(self.0)))
    }
}

struct PySession(PyAcceptor);

impl SessionSecurity for PySession {
    fn protocol(&self) -> &'static str {
        "application/HTTP-SPNEGO-session-encrypted"
    }

    fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, winrm_auth::Error> {
        let r = self
            .0
            .cmd(&["wrap", &b64(plaintext)])
            .map_err(winrm_auth::Error::Gssapi)?;
        Ok(Wrapped {
            header: unb64(&r[0]),
            data: unb64(&r[1]),
            padding: r[2].parse().unwrap(),
        })
    }

    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, winrm_auth::Error> {
        let r = self
            .0
            .cmd(&["unwrap", &b64(header), &b64(data)])
            .map_err(winrm_auth::Error::Gssapi)?;
        Ok(unb64(&r[0]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kerberos_is_preemptive_mutual_and_sealed_against_mit_gssapi() {
    let kdc = start_kdc();
    let server = support::start(
        Auth::Gss(Arc::new(PyGss(kdc.dir.clone()))),
        None,
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::Kerberos {
            principal: None,
            password: None,
            keytab: None,
            delegate: false,
        })
        .spn("HTTP", Some("localhost"))
        .build()
        .unwrap();
    assert!(c.is_encrypted());
    let rsd = c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    let items = c
        .enumerate(RSD_URI, &wsman_soap::Enumerate::default())
        .await
        .unwrap();
    assert_eq!(items.len(), support::PAGE_ITEMS * support::PULL_PAGES);

    let s = &server.stats;
    assert_eq!(
        s.unauthenticated_401.load(Ordering::SeqCst),
        0,
        "no anonymous probe: the token went first"
    );
    let auth = s.auth_headers.lock().unwrap().clone();
    assert_eq!(
        auth.len(),
        1,
        "one leg: AP-REQ preemptively, AP-REP in the 200: {auth:?}"
    );
    assert!(auth[0].starts_with("Negotiate "));
    assert_eq!(s.handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
    let cts = s.content_types.lock().unwrap().clone();
    assert_eq!(
        cts.iter()
            .filter(|c| c.starts_with("multipart/encrypted"))
            .count(),
        1 + 1 + 1 + support::PULL_PAGES
    );
}
