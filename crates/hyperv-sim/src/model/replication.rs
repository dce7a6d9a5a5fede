//! Replication: the settings and relationship of a replicated VM, their objects, and the
//! replication state machine's methods other than the reverse (`reverse`).

use std::time::{Duration, SystemTime};

use wsman_soap::{Epr, Instance, Scalar, SelectorSet, Value};

use super::health::{self, Transition};
use super::jobs::VmPatch;
use super::{
    arr, b, dt, mode, new_guid, output, power, rv, s, state, u16v, uri, Host, HostId, JobFailure,
    JobInjection, Object, Vm, World, CS, REL, RSD, SVC,
};
use crate::clock;

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

/// `Microsoft:<GUID>\HVR\0`, the primary relationship's InstanceID.
pub fn relationship_id(vm: &str) -> String {
    format!("Microsoft:{vm}\\HVR\\0")
}

impl World {
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
                shutdown_at: None,
            });
        }
        self.seed_recovery_points(replica, &id, name, now);
        Some(id)
    }

    /// The other host holding a replica/primary of this VM.
    pub(super) fn partner(&self, host: usize, id: &str) -> Option<usize> {
        (0..self.hosts.len()).find(|&h| {
            h != host
                && self.hosts[h]
                    .vms
                    .iter()
                    .any(|v| v.id.eq_ignore_ascii_case(id) && v.replication.is_some())
        })
    }

    pub(super) fn rsd(&self, vm: &Vm, r: &Replication) -> Object {
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

    pub(super) fn relationship(&self, vm: &Vm, r: &Replication) -> Object {
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

    pub(super) fn service(&self, h: &Host) -> Object {
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_replication_state_change(
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
            .filter(|r| [1, 2, 3, 4, 7, 9, 15].contains(r))
        else {
            return output(method, rv::INVALID_PARAMETER, None);
        };
        let failure = match health::relationship_param(vm_id, rel, false) {
            Ok(f) => f,
            Err(code) => return output(method, code, None),
        };
        let Some(r) = vm.replication.as_ref() else {
            return output(method, rv::INVALID_STATE, None);
        };
        let base = VmPatch::of(host, vm_id);
        let t = match (r.mode, r.state, req) {
            (mode::PRIMARY, state::REPLICATING, 4) if vm.enabled_state == power::OFF => Transition {
                during: None,
                to: state::SYNCED,
                health: None,
                job_type: 100,
                caption: "Initiating synced replication",
            },
            (m, st, req) => match health::transition(m, st, req) {
                Some(t) => {
                    self.count_replications(host, vm_id, now);
                    t
                }
                None => return output(method, rv::INVALID_STATE, None),
            },
        };
        let new_state = t.to;
        let mut success = vec![VmPatch {
            state: Some(new_state),
            health: t.health,
            ..base.clone()
        }];
        let at_start = VmPatch {
            state: t.during,
            ..base.clone()
        };
        if new_state == state::SYNCED {
            // The last delta goes to the replica: both sides record the replication time.
            success[0].last_replication_time = Some(now + self.config.job_duration);
            if let Some(p) = self.partner(host.0, vm_id) {
                success.push(VmPatch {
                    last_replication_time: Some(now + self.config.job_duration),
                    ..VmPatch::of(HostId(p), vm_id)
                });
            }
        }
        let job = self.start_job(
            host,
            t.job_type,
            t.caption,
            vm_id,
            now,
            vec![at_start],
            success,
            failure,
            inj,
        );
        output(method, rv::JOB_STARTED, Some(job))
    }

    pub(super) fn initiate_failover(
        &mut self,
        host: HostId,
        vm_id: &str,
        snap: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "InitiateFailover";
        if self.recovery_point_param(host, vm_id, snap).is_err() {
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
        let base = VmPatch::of(host, vm_id);
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

    pub(super) fn commit_failover(
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
        let base = VmPatch::of(host, vm_id);
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

    pub(super) fn revert_failover(
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
        let base = VmPatch::of(host, vm_id);
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
}

pub(super) fn bad_datetime_failure(props: &[&str]) -> JobFailure {
    JobFailure {
        code: 32768,
        description: format!(
            "The operation failed: the embedded instance has datetime values that are not in DMTF format ({}).",
            props.join(", ")
        ),
    }
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
