//! Kerberos/SPNEGO interop: our initiator (system GSSAPI loaded at run time) against a
//! python-gssapi acceptor (`tests/peers/kdc/gss_acceptor.py`), with a throwaway MIT realm whose
//! KDC runs on 127.0.0.1 (`tests/peers/kdc/make-realm.sh`). One realm per test process (the
//! GSSAPI library reads KRB5_CONFIG process-wide); the KDC is stopped by PID at process exit.
#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use winrm_auth::cbt::ChannelBindings;
use winrm_auth::gssapi::Library;
use winrm_auth::kerberos::{KerberosClient, KerberosConfig, KerberosCredentials};
use winrm_auth::{ClientAuth, Error, Step};
use zeroize::Zeroizing;

const REALM: &str = "HVCTL.TEST";
const ALICE_PASSWORD: &str = "alice-Pass-1";
const OID_SPNEGO_DER: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5_DER: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/kdc")
}

/// Finds an MIT admin tool in PATH or the sbin directories.
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The running realm. The KDC runs under a `sh` watchdog that kills it (by PID) and removes
/// the realm directory when our end of its stdin closes, i.e. when the test process exits,
/// however it exits. `Drop` does the same for a realm that is not kept in a static.
struct Realm {
    dir: PathBuf,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    kdc_pid: u32,
}

impl Drop for Realm {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.kdc_pid.to_string()).status();
        if let Some((mut child, stdin)) = self.watchdog.lock().unwrap().take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_realm() -> Result<Realm, String> {
    let t0 = Instant::now();
    for t in ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"] {
        if tool(t).is_none() {
            return Err(format!(
                "MIT Kerberos tool `{t}` not found: run scripts/install-peers.sh \
                 (apt: krb5-kdc krb5-admin-server krb5-user; pip: gssapi)"
            ));
        }
    }
    let dir = std::env::temp_dir().join(format!("hvctl-kdc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let st = Command::new("bash")
        .arg(peers_dir().join("make-realm.sh"))
        .arg(&dir)
        .arg(port.to_string())
        .env(
            "PATH",
            format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default()),
        )
        .status()
        .map_err(|e| format!("make-realm.sh: {e}"))?;
    if !st.success() {
        return Err(format!(
            "make-realm.sh failed ({st}); run scripts/install-peers.sh"
        ));
    }
    let krb5kdc = tool("krb5kdc").unwrap();
    let script = format!(
        "'{}' -n -r {REALM} -P '{d}/kdc.pid' & pid=$!; echo $pid; read _ignored; kill $pid; wait $pid; rm -rf '{d}'",
        krb5kdc.display(),
        d = dir.display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start krb5kdc: {e}"))?;
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let kdc_pid: u32 = line.trim().parse().map_err(|_| format!("bad kdc pid {line:?}"))?;
    let realm = Realm {
        dir: dir.clone(),
        watchdog: Mutex::new(Some((child, stdin))),
        kdc_pid,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("krb5kdc did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The library under test reads these process-wide; they are set once, before any GSSAPI
    // call of this process (every test calls `realm()` first).
    std::env::set_var("KRB5_CONFIG", dir.join("krb5.conf"));
    std::env::set_var("KRB5CCNAME", format!("FILE:{}/alice.ccache", dir.display()));
    std::env::remove_var("KRB5_CLIENT_KTNAME");
    let mut kinit = Command::new(tool("kinit").unwrap())
        .arg(format!("alice@{REALM}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("kinit: {e}"))?;
    writeln!(kinit.stdin.take().unwrap(), "{ALICE_PASSWORD}").unwrap();
    let st = kinit.wait().map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("kinit alice failed: {st}"));
    }
    println!("realm {REALM} on 127.0.0.1:{port} ready in {:?}", t0.elapsed());
    Ok(realm)
}

fn realm() -> &'static Realm {
    static REALM_CELL: OnceLock<Result<Realm, String>> = OnceLock::new();
    match REALM_CELL.get_or_init(start_realm) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// The python-gssapi acceptor, killed by PID on drop.
struct Acceptor {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Acceptor {
    fn start(expected_cb: Option<&[u8]>) -> Acceptor {
        let r = realm();
        let mut cmd = Command::new("python3");
        cmd.arg(peers_dir().join("gss_acceptor.py"))
            .env("KRB5_CONFIG", r.dir.join("krb5.conf"))
            .env("KRB5_KTNAME", format!("FILE:{}/http.keytab", r.dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(cb) = expected_cb {
            cmd.arg("--cb").arg(hex(cb));
        }
        let mut child = cmd.spawn().expect("python3 (run scripts/install-peers.sh)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut a = Acceptor { child, stdin, stdout };
        let ready = a.read_line();
        assert_eq!(
            ready, "ready",
            "acceptor did not start (is python gssapi installed?)"
        );
        a
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    fn cmd(&mut self, args: &[&str]) -> Result<Vec<String>, String> {
        writeln!(self.stdin, "{}", args.join(" ")).unwrap();
        let line = self.read_line();
        match line.strip_prefix("ok") {
            Some(rest) => Ok(rest.split_whitespace().map(str::to_owned).collect()),
            None => Err(line),
        }
    }

    /// Feeds a client token; returns (complete, reply token).
    fn step(&mut self, token: &[u8]) -> Result<(bool, Vec<u8>), String> {
        let r = self.cmd(&["step", &b64(token)])?;
        Ok((r[0] == "1", unb64(&r[1])))
    }

    fn unwrap_msg(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let r = self.cmd(&["unwrap", &b64(header), &b64(data)])?;
        Ok(unb64(&r[0]))
    }

    fn wrap_msg(&mut self, plain: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
        let r = self.cmd(&["wrap", &b64(plain)]).unwrap();
        (unb64(&r[0]), unb64(&r[1]), r[2].parse().unwrap())
    }

    /// (initiator, mech oid, flags, delegated)
    fn info(&mut self) -> (String, String, u32, bool) {
        let r = self.cmd(&["info"]).unwrap();
        (r[0].clone(), r[1].clone(), r[2].parse().unwrap(), r[3] == "1")
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(b: &[u8]) -> String {
    if b.is_empty() {
        "-".into()
    } else {
        B64.encode(b)
    }
}

fn unb64(s: &str) -> Vec<u8> {
    if s == "-" {
        Vec::new()
    } else {
        B64.decode(s).unwrap()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The mechanism OID of a GSS InitialContextToken [RFC 2743 3.1]: 0x60, DER length, OID.
fn token_oid(token: &[u8]) -> &[u8] {
    assert_eq!(token[0], 0x60, "GSS InitialContextToken");
    let start = if token[1] & 0x80 == 0 {
        2
    } else {
        2 + usize::from(token[1] & 0x7f)
    };
    &token[start..start + 2 + usize::from(token[start + 1])]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn config(creds: KerberosCredentials, spnego: bool) -> KerberosConfig {
    let mut c = KerberosConfig::new("localhost");
    c.credentials = creds;
    c.spnego = spnego;
    c
}

fn bob_keytab() -> KerberosCredentials {
    KerberosCredentials::Keytab {
        principal: Some(format!("bob@{REALM}")),
        path: realm().dir.join("client.keytab"),
    }
}

/// Runs the handshake; returns the client's first token.
fn handshake(client: &mut KerberosClient, acceptor: &mut Acceptor) -> Vec<u8> {
    let Step::Continue(first) = client.step(None).unwrap() else {
        panic!("the first step must produce a token to send")
    };
    let (complete, reply) = acceptor.step(&first).unwrap();
    assert!(complete, "one round trip for Kerberos");
    assert!(
        !reply.is_empty(),
        "mutual authentication: the acceptor returns AP-REP"
    );
    client.finish(Some(&reply)).unwrap();
    assert!(client.is_established());
    first
}

/// Messages both ways, several in a row (sequence numbers advance in each direction).
fn exchange(client: &mut KerberosClient, acceptor: &mut Acceptor) {
    let sec = client.session().unwrap();
    for i in 0..3 {
        let msg = format!("<s:Envelope>request {i} {}</s:Envelope>", "x".repeat(i * 700));
        let w = sec.wrap(msg.as_bytes()).unwrap();
        assert_eq!(w.padding, 0, "AES: no padding");
        assert_eq!(
            w.header.len(),
            60,
            "AES256 RFC 4121 header with rotated trailer: 16+16+16+12"
        );
        assert_ne!(&w.data[..], msg.as_bytes(), "encrypted");
        assert_eq!(w.data.len(), msg.len());
        assert_eq!(acceptor.unwrap_msg(&w.header, &w.data).unwrap(), msg.as_bytes());

        let reply = format!("<s:Envelope>response {i}</s:Envelope>");
        let (h, d, pad) = acceptor.wrap_msg(reply.as_bytes());
        assert_eq!(pad, 0);
        assert_eq!(sec.unwrap(&h, &d).unwrap(), reply.as_bytes());
    }
}

#[test]
fn ccache_spnego_handshake_and_encryption_both_ways() {
    realm();
    let mut client = KerberosClient::new(config(KerberosCredentials::Default, true)).unwrap();
    assert_eq!(client.scheme(), "Negotiate");
    assert_eq!(client.target(), "HTTP@localhost");
    let mut acceptor = Acceptor::start(None);
    let first = handshake(&mut client, &mut acceptor);
    assert_eq!(token_oid(&first), OID_SPNEGO_DER, "SPNEGO NegTokenInit");
    // SPNEGO offers Kerberos only (gss_set_neg_mechs), never the NTLMSSP mechanism
    // 1.3.6.1.4.1.311.2.2.10 that a gss-ntlmssp plugin in /etc/gss/mech.d could add.
    assert!(!contains(
        &first,
        &[0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a]
    ));
    assert!(contains(&first, OID_KRB5_DER));
    let info = client.info().unwrap().clone();
    assert_eq!(info.client_principal.as_deref(), Some("alice@HVCTL.TEST"));
    assert_eq!(
        info.server_principal.as_deref(),
        Some("HTTP/localhost@HVCTL.TEST")
    );
    assert!(info.spnego);
    assert!(!info.delegated());
    let (initiator, mech, _flags, delegated) = acceptor.info();
    assert_eq!(initiator, "alice@HVCTL.TEST");
    assert_eq!(mech, "1.2.840.113554.1.2.2", "SPNEGO negotiated Kerberos");
    assert!(!delegated);
    assert_eq!(
        client.session().unwrap().protocol(),
        "application/HTTP-SPNEGO-session-encrypted"
    );
    exchange(&mut client, &mut acceptor);
}

#[test]
fn keytab_raw_krb5_handshake_and_encryption() {
    realm();
    let mut client = KerberosClient::new(config(bob_keytab(), false)).unwrap();
    assert_eq!(client.scheme(), "Kerberos");
    let mut acceptor = Acceptor::start(None);
    let first = handshake(&mut client, &mut acceptor);
    assert_eq!(token_oid(&first), OID_KRB5_DER, "raw krb5 mechanism token");
    assert!(!contains(&first, OID_SPNEGO_DER));
    assert_eq!(
        client.info().unwrap().client_principal.as_deref(),
        Some("bob@HVCTL.TEST")
    );
    assert_eq!(acceptor.info().0, "bob@HVCTL.TEST");
    let mut boxed: Box<dyn ClientAuth> = Box::new(client);
    assert_eq!(
        boxed.session().unwrap().protocol(),
        "application/HTTP-Kerberos-session-encrypted"
    );
    // into_session keeps the context usable.
    let mut sec = boxed.into_session().unwrap();
    let w = sec.wrap(b"after into_session").unwrap();
    assert_eq!(
        acceptor.unwrap_msg(&w.header, &w.data).unwrap(),
        b"after into_session"
    );
}

#[test]
fn keytab_without_principal_uses_its_first_entry() {
    realm();
    let creds = KerberosCredentials::Keytab {
        principal: None,
        path: realm().dir.join("client.keytab"),
    };
    let mut client = KerberosClient::new(config(creds, true)).unwrap();
    let mut acceptor = Acceptor::start(None);
    handshake(&mut client, &mut acceptor);
    assert_eq!(acceptor.info().0, "bob@HVCTL.TEST");
    exchange(&mut client, &mut acceptor);
}

#[test]
fn password_credentials_and_step_completion_path() {
    realm();
    let creds = KerberosCredentials::Password {
        principal: format!("alice@{REALM}"),
        password: Zeroizing::new(ALICE_PASSWORD.to_owned()),
    };
    assert!(
        !format!("{creds:?}").contains(ALICE_PASSWORD),
        "Debug hides the password"
    );
    let mut client = KerberosClient::new(config(creds, true)).unwrap();
    let mut acceptor = Acceptor::start(None);
    let Step::Continue(first) = client.step(None).unwrap() else {
        panic!()
    };
    let (_, reply) = acceptor.step(&first).unwrap();
    // The transport may also feed the final token to `step`: it completes with nothing to send.
    assert_eq!(client.step(Some(&reply)).unwrap(), Step::Done(None));
    // ...and a later `finish` with the same token is accepted, a different one is not.
    client.finish(Some(&reply)).unwrap();
    client.finish(None).unwrap();
    let e = client.finish(Some(b"other")).unwrap_err();
    assert!(matches!(e, Error::AuthenticationFailed(_)), "{e}");
    assert_eq!(acceptor.info().0, "alice@HVCTL.TEST");
    exchange(&mut client, &mut acceptor);
}

#[test]
fn wrong_password_is_a_clean_error() {
    realm();
    let creds = KerberosCredentials::Password {
        principal: format!("alice@{REALM}"),
        password: Zeroizing::new("wrong".to_owned()),
    };
    let e = KerberosClient::new(config(creds, true)).unwrap_err().to_string();
    assert!(e.contains("gss_acquire_cred_with_password failed"), "{e}");
    assert!(e.to_lowercase().contains("password"), "{e}");
}

#[test]
fn channel_bindings_match_and_mismatch_is_rejected() {
    realm();
    let app = b"tls-server-end-point:\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20";
    for spnego in [true, false] {
        let mut c = config(bob_keytab(), spnego);
        c.channel_bindings = Some(ChannelBindings {
            application_data: app.to_vec(),
        });
        let mut client = KerberosClient::new(c.clone()).unwrap();
        let mut acceptor = Acceptor::start(Some(app));
        handshake(&mut client, &mut acceptor);
        exchange(&mut client, &mut acceptor);

        // The same client bindings against an acceptor expecting other bindings.
        let mut client = KerberosClient::new(c).unwrap();
        let mut other = app.to_vec();
        *other.last_mut().unwrap() ^= 0xff;
        let mut acceptor = Acceptor::start(Some(&other));
        let Step::Continue(first) = client.step(None).unwrap() else {
            panic!()
        };
        let e = acceptor.step(&first).unwrap_err();
        assert!(e.to_lowercase().contains("binding"), "acceptor error: {e}");
    }
}

#[test]
fn delegation_forwards_the_tgt() {
    realm();
    let mut c = config(KerberosCredentials::Default, true);
    c.delegate = true;
    let mut client = KerberosClient::new(c).unwrap();
    let mut acceptor = Acceptor::start(None);
    handshake(&mut client, &mut acceptor);
    assert!(client.info().unwrap().delegated());
    assert!(acceptor.info().3, "the acceptor received delegated credentials");
}

#[test]
fn wrong_spn_is_a_clean_error_with_a_hint() {
    realm();
    let mut c = config(KerberosCredentials::Default, true);
    c.hostname = "no-such-host.hvctl.test".into();
    let mut client = KerberosClient::new(c).unwrap();
    let e = client.step(None).unwrap_err().to_string();
    assert!(e.contains("HTTP@no-such-host.hvctl.test"), "{e}");
    assert!(e.contains("not found in Kerberos database"), "{e}");
    assert!(e.contains("hint") && e.contains("SPN"), "{e}");
    // The context is unusable afterwards, without panicking.
    assert!(matches!(client.step(Some(b"x")), Err(Error::InvalidState(_))));
}

#[test]
fn missing_keytab_is_a_clean_error() {
    realm();
    let creds = KerberosCredentials::Keytab {
        principal: Some(format!("bob@{REALM}")),
        path: realm().dir.join("does-not-exist.keytab"),
    };
    let e = KerberosClient::new(config(creds, false)).unwrap_err().to_string();
    assert!(e.contains("gss_acquire_cred_from failed"), "{e}");
    assert!(e.contains("hint"), "{e}");
}

#[test]
fn missing_library_names_the_package() {
    let e = Library::open(&["/nonexistent/libgssapi_krb5.so.2", "/nonexistent/libgssapi.so.3"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot load the system gssapi library"), "{e}");
    assert!(
        e.contains("/nonexistent/libgssapi_krb5.so.2") && e.contains("/nonexistent/libgssapi.so.3"),
        "{e}"
    );
    if cfg!(target_os = "linux") {
        assert!(e.contains("apt install libgssapi-krb5-2"), "{e}");
        assert!(e.contains("dnf install krb5-libs"), "{e}");
    }
    // A library that exists but is not GSSAPI is refused the same way.
    let e = Library::open(&["libc.so.6"]).unwrap_err().to_string();
    assert!(e.contains("missing symbol gss_import_name"), "{e}");
}

#[test]
fn mutual_authentication_is_required() {
    realm();
    let mut client = KerberosClient::new(config(bob_keytab(), true)).unwrap();
    let Step::Continue(_) = client.step(None).unwrap() else {
        panic!()
    };
    // A 200 without a final WWW-Authenticate token.
    let e = client.finish(None).unwrap_err();
    assert!(
        matches!(&e, Error::AuthenticationFailed(m) if m.contains("mutual")),
        "{e}"
    );
    assert!(client.session().is_none());
}

#[test]
fn tampered_messages_are_rejected_both_ways() {
    realm();
    let mut client = KerberosClient::new(config(bob_keytab(), true)).unwrap();
    let mut acceptor = Acceptor::start(None);
    handshake(&mut client, &mut acceptor);
    let sec = client.session().unwrap();
    let mut w = sec.wrap(b"pay me").unwrap();
    w.data[0] ^= 1;
    assert!(acceptor.unwrap_msg(&w.header, &w.data).is_err());
    let (h, mut d, _) = acceptor.wrap_msg(b"reply");
    d[2] ^= 0x80;
    let e = sec.unwrap(&h, &d).unwrap_err().to_string();
    assert!(e.contains("gss_unwrap_iov failed"), "{e}");
}

/// REPLAY and SEQUENCE were requested, so a sealed reply seen twice, or replies delivered out
/// of order, are refused although they decrypt and verify: MIT reports them in the
/// supplementary status bits of gss_unwrap_iov [RFC 2744 3.9.1], not as a routine error.
#[test]
fn replayed_and_reordered_server_messages_are_refused() {
    realm();
    let (mut client, mut acceptor) = established_pair();
    let sec = client.session().unwrap();
    let (h1, d1, _) = acceptor.wrap_msg(b"<reply 1/>");
    assert_eq!(sec.unwrap(&h1, &d1).unwrap(), b"<reply 1/>");
    // The same sealed reply again: a replay.
    let e = sec.unwrap(&h1, &d1).unwrap_err().to_string();
    assert!(e.contains("replay") && e.contains("GSS_S_DUPLICATE_TOKEN"), "{e}");
    assert!(e.contains("plaintext was discarded"), "{e}");
    // Two replies delivered in the wrong order: the later one first, then the earlier one.
    let (h2, d2, _) = acceptor.wrap_msg(b"<reply 2/>");
    let (h3, d3, _) = acceptor.wrap_msg(b"<reply 3/>");
    let e = sec.unwrap(&h3, &d3).unwrap_err().to_string();
    assert!(e.contains("out of order") && e.contains("GSS_S_GAP_TOKEN"), "{e}");
    let e = sec.unwrap(&h2, &d2).unwrap_err().to_string();
    assert!(
        e.contains("out of order") && e.contains("GSS_S_UNSEQ_TOKEN"),
        "{e}"
    );
    // Neither refusal consumed anything a well-ordered reply needs: the next one is accepted.
    let (h4, d4, _) = acceptor.wrap_msg(b"<reply 4/>");
    assert_eq!(sec.unwrap(&h4, &d4).unwrap(), b"<reply 4/>");
}

fn established_pair() -> (KerberosClient, Acceptor) {
    let mut client = KerberosClient::new(config(bob_keytab(), true)).unwrap();
    let mut acceptor = Acceptor::start(None);
    handshake(&mut client, &mut acceptor);
    (client, acceptor)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Hostile server tokens never panic: a garbage reply to our first token is an error.
    #[test]
    fn hostile_server_tokens_are_errors(token in proptest::collection::vec(any::<u8>(), 0..300), spnego in any::<bool>()) {
        realm();
        let mut client = KerberosClient::new(config(bob_keytab(), spnego)).unwrap();
        let Step::Continue(_) = client.step(None).unwrap() else { panic!() };
        prop_assert!(client.finish(Some(&token)).is_err());
        prop_assert!(client.session().is_none());
    }

    /// Hostile wrapped messages never panic and are never accepted.
    #[test]
    fn hostile_wrapped_messages_are_errors(header in proptest::collection::vec(any::<u8>(), 0..120),
                                          data in proptest::collection::vec(any::<u8>(), 0..200)) {
        static PAIR: OnceLock<Mutex<(KerberosClient, Acceptor)>> = OnceLock::new();
        realm();
        let pair = PAIR.get_or_init(|| Mutex::new(established_pair()));
        let mut guard = pair.lock().unwrap();
        let sec = guard.0.session().unwrap();
        prop_assert!(sec.unwrap(&header, &data).is_err());
    }
}

/// No ticket in the default cache: a clean error that says to run kinit. KRB5CCNAME is
/// process-wide, so this runs in a child process of this test binary with its own environment.
#[test]
fn no_ticket_says_run_kinit() {
    const CHILD: &str = "HVCTL_KRB_NO_TICKET_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let e = KerberosClient::new(config(KerberosCredentials::Default, true))
            .and_then(|mut c| c.step(None).map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("kinit"), "{e}");
        println!("child-error: {e}");
        return;
    }
    let r = realm();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_ticket_says_run_kinit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("KRB5_CONFIG", r.dir.join("krb5.conf"))
        .env("KRB5CCNAME", format!("FILE:{}/empty.ccache", r.dir.display()))
        .env_remove("KRB5_CLIENT_KTNAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("child-error: gssapi: kerberos for HTTP@localhost"),
        "{stdout}"
    );
}

mod negotiate {
    use super::*;
    use winrm_auth::negotiate::negotiate_client;
    use winrm_auth::ntlm::{ClientConfig, Credentials};

    fn ntlm() -> Option<(Credentials, ClientConfig)> {
        Some((
            Credentials::new("HVCTL", "alice", "secret"),
            ClientConfig {
                workstation: "WS".into(),
                target_spn: Some("HTTP/localhost".into()),
                channel_bindings: None,
            },
        ))
    }

    fn rng() -> Box<dyn FnMut(&mut [u8]) + Send> {
        Box::new(|b: &mut [u8]| b.fill(7))
    }

    #[test]
    fn kerberos_when_it_works() {
        realm();
        let mut client = negotiate_client(Some(config(bob_keytab(), true)), ntlm(), rng(), 0).unwrap();
        assert_eq!(client.scheme(), "Negotiate");
        assert!(client.kerberos_fallback().is_none());
        let Step::Continue(first) = client.step(None).unwrap() else {
            panic!()
        };
        assert_eq!(token_oid(&first), OID_SPNEGO_DER);
        let mut acceptor = Acceptor::start(None);
        let (complete, reply) = acceptor.step(&first).unwrap();
        assert!(complete);
        client.finish(Some(&reply)).unwrap();
        let sec = client.session().unwrap();
        assert_eq!(sec.protocol(), "application/HTTP-SPNEGO-session-encrypted");
        let w = sec.wrap(b"negotiated").unwrap();
        assert_eq!(acceptor.unwrap_msg(&w.header, &w.data).unwrap(), b"negotiated");
        assert_eq!(acceptor.info().0, "bob@HVCTL.TEST");
    }

    #[test]
    fn ntlm_when_kerberos_fails() {
        realm();
        let mut k = config(bob_keytab(), true);
        k.hostname = "unknown-host.hvctl.test".into();
        let mut client = negotiate_client(Some(k), ntlm(), rng(), 0).unwrap();
        assert_eq!(client.scheme(), "Negotiate");
        // The fallback is visible: the Kerberos error comes with the NTLM context.
        let reason = client.kerberos_fallback().expect("fallback reason").to_string();
        assert!(
            reason.contains("HTTP@unknown-host.hvctl.test")
                && reason.contains("not found in Kerberos database"),
            "{reason}"
        );
        let Step::Continue(first) = client.step(None).unwrap() else {
            panic!()
        };
        assert_eq!(&first[..12], b"NTLMSSP\0\x01\0\0\0", "NTLM NEGOTIATE_MESSAGE");
    }

    #[test]
    fn errors_say_what_was_tried() {
        realm();
        let mut k = config(bob_keytab(), true);
        k.hostname = "unknown-host.hvctl.test".into();
        let e = negotiate_client(Some(k), None, rng(), 0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("negotiate tried kerberos only"), "{e}");
        assert!(e.contains("not found in Kerberos database"), "{e}");
        let e = negotiate_client(None, None, rng(), 0).err().unwrap();
        assert!(matches!(e, Error::InvalidState(m) if m.contains("neither kerberos nor ntlm")));
    }
}

/// The sealed messages travel in the MS-WSMV `multipart/encrypted` body (H2's `framing`): our
/// encoded request unseals at the acceptor, the acceptor's reply framed the way Windows frames
/// it decodes with our session.
#[test]
fn multipart_encrypted_framing_both_ways() {
    use winrm_auth::framing;
    realm();
    let (mut client, mut acceptor) = established_pair();
    let sec = client.session().unwrap();
    let soap = b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>";
    let (content_type, body) = framing::encode(sec, soap).unwrap();
    assert_eq!(
        content_type,
        "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\""
    );
    let parts = framing::parse(&content_type, &body).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].length, soap.len());
    assert_eq!(parts[0].header.len(), 60);
    assert_eq!(acceptor.unwrap_msg(parts[0].header, parts[0].data).unwrap(), soap);

    let reply = b"<s:Envelope><s:Body>reply</s:Body></s:Envelope>";
    let (h, d, pad) = acceptor.wrap_msg(reply);
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n",
    );
    body.extend_from_slice(
        format!(
            "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={}\r\n",
            reply.len() + pad
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n");
    body.extend_from_slice(&u32::try_from(h.len()).unwrap().to_le_bytes());
    body.extend_from_slice(&h);
    body.extend_from_slice(&d);
    body.extend_from_slice(b"--Encrypted Boundary--\r\n");
    let ct = framing::content_type("application/HTTP-SPNEGO-session-encrypted");
    assert_eq!(
        framing::decode(client.session().unwrap(), &ct, &body).unwrap(),
        reply
    );
}

/// The SPN override: another host name, or a complete principal name in `service`.
#[test]
fn spn_overrides() {
    realm();
    let mut c = config(bob_keytab(), false);
    c.service = format!("HTTP/localhost@{REALM}");
    c.hostname = "ignored.example".into();
    let mut client = KerberosClient::new(c).unwrap();
    assert_eq!(client.target(), "HTTP/localhost@HVCTL.TEST");
    let mut acceptor = Acceptor::start(None);
    handshake(&mut client, &mut acceptor);
    assert_eq!(
        client.info().unwrap().server_principal.as_deref(),
        Some("HTTP/localhost@HVCTL.TEST")
    );

    let mut c = config(bob_keytab(), true);
    c.service = "WSMAN".into();
    let mut client = KerberosClient::new(c).unwrap();
    assert_eq!(client.target(), "WSMAN@localhost");
    let e = client.step(None).unwrap_err().to_string();
    assert!(
        e.contains("WSMAN/localhost@HVCTL.TEST not found in Kerberos database"),
        "{e}"
    );
}

/// Runs the test `name` of this binary again in a child process with `child_var` set and
/// HVCTL_GSSAPI_LIBRARY = `library` (the library is loaded once per process); returns its
/// standard output after checking that it passed.
fn child_with_library(name: &str, child_var: &str, library: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(child_var, "1")
        .env("HVCTL_GSSAPI_LIBRARY", library)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `KerberosClient::new` with the library missing (HVCTL_GSSAPI_LIBRARY pointing nowhere; the
/// library is loaded once per process, so this runs in a child process): a clean error that
/// names the package, and Negotiate falls back to NTLM.
#[test]
fn missing_library_through_the_client() {
    const CHILD: &str = "HVCTL_KRB_NO_LIBRARY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let e = KerberosClient::new(config(KerberosCredentials::Default, true)).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Gssapi(_)), "{text}");
        assert!(text.contains("/nonexistent/libgssapi_krb5.so.2"), "{text}");
        assert!(text.contains("libgssapi-krb5-2"), "{text}");
        let ntlm = Some((
            winrm_auth::ntlm::Credentials::new("HVCTL", "alice", "secret"),
            winrm_auth::ntlm::ClientConfig {
                workstation: "WS".into(),
                target_spn: None,
                channel_bindings: None,
            },
        ));
        let mut client = winrm_auth::negotiate::negotiate_client(
            Some(config(KerberosCredentials::Default, true)),
            ntlm,
            Box::new(|b: &mut [u8]| b.fill(1)),
            0,
        )
        .unwrap();
        let Step::Continue(first) = client.step(None).unwrap() else {
            panic!()
        };
        assert!(first.starts_with(b"NTLMSSP\0"));
        println!("child-ok: {text}");
        return;
    }
    let stdout = child_with_library(
        "missing_library_through_the_client",
        CHILD,
        "/nonexistent/libgssapi_krb5.so.2",
    );
    assert!(
        stdout.contains("child-ok: gssapi: cannot load the system gssapi library"),
        "{stdout}"
    );
}

/// HVCTL_GSSAPI_LIBRARY takes an absolute path only: a bare name would be found through the
/// loader's search path, whichever library that is. Run in a child process (the library is
/// loaded once per process); the name given is the real MIT library's, which would load.
#[test]
fn relative_library_override_is_refused() {
    const CHILD: &str = "HVCTL_KRB_RELATIVE_LIBRARY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let e = KerberosClient::new(config(KerberosCredentials::Default, true)).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Gssapi(_)), "{text}");
        println!("child-error: {text}");
        return;
    }
    let stdout = child_with_library(
        "relative_library_override_is_refused",
        CHILD,
        "libgssapi_krb5.so.2",
    );
    assert!(
        stdout.contains(
            "child-error: gssapi: HVCTL_GSSAPI_LIBRARY must be an absolute path to the gssapi library, not \"libgssapi_krb5.so.2\""
        ),
        "{stdout}"
    );
}
