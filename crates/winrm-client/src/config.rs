//! Configuration types: authentication methods, secrets, encryption and proxy modes.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// A password or private key kept in memory that is zeroed on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Self {
        Password(Zeroizing::new(secret.into()))
    }

    /// The secret text (pass it on, never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

/// How the client authenticates ([MS-WSMV 3.1.4.1.29] lists the schemes WinRM accepts).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthMethod {
    /// SPNEGO: Kerberos when a ticket, keytab or password for it works, otherwise NTLM with the
    /// password. `user` is `DOMAIN\user`, `user@domain.tld` or `user`.
    Negotiate {
        /// User name; `None` uses the default Kerberos credential cache only.
        user: Option<String>,
        /// Password (needed for the NTLM fallback).
        password: Option<Password>,
        /// Kerberos keytab to acquire credentials from.
        keytab: Option<PathBuf>,
        /// Forward the TGT (Kerberos delegation).
        delegate: bool,
    },
    /// NTLMv2 only, sent as the `Negotiate` HTTP scheme with raw NTLMSSP tokens.
    Ntlm {
        /// User name: `DOMAIN\user`, `user@domain.tld` or `user`.
        user: String,
        /// Password.
        password: Password,
    },
    /// Kerberos only (SPNEGO-wrapped, scheme `Negotiate`) through the system GSSAPI.
    Kerberos {
        /// Client principal; `None` uses the default credential cache.
        principal: Option<String>,
        /// Password to obtain a ticket with (instead of a cache or keytab).
        password: Option<Password>,
        /// Keytab to acquire credentials from.
        keytab: Option<PathBuf>,
        /// Forward the TGT (Kerberos delegation).
        delegate: bool,
    },
    /// HTTP Basic; refused by the builder unless the endpoint is HTTPS.
    Basic {
        /// Local account name.
        user: String,
        /// Password.
        password: Password,
    },
    /// TLS client certificate (HTTPS only), with the WS-Man mutual-auth security profile header.
    Certificate {
        /// PEM certificate chain.
        cert_pem: Vec<u8>,
        /// PEM private key (zeroed on drop).
        key_pem: Password,
    },
}

impl AuthMethod {
    /// NTLM with a user and password.
    pub fn ntlm(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Ntlm {
            user: user.to_owned(),
            password: password.into(),
        }
    }

    /// Negotiate (Kerberos, falling back to NTLM) with a user and password.
    pub fn negotiate(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Negotiate {
            user: Some(user.to_owned()),
            password: Some(password.into()),
            keytab: None,
            delegate: false,
        }
    }

    /// Basic with a local user and password (HTTPS only).
    pub fn basic(user: &str, password: impl Into<Password>) -> Self {
        AuthMethod::Basic {
            user: user.to_owned(),
            password: password.into(),
        }
    }

    /// The HTTP scheme name, for messages.
    pub(crate) fn scheme_name(&self) -> &'static str {
        match self {
            AuthMethod::Negotiate { .. } => "Negotiate",
            AuthMethod::Ntlm { .. } => "NTLM",
            AuthMethod::Kerberos { .. } => "Kerberos",
            AuthMethod::Basic { .. } => "Basic",
            AuthMethod::Certificate { .. } => "Certificate",
        }
    }

    /// The user, for messages.
    pub(crate) fn user_name(&self) -> String {
        match self {
            AuthMethod::Negotiate { user, .. } => {
                user.clone().unwrap_or_else(|| "(default credentials)".to_owned())
            }
            AuthMethod::Ntlm { user, .. } | AuthMethod::Basic { user, .. } => user.clone(),
            AuthMethod::Kerberos { principal, .. } => principal
                .clone()
                .unwrap_or_else(|| "(default credentials)".to_owned()),
            AuthMethod::Certificate { .. } => "(client certificate)".to_owned(),
        }
    }

    /// True for the connection-oriented GSS schemes that can seal messages.
    pub(crate) fn is_gss(&self) -> bool {
        matches!(
            self,
            AuthMethod::Negotiate { .. } | AuthMethod::Ntlm { .. } | AuthMethod::Kerberos { .. }
        )
    }
}

/// WinRM message encryption ([MS-WSMV 2.2.9.1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Encrypt over HTTP, not over HTTPS (the TLS channel protects the body).
    #[default]
    Auto,
    /// Encrypt over HTTP and HTTPS.
    Always,
    /// Never encrypt: plaintext SOAP over HTTP. Only for listeners with AllowUnencrypted=true;
    /// logged as a warning.
    Never,
}

/// Which HTTP proxy to use. Loopback endpoints never use a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` with `NO_PROXY` from the environment.
    #[default]
    Environment,
    /// No proxy.
    None,
    /// This proxy URL (`http://`, `https://`), skipping hosts in the `no_proxy` list
    /// (comma-separated, same syntax as `NO_PROXY`).
    Url {
        /// The proxy URL.
        url: String,
        /// Hosts that bypass the proxy.
        no_proxy: Option<String>,
    },
}
