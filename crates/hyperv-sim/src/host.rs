//! Running endpoints: [`SimHost`] (one simulated Hyper-V host) and [`start_pair`] (a primary and
//! a replica sharing one replication world).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use winrm_auth::ntlm::UserTable;
use zeroize::Zeroizing;

use crate::inject::FaultHandle;
use crate::model::{HostId, World, WorldConfig};
use crate::ops::EnumStore;
use crate::server::{self, Shared};
use crate::stats::{Stats, StatsInner};
use crate::tls::CertificateKind;
use crate::variance::Variance;
use crate::Error;

/// How to run one simulated host.
#[derive(Clone)]
pub struct SimConfig {
    /// Address to listen on; `127.0.0.1:0` (a free port) by default.
    pub bind: SocketAddr,
    /// NetBIOS name of the host (`Msvm_ComputerSystem.Name`, fault `Machine`).
    pub host_name: String,
    /// DNS domain: the host's FQDN is `<host_name lower case>.<dns_domain>`.
    pub dns_domain: String,
    /// Accepted users: (`DOMAIN\user`, `user@domain` or `user`; password).
    pub users: Vec<(String, Zeroizing<String>)>,
    /// Non-replicated VMs to create (off), by name.
    pub vms: Vec<String>,
    /// Serve HTTPS with a generated self-signed certificate (see [`SimHost::cert_pem`]).
    pub https: bool,
    /// How the HTTPS certificate is signed (its signature hash picks the channel-binding hash,
    /// [RFC 5929 §4.1]); ECDSA P-256 with SHA-256 by default.
    pub certificate: CertificateKind,
    /// Over HTTPS: require NTLM channel bindings matching the certificate, as a listener with
    /// `CbtHardeningLevel = Strict` does (MS docs "Installation and configuration for Windows
    /// Remote Management"; a missing or wrong binding is a 401). On by default. `false` is for
    /// tests only: it accepts any binding (`CbtHardeningLevel = None`).
    pub require_channel_binding: bool,
    /// Over HTTPS: accept Basic authentication (never over HTTP).
    pub allow_basic: bool,
    /// Accept plaintext SOAP bodies over HTTP (`AllowUnencrypted = true`); off by default.
    pub allow_unencrypted: bool,
    /// The listener's `MaxEnvelopeSizekb` (Windows default 500): requests whose envelope is
    /// larger are refused with HTTP 413, and responses are held to it (or to the request's
    /// smaller `w:MaxEnvelopeSize`).
    pub max_envelope_size_kb: u32,
    /// The listener's `MaxBatchItems` ([MS-WSMV 2.2.4.10], Windows default 32000): an
    /// optimized Enumerate or a Pull asking for more items per response is refused
    /// ([`SimFault::invalid_batch_parameter`](crate::SimFault::invalid_batch_parameter)).
    pub max_batch_items: u32,
    /// How long each Msvm_ConcreteJob runs.
    pub job_duration: Duration,
    /// `TimeBeforeRemoval` of finished jobs.
    pub time_before_removal: Duration,
    /// Idle lifetime of an enumeration context (`EnumerationTimeoutms`).
    pub enumeration_timeout: Duration,
    /// How long every HTTP exchange (each request and its reply, the 401 legs of a handshake
    /// included) waits before its reply is written: an emulated network round trip, so that
    /// round trips cost what they cost over a VPN or WAN link. Zero (none) by default.
    pub latency: Duration,
    /// Fault injection rules (share the handle with the test).
    pub faults: FaultHandle,
    /// Serve an existing host of an existing world instead of creating one (used by
    /// [`start_pair`]).
    pub attach: Option<(Arc<Mutex<World>>, HostId)>,
    /// How responses differ from the canonical Windows-like output (none by default; see
    /// [`SimHost::set_variance`] to change it while running).
    pub variance: Variance,
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("bind", &self.bind)
            .field("host_name", &self.host_name)
            .field(
                "users",
                &self.users.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
            )
            .field("https", &self.https)
            .field("job_duration", &self.job_duration)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            host_name: "HV-SIM".to_owned(),
            dns_domain: "contoso.test".to_owned(),
            users: Vec::new(),
            vms: Vec::new(),
            https: false,
            certificate: CertificateKind::default(),
            require_channel_binding: true,
            allow_basic: false,
            allow_unencrypted: false,
            max_envelope_size_kb: 500,
            max_batch_items: crate::ops::DEFAULT_MAX_BATCH_ITEMS,
            job_duration: WorldConfig::default().job_duration,
            time_before_removal: WorldConfig::default().time_before_removal,
            enumeration_timeout: Duration::from_secs(240),
            latency: Duration::ZERO,
            faults: FaultHandle::default(),
            attach: None,
            variance: Variance::default(),
        }
    }
}

impl SimConfig {
    /// Defaults with this NetBIOS host name.
    pub fn new(host_name: &str) -> Self {
        Self {
            host_name: host_name.to_owned(),
            ..Self::default()
        }
    }

    /// Adds an accepted user (`HV\operator`); the caller chooses the password.
    #[must_use]
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users
            .push((name.to_owned(), Zeroizing::new(password.to_owned())));
        self
    }
}

/// How to run a primary/replica pair.
#[derive(Clone)]
pub struct PairConfig {
    /// NetBIOS name of the primary (default `HV-PRIMARY`).
    pub primary_name: String,
    /// NetBIOS name of the replica (default `HV-REPLICA`).
    pub replica_name: String,
    /// DNS domain of both.
    pub dns_domain: String,
    /// Accepted users (on both hosts).
    pub users: Vec<(String, Zeroizing<String>)>,
    /// Name of the demo VM replicating from the primary to the replica (default `demo-vm`).
    pub vm_name: String,
    /// HTTPS on both.
    pub https: bool,
    /// How both HTTPS certificates are signed.
    pub certificate: CertificateKind,
    /// Over HTTPS: require NTLM channel bindings on both (on by default; see
    /// [`SimConfig::require_channel_binding`]).
    pub require_channel_binding: bool,
    /// How long each job runs.
    pub job_duration: Duration,
    /// `TimeBeforeRemoval` of finished jobs.
    pub time_before_removal: Duration,
    /// The emulated round trip of every HTTP exchange on both hosts (see
    /// [`SimConfig::latency`]); zero by default.
    pub latency: Duration,
    /// Address of the primary (`127.0.0.1:0` by default).
    pub primary_bind: SocketAddr,
    /// Address of the replica (`127.0.0.1:0` by default).
    pub replica_bind: SocketAddr,
}

impl fmt::Debug for PairConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairConfig")
            .field("primary_name", &self.primary_name)
            .field("replica_name", &self.replica_name)
            .field(
                "users",
                &self.users.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
            )
            .field("vm_name", &self.vm_name)
            .finish_non_exhaustive()
    }
}

impl Default for PairConfig {
    fn default() -> Self {
        Self {
            primary_name: "HV-PRIMARY".to_owned(),
            replica_name: "HV-REPLICA".to_owned(),
            dns_domain: "contoso.test".to_owned(),
            users: Vec::new(),
            vm_name: "demo-vm".to_owned(),
            https: false,
            certificate: CertificateKind::default(),
            require_channel_binding: true,
            job_duration: WorldConfig::default().job_duration,
            time_before_removal: WorldConfig::default().time_before_removal,
            latency: Duration::ZERO,
            primary_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            replica_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl PairConfig {
    /// Adds an accepted user on both hosts.
    #[must_use]
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users
            .push((name.to_owned(), Zeroizing::new(password.to_owned())));
        self
    }
}

/// A running simulated Hyper-V host (stops when [`SimHost::shutdown`] is awaited or the value
/// is dropped).
pub struct SimHost {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cert_pem: Option<String>,
    cert_der: Option<Vec<u8>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for SimHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHost")
            .field("endpoint", &self.endpoint())
            .field("host", &self.shared.machine)
            .finish()
    }
}

fn split_user(name: &str) -> (String, String) {
    match name.split_once('\\') {
        Some((d, u)) => (d.to_owned(), u.to_owned()),
        None => match name.split_once('@') {
            Some((u, d)) => (d.to_owned(), u.to_owned()),
            None => (String::new(), name.to_owned()),
        },
    }
}

impl SimHost {
    /// Starts an endpoint on `config.bind` (tokio runtime required).
    pub async fn start(config: SimConfig) -> Result<SimHost, Error> {
        let now = SystemTime::now();
        let fqdn = format!("{}.{}", config.host_name.to_ascii_lowercase(), config.dns_domain);
        let (world, host) = match config.attach.clone() {
            Some(a) => a,
            None => {
                let mut w = World::new(WorldConfig {
                    job_duration: config.job_duration,
                    time_before_removal: config.time_before_removal,
                });
                let h = w.add_host(&config.host_name, &fqdn);
                (Arc::new(Mutex::new(w)), h)
            }
        };
        {
            let mut w = world.lock().unwrap_or_else(PoisonError::into_inner);
            for vm in &config.vms {
                w.add_vm(host, vm, now);
            }
        }
        let machine = world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .host(host)
            .map(|h| h.name.clone());
        let machine = machine.ok_or(Error::UnknownHost)?;
        let tls = if config.https {
            Some(crate::tls::setup(
                std::slice::from_ref(&fqdn),
                config.certificate,
            )?)
        } else {
            None
        };
        let channel_bindings = match (&tls, config.require_channel_binding) {
            (Some(t), true) => Some(
                winrm_auth::cbt::ChannelBindings::tls_server_end_point(&t.cert_der)
                    .map_err(|e| Error::Tls(e.to_string()))?,
            ),
            _ => None,
        };
        let shared = Arc::new(Shared {
            world,
            host,
            machine,
            dns_domain: config.dns_domain.clone(),
            users: RwLock::new((Vec::new(), Arc::new(UserTable::new()))),
            faults: config.faults.clone(),
            stats: Arc::new(StatsInner::default()),
            enums: Mutex::new(
                EnumStore::new(config.enumeration_timeout).with_max_batch_items(config.max_batch_items),
            ),
            https: config.https,
            allow_basic: config.allow_basic,
            allow_unencrypted: config.allow_unencrypted,
            channel_bindings,
            max_envelope: usize::try_from(config.max_envelope_size_kb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
            latency: config.latency,
            variance: RwLock::new(config.variance.clone()),
        });
        for (name, password) in &config.users {
            let (d, u) = split_user(name);
            shared.add_user(&d, &u, password);
        }
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| Error::Io { what: "bind", source })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            what: "local address",
            source,
        })?;
        let (stop, rx) = watch::channel(false);
        let cert_pem = tls.as_ref().map(|t| t.cert_pem.clone());
        let cert_der = tls.as_ref().map(|t| t.cert_der.clone());
        tracing::info!(endpoint = %addr, host = %shared.machine, https = config.https, "simulated Hyper-V host listening");
        let task = tokio::spawn(server::serve(listener, shared.clone(), tls, rx));
        Ok(SimHost {
            addr,
            shared,
            cert_pem,
            cert_der,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT/wsman` (or `https://…`).
    pub fn endpoint(&self) -> String {
        let scheme = if self.shared.https { "https" } else { "http" };
        format!("{scheme}://{}/wsman", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// The fault-injection handle (shared with the running server).
    pub fn faults(&self) -> FaultHandle {
        self.shared.faults.clone()
    }

    /// The shared world (lock it to inspect or change state directly).
    pub fn world(&self) -> Arc<Mutex<World>> {
        self.shared.world.clone()
    }

    /// This endpoint's host inside the world.
    pub fn host_id(&self) -> HostId {
        self.shared.host
    }

    /// NetBIOS name of the host.
    pub fn host_name(&self) -> &str {
        &self.shared.machine
    }

    /// FQDN of the host (what connection points name).
    pub fn fqdn(&self) -> String {
        let w = self.shared.world.lock().unwrap_or_else(PoisonError::into_inner);
        w.host(self.shared.host)
            .map(|h| h.fqdn.clone())
            .unwrap_or_default()
    }

    /// The self-signed certificate (PEM) when serving HTTPS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The self-signed certificate (DER) when serving HTTPS (for channel bindings).
    pub fn cert_der(&self) -> Option<&[u8]> {
        self.cert_der.as_deref()
    }

    /// Adds a VM (off, not replicated); returns its GUID.
    pub fn add_vm(&self, name: &str) -> String {
        let mut w = self.shared.world.lock().unwrap_or_else(PoisonError::into_inner);
        w.add_vm(self.shared.host, name, SystemTime::now())
            .unwrap_or_default()
    }

    /// Puts the replicated VM with this ElementName into "resynchronization required" on both
    /// of its hosts ([`World::require_resync`]); false when it is not replicating here.
    pub fn require_resync(&self, name: &str) -> bool {
        let mut w = self.shared.world.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(id) = w.vm_by_name(self.shared.host, name).map(|v| v.id.clone()) else {
            return false;
        };
        w.require_resync(self.shared.host, &id, SystemTime::now())
    }

    /// The GUID of the VM with this ElementName on this host.
    pub fn vm_id(&self, name: &str) -> Option<String> {
        let w = self.shared.world.lock().unwrap_or_else(PoisonError::into_inner);
        w.vm_by_name(self.shared.host, name).map(|v| v.id.clone())
    }

    /// Adds an accepted user at run time (`HV\operator`).
    pub fn add_user(&self, name: &str, password: &str) {
        let (d, u) = split_user(name);
        self.shared.add_user(&d, &u, password);
    }

    /// Changes how the following responses differ from the canonical output.
    pub fn set_variance(&self, variance: Variance) {
        *self
            .shared
            .variance
            .write()
            .unwrap_or_else(PoisonError::into_inner) = variance;
    }

    /// Open enumeration contexts.
    pub fn open_enumerations(&self) -> usize {
        self.shared
            .enums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a primary and a replica sharing one replication world, with `config.vm_name`
/// replicating from the primary (running) to the replica (off).
pub async fn start_pair(config: PairConfig) -> Result<(SimHost, SimHost), Error> {
    let mut w = World::new(WorldConfig {
        job_duration: config.job_duration,
        time_before_removal: config.time_before_removal,
    });
    let fq = |n: &str| format!("{}.{}", n.to_ascii_lowercase(), config.dns_domain);
    let p = w.add_host(&config.primary_name, &fq(&config.primary_name));
    let r = w.add_host(&config.replica_name, &fq(&config.replica_name));
    w.add_replicated_vm(p, r, &config.vm_name, SystemTime::now())
        .ok_or(Error::UnknownHost)?;
    let world = Arc::new(Mutex::new(w));
    let base = SimConfig {
        dns_domain: config.dns_domain.clone(),
        users: config.users.clone(),
        https: config.https,
        certificate: config.certificate,
        require_channel_binding: config.require_channel_binding,
        job_duration: config.job_duration,
        time_before_removal: config.time_before_removal,
        latency: config.latency,
        ..SimConfig::default()
    };
    let primary = SimHost::start(SimConfig {
        host_name: config.primary_name.clone(),
        bind: config.primary_bind,
        attach: Some((world.clone(), p)),
        ..base.clone()
    })
    .await?;
    let replica = SimHost::start(SimConfig {
        host_name: config.replica_name.clone(),
        attach: Some((world, r)),
        ..base
    })
    .await?;
    Ok((primary, replica))
}
