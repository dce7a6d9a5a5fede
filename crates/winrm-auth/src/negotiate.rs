//! HTTP `Negotiate` [RFC 4559]: Kerberos (SPNEGO through the system GSSAPI) when the
//! credentials work for the target, otherwise NTLM — the choice Windows' own Negotiate
//! package makes [MS-SPNG 3.1.5.1], made on the client before the first request.

use crate::kerberos::{KerberosClient, KerberosConfig};
use crate::ntlm::{ClientConfig, Credentials, NtlmClient};
use crate::{ClientAuth, Error, SessionSecurity, Step};

/// Builds the client for the `Negotiate` scheme.
///
/// With a Kerberos configuration, the GSSAPI credentials are acquired and the first token is
/// produced right away (which fetches the service ticket from the KDC): if that works, the
/// Kerberos client is returned (its first `step(None)` hands out that token). If it fails (no
/// library, no ticket, unknown SPN, KDC unreachable) and NTLM credentials are given, an
/// [`NtlmClient`] (scheme `Negotiate`) is returned instead, and its
/// [`ClientAuth::kerberos_fallback`] returns the Kerberos error: NTLM has no mutual
/// authentication, so a caller should tell the user (and offer Kerberos only, which never falls
/// back). Errors say what was tried and why each failed.
#[allow(clippy::type_complexity)] // the signature is public API (ARCHITECTURE.md, "API boundary")
pub fn negotiate_client(
    kerberos: Option<KerberosConfig>,
    ntlm: Option<(Credentials, ClientConfig)>,
    rng: Box<dyn FnMut(&mut [u8]) + Send>,
    now_filetime: u64,
) -> Result<Box<dyn ClientAuth>, Error> {
    let kerberos_error = match kerberos {
        Some(config) => match prepare_kerberos(config) {
            Ok(client) => return Ok(Box::new(client)),
            Err(e) => Some(e),
        },
        None => None,
    };
    match (ntlm, kerberos_error) {
        (Some((creds, config)), reason) => {
            let mut ntlm = NtlmClient::new(creds, config, rng, now_filetime).with_scheme("Negotiate");
            ntlm.kerberos_fallback = reason;
            Ok(Box::new(ntlm))
        }
        (None, Some(e)) => Err(match e {
            Error::Gssapi(s) => Error::Gssapi(format!(
                "negotiate tried kerberos only (no password for ntlm was given): {s}"
            )),
            Error::AuthenticationFailed(s) => Error::AuthenticationFailed(format!(
                "negotiate tried kerberos only (no password for ntlm was given): {s}"
            )),
            other => other,
        }),
        (None, None) => Err(Error::InvalidState(
            "negotiate: neither kerberos nor ntlm credentials were given",
        )),
    }
}

fn prepare_kerberos(config: KerberosConfig) -> Result<PreparedKerberos, Error> {
    let mut client = KerberosClient::new(config)?;
    let first = client.step(None)?;
    Ok(PreparedKerberos {
        inner: client,
        first: Some(first),
    })
}

/// A [`KerberosClient`] whose first step already ran (to find out whether Kerberos works).
struct PreparedKerberos {
    inner: KerberosClient,
    first: Option<Step>,
}

impl ClientAuth for PreparedKerberos {
    fn scheme(&self) -> &'static str {
        self.inner.scheme()
    }

    fn step(&mut self, server_token: Option<&[u8]>) -> Result<Step, Error> {
        match (self.first.take(), server_token) {
            (Some(first), None) => Ok(first),
            (Some(_), Some(_)) => Err(Error::InvalidState(
                "negotiate: the first step takes no server token",
            )),
            (None, token) => self.inner.step(token),
        }
    }

    fn finish(&mut self, server_token: Option<&[u8]>) -> Result<(), Error> {
        self.inner.finish(server_token)
    }

    fn session(&mut self) -> Option<&mut dyn SessionSecurity> {
        self.inner.session()
    }

    fn into_session(self: Box<Self>) -> Option<Box<dyn SessionSecurity>> {
        Box::new(self.inner).into_session()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::{ClientConfig, Credentials};

    fn ntlm() -> Option<(Credentials, ClientConfig)> {
        Some((
            Credentials::new("CORP", "alice", "secret"),
            ClientConfig::default(),
        ))
    }

    fn rng() -> crate::ntlm::Rng {
        Box::new(|b: &mut [u8]| b.fill(3))
    }

    /// A Kerberos configuration that cannot work anywhere (no host name for the SPN; without
    /// a GSSAPI library it fails even earlier): Negotiate falls back to NTLM and says why.
    #[test]
    fn the_fallback_to_ntlm_carries_the_kerberos_error() {
        let mut client = negotiate_client(Some(KerberosConfig::new("")), ntlm(), rng(), 0).unwrap();
        let reason = client.kerberos_fallback().expect("a fallback reason").to_string();
        assert!(reason.starts_with("gssapi: "), "{reason}");
        assert!(
            reason.contains("empty host name") || reason.contains("cannot load the system gssapi library"),
            "{reason}"
        );
        assert_eq!(client.scheme(), "Negotiate");
        let Step::Continue(first) = client.step(None).unwrap() else {
            panic!("ntlm sends NEGOTIATE first")
        };
        assert!(first.starts_with(b"NTLMSSP\0\x01\0\0\0"));
    }

    /// NTLM without a Kerberos attempt is no fallback.
    #[test]
    fn ntlm_alone_is_no_fallback() {
        let client = negotiate_client(None, ntlm(), rng(), 0).unwrap();
        assert!(client.kerberos_fallback().is_none());
    }
}
