//! rustls configuration: the `ring` provider, the platform trust store plus extra CA
//! certificates, hostname verification, optional client certificate, and the loudly logged
//! `insecure` mode.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

/// The start of the TLS error detail when the server answered the ClientHello in plain HTTP.
pub(crate) const PLAIN_HTTP: &str = "the server answered in plain HTTP, not TLS";

/// The detail of a TLS handshake error. A plain HTTP listener answers the ClientHello with
/// `HTTP/1.1 400 ...`, whose first byte (`H`, 0x48) is no TLS record content type
/// [RFC 8446 §5.1], so rustls reports `InvalidContentType`: said as what it means.
pub(crate) fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            format!(
                "{PLAIN_HTTP} (rustls: {e}): use http:// or the port of the HTTPS listener (5986 by default)"
            )
        }
        _ => e.to_string(),
    }
}

/// What the TLS configuration is built from.
pub(crate) struct TlsOptions<'a> {
    pub(crate) ca_pems: &'a [Vec<u8>],
    pub(crate) insecure: bool,
    pub(crate) client_cert: Option<(&'a [u8], &'a [u8])>,
    pub(crate) native_roots: bool,
}

/// Builds the rustls client configuration handed to reqwest (`tls_backend_preconfigured`).
pub(crate) fn client_config(opts: &TlsOptions<'_>) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls protocol versions: {e}")))?;

    let builder = if opts.insecure {
        tracing::warn!(
            "TLS certificate verification is DISABLED (insecure mode): the server's identity is not checked \
             and a man in the middle can read and change all traffic, including credentials"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if opts.native_roots {
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::debug!(error = %e, "could not load some platform CA certificates");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "platform trust store loaded");
        }
        for pem in opts.ca_pems {
            let certs = parse_certs(pem, "ca certificate")?;
            if certs.is_empty() {
                return Err(Error::Config(
                    "ca certificate: no PEM certificate found".to_owned(),
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| Error::Config(format!("ca certificate: {e}")))?;
            }
        }
        builder.with_root_certificates(roots)
    };

    let mut config = match opts.client_cert {
        Some((cert_pem, key_pem)) => {
            let chain = parse_certs(cert_pem, "client certificate")?;
            if chain.is_empty() {
                return Err(Error::Config(
                    "client certificate: no PEM certificate found".to_owned(),
                ));
            }
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
                .map_err(|e| Error::Config(format!("client key: {e}")))?
                .ok_or_else(|| Error::Config("client key: no PEM private key found".to_owned()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("{what}: {e}")))
}

/// Accepts any certificate but still checks the handshake signatures (so the peer holds the
/// key of the certificate it shows). Only built when the user asked for `insecure`.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
