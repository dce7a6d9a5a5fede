//! Our NTLM client and framing against `tests/peers/winrm_ntlm_server.py` (pyspnego acceptor
//! with WinRM message encryption) over a real localhost HTTP/1.1 keep-alive connection, using
//! only std I/O in the test. The server is started per test and killed on drop.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use winrm_auth::cbt::ChannelBindings;
use winrm_auth::ntlm::{ClientConfig, Credentials, NtlmClient};
use winrm_auth::{framing, www_authenticate, ClientAuth, Error, Step};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Get.xml"),
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>\
             <a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action>\
             <a:RelatesTo>{{RELATES_TO}}</a:RelatesTo></s:Header><s:Body><p:X xmlns:p=\"urn:x\">ok</p:X></s:Body></s:Envelope>",
        )
        .unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, "HVLAB:Administrator:Secr3t!\n").unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/winrm_ntlm_server.py");
        let mut child = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script)
            .arg(dir.path())
            .args(extra)
            // The peer's account, in a file this test owns (deleted with `dir`), not one the
            // peer would leave in /tmp when it is killed.
            .env("NTLM_USER_FILE", &users)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with pyspnego (run scripts/install-peers.sh)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let port = u16::try_from(v["port"].as_u64().unwrap()).unwrap();
        Server {
            child,
            port,
            _dir: dir,
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn post<S: Read + Write>(conn: &mut BufReader<S>, headers: &[(&str, String)], body: &[u8]) -> Response {
    let mut req = String::from("POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let s = conn.get_mut();
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut status_line = String::new();
    conn.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    Response {
        status,
        headers,
        body,
    }
}

fn rng() -> winrm_auth::ntlm::Rng {
    let mut n: u32 = 0x1234_5678;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (n >> 16) as u8;
        }
    })
}

/// Runs the NTLM handshake on `conn` (empty-body AUTHENTICATE, pywinrm style).
fn authenticate(conn: &mut BufReader<TcpStream>, password: &str) -> Result<NtlmClient, u16> {
    authenticate_with(conn, password, None)
}

fn authenticate_with<S: Read + Write>(
    conn: &mut BufReader<S>,
    password: &str,
    channel_bindings: Option<ChannelBindings>,
) -> Result<NtlmClient, u16> {
    let mut client = NtlmClient::new(
        Credentials::parse("HVLAB\\Administrator", password),
        ClientConfig {
            workstation: "LINUXBOX".into(),
            target_spn: Some("HTTP/127.0.0.1".into()),
            channel_bindings,
            require_seal: true,
        },
        rng(),
        133_500_000_000_000_000,
    );
    let first = post(conn, &[], b"");
    assert_eq!(first.status, 401);
    let offered = www_authenticate::parse(&first.all("WWW-Authenticate"));
    assert!(
        www_authenticate::find(&offered, "Negotiate").is_some(),
        "{:?}",
        first.headers
    );
    let Step::Continue(neg) = client.step(None).unwrap() else {
        panic!()
    };
    let r = post(
        conn,
        &[("Authorization", format!("Negotiate {}", B64.encode(neg)))],
        b"",
    );
    assert_eq!(r.status, 401);
    let chal = www_authenticate::parse(&r.all("WWW-Authenticate"));
    let token = www_authenticate::find(&chal, "Negotiate")
        .and_then(|c| c.token.clone())
        .unwrap();
    let Step::Done(Some(auth)) = client.step(Some(&token)).unwrap() else {
        panic!()
    };
    let r = post(
        conn,
        &[("Authorization", format!("Negotiate {}", B64.encode(auth)))],
        b"",
    );
    if r.status != 200 {
        return Err(r.status);
    }
    client.finish(None).unwrap();
    Ok(client)
}

fn get_request(message_id: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>\
         <a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>\
         <a:MessageID>{message_id}</a:MessageID></s:Header><s:Body/></s:Envelope>"
    )
}

#[test]
fn sealed_requests_on_one_keep_alive_connection() {
    let server = Server::start(&[]);
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
    let mut client = authenticate(&mut conn, "Secr3t!").unwrap();
    for i in 0..3 {
        let mid = format!("uuid:00000000-0000-0000-0000-00000000000{i}");
        let sec = client.session().unwrap();
        let (ct, body) = framing::encode(sec, get_request(&mid).as_bytes()).unwrap();
        let r = post(&mut conn, &[("Content-Type", ct)], &body);
        assert_eq!(r.status, 200);
        let rct = r.header("Content-Type").unwrap().to_owned();
        assert!(framing::is_encrypted(&rct), "{rct}");
        let plain = framing::decode(client.session().unwrap(), &rct, &r.body).unwrap();
        let text = String::from_utf8(plain).unwrap();
        assert!(
            text.contains(&format!("<a:RelatesTo>{mid}</a:RelatesTo>")),
            "{text}"
        );
        assert!(text.contains(">ok</p:X>"));
    }
    // A reply tampered in transit is refused by our session.
    let sec = client.session().unwrap();
    let (ct, body) = framing::encode(sec, get_request("uuid:tamper").as_bytes()).unwrap();
    let mut r = post(&mut conn, &[("Content-Type", ct)], &body);
    let n = r.body.len();
    r.body[n - 30] ^= 0x20;
    let rct = r.header("Content-Type").unwrap().to_owned();
    let err = framing::decode(client.session().unwrap(), &rct, &r.body).unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)), "{err}");
    let stats: serde_json::Value = {
        let mut s = BufReader::new(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
        s.get_mut()
            .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        serde_json::from_str(all.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    assert_eq!(stats["connections"], 1);
    assert_eq!(stats["sealed_requests"], 4);
    assert_eq!(stats["by_action"]["Get"], 4);
}

#[test]
fn wrong_password_gets_401() {
    let server = Server::start(&[]);
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
    assert_eq!(authenticate(&mut conn, "bad").err(), Some(401));
}

#[test]
fn unencrypted_body_is_refused_by_default() {
    let server = Server::start(&[]);
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
    let _client = authenticate(&mut conn, "Secr3t!").unwrap();
    let r = post(
        &mut conn,
        &[("Content-Type", "application/soap+xml;charset=UTF-8".into())],
        get_request("uuid:plain").as_bytes(),
    );
    assert_eq!(r.status, 400);
}

/// Accepts any server certificate: the test pins the certificate it generated by computing the
/// channel bindings from it, which the server checks.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(port: u16) -> (BufReader<Tls>, Vec<u8>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(("127.0.0.1", port)).unwrap());
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let cert = tls.conn.peer_certificates().unwrap()[0].to_vec();
    (BufReader::new(tls), cert)
}

#[test]
fn https_with_required_channel_bindings_from_a_sha384_certificate() {
    // P-384/SHA-384 certificate: RFC 5929 keeps SHA-384, and the server (pyspnego with the
    // hash chosen by the `cryptography` package) must agree with our choice.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
        "--cbt",
    ]);
    // Right bindings: authenticated, and a sealed request works.
    let (mut conn, peer_cert) = tls_connect(server.port);
    assert_eq!(peer_cert, cert.der().to_vec());
    let cb = ChannelBindings::tls_server_end_point(&peer_cert).unwrap();
    assert_eq!(cb.application_data.len(), "tls-server-end-point:".len() + 48);
    let mut client = authenticate_with(&mut conn, "Secr3t!", Some(cb)).unwrap();
    let (ct, body) = framing::encode(client.session().unwrap(), get_request("uuid:tls").as_bytes()).unwrap();
    let r = post(&mut conn, &[("Content-Type", ct)], &body);
    assert_eq!(r.status, 200);
    let rct = r.header("Content-Type").unwrap().to_owned();
    let plain = framing::decode(client.session().unwrap(), &rct, &r.body).unwrap();
    assert!(String::from_utf8(plain)
        .unwrap()
        .contains("<a:RelatesTo>uuid:tls</a:RelatesTo>"));
    // No bindings, or bindings hashed with SHA-256 instead of SHA-384: refused.
    let (mut conn, _) = tls_connect(server.port);
    assert_eq!(authenticate_with(&mut conn, "Secr3t!", None).err(), Some(401));
    let (mut conn, _) = tls_connect(server.port);
    let mut wrong = b"tls-server-end-point:".to_vec();
    wrong.extend_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(&peer_cert));
    assert_eq!(
        authenticate_with(&mut conn, "Secr3t!", Some(ChannelBindings::new(wrong))).err(),
        Some(401)
    );
}
