//! Negotiate falling back to NTLM, TLS client-certificate authentication, and proxies.
#![allow(clippy::unwrap_used)]

mod support;

use support::RSD_URI;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::{ntlm_server, standard_responder, start, Auth, PASSWORD, USER};
use winrm_client::{AuthMethod, Client, Password, ProxyConfig};
use wsman_soap::SelectorSet;

const MUTUAL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";

#[tokio::test]
async fn negotiate_without_a_kerberos_ticket_falls_back_to_ntlm_and_seals() {
    let server = ntlm_server(standard_responder()).await;
    let ccache = tempfile::tempdir().unwrap();
    // An empty credential cache: Kerberos cannot work here, NTLM with the password must.
    std::env::set_var(
        "KRB5CCNAME",
        format!("FILE:{}", ccache.path().join("none").display()),
    );
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::negotiate(USER, PASSWORD))
        .build()
        .unwrap();
    assert!(c.is_encrypted());
    let rsd = c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 1);
    assert!(server
        .stats
        .auth_headers
        .lock()
        .unwrap()
        .iter()
        .all(|h| h.starts_with("Negotiate TlRMTVNTUA")));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn pki() -> (Arc<rustls::ServerConfig>, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["alice.corp.example".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .unwrap();
    (
        Arc::new(cfg),
        ca.pem(),
        client_cert.pem(),
        client_key.serialize_pem(),
    )
}

#[tokio::test]
async fn client_certificate_authentication_over_https() {
    let (tls, ca_pem, cert_pem, key_pem) = pki();
    let server = start(Auth::None, Some(tls), standard_responder()).await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::Certificate {
            cert_pem: cert_pem.into_bytes(),
            key_pem: Password::new(key_pem),
        })
        .ca_cert_pem(ca_pem.as_bytes())
        .build()
        .unwrap();
    let rsd = c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(
        server.stats.auth_headers.lock().unwrap().as_slice(),
        [MUTUAL.to_owned()]
    );

    // Without a client certificate the server's TLS layer refuses the connection.
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::basic(USER, PASSWORD))
        .ca_cert_pem(ca_pem.as_bytes())
        .retries(0, std::time::Duration::ZERO)
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &SelectorSet::new()).await.unwrap_err();
    assert!(err.is_tls() || err.is_connection(), "{err:?}");
    assert_eq!(server.stats.count("Get"), 1);

    let e = Client::builder("http://hv01:5985/wsman")
        .auth(AuthMethod::Certificate {
            cert_pem: Vec::new(),
            key_pem: Password::new(""),
        })
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
}

#[tokio::test]
async fn explicit_proxy_carries_the_session_for_remote_hosts() {
    // The test server doubles as the HTTP proxy: requests arrive in absolute form.
    let server = ntlm_server(standard_responder()).await;
    let proxy = format!("http://{}", server.addr);
    let c = Client::builder("http://hv01.corp.example:5985/wsman")
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .proxy(ProxyConfig::Url {
            url: proxy.clone(),
            no_proxy: None,
        })
        .build()
        .unwrap();
    let rsd = c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(
        server.stats.connections.load(Ordering::SeqCst),
        1,
        "the NTLM session kept one proxy connection"
    );

    // A host in no_proxy bypasses it (and then fails to resolve: a connection error, not sent).
    let c = Client::builder("http://hv01.corp.example.invalid:5985/wsman")
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .proxy(ProxyConfig::Url {
            url: proxy,
            no_proxy: Some("corp.example.invalid".to_owned()),
        })
        .retries(0, std::time::Duration::ZERO)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &SelectorSet::new()).await.unwrap_err();
    assert!(err.is_connection() || err.is_timeout(), "{err:?}");
    assert_eq!(server.stats.count("Get"), 2);
}

#[tokio::test]
async fn loopback_endpoints_never_use_a_proxy() {
    let server = ntlm_server(standard_responder()).await;
    let c = support::client(&server)
        .proxy(ProxyConfig::Url {
            url: "http://127.0.0.1:9".to_owned(),
            no_proxy: None,
        })
        .build()
        .unwrap();
    let rsd = c.get(RSD_URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
}
