//! HTTPS: a self-signed certificate generated at start-up (rcgen), served with rustls.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// The TLS side of an HTTPS endpoint.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) acceptor: TlsAcceptor,
    /// The certificate in PEM, for clients to trust.
    pub(crate) cert_pem: String,
    /// The certificate in DER (channel bindings: RFC 5929 tls-server-end-point).
    pub(crate) cert_der: Vec<u8>,
}

/// Generates a certificate for `localhost`, `127.0.0.1` and `names`, and a TLS acceptor for it.
pub(crate) fn setup(names: &[String]) -> Result<TlsSetup, Error> {
    let mut sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    sans.extend(names.iter().cloned());
    let ck = rcgen::generate_simple_self_signed(sans).map_err(|e| Error::Tls(e.to_string()))?;
    let cert_pem = ck.cert.pem();
    let cert_der = ck.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_pem,
        cert_der,
    })
}
