//! VMs and hosts, and their `Msvm_ComputerSystem` objects (the host's and each VM's), and the
//! VM power method `RequestStateChange`.

use std::time::SystemTime;

use wsman_soap::{Instance, Scalar, SelectorSet, Value};

use super::jobs::VmPatch;
use super::{
    arr, dt, mode, new_guid, output, power, rv, s, state, u16v, uri, HostId, JobInjection, Object,
    Replication, World, CS,
};
use wsman_soap::Epr;

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

impl World {
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

    pub(super) fn vm_mut(&mut self, host: usize, id: &str) -> Option<&mut Vm> {
        self.hosts
            .get_mut(host)?
            .vms
            .iter_mut()
            .find(|v| v.id.eq_ignore_ascii_case(id))
    }

    pub(super) fn host_cs(&self, h: &Host) -> Object {
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
    pub(super) fn vm_cs(&self, vm: &Vm, now: SystemTime) -> Object {
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

    pub(super) fn request_state_change(
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
        let base = VmPatch::of(host, vm_id);
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
}
