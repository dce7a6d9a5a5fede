//! HTTPS: the generated certificate, NTLM with channel bindings enforced, plaintext SOAP inside
//! TLS, and Basic accepted only over HTTPS.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use hyperv_sim::model::uri;
use hyperv_sim::{SimConfig, SimHost};
use rustls::pki_types::{CertificateDer, ServerName};
use support::{ntlm, Client};
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
    cfg.require_channel_binding = true;
    let h = SimHost::start(cfg).await.unwrap();
    assert!(h.endpoint().starts_with("https://127.0.0.1:"));
    assert!(h.cert_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let cbt = winrm_auth::cbt::ChannelBindings::tls_server_end_point(h.cert_der().unwrap()).unwrap();

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
