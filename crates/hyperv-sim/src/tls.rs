//! HTTPS: a self-signed certificate generated at start-up (rcgen), served with rustls.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// How the simulator's HTTPS certificate is signed. The signature hash decides the hash of
/// the `tls-server-end-point` channel binding ([RFC 5929 §4.1]: the certificate's signature
/// hash, SHA-256 when that is MD5 or SHA-1), so each kind makes a client prove that it picks
/// the right one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CertificateKind {
    /// ECDSA P-256 with SHA-256 (a fresh key each start).
    #[default]
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384 (a fresh key each start): the binding hash is SHA-384.
    EcdsaP384Sha384,
    /// RSA (PKCS #1 v1.5) with SHA-512: the binding hash is SHA-512. The 2048-bit RSA key is a
    /// fixed test key shipped with the simulator (`sim-rsa-2048.pk8.pem`; ring cannot generate
    /// RSA keys). It protects nothing: never use it outside tests.
    RsaSha512,
}

/// The simulator's fixed RSA test key (PKCS #8), see [`CertificateKind::RsaSha512`].
const RSA_TEST_KEY: &str = include_str!("sim-rsa-2048.pk8.pem");

/// The TLS side of an HTTPS endpoint.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) acceptor: TlsAcceptor,
    /// The certificate in PEM, for clients to trust.
    pub(crate) cert_pem: String,
    /// The certificate in DER (channel bindings: RFC 5929 tls-server-end-point).
    pub(crate) cert_der: Vec<u8>,
}

fn key_pair(kind: CertificateKind) -> Result<rcgen::KeyPair, rcgen::Error> {
    match kind {
        CertificateKind::EcdsaP256Sha256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        CertificateKind::EcdsaP384Sha384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        CertificateKind::RsaSha512 => {
            rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(RSA_TEST_KEY, &rcgen::PKCS_RSA_SHA512)
        }
    }
}

/// Generates a `kind` certificate for `localhost`, `127.0.0.1` and `names`, and a TLS
/// acceptor for it.
pub(crate) fn setup(names: &[String], kind: CertificateKind) -> Result<TlsSetup, Error> {
    let tls_err = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let mut sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    sans.extend(names.iter().cloned());
    let key = key_pair(kind).map_err(|e| tls_err(&e))?;
    let cert = rcgen::CertificateParams::new(sans)
        .and_then(|p| p.self_signed(&key))
        .map_err(|e| tls_err(&e))?;
    let cert_pem = cert.pem();
    let cert_der = cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
        .map_err(|e| tls_err(&e))?;
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_pem,
        cert_der,
    })
}
