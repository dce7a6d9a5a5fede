//! Interop with pyspnego's NTLM (an implementation we did not write), driven through
//! `tests/peers/ntlm_peer.py` over stdin/stdout. The peer is installed by
//! `scripts/install-peers.sh`; each test starts its own peer and kills it on drop.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use winrm_auth::cbt::ChannelBindings;
use winrm_auth::ntlm::{AcceptorConfig, ClientConfig, Credentials, NtlmAcceptor, NtlmClient, UserTable};
use winrm_auth::{ClientAuth, Error, Step};

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/ntlm_peer.py")
}

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, "HVLAB:Administrator:Secr3t!\n").unwrap();
        let mut child = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script())
            .args(args)
            .env("NTLM_USER_FILE", &users)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with pyspnego (run scripts/install-peers.sh)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = Peer {
            child,
            stdin,
            stdout,
            _dir: dir,
        };
        let ready = peer.read();
        assert_eq!(
            ready["ready"], true,
            "peer did not start: {ready} (is pyspnego installed?)"
        );
        peer
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad peer output {line:?}: {e}"))
    }

    fn rpc(&mut self, req: Value) -> Value {
        writeln!(self.stdin, "{req}").unwrap();
        self.stdin.flush().unwrap();
        self.read()
    }

    /// Feeds a token; returns (token out, complete) or the peer's error text.
    fn step(&mut self, token: Option<&[u8]>) -> Result<(Option<Vec<u8>>, bool), String> {
        let r = self.rpc(json!({"op": "step", "token": token.map(|t| B64.encode(t))}));
        if let Some(e) = r.get("error") {
            return Err(e.as_str().unwrap_or_default().to_owned());
        }
        let token = r["token"].as_str().map(|t| B64.decode(t).unwrap());
        Ok((token, r["complete"].as_bool().unwrap()))
    }

    fn wrap(&mut self, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let r = self.rpc(json!({"op": "wrap", "data": B64.encode(data)}));
        assert!(r.get("error").is_none(), "{r}");
        (
            B64.decode(r["header"].as_str().unwrap()).unwrap(),
            B64.decode(r["data"].as_str().unwrap()).unwrap(),
        )
    }

    fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let r = self.rpc(json!({"op": "unwrap", "header": B64.encode(header), "data": B64.encode(data)}));
        match r.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(B64.decode(r["data"].as_str().unwrap()).unwrap()),
        }
    }
}

fn os_rng() -> winrm_auth::ntlm::Rng {
    // Deterministic but distinct per call site is fine for tests; the peer does not care.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    Box::new(move |out: &mut [u8]| {
        for b in out {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
    })
}

/// The current FILETIME (the test supplies the clock; gss-ntlmssp checks the server timestamp).
fn now() -> u64 {
    winrm_auth::ntlm::filetime(std::time::SystemTime::now())
}

fn our_client(password: &str, cbt: Option<&[u8]>) -> NtlmClient {
    NtlmClient::new(
        Credentials::parse("HVLAB\\Administrator", password),
        ClientConfig {
            workstation: "LINUXBOX".into(),
            target_spn: Some("HTTP/hv01.hvlab.example".into()),
            channel_bindings: cbt.map(|c| ChannelBindings::new(c.to_vec())),
            require_seal: true,
        },
        os_rng(),
        now(),
    )
}

/// Our client against the pyspnego acceptor; returns the peer's error if it rejected us.
fn client_handshake(peer: &mut Peer, client: &mut NtlmClient) -> Result<(), String> {
    let Step::Continue(neg) = client.step(None).unwrap() else {
        panic!("no negotiate")
    };
    let (chal, complete) = peer.step(Some(&neg))?;
    assert!(!complete);
    let Step::Done(Some(auth)) = client.step(chal.as_deref()).unwrap() else {
        panic!("no authenticate")
    };
    let (last, complete) = peer.step(Some(&auth))?;
    assert!(complete);
    client.finish(last.as_deref()).unwrap();
    Ok(())
}

#[test]
fn our_client_against_pyspnego_acceptor_seals_both_ways() {
    let mut peer = Peer::start(&["server"]);
    let mut client = our_client("Secr3t!", None);
    client_handshake(&mut peer, &mut client).unwrap();
    assert_eq!(peer.rpc(json!({"op": "user"}))["user"], "HVLAB\\Administrator");
    let sec = client.session().unwrap();
    for i in 0..4 {
        let req = format!("<s:Envelope>request {i}</s:Envelope>").into_bytes();
        let w = sec.wrap(&req).unwrap();
        assert_eq!(peer.unwrap(&w.header, &w.data).unwrap(), req);
        let resp = format!("<s:Envelope>response {i} {}</s:Envelope>", "x".repeat(i * 1000)).into_bytes();
        let (h, d) = peer.wrap(&resp);
        assert_eq!(sec.unwrap(&h, &d).unwrap(), resp);
    }
    // A message pyspnego sealed, tampered in transit, is refused.
    let (h, mut d) = peer.wrap(b"<s:Envelope>tampered</s:Envelope>");
    d[0] ^= 1;
    assert!(matches!(sec.unwrap(&h, &d), Err(Error::BadSignature(_))));
}

#[test]
fn our_framing_is_read_by_pyspnego() {
    let mut peer = Peer::start(&["server"]);
    let mut client = our_client("Secr3t!", None);
    client_handshake(&mut peer, &mut client).unwrap();
    let soap = b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>";
    let (_ct, body) = winrm_auth::framing::encode(client.session().unwrap(), soap).unwrap();
    let part = winrm_auth::framing::parse(&winrm_auth::framing::content_type("x"), &body).unwrap();
    assert_eq!(part.len(), 1);
    assert_eq!(part[0].length, soap.len());
    assert_eq!(peer.unwrap(part[0].header, part[0].data).unwrap(), soap);
}

#[test]
fn our_client_with_channel_bindings_against_pyspnego() {
    let cbt = b"tls-server-end-point:0123456789abcdef0123456789abcdef";
    let hex_cbt = hex::encode(cbt);
    let mut peer = Peer::start(&["server", "--cbt", &hex_cbt]);
    let mut client = our_client("Secr3t!", Some(cbt));
    client_handshake(&mut peer, &mut client).unwrap();
    let mut peer = Peer::start(&["server", "--cbt", &hex_cbt]);
    let mut client = our_client("Secr3t!", Some(b"tls-server-end-point:wrong"));
    let err = client_handshake(&mut peer, &mut client).unwrap_err();
    assert!(err.contains("BadBindings") || err.contains("bindings"), "{err}");
}

#[test]
fn our_client_with_wrong_password_is_rejected_by_pyspnego() {
    let mut peer = Peer::start(&["server"]);
    let mut client = our_client("wrong-password", None);
    let err = client_handshake(&mut peer, &mut client).unwrap_err();
    assert!(
        err.contains("Invalid NTLMv2") || err.contains("BadMIC") || err.contains("Error"),
        "{err}"
    );
}

fn our_acceptor(cbt: Option<&[u8]>) -> NtlmAcceptor {
    let mut users = UserTable::new();
    users.add("HVLAB", "Administrator", "Secr3t!");
    NtlmAcceptor::new(
        Arc::new(users),
        AcceptorConfig {
            netbios_domain: "HVLAB".into(),
            netbios_computer: "HV01".into(),
            dns_domain: "hvlab.example".into(),
            dns_computer: "hv01.hvlab.example".into(),
            expected_channel_bindings: cbt.map(|c| ChannelBindings::new(c.to_vec())),
        },
        os_rng(),
        now(),
    )
}

fn acceptor_handshake(peer: &mut Peer, acc: &mut NtlmAcceptor) -> Result<(), Error> {
    let (neg, _) = peer.step(None).unwrap();
    let Step::Continue(chal) = acc.step(&neg.unwrap())? else {
        panic!("no challenge")
    };
    let (auth, complete) = peer.step(Some(&chal)).unwrap();
    assert!(complete);
    assert_eq!(acc.step(&auth.unwrap())?, Step::Done(None));
    Ok(())
}

#[test]
fn pyspnego_client_against_our_acceptor_seals_both_ways() {
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "Secr3t!"]);
    let mut acc = our_acceptor(None);
    acceptor_handshake(&mut peer, &mut acc).unwrap();
    assert_eq!(acc.user(), Some(("HVLAB".into(), "Administrator".into())));
    let mut sec = acc.into_session().unwrap();
    for i in 0..4 {
        let req = format!("<request {i}/>").into_bytes();
        let (h, d) = peer.wrap(&req);
        assert_eq!(sec.unwrap(&h, &d).unwrap(), req);
        let resp = format!("<response {i}/>").into_bytes();
        let w = sec.wrap(&resp).unwrap();
        assert_eq!(peer.unwrap(&w.header, &w.data).unwrap(), resp);
    }
    // pyspnego refuses a message we sealed and someone altered.
    let mut w = sec.wrap(b"<altered/>").unwrap();
    w.data[2] ^= 4;
    assert!(peer.unwrap(&w.header, &w.data).is_err());
}

#[test]
fn pyspnego_client_with_channel_bindings_against_our_acceptor() {
    let cbt = b"tls-server-end-point:fedcba9876543210fedcba9876543210";
    let hex_cbt = hex::encode(cbt);
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "Secr3t!", "--cbt", &hex_cbt]);
    let mut acc = our_acceptor(Some(cbt));
    acceptor_handshake(&mut peer, &mut acc).unwrap();
    // Without bindings, a strict acceptor refuses.
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "Secr3t!"]);
    let mut acc = our_acceptor(Some(cbt));
    let err = acceptor_handshake(&mut peer, &mut acc).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("channel bindings")),
        "{err}"
    );
}

/// pyspnego's client sends MsvAvTargetName `HTTP/<host>` and a MIC; our acceptor takes a UPN
/// for its own domain, and refuses a target name for another host (a relayed authentication).
#[test]
fn pyspnego_client_upn_and_target_name_against_our_acceptor() {
    let mut peer = Peer::start(&["client", "Administrator@hvlab.example", "Secr3t!"]);
    let mut acc = our_acceptor(None);
    acceptor_handshake(&mut peer, &mut acc).unwrap();
    assert_eq!(
        acc.user(),
        Some(("".into(), "Administrator@hvlab.example".into()))
    );
    let mut peer = Peer::start(&[
        "client",
        "HVLAB\\Administrator",
        "Secr3t!",
        "--host",
        "hv02.hvlab.example",
    ]);
    let mut acc = our_acceptor(None);
    let err = acceptor_handshake(&mut peer, &mut acc).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("HTTP/hv02.hvlab.example")),
        "{err}"
    );
}

#[test]
fn pyspnego_client_with_wrong_password_is_authentication_failed() {
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "not-the-password"]);
    let mut acc = our_acceptor(None);
    let err = acceptor_handshake(&mut peer, &mut acc).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("wrong password")),
        "{err}"
    );
}

// gss-ntlmssp (the system GSSAPI NTLM mechanism, C) through python-gssapi: a second
// independent implementation, same peer protocol (`--gss`).

#[test]
fn our_client_against_gss_ntlmssp_acceptor_seals_both_ways() {
    let mut peer = Peer::start(&["server", "--gss"]);
    let mut client = our_client("Secr3t!", None);
    client_handshake(&mut peer, &mut client).unwrap();
    let sec = client.session().unwrap();
    for i in 0..3 {
        let req = format!("<request {i}/>").into_bytes();
        let w = sec.wrap(&req).unwrap();
        assert_eq!(peer.unwrap(&w.header, &w.data).unwrap(), req);
        let resp = format!("<response {i}/>").into_bytes();
        let (h, d) = peer.wrap(&resp);
        assert_eq!(sec.unwrap(&h, &d).unwrap(), resp);
    }
}

/// gss-ntlmssp's initiator, used as the raw NTLM mechanism (not under SPNEGO), sends no MIC
/// (MsvAvFlags 0) even though our CHALLENGE carries MsvAvTimestamp: our acceptor, as strict
/// as [MS-NLMP 3.1.5.1.2] allows, refuses it, after the proof has verified (so the refusal is
/// about the MIC, not the password).
#[test]
fn gss_ntlmssp_client_without_mic_is_refused_by_our_acceptor() {
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "Secr3t!", "--gss"]);
    let mut acc = our_acceptor(None);
    let err = acceptor_handshake(&mut peer, &mut acc).unwrap_err();
    assert!(
        matches!(&err, Error::BadSignature(m) if m.contains("MsvAvTimestamp") && m.contains("mic")),
        "{err}"
    );
    assert!(acc.user().is_none());
}

#[test]
fn wrong_password_fails_cleanly_with_gss_ntlmssp_both_ways() {
    let mut peer = Peer::start(&["server", "--gss"]);
    let mut client = our_client("wrong-password", None);
    assert!(client_handshake(&mut peer, &mut client).is_err());
    let mut peer = Peer::start(&["client", "HVLAB\\Administrator", "not-the-password", "--gss"]);
    let mut acc = our_acceptor(None);
    let err = acceptor_handshake(&mut peer, &mut acc).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("wrong password")),
        "{err}"
    );
}
