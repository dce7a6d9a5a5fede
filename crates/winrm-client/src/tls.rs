//! rustls configuration: the `ring` provider, the platform trust store plus extra CA
//! certificates, hostname verification, optional client certificate, and the loudly logged
//! `insecure` mode.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

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
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
                pem::Error::NoItemsFound => Error::Config("client key: no PEM private key found".to_owned()),
                e => Error::Config(format!("client key: {e}")),
            })?;
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
    CertificateDer::pem_slice_iter(pem)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn opts<'a>(ca_pems: &'a [Vec<u8>], client_cert: Option<(&'a [u8], &'a [u8])>) -> TlsOptions<'a> {
        TlsOptions {
            ca_pems,
            insecure: false,
            client_cert,
            native_roots: false,
        }
    }

    fn config_error(o: &TlsOptions<'_>) -> String {
        match client_config(o) {
            Err(Error::Config(m)) => m,
            Err(e) => panic!("not a config error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    /// PEM certificates and keys are read with `rustls-pki-types`' `PemObject`: a CA and a
    /// client certificate with its PKCS#8 key are accepted; text without a PEM section of the
    /// right kind is refused with a message naming what was missing.
    #[test]
    fn pem_certificates_and_keys_are_read_and_absences_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let ca = vec![cert_pem.clone().into_bytes()];
        assert!(client_config(&opts(&ca, Some((cert_pem.as_bytes(), key_pem.as_bytes())))).is_ok());

        let not_pem = vec![b"not a certificate".to_vec()];
        assert_eq!(
            config_error(&opts(&not_pem, None)),
            "ca certificate: no PEM certificate found"
        );
        let m = config_error(&opts(&[], Some((cert_pem.as_bytes(), cert_pem.as_bytes()))));
        assert_eq!(m, "client key: no PEM private key found");
        let m = config_error(&opts(&[], Some((key_pem.as_bytes(), key_pem.as_bytes()))));
        assert_eq!(m, "client certificate: no PEM certificate found");
        // A PEM section with a body that is not base64 is an error, not an absence.
        let broken = b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
        let m = config_error(&opts(&[], Some((cert_pem.as_bytes(), broken))));
        assert!(m.starts_with("client key: ") && !m.contains("no PEM"), "{m}");
    }
}
