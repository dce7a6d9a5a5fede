//! RFC 5929 `tls-server-end-point` hash choice on real certificates generated with `rcgen`,
//! signed with different algorithms.
#![allow(clippy::unwrap_used)]

use md5::Digest as _;
use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
use sha2::{Sha224, Sha256, Sha384};
use winrm_auth::cbt::{end_point_hash, ChannelBindings, EndPointHash};
use winrm_auth::Error;

fn cert(alg: &'static SignatureAlgorithm) -> Vec<u8> {
    let key = KeyPair::generate_for(alg).unwrap();
    let params = CertificateParams::new(vec!["hv01.hvlab.example".to_owned()]).unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn ecdsa_p256_sha256_certificate_uses_sha256() {
    let der = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
    assert_eq!(end_point_hash(&der).unwrap(), EndPointHash::Sha256);
    let cb = ChannelBindings::tls_server_end_point(&der).unwrap();
    let mut expected = b"tls-server-end-point:".to_vec();
    expected.extend_from_slice(&Sha256::digest(&der));
    assert_eq!(cb.application_data, expected);
}

#[test]
fn ecdsa_p384_sha384_certificate_keeps_sha384() {
    let der = cert(&rcgen::PKCS_ECDSA_P384_SHA384);
    assert_eq!(end_point_hash(&der).unwrap(), EndPointHash::Sha384);
    let cb = ChannelBindings::tls_server_end_point(&der).unwrap();
    assert_eq!(cb.application_data.len(), 21 + 48);
    assert_eq!(&cb.application_data[21..], Sha384::digest(&der).as_slice());
    // The MsvAvChannelBindings value is the MD5 of the whole gss_channel_bindings_struct.
    let mut gss = vec![0u8; 16];
    gss.extend_from_slice(&69u32.to_le_bytes());
    gss.extend_from_slice(&cb.application_data);
    assert_eq!(cb.gss_struct(), gss);
    assert_eq!(cb.md5(), <[u8; 16]>::from(md5::Md5::digest(&gss)));
}

#[test]
fn ed25519_certificate_has_no_binding() {
    // RFC 5929 §4.1: an algorithm with no separate hash leaves the binding undefined.
    let der = cert(&rcgen::PKCS_ED25519);
    let err = ChannelBindings::tls_server_end_point(&der).unwrap_err();
    assert!(matches!(err, Error::ChannelBindingUndefined(_)), "{err}");
    assert!(
        err.to_string()
            .contains("channel binding is undefined for this certificate's signature algorithm"),
        "{err}"
    );
}

#[test]
fn a_real_certificate_relabelled_ecdsa_with_sha224_uses_sha224() {
    // Only the outer signatureAlgorithm decides. Relabel a real certificate's outer OID from
    // ecdsa-with-SHA384 (1.2.840.10045.4.3.3) to ecdsa-with-SHA224 (1.2.840.10045.4.3.1), same
    // length: RFC 5929 §4.1 keeps the signature's own hash for everything but MD5 and SHA-1.
    // (MD5/SHA-1 labels are covered by the unit tests in src/cbt.rs.)
    let der = cert(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ecdsa_sha384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    let pos = der.windows(10).rposition(|w| w == ecdsa_sha384).unwrap();
    let mut patched = der.clone();
    patched[pos + 9] = 0x01;
    assert_eq!(end_point_hash(&der).unwrap(), EndPointHash::Sha384);
    assert_eq!(end_point_hash(&patched).unwrap(), EndPointHash::Sha224);
    let cb = ChannelBindings::tls_server_end_point(&patched).unwrap();
    assert_eq!(&cb.application_data[21..], Sha224::digest(&patched).as_slice());
}
