//! Interop with an independent NTLM acceptor: `tests/peers/winrm_ntlm_server.py` (pyspnego's
//! NTLM and `wrap_winrm`/`unwrap_winrm`). The test starts it on 127.0.0.1 and kills it by PID.
//!
//! The peer picks canned replies by action, so an enumeration there is an optimized
//! EnumerateResponse page plus one Pull page; many Pull pages are covered in `transport.rs`.
#![allow(clippy::unwrap_used)]

mod support;

use support::{CS_URI, RSD_URI};

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use winrm_client::{AuthMethod, Client};
use wsman_soap::{Enumerate, EnumerationPage, Instance, Item, ResponseBody, Scalar, SelectorSet};

const USER: &str = "CORP\\alice";
const PASSWORD: &str = "Passw0rd!";

struct Peer {
    child: Child,
    port: u16,
    https: bool,
    /// Holds the peer's account file (deleted on drop; a killed peer cannot delete its own).
    _users: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(responses: &Path, extra: &[&str]) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/winrm_ntlm_server.py");
        // The peer logs every request on stderr: into a file, so that a full pipe cannot block
        // it, and so that a peer that dies at start can say why.
        let log = tempfile::NamedTempFile::new().unwrap();
        let users = tempfile::tempdir().unwrap();
        let users_file = users.path().join("users");
        std::fs::write(&users_file, format!("CORP:alice:{PASSWORD}\n")).unwrap();
        let mut child = Command::new("python3")
            .arg(script)
            .arg(responses)
            .args(extra)
            .env("NTLM_USER_FILE", &users_file)
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            // The peer died before announcing its port: show why.
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the pyspnego peer printed {line:?} ({e}); its stderr: {err}")
        });
        assert_eq!(v["pid"].as_u64().unwrap(), u64::from(child.id()));
        let port = u16::try_from(v["port"].as_u64().unwrap()).unwrap();
        Peer {
            child,
            port,
            https: v["scheme"] == "https",
            _users: users,
        }
    }

    fn endpoint(&self) -> String {
        format!(
            "{}://127.0.0.1:{}/wsman",
            if self.https { "https" } else { "http" },
            self.port
        )
    }

    /// The peer's /stats (plain HTTP only).
    fn stats(&self) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
        serde_json::from_str(body).unwrap()
    }
}

fn vm(i: usize) -> Item {
    Item {
        instance: Some(
            Instance::new("Msvm_ComputerSystem").with("ElementName", Scalar::String(format!("vm-{i}"))),
        ),
        epr: None,
    }
}

fn page(action: &str, context: Option<&str>, items: Vec<Item>, end: bool) -> String {
    wsman_soap::write_response(
        action,
        "uuid:00000000-0000-0000-0000-000000000001",
        "uuid:00000000-0000-0000-0000-000000000000",
        &ResponseBody::Enumeration(EnumerationPage {
            context: context.map(str::to_owned),
            items,
            end_of_sequence: end,
        }),
    )
}

fn responses_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("Get.xml"),
        support::fixture("wsman/get/replication_setting_data.response.xml"),
    )
    .unwrap();
    std::fs::write(
        p.join("ReverseReplicationRelationship.xml"),
        support::fixture("wsman/invoke/reverse_replication_relationship.response.xml"),
    )
    .unwrap();
    let enum_action = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    let pull_action = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    std::fs::write(
        p.join("Enumerate.xml"),
        page(enum_action, Some("ctx-1"), vec![vm(0), vm(1)], false),
    )
    .unwrap();
    std::fs::write(
        p.join("Pull.xml"),
        page(pull_action, None, vec![vm(2), vm(3)], true),
    )
    .unwrap();
    dir
}

fn selectors() -> SelectorSet {
    SelectorSet::new().with(
        "InstanceID",
        "Microsoft:3F2504E0-4F89-11D3-9A0C-0305E82C3301\\HVR\\0",
    )
}

#[tokio::test]
async fn get_enumerate_invoke_encrypted_on_one_connection_against_pyspnego() {
    let dir = responses_dir();
    let peer = Peer::start(dir.path(), &[]);
    let c = Client::builder(&peer.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .build()
        .unwrap();

    let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(rsd.get_str("ElementName"), Some("vm-sql01"));
    let e = Enumerate {
        optimize: true,
        max_elements: Some(2),
        ..Enumerate::default()
    };
    let items = c.enumerate(CS_URI, &e).await.unwrap();
    let names: Vec<_> = items
        .iter()
        .map(|i| {
            i.instance
                .as_ref()
                .unwrap()
                .get_str("ElementName")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["vm-0", "vm-1", "vm-2", "vm-3"]);
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    assert!(out.job_instance_id().is_some());
    c.get(RSD_URI, &selectors()).await.unwrap();

    let stats = peer.stats();
    // One connection for all the WinRM traffic; the peer counts the /stats probe's own
    // connection asynchronously (so 1 or 2 here). The exact proof: one two-leg handshake for
    // five sealed requests (an NTLM context cannot move to another connection), and our own
    // connection count.
    let conns = stats["connections"].as_u64().unwrap();
    assert!(conns == 1 || conns == 2, "{stats}");
    assert_eq!(stats["requests"].as_u64().unwrap(), 5 + 2, "{stats}");
    assert_eq!(c.connections_opened(), 1);
    assert_eq!(stats["sealed_requests"].as_u64().unwrap(), 5, "{stats}");
    assert_eq!(stats["auth_failures"].as_u64().unwrap(), 0, "{stats}");
    assert_eq!(stats["unencrypted_rejected"].as_u64().unwrap(), 0, "{stats}");
}

#[tokio::test]
async fn reauthentication_after_the_peer_drops_the_context() {
    let dir = responses_dir();
    let peer = Peer::start(dir.path(), &["--reauth-after", "2"]);
    let c = Client::builder(&peer.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .build()
        .unwrap();
    for _ in 0..5 {
        let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
        assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    }
    // Every new context starts on a new connection (the old one is dropped with its pool, so
    // no leg of the new handshake can land on it): the first handshake plus two re-auths.
    assert_eq!(c.connections_opened(), 3);
    let stats = peer.stats();
    // 5 Gets processed; 2 more were answered 401 and re-sent after a new handshake:
    // 5 + 2 Gets, 3 handshakes of 2 legs each.
    assert_eq!(stats["by_action"]["Get"].as_u64().unwrap(), 5, "{stats}");
    assert_eq!(stats["sealed_requests"].as_u64().unwrap(), 5, "{stats}");
    assert_eq!(stats["requests"].as_u64().unwrap(), 5 + 2 + 3 * 2, "{stats}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_against_pyspnego() {
    let dir = responses_dir();
    let peer = Peer::start(dir.path(), &[]);
    let c = Client::builder(&peer.endpoint())
        .auth(AuthMethod::ntlm(USER, "nope"))
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert!(peer.stats()["auth_failures"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn https_with_channel_binding_required_by_pyspnego() {
    let dir = responses_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let peer = Peer::start(
        dir.path(),
        // The HTTPS listener takes plain SOAP (TLS protects it), as on Windows.
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--cbt",
            "--allow-unencrypted",
        ],
    );
    let c = Client::builder(&peer.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(ck.cert.pem().as_bytes())
        .build()
        .unwrap();
    let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    assert_eq!(c.connections_opened(), 1);
}
