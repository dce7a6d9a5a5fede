//! Channel bindings (Extended Protection for Authentication) for HTTPS.
//!
//! [RFC 5929 §4] `tls-server-end-point`: the application data is
//! `"tls-server-end-point:" || H(server certificate DER)`, where `H` is the hash of the
//! certificate's signature algorithm, upgraded to SHA-256 when that hash is MD5 or SHA-1.
//! [RFC 2744 §3.11] / [MS-NLMP 2.2.2.1] carry it in a `gss_channel_bindings_struct`; NTLM puts
//! the MD5 of that structure into `MsvAvChannelBindings`.
//!
//! The certificate's signature algorithm is read with a minimal DER reader of our own: this
//! crate stays free of X.509 dependencies.

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::Error;

/// The prefix of the RFC 5929 `tls-server-end-point` application data.
pub const TLS_SERVER_END_POINT_PREFIX: &[u8] = b"tls-server-end-point:";

/// Channel bindings as defined by [RFC 2743 §1.1.6]: only the application data is used by
/// HTTP authentication (addresses are left empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBindings {
    /// The `application_data` field, e.g. `tls-server-end-point:<hash>`.
    pub application_data: Vec<u8>,
}

/// The hash that [RFC 5929 §4.1] selects for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndPointHash {
    /// SHA-224: the certificate is signed with SHA-224.
    Sha224,
    /// SHA-256: the certificate is signed with SHA-256, or with MD5 or SHA-1 (which RFC 5929
    /// replaces by SHA-256).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl ChannelBindings {
    /// Channel bindings with the given application data.
    pub fn new(application_data: Vec<u8>) -> Self {
        ChannelBindings { application_data }
    }

    /// [RFC 5929 §4] `tls-server-end-point` from the server certificate (DER): hashed with the
    /// certificate's signature hash, SHA-256 when that is MD5 or SHA-1. An error
    /// ([`Error::ChannelBindingUndefined`]) when the signature algorithm has no single hash
    /// (Ed25519, Ed448), is unknown, or has RSASSA-PSS parameters that cannot be read: sending
    /// bindings computed with a guessed hash would only fail later, or not be the binding.
    pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Self, Error> {
        let hash = end_point_hash(cert_der)?;
        let digest: Vec<u8> = match hash {
            EndPointHash::Sha224 => Sha224::digest(cert_der).to_vec(),
            EndPointHash::Sha256 => Sha256::digest(cert_der).to_vec(),
            EndPointHash::Sha384 => Sha384::digest(cert_der).to_vec(),
            EndPointHash::Sha512 => Sha512::digest(cert_der).to_vec(),
        };
        let mut application_data = TLS_SERVER_END_POINT_PREFIX.to_vec();
        application_data.extend_from_slice(&digest);
        Ok(ChannelBindings { application_data })
    }

    /// The `gss_channel_bindings_struct` bytes ([MS-NLMP 2.2.2.1], [RFC 2744 §3.11]): initiator
    /// address type and address, acceptor address type and address (all empty), then the
    /// application data, each length a 32-bit little-endian integer.
    pub fn gss_struct(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.application_data.len());
        out.extend_from_slice(&0u32.to_le_bytes()); // initiator_addrtype
        out.extend_from_slice(&0u32.to_le_bytes()); // initiator_address.length
        out.extend_from_slice(&0u32.to_le_bytes()); // acceptor_addrtype
        out.extend_from_slice(&0u32.to_le_bytes()); // acceptor_address.length
        let len = u32::try_from(self.application_data.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.application_data);
        out
    }

    /// MD5 of [`ChannelBindings::gss_struct`]: the `MsvAvChannelBindings` value
    /// ([MS-NLMP 2.2.2.1]).
    pub fn md5(&self) -> [u8; 16] {
        crate::ntlm::md5(&[&self.gss_struct()])
    }
}

/// The hash [RFC 5929 §4.1] uses for this certificate's `tls-server-end-point` binding: the
/// hash of its signature algorithm, SHA-256 when that is MD5 or SHA-1. Errors when the binding
/// is undefined (no single hash, an unknown algorithm, unreadable RSASSA-PSS parameters) or the
/// certificate cannot be read.
pub fn end_point_hash(cert_der: &[u8]) -> Result<EndPointHash, Error> {
    let alg = signature_algorithm(cert_der)?;
    hash_for_algorithm(alg.oid, alg.params)
        .ok_or_else(|| Error::ChannelBindingUndefined(format!("signature algorithm {}", oid_text(alg.oid))))
}

struct AlgorithmIdentifier<'a> {
    oid: &'a [u8],
    params: Option<&'a [u8]>,
}

// OID contents (without tag and length).
const OID_MD5_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
const OID_SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
const OID_SHA224_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e];
const OID_SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
const OID_ECDSA_SHA224: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_DSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03];
const OID_DSA_SHA224: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x01];
const OID_DSA_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02];
const OID_DSA_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x03];
const OID_DSA_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x04];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA224: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// The binding hash for a signature algorithm, `None` where RFC 5929 leaves it undefined or we
/// do not know the algorithm's hash (Ed25519 and Ed448 hash nothing separately; anything else
/// unknown).
fn hash_for_algorithm(oid: &[u8], params: Option<&[u8]>) -> Option<EndPointHash> {
    match oid {
        OID_MD5_WITH_RSA | OID_SHA1_WITH_RSA | OID_ECDSA_SHA1 | OID_DSA_SHA1 => Some(EndPointHash::Sha256),
        OID_SHA224_WITH_RSA | OID_ECDSA_SHA224 | OID_DSA_SHA224 => Some(EndPointHash::Sha224),
        OID_SHA256_WITH_RSA | OID_ECDSA_SHA256 | OID_DSA_SHA256 => Some(EndPointHash::Sha256),
        OID_SHA384_WITH_RSA | OID_ECDSA_SHA384 | OID_DSA_SHA384 => Some(EndPointHash::Sha384),
        OID_SHA512_WITH_RSA | OID_ECDSA_SHA512 | OID_DSA_SHA512 => Some(EndPointHash::Sha512),
        OID_RSASSA_PSS => pss_hash(params?),
        _ => None,
    }
}

/// [RFC 4055 §3.1] RSASSA-PSS-params: `SEQUENCE { [0] hashAlgorithm DEFAULT sha1, ... }`.
/// `None` when the parameters cannot be read or name a hash we do not know.
fn pss_hash(params: &[u8]) -> Option<EndPointHash> {
    let (tag, seq, _) = read_tlv(params).ok()?;
    if tag != 0x30 {
        return None;
    }
    if seq.is_empty() {
        return Some(EndPointHash::Sha256); // every field defaulted: SHA-1, upgraded
    }
    let (tag, explicit, _) = read_tlv(seq).ok()?;
    if tag != 0xa0 {
        // hashAlgorithm absent (the next field is [1], [2] or [3]): the default SHA-1.
        return matches!(tag, 0xa1..=0xa3).then_some(EndPointHash::Sha256);
    }
    let (tag, alg, _) = read_tlv(explicit).ok()?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = read_tlv(alg).ok()?;
    if tag != 0x06 {
        return None;
    }
    match oid {
        OID_SHA1 | OID_SHA256 => Some(EndPointHash::Sha256),
        OID_SHA224 => Some(EndPointHash::Sha224),
        OID_SHA384 => Some(EndPointHash::Sha384),
        OID_SHA512 => Some(EndPointHash::Sha512),
        _ => None,
    }
}

/// Dotted text of an OID's contents, for messages (`?` for bytes that do not decode).
fn oid_text(oid: &[u8]) -> String {
    let Some((&first, rest)) = oid.split_first() else {
        return "?".to_owned();
    };
    let mut parts = vec![
        u32::from(first / 40).min(2),
        u32::from(first) - 40 * u32::from(first / 40).min(2),
    ];
    let mut acc: u32 = 0;
    for &b in rest {
        acc = match acc.checked_mul(128) {
            Some(a) => a | u32::from(b & 0x7f),
            None => return "?".to_owned(),
        };
        if b & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    parts.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Reads `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// ([RFC 5280 §4.1]) far enough to return the signature algorithm.
fn signature_algorithm(der: &[u8]) -> Result<AlgorithmIdentifier<'_>, Error> {
    let bad = |detail: &str| Error::Malformed {
        what: "certificate",
        detail: detail.to_owned(),
    };
    let (tag, cert, _) = read_tlv(der).map_err(bad)?;
    if tag != 0x30 {
        return Err(bad("not a sequence"));
    }
    let (tag, _tbs, rest) = read_tlv(cert).map_err(bad)?;
    if tag != 0x30 {
        return Err(bad("tbsCertificate is not a sequence"));
    }
    let (tag, alg, _) = read_tlv(rest).map_err(bad)?;
    if tag != 0x30 {
        return Err(bad("signatureAlgorithm is not a sequence"));
    }
    let (tag, oid, params) = read_tlv(alg).map_err(bad)?;
    if tag != 0x06 {
        return Err(bad("signatureAlgorithm has no object identifier"));
    }
    Ok(AlgorithmIdentifier {
        oid,
        params: (!params.is_empty()).then_some(params),
    })
}

/// One DER tag-length-value: returns (tag, contents, rest). Single-byte tags only (all the
/// structures read here use them); lengths in short form or long form up to 4 bytes.
fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, rest) = input.split_first().ok_or("truncated tag")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte tag");
    }
    let (&first, mut rest) = rest.split_first().ok_or("truncated length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err("unsupported length form");
        }
        if rest.len() < n {
            return Err("truncated length");
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err("length past the end of the input");
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    /// A structurally valid certificate shell whose signature algorithm is `oid`.
    fn cert_with_oid(oid: &[u8]) -> Vec<u8> {
        let tbs = tlv(0x30, &[0x02, 0x01, 0x01]);
        let alg = tlv(0x30, &[tlv(0x06, oid), vec![0x05, 0x00]].concat());
        let sig = tlv(0x03, &[0x00, 0xde, 0xad]);
        tlv(0x30, &[tbs, alg, sig].concat())
    }

    #[test]
    fn md5_and_sha1_signed_certificates_use_sha256() {
        let md5_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
        let sha1_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
        for oid in [&md5_rsa[..], &sha1_rsa[..]] {
            let cert = cert_with_oid(oid);
            assert_eq!(end_point_hash(&cert).unwrap(), EndPointHash::Sha256);
            let cb = ChannelBindings::tls_server_end_point(&cert).unwrap();
            let mut expected = b"tls-server-end-point:".to_vec();
            expected.extend_from_slice(&Sha256::digest(&cert));
            assert_eq!(cb.application_data, expected);
        }
    }

    #[test]
    fn sha384_and_sha512_signatures_keep_their_hash() {
        assert_eq!(
            end_point_hash(&cert_with_oid(OID_SHA384_WITH_RSA)).unwrap(),
            EndPointHash::Sha384
        );
        assert_eq!(
            end_point_hash(&cert_with_oid(OID_SHA512_WITH_RSA)).unwrap(),
            EndPointHash::Sha512
        );
        let cert = cert_with_oid(OID_SHA512_WITH_RSA);
        let cb = ChannelBindings::tls_server_end_point(&cert).unwrap();
        assert_eq!(cb.application_data.len(), 21 + 64);
        assert_eq!(&cb.application_data[21..], Sha512::digest(&cert).as_slice());
    }

    #[test]
    fn pss_reads_the_hash_from_the_parameters() {
        let hash_alg = tlv(0x30, &[tlv(0x06, OID_SHA384), vec![0x05, 0x00]].concat());
        let params = tlv(0x30, &tlv(0xa0, &hash_alg));
        let alg = tlv(0x30, &[tlv(0x06, OID_RSASSA_PSS), params].concat());
        let cert = tlv(
            0x30,
            &[tlv(0x30, &[0x02, 0x01, 0x01]), alg, tlv(0x03, &[0])].concat(),
        );
        assert_eq!(end_point_hash(&cert).unwrap(), EndPointHash::Sha384);
        // No hashAlgorithm: the default SHA-1, upgraded to SHA-256.
        let alg = tlv(0x30, &[tlv(0x06, OID_RSASSA_PSS), tlv(0x30, &[])].concat());
        let cert = tlv(
            0x30,
            &[tlv(0x30, &[0x02, 0x01, 0x01]), alg, tlv(0x03, &[0])].concat(),
        );
        assert_eq!(end_point_hash(&cert).unwrap(), EndPointHash::Sha256);
        // Parameters that cannot be read, or name an unknown hash: no binding, not a guess.
        let unknown_hash = tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x06, &[0x2a, 0x03]))));
        for params in [vec![0x05, 0x00], vec![0x30, 0x05, 0xa0], unknown_hash] {
            let alg = tlv(0x30, &[tlv(0x06, OID_RSASSA_PSS), params].concat());
            let cert = tlv(
                0x30,
                &[tlv(0x30, &[0x02, 0x01, 0x01]), alg, tlv(0x03, &[0])].concat(),
            );
            let err = end_point_hash(&cert).unwrap_err();
            assert!(matches!(err, Error::ChannelBindingUndefined(_)), "{err}");
        }
        // No parameters at all (they are mandatory for RSASSA-PSS).
        let alg = tlv(0x30, &tlv(0x06, OID_RSASSA_PSS));
        let cert = tlv(
            0x30,
            &[tlv(0x30, &[0x02, 0x01, 0x01]), alg, tlv(0x03, &[0])].concat(),
        );
        assert!(matches!(
            end_point_hash(&cert),
            Err(Error::ChannelBindingUndefined(_))
        ));
    }

    #[test]
    fn sha224_signatures_use_sha224() {
        for oid in [OID_SHA224_WITH_RSA, OID_ECDSA_SHA224, OID_DSA_SHA224] {
            let cert = cert_with_oid(oid);
            assert_eq!(end_point_hash(&cert).unwrap(), EndPointHash::Sha224);
            let cb = ChannelBindings::tls_server_end_point(&cert).unwrap();
            assert_eq!(cb.application_data.len(), 21 + 28);
            assert_eq!(&cb.application_data[21..], Sha224::digest(&cert).as_slice());
        }
    }

    #[test]
    fn algorithms_without_a_single_hash_have_no_binding() {
        let ed25519 = [0x2b, 0x65, 0x70];
        let ed448 = [0x2b, 0x65, 0x71];
        let unknown = [0x2a, 0x03, 0x04];
        for (oid, text) in [
            (&ed25519[..], "1.3.101.112"),
            (&ed448[..], "1.3.101.113"),
            (&unknown[..], "1.2.3.4"),
        ] {
            let err = ChannelBindings::tls_server_end_point(&cert_with_oid(oid)).unwrap_err();
            assert!(matches!(err, Error::ChannelBindingUndefined(_)), "{err}");
            let text_err = err.to_string();
            assert!(
                text_err
                    .starts_with("channel binding is undefined for this certificate's signature algorithm")
                    && text_err.contains(text),
                "{text_err}"
            );
        }
    }

    #[test]
    fn gss_struct_layout_and_md5() {
        let cb = ChannelBindings::new(b"tls-server-end-point:abc".to_vec());
        let s = cb.gss_struct();
        assert_eq!(&s[..16], &[0u8; 16]);
        assert_eq!(&s[16..20], &24u32.to_le_bytes());
        assert_eq!(&s[20..], b"tls-server-end-point:abc");
        // The md-5 crate as an independent reference.
        let md5: [u8; 16] = md5::Md5::digest(&s).into();
        assert_eq!(cb.md5(), md5);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x02, 0x30, 0x00],
        ] {
            let err = ChannelBindings::tls_server_end_point(input).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Malformed {
                        what: "certificate",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
