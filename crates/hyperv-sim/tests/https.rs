//! HTTPS: the generated certificate, NTLM with channel bindings enforced by default (with the
//! RFC 5929 hash the certificate's signature picks), plaintext SOAP inside TLS, and Basic
//! accepted only over HTTPS.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use hyperv_sim::model::uri;
use hyperv_sim::{CertificateKind, SimConfig, SimHost};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::Digest as _;
use support::{ntlm, Client};
use winrm_auth::cbt::{end_point_hash, ChannelBindings, EndPointHash};
use wsman_soap::request::{self, RequestHeader};
use wsman_soap::response::{parse_response, ResponseBody};
use wsman_soap::{Limits, SelectorSet};

const USER: &str = "HV\\operator";

fn password() -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn tls_client(h: &SimHost) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(h.cert_der().unwrap().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    Client::from_io(Box::new(tls), h.addr().to_string())
}

fn get_xml(h: &SimHost) -> String {
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", "HV-TLS");
    request::get(
        &RequestHeader::new(
            h.endpoint(),
            uri("Msvm_ComputerSystem"),
            "uuid:6B1A2F40-0000-4000-8000-000000000001",
        )
        .with_selectors(sel),
    )
}

const SOAP: &str = "application/soap+xml;charset=UTF-8";

#[tokio::test]
async fn ntlm_over_https_with_channel_bindings_enforced() {
    let pw = password();
    let mut cfg = SimConfig::new("HV-TLS").user(USER, &pw);
    cfg.https = true;
    assert!(cfg.require_channel_binding, "required by default");
    let h = SimHost::start(cfg).await.unwrap();
    assert!(h.endpoint().starts_with("https://127.0.0.1:"));
    assert!(h.cert_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let cbt = ChannelBindings::tls_server_end_point(h.cert_der().unwrap()).unwrap();

    let mut c = tls_client(&h).await;
    assert_eq!(
        c.handshake(ntlm(USER, &pw, Some(cbt)), "Negotiate")
            .await
            .unwrap()
            .status,
        200
    );
    // Inside TLS the SOAP body travels without message encryption.
    let r = c
        .post(&[("Content-Type", SOAP.into())], get_xml(&h).as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let ResponseBody::Instance(i) = parse_response(&r.body, &Limits::default()).unwrap().body else {
        panic!()
    };
    assert_eq!(
        i.get_str("Description"),
        Some("Microsoft Hosting Computer System")
    );

    // Without channel bindings the handshake is refused.
    let mut c = tls_client(&h).await;
    assert_eq!(
        c.handshake(ntlm(USER, &pw, None), "Negotiate")
            .await
            .unwrap()
            .status,
        401
    );
    h.shutdown().await;
}

#[tokio::test]
async fn basic_only_over_https() {
    let pw = password();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{pw}"))
    );
    let mut cfg = SimConfig::new("HV-TLS").user(USER, &pw);
    cfg.https = true;
    cfg.allow_basic = true;
    let h = SimHost::start(cfg).await.unwrap();
    let mut c = tls_client(&h).await;
    let r = c
        .post(&[("Content-Type", SOAP.into())], get_xml(&h).as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .headers_named("WWW-Authenticate")
        .contains(&"Basic realm=\"WSMAN\""));
    let r = c
        .post(
            &[("Content-Type", SOAP.into()), ("Authorization", basic.clone())],
            get_xml(&h).as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:nope"))
    );
    let r = c
        .post(
            &[("Content-Type", SOAP.into()), ("Authorization", wrong)],
            get_xml(&h).as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    h.shutdown().await;

    let mut cfg = SimConfig::new("HV-TLS").user(USER, &pw);
    cfg.allow_basic = true;
    let h = SimHost::start(cfg).await.unwrap();
    let mut c = Client::connect(h.addr()).await;
    let r = c
        .post(
            &[("Content-Type", SOAP.into()), ("Authorization", basic)],
            get_xml(&h).as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401, "Basic over plain HTTP is refused");
    assert!(!r
        .headers_named("WWW-Authenticate")
        .iter()
        .any(|v| v.starts_with("Basic")));
    h.shutdown().await;
}

async fn https_host(pw: &str, kind: CertificateKind) -> SimHost {
    let mut cfg = SimConfig::new("HV-TLS").user(USER, pw);
    cfg.https = true;
    cfg.certificate = kind;
    SimHost::start(cfg).await.unwrap()
}

/// `tls-server-end-point` with a chosen hash, right or wrong for the certificate.
fn binding(der: &[u8], hash: EndPointHash) -> ChannelBindings {
    let digest = match hash {
        EndPointHash::Sha384 => sha2::Sha384::digest(der).to_vec(),
        EndPointHash::Sha512 => sha2::Sha512::digest(der).to_vec(),
        _ => sha2::Sha256::digest(der).to_vec(),
    };
    ChannelBindings::new([winrm_auth::cbt::TLS_SERVER_END_POINT_PREFIX, &digest].concat())
}

/// The status of an NTLM handshake on a new TLS connection with these channel bindings.
async fn handshake(h: &SimHost, pw: &str, cb: Option<ChannelBindings>) -> u16 {
    let mut c = tls_client(h).await;
    c.handshake(ntlm(USER, pw, cb), "Negotiate").await.unwrap().status
}

/// [RFC 5929 §4.1] hash agility: a certificate signed with ECDSA P-384/SHA-384 binds with
/// SHA-384 and one signed with RSA/SHA-512 with SHA-512. The simulator accepts only that
/// binding: a SHA-256 binding of the same certificate, or none, is a 401.
#[tokio::test]
async fn channel_binding_hash_follows_the_certificate_signature() {
    let pw = password();
    for (kind, hash) in [
        (CertificateKind::EcdsaP256Sha256, EndPointHash::Sha256),
        (CertificateKind::EcdsaP384Sha384, EndPointHash::Sha384),
        (CertificateKind::RsaSha512, EndPointHash::Sha512),
    ] {
        let h = https_host(&pw, kind).await;
        let der = h.cert_der().unwrap().to_vec();
        assert_eq!(end_point_hash(&der).unwrap(), hash, "{kind:?}");
        assert_eq!(
            handshake(&h, &pw, Some(binding(&der, hash))).await,
            200,
            "{kind:?}"
        );
        if hash != EndPointHash::Sha256 {
            let sha256 = binding(&der, EndPointHash::Sha256);
            assert_eq!(
                handshake(&h, &pw, Some(sha256)).await,
                401,
                "{kind:?} with SHA-256"
            );
        }
        assert_eq!(handshake(&h, &pw, None).await, 401, "{kind:?} without a binding");
        h.shutdown().await;
    }
}

/// Our client picks the binding hash from the certificate: winrm-client authenticates with
/// NTLM against SHA-256, SHA-384 and SHA-512 certificates with channel binding required.
#[tokio::test]
async fn winrm_client_binds_every_certificate_hash() {
    let pw = password();
    for kind in [
        CertificateKind::EcdsaP256Sha256,
        CertificateKind::EcdsaP384Sha384,
        CertificateKind::RsaSha512,
    ] {
        let h = https_host(&pw, kind).await;
        let c = winrm_client::Client::builder(&h.endpoint())
            .auth(winrm_client::AuthMethod::ntlm(USER, pw.as_str()))
            .ca_cert_pem(h.cert_pem().unwrap().as_bytes())
            .build()
            .unwrap();
        let sel = SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", "HV-TLS");
        let i = c.get(&uri("Msvm_ComputerSystem"), &sel).await.unwrap();
        assert_eq!(i.get_str("Name"), Some("HV-TLS"), "{kind:?}");
        assert_eq!(h.stats().handshakes, 1, "{kind:?}");
        h.shutdown().await;
    }
}
