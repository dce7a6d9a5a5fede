//! The replication state machine and the WS-Man-level object model, without the network.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyperv_sim::embedded;
use hyperv_sim::model::{
    self, mode, power, state, uri, HostId, JobFailure, JobInjection, World, WorldConfig,
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

fn cs(vm: &str) -> SelectorSet {
    SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", vm)
}

fn cs_ref(vm: &str) -> Value {
    Value::Reference(Epr::new(uri(model::CS), cs(vm)))
}

fn svc() -> SelectorSet {
    SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService")
}

fn none() -> JobInjection {
    JobInjection::default()
}

fn rv(out: &Instance) -> u32 {
    out.get_u32("ReturnValue").unwrap()
}

fn job_id(out: &Instance) -> String {
    out.get_reference("Job")
        .unwrap()
        .selectors
        .get("InstanceID")
        .unwrap()
        .to_owned()
}

impl Fx {
    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.w.advance(self.now);
    }
    fn vm_on(&mut self, h: HostId) -> Instance {
        let sel = cs(&self.vm);
        self.w.get(h, model::CS, &sel, self.now).unwrap().instance
    }
    fn repl(&mut self, h: HostId) -> (u16, u16) {
        let i = self.vm_on(h);
        (
            i.get_u16("ReplicationMode").unwrap(),
            i.get_u16("ReplicationState").unwrap(),
        )
    }
    fn call_vm(&mut self, h: HostId, method: &str, params: &[(&str, Value)]) -> Instance {
        let params: Vec<(String, Value)> = params.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
        let sel = cs(&self.vm);
        self.w
            .invoke(h, model::CS, &sel, method, &params, self.now, &none())
            .unwrap()
    }
    fn call_svc(&mut self, h: HostId, method: &str, extra: &[(&str, Value)]) -> Instance {
        self.call_svc_with(h, method, extra, &none())
    }
    fn call_svc_with(
        &mut self,
        h: HostId,
        method: &str,
        extra: &[(&str, Value)],
        inj: &JobInjection,
    ) -> Instance {
        let mut params = vec![("ComputerSystem".to_owned(), cs_ref(&self.vm))];
        params.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        self.w
            .invoke(h, model::SVC, &svc(), method, &params, self.now, inj)
            .unwrap()
    }
    fn job(&mut self, id: &str) -> Instance {
        let sel = SelectorSet::new().with("InstanceID", id);
        self.w
            .get(self.p, model::JOB, &sel, self.now)
            .or_else(|_| self.w.get(self.r, model::JOB, &sel, self.now))
            .unwrap()
            .instance
    }
    fn stop_primary(&mut self) {
        let out = self.call_vm(self.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
        assert_eq!(rv(&out), 4096);
        self.tick(SEC);
    }
    fn prepare(&mut self) {
        self.stop_primary();
        let out = self.call_vm(
            self.p,
            "RequestReplicationStateChangeEx",
            &[("RequestedState", u16s(4))],
        );
        assert_eq!(rv(&out), 4096);
        self.tick(SEC);
    }
    fn failover(&mut self) {
        let out = self.call_svc(self.r, "InitiateFailover", &[]);
        assert_eq!(rv(&out), 4096);
        self.tick(SEC);
    }
}

fn u16s(v: u16) -> Value {
    Value::Scalar(Scalar::String(v.to_string()))
}

fn rsd_xml(vm: &str, rcp: &str, port: &str, auth: &str, thumb: &str, created: &str) -> Value {
    Value::Scalar(Scalar::String(format!(
        r#"<INSTANCE CLASSNAME="Msvm_ReplicationSettingData"><PROPERTY NAME="AuthenticationType" TYPE="uint16"><VALUE>{auth}</VALUE></PROPERTY><PROPERTY NAME="CertificateThumbPrint" TYPE="string"><VALUE>{thumb}</VALUE></PROPERTY><PROPERTY NAME="CreationTime" TYPE="datetime"><VALUE>{created}</VALUE></PROPERTY><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:{vm}\HVR\0</VALUE></PROPERTY><PROPERTY NAME="PrimaryConnectionPoint" TYPE="string"><VALUE>hv-primary.contoso.test</VALUE></PROPERTY><PROPERTY NAME="RecoveryConnectionPoint" TYPE="string"><VALUE>{rcp}</VALUE></PROPERTY><PROPERTY NAME="RecoveryServerPortNumber" TYPE="uint16"><VALUE>{port}</VALUE></PROPERTY></INSTANCE>"#
    )))
}

const DMTF: &str = "20270115080000.000000+000";

fn good_rsd(vm: &str) -> Value {
    rsd_xml(vm, "hv-primary.contoso.test", "80", "1", "", DMTF)
}

#[test]
fn planned_failover_runs_across_both_hosts() {
    let mut f = fx();
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::REPLICATING));
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::REPLICATING));
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::RUNNING));

    // Stop the primary VM: Stopping while the job runs, Off after.
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
    assert_eq!(rv(&out), 4096);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::STOPPING));
    f.tick(SEC);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::OFF));

    // Prepare on the primary.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 4096);
    let id = job_id(&out);
    assert_eq!(f.job(&id).get_u16("JobType"), Some(100));
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::SYNCED));
    assert_eq!(f.job(&id).get_u16("JobState"), Some(7));

    // Fail over on the replica: 12 while running, 5 after, planned.
    let out = f.call_svc(f.r, "InitiateFailover", &[("SnapshotSettingData", Value::Null)]);
    assert_eq!(rv(&out), 4096);
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::FAILOVER_IN_PROGRESS));
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::RECOVERED));
    assert_eq!(f.vm_on(f.r).get_u16("FailedOverReplicationType"), Some(3));

    // Reverse on the replica.
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", good_rsd(&f.vm.clone()))],
    );
    assert_eq!(rv(&out), 4096);
    let id = job_id(&out);
    assert_eq!(f.job(&id).get_u16("JobType"), Some(104));
    f.tick(SEC);
    assert_eq!(f.job(&id).get_u16("JobState"), Some(7));
    assert_eq!(f.repl(f.r), (mode::PRIMARY, state::REPLICATING));
    assert_eq!(f.repl(f.p), (mode::REPLICA, state::REPLICATING));
    let sel = SelectorSet::new().with("InstanceID", model::relationship_id(&f.vm));
    for h in [f.r, f.p] {
        let rsd = f.w.get(h, model::RSD, &sel, f.now).unwrap().instance;
        assert_eq!(
            rsd.get_str("PrimaryConnectionPoint"),
            Some("hv-replica.contoso.test")
        );
        assert_eq!(
            rsd.get_str("RecoveryConnectionPoint"),
            Some("hv-primary.contoso.test")
        );
        assert_eq!(rsd.get_u16("RecoveryServerPortNumber"), Some(80));
    }

    // Start the VM on the new primary.
    let out = f.call_vm(f.r, "RequestStateChange", &[("RequestedState", u16s(2))]);
    assert_eq!(rv(&out), 4096);
    assert_eq!(f.vm_on(f.r).get_u16("EnabledState"), Some(power::STARTING));
    f.tick(SEC);
    assert_eq!(f.vm_on(f.r).get_u16("EnabledState"), Some(power::RUNNING));
}

#[test]
fn prepare_requires_primary_off_and_replicating() {
    let mut f = fx();
    // Running VM.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 32775);
    assert!(out.get("Job").is_none());
    // Replica side cannot prepare.
    let out = f.call_vm(
        f.r,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 32775);
    // Unknown requested state / missing parameter.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(5))],
    );
    assert_eq!(rv(&out), 32773);
    let out = f.call_vm(f.p, "RequestReplicationStateChangeEx", &[]);
    assert_eq!(rv(&out), 32773);
    // Prepared twice.
    f.prepare();
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 32775);
}

#[test]
fn replication_relationship_parameter_is_checked() {
    let mut f = fx();
    f.stop_primary();
    let vm = f.vm.clone();
    let wrong = Value::Scalar(Scalar::String(format!(
        r#"<INSTANCE CLASSNAME="Msvm_ReplicationRelationship"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:{vm}\HVR\1</VALUE></PROPERTY></INSTANCE>"#
    )));
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("ReplicationRelationship", wrong), ("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 32773);
    let iso = Value::Scalar(Scalar::String(format!(
        r#"<INSTANCE CLASSNAME="Msvm_ReplicationRelationship"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:{vm}\HVR\0</VALUE></PROPERTY><PROPERTY NAME="LastReplicationTime" TYPE="datetime"><VALUE>2027-01-15T08:00:00Z</VALUE></PROPERTY></INSTANCE>"#
    )));
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("ReplicationRelationship", iso), ("RequestedState", u16s(4))],
    );
    assert_eq!(rv(&out), 4096);
    let id = job_id(&out);
    f.tick(SEC);
    let j = f.job(&id);
    assert_eq!(j.get_u16("JobState"), Some(10));
    assert_eq!(j.get_u16("ErrorCode"), Some(32768));
    assert_eq!(
        f.repl(f.p),
        (mode::PRIMARY, state::REPLICATING),
        "a failed job leaves the state alone"
    );
}

#[test]
fn suspend_and_resume() {
    let mut f = fx();
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChange",
        &[("RequestedState", u16s(7))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::SUSPENDED));
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(7))],
    );
    assert_eq!(rv(&out), 32775);
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(3))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::REPLICATING));
}

#[test]
fn initiate_failover_refusals() {
    let mut f = fx();
    // On the primary.
    let out = f.call_svc(f.p, "InitiateFailover", &[]);
    assert_eq!(rv(&out), 32775);
    // A recovery snapshot is not simulated.
    let snap = Value::Reference(Epr::new(
        uri("Msvm_VirtualSystemSettingData"),
        SelectorSet::new().with("InstanceID", "x"),
    ));
    let out = f.call_svc(f.r, "InitiateFailover", &[("SnapshotSettingData", snap)]);
    assert_eq!(rv(&out), 32773);
    // Unplanned failover (primary not prepared) is allowed and marked Regular.
    f.failover();
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::RECOVERED));
    assert_eq!(f.vm_on(f.r).get_u16("FailedOverReplicationType"), Some(1));
    // Twice.
    let out = f.call_svc(f.r, "InitiateFailover", &[]);
    assert_eq!(rv(&out), 32775);
}

#[test]
fn missing_computer_system_parameter_is_invalid() {
    let mut f = fx();
    let out =
        f.w.invoke(f.r, model::SVC, &svc(), "InitiateFailover", &[], f.now, &none())
            .unwrap();
    assert_eq!(rv(&out), 32773);
    let s = vec![(
        "ComputerSystem".to_owned(),
        Value::Scalar(Scalar::String("x".into())),
    )];
    let out =
        f.w.invoke(f.r, model::SVC, &svc(), "CommitFailover", &s, f.now, &none())
            .unwrap();
    assert_eq!(rv(&out), 32773);
}

#[test]
fn commit_then_reverse_from_committed() {
    let mut f = fx();
    let out = f.call_svc(f.r, "CommitFailover", &[]);
    assert_eq!(rv(&out), 32775, "nothing to commit while replicating");
    f.prepare();
    f.failover();
    let out = f.call_svc(f.r, "CommitFailover", &[]);
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::COMMITTED));
    let out = f.call_svc(f.r, "RevertFailover", &[]);
    assert_eq!(rv(&out), 32775, "a committed failover cannot be reverted");
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", good_rsd(&f.vm.clone()))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::PRIMARY, state::REPLICATING));
}

#[test]
fn revert_on_replica_and_on_primary() {
    let mut f = fx();
    f.prepare();
    f.failover();
    let out = f.call_svc(f.r, "RevertFailover", &[]);
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::REPLICATING));
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::SYNCED));
    let out = f.call_svc(f.p, "RevertFailover", &[]);
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::REPLICATING));
    let out = f.call_svc(f.p, "RevertFailover", &[]);
    assert_eq!(rv(&out), 32775);
}

#[test]
fn revert_refused_while_running() {
    let mut f = fx();
    f.prepare();
    f.failover();
    let out = f.call_vm(f.r, "RequestStateChange", &[("RequestedState", u16s(2))]);
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    let out = f.call_svc(f.r, "RevertFailover", &[]);
    assert_eq!(rv(&out), 32775);
}

#[test]
fn reverse_validates_the_embedded_settings() {
    let mut f = fx();
    let vm = f.vm.clone();
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", good_rsd(&vm))],
    );
    assert_eq!(rv(&out), 32775, "not failed over yet");
    f.prepare();
    f.failover();
    let out = f.call_svc(
        f.p,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", good_rsd(&vm))],
    );
    assert_eq!(rv(&out), 32775, "the primary cannot reverse");
    for (bad, why) in [
        (
            rsd_xml(&vm, "", "80", "1", "", DMTF),
            "empty RecoveryConnectionPoint",
        ),
        (
            rsd_xml(&vm, "hv-primary.contoso.test", "0", "1", "", DMTF),
            "port 0",
        ),
        (
            rsd_xml(&vm, "hv-primary.contoso.test", "80", "0", "", DMTF),
            "auth 0",
        ),
        (
            rsd_xml(&vm, "hv-primary.contoso.test", "443", "2", "", DMTF),
            "certificate without thumbprint",
        ),
        (
            rsd_xml(
                "00000000-0000-0000-0000-000000000000",
                "hv-primary.contoso.test",
                "80",
                "1",
                "",
                DMTF,
            ),
            "other VM",
        ),
        (
            Value::Scalar(Scalar::String(
                "<p:Msvm_ReplicationSettingData xmlns:p=\"u\"/>".into(),
            )),
            "element form",
        ),
        (Value::Null, "missing"),
    ] {
        let out = f.call_svc(
            f.r,
            "ReverseReplicationRelationship",
            &[("ReplicationSettingData", bad)],
        );
        assert_eq!(rv(&out), 32773, "{why}");
    }
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::RECOVERED));
}

#[test]
fn reverse_job_fails_on_iso_datetime_and_get_error_ex_explains() {
    let mut f = fx();
    f.prepare();
    f.failover();
    let vm = f.vm.clone();
    let iso = rsd_xml(
        &vm,
        "hv-primary.contoso.test",
        "80",
        "1",
        "",
        "2027-01-15T08:00:00Z",
    );
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", iso)],
    );
    assert_eq!(rv(&out), 4096);
    let id = job_id(&out);
    let running = f.job(&id);
    assert_eq!(running.get_u16("ErrorCode"), Some(0));
    f.tick(SEC);
    let j = f.job(&id);
    assert_eq!(j.get_u16("JobState"), Some(10));
    assert_eq!(j.get_u16("ErrorCode"), Some(32768));
    assert!(j.get_str("ErrorDescription").unwrap().contains("CreationTime"));
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::RECOVERED));
    let sel = SelectorSet::new().with("InstanceID", id);
    let out =
        f.w.invoke(f.r, model::JOB, &sel, "GetErrorEx", &[], f.now, &none())
            .unwrap();
    assert_eq!(rv(&out), 0);
    let Some(Value::Array(errs)) = out.get("Errors") else {
        panic!("no Errors array: {out:?}")
    };
    let Scalar::String(text) = &errs[0] else {
        panic!("not a string")
    };
    let e = embedded::parse(text).unwrap();
    assert_eq!(e.class_name, "Msvm_Error");
    assert_eq!(e.value("MessageID"), Some("32768"));
    assert!(e.value("Message").unwrap().contains("DMTF"));
}

#[test]
fn reverse_to_an_unknown_server_or_wrong_port_fails_the_job() {
    let mut f = fx();
    f.prepare();
    f.failover();
    let vm = f.vm.clone();
    for (rsd, needle) in [
        (
            rsd_xml(&vm, "nowhere.contoso.test", "80", "1", "", DMTF),
            "could not be resolved",
        ),
        (
            rsd_xml(&vm, "HV-PRIMARY", "8080", "1", "", DMTF),
            "not listening on port 8080",
        ),
    ] {
        let out = f.call_svc(
            f.r,
            "ReverseReplicationRelationship",
            &[("ReplicationSettingData", rsd)],
        );
        assert_eq!(rv(&out), 4096);
        let id = job_id(&out);
        f.tick(SEC);
        let j = f.job(&id);
        assert_eq!(j.get_u16("ErrorCode"), Some(32768));
        assert!(j.get_str("ErrorDescription").unwrap().contains(needle), "{j:?}");
    }
    // Certificate auth on the HTTPS port with a thumbprint works.
    let cert = rsd_xml(
        &vm,
        "hv-primary.contoso.test",
        "443",
        "2",
        "0123456789ABCDEF0123456789ABCDEF01234567",
        DMTF,
    );
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", cert)],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::PRIMARY, state::REPLICATING));
    let sel = SelectorSet::new().with("InstanceID", model::relationship_id(&vm));
    let rsd = f.w.get(f.p, model::RSD, &sel, f.now).unwrap().instance;
    assert_eq!(rsd.get_u16("AuthenticationType"), Some(2));
    assert_eq!(
        rsd.get_str("CertificateThumbPrint"),
        Some("0123456789ABCDEF0123456789ABCDEF01234567")
    );
}

#[test]
fn unplanned_reverse_needs_initial_replication() {
    let mut f = fx();
    f.stop_primary();
    f.failover();
    let out = f.call_svc(
        f.r,
        "ReverseReplicationRelationship",
        &[("ReplicationSettingData", good_rsd(&f.vm.clone()))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.r), (mode::PRIMARY, state::READY));
    assert_eq!(f.repl(f.p), (mode::REPLICA, state::WAITING_INITIAL));
}

#[test]
fn request_state_change_refusals() {
    let mut f = fx();
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(2))]);
    assert_eq!(rv(&out), 32775, "already running");
    let out = f.call_vm(f.r, "RequestStateChange", &[("RequestedState", u16s(2))]);
    assert_eq!(rv(&out), 32775, "a replica VM cannot start before failover");
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(99))]);
    assert_eq!(rv(&out), 32773);
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
    assert_eq!(rv(&out), 4096);
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(2))]);
    assert_eq!(rv(&out), 32775, "busy stopping");
}

#[test]
fn job_progresses_then_vanishes_after_time_before_removal() {
    let mut f = fx();
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
    let id = job_id(&out);
    let j = f.job(&id);
    assert_eq!(
        (j.get_u16("JobState"), j.get_u16("PercentComplete")),
        (Some(2), Some(0))
    );
    f.tick(Duration::from_millis(500));
    let j = f.job(&id);
    assert_eq!(
        (j.get_u16("JobState"), j.get_u16("PercentComplete")),
        (Some(4), Some(50))
    );
    f.tick(Duration::from_millis(600));
    let j = f.job(&id);
    assert_eq!(
        (j.get_u16("JobState"), j.get_u16("PercentComplete")),
        (Some(7), Some(100))
    );
    // Associated to the VM while it exists.
    let jobs =
        f.w.query(
            f.p,
            &format!("SELECT * FROM Msvm_ConcreteJob WHERE InstanceID = '{id}'"),
            f.now,
        )
        .unwrap();
    assert_eq!(jobs.len(), 1);
    f.tick(Duration::from_secs(61));
    let sel = SelectorSet::new().with("InstanceID", id.clone());
    let err = f.w.get(f.p, model::JOB, &sel, f.now).unwrap_err();
    assert_eq!(err.wsman_code, 0x8033_8000);
}

#[test]
fn injected_job_failure_and_disappearance() {
    let mut f = fx();
    f.prepare();
    let inj = JobInjection {
        fail: Some(JobFailure {
            code: 32770,
            description: "injected".into(),
        }),
        vanish_after: None,
    };
    let out = f.call_svc_with(f.r, "InitiateFailover", &[], &inj);
    let id = job_id(&out);
    assert_eq!(f.repl(f.r), (mode::REPLICA, state::FAILOVER_IN_PROGRESS));
    f.tick(SEC);
    let j = f.job(&id);
    assert_eq!(
        (j.get_u16("JobState"), j.get_u16("ErrorCode")),
        (Some(10), Some(32770))
    );
    assert_eq!(j.get_str("ErrorDescription"), Some("injected"));
    assert_eq!(
        f.repl(f.r),
        (mode::REPLICA, state::REPLICATING),
        "restored after the failure"
    );

    let inj = JobInjection {
        fail: None,
        vanish_after: Some(Duration::from_millis(100)),
    };
    let out = f.call_svc_with(f.r, "InitiateFailover", &[], &inj);
    let id = job_id(&out);
    f.tick(Duration::from_millis(200));
    let sel = SelectorSet::new().with("InstanceID", id);
    assert_eq!(
        f.w.get(f.r, model::JOB, &sel, f.now).unwrap_err().subcode,
        "DestinationUnreachable"
    );
    f.tick(SEC);
    assert_eq!(
        f.repl(f.r),
        (mode::REPLICA, state::RECOVERED),
        "the work still happened"
    );
}

#[test]
fn selectors_are_checked_like_windows() {
    let mut f = fx();
    let vm = f.vm.clone();
    let only_name = SelectorSet::new().with("Name", vm.clone());
    let e = f.w.get(f.p, model::CS, &only_name, f.now).unwrap_err();
    assert_eq!(
        (e.subcode.as_str(), e.wsman_code),
        ("DestinationUnreachable", 0x8033_8000)
    );
    let extra = cs(&vm).with("Bogus", "1");
    let e = f.w.get(f.p, model::CS, &extra, f.now).unwrap_err();
    assert_eq!(
        (e.subcode.as_str(), e.wsman_code),
        ("InvalidSelectors", 0x8033_803D)
    );
    let e = f.w.get(f.p, model::CS, &cs("not-a-vm"), f.now).unwrap_err();
    assert_eq!(e.wsman_code, 0x8033_8000);
    // Lower-case GUIDs and key names work (WMI keys are case-insensitive).
    let lower = SelectorSet::new()
        .with("creationclassname", "msvm_computersystem")
        .with("name", vm.to_lowercase());
    assert_eq!(
        f.w.get(f.p, model::CS, &lower, f.now)
            .unwrap()
            .instance
            .get_str("ElementName"),
        Some("app01")
    );
    // Replication service: class selector alone, full keys, or no selectors (refused).
    let s = f.w.get(f.r, model::SVC, &svc(), f.now).unwrap();
    assert_eq!(s.epr.selectors.get("SystemName"), Some("HV-REPLICA"));
    let full = model::service_epr("HV-REPLICA").selectors;
    assert!(f.w.get(f.r, model::SVC, &full, f.now).is_ok());
    let e =
        f.w.invoke(
            f.r,
            model::SVC,
            &SelectorSet::new(),
            "InitiateFailover",
            &[],
            f.now,
            &none(),
        )
        .unwrap_err();
    assert_eq!(e.wsman_code, 0x8004_102F);
    let wrong_host = model::service_epr("HV-PRIMARY").selectors;
    assert!(f.w.get(f.r, model::SVC, &wrong_host, f.now).is_err());
    // A REF to a VM that is not there is a fault, not a return value.
    let params = vec![(
        "ComputerSystem".to_owned(),
        cs_ref("11111111-2222-3333-4444-555555555555"),
    )];
    let e =
        f.w.invoke(
            f.r,
            model::SVC,
            &svc(),
            "InitiateFailover",
            &params,
            f.now,
            &none(),
        )
        .unwrap_err();
    assert_eq!(e.wsman_code, 0x8033_8000);
}

#[test]
fn wql_and_associations() {
    let mut f = fx();
    let vm = f.vm.clone();
    let all =
        f.w.query(f.p, "SELECT * FROM Msvm_ComputerSystem", f.now)
            .unwrap();
    assert_eq!(all.len(), 2);
    let vms =
        f.w.query(
            f.p,
            "SELECT * FROM Msvm_ComputerSystem WHERE Description = 'Microsoft Virtual Machine'",
            f.now,
        )
        .unwrap();
    assert_eq!(vms.len(), 1);
    let by =
        f.w.query(
            f.p,
            "select * from msvm_computersystem where ElementName = \"APP01\" and EnabledState = 2",
            f.now,
        )
        .unwrap();
    assert_eq!(by.len(), 1);
    let rsd =
        f.w.query(
            f.p,
            &format!(
                "SELECT * FROM Msvm_ReplicationSettingData WHERE InstanceID = 'Microsoft:{vm}\\\\HVR\\\\0'"
            ),
            f.now,
        )
        .unwrap();
    assert_eq!(rsd.len(), 1);
    let e = f.w.query(f.p, "SELECT * FROM Msvm_Nope", f.now).unwrap_err();
    assert_eq!(
        (e.subcode.as_str(), e.wsman_code),
        ("CannotProcessFilter", 0x8033_801A)
    );
    let e =
        f.w.query(f.p, "SELECT * FROM Msvm_ComputerSystem WHERE Bogus = 1", f.now)
            .unwrap_err();
    assert_eq!(e.subcode, "CannotProcessFilter");
    let e =
        f.w.query(f.p, "SELECT Name FROM Msvm_ComputerSystem", f.now)
            .unwrap_err();
    assert_eq!(e.subcode, "CannotProcessFilter");

    let q = format!(
        "ASSOCIATORS OF {{Msvm_ComputerSystem.CreationClassName='Msvm_ComputerSystem',Name='{vm}'}} WHERE AssocClass = Msvm_ElementSettingData ResultClass = Msvm_ReplicationSettingData"
    );
    let r = f.w.query(f.r, &q, f.now).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].instance.get_str("InstanceID"),
        Some(model::relationship_id(&vm).as_str())
    );
    let q = format!(
        "ASSOCIATORS OF {{Msvm_ComputerSystem.CreationClassName='Msvm_ComputerSystem',Name='{vm}'}} WHERE AssocClass = Msvm_SystemReplicationRelationship ResultClass = Msvm_ReplicationRelationship"
    );
    let r = f.w.query(f.r, &q, f.now).unwrap();
    assert_eq!(r[0].instance.class_name, "Msvm_ReplicationRelationship");
    assert_eq!(r[0].instance.get_u16("ReplicationState"), Some(3));

    // Association filter dialect: RSD -> relationship through SettingsDefineState, and the
    // association instances themselves.
    let rsd_epr = Epr::new(
        uri(model::RSD),
        SelectorSet::new().with("InstanceID", model::relationship_id(&vm)),
    );
    let r =
        f.w.associated(
            f.r,
            &rsd_epr,
            false,
            Some("Msvm_SettingsDefineState"),
            None,
            None,
            None,
            f.now,
        )
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].instance.class_name, "Msvm_ReplicationRelationship");
    let vm_epr = Epr::new(uri(model::CS), cs(&vm));
    let links =
        f.w.associated(
            f.r,
            &vm_epr,
            true,
            Some("Msvm_ElementSettingData"),
            None,
            None,
            None,
            f.now,
        )
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0]
            .instance
            .get_reference("SettingData")
            .unwrap()
            .class_name(),
        "Msvm_ReplicationSettingData"
    );
    let none =
        f.w.associated(f.r, &vm_epr, false, None, None, Some("SettingData"), None, f.now)
            .unwrap();
    assert!(none.is_empty(), "the VM plays ManagedElement, not SettingData");

    // Job -> affected VM.
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
    let job = out.get_reference("Job").unwrap().clone();
    let r =
        f.w.associated(
            f.p,
            &job,
            false,
            Some("Msvm_AffectedJobElement"),
            None,
            None,
            None,
            f.now,
        )
        .unwrap();
    assert_eq!(r[0].instance.get_str("Name"), Some(vm.as_str()));
    let aje =
        f.w.enumerate_class(f.p, "Msvm_AffectedJobElement", f.now)
            .unwrap();
    assert_eq!(aje.len(), 1);
}

#[test]
fn new_guids_are_upper_case_version_4_and_distinct() {
    let a = model::new_guid();
    let b = model::new_guid();
    assert_ne!(a, b);
    let groups: Vec<&str> = a.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{a}"
    );
    assert!(
        a.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()),
        "{a}"
    );
    assert!(groups[2].starts_with('4'), "version 4: {a}");
    assert!(
        matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'A' | b'B'),
        "variant: {a}"
    );
}

/// The guest shutdown integration service: a running VM has one `Msvm_ShutdownComponent`
/// (found by WQL on `SystemName` and through `Msvm_SystemDevice`); `InitiateShutdown` needs
/// `Force` and `Reason`, returns 0 and leaves the VM Running until the guest is done, then Off,
/// with no component left; a second request while one is under way is 32775.
#[test]
fn shutdown_component_shuts_the_guest_down() {
    let mut f = fx();
    let vm = f.vm.clone();
    let q = format!("SELECT * FROM Msvm_ShutdownComponent WHERE SystemName = '{vm}'");
    let found = f.w.query(f.p, &q, f.now).unwrap();
    assert_eq!(found.len(), 1);
    let sc = found[0].clone();
    assert_eq!(sc.instance.get_u16("EnabledState"), Some(2));
    assert_eq!(sc.epr.selectors.len(), 4);
    assert_eq!(
        sc.epr.selectors.get("DeviceID"),
        Some(model::shutdown_device_id(&vm).as_str())
    );
    // The replica VM is off: no devices, no component.
    assert!(f.w.query(f.r, &q, f.now).unwrap().is_empty());
    let assoc = format!(
        "ASSOCIATORS OF {{Msvm_ComputerSystem.CreationClassName='Msvm_ComputerSystem',Name='{vm}'}} WHERE AssocClass = Msvm_SystemDevice ResultClass = Msvm_ShutdownComponent"
    );
    let by_assoc = f.w.query(f.p, &assoc, f.now).unwrap();
    assert_eq!(by_assoc.len(), 1);
    assert_eq!(by_assoc[0].epr, sc.epr);

    let shutdown = |f: &mut Fx, params: &[(&str, Value)]| {
        let params: Vec<(String, Value)> = params.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
        f.w.invoke(
            f.p,
            model::SHUTDOWN,
            &sc.epr.selectors,
            "InitiateShutdown",
            &params,
            f.now,
            &none(),
        )
    };
    let text = |t: &str| Value::Scalar(Scalar::String(t.to_owned()));
    let out = shutdown(&mut f, &[("Force", text("false"))]).unwrap();
    assert_eq!(rv(&out), 32773, "Reason is required");
    let out = shutdown(&mut f, &[("Force", text("maybe")), ("Reason", text("x"))]).unwrap();
    assert_eq!(rv(&out), 32773, "Force is a boolean");
    let out = shutdown(
        &mut f,
        &[("Force", text("false")), ("Reason", text("maintenance"))],
    )
    .unwrap();
    assert_eq!(rv(&out), 0);
    assert!(out.get_reference("Job").is_none());
    let again = shutdown(&mut f, &[("Force", text("true")), ("Reason", text("again"))]).unwrap();
    assert_eq!(rv(&again), 32775, "a shutdown is already under way");
    f.tick(SEC / 2);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::RUNNING));
    f.tick(SEC / 2);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::OFF));
    assert!(f.w.query(f.p, &q, f.now).unwrap().is_empty());
    // The component of an off VM is gone: invoking it is a fault, as for any missing instance.
    assert!(shutdown(&mut f, &[("Force", text("false")), ("Reason", text("x"))]).is_err());
}

/// `RequestStateChange(6)` (Offline) saves a running VM; a saved VM starts again or is turned off.
#[test]
fn request_state_change_saves_a_running_vm() {
    let mut f = fx();
    let out = f.call_vm(f.r, "RequestStateChange", &[("RequestedState", u16s(6))]);
    assert_eq!(rv(&out), 32775, "an off VM cannot be saved");
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(6))]);
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::SAVED));
    let out = f.call_vm(f.p, "RequestStateChange", &[("RequestedState", u16s(3))]);
    assert_eq!(rv(&out), 4096, "a saved VM can be turned off");
    f.tick(SEC);
    assert_eq!(f.vm_on(f.p).get_u16("EnabledState"), Some(power::OFF));
}

/// The VM's primary relationship as an embedded instance, with `extra` properties.
fn rel_xml(vm: &str, extra: &str) -> Value {
    Value::Scalar(Scalar::String(format!(
        r#"<INSTANCE CLASSNAME="Msvm_ReplicationRelationship"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:{vm}\HVR\0</VALUE></PROPERTY><PROPERTY NAME="ReplicationState" TYPE="uint16"><VALUE>3</VALUE></PROPERTY><PROPERTY NAME="ElementName" TYPE="string"><VALUE>app01</VALUE></PROPERTY>{extra}</INSTANCE>"#
    )))
}

impl Fx {
    /// GetReplicationStatisticsEx on host `h`: (statistics, health issues) parsed.
    fn measure(&mut self, h: HostId) -> (embedded::EmbeddedInstance, Vec<embedded::EmbeddedInstance>) {
        let rel = rel_xml(&self.vm, "");
        let out = self.call_svc(
            h,
            "GetReplicationStatisticsEx",
            &[("ReplicationRelationship", rel)],
        );
        assert_eq!(rv(&out), 0, "{out:?}");
        assert!(out.get_reference("Job").is_none(), "statistics come back at once");
        let texts = |name: &str| match out.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| embedded::parse(s.as_str().unwrap()).unwrap())
                .collect::<Vec<_>>(),
            other => panic!("{name}: {other:?}"),
        };
        let mut stats = texts("ReplicationStatistics");
        assert_eq!(stats.len(), 1);
        (stats.remove(0), texts("ReplicationHealthIssues"))
    }

    fn health(&mut self, h: HostId) -> u16 {
        self.vm_on(h).get_u16("ReplicationHealth").unwrap()
    }
}

fn num(e: &embedded::EmbeddedInstance, name: &str) -> u64 {
    e.value(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

#[test]
fn statistics_count_replication_cycles_and_suspension_warns() {
    let mut f = fx();
    let (stats, issues) = f.measure(f.p);
    assert_eq!(stats.class_name, "Msvm_ReplicationStatistics");
    // Every property of the class page, with its type.
    for (name, ty) in model::STATISTICS {
        let p = stats.properties.iter().find(|p| p.name == *name).unwrap();
        assert_eq!(p.cim_type, *ty, "{name}");
    }
    assert_eq!(num(&stats, "ReplicationSuccessCount"), 0);
    assert!(issues.is_empty());
    // Three 5-minute cycles while Replicating: three successes, sizes and latencies counted,
    // the last replication time moves on.
    f.tick(Duration::from_secs(900) + SEC);
    let (stats, issues) = f.measure(f.p);
    assert_eq!(num(&stats, "ReplicationSuccessCount"), 3);
    assert_eq!(num(&stats, "ReplicationMissCount"), 0);
    let (size, max) = (num(&stats, "ReplicationSize"), num(&stats, "MaxReplicationSize"));
    assert!(max > 0 && size >= max && size <= 3 * max, "{size} {max}");
    assert!(num(&stats, "ReplicationLatency") >= 3);
    assert!(num(&stats, "MaxReplicationLatency") >= num(&stats, "ReplicationLatency"));
    assert_eq!(num(&stats, "ReplicationHealth"), 1);
    assert!(issues.is_empty());
    let last = f
        .vm_on(f.p)
        .get_datetime("LastReplicationTime")
        .unwrap()
        .to_iso8601();
    assert!(last.starts_with("2027-01-15T08:15:00"), "{last}");
    // Read again at the same time: the same numbers (they derive from the GUID and the cycle).
    assert_eq!(f.measure(f.p).0, stats);

    // Suspended: Warning, one issue naming the VM, missed cycles pending.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[
            ("ReplicationRelationship", rel_xml(&f.vm, "")),
            ("RequestedState", u16s(7)),
        ],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::SUSPENDED));
    assert_eq!(f.health(f.p), 2);
    f.tick(Duration::from_secs(600));
    let (stats, issues) = f.measure(f.p);
    assert_eq!(num(&stats, "ReplicationSuccessCount"), 3);
    assert_eq!(num(&stats, "ReplicationMissCount"), 2);
    assert!(num(&stats, "PendingReplicationSize") > 0);
    assert_eq!(num(&stats, "ReplicationHealth"), 2);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].class_name, "Msvm_Error");
    assert!(issues[0]
        .value("Message")
        .unwrap()
        .contains("suspended for virtual machine 'app01'"));
    assert_eq!(issues[0].value("PerceivedSeverity"), Some("3"));
    assert_eq!(issues[0].value("ErrorSource"), Some(f.vm.as_str()));
    // Resumed: Normal again once the job is done; the pending changes go with the next cycle.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(3))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    assert_eq!(f.repl(f.p), (mode::PRIMARY, state::REPLICATING));
    assert_eq!(f.health(f.p), 1);
    f.tick(Duration::from_secs(300));
    let (stats, _) = f.measure(f.p);
    assert_eq!(num(&stats, "ReplicationSuccessCount"), 4);
    assert_eq!(num(&stats, "PendingReplicationSize"), 0);
}

#[test]
fn get_replication_statistics_checks_its_parameters() {
    let mut f = fx();
    let call = |f: &mut Fx, rel: Option<Value>| {
        let extra: Vec<(&str, Value)> = rel.into_iter().map(|r| ("ReplicationRelationship", r)).collect();
        rv(&f.call_svc(f.p, "GetReplicationStatisticsEx", &extra))
    };
    // The relationship is required, of its class, the VM's primary one, and fits the MOF.
    assert_eq!(call(&mut f, None), 32773);
    assert_eq!(call(&mut f, Some(Value::Null)), 32773);
    assert_eq!(
        call(&mut f, Some(Value::Scalar(Scalar::String("not xml".into())))),
        32773
    );
    let vm = f.vm.clone();
    let other = vm.replace(&vm[..8], "00000000");
    assert_eq!(call(&mut f, Some(rel_xml(&other, ""))), 32773);
    let unknown = r#"<PROPERTY NAME="ReplicationMode" TYPE="uint16"><VALUE>1</VALUE></PROPERTY>"#;
    assert_eq!(call(&mut f, Some(rel_xml(&vm, unknown))), 32773);
    let mistyped = r#"<PROPERTY NAME="ReplicationHealth" TYPE="string"></PROPERTY>"#;
    assert_eq!(call(&mut f, Some(rel_xml(&vm, mistyped))), 32776);
    assert_eq!(call(&mut f, Some(rel_xml(&vm, ""))), 0);
    // RequestReplicationStateChangeEx checks the same MOF.
    let out = f.call_vm(
        f.p,
        "RequestReplicationStateChangeEx",
        &[
            ("ReplicationRelationship", rel_xml(&f.vm, mistyped)),
            ("RequestedState", u16s(7)),
        ],
    );
    assert_eq!(rv(&out), 32776);
    // A VM that is not replicated has no statistics.
    let plain = f.w.add_vm(f.p, "plain", f.now).unwrap();
    let params = vec![
        ("ComputerSystem".to_owned(), cs_ref(&plain)),
        ("ReplicationRelationship".to_owned(), rel_xml(&plain, "")),
    ];
    let out =
        f.w.invoke(
            f.p,
            model::SVC,
            &svc(),
            "GetReplicationStatisticsEx",
            &params,
            f.now,
            &none(),
        )
        .unwrap();
    assert_eq!(rv(&out), 32775);
}

#[test]
fn resync_required_is_critical_and_only_resynchronize_on_the_primary_clears_it() {
    let mut f = fx();
    let (vm, now, p, r) = (f.vm.clone(), f.now, f.p, f.r);
    assert!(f.w.require_resync(p, &vm, now));
    assert_eq!(f.repl(p), (mode::PRIMARY, 11));
    assert_eq!(f.repl(r), (mode::REPLICA, 11));
    assert_eq!(f.health(p), 3);
    let (stats, issues) = f.measure(p);
    assert_eq!(num(&stats, "ReplicationHealth"), 3);
    assert_eq!(issues.len(), 1);
    assert!(issues[0]
        .value("Message")
        .unwrap()
        .contains("needs resynchronization"));
    assert_eq!(issues[0].value("PerceivedSeverity"), Some("6"));
    // Neither a resume nor a suspend gets it out; nor a resync on the replica or scheduled.
    for req in [3, 7] {
        let out = f.call_vm(
            p,
            "RequestReplicationStateChangeEx",
            &[("RequestedState", u16s(req))],
        );
        assert_eq!(rv(&out), 32775, "RequestedState {req}");
    }
    assert_eq!(
        rv(&f.call_svc(r, "Resynchronize", &[("StartTime", Value::Null)])),
        32775
    );
    let later = Value::Scalar(Scalar::Datetime(wsman_soap::CimDateTime::from_system_time(now)));
    assert_eq!(
        rv(&f.call_svc(p, "Resynchronize", &[("StartTime", later)])),
        32770
    );
    // Resynchronize: both sides Resynchronizing while the job runs, then Replicating, Normal.
    let out = f.call_svc(p, "Resynchronize", &[("StartTime", Value::Null)]);
    assert_eq!(rv(&out), 4096);
    assert_eq!(f.job(&job_id(&out)).get_u16("JobType"), Some(107));
    assert_eq!(f.repl(p), (mode::PRIMARY, 10));
    assert_eq!(f.repl(r), (mode::REPLICA, 10));
    f.tick(SEC);
    assert_eq!(f.repl(p), (mode::PRIMARY, state::REPLICATING));
    assert_eq!(f.repl(r), (mode::REPLICA, state::REPLICATING));
    assert_eq!(f.health(p), 1);
    assert!(f.measure(p).1.is_empty());
    // Not replicating any more: no second resync.
    assert_eq!(rv(&f.call_svc(p, "Resynchronize", &[])), 32775);
}

#[test]
fn suspend_during_resync_and_resume_after_a_critical_disk_update() {
    let mut f = fx();
    let (vm, now, p) = (f.vm.clone(), f.now, f.p);
    assert!(f.w.require_resync(p, &vm, now));
    assert_eq!(rv(&f.call_svc(p, "Resynchronize", &[])), 4096);
    // Suspending a running resync leaves it needing one (11).
    let out = f.call_vm(
        p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(7))],
    );
    assert_eq!(rv(&out), 4096);
    f.tick(SEC);
    // Both jobs were due: the resync's completion came first, then the suspend, which found
    // the relationship Resynchronizing when it was asked.
    assert_eq!(f.repl(p).1, 11);
    // A critical disk update (16) resumes with 15, through 15 to Replicating; 3 is refused.
    f.w.hosts[p.0]
        .vms
        .iter_mut()
        .find(|v| v.id == vm)
        .unwrap()
        .replication
        .as_mut()
        .unwrap()
        .state = 16;
    let out = f.call_vm(
        p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(3))],
    );
    assert_eq!(rv(&out), 32775);
    let out = f.call_vm(
        p,
        "RequestReplicationStateChangeEx",
        &[("RequestedState", u16s(15))],
    );
    assert_eq!(rv(&out), 4096);
    assert_eq!(f.repl(p).1, 15);
    f.tick(SEC);
    assert_eq!(f.repl(p), (mode::PRIMARY, state::REPLICATING));
}
