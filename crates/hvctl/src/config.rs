//! Configuration: the TOML config file with profiles, merged with flags and environment into a
//! [`Resolved`] configuration (endpoints built, credentials loaded) before any network call.
//!
//! Precedence, highest first: command-line flag, `HVCTL_*` environment variable (clap merges
//! these two), the selected profile, the file's `[defaults]` table, built-in defaults.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::cli::{parse_duration, AuthKind, GlobalArgs, OutputFormat};
use crate::exit::UsageError;
use crate::inventory::Inventory;

/// Default WinRM HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 5985;
/// Default WinRM HTTPS port.
pub const DEFAULT_HTTPS_PORT: u16 = 5986;
/// Default concurrent operations per host.
pub const DEFAULT_PER_HOST: usize = 4;

/// The config file (`$XDG_CONFIG_HOME/hvctl/config.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when `--profile` is not given.
    pub default_profile: Option<String>,
    /// Settings every profile starts from.
    #[serde(default)]
    pub defaults: Profile,
    /// Named profiles.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One profile: every field optional; unset fields fall through to the next layer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Hosts (host, host:port or URL).
    pub hosts: Option<Vec<String>>,
    /// Inventory file with hosts.
    pub inventory: Option<PathBuf>,
    /// Groups of the inventory to use (every host when unset).
    pub group: Option<Vec<String>>,
    /// WinRM port.
    pub port: Option<u16>,
    /// HTTPS instead of HTTP with message encryption.
    pub https: Option<bool>,
    /// Authentication method.
    pub auth: Option<AuthKind>,
    /// User name.
    pub user: Option<String>,
    /// Name of an environment variable holding the password (instead of HVCTL_PASSWORD).
    pub password_env: Option<String>,
    /// CA certificate PEM file.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate PEM file (certificate auth).
    pub client_cert: Option<PathBuf>,
    /// Client key PEM file (certificate auth).
    pub client_key: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: Option<bool>,
    /// Kerberos SPN.
    pub spn: Option<String>,
    /// Connect timeout ("10s").
    pub connect_timeout: Option<String>,
    /// Operation timeout ("60s").
    pub operation_timeout: Option<String>,
    /// Job timeout ("30m").
    pub job_timeout: Option<String>,
    /// w:MaxEnvelopeSize in bytes.
    pub max_envelope_size: Option<u32>,
    /// Enumeration page size (MaxElements).
    pub page_size: Option<u32>,
    /// Output format.
    pub output: Option<OutputFormat>,
    /// Concurrent operations per host.
    pub per_host: Option<usize>,
    /// Recording directory.
    pub record: Option<PathBuf>,
}

impl Profile {
    /// `self` with every field that `over` sets replaced by `over`'s value.
    #[must_use]
    pub fn overlay(self, over: Profile) -> Profile {
        Profile {
            hosts: over.hosts.or(self.hosts),
            inventory: over.inventory.or(self.inventory),
            group: over.group.or(self.group),
            port: over.port.or(self.port),
            https: over.https.or(self.https),
            auth: over.auth.or(self.auth),
            user: over.user.or(self.user),
            password_env: over.password_env.or(self.password_env),
            ca_cert: over.ca_cert.or(self.ca_cert),
            client_cert: over.client_cert.or(self.client_cert),
            client_key: over.client_key.or(self.client_key),
            insecure: over.insecure.or(self.insecure),
            spn: over.spn.or(self.spn),
            connect_timeout: over.connect_timeout.or(self.connect_timeout),
            operation_timeout: over.operation_timeout.or(self.operation_timeout),
            job_timeout: over.job_timeout.or(self.job_timeout),
            max_envelope_size: over.max_envelope_size.or(self.max_envelope_size),
            page_size: over.page_size.or(self.page_size),
            output: over.output.or(self.output),
            per_host: over.per_host.or(self.per_host),
            record: over.record.or(self.record),
        }
    }
}

impl ConfigFile {
    /// Parses config file text.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, UsageError> {
        toml::from_str(text).map_err(|e| {
            let hint = unknown_key_hint(e.message());
            let text = e.to_string();
            UsageError::new(format!(
                "invalid config file {}: {}{hint}",
                path.display(),
                text.trim_end()
            ))
        })
    }

    /// The merged profile: `[defaults]` overlaid with the named (or default) profile.
    pub fn profile(&self, name: Option<&str>) -> Result<Profile, UsageError> {
        let name = name.or(self.default_profile.as_deref());
        let Some(name) = name else {
            return Ok(self.defaults.clone());
        };
        match self.profiles.get(name) {
            Some(p) => Ok(self.defaults.clone().overlay(p.clone())),
            None => {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                Err(UsageError::new(if known.is_empty() {
                    format!("profile `{name}` not found: the config file defines no profiles")
                } else {
                    format!(
                        "profile `{name}` not found (known profiles: {}){}",
                        known.join(", "),
                        crate::suggest::did_you_mean(name, known.iter().copied(), '`')
                    )
                }))
            }
        }
    }
}

/// serde's "unknown field `hots`, expected one of `hosts`, `port`" as "; did you mean `hosts`?"
/// (empty when nothing is close).
fn unknown_key_hint(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return String::new();
    };
    let Some((typed, rest)) = rest.split_once('`') else {
        return String::new();
    };
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    crate::suggest::did_you_mean(typed, known, '`')
}

/// Where the config file is: `--config`/`HVCTL_CONFIG`, else `$XDG_CONFIG_HOME/hvctl/config.toml`,
/// else `$HOME/.config/hvctl/config.toml`. The flag says whether the user named it explicitly.
pub fn config_path(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_owned(), true));
    }
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|s| !s.is_empty()) {
        return Some((PathBuf::from(x).join("hvctl").join("config.toml"), false));
    }
    env("HOME")
        .filter(|s| !s.is_empty())
        .map(|h| (PathBuf::from(h).join(".config/hvctl/config.toml"), false))
}

/// Loads the config file; a missing default file is an empty config, a missing explicit one an error.
pub fn load_config(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConfigFile, UsageError> {
    let Some((path, was_explicit)) = config_path(explicit, env) else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => ConfigFile::parse(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !was_explicit => Ok(ConfigFile::default()),
        Err(e) => Err(UsageError::new(format!(
            "cannot read config file {}: {e}",
            path.display()
        ))),
    }
}

/// One host to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name as the user wrote it (without scheme and port).
    pub host: String,
    /// The WS-Management URL, `http(s)://host:port/wsman`.
    pub url: String,
}

/// Builds the endpoint for a host spec: `host`, `host:port`, `[v6]:port` or a full URL.
pub fn endpoint(spec: &str, https: bool, port: Option<u16>) -> Result<Endpoint, UsageError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(UsageError::new("empty host name"));
    }
    if let Some((scheme, rest)) = spec.split_once("://") {
        if scheme != "http" && scheme != "https" {
            return Err(UsageError::new(format!(
                "unsupported URL scheme `{scheme}` in `{spec}`"
            )));
        }
        let authority = rest.split('/').next().unwrap_or(rest);
        split_host_port(authority, spec)?;
        let url = if rest.contains('/') {
            spec.to_owned()
        } else {
            format!("{spec}/wsman")
        };
        return Ok(Endpoint {
            host: authority.to_owned(),
            url,
        });
    }
    let (host, spec_port) = split_host_port(spec, spec)?;
    let scheme = if https { "https" } else { "http" };
    let port = spec_port.or(port).unwrap_or(if https {
        DEFAULT_HTTPS_PORT
    } else {
        DEFAULT_HTTP_PORT
    });
    let host_in_url = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    // The label keeps a port written in the spec, so messages name a `--host` that works.
    let label = if spec_port.is_some() {
        spec.to_owned()
    } else {
        host
    };
    Ok(Endpoint {
        url: format!("{scheme}://{host_in_url}:{port}/wsman"),
        host: label,
    })
}

fn split_host_port(authority: &str, spec: &str) -> Result<(String, Option<u16>), UsageError> {
    let bad_port = || UsageError::new(format!("invalid port in host `{spec}`"));
    if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| UsageError::new(format!("invalid host `{spec}`")))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad_port())?),
            None if after.is_empty() => None,
            None => return Err(UsageError::new(format!("invalid host `{spec}`"))),
        };
        return Ok((h.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((h, _)) if h.contains(':') => Ok((authority.to_owned(), None)),
        Some((h, p)) => Ok((h.to_owned(), Some(p.parse().map_err(|_| bad_port())?))),
        None => Ok((authority.to_owned(), None)),
    }
}

/// A password (zeroized on drop; `Debug` prints nothing).
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(s: String) -> Self {
        Password(Zeroizing::new(s))
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Where the password came from (for messages; never the password itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (Kerberos ticket cache / keytab, or certificate auth).
    None,
    /// An environment variable.
    Env,
    /// `--password-stdin`.
    Stdin,
    /// A no-echo prompt on the terminal.
    Prompt,
}

/// The resolved configuration: everything a command needs, before any network call.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Hosts to talk to, in order, deduplicated.
    pub endpoints: Vec<Endpoint>,
    /// HTTPS or HTTP + message encryption. (The endpoints carry it for the commands; read on its
    /// own only by `sim serve`, so unread in a build without the `sim` feature.)
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub https: bool,
    /// Authentication method.
    pub auth: AuthKind,
    /// User name, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<Password>,
    /// Where the password came from.
    pub password_source: PasswordSource,
    /// CA certificate file.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate and key (certificate auth).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Kerberos SPN service (and optional host).
    pub spn: Option<String>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Operation timeout.
    pub operation_timeout: Duration,
    /// Job timeout.
    pub job_timeout: Duration,
    /// w:MaxEnvelopeSize in bytes (None: the client's default, 512000).
    pub max_envelope_size: Option<u32>,
    /// MaxElements of enumerations (None: the client's default, from the envelope size).
    pub page_size: Option<u32>,
    /// Output format.
    pub output: OutputFormat,
    /// Log verbosity (count of -v).
    pub verbose: u8,
    /// `-q`: only results and errors (no progress, warnings or summary line).
    pub quiet: bool,
    /// Recording directory.
    pub record: Option<PathBuf>,
    /// Concurrent operations per host.
    pub per_host: usize,
    /// Draw progress bars (on a terminal) or plain lines.
    pub progress_bars: bool,
}

/// A no-echo password prompt: shows the message, returns the line typed.
pub type Prompt = dyn Fn(&str) -> std::io::Result<String>;

/// The outside world the resolution reads from; injected so tests need no real environment.
pub struct Sources<'a> {
    /// Environment variable lookup.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Standard input (for `--password-stdin`).
    pub stdin: &'a mut dyn BufRead,
    /// A no-echo prompt, when standard input is a terminal.
    pub prompt: Option<&'a Prompt>,
    /// Reads a file (inventory).
    pub read_file: &'a dyn Fn(&Path) -> std::io::Result<String>,
    /// Whether stderr is a terminal (progress bars).
    pub stderr_is_terminal: bool,
}

/// What the command needs from the connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Hosts and credentials.
    Hosts,
    /// Nothing (local commands: completions, man, demo, sim).
    Nothing,
}

/// Merges flags/env (`args`) with the profile and loads credentials.
pub fn resolve(
    args: &GlobalArgs,
    file: &ConfigFile,
    needs: Needs,
    src: Sources<'_>,
) -> Result<Resolved, UsageError> {
    let p = file.profile(args.profile.as_deref())?;
    let dur = |flag: Option<Duration>,
               prof: &Option<String>,
               what: &str,
               default: u64|
     -> Result<Duration, UsageError> {
        match (flag, prof) {
            (Some(d), _) => Ok(d),
            (None, Some(s)) => parse_duration(s).map_err(|e| UsageError::new(format!("profile {what}: {e}"))),
            (None, None) => Ok(Duration::from_secs(default)),
        }
    };
    let https = args.https || p.https.unwrap_or(false);
    let port = args.port.or(p.port);
    let auth = args.auth.or(p.auth).unwrap_or(AuthKind::Negotiate);
    let insecure = args.insecure || p.insecure.unwrap_or(false);
    let per_host = args.per_host.or(p.per_host).unwrap_or(DEFAULT_PER_HOST);
    if per_host == 0 {
        return Err(UsageError::new("--per-host must be at least 1"));
    }

    let mut host_specs: Vec<String> = if !args.hosts.is_empty() {
        args.hosts.clone()
    } else {
        Vec::new()
    };
    let inventory = args.inventory.clone().or_else(|| {
        if host_specs.is_empty() {
            p.inventory.clone()
        } else {
            None
        }
    });
    let groups = if args.groups.is_empty() {
        p.group.clone().unwrap_or_default()
    } else {
        args.groups.clone()
    };
    if let Some(inv) = &inventory {
        let text = (src.read_file)(inv)
            .map_err(|e| UsageError::new(format!("cannot read inventory {}: {e}", inv.display())))?;
        host_specs.extend(Inventory::parse(&text, inv)?.hosts(&groups, inv)?);
    } else if !groups.is_empty() {
        return Err(UsageError::new(format!(
            "--group {} selects hosts of an inventory file: give --inventory FILE (or HVCTL_INVENTORY, or a \
             profile's inventory)",
            groups.join(",")
        )));
    }
    if host_specs.is_empty() {
        host_specs = p.hosts.clone().unwrap_or_default();
    }
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for spec in &host_specs {
        let e = endpoint(spec, https, port)?;
        if !endpoints.iter().any(|x| x.url == e.url) {
            endpoints.push(e);
        }
    }
    if needs == Needs::Hosts && endpoints.is_empty() {
        return Err(UsageError::new(
            "no host given: use --host HOST (or HVCTL_HOST), --inventory FILE, or a profile with hosts",
        ));
    }
    if needs == Needs::Hosts {
        if matches!(auth, AuthKind::Basic | AuthKind::Certificate) && !https {
            let name = if auth == AuthKind::Basic {
                "basic"
            } else {
                "certificate"
            };
            return Err(UsageError::new(format!(
                "--auth {name} needs --https (it would send credentials without encryption over HTTP)"
            )));
        }
        if let Some(e) = endpoints.iter().find(|e| e.url.starts_with("http://") && https) {
            return Err(UsageError::new(format!(
                "host {} is an http:// URL but --https is set",
                e.host
            )));
        }
    }
    let client_cert = match (
        args.client_cert.clone().or(p.client_cert.clone()),
        args.client_key.clone().or(p.client_key.clone()),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err(UsageError::new("--client-cert and --client-key go together")),
    };
    if needs == Needs::Hosts && auth == AuthKind::Certificate && client_cert.is_none() {
        return Err(UsageError::new(
            "--auth certificate needs --client-cert and --client-key",
        ));
    }

    let user = args.user.clone().or(p.user.clone());
    let (password, password_source) = if needs == Needs::Hosts {
        load_password(args, &p, auth, user.as_deref(), src.env, src.stdin, src.prompt)?
    } else {
        (None, PasswordSource::None)
    };
    if needs == Needs::Hosts && matches!(auth, AuthKind::Ntlm | AuthKind::Basic) && user.is_none() {
        return Err(UsageError::new("--auth ntlm/basic needs --user (or HVCTL_USER)"));
    }

    Ok(Resolved {
        endpoints,
        https,
        auth,
        user,
        password,
        password_source,
        ca_cert: args.ca_cert.clone().or(p.ca_cert),
        client_cert,
        insecure,
        spn: args.spn.clone().or(p.spn),
        connect_timeout: dur(args.connect_timeout, &p.connect_timeout, "connect_timeout", 10)?,
        operation_timeout: dur(
            args.operation_timeout,
            &p.operation_timeout,
            "operation_timeout",
            60,
        )?,
        job_timeout: dur(args.job_timeout, &p.job_timeout, "job_timeout", 30 * 60)?,
        max_envelope_size: envelope_size(args.max_envelope_size.or(p.max_envelope_size))?,
        page_size: match args.page_size.or(p.page_size) {
            Some(0) => return Err(UsageError::new("page_size must be at least 1")),
            n => n,
        },
        output: args.output.or(p.output).unwrap_or(OutputFormat::Human),
        verbose: args.verbose,
        quiet: args.quiet,
        record: args.record.clone().or(p.record),
        per_host,
        progress_bars: src.stderr_is_terminal && !args.no_progress,
    })
}

/// Merges repeated VM arguments (`vm stop web01 WEB01`), as repeated hosts are merged: names
/// compare case-insensitively, as Hyper-V compares ElementName (WQL `=` on strings ignores
/// case), and GUIDs compare normalized (braces dropped, any case). The first spelling stays,
/// in the order given.
pub fn merge_repeated_vms(command: &mut crate::cli::Command) {
    let Some(vms) = command.vms_mut() else { return };
    let mut seen = std::collections::HashSet::new();
    vms.retain(|v| {
        let key = match hyperv::VmRef::parse(v) {
            hyperv::VmRef::Guid(g) => format!("guid:{g}"),
            hyperv::VmRef::Name(n) => format!("name:{}", n.to_lowercase()),
        };
        seen.insert(key)
    });
}

/// The accepted `max_envelope_size` range, for the flag (its value parser) and the profile.
pub const ENVELOPE_SIZES: std::ops::RangeInclusive<u32> = 8192..=1_073_741_824;

fn envelope_size(n: Option<u32>) -> Result<Option<u32>, UsageError> {
    match n {
        Some(n) if !ENVELOPE_SIZES.contains(&n) => Err(UsageError::new(format!(
            "max_envelope_size {n} is out of range ({}..={} bytes)",
            ENVELOPE_SIZES.start(),
            ENVELOPE_SIZES.end()
        ))),
        n => Ok(n),
    }
}

/// Password sources, in order: `--password-stdin`, the environment (`HVCTL_PASSWORD` or the
/// profile's `password_env`), a no-echo prompt on a terminal when the method needs one.
fn load_password(
    args: &GlobalArgs,
    p: &Profile,
    auth: AuthKind,
    user: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn BufRead,
    prompt: Option<&Prompt>,
) -> Result<(Option<Password>, PasswordSource), UsageError> {
    if args.password_stdin {
        let mut line = Zeroizing::new(String::new());
        stdin
            .read_line(&mut line)
            .map_err(|e| UsageError::new(format!("cannot read password from stdin: {e}")))?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if pw.is_empty() {
            return Err(UsageError::new(
                "--password-stdin: standard input gave an empty password",
            ));
        }
        return Ok((Some(Password::new(pw)), PasswordSource::Stdin));
    }
    let var = p.password_env.as_deref().unwrap_or("HVCTL_PASSWORD");
    if let Some(pw) = env(var).filter(|s| !s.is_empty()) {
        return Ok((Some(Password::new(pw)), PasswordSource::Env));
    }
    // Kerberos and certificates work without a password; negotiate tries Kerberos first
    // unless a user name says the operator wants to log on with a password.
    let needs_password = match auth {
        AuthKind::Ntlm | AuthKind::Basic => true,
        AuthKind::Negotiate => user.is_some(),
        AuthKind::Kerberos | AuthKind::Certificate => false,
    };
    // Without a terminal, negotiate goes on without a password: Kerberos (ticket cache or
    // keytab) may still work, and a failure is an authentication error with its hint.
    if !needs_password || (auth == AuthKind::Negotiate && prompt.is_none()) {
        return Ok((None, PasswordSource::None));
    }
    match prompt {
        Some(ask) => {
            let who = user.unwrap_or("the user");
            let pw = ask(&format!("Password for {who}: "))
                .map_err(|e| UsageError::new(format!("cannot read password from the terminal: {e}")))?;
            Ok((Some(Password::new(pw)), PasswordSource::Prompt))
        }
        None => Err(UsageError::new(format!(
            "no password: set {var}, pipe it with --password-stdin, or run on a terminal to be prompted"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SAMPLE: &str = r#"
default_profile = "primary"

[defaults]
auth = "ntlm"
user = "CORP\\operator"
operation_timeout = "90s"

[profiles.primary]
hosts = ["hv01.corp.example"]

[profiles.replica]
hosts = ["hv02.corp.example", "hv03.corp.example:5999"]
https = true
output = "json"
password_env = "REPLICA_PASSWORD"
"#;

    struct World {
        env: HashMap<&'static str, &'static str>,
        stdin: &'static str,
        terminal: bool,
        files: HashMap<&'static str, &'static str>,
    }

    impl World {
        fn new() -> Self {
            World {
                env: HashMap::new(),
                stdin: "",
                terminal: false,
                files: HashMap::new(),
            }
        }

        fn resolve(&self, argv: &[&str], file: &ConfigFile) -> Result<Resolved, UsageError> {
            use clap::Parser;
            let mut full = vec!["hvctl"];
            full.extend_from_slice(argv);
            full.extend_from_slice(&["vm", "list"]);
            let cli = crate::cli::Cli::try_parse_from(full).unwrap();
            let env = |k: &str| self.env.get(k).map(|v| (*v).to_owned());
            let mut stdin = std::io::Cursor::new(self.stdin.as_bytes());
            let prompt = |_: &str| Ok("prompted-secret".to_owned());
            let read_file = |p: &Path| {
                self.files
                    .get(p.to_str().unwrap())
                    .map(|s| (*s).to_owned())
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
            };
            resolve(
                &cli.global,
                file,
                Needs::Hosts,
                Sources {
                    env: &env,
                    stdin: &mut stdin,
                    prompt: if self.terminal { Some(&prompt) } else { None },
                    read_file: &read_file,
                    stderr_is_terminal: self.terminal,
                },
            )
        }
    }

    fn sample() -> ConfigFile {
        ConfigFile::parse(SAMPLE, Path::new("config.toml")).unwrap()
    }

    #[test]
    fn default_profile_overlays_defaults() {
        let mut w = World::new();
        w.env.insert("HVCTL_PASSWORD", "pw1");
        let r = w.resolve(&[], &sample()).unwrap();
        assert_eq!(
            r.endpoints,
            [Endpoint {
                host: "hv01.corp.example".into(),
                url: "http://hv01.corp.example:5985/wsman".into()
            }]
        );
        assert_eq!(r.auth, AuthKind::Ntlm);
        assert_eq!(r.user.as_deref(), Some("CORP\\operator"));
        assert_eq!(r.operation_timeout, Duration::from_secs(90));
        assert_eq!(r.connect_timeout, Duration::from_secs(10));
        assert_eq!(r.password.as_ref().map(Password::expose), Some("pw1"));
        assert_eq!(r.password_source, PasswordSource::Env);
    }

    #[test]
    fn named_profile_and_its_password_variable() {
        let mut w = World::new();
        w.env.insert("HVCTL_PASSWORD", "wrong");
        w.env.insert("REPLICA_PASSWORD", "right");
        let r = w.resolve(&["-p", "replica"], &sample()).unwrap();
        let urls: Vec<&str> = r.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://hv02.corp.example:5986/wsman",
                "https://hv03.corp.example:5999/wsman"
            ]
        );
        assert_eq!(r.output, OutputFormat::Json);
        assert_eq!(r.password.as_ref().map(Password::expose), Some("right"));
    }

    #[test]
    fn flags_beat_the_profile() {
        let mut w = World::new();
        w.env.insert("REPLICA_PASSWORD", "x");
        let r = w
            .resolve(
                &[
                    "-p",
                    "replica",
                    "--host",
                    "other",
                    "--port",
                    "443",
                    "-o",
                    "human",
                    "--operation-timeout",
                    "5s",
                ],
                &sample(),
            )
            .unwrap();
        assert_eq!(r.endpoints[0].url, "https://other:443/wsman");
        assert_eq!(r.endpoints.len(), 1);
        assert_eq!(r.output, OutputFormat::Human);
        assert_eq!(r.operation_timeout, Duration::from_secs(5));
    }

    #[test]
    fn max_envelope_size_from_the_profile_the_flag_or_the_default() {
        let mut w = World::new();
        w.env.insert("HVCTL_PASSWORD", "x");
        assert_eq!(w.resolve(&[], &sample()).unwrap().max_envelope_size, None);
        let file = ConfigFile::parse(
            &format!("{SAMPLE}\n[profiles.big]\nhosts = [\"hv09\"]\nmax_envelope_size = 1048576\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        let r = w.resolve(&["-p", "big"], &file).unwrap();
        assert_eq!(r.max_envelope_size, Some(1_048_576));
        let r = w
            .resolve(&["-p", "big", "--max-envelope-size", "153600"], &file)
            .unwrap();
        assert_eq!(r.max_envelope_size, Some(153_600));
        let small = ConfigFile::parse(
            &format!("{SAMPLE}\n[profiles.small]\nhosts = [\"hv09\"]\nmax_envelope_size = 100\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        let err = w.resolve(&["-p", "small"], &small).unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_envelope_size 100 is out of range (8192..=1073741824 bytes)"
        );
    }

    #[test]
    fn page_size_from_the_flag_the_environment_or_the_profile() {
        let mut w = World::new();
        w.env.insert("HVCTL_PASSWORD", "x");
        assert_eq!(w.resolve(&[], &sample()).unwrap().page_size, None);
        let file = ConfigFile::parse(
            &format!("{SAMPLE}\n[profiles.low]\nhosts = [\"hv09\"]\npage_size = 500\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(w.resolve(&["-p", "low"], &file).unwrap().page_size, Some(500));
        let r = w.resolve(&["-p", "low", "--page-size", "7"], &file).unwrap();
        assert_eq!(r.page_size, Some(7));
        let zero = ConfigFile::parse(
            &format!("{SAMPLE}\n[profiles.zero]\nhosts = [\"hv09\"]\npage_size = 0\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            w.resolve(&["-p", "zero"], &zero).unwrap_err().to_string(),
            "page_size must be at least 1"
        );
        use clap::Parser;
        let err = crate::cli::Cli::try_parse_from(["hvctl", "--page-size", "0", "vm", "list"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn max_envelope_size_flag_out_of_range_is_a_usage_error() {
        use clap::Parser;
        let err = crate::cli::Cli::try_parse_from(["hvctl", "--max-envelope-size", "100", "vm", "list"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let err = World::new().resolve(&["-p", "nope"], &sample()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile `nope` not found (known profiles: primary, replica)"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let err = ConfigFile::parse("[profiles.a]\nhost = \"x\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("unknown field `host`"), "{err}");
        assert!(err.to_string().ends_with("; did you mean `hosts`?"), "{err}");
        let err = ConfigFile::parse("[defaults]\nzzzzzzzz = 1\n", Path::new("c.toml")).unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn a_mistyped_profile_is_suggested() {
        let err = World::new().resolve(&["-p", "primray"], &sample()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile `primray` not found (known profiles: primary, replica); did you mean `primary`?"
        );
    }

    #[test]
    fn password_from_stdin_wins_and_loses_the_newline() {
        let mut w = World::new();
        w.stdin = "s3cret\r\nignored\n";
        w.env.insert("HVCTL_PASSWORD", "env");
        let r = w.resolve(&["--password-stdin"], &sample()).unwrap();
        assert_eq!(r.password.as_ref().map(Password::expose), Some("s3cret"));
        assert_eq!(r.password_source, PasswordSource::Stdin);
    }

    #[test]
    fn password_prompt_only_on_a_terminal() {
        let mut w = World::new();
        let err = w.resolve(&[], &sample()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no password: set HVCTL_PASSWORD, pipe it with --password-stdin, or run on a terminal to be prompted"
        );
        w.terminal = true;
        let r = w.resolve(&[], &sample()).unwrap();
        assert_eq!(r.password.as_ref().map(Password::expose), Some("prompted-secret"));
        assert_eq!(r.password_source, PasswordSource::Prompt);
        assert!(r.progress_bars);
    }

    #[test]
    fn kerberos_needs_no_password() {
        let r = World::new()
            .resolve(&["--auth", "kerberos", "--host", "hv"], &ConfigFile::default())
            .unwrap();
        assert!(r.password.is_none());
        assert_eq!(r.password_source, PasswordSource::None);
    }

    #[test]
    fn basic_over_http_is_refused() {
        let mut w = World::new();
        w.env.insert("HVCTL_PASSWORD", "x");
        let err = w
            .resolve(
                &["--auth", "basic", "--host", "hv", "-u", "a"],
                &ConfigFile::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("needs --https"), "{err}");
    }

    #[test]
    fn no_host_is_a_usage_error() {
        let err = World::new()
            .resolve(&["--auth", "kerberos"], &ConfigFile::default())
            .unwrap_err();
        assert!(err.to_string().starts_with("no host given"), "{err}");
    }

    #[test]
    fn inventory_hosts_are_read_and_deduplicated() {
        let mut w = World::new();
        w.files
            .insert("inv.txt", "# hosts\nhv01\n\nhv02:6000  # comment\nhv01\n");
        let r = w
            .resolve(
                &["--auth", "kerberos", "--inventory", "inv.txt"],
                &ConfigFile::default(),
            )
            .unwrap();
        let urls: Vec<&str> = r.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(urls, ["http://hv01:5985/wsman", "http://hv02:6000/wsman"]);
    }

    #[test]
    fn repeated_vms_are_merged_by_name_case_and_normalized_guid() {
        use clap::Parser;
        let mut cli = crate::cli::Cli::try_parse_from([
            "hvctl",
            "vm",
            "stop",
            "demo-vm",
            "DEMO-VM",
            "web01",
            "{0a1b2c3d-0000-4000-8000-00000000abcd}",
            "0A1B2C3D-0000-4000-8000-00000000ABCD",
            "demo-vm",
        ])
        .unwrap();
        merge_repeated_vms(&mut cli.command);
        assert_eq!(
            cli.command.vms_mut().unwrap(),
            &["demo-vm", "web01", "{0a1b2c3d-0000-4000-8000-00000000abcd}"]
        );
    }

    #[test]
    fn endpoints_from_urls_and_ipv6() {
        assert_eq!(
            endpoint("127.0.0.1:5999", false, None).unwrap().host,
            "127.0.0.1:5999"
        );
        assert_eq!(endpoint("hv01", false, Some(1)).unwrap().host, "hv01");
        assert_eq!(
            endpoint("https://hv01:443/wsman", false, None).unwrap().host,
            "hv01:443"
        );
        assert_eq!(
            endpoint("https://h:1/custom", false, None).unwrap().url,
            "https://h:1/custom"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080", false, None).unwrap().url,
            "http://127.0.0.1:8080/wsman"
        );
        assert_eq!(
            endpoint("[::1]:99", false, None).unwrap().url,
            "http://[::1]:99/wsman"
        );
        assert_eq!(
            endpoint("::1", true, None).unwrap().url,
            "https://[::1]:5986/wsman"
        );
        assert!(endpoint("ftp://h", false, None).is_err());
        assert!(endpoint("h:notaport", false, None).is_err());
    }

    #[test]
    fn config_path_prefers_explicit_then_xdg_then_home() {
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/x".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_path(Some(Path::new("/c.toml")), &env),
            Some((PathBuf::from("/c.toml"), true))
        );
        assert_eq!(
            config_path(None, &env),
            Some((PathBuf::from("/x/hvctl/config.toml"), false))
        );
        let home_only = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            config_path(None, &home_only),
            Some((PathBuf::from("/home/u/.config/hvctl/config.toml"), false))
        );
    }

    #[test]
    fn missing_explicit_config_is_an_error_but_missing_default_is_not() {
        let env = |k: &str| (k == "XDG_CONFIG_HOME").then(|| "/nonexistent-hvctl-test".to_owned());
        assert!(load_config(None, &env).unwrap().profiles.is_empty());
        let err = load_config(Some(Path::new("/nonexistent-hvctl-test/c.toml")), &env).unwrap_err();
        assert!(err.to_string().starts_with("cannot read config file"), "{err}");
    }

    #[test]
    fn password_debug_prints_nothing() {
        assert_eq!(format!("{:?}", Password::new("hunter2".into())), "Password(..)");
    }

    #[test]
    fn readme_config_example_parses_and_resolves() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let file = ConfigFile::parse(&readme[start..end], Path::new("README.md")).unwrap();
        let mut w = World::new();
        w.env.insert("HV_REPLICA_PASSWORD", "pw");
        let r = w.resolve(&["-p", "replica"], &file).unwrap();
        assert_eq!(r.endpoints[0].url, "https://hv02.corp.example:5986/wsman");
        assert_eq!(r.user.as_deref(), Some("CORP\\operator"));
        assert_eq!(r.operation_timeout, Duration::from_secs(90));
        assert_eq!(r.output, OutputFormat::Json);
        assert_eq!(r.per_host, 2);
        assert_eq!(r.ca_cert.as_deref(), Some(Path::new("/etc/ssl/corp-ca.pem")));
        assert_eq!(r.password.as_ref().map(Password::expose), Some("pw"));
        // The default profile: negotiate as CORP\\operator, no terminal: Kerberos without a password.
        let r = w.resolve(&[], &file).unwrap();
        assert_eq!(r.endpoints[0].url, "http://hv01.corp.example:5985/wsman");
        assert_eq!(r.auth, AuthKind::Negotiate);
        assert_eq!(r.password_source, PasswordSource::None);
    }
}
