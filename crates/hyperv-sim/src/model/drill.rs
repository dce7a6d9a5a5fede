//! DR drills: the recovery points of a replica VM, the test failover that makes a test VM from
//! one (`Msvm_ReplicationService.TestReplicaSystem`), and `Msvm_VirtualSystemManagementService.
//! DestroySystem`, which removes it.
//!
//! - A recovery point is an `Msvm_VirtualSystemSettingData` snapshot of the replica VM, linked
//!   to its `Msvm_ComputerSystem` by `Msvm_SnapshotOfVirtualSystem`, with `VirtualSystemType`
//!   `Microsoft:Hyper-V:Snapshot:Replica:Standard` ("a time-based replication point snapshot")
//!   or `Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent` ("a VSS replication point
//!   snapshot"), the values of the `Msvm_VirtualSystemSettingData` class page
//!   (<https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsettingdata>). Each
//!   replica VM gets three when replication is set up: an hour apart, the middle one
//!   application-consistent. Every VM also has its realized settings (`Microsoft:Hyper-V:System:
//!   Realized`), which a WQL query on `VirtualSystemIdentifier` returns with the snapshots.
//! - The test VM is an `Msvm_ComputerSystem` of its own (new GUID, named `<VM> - Test` as
//!   Hyper-V names it (assumption), Off, `ReplicationMode` 3 Test Replica, not replicating),
//!   linked to the replica VM by
//!   `Msvm_ReplicaSystemDependency` (Antecedent the replica, Dependent the test VM:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicasystemdependency>).
//! - `TestReplicaSystem` (<https://learn.microsoft.com/windows/win32/hyperv_v2/testreplicasystem-msvm-replicationservice>)
//!   returns the test VM as `ResultingSystem` and a job; a job that fails removes it again.
//!   `DestroySystem` (<https://learn.microsoft.com/windows/win32/hyperv_v2/destroysystem-msvm-virtualsystemmanagementservice>)
//!   removes a VM when its job completes.

use std::time::{Duration, SystemTime};

use wsman_soap::{CimDateTime, Epr, Instance, Scalar, SelectorSet, Value};

use super::jobs::VmPatch;
use super::query::{link, Link};
use super::{
    b, dt, mode, new_guid, output, power, rv, s, state, u16v, uri, Host, HostId, JobInjection, Object, Vm,
    World, CS,
};
use crate::mof;

/// `Msvm_VirtualSystemSettingData`: a VM's settings, or one of its snapshots.
pub const VSSD: &str = "Msvm_VirtualSystemSettingData";
/// Association `Msvm_SnapshotOfVirtualSystem` (VM -> its snapshots, the recovery points here).
pub const SOVS: &str = "Msvm_SnapshotOfVirtualSystem";
/// Association `Msvm_ReplicaSystemDependency` (replica VM -> its test VM).
pub const RSDEP: &str = "Msvm_ReplicaSystemDependency";
/// `Msvm_VirtualSystemManagementService` (`DestroySystem`).
pub const VSMS: &str = "Msvm_VirtualSystemManagementService";

/// `VirtualSystemType` values (the `Msvm_VirtualSystemSettingData` class page).
pub mod vs_type {
    /// A realized virtual machine.
    pub const REALIZED: &str = "Microsoft:Hyper-V:System:Realized";
    /// A time-based replication point snapshot.
    pub const REPLICA_STANDARD: &str = "Microsoft:Hyper-V:Snapshot:Replica:Standard";
    /// A VSS (application-consistent) replication point snapshot.
    pub const REPLICA_APPLICATION_CONSISTENT: &str =
        "Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent";
}

/// One recovery point of a replica VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// The host of the replica VM.
    pub host: HostId,
    /// The replica VM's GUID.
    pub vm: String,
    /// `InstanceID` of the snapshot settings: `Microsoft:<snapshot GUID>`.
    pub instance_id: String,
    /// `ElementName`.
    pub name: String,
    /// `CreationTime`.
    pub created: SystemTime,
    /// Application-consistent (VSS) rather than standard.
    pub application_consistent: bool,
}

/// A test VM and the replica VM it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSystem {
    /// The host of both.
    pub host: HostId,
    /// The replica VM's GUID.
    pub replica: String,
    /// The test VM's GUID.
    pub test_vm: String,
    /// The `TestReplicaSystem` job while it runs (the test VM goes if it fails).
    pub job: Option<String>,
}

/// A VM `DestroySystem` removes when its job completes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Destroying {
    host: HostId,
    vm: String,
    job: String,
}

/// The drill state of a [`World`].
#[derive(Debug, Clone, Default)]
pub struct Drill {
    /// Recovery points, oldest first per VM.
    pub recovery_points: Vec<RecoveryPoint>,
    /// Test VMs.
    pub tests: Vec<TestSystem>,
    destroying: Vec<Destroying>,
}

/// Hyper-V's recovery point name: `<VM> - Standard Replica - (M/D/YYYY - h:mm:ss AM|PM)`, or
/// `Application-consistent Replica` (assumption: the form Hyper-V Manager shows, UTC here).
fn point_name(vm: &str, at: SystemTime, application_consistent: bool) -> String {
    let kind = if application_consistent {
        "Application-consistent Replica"
    } else {
        "Standard Replica"
    };
    let CimDateTime::Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        ..
    } = CimDateTime::from_system_time(at)
    else {
        return format!("{vm} - {kind}");
    };
    let (h12, half) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!("{vm} - {kind} - ({month}/{day}/{year} - {h12}:{minute:02}:{second:02} {half})")
}

impl World {
    /// Gives a new replica VM its recovery points: three, one hour apart, ending an hour before
    /// `now`; the middle one application-consistent.
    pub(super) fn seed_recovery_points(&mut self, host: HostId, vm: &str, name: &str, now: SystemTime) {
        for (hours, application_consistent) in [(3, false), (2, true), (1, false)] {
            let created = now - Duration::from_secs(hours * 3600);
            self.drill.recovery_points.push(RecoveryPoint {
                host,
                vm: vm.to_owned(),
                instance_id: format!("Microsoft:{}", new_guid()),
                name: point_name(name, created, application_consistent),
                created,
                application_consistent,
            });
        }
    }

    /// The recovery points a VM shows: those of a replica that has not committed a failover
    /// (committing deletes them, as the `Complete-VMFailover` page says).
    pub fn recovery_points_of(&self, host: HostId, vm: &Vm) -> Vec<&RecoveryPoint> {
        let shown = vm
            .replication
            .as_ref()
            .is_some_and(|r| r.mode == mode::REPLICA && r.state != state::COMMITTED);
        if !shown {
            return Vec::new();
        }
        self.drill
            .recovery_points
            .iter()
            .filter(|p| p.host == host && p.vm.eq_ignore_ascii_case(&vm.id))
            .collect()
    }

    /// The `SnapshotSettingData` parameter of `InitiateFailover` and `TestReplicaSystem`: absent
    /// or null is the latest point (`Ok(None)`); a REF to an `Msvm_VirtualSystemSettingData`
    /// whose `InstanceID` is one of this VM's recovery points is that point; anything else is
    /// `Err` (ReturnValue 32773, invalid parameter).
    pub(super) fn recovery_point_param(
        &self,
        host: HostId,
        vm_id: &str,
        snap: Option<&Value>,
    ) -> Result<Option<RecoveryPoint>, ()> {
        let epr = match snap {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Reference(epr)) if epr.class_name().eq_ignore_ascii_case(VSSD) => epr,
            Some(_) => return Err(()),
        };
        let (Some(id), 1) = (epr.selectors.get("InstanceID"), epr.selectors.iter().count()) else {
            return Err(());
        };
        let vm = self.vm(host, vm_id).ok_or(())?;
        self.recovery_points_of(host, vm)
            .into_iter()
            .find(|p| p.instance_id.eq_ignore_ascii_case(id))
            .cloned()
            .map(Some)
            .ok_or(())
    }

    /// The test system a VM is the replica or the test VM of.
    fn test_system(&self, host: HostId, vm_id: &str) -> Option<&TestSystem> {
        self.drill.tests.iter().find(|t| {
            t.host == host && (t.replica.eq_ignore_ascii_case(vm_id) || t.test_vm.eq_ignore_ascii_case(vm_id))
        })
    }

    /// `ReplicationMode` as a VM's `Msvm_ComputerSystem` shows it: 3 for a test VM.
    pub(super) fn replication_mode_of(&self, vm: &Vm) -> u16 {
        let test = self
            .drill
            .tests
            .iter()
            .any(|t| t.test_vm.eq_ignore_ascii_case(&vm.id));
        if test {
            mode::TEST_REPLICA
        } else {
            vm.replication.as_ref().map_or(mode::NONE, |r| r.mode)
        }
    }

    /// `Msvm_ReplicationService.TestReplicaSystem(ComputerSystem, SnapshotSettingData)`: the
    /// snapshot must be one of the VM's recovery points or null (32773 otherwise); the VM must be
    /// a replica in state Replicating (32775 otherwise, assumption: the states
    /// `Start-VMFailover -AsTest` accepts, narrowed to the strictest) with no test VM yet (32775,
    /// assumption: Hyper-V keeps one test VM per replica). Creates the test VM at once, returns
    /// it as `ResultingSystem` and a job (JobType 102, Initiate Test Replica); replication goes
    /// on.
    pub(super) fn test_replica_system(
        &mut self,
        host: HostId,
        vm_id: &str,
        snap: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "TestReplicaSystem";
        if self.recovery_point_param(host, vm_id, snap).is_err() {
            return output(M, rv::INVALID_PARAMETER, None);
        }
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(M, rv::INVALID_STATE, None);
        };
        let replicating = vm
            .replication
            .as_ref()
            .is_some_and(|r| r.mode == mode::REPLICA && r.state == state::REPLICATING);
        if !replicating || self.test_system(host, vm_id).is_some() {
            return output(M, rv::INVALID_STATE, None);
        }
        let test_id = new_guid();
        let test = Vm {
            id: test_id.clone(),
            name: format!("{} - Test", vm.name),
            enabled_state: power::OFF,
            replication: None,
            installed: now,
            state_changed: now,
            shutdown_at: None,
        };
        let Some(h) = self.hosts.get_mut(host.0) else {
            return output(M, rv::INVALID_STATE, None);
        };
        h.vms.push(test);
        let base = VmPatch::of(host, vm_id);
        let job = self.start_job(
            host,
            102,
            "Creating test replica",
            vm_id,
            now,
            vec![base.clone()],
            vec![base],
            None,
            inj,
        );
        self.drill.tests.push(TestSystem {
            host,
            replica: vm.id.clone(),
            test_vm: test_id.clone(),
            job: job.selectors.get("InstanceID").map(str::to_owned),
        });
        let mut out = output(M, rv::JOB_STARTED, Some(job));
        out.set("ResultingSystem", Value::Reference(cs_epr(&test_id)));
        out
    }

    /// `Msvm_VirtualSystemManagementService.DestroySystem(AffectedSystem)`: a VM that is not Off
    /// is 32775 (assumption: a running VM is not deleted); otherwise a job (JobType 103, Remove
    /// Test Replica, for a test VM) at whose end the VM, its test-system link and its recovery
    /// points are gone.
    pub(super) fn destroy_system(
        &mut self,
        host: HostId,
        vm_id: &str,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        const M: &str = "DestroySystem";
        let Some(vm) = self.vm(host, vm_id) else {
            return output(M, rv::INVALID_PARAMETER, None);
        };
        let busy = self
            .drill
            .destroying
            .iter()
            .any(|d| d.host == host && d.vm == vm.id);
        if vm.enabled_state != power::OFF || busy {
            return output(M, rv::INVALID_STATE, None);
        }
        let vm = vm.id.clone();
        let test = self.drill.tests.iter().any(|t| t.test_vm == vm);
        let (job_type, caption) = if test {
            (103, "Removing test replica")
        } else {
            (3, "Destroying virtual machine")
        };
        let base = VmPatch::of(host, &vm);
        let job = self.start_job(
            host,
            job_type,
            caption,
            &vm,
            now,
            vec![base.clone()],
            vec![base],
            None,
            inj,
        );
        if let Some(id) = job.selectors.get("InstanceID") {
            self.drill.destroying.push(Destroying {
                host,
                vm,
                job: id.to_owned(),
            });
        }
        output(M, rv::JOB_STARTED, Some(job))
    }

    /// After jobs complete: a failed `TestReplicaSystem` job takes its test VM away, a completed
    /// `DestroySystem` job its VM.
    pub(super) fn settle_drill(&mut self) {
        let ended = |w: &World, job: &str| {
            w.job(job)
                .and_then(|j| j.completed_at.map(|_| j.failure.is_none()))
        };
        let mut gone = Vec::new();
        let tests = std::mem::take(&mut self.drill.tests);
        for mut t in tests {
            match t.job.as_deref().map(|j| ended(self, j)) {
                Some(Some(false)) => gone.push((t.host, t.test_vm.clone())),
                Some(Some(true)) => {
                    t.job = None;
                    self.drill.tests.push(t);
                }
                _ => self.drill.tests.push(t),
            }
        }
        let destroying = std::mem::take(&mut self.drill.destroying);
        for d in destroying {
            match ended(self, &d.job) {
                Some(true) => gone.push((d.host, d.vm)),
                Some(false) => {}
                None => self.drill.destroying.push(d),
            }
        }
        for (host, vm) in gone {
            if let Some(h) = self.hosts.get_mut(host.0) {
                h.vms.retain(|v| !v.id.eq_ignore_ascii_case(&vm));
            }
            self.drill
                .tests
                .retain(|t| !(t.host == host && t.test_vm.eq_ignore_ascii_case(&vm)));
            self.drill
                .recovery_points
                .retain(|p| !(p.host == host && p.vm.eq_ignore_ascii_case(&vm)));
        }
    }

    /// The `Msvm_VirtualSystemSettingData` instances of a host: each VM's realized settings and
    /// its recovery points.
    pub(super) fn settings_data(&self, host: HostId, h: &Host) -> Vec<Object> {
        let mut out = Vec::new();
        for vm in &h.vms {
            out.push(realized_settings(vm));
            out.extend(
                self.recovery_points_of(host, vm)
                    .into_iter()
                    .map(|p| recovery_point_settings(vm, p)),
            );
        }
        out
    }

    /// The drill associations of a host: `Msvm_SnapshotOfVirtualSystem` (VM -> recovery point)
    /// and `Msvm_ReplicaSystemDependency` (replica VM -> test VM).
    pub(super) fn drill_links(&self, host: HostId, h: &Host) -> Vec<Link> {
        let mut out = Vec::new();
        for vm in &h.vms {
            for p in self.recovery_points_of(host, vm) {
                let snap = recovery_point_settings(vm, p).epr;
                out.push(link(SOVS, "Antecedent", cs_epr(&vm.id), "Dependent", snap));
            }
        }
        for t in self.drill.tests.iter().filter(|t| t.host == host) {
            out.push(link(
                RSDEP,
                "Antecedent",
                cs_epr(&t.replica),
                "Dependent",
                cs_epr(&t.test_vm),
            ));
        }
        out
    }

    /// The host's `Msvm_VirtualSystemManagementService` (the class page's values; keys as for
    /// every service: `CreationClassName`, `Name` `vmms`, `SystemCreationClassName`,
    /// `SystemName`).
    pub(super) fn management_service(&self, h: &Host) -> Object {
        let i = Instance::new(VSMS)
            .with("Caption", s("Virtual System Management Service"))
            .with("CreationClassName", s(VSMS))
            .with(
                "Description",
                s("Service for creating, manipulating, and managing virtual machines"),
            )
            .with("ElementName", s("Hyper-V Virtual System Management Service"))
            .with("EnabledDefault", u16v(2))
            .with("EnabledState", u16v(2))
            .with("HealthState", u16v(5))
            .with("InstanceID", Value::Null)
            .with("Name", s("vmms"))
            .with("OperationalStatus", Value::Array(vec![Scalar::Uint16(2)]))
            .with("RequestedState", u16v(12))
            .with("Started", b(true))
            .with("StartMode", s("Automatic"))
            .with(
                "StatusDescriptions",
                Value::Array(vec![Scalar::String("The service is running normally".into())]),
            )
            .with("SystemCreationClassName", s(CS))
            .with("SystemName", s(h.name.clone()));
        Object {
            instance: i,
            epr: management_service_epr(&h.name),
        }
    }
}

/// The EPR of a host's `Msvm_VirtualSystemManagementService` (all four keys).
pub fn management_service_epr(host_name: &str) -> Epr {
    Epr::new(
        uri(VSMS),
        SelectorSet::new()
            .with("CreationClassName", VSMS)
            .with("Name", "vmms")
            .with("SystemCreationClassName", CS)
            .with("SystemName", host_name),
    )
}

fn cs_epr(vm: &str) -> Epr {
    Epr::new(
        uri(CS),
        SelectorSet::new().with("CreationClassName", CS).with("Name", vm),
    )
}

/// An `Msvm_VirtualSystemSettingData` with every property of the class (`mof::
/// VIRTUAL_SYSTEM_SETTING_DATA`) in the page's order, those without a value nil.
fn settings_instance(instance_id: &str, values: &[(&str, Value)]) -> Object {
    let mut i = Instance::new(VSSD);
    for (name, _, _) in mof::VIRTUAL_SYSTEM_SETTING_DATA {
        let v = values
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, v)| v.clone());
        i.set(*name, v);
    }
    let epr = Epr::new(uri(VSSD), SelectorSet::new().with("InstanceID", instance_id));
    Object { instance: i, epr }
}

fn realized_settings(vm: &Vm) -> Object {
    let id = format!("Microsoft:{}", vm.id);
    settings_instance(
        &id,
        &[
            ("InstanceID", s(id.clone())),
            ("Caption", s("Virtual Machine Settings")),
            ("Description", s("Active settings for the virtual machine.")),
            ("ElementName", s(vm.name.clone())),
            ("VirtualSystemIdentifier", s(vm.id.clone())),
            ("VirtualSystemType", s(vs_type::REALIZED)),
            ("CreationTime", dt(Some(vm.installed))),
            ("ConfigurationID", s(vm.id.clone())),
            ("IsSaved", b(vm.enabled_state == power::SAVED)),
            ("Version", s("10.0")),
        ],
    )
}

fn recovery_point_settings(vm: &Vm, p: &RecoveryPoint) -> Object {
    let ty = if p.application_consistent {
        vs_type::REPLICA_APPLICATION_CONSISTENT
    } else {
        vs_type::REPLICA_STANDARD
    };
    settings_instance(
        &p.instance_id,
        &[
            ("InstanceID", s(p.instance_id.clone())),
            ("Caption", s("Virtual Machine Settings")),
            ("Description", s("Recovery point of the replica virtual machine.")),
            ("ElementName", s(p.name.clone())),
            ("VirtualSystemIdentifier", s(vm.id.clone())),
            ("VirtualSystemType", s(ty)),
            ("CreationTime", dt(Some(p.created))),
            ("ConfigurationID", s(vm.id.clone())),
            ("IsSaved", b(false)),
            ("Version", s("10.0")),
        ],
    )
}
