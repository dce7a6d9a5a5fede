//! The simulated Hyper-V world: hosts, VMs, replication relationships and jobs, and the
//! replication state machine (reference `hyperv-replication.md` §1–§2).
//!
//! Pure logic: every operation takes `now` and reads no clock, so tests drive time by hand.
//! Several endpoints share one [`World`] (behind a mutex) so a planned failover runs across a
//! primary and a replica host.
// Faults are returned by value: they are built once per failed request, never on a hot path.
#![allow(clippy::result_large_err)]

use std::time::{Duration, SystemTime};

use wsman_soap::epr::wmi_resource_uri;
use wsman_soap::{Epr, Instance, Scalar, SelectorSet, Value};

use crate::clock;
use crate::embedded::{self, OutProperty};
use crate::fault::SimFault;
use crate::mof;
use crate::wql::{self, Query};

/// WMI namespace of every class here.
pub const NAMESPACE: &str = "root/virtualization/v2";

/// `Msvm_ComputerSystem`
pub const CS: &str = "Msvm_ComputerSystem";
/// `Msvm_ReplicationSettingData`
pub const RSD: &str = "Msvm_ReplicationSettingData";
/// `Msvm_ReplicationRelationship`
pub const REL: &str = "Msvm_ReplicationRelationship";
/// `Msvm_ReplicationService`
pub const SVC: &str = "Msvm_ReplicationService";
/// `Msvm_ConcreteJob`
pub const JOB: &str = "Msvm_ConcreteJob";
/// Association `Msvm_ElementSettingData` (VM -> RSD).
pub const ESD: &str = "Msvm_ElementSettingData";
/// Association `Msvm_SystemReplicationRelationship` (VM -> relationship).
pub const SRR: &str = "Msvm_SystemReplicationRelationship";
/// Association `Msvm_SettingsDefineState` (relationship -> RSD).
pub const SDS: &str = "Msvm_SettingsDefineState";
/// Association `Msvm_AffectedJobElement` (job -> VM).
pub const AJE: &str = "Msvm_AffectedJobElement";
/// Association `Msvm_HostedService` (host -> replication service).
pub const HS: &str = "Msvm_HostedService";

/// Method return values ([Msvm_ReplicationService] method docs, reference §1.2).
pub mod rv {
    /// Completed with no error.
    pub const OK: u32 = 0;
    /// Method parameters checked, job started.
    pub const JOB_STARTED: u32 = 4096;
    /// Failed.
    pub const FAILED: u32 = 32768;
    /// Invalid parameter.
    pub const INVALID_PARAMETER: u32 = 32773;
    /// Invalid state for this operation.
    pub const INVALID_STATE: u32 = 32775;
    /// Incorrect data type (an embedded instance property typed unlike its class).
    pub const INCORRECT_DATA_TYPE: u32 = 32776;
}

/// `ReplicationMode` values.
pub mod mode {
    /// Not replicated.
    pub const NONE: u16 = 0;
    /// Primary.
    pub const PRIMARY: u16 = 1;
    /// Replica (recovery).
    pub const REPLICA: u16 = 2;
}

/// `ReplicationState` values used by the state machine.
pub mod state {
    /// Ready for (initial) replication.
    pub const READY: u16 = 1;
    /// Waiting to complete initial replication.
    pub const WAITING_INITIAL: u16 = 2;
    /// Replicating.
    pub const REPLICATING: u16 = 3;
    /// Synced replication complete (primary prepared for failover).
    pub const SYNCED: u16 = 4;
    /// Recovered (failed over, waiting for completion).
    pub const RECOVERED: u16 = 5;
    /// Committed.
    pub const COMMITTED: u16 = 6;
    /// Suspended.
    pub const SUSPENDED: u16 = 7;
    /// Critical.
    pub const CRITICAL: u16 = 8;
    /// Failover in progress.
    pub const FAILOVER_IN_PROGRESS: u16 = 12;
}

/// `EnabledState` values.
pub mod power {
    /// Running.
    pub const RUNNING: u16 = 2;
    /// Off.
    pub const OFF: u16 = 3;
    /// Starting.
    pub const STARTING: u16 = 32770;
    /// Stopping.
    pub const STOPPING: u16 = 32774;
}

/// `JobState` values ([Msvm_ConcreteJob]).
pub mod job_state {
    /// New.
    pub const NEW: u16 = 2;
    /// Running.
    pub const RUNNING: u16 = 4;
    /// Completed.
    pub const COMPLETED: u16 = 7;
    /// Exception.
    pub const EXCEPTION: u16 = 10;
}

/// Identifies a host inside a [`World`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostId(pub usize);

/// The replication settings of one relationship (the `Msvm_ReplicationSettingData` fields the
/// simulator keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSettings {
    /// `PrimaryConnectionPoint`.
    pub primary_connection_point: String,
    /// `PrimaryHostSystem`.
    pub primary_host_system: String,
    /// `RecoveryConnectionPoint`.
    pub recovery_connection_point: String,
    /// `RecoveryHostSystem`.
    pub recovery_host_system: String,
    /// `RecoveryServerPortNumber`.
    pub recovery_server_port: u16,
    /// `AuthenticationType` (1 Kerberos, 2 certificate).
    pub authentication_type: u16,
    /// `CertificateThumbPrint`.
    pub certificate_thumbprint: String,
    /// `CompressionEnabled`.
    pub compression_enabled: bool,
    /// `BypassProxyServer`.
    pub bypass_proxy_server: bool,
    /// `ReplicationInterval` (seconds).
    pub replication_interval: u16,
    /// `RecoveryHistory`.
    pub recovery_history: u16,
}

/// A VM's replication relationship as one host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// `ReplicationMode`.
    pub mode: u16,
    /// `ReplicationState`.
    pub state: u16,
    /// `ReplicationHealth`.
    pub health: u16,
    /// `LastReplicationTime` (None = never).
    pub last_replication_time: Option<SystemTime>,
    /// `FailedOverReplicationType`.
    pub failed_over_type: u16,
    /// `LastReplicationType`.
    pub last_replication_type: u16,
    /// The settings.
    pub settings: ReplicationSettings,
    /// `CreationTime` of the settings.
    pub created: SystemTime,
}

/// One virtual machine on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// `Name`: the VM GUID (upper case).
    pub id: String,
    /// `ElementName`.
    pub name: String,
    /// `EnabledState`.
    pub enabled_state: u16,
    /// Replication, when enabled.
    pub replication: Option<Replication>,
    /// `InstallDate`.
    pub installed: SystemTime,
    /// `TimeOfLastStateChange`.
    pub state_changed: SystemTime,
}

/// One Hyper-V host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// NetBIOS name (`Msvm_ComputerSystem.Name` of the host, `SystemName` of services).
    pub name: String,
    /// FQDN (what connection points name).
    pub fqdn: String,
    /// HTTP port of its replica server (Kerberos).
    pub replica_http_port: u16,
    /// HTTPS port of its replica server (certificate).
    pub replica_https_port: u16,
    /// Its VMs.
    pub vms: Vec<Vm>,
}

/// A failure a job ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// `ErrorCode`.
    pub code: u16,
    /// `ErrorDescription`.
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct VmPatch {
    host: usize,
    vm: String,
    enabled_state: Option<u16>,
    mode: Option<u16>,
    state: Option<u16>,
    health: Option<u16>,
    failed_over_type: Option<u16>,
    settings: Option<ReplicationSettings>,
    last_replication_time: Option<SystemTime>,
}

/// A `Msvm_ConcreteJob`.
#[derive(Debug, Clone)]
pub struct Job {
    /// `InstanceID`: a bare GUID, as real hosts use.
    pub id: String,
    /// Host the job runs on.
    pub host: HostId,
    /// `JobType`.
    pub job_type: u16,
    /// `Caption`/`Description`.
    pub caption: String,
    /// `TimeSubmitted`.
    pub submitted: SystemTime,
    /// How long it runs.
    pub duration: Duration,
    /// The failure it ends with, if any.
    pub failure: Option<JobFailure>,
    /// The VM it affects (for `Msvm_AffectedJobElement`).
    pub affected_vm: Option<String>,
    /// Set when the job completed (effects applied).
    pub completed_at: Option<SystemTime>,
    /// The job disappears at this time even if running (fault injection).
    pub vanish_at: Option<SystemTime>,
    on_success: Vec<VmPatch>,
    on_failure: Vec<VmPatch>,
}

/// Knobs of the world.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// How long each job runs before completing.
    pub job_duration: Duration,
    /// `TimeBeforeRemoval`: how long a finished job stays visible.
    pub time_before_removal: Duration,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            job_duration: Duration::from_millis(1500),
            time_before_removal: Duration::from_secs(300),
        }
    }
}

/// Fault injection for the next job(s), decided when the job is created.
#[derive(Debug, Clone, Default)]
pub struct JobInjection {
    /// End with this failure.
    pub fail: Option<JobFailure>,
    /// Disappear after this long.
    pub vanish_after: Option<Duration>,
}

/// A rendered object: its instance and its EPR.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The instance.
    pub instance: Instance,
    /// Its endpoint reference.
    pub epr: Epr,
}

/// An association instance with its two ends: (object, (role A, EPR A), (role B, EPR B)).
type Link = (Object, (&'static str, Epr), (&'static str, Epr));

/// The shared simulated world.
#[derive(Debug, Clone)]
pub struct World {
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Jobs, oldest first.
    pub jobs: Vec<Job>,
    /// Knobs.
    pub config: WorldConfig,
}

/// The resource URI of a class in [`NAMESPACE`].
pub fn uri(class: &str) -> String {
    wmi_resource_uri(NAMESPACE, class)
}

fn s(v: impl Into<String>) -> Value {
    Value::Scalar(Scalar::String(v.into()))
}
fn u16v(v: u16) -> Value {
    Value::Scalar(Scalar::Uint16(v))
}
fn u32v(v: u32) -> Value {
    Value::Scalar(Scalar::Uint32(v))
}
fn b(v: bool) -> Value {
    Value::Scalar(Scalar::Boolean(v))
}
fn dt(t: Option<SystemTime>) -> Value {
    Value::Scalar(Scalar::Datetime(t.map_or_else(clock::never, clock::to_cim)))
}
fn arr(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|x| Scalar::String((*x).to_owned())).collect())
}

/// `Microsoft:<GUID>\HVR\0`, the primary relationship's InstanceID.
pub fn relationship_id(vm: &str) -> String {
    format!("Microsoft:{vm}\\HVR\\0")
}

fn output(method: &str, ret: u32, job: Option<Epr>) -> Instance {
    let mut i = Instance::new(format!("{method}_OUTPUT"));
    if let Some(j) = job {
        i.set("Job", Value::Reference(j));
    }
    i.set("ReturnValue", u32v(ret));
    i
}

/// A new random GUID in the upper-case form Hyper-V uses.
pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

impl World {
    /// An empty world.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            hosts: Vec::new(),
            jobs: Vec::new(),
            config,
        }
    }

    /// Adds a host (NetBIOS name and FQDN).
    pub fn add_host(&mut self, name: &str, fqdn: &str) -> HostId {
        self.hosts.push(Host {
            name: name.to_owned(),
            fqdn: fqdn.to_owned(),
            replica_http_port: 80,
            replica_https_port: 443,
            vms: Vec::new(),
        });
        HostId(self.hosts.len() - 1)
    }

    /// The host, if the id is valid.
    pub fn host(&self, id: HostId) -> Option<&Host> {
        self.hosts.get(id.0)
    }

    /// Adds a VM (off, not replicated); returns its GUID.
    pub fn add_vm(&mut self, host: HostId, name: &str, now: SystemTime) -> Option<String> {
        let id = new_guid();
        self.hosts.get_mut(host.0)?.vms.push(Vm {
            id: id.clone(),
            name: name.to_owned(),
            enabled_state: power::OFF,
            replication: None,
            installed: now,
            state_changed: now,
        });
        Some(id)
    }

    /// Adds a VM replicating from `primary` to `replica` (state Replicating on both sides, last
    /// replication at `now`, Kerberos on port 80); returns its GUID.
    pub fn add_replicated_vm(
        &mut self,
        primary: HostId,
        replica: HostId,
        name: &str,
        now: SystemTime,
    ) -> Option<String> {
        let (p, r) = (
            self.hosts.get(primary.0)?.clone(),
            self.hosts.get(replica.0)?.clone(),
        );
        let id = new_guid();
        let settings = ReplicationSettings {
            primary_connection_point: p.fqdn.clone(),
            primary_host_system: p.fqdn.clone(),
            recovery_connection_point: r.fqdn.clone(),
            recovery_host_system: r.fqdn.clone(),
            recovery_server_port: r.replica_http_port,
            authentication_type: 1,
            certificate_thumbprint: String::new(),
            compression_enabled: true,
            bypass_proxy_server: false,
            replication_interval: 300,
            recovery_history: 0,
        };
        for (host, m) in [(primary, mode::PRIMARY), (replica, mode::REPLICA)] {
            self.hosts[host.0].vms.push(Vm {
                id: id.clone(),
                name: name.to_owned(),
                enabled_state: if m == mode::PRIMARY {
                    power::RUNNING
                } else {
                    power::OFF
                },
                replication: Some(Replication {
                    mode: m,
                    state: state::REPLICATING,
                    health: 1,
                    last_replication_time: Some(now),
                    failed_over_type: 0,
                    last_replication_type: 1,
                    settings: settings.clone(),
                    created: now,
                }),
                installed: now,
                state_changed: now,
            });
        }
        Some(id)
    }

    /// The VM with this GUID on a host (case-insensitive).
    pub fn vm(&self, host: HostId, id: &str) -> Option<&Vm> {
        self.hosts
            .get(host.0)?
            .vms
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(id))
    }

    /// The VM with this ElementName on a host.
    pub fn vm_by_name(&self, host: HostId, name: &str) -> Option<&Vm> {
        self.hosts.get(host.0)?.vms.iter().find(|v| v.name == name)
    }

    fn vm_mut(&mut self, host: usize, id: &str) -> Option<&mut Vm> {
        self.hosts
            .get_mut(host)?
            .vms
            .iter_mut()
            .find(|v| v.id.eq_ignore_ascii_case(id))
    }

    /// The other host holding a replica/primary of this VM.
    fn partner(&self, host: usize, id: &str) -> Option<usize> {
        (0..self.hosts.len()).find(|&h| {
            h != host
                && self.hosts[h]
                    .vms
                    .iter()
                    .any(|v| v.id.eq_ignore_ascii_case(id) && v.replication.is_some())
        })
    }

    /// Advances jobs to `now`: completes the due ones (applying their effects) and removes the
    /// ones past `TimeBeforeRemoval` or made to vanish.
    pub fn advance(&mut self, now: SystemTime) {
        let mut due = Vec::new();
        for (i, j) in self.jobs.iter().enumerate() {
            if j.completed_at.is_none() && now >= j.submitted + j.duration {
                due.push(i);
            }
        }
        for i in due {
            let (patches, at) = {
                let j = &mut self.jobs[i];
                let at = j.submitted + j.duration;
                j.completed_at = Some(at);
                (
                    if j.failure.is_some() {
                        j.on_failure.clone()
                    } else {
                        j.on_success.clone()
                    },
                    at,
                )
            };
            for p in patches {
                self.apply(&p, at);
            }
        }
        let keep = self.config.time_before_removal;
        self.jobs.retain(|j| {
            // A vanished job still does its work; it is only hidden (see `visible`).
            let vanished = j.vanish_at.is_some_and(|v| now >= v) && j.completed_at.is_some();
            let expired = j.completed_at.is_some_and(|c| now >= c + keep);
            !vanished && !expired
        });
    }

    fn apply(&mut self, p: &VmPatch, at: SystemTime) {
        let Some(vm) = self.vm_mut(p.host, &p.vm) else {
            return;
        };
        if let Some(e) = p.enabled_state {
            if vm.enabled_state != e {
                vm.state_changed = at;
            }
            vm.enabled_state = e;
        }
        if let Some(r) = vm.replication.as_mut() {
            if let Some(m) = p.mode {
                r.mode = m;
            }
            if let Some(st) = p.state {
                r.state = st;
            }
            if let Some(h) = p.health {
                r.health = h;
            }
            if let Some(f) = p.failed_over_type {
                r.failed_over_type = f;
            }
            if let Some(set) = &p.settings {
                r.settings = set.clone();
            }
            if let Some(t) = p.last_replication_time {
                r.last_replication_time = Some(t);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_job(
        &mut self,
        host: HostId,
        job_type: u16,
        caption: &str,
        vm: &str,
        now: SystemTime,
        at_start: Vec<VmPatch>,
        on_success: Vec<VmPatch>,
        failure: Option<JobFailure>,
        injection: &JobInjection,
    ) -> Epr {
        // The failure patches restore what the start patches changed.
        let on_failure: Vec<VmPatch> = at_start.iter().map(|p| self.restore_patch(p)).collect();
        for p in &at_start {
            self.apply(p, now);
        }
        let id = new_guid();
        let failure = injection.fail.clone().or(failure);
        self.jobs.push(Job {
            id: id.clone(),
            host,
            job_type,
            caption: caption.to_owned(),
            submitted: now,
            duration: self.config.job_duration,
            failure,
            affected_vm: Some(vm.to_owned()),
            completed_at: None,
            vanish_at: injection.vanish_after.map(|d| now + d),
            on_success,
            on_failure,
        });
        Epr::new(uri(JOB), SelectorSet::new().with("InstanceID", id))
    }

    fn restore_patch(&self, p: &VmPatch) -> VmPatch {
        let Some(vm) = self
            .hosts
            .get(p.host)
            .and_then(|h| h.vms.iter().find(|v| v.id.eq_ignore_ascii_case(&p.vm)))
        else {
            return VmPatch {
                host: p.host,
                vm: p.vm.clone(),
                ..VmPatch::default()
            };
        };
        let r = vm.replication.as_ref();
        VmPatch {
            host: p.host,
            vm: p.vm.clone(),
            enabled_state: p.enabled_state.map(|_| vm.enabled_state),
            mode: p.mode.and(r.map(|r| r.mode)),
            state: p.state.and(r.map(|r| r.state)),
            health: p.health.and(r.map(|r| r.health)),
            failed_over_type: p.failed_over_type.and(r.map(|r| r.failed_over_type)),
            settings: p.settings.as_ref().and(r.map(|r| r.settings.clone())),
            last_replication_time: None,
        }
    }

    /// The job with this InstanceID.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id.eq_ignore_ascii_case(id))
    }

    // ---------------------------------------------------------------- rendering

    fn host_cs(&self, h: &Host) -> Object {
        let i = Instance::new(CS)
            .with("Caption", s("Hosting Computer System"))
            .with("CreationClassName", s(CS))
            .with("Description", s("Microsoft Hosting Computer System"))
            .with("ElementName", s(h.name.clone()))
            .with("EnabledDefault", u16v(2))
            .with("EnabledState", u16v(power::RUNNING))
            .with("HealthState", u16v(5))
            .with("InstanceID", Value::Null)
            .with("LastApplicationConsistentReplicationTime", Value::Null)
            .with("LastReplicationTime", Value::Null)
            .with("LastReplicationType", Value::Null)
            .with("Name", s(h.name.clone()))
            .with("NameFormat", Value::Null)
            .with("OperationalStatus", Value::Array(vec![Scalar::Uint16(2)]))
            .with("PrimaryOwnerContact", Value::Null)
            .with("PrimaryOwnerName", Value::Null)
            .with("ReplicationHealth", Value::Null)
            .with("ReplicationMode", Value::Null)
            .with("ReplicationState", Value::Null)
            .with("RequestedState", u16v(12))
            .with("Status", s("OK"));
        let epr = Epr::new(
            uri(CS),
            SelectorSet::new()
                .with("CreationClassName", CS)
                .with("Name", h.name.clone()),
        );
        Object { instance: i, epr }
    }

    /// A VM's `Msvm_ComputerSystem`: the property set of the real recording
    /// `fixtures/real/08_r4sd_recorded_msvm_computersystem_pull_vm_off.xml`, in its order, with
    /// every property the host has no value for written as `xsi:nil` rather than left out.
    fn vm_cs(&self, vm: &Vm, now: SystemTime) -> Object {
        let r = vm.replication.as_ref();
        let on_ms = if vm.enabled_state == power::RUNNING {
            u64::try_from(
                now.duration_since(vm.state_changed)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(u64::MAX)
        } else {
            0
        };
        let i = Instance::new(CS)
            .with("Caption", s("Virtual Machine"))
            .with("CommunicationStatus", Value::Null)
            .with("CreationClassName", s(CS))
            .with("Description", s("Microsoft Virtual Machine"))
            .with("DetailedStatus", Value::Null)
            .with("ElementName", s(vm.name.clone()))
            .with("EnabledDefault", u16v(2))
            .with("EnabledState", u16v(vm.enabled_state))
            .with("EnhancedSessionModeState", u16v(3))
            .with(
                "FailedOverReplicationType",
                u16v(r.map_or(0, |r| r.failed_over_type)),
            )
            .with("HealthState", u16v(5))
            .with("HwThreadsPerCoreRealized", Value::Null)
            .with("InstallDate", dt(Some(vm.installed)))
            .with("InstanceID", Value::Null)
            .with("LastApplicationConsistentReplicationTime", dt(None))
            .with("LastReplicationTime", dt(r.and_then(|r| r.last_replication_time)))
            .with(
                "LastReplicationType",
                u16v(r.map_or(0, |r| r.last_replication_type)),
            )
            .with("LastSuccessfulBackupTime", Value::Null)
            .with("ManagementVtlImageFileName", Value::Null)
            .with("ManagementVtlImageVersion", Value::Null)
            .with("Name", s(vm.id.clone()))
            .with("NameFormat", Value::Null)
            .with("NumberOfNumaNodes", u16v(1))
            .with("OnTimeInMilliseconds", Value::Scalar(Scalar::Uint64(on_ms)))
            .with("OperatingStatus", Value::Null)
            .with("OperationalStatus", Value::Array(vec![Scalar::Uint16(2)]))
            .with("OtherEnabledState", Value::Null)
            .with("PrimaryOwnerContact", Value::Null)
            .with("PrimaryOwnerName", Value::Null)
            .with("PrimaryStatus", Value::Null)
            .with("ProcessID", Value::Null)
            .with("ReplicationHealth", u16v(r.map_or(0, |r| r.health)))
            .with("ReplicationMode", u16v(r.map_or(mode::NONE, |r| r.mode)))
            .with("ReplicationState", u16v(r.map_or(0, |r| r.state)))
            .with("RequestedState", u16v(5))
            .with("ResetCapability", u16v(1))
            .with("Status", s("OK"))
            .with("StatusDescriptions", arr(&["Operating normally"]))
            .with("TimeOfLastConfigurationChange", dt(Some(vm.installed)))
            .with("TimeOfLastStateChange", dt(Some(vm.state_changed)))
            .with("TransitioningToState", Value::Null);
        let epr = Epr::new(
            uri(CS),
            SelectorSet::new()
                .with("CreationClassName", CS)
                .with("Name", vm.id.clone()),
        );
        Object { instance: i, epr }
    }

    fn rsd(&self, vm: &Vm, r: &Replication) -> Object {
        let set = &r.settings;
        let id = relationship_id(&vm.id);
        // Every property of the class, as a Get on a real host returns them (nil ones as
        // `xsi:nil`); the Automatic* and *DataRoot properties of the inherited
        // CIM_VirtualSystemSettingData are null in a replication settings instance.
        let i = Instance::new(RSD)
            .with("AdditionalSettings", Value::Null)
            .with("ApplicationConsistentSnapshotInterval", u16v(0))
            .with("AuthenticationType", u16v(set.authentication_type))
            .with("AutomaticRecoveryAction", Value::Null)
            .with("AutomaticShutdownAction", Value::Null)
            .with("AutomaticStartupAction", Value::Null)
            .with("AutomaticStartupActionDelay", Value::Null)
            .with("AutomaticStartupActionSequenceNumber", Value::Null)
            .with("AutoResynchronizeEnabled", b(false))
            .with("AutoResynchronizeIntervalEnd", Value::Scalar(Scalar::Datetime(clock::interval(Duration::from_secs(6 * 3600)))))
            .with(
                "AutoResynchronizeIntervalStart",
                Value::Scalar(Scalar::Datetime(clock::interval(Duration::from_secs(18 * 3600 + 30 * 60)))),
            )
            .with("BypassProxyServer", b(set.bypass_proxy_server))
            .with("Caption", s("Replication Settings"))
            .with("CertificateThumbPrint", s(set.certificate_thumbprint.clone()))
            .with("CompressionEnabled", b(set.compression_enabled))
            .with("ConfigurationDataRoot", Value::Null)
            .with("ConfigurationFile", Value::Null)
            .with("ConfigurationID", Value::Null)
            .with("CreationTime", dt(Some(r.created)))
            .with("Description", s("Microsoft Virtual Machine Replication Settings"))
            .with("ElementName", s(vm.name.clone()))
            .with("EnableWriteOrderPreservationAcrossDisks", b(true))
            .with("IncludedDisks", arr(&[&format!("Microsoft:{}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\0\\D", vm.id)]))
            .with("InstanceID", s(id))
            .with("LogDataRoot", Value::Null)
            .with("Notes", Value::Null)
            .with("PrimaryConnectionPoint", s(set.primary_connection_point.clone()))
            .with("PrimaryHostSystem", s(set.primary_host_system.clone()))
            .with("RecoveryConnectionPoint", s(set.recovery_connection_point.clone()))
            .with("RecoveryFile", Value::Null)
            .with("RecoveryHistory", u16v(set.recovery_history))
            .with("RecoveryHostSystem", s(set.recovery_host_system.clone()))
            .with("RecoveryServerPortNumber", u16v(set.recovery_server_port))
            .with("ReplicateHostKvpItems", b(true))
            .with("ReplicationInterval", u16v(set.replication_interval))
            .with(
                "ReplicationProvider",
                s("root\\virtualization\\v2:Msvm_ReplicationProvider.InstanceID=\"Microsoft:22391CDC-272C-4DDF-BA88-9BEFB1A0975C\""),
            )
            .with("RootCertificateThumbPrint", Value::Null)
            .with("SnapshotDataRoot", Value::Null)
            .with("SuspendDataRoot", Value::Null)
            .with("SwapFileDataRoot", Value::Null)
            .with("VirtualSystemIdentifier", s(vm.id.clone()))
            .with("VirtualSystemType", s("Microsoft:Hyper-V:Replica"));
        let epr = Epr::new(
            uri(RSD),
            SelectorSet::new().with("InstanceID", relationship_id(&vm.id)),
        );
        Object { instance: i, epr }
    }

    fn relationship(&self, vm: &Vm, r: &Replication) -> Object {
        let i = Instance::new(REL)
            .with("Caption", s("Replication Relationship"))
            .with("ElementName", s(vm.name.clone()))
            .with("FailedOverReplicationType", u16v(r.failed_over_type))
            .with("InstanceID", s(relationship_id(&vm.id)))
            .with("LastApplicationConsistentReplicationTime", dt(None))
            .with("LastApplyTime", dt(r.last_replication_time))
            .with("LastReplicationTime", dt(r.last_replication_time))
            .with("LastReplicationType", u16v(r.last_replication_type))
            .with("ReplicationHealth", u16v(r.health))
            .with("ReplicationState", u16v(r.state));
        let epr = Epr::new(
            uri(REL),
            SelectorSet::new().with("InstanceID", relationship_id(&vm.id)),
        );
        Object { instance: i, epr }
    }

    fn service(&self, h: &Host) -> Object {
        let i = Instance::new(SVC)
            .with("Caption", s("Hyper-V Virtual Machine Replication Service"))
            .with("CreationClassName", s(SVC))
            .with("Description", s("Hyper-V Virtual Machine Replication Service"))
            .with("ElementName", s("Hyper-V Virtual Machine Replication Service"))
            .with("EnabledDefault", u16v(2))
            .with("EnabledState", u16v(2))
            .with("HealthState", u16v(5))
            .with("InstanceID", Value::Null)
            .with("Name", s("replicasvc"))
            .with("OperationalStatus", Value::Array(vec![Scalar::Uint16(2)]))
            .with("RequestedState", u16v(12))
            .with("Started", b(true))
            .with("StartMode", s("Automatic"))
            .with("Status", s("OK"))
            .with("SystemCreationClassName", s(CS))
            .with("SystemName", s(h.name.clone()));
        Object {
            instance: i,
            epr: service_epr(&h.name),
        }
    }

    fn job_object(&self, j: &Job, now: SystemTime) -> Object {
        let elapsed = now
            .duration_since(j.submitted)
            .unwrap_or_default()
            .min(j.duration);
        let (js, pc) = match (j.completed_at, &j.failure) {
            (Some(_), None) => (job_state::COMPLETED, 100u16),
            (Some(_), Some(_)) => (job_state::EXCEPTION, 100),
            (None, _) if elapsed * 10 < j.duration => (job_state::NEW, 0),
            (None, _) => {
                let pct = elapsed.as_millis() * 100 / j.duration.as_millis().max(1);
                (job_state::RUNNING, u16::try_from(pct.clamp(1, 99)).unwrap_or(99))
            }
        };
        let failed = j.completed_at.is_some() && j.failure.is_some();
        let (code, desc, status) = match (&j.failure, j.completed_at) {
            (Some(f), Some(_)) => (f.code, f.description.clone(), "Job failed"),
            (_, Some(_)) => (0, String::new(), "Job completed successfully"),
            _ => (0, String::new(), "Job is running"),
        };
        let i = Instance::new(JOB)
            .with("Cancellable", b(false))
            .with("Caption", s(j.caption.clone()))
            .with("CommunicationStatus", Value::Null)
            .with("DeleteOnCompletion", b(false))
            .with("Description", s(j.caption.clone()))
            .with(
                "ElapsedTime",
                Value::Scalar(Scalar::Datetime(clock::interval(elapsed))),
            )
            .with("ElementName", s(j.caption.clone()))
            .with("ErrorCode", u16v(code))
            .with(
                "ErrorDescription",
                if desc.is_empty() {
                    Value::Null
                } else {
                    s(desc.clone())
                },
            )
            .with(
                "ErrorSummaryDescription",
                if desc.is_empty() { Value::Null } else { s(desc) },
            )
            .with("HealthState", u16v(5))
            .with("InstanceID", s(j.id.clone()))
            .with("JobState", u16v(js))
            .with("JobStatus", s(status))
            .with("JobType", u16v(j.job_type))
            .with("LocalOrUtcTime", u16v(2))
            .with("Name", s(j.caption.clone()))
            .with(
                "OperationalStatus",
                Value::Array(vec![Scalar::Uint16(if failed { 6 } else { 2 })]),
            )
            .with("PercentComplete", u16v(pc))
            .with("Priority", Value::Scalar(Scalar::Uint32(0)))
            .with("StartTime", dt(Some(j.submitted)))
            .with("Status", s(if failed { "Error" } else { "OK" }))
            .with(
                "TimeBeforeRemoval",
                Value::Scalar(Scalar::Datetime(clock::interval(self.config.time_before_removal))),
            )
            .with(
                "TimeOfLastStateChange",
                dt(Some(j.completed_at.unwrap_or(j.submitted))),
            )
            .with("TimeSubmitted", dt(Some(j.submitted)));
        Object {
            instance: i,
            epr: Epr::new(uri(JOB), SelectorSet::new().with("InstanceID", j.id.clone())),
        }
    }

    /// Every instance of `class` on a host (no associations).
    fn instances(&self, host: HostId, class: &str, now: SystemTime) -> Option<Vec<Object>> {
        let h = self.hosts.get(host.0)?;
        let mut out = Vec::new();
        match class.to_ascii_lowercase().as_str() {
            "msvm_computersystem" => {
                out.push(self.host_cs(h));
                out.extend(h.vms.iter().map(|v| self.vm_cs(v, now)));
            }
            "msvm_replicationsettingdata" => {
                out.extend(
                    h.vms
                        .iter()
                        .filter_map(|v| v.replication.as_ref().map(|r| self.rsd(v, r))),
                );
            }
            "msvm_replicationrelationship" => {
                out.extend(
                    h.vms
                        .iter()
                        .filter_map(|v| v.replication.as_ref().map(|r| self.relationship(v, r))),
                );
            }
            "msvm_replicationservice" => out.push(self.service(h)),
            "msvm_concretejob" => {
                out.extend(
                    self.jobs
                        .iter()
                        .filter(|j| j.host == host && visible(j, now))
                        .map(|j| self.job_object(j, now)),
                );
            }
            _ => return None,
        }
        Some(out)
    }

    /// Association instances on a host: (association object, end role A, EPR A, end role B, EPR B).
    fn links(&self, host: HostId, now: SystemTime) -> Vec<Link> {
        let Some(h) = self.hosts.get(host.0) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut link = |class: &str, ra: &'static str, a: Epr, rb: &'static str, bb: Epr| {
            let i = Instance::new(class)
                .with(ra, Value::Reference(a.clone()))
                .with(rb, Value::Reference(bb.clone()));
            let epr = Epr::new(uri(class), SelectorSet::new());
            out.push((Object { instance: i, epr }, (ra, a), (rb, bb)));
        };
        let host_cs = self.host_cs(h).epr;
        link(HS, "Antecedent", host_cs, "Dependent", service_epr(&h.name));
        for v in &h.vms {
            let Some(r) = v.replication.as_ref() else { continue };
            let cs = self.vm_cs(v, now).epr;
            let rsd = self.rsd(v, r).epr;
            let rel = self.relationship(v, r).epr;
            link(ESD, "ManagedElement", cs.clone(), "SettingData", rsd.clone());
            link(SRR, "Antecedent", cs, "Dependent", rel.clone());
            link(SDS, "ManagedElement", rel, "SettingData", rsd);
        }
        for j in self.jobs.iter().filter(|j| j.host == host && visible(j, now)) {
            let Some(vm) = j
                .affected_vm
                .as_ref()
                .and_then(|id| h.vms.iter().find(|v| &v.id == id))
            else {
                continue;
            };
            let mut o = (
                Object {
                    instance: Instance::new(AJE)
                        .with("AffectedElement", Value::Reference(self.vm_cs(vm, now).epr))
                        .with("AffectingElement", Value::Reference(self.job_object(j, now).epr))
                        .with("ElementEffects", Value::Array(vec![Scalar::Uint16(1)])),
                    epr: Epr::new(uri(AJE), SelectorSet::new()),
                },
                ("AffectingElement", self.job_object(j, now).epr),
                ("AffectedElement", self.vm_cs(vm, now).epr),
            );
            o.0.instance.set("OtherElementEffectsDescriptions", Value::Null);
            out.push(o);
        }
        out
    }

    // ---------------------------------------------------------------- WS-Man operations

    /// WS-Transfer Get of one instance.
    pub fn get(
        &mut self,
        host: HostId,
        class: &str,
        selectors: &SelectorSet,
        now: SystemTime,
    ) -> Result<Object, SimFault> {
        self.advance(now);
        self.resolve(host, class, selectors, now, "GetObject")
    }

    /// Finds the instance named by class and selectors, with Windows' selector rules.
    fn resolve(
        &self,
        host: HostId,
        class: &str,
        sel: &SelectorSet,
        now: SystemTime,
        op: &str,
    ) -> Result<Object, SimFault> {
        let what = format!(
            "{class} {}",
            sel.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let not_found = || SimFault::not_found(op, &what);
        let keys: &[&str] = match class.to_ascii_lowercase().as_str() {
            "msvm_computersystem" => &["CreationClassName", "Name"],
            "msvm_replicationservice" => &[
                "CreationClassName",
                "Name",
                "SystemCreationClassName",
                "SystemName",
            ],
            "msvm_replicationsettingdata" | "msvm_replicationrelationship" | "msvm_concretejob" => {
                &["InstanceID"]
            }
            _ => return Err(not_found()),
        };
        if sel
            .iter()
            .any(|(k, _)| !keys.iter().any(|key| key.eq_ignore_ascii_case(k)))
        {
            return Err(SimFault::invalid_selectors());
        }
        if class.eq_ignore_ascii_case(SVC) {
            if sel.is_empty() {
                return Err(SimFault::provider_error(0x8004_102F, op, &what));
            }
            let all = self.instances(host, class, now).unwrap_or_default();
            return all
                .into_iter()
                .find(|o| selectors_match(sel, &o.epr.selectors))
                .ok_or_else(not_found);
        }
        // Every key must be present (a real host answers DestinationUnreachable otherwise).
        if keys.iter().any(|k| sel.get(k).is_none()) {
            return Err(not_found());
        }
        let all = self.instances(host, class, now).unwrap_or_default();
        all.into_iter()
            .find(|o| selectors_match(sel, &o.epr.selectors))
            .ok_or_else(not_found)
    }

    /// Unfiltered enumeration of a class URI (association classes included).
    pub fn enumerate_class(
        &mut self,
        host: HostId,
        class: &str,
        now: SystemTime,
    ) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        if let Some(v) = self.instances(host, class, now) {
            return Ok(v);
        }
        let assoc: Vec<Object> = self
            .links(host, now)
            .into_iter()
            .filter(|(o, _, _)| o.instance.class_name.eq_ignore_ascii_case(class))
            .map(|l| l.0)
            .collect();
        if assoc.is_empty()
            && ![ESD, SRR, SDS, AJE, HS]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(class))
        {
            return Err(SimFault::not_found("EnumerateInstances", class));
        }
        Ok(assoc)
    }

    /// Enumeration with a WQL filter (on the `.../v2/*` URI).
    pub fn query(&mut self, host: HostId, text: &str, now: SystemTime) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        let q = wql::parse(text)
            .map_err(|e| SimFault::cannot_process_filter(text, &format!("The query is not valid: {e}.")))?;
        match q {
            Query::Select { class, conditions } => {
                let all = self.enumerate_class(host, &class, now).map_err(|_| {
                    SimFault::cannot_process_filter(
                        text,
                        "The specified class does not exist in the given namespace.",
                    )
                })?;
                if let Some(o) = all.first() {
                    for (p, _) in conditions.iter().flatten() {
                        if o.instance.get(p).is_none() {
                            return Err(SimFault::cannot_process_filter(
                                text,
                                &format!("The property {p} does not exist."),
                            ));
                        }
                    }
                }
                Ok(all
                    .into_iter()
                    .filter(|o| {
                        conditions.is_empty()
                            || conditions
                                .iter()
                                .any(|all| all.iter().all(|(p, v)| value_matches(o.instance.get(p), v)))
                    })
                    .collect())
            }
            Query::Associators {
                class,
                keys,
                assoc_class,
                result_class,
                role,
                result_role,
            } => {
                let object = Epr::new(uri(&class), keys.into_iter().collect());
                self.associated(
                    host,
                    &object,
                    false,
                    assoc_class.as_deref(),
                    result_class.as_deref(),
                    role.as_deref(),
                    result_role.as_deref(),
                    now,
                )
            }
        }
    }

    /// Association traversal (DSP0227 associationFilter, or WQL `ASSOCIATORS OF`):
    /// `association_instances` selects `AssociationInstances` (the link objects) instead of
    /// `AssociatedInstances` (the far ends).
    #[allow(clippy::too_many_arguments)]
    pub fn associated(
        &mut self,
        host: HostId,
        object: &Epr,
        association_instances: bool,
        assoc_class: Option<&str>,
        result_class: Option<&str>,
        role: Option<&str>,
        result_role: Option<&str>,
        now: SystemTime,
    ) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        let src_class = object.class_name().to_owned();
        // The source object must exist.
        self.resolve(host, &src_class, &object.selectors, now, "ExecQuery")?;
        let eq = |a: Option<&str>, b: &str| a.is_none_or(|a| a.eq_ignore_ascii_case(b));
        let mut out = Vec::new();
        for (link, (ra, a), (rb, bb)) in self.links(host, now) {
            if !eq(assoc_class, &link.instance.class_name) {
                continue;
            }
            for ((near_role, near), (far_role, far)) in [((ra, &a), (rb, &bb)), ((rb, &bb), (ra, &a))] {
                if !same_object(near, &src_class, &object.selectors)
                    || !eq(role, near_role)
                    || !eq(result_role, far_role)
                {
                    continue;
                }
                if association_instances {
                    if eq(result_class, &link.instance.class_name) {
                        out.push(link.clone());
                    }
                } else if eq(result_class, far.class_name()) {
                    if let Ok(o) = self.resolve(host, far.class_name(), &far.selectors, now, "ExecQuery") {
                        out.push(o);
                    }
                }
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- methods

    /// Invokes a method on the instance named by class and selectors; returns the
    /// `{method}_OUTPUT` instance. Method-level refusals are `ReturnValue`s; a missing instance is
    /// a fault, as on Windows.
    #[allow(clippy::too_many_arguments)]
    pub fn invoke(
        &mut self,
        host: HostId,
        class: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
        now: SystemTime,
        injection: &JobInjection,
    ) -> Result<Instance, SimFault> {
        self.advance(now);
        let target = self.resolve(host, class, selectors, now, "ExecMethod")?;
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        match (class.to_ascii_lowercase().as_str(), method) {
            ("msvm_computersystem", "RequestStateChange") => {
                let vm_id = target.instance.get_str("Name").unwrap_or_default().to_owned();
                let req = param("RequestedState")
                    .and_then(|v| v.as_scalar())
                    .and_then(|s| s.as_u64());
                Ok(self.request_state_change(host, &vm_id, req, now, injection))
            }
            ("msvm_computersystem", "RequestReplicationStateChangeEx" | "RequestReplicationStateChange") => {
                let vm_id = target.instance.get_str("Name").unwrap_or_default().to_owned();
                let req = param("RequestedState")
                    .and_then(|v| v.as_scalar())
                    .and_then(|s| s.as_u64());
                let rel = param("ReplicationRelationship");
                Ok(self.request_replication_state_change(host, method, &vm_id, req, rel, now, injection))
            }
            (
                "msvm_replicationservice",
                "InitiateFailover" | "CommitFailover" | "RevertFailover" | "ReverseReplicationRelationship",
            ) => {
                let vm_id = match param("ComputerSystem") {
                    Some(Value::Reference(epr)) => {
                        let o = self.resolve(host, epr.class_name(), &epr.selectors, now, "ExecMethod")?;
                        if !epr.class_name().eq_ignore_ascii_case(CS) {
                            return Ok(output(method, rv::INVALID_PARAMETER, None));
                        }
                        o.instance.get_str("Name").unwrap_or_default().to_owned()
                    }
                    _ => return Ok(output(method, rv::INVALID_PARAMETER, None)),
                };
                if self.vm(host, &vm_id).is_none() {
                    // The host instance itself is not a VM.
                    return Ok(output(method, rv::INVALID_PARAMETER, None));
                }
                Ok(match method {
                    "InitiateFailover" => {
                        let snap = param("SnapshotSettingData");
                        self.initiate_failover(host, &vm_id, snap, now, injection)
                    }
                    "CommitFailover" => self.commit_failover(host, &vm_id, now, injection),
                    "RevertFailover" => self.revert_failover(host, &vm_id, now, injection),
                    _ => self.reverse(host, &vm_id, param("ReplicationSettingData"), now, injection),
                })
            }
            ("msvm_concretejob", "GetErrorEx" | "GetError") => {
                let id = target
                    .instance
                    .get_str("InstanceID")
                    .unwrap_or_default()
                    .to_owned();
                Ok(self.get_error(&id, method))
            }
            _ => Err(SimFault::provider_error(
                0x8004_1055,
                "ExecMethod",
                &format!("{class}.{method}"),
            )),
        }
    }

    fn request_state_change(
        &mut self,
        host: HostId,
        vm_id: &str,
        req: Option<u64>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "RequestStateChange";
        let Some(vm) = self.vm(host, vm_id) else {
            return output(M, rv::INVALID_STATE, None);
        };
        let target = match req {
            Some(2) => power::RUNNING,
            Some(3 | 4) => power::OFF,
            _ => return output(M, rv::INVALID_PARAMETER, None),
        };
        if !matches!(vm.enabled_state, power::RUNNING | power::OFF) || vm.enabled_state == target {
            return output(M, rv::INVALID_STATE, None);
        }
        // A replica VM cannot start until it has failed over.
        if target == power::RUNNING {
            if let Some(r) = &vm.replication {
                if r.mode == mode::REPLICA && !matches!(r.state, state::RECOVERED | state::COMMITTED) {
                    return output(M, rv::INVALID_STATE, None);
                }
            }
        }
        let transitional = if target == power::RUNNING {
            power::STARTING
        } else {
            power::STOPPING
        };
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let caption = if target == power::RUNNING {
            "Starting Virtual Machine"
        } else {
            "Turning Off Virtual Machine"
        };
        let job = self.start_job(
            host,
            2,
            caption,
            vm_id,
            now,
            vec![VmPatch {
                enabled_state: Some(transitional),
                ..base.clone()
            }],
            vec![VmPatch {
                enabled_state: Some(target),
                ..base
            }],
            None,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }

    #[allow(clippy::too_many_arguments)]
    fn request_replication_state_change(
        &mut self,
        host: HostId,
        method: &str,
        vm_id: &str,
        req: Option<u64>,
        rel: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(method, rv::INVALID_STATE, None);
        };
        let Some(req) = req
            .and_then(|r| u16::try_from(r).ok())
            .filter(|r| [1, 2, 3, 4, 7, 9].contains(r))
        else {
            return output(method, rv::INVALID_PARAMETER, None);
        };
        let mut failure = None;
        match rel {
            None | Some(Value::Null) => {}
            Some(Value::Scalar(Scalar::String(text))) => match embedded::parse(text) {
                Ok(e)
                    if e.class_name.eq_ignore_ascii_case(REL)
                        && e.value("InstanceID")
                            .is_some_and(|id| id.eq_ignore_ascii_case(&relationship_id(vm_id))) =>
                {
                    let bad = e.non_dmtf_datetimes();
                    if !bad.is_empty() {
                        failure = Some(bad_datetime_failure(&bad));
                    }
                }
                _ => return output(method, rv::INVALID_PARAMETER, None),
            },
            Some(_) => return output(method, rv::INVALID_PARAMETER, None),
        }
        let Some(r) = vm.replication.as_ref() else {
            return output(method, rv::INVALID_STATE, None);
        };
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let (new_state, job_type, caption) = match (r.mode, r.state, req) {
            (mode::PRIMARY, state::REPLICATING, 4) if vm.enabled_state == power::OFF => {
                (state::SYNCED, 100, "Initiating synced replication")
            }
            (mode::PRIMARY | mode::REPLICA, state::REPLICATING, 7) => {
                (state::SUSPENDED, 96, "Suspending replication")
            }
            (mode::PRIMARY | mode::REPLICA, state::SUSPENDED, 3) => {
                (state::REPLICATING, 96, "Resuming replication")
            }
            _ => return output(method, rv::INVALID_STATE, None),
        };
        let mut success = vec![VmPatch {
            state: Some(new_state),
            ..base.clone()
        }];
        if new_state == state::SYNCED {
            // The last delta goes to the replica: both sides record the replication time.
            success[0].last_replication_time = Some(now + self.config.job_duration);
            if let Some(p) = self.partner(host.0, vm_id) {
                success.push(VmPatch {
                    host: p,
                    vm: vm_id.to_owned(),
                    last_replication_time: Some(now + self.config.job_duration),
                    ..VmPatch::default()
                });
            }
        }
        let job = self.start_job(
            host,
            job_type,
            caption,
            vm_id,
            now,
            vec![base],
            success,
            failure,
            inj,
        );
        output(method, rv::JOB_STARTED, Some(job))
    }

    fn initiate_failover(
        &mut self,
        host: HostId,
        vm_id: &str,
        snap: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "InitiateFailover";
        if !matches!(snap, None | Some(Value::Null)) {
            // No recovery snapshots are simulated: only "latest point in time" (null) is valid.
            return output(M, rv::INVALID_PARAMETER, None);
        }
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(M, rv::INVALID_STATE, None);
        };
        let Some(r) = vm.replication.as_ref() else {
            return output(M, rv::INVALID_STATE, None);
        };
        if r.mode != mode::REPLICA
            || !matches!(r.state, state::REPLICATING | state::CRITICAL)
            || vm.enabled_state != power::OFF
            || r.last_replication_time.is_none()
        {
            return output(M, rv::INVALID_STATE, None);
        }
        let planned = self
            .partner(host.0, vm_id)
            .and_then(|p| self.vm(HostId(p), vm_id))
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|pr| pr.mode == mode::PRIMARY && pr.state == state::SYNCED);
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let job = self.start_job(
            host,
            97,
            "Initiating failover",
            vm_id,
            now,
            vec![VmPatch {
                state: Some(state::FAILOVER_IN_PROGRESS),
                ..base.clone()
            }],
            vec![VmPatch {
                state: Some(state::RECOVERED),
                failed_over_type: Some(if planned { 3 } else { 1 }),
                ..base
            }],
            None,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }

    fn commit_failover(
        &mut self,
        host: HostId,
        vm_id: &str,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "CommitFailover";
        let ok = self
            .vm(host, vm_id)
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|r| r.mode == mode::REPLICA && r.state == state::RECOVERED);
        if !ok {
            return output(M, rv::INVALID_STATE, None);
        }
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let job = self.start_job(
            host,
            99,
            "Committing failover",
            vm_id,
            now,
            vec![base.clone()],
            vec![VmPatch {
                state: Some(state::COMMITTED),
                ..base
            }],
            None,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }

    fn revert_failover(
        &mut self,
        host: HostId,
        vm_id: &str,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "RevertFailover";
        let Some(vm) = self.vm(host, vm_id) else {
            return output(M, rv::INVALID_STATE, None);
        };
        let ok = vm.enabled_state == power::OFF
            && vm.replication.as_ref().is_some_and(|r| {
                (r.mode == mode::REPLICA && r.state == state::RECOVERED)
                    || (r.mode == mode::PRIMARY && r.state == state::SYNCED)
            });
        if !ok {
            return output(M, rv::INVALID_STATE, None);
        }
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let job = self.start_job(
            host,
            98,
            "Reverting failover",
            vm_id,
            now,
            vec![base.clone()],
            vec![VmPatch {
                state: Some(state::REPLICATING),
                failed_over_type: Some(0),
                ..base
            }],
            None,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }

    fn reverse(
        &mut self,
        host: HostId,
        vm_id: &str,
        rsd: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "ReverseReplicationRelationship";
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(M, rv::INVALID_STATE, None);
        };
        // Parameter checks ("Method Parameters Checked" precede the job).
        let Some(Value::Scalar(Scalar::String(text))) = rsd else {
            return output(M, rv::INVALID_PARAMETER, None);
        };
        let Ok(e) = embedded::parse(text) else {
            return output(M, rv::INVALID_PARAMETER, None);
        };
        if !e.class_name.eq_ignore_ascii_case(RSD) {
            return output(M, rv::INVALID_PARAMETER, None);
        }
        if let Err(m) = mof::check(&e, mof::REPLICATION_SETTING_DATA) {
            tracing::debug!(?m, "ReverseReplicationRelationship: embedded instance refused");
            return output(M, m.return_value(), None);
        }
        let port = e
            .value("RecoveryServerPortNumber")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(0);
        let auth = e
            .value("AuthenticationType")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(0);
        let rcp = e.value("RecoveryConnectionPoint").unwrap_or("").trim().to_owned();
        let thumb = e.value("CertificateThumbPrint").unwrap_or("").trim().to_owned();
        let valid = e
            .value("InstanceID")
            .is_some_and(|id| id.eq_ignore_ascii_case(&relationship_id(vm_id)))
            && !rcp.is_empty()
            && port != 0
            && matches!(auth, 1 | 2)
            && (auth != 2 || !thumb.is_empty());
        if !valid {
            return output(M, rv::INVALID_PARAMETER, None);
        }
        let Some(r) = vm.replication.as_ref() else {
            return output(M, rv::INVALID_STATE, None);
        };
        if r.mode == mode::PRIMARY
            || r.mode == mode::NONE
            || !matches!(r.state, state::RECOVERED | state::COMMITTED)
        {
            return output(M, rv::INVALID_STATE, None);
        }
        let bool_of = |n: &str, d: bool| e.value(n).map_or(d, |v| v.trim().eq_ignore_ascii_case("true"));
        let u16_of = |n: &str, d: u16| e.value(n).and_then(|v| v.trim().parse().ok()).unwrap_or(d);
        let me = self.hosts[host.0].clone();
        let partner = self.partner(host.0, vm_id);
        let mut failure = None;
        let bad = e.non_dmtf_datetimes();
        if !bad.is_empty() {
            failure = Some(bad_datetime_failure(&bad));
        }
        // The recovery server must be the partner host, listening on the port for that auth type.
        let target = partner.map(|p| self.hosts[p].clone());
        match &target {
            Some(t) if t.fqdn.eq_ignore_ascii_case(&rcp) || t.name.eq_ignore_ascii_case(&rcp) => {
                let expected = if auth == 2 {
                    t.replica_https_port
                } else {
                    t.replica_http_port
                };
                if port != expected && failure.is_none() {
                    failure = Some(JobFailure {
                        code: 32768,
                        description: format!(
                            "Hyper-V failed to enable reverse replication for '{}': the Replica server '{rcp}' is not listening on port {port} for the requested authentication type (0x00002EFD).",
                            vm.name
                        ),
                    });
                }
            }
            _ if failure.is_none() => {
                failure = Some(JobFailure {
                    code: 32768,
                    description: format!(
                        "Hyper-V failed to enable reverse replication for '{}': Hyper-V cannot connect to the specified Replica server '{rcp}'. The server name or address could not be resolved (0x00002EE7).",
                        vm.name
                    ),
                });
            }
            _ => {}
        }
        let settings = ReplicationSettings {
            primary_connection_point: me.fqdn.clone(),
            primary_host_system: me.fqdn.clone(),
            recovery_connection_point: rcp.clone(),
            recovery_host_system: target.as_ref().map_or(rcp.clone(), |t| t.fqdn.clone()),
            recovery_server_port: port,
            authentication_type: auth,
            certificate_thumbprint: thumb,
            compression_enabled: bool_of("CompressionEnabled", r.settings.compression_enabled),
            bypass_proxy_server: bool_of("BypassProxyServer", r.settings.bypass_proxy_server),
            replication_interval: u16_of("ReplicationInterval", r.settings.replication_interval),
            recovery_history: u16_of("RecoveryHistory", r.settings.recovery_history),
        };
        let planned = partner
            .and_then(|p| self.vm(HostId(p), vm_id))
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|pr| pr.mode == mode::PRIMARY && pr.state == state::SYNCED);
        let base = VmPatch {
            host: host.0,
            vm: vm_id.to_owned(),
            ..VmPatch::default()
        };
        let mut success = vec![VmPatch {
            mode: Some(mode::PRIMARY),
            state: Some(if planned { state::REPLICATING } else { state::READY }),
            health: Some(1),
            failed_over_type: Some(0),
            settings: Some(settings.clone()),
            ..base.clone()
        }];
        if let Some(p) = partner {
            success.push(VmPatch {
                host: p,
                vm: vm_id.to_owned(),
                mode: Some(mode::REPLICA),
                state: Some(if planned {
                    state::REPLICATING
                } else {
                    state::WAITING_INITIAL
                }),
                health: Some(1),
                failed_over_type: Some(0),
                settings: Some(settings),
                enabled_state: Some(power::OFF),
                ..VmPatch::default()
            });
        }
        let job = self.start_job(
            host,
            104,
            "Reversing replication",
            vm_id,
            now,
            vec![base],
            success,
            failure,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }

    fn get_error(&self, job_id: &str, method: &str) -> Instance {
        let Some(j) = self.job(job_id) else {
            return output(method, rv::INVALID_STATE, None);
        };
        let errors: Vec<String> = match (&j.failure, j.completed_at) {
            (Some(f), Some(_)) => vec![msvm_error(j, f)],
            _ => Vec::new(),
        };
        let mut out = Instance::new(format!("{method}_OUTPUT"));
        if method == "GetError" {
            out.set("Error", errors.first().map_or(Value::Null, |e| s(e.clone())));
        } else {
            out.set(
                "Errors",
                Value::Array(errors.into_iter().map(Scalar::String).collect()),
            );
        }
        out.set("ReturnValue", u32v(rv::OK));
        out
    }
}

fn visible(j: &Job, now: SystemTime) -> bool {
    j.vanish_at.is_none_or(|v| now < v)
}

fn bad_datetime_failure(props: &[&str]) -> JobFailure {
    JobFailure {
        code: 32768,
        description: format!(
            "The operation failed: the embedded instance has datetime values that are not in DMTF format ({}).",
            props.join(", ")
        ),
    }
}

/// The `Msvm_Error` CIM-XML text `GetErrorEx` returns for a failed job.
fn msvm_error(j: &Job, f: &JobFailure) -> String {
    let one = |name: &'static str, ty: &'static str, v: String| OutProperty {
        name,
        cim_type: ty,
        array: false,
        values: vec![v],
    };
    embedded::write(
        "Msvm_Error",
        &[
            one("CIMStatusCode", "uint32", "1".into()),
            one("ErrorSource", "string", j.affected_vm.clone().unwrap_or_default()),
            one("ErrorSourceFormat", "uint16", "0".into()),
            one("ErrorType", "uint16", "1".into()),
            one("Message", "string", f.description.clone()),
            OutProperty {
                name: "MessageArguments",
                cim_type: "string",
                array: true,
                values: vec![j.affected_vm.clone().unwrap_or_default()],
            },
            one("MessageID", "string", f.code.to_string()),
            one("OwningEntity", "string", "Microsoft-Windows-Hyper-V-VMMS".into()),
            one("PerceivedSeverity", "uint16", "3".into()),
            one("ProbableCause", "uint16", "0".into()),
        ],
    )
}

/// The EPR of a host's `Msvm_ReplicationService` (all four keys, as Windows returns it).
pub fn service_epr(host_name: &str) -> Epr {
    Epr::new(
        uri(SVC),
        SelectorSet::new()
            .with("CreationClassName", SVC)
            .with("Name", "replicasvc")
            .with("SystemCreationClassName", CS)
            .with("SystemName", host_name),
    )
}

/// True when every given selector matches the instance's keys (case-insensitive names and values).
fn selectors_match(given: &SelectorSet, keys: &SelectorSet) -> bool {
    given
        .iter()
        .all(|(k, v)| keys.get(k).is_some_and(|kv| kv.eq_ignore_ascii_case(v)))
}

fn same_object(epr: &Epr, class: &str, sel: &SelectorSet) -> bool {
    epr.class_name().eq_ignore_ascii_case(class)
        && selectors_match(sel, &epr.selectors)
        && selectors_match(&epr.selectors, sel)
}

fn value_matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::Scalar(sc)) => match sc {
            Scalar::String(s) => s.eq_ignore_ascii_case(want),
            Scalar::Boolean(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            other => other.as_u64().map(|n| n.to_string()).as_deref() == Some(want.trim()),
        },
        _ => false,
    }
}
