//! VMs and hosts, and their `Msvm_ComputerSystem` objects (the host's and each VM's), and the
//! VM power method `RequestStateChange`.

use std::time::SystemTime;

use wsman_soap::{Instance, Scalar, SelectorSet, Value};

use super::jobs::VmPatch;
use super::{
    arr, dt, mode, new_guid, output, power, rv, s, state, u16v, uri, HostId, JobInjection, Object,
    Replication, World, CS, SHUTDOWN,
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
    /// When the guest shutdown asked by `Msvm_ShutdownComponent.InitiateShutdown` ends (the VM
    /// turns Off then; until then it stays Running).
    pub shutdown_at: Option<SystemTime>,
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
            shutdown_at: None,
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
            .with("ReplicationMode", u16v(self.replication_mode_of(vm)))
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
            Some(6) => power::SAVED,
            _ => return output(M, rv::INVALID_PARAMETER, None),
        };
        // A saved VM can be started or turned off (its saved state discarded), not saved again.
        let from_ok = match target {
            power::SAVED => vm.enabled_state == power::RUNNING,
            _ => matches!(vm.enabled_state, power::RUNNING | power::OFF | power::SAVED),
        };
        if !from_ok || vm.enabled_state == target {
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
        let (transitional, caption) = match target {
            power::RUNNING => (power::STARTING, "Starting Virtual Machine"),
            power::SAVED => (power::SAVING, "Saving Virtual Machine"),
            _ => (power::STOPPING, "Turning Off Virtual Machine"),
        };
        // Turning off or saving ends a guest shutdown under way.
        if let Some(v) = self.vm_mut(host.0, vm_id) {
            v.shutdown_at = None;
        }
        let base = VmPatch::of(host, vm_id);
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

/// The `DeviceID` of a VM's shutdown component: `Microsoft:<VM GUID>\<the Hyper-V guest
/// shutdown service GUID>` (assumption: the form of the integration components' DeviceIDs, the
/// service GUID 9F8233AC-BE49-4C79-8EE3-E7E1985B2077 of "Hyper-V Guest Shutdown Service").
pub fn shutdown_device_id(vm_id: &str) -> String {
    format!("Microsoft:{vm_id}\\9F8233AC-BE49-4C79-8EE3-E7E1985B2077")
}

impl World {
    /// A running VM's `Msvm_ShutdownComponent`
    /// (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-shutdowncomponent>): the four
    /// keys of `CIM_LogicalDevice`, `SystemName` the VM GUID. A VM that is not running has no
    /// devices, so no instance (assumption: logical devices exist while the VM runs).
    pub(super) fn shutdown_component(&self, vm: &Vm) -> Option<Object> {
        if vm.enabled_state != power::RUNNING {
            return None;
        }
        let device = shutdown_device_id(&vm.id);
        let i = Instance::new(SHUTDOWN)
            .with("Caption", s("Shutdown"))
            .with("CreationClassName", s(SHUTDOWN))
            .with("Description", s("Microsoft Shutdown Component"))
            .with("DeviceID", s(device.clone()))
            .with("ElementName", s("Shutdown"))
            .with("EnabledDefault", u16v(2))
            .with("EnabledState", u16v(2))
            .with("HealthState", u16v(5))
            .with("OperationalStatus", Value::Array(vec![Scalar::Uint16(2)]))
            .with("RequestedState", u16v(12))
            .with("SystemCreationClassName", s(CS))
            .with("SystemName", s(vm.id.clone()));
        let epr = Epr::new(
            uri(SHUTDOWN),
            SelectorSet::new()
                .with("CreationClassName", SHUTDOWN)
                .with("DeviceID", device)
                .with("SystemCreationClassName", CS)
                .with("SystemName", vm.id.clone()),
        );
        Some(Object { instance: i, epr })
    }

    /// `Msvm_ShutdownComponent.InitiateShutdown(Force, Reason)`: both parameters are required
    /// (32773 otherwise, assumption); a VM already shutting down is 32775 (assumption); else 0,
    /// and the VM stays Running until the guest is done, `job_duration` later, then is Off. The
    /// method starts no job: the caller watches the VM's `EnabledState` (the strictest reading
    /// of the page's return values 0 and 4096).
    pub(super) fn initiate_shutdown(
        &mut self,
        host: HostId,
        vm_id: &str,
        force: Option<bool>,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Instance {
        const M: &str = "InitiateShutdown";
        if force.is_none() || reason.is_none() {
            return output(M, rv::INVALID_PARAMETER, None);
        }
        let due = now + self.config.job_duration;
        match self.vm_mut(host.0, vm_id) {
            Some(vm) if vm.enabled_state == power::RUNNING && vm.shutdown_at.is_none() => {
                vm.shutdown_at = Some(due);
                output(M, rv::OK, None)
            }
            _ => output(M, rv::INVALID_STATE, None),
        }
    }

    /// Ends the guest shutdowns due by `now`: the VM is Off from the moment it was due.
    pub(super) fn complete_shutdowns(&mut self, now: SystemTime) {
        for vm in self.hosts.iter_mut().flat_map(|h| h.vms.iter_mut()) {
            if let Some(at) = vm.shutdown_at.filter(|at| *at <= now) {
                vm.shutdown_at = None;
                vm.enabled_state = power::OFF;
                vm.state_changed = at;
            }
        }
    }
}
