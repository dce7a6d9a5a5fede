//! The simulated Hyper-V world: hosts, VMs, replication relationships and jobs, and the
//! replication state machine.
//!
//! Pure logic: every operation takes `now` and reads no clock, so tests drive time by hand.
//! Several endpoints share one [`World`] (behind a mutex) so a planned failover runs across a
//! primary and a replica host.
//!
//! One concern per module: `vm` (hosts, VMs, their `Msvm_ComputerSystem` objects, power
//! changes), `replication` (settings, relationships, the replication state machine),
//! `reverse` (`ReverseReplicationRelationship`), `health` (statistics, health issues, suspend,
//! resume, resynchronize), `drill` (recovery points, test failover and `DestroySystem`), `jobs`
//! (`Msvm_ConcreteJob` over time, `GetErrorEx` and `Msvm_Error`), `query` (Get, Enumerate,
//! WQL and associations) and `invoke` (method dispatch). This module holds the class names,
//! the value codes and the [`World`] that ties them together.
// Faults are returned by value: they are built once per failed request, never on a hot path.
#![allow(clippy::result_large_err)]

use std::time::{Duration, SystemTime};

use wsman_soap::epr::wmi_resource_uri;
use wsman_soap::{Epr, Instance, Scalar, Value};

use crate::clock;

mod drill;
mod health;
mod invoke;
mod jobs;
mod query;
mod replication;
mod reverse;
mod vm;

pub use drill::{management_service_epr, vs_type, Drill, RecoveryPoint, TestSystem, RSDEP, SOVS, VSMS, VSSD};
pub use health::{Counters, STATISTICS};
pub use jobs::{Job, JobFailure, JobInjection};
pub use replication::{relationship_id, service_epr, Replication, ReplicationSettings};
pub use vm::{shutdown_device_id, Host, Vm};

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
/// `Msvm_ShutdownComponent`: the guest shutdown integration service of a running VM.
pub const SHUTDOWN: &str = "Msvm_ShutdownComponent";
/// Association `Msvm_SystemDevice` (VM -> its devices, the shutdown component here).
pub const SD: &str = "Msvm_SystemDevice";

/// Method return values (the Msvm_ReplicationService method docs on learn.microsoft.com).
pub mod rv {
    /// Completed with no error.
    pub const OK: u32 = 0;
    /// Method parameters checked, job started.
    pub const JOB_STARTED: u32 = 4096;
    /// Failed.
    pub const FAILED: u32 = 32768;
    /// Not supported.
    pub const NOT_SUPPORTED: u32 = 32770;
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
    /// Test replica: the VM a test failover (`TestReplicaSystem`) creates.
    pub const TEST_REPLICA: u16 = 3;
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
    /// Saving.
    pub const SAVING: u16 = 32773;
    /// Saved (RequestStateChange 6, Offline).
    pub const SAVED: u16 = 32769;
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

/// A rendered object: its instance and its EPR.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The instance.
    pub instance: Instance,
    /// Its endpoint reference.
    pub epr: Epr,
}

/// The shared simulated world.
#[derive(Debug, Clone)]
pub struct World {
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Jobs, oldest first.
    pub jobs: Vec<Job>,
    /// Recovery points and test systems.
    pub drill: Drill,
    /// Knobs.
    pub config: WorldConfig,
    /// Replication statistics per VM and host (`health`).
    pub replication_stats: Vec<Counters>,
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

fn output(method: &str, ret: u32, job: Option<Epr>) -> Instance {
    let mut i = Instance::new(format!("{method}_OUTPUT"));
    if let Some(j) = job {
        i.set("Job", Value::Reference(j));
    }
    i.set("ReturnValue", u32v(ret));
    i
}

/// A new random GUID (RFC 9562 version 4) in the upper-case `8-4-4-4-12` form Hyper-V uses.
pub fn new_guid() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl World {
    /// An empty world.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            hosts: Vec::new(),
            jobs: Vec::new(),
            drill: Drill::default(),
            config,
            replication_stats: Vec::new(),
        }
    }
}
