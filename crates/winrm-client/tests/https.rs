//! HTTPS: trust via `ca_cert_pem`, refusal of untrusted or mismatched certificates, channel
//! binding (RFC 5929 tls-server-end-point) checked by the NTLM acceptor, Basic over TLS.
#![allow(clippy::unwrap_used)]

mod support;

use support::RSD_URI;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::{standard_responder, start, tls_server, tls_server_for, Auth, PASSWORD, USER};
use winrm_auth::cbt::ChannelBindings;
use winrm_auth::ntlm::{AcceptorConfig, NtlmAcceptor, UserTable};
use winrm_auth::{SessionSecurity, Step, Wrapped};
use winrm_client::{AuthMethod, Client, Encryption};
use wsman_soap::SelectorSet;

fn selectors() -> SelectorSet {
    SelectorSet::new().with(
        "InstanceID",
        "Microsoft:3F2504E0-4F89-11D3-9A0C-0305E82C3301\\HVR\\0",
    )
}

#[tokio::test]
async fn ntlm_over_https_with_channel_binding_checked_by_the_acceptor() {
    let (tls, pem, der) = tls_server();
    let cbt = ChannelBindings::tls_server_end_point(&der).unwrap();
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: Some(cbt),
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(pem.as_bytes())
        .build()
        .unwrap();
    assert!(
        !c.is_encrypted(),
        "TLS protects the body; no message encryption in Auto mode"
    );
    let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    let items = c
        .enumerate(RSD_URI, &wsman_soap::Enumerate::default())
        .await
        .unwrap();
    assert_eq!(items.len(), support::PAGE_ITEMS * support::PULL_PAGES);
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 1);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 1);
    let cts = server.stats.content_types.lock().unwrap().clone();
    assert!(
        cts.iter().any(|c| c.starts_with("application/soap+xml")),
        "{cts:?}"
    );
}

#[tokio::test]
async fn wrong_channel_binding_is_rejected_as_an_auth_error() {
    let (tls, pem, _der) = tls_server();
    let (_, _, other_der) = tls_server();
    let cbt = ChannelBindings::tls_server_end_point(&other_der).unwrap();
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: Some(cbt),
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(pem.as_bytes())
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(server.stats.count("Get"), 0);
}

#[tokio::test]
async fn encryption_always_seals_even_over_https() {
    let (tls, pem, der) = tls_server();
    let cbt = ChannelBindings::tls_server_end_point(&der).unwrap();
    let server = start(
        Auth::Ntlm {
            encrypt: true,
            cbt: Some(cbt),
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(pem.as_bytes())
        .encryption(Encryption::Always)
        .build()
        .unwrap();
    assert!(c.is_encrypted());
    c.get(RSD_URI, &selectors()).await.unwrap();
    let cts = server.stats.content_types.lock().unwrap().clone();
    assert!(
        cts.iter().any(|c| c.starts_with("multipart/encrypted")),
        "{cts:?}"
    );
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let (tls, _pem, _der) = tls_server();
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: None,
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    assert_eq!(server.stats.count("Get"), 0);
}

#[tokio::test]
async fn certificate_for_another_host_name_is_refused_even_when_trusted() {
    let (tls, pem, _der) = tls_server_for(&["hv01.corp.example"]);
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: None,
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(pem.as_bytes())
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(
        err.to_string().contains("NotValidForName") || err.to_string().contains("not valid for"),
        "{err}"
    );
}

#[tokio::test]
async fn insecure_mode_accepts_an_untrusted_certificate_only_when_asked() {
    let (tls, _pem, der) = tls_server();
    let cbt = ChannelBindings::tls_server_end_point(&der).unwrap();
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: Some(cbt),
        },
        Some(tls),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .insecure(true)
        .build()
        .unwrap();
    let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
}

#[tokio::test]
async fn basic_over_https_sends_credentials_per_request() {
    let (tls, pem, _der) = tls_server();
    let server = start(Auth::Basic, Some(tls), standard_responder()).await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::basic(USER, PASSWORD))
        .ca_cert_pem(pem.as_bytes())
        .build()
        .unwrap();
    c.get(RSD_URI, &selectors()).await.unwrap();
    c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(server.stats.count("Get"), 2);
    assert_eq!(server.stats.unauthenticated_401.load(Ordering::SeqCst), 0);
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 1);
    assert!(server
        .stats
        .auth_headers
        .lock()
        .unwrap()
        .iter()
        .all(|h| h.starts_with("Basic ")));

    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::basic(USER, "wrong"))
        .ca_cert_pem(pem.as_bytes())
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_auth() && err.to_string().contains("Basic"), "{err}");
}

/// RFC 5929 defines no `tls-server-end-point` binding for an Ed25519 server certificate: the
/// client fails clearly before sending a token, rather than sending a binding made with a
/// guessed hash.
#[tokio::test]
async fn a_certificate_without_a_binding_hash_fails_the_handshake_clearly() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let server = start(
        Auth::Ntlm {
            encrypt: false,
            cbt: None,
        },
        Some(Arc::new(tls)),
        standard_responder(),
    )
    .await;
    let c = Client::builder(&server.endpoint())
        .auth(AuthMethod::ntlm(USER, PASSWORD))
        .ca_cert_pem(cert.pem().as_bytes())
        .build()
        .unwrap();
    let e = c.get(RSD_URI, &selectors()).await.unwrap_err();
    let chain = format!(
        "{e}: {:?}",
        std::error::Error::source(&e).map(ToString::to_string)
    );
    assert!(
        chain.contains("channel binding is undefined for this certificate's signature algorithm"),
        "{chain}"
    );
    assert!(
        server.stats.auth_headers.lock().unwrap().is_empty(),
        "no token was sent"
    );
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 0);
}

/// A server that cannot sign or seal: its CHALLENGE is that of winrm-auth's acceptor with
/// NTLMSSP_NEGOTIATE_SIGN (0x10) and NTLMSSP_NEGOTIATE_SEAL (0x20) cleared in NegotiateFlags
/// (offset 20, [MS-NLMP 2.2.1.2]). The client's MIC then covers a CHALLENGE the acceptor did
/// not send, so this server takes any AUTHENTICATE: it exists for the client's flag check.
struct NoSealServer;

struct NoSealContext {
    acceptor: NtlmAcceptor,
    challenged: bool,
}

/// The security of a context that cannot seal.
struct NoSeal;

impl SessionSecurity for NoSeal {
    fn protocol(&self) -> &'static str {
        "application/HTTP-SPNEGO-session-encrypted"
    }

    fn wrap(&mut self, _plaintext: &[u8]) -> Result<Wrapped, winrm_auth::Error> {
        Err(winrm_auth::Error::InvalidState("sealing was not negotiated"))
    }

    fn unwrap(&mut self, _header: &[u8], _data: &[u8]) -> Result<Vec<u8>, winrm_auth::Error> {
        Err(winrm_auth::Error::InvalidState("sealing was not negotiated"))
    }
}

impl support::GssServer for NoSealServer {
    fn new_context(&self) -> Box<dyn hyperv_sim::auth::Acceptor> {
        let mut users = UserTable::new();
        users.add("CORP", "alice", PASSWORD);
        let config = AcceptorConfig {
            netbios_domain: "CORP".into(),
            netbios_computer: "HV01".into(),
            dns_domain: "corp.example".into(),
            dns_computer: "hv01.corp.example".into(),
            expected_channel_bindings: None,
        };
        Box::new(NoSealContext {
            acceptor: NtlmAcceptor::new(Arc::new(users), config, Box::new(|b: &mut [u8]| b.fill(7)), 1),
            challenged: false,
        })
    }

    fn seals(&self) -> bool {
        false
    }
}

impl hyperv_sim::auth::Acceptor for NoSealContext {
    fn step(&mut self, token: &[u8]) -> Result<Step, String> {
        if self.challenged {
            return Ok(Step::Done(None));
        }
        match self.acceptor.step(token) {
            Ok(Step::Continue(mut challenge)) => {
                let flags = u32::from_le_bytes(challenge[20..24].try_into().unwrap()) & !(0x10 | 0x20);
                challenge[20..24].copy_from_slice(&flags.to_le_bytes());
                self.challenged = true;
                Ok(Step::Continue(challenge))
            }
            other => Err(format!("expected a NEGOTIATE, got {:?}", other.err())),
        }
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        Some(Box::new(NoSeal))
    }
}

/// NTLM over HTTPS without message encryption needs neither signing nor sealing: a server
/// that grants neither is accepted. With message encryption the same CHALLENGE is refused,
/// naming the flag, before any request is sent.
#[tokio::test]
async fn a_challenge_without_sign_and_seal_is_accepted_only_when_messages_are_not_sealed() {
    let (tls, pem, _der) = tls_server();
    let server = start(Auth::Gss(Arc::new(NoSealServer)), Some(tls), standard_responder()).await;
    let builder = || {
        Client::builder(&server.endpoint())
            .auth(AuthMethod::ntlm(USER, PASSWORD))
            .ca_cert_pem(pem.as_bytes())
    };
    let c = builder().build().unwrap();
    assert!(!c.is_encrypted());
    let rsd = c.get(RSD_URI, &selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 1);

    let c = builder().encryption(Encryption::Always).build().unwrap();
    assert!(c.is_encrypted());
    let err = c.get(RSD_URI, &selectors()).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert!(err.to_string().contains("NTLMSSP_NEGOTIATE_SIGN"), "{err}");
    assert_eq!(
        server.stats.count("Get"),
        1,
        "nothing sent with the refused context"
    );
}
