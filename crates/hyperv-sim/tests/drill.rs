//! DR drills in the simulated world: recovery points, the test VM of `TestReplicaSystem`, and
//! `DestroySystem`, with Windows' refusals.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyperv_sim::model::{
    self, mode, state, uri, vs_type, HostId, JobFailure, JobInjection, World, WorldConfig,
};
use wsman_soap::{Epr, Instance, Scalar, SelectorSet, Value};

const SEC: Duration = Duration::from_secs(1);

struct Fx {
    w: World,
    p: HostId,
    r: HostId,
    vm: String,
    now: SystemTime,
}

fn fx() -> Fx {
    let mut w = World::new(WorldConfig {
        job_duration: SEC,
        time_before_removal: Duration::from_secs(60),
    });
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let p = w.add_host("HV-PRIMARY", "hv-primary.contoso.test");
    let r = w.add_host("HV-REPLICA", "hv-replica.contoso.test");
    let vm = w.add_replicated_vm(p, r, "app01", now).unwrap();
    Fx { w, p, r, vm, now }
}

fn cs(vm: &str) -> Epr {
    Epr::new(
        uri(model::CS),
        SelectorSet::new()
            .with("CreationClassName", model::CS)
            .with("Name", vm),
    )
}

fn snapshot(instance_id: &str) -> Value {
    Value::Reference(Epr::new(
        uri(model::VSSD),
        SelectorSet::new().with("InstanceID", instance_id),
    ))
}

fn rv(out: &Instance) -> u32 {
    out.get_u32("ReturnValue").unwrap()
}

impl Fx {
    fn tick(&mut self) {
        self.now += SEC;
        self.w.advance(self.now);
    }

    fn service(
        &mut self,
        h: HostId,
        method: &str,
        vm: &str,
        snap: Option<Value>,
        inj: &JobInjection,
    ) -> Instance {
        let mut params = vec![("ComputerSystem".to_owned(), Value::Reference(cs(vm)))];
        if let Some(s) = snap {
            params.push(("SnapshotSettingData".to_owned(), s));
        }
        let sel = SelectorSet::new().with("CreationClassName", model::SVC);
        self.w
            .invoke(h, model::SVC, &sel, method, &params, self.now, inj)
            .unwrap()
    }

    fn test(&mut self, h: HostId, snap: Option<Value>) -> Instance {
        let vm = self.vm.clone();
        self.service(h, "TestReplicaSystem", &vm, snap, &JobInjection::default())
    }

    fn destroy(&mut self, h: HostId, vm: &str) -> Instance {
        let params = vec![("AffectedSystem".to_owned(), Value::Reference(cs(vm)))];
        let epr = model::management_service_epr(&self.w.hosts[h.0].name);
        self.w
            .invoke(
                h,
                model::VSMS,
                &epr.selectors,
                "DestroySystem",
                &params,
                self.now,
                &JobInjection::default(),
            )
            .unwrap()
    }

    fn related(&mut self, h: HostId, vm: &str, assoc: &str) -> Vec<Instance> {
        self.w
            .associated(h, &cs(vm), false, Some(assoc), None, None, None, self.now)
            .unwrap()
            .into_iter()
            .map(|o| o.instance)
            .collect()
    }

    fn points(&mut self, h: HostId) -> Vec<Instance> {
        let vm = self.vm.clone();
        self.related(h, &vm, model::SOVS)
    }

    fn vm_on(&mut self, h: HostId, id: &str) -> Option<Instance> {
        self.w
            .get(h, model::CS, &cs(id).selectors, self.now)
            .ok()
            .map(|o| o.instance)
    }
}

#[test]
fn a_replica_vm_has_three_recovery_points_one_application_consistent() {
    let mut f = fx();
    let points = f.points(f.r);
    let types: Vec<&str> = points
        .iter()
        .map(|p| p.get_str("VirtualSystemType").unwrap())
        .collect();
    assert_eq!(
        types,
        [
            vs_type::REPLICA_STANDARD,
            vs_type::REPLICA_APPLICATION_CONSISTENT,
            vs_type::REPLICA_STANDARD
        ]
    );
    for p in &points {
        assert_eq!(p.get_str("VirtualSystemIdentifier"), Some(f.vm.as_str()));
        assert!(p.get_str("InstanceID").unwrap().starts_with("Microsoft:"));
        assert!(p.get_str("ElementName").unwrap().starts_with("app01 - "));
        let t = p.get_datetime("CreationTime").unwrap().to_iso8601();
        assert!(t.starts_with("2027-01-15T"), "{t}");
        // Every property of the class, as a Get returns them.
        assert_eq!(
            p.properties.len(),
            hyperv_sim::mof::VIRTUAL_SYSTEM_SETTING_DATA.len()
        );
    }
    assert!(points[1]
        .get_str("ElementName")
        .unwrap()
        .contains("Application-consistent Replica"));
    // The primary keeps none.
    assert!(f.points(f.p).is_empty());
    // A WQL query on VirtualSystemIdentifier also returns the VM's own (realized) settings: a
    // client must pick the recovery points by VirtualSystemType.
    let q = format!(
        "SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemIdentifier = '{}'",
        f.vm
    );
    let all = f.w.query(f.r, &q, f.now).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[0].instance.get_str("VirtualSystemType"),
        Some(vs_type::REALIZED)
    );
    // Each is a Get by InstanceID.
    let id = points[0].get_str("InstanceID").unwrap();
    let got =
        f.w.get(
            f.r,
            model::VSSD,
            &SelectorSet::new().with("InstanceID", id),
            f.now,
        )
        .unwrap();
    assert_eq!(got.instance, points[0]);
}

#[test]
fn a_snapshot_that_is_not_a_recovery_point_of_the_vm_is_an_invalid_parameter() {
    let mut f = fx();
    let other = f.w.add_replicated_vm(f.p, f.r, "db01", f.now).unwrap();
    let theirs = f.related(f.r, &other, model::SOVS)[0]
        .get_str("InstanceID")
        .unwrap()
        .to_owned();
    let realized = format!("Microsoft:{}", f.vm);
    let wrong_class = Value::Reference(Epr::new(
        uri(model::RSD),
        SelectorSet::new().with("InstanceID", f.points(f.r)[0].get_str("InstanceID").unwrap()),
    ));
    let none = JobInjection::default();
    let vm = f.vm.clone();
    for method in ["InitiateFailover", "TestReplicaSystem"] {
        for snap in [
            snapshot("Microsoft:NO-SUCH-POINT"),
            snapshot(&theirs),
            snapshot(&realized),
            wrong_class.clone(),
            Value::Scalar(Scalar::String("latest".into())),
        ] {
            let out = f.service(f.r, method, &vm, Some(snap.clone()), &none);
            assert_eq!(rv(&out), 32773, "{method} {snap:?}");
        }
    }
    assert_eq!(f.w.drill.tests.len(), 0);
    // One of its own points is taken.
    let mine = f.points(f.r)[1].get_str("InstanceID").unwrap().to_owned();
    let out = f.service(f.r, "InitiateFailover", &vm, Some(snapshot(&mine)), &none);
    assert_eq!(rv(&out), 4096);
}

#[test]
fn test_replica_system_makes_a_test_vm_and_replication_goes_on() {
    let mut f = fx();
    let point = f.points(f.r)[2].get_str("InstanceID").unwrap().to_owned();
    let out = f.test(f.r, Some(snapshot(&point)));
    assert_eq!(rv(&out), 4096);
    let test_id = out
        .get_reference("ResultingSystem")
        .unwrap()
        .selectors
        .get("Name")
        .unwrap()
        .to_owned();
    assert_ne!(test_id, f.vm);
    f.tick();
    let test = f.vm_on(f.r, &test_id).unwrap();
    assert_eq!(test.get_str("ElementName"), Some("app01 - Test"));
    assert_eq!(test.get_u16("ReplicationMode"), Some(mode::TEST_REPLICA));
    assert_eq!(test.get_u16("ReplicationState"), Some(0));
    assert_eq!(test.get_u16("EnabledState"), Some(model::power::OFF));
    // Listed with the other VMs, and linked to its replica.
    let all = f.w.enumerate_class(f.r, model::CS, f.now).unwrap();
    assert!(all.iter().any(|o| o.instance.get_str("Name") == Some(&test_id)));
    let vm = f.vm.clone();
    let dep = f.related(f.r, &vm, model::RSDEP);
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0].get_str("Name"), Some(test_id.as_str()));
    // The replica keeps replicating.
    let replica = f.vm_on(f.r, &vm).unwrap();
    assert_eq!(replica.get_u16("ReplicationMode"), Some(mode::REPLICA));
    assert_eq!(replica.get_u16("ReplicationState"), Some(state::REPLICATING));
}

#[test]
fn a_second_test_failover_is_refused_with_invalid_state() {
    let mut f = fx();
    assert_eq!(rv(&f.test(f.r, None)), 4096);
    // While the first job runs and after it completed.
    assert_eq!(rv(&f.test(f.r, None)), 32775);
    f.tick();
    assert_eq!(rv(&f.test(f.r, Some(Value::Null))), 32775);
    assert_eq!(f.w.drill.tests.len(), 1);
}

#[test]
fn test_replica_system_needs_a_replicating_replica() {
    let mut f = fx();
    // On the primary.
    assert_eq!(rv(&f.test(f.p, None)), 32775);
    // On a replica that failed over.
    let vm = f.vm.clone();
    let out = f.service(f.r, "InitiateFailover", &vm, None, &JobInjection::default());
    assert_eq!(rv(&out), 4096);
    f.tick();
    assert_eq!(rv(&f.test(f.r, None)), 32775);
    assert!(f.w.drill.tests.is_empty());
}

#[test]
fn a_failed_test_failover_job_leaves_no_test_vm() {
    let mut f = fx();
    let inj = JobInjection {
        fail: Some(JobFailure {
            code: 32768,
            description: "simulated".into(),
        }),
        vanish_after: None,
    };
    let vm = f.vm.clone();
    let out = f.service(f.r, "TestReplicaSystem", &vm, None, &inj);
    let test_id = out
        .get_reference("ResultingSystem")
        .unwrap()
        .selectors
        .get("Name")
        .unwrap()
        .to_owned();
    f.tick();
    assert!(f.vm_on(f.r, &test_id).is_none());
    assert!(f.w.drill.tests.is_empty());
    // So a new test failover may start.
    assert_eq!(rv(&f.test(f.r, None)), 4096);
}

#[test]
fn destroy_system_removes_an_off_test_vm_when_its_job_completes() {
    let mut f = fx();
    let out = f.test(f.r, None);
    let test_id = out
        .get_reference("ResultingSystem")
        .unwrap()
        .selectors
        .get("Name")
        .unwrap()
        .to_owned();
    f.tick();
    // Running: refused.
    let sel = cs(&test_id).selectors;
    let start = vec![("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(2)))];
    let out =
        f.w.invoke(
            f.r,
            model::CS,
            &sel,
            "RequestStateChange",
            &start,
            f.now,
            &JobInjection::default(),
        )
        .unwrap();
    assert_eq!(rv(&out), 4096, "a test VM can start");
    f.tick();
    assert_eq!(rv(&f.destroy(f.r, &test_id)), 32775);
    let off = vec![("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(3)))];
    f.w.invoke(
        f.r,
        model::CS,
        &sel,
        "RequestStateChange",
        &off,
        f.now,
        &JobInjection::default(),
    )
    .unwrap();
    f.tick();
    let out = f.destroy(f.r, &test_id);
    assert_eq!(rv(&out), 4096);
    assert_eq!(rv(&f.destroy(f.r, &test_id)), 32775, "already being destroyed");
    assert!(f.vm_on(f.r, &test_id).is_some(), "gone when the job ends");
    f.tick();
    assert!(f.vm_on(f.r, &test_id).is_none());
    let vm = f.vm.clone();
    assert!(f.related(f.r, &vm, model::RSDEP).is_empty());
    assert!(f.w.drill.tests.is_empty());
    // The replica and its recovery points stay.
    assert_eq!(f.points(f.r).len(), 3);
    assert_eq!(rv(&f.test(f.r, None)), 4096);
}
