//! The WS-Management layer of the simulator without the network: client envelopes from
//! `wsman_soap::request` go through `parse_request`, the operations, `write_response`, and back
//! through the client parser `parse_response`.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyperv_sim::model::{self, uri, HostId, JobInjection, World, WorldConfig};
use hyperv_sim::mof;
use hyperv_sim::ops::{self, EnumStore, OpContext};
use wsman_soap::request::{
    self, AssociationFilter, AssociationKind, Enumerate, EnumerationMode, Filter, RequestHeader,
};
use wsman_soap::response::{parse_response, KnownFault, MethodOutput, ResponseBody};
use wsman_soap::{
    parse_request, response_action, wmi_all_classes_uri, write_response, Epr, Instance, Limits, Scalar,
    SelectorSet, Value,
};

struct Fx {
    w: World,
    store: EnumStore,
    p: HostId,
    r: HostId,
    vm: String,
    now: SystemTime,
    instant: Instant,
    n: u32,
}

fn fx() -> Fx {
    let mut w = World::new(WorldConfig {
        job_duration: Duration::from_secs(1),
        time_before_removal: Duration::from_secs(60),
    });
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let p = w.add_host("HV-PRIMARY", "hv-primary.contoso.test");
    let r = w.add_host("HV-REPLICA", "hv-replica.contoso.test");
    let vm = w.add_replicated_vm(p, r, "app01", now).unwrap();
    w.add_vm(p, "other", now).unwrap();
    Fx {
        w,
        store: EnumStore::new(Duration::from_secs(30)),
        p,
        r,
        vm,
        now,
        instant: Instant::now(),
        n: 0,
    }
}

impl Fx {
    fn hdr(&mut self, resource_uri: &str) -> RequestHeader {
        self.n += 1;
        RequestHeader::new(
            "http://127.0.0.1:5985/wsman",
            resource_uri,
            format!("uuid:00000000-0000-4000-8000-{:012}", self.n),
        )
    }
    fn send(&mut self, host: HostId, xml: &str) -> ResponseBody {
        self.send_with(host, xml, &JobInjection::default())
    }
    fn send_with(&mut self, host: HostId, xml: &str, inj: &JobInjection) -> ResponseBody {
        let req = parse_request(xml.as_bytes(), &Limits::default()).unwrap();
        let cx = OpContext {
            host,
            machine: "HV-TEST",
            now: self.now,
            instant: self.instant,
            injection: inj,
        };
        let body = ops::execute(&mut self.w, &mut self.store, &req, &cx);
        let action = match &body {
            ResponseBody::Fault(f) => f.action.clone().unwrap(),
            _ => response_action(&req.header.action),
        };
        let out = write_response(
            &action,
            "uuid:11111111-1111-4111-8111-111111111111",
            &req.header.message_id,
            &body,
        );
        let parsed = parse_response(out.as_bytes(), &Limits::default()).unwrap();
        parsed.header.check_relates_to(&req.header.message_id).unwrap();
        parsed.body
    }
    fn cs_sel(&self) -> SelectorSet {
        SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", self.vm.clone())
    }
}

fn fault(b: ResponseBody) -> wsman_soap::response::Fault {
    match b {
        ResponseBody::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn instance(b: ResponseBody) -> Instance {
    match b {
        ResponseBody::Instance(i) => i,
        other => panic!("expected an instance, got {other:?}"),
    }
}

#[test]
fn get_returns_the_vm_and_faults_like_windows() {
    let mut f = fx();
    let h = f.hdr(&uri(model::CS)).with_selectors(f.cs_sel());
    let i = instance(f.send(f.p, &request::get(&h)));
    assert_eq!(i.class_name, "Msvm_ComputerSystem");
    assert_eq!(i.get_str("ElementName"), Some("app01"));
    assert_eq!(i.get_u16("ReplicationMode"), Some(1));
    assert!(i.get_datetime("LastReplicationTime").is_some());

    let h = f
        .hdr(&uri(model::CS))
        .with_selectors(SelectorSet::new().with("Name", f.vm.clone()));
    let e = fault(f.send(f.p, &request::get(&h)));
    assert_eq!(e.known(), Some(KnownFault::ResourceNotFound));
    assert_eq!(e.subcode.as_deref(), Some("DestinationUnreachable"));
    assert_eq!(e.machine.as_deref(), Some("HV-TEST"));

    let h = f
        .hdr(&uri(model::CS))
        .with_selectors(f.cs_sel().with("Nope", "1"));
    assert_eq!(
        fault(f.send(f.p, &request::get(&h))).known(),
        Some(KnownFault::InvalidSelectors)
    );

    let h = f.hdr("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service");
    assert_eq!(
        fault(f.send(f.p, &request::get(&h))).known(),
        Some(KnownFault::ResourceNotFound)
    );
}

#[test]
fn enumerate_pages_with_pull_and_release() {
    let mut f = fx();
    // Unoptimized: context only, then Pull one at a time (MaxElements default 1).
    let h = f.hdr(&uri(model::CS));
    let e = Enumerate {
        filter: None,
        mode: EnumerationMode::Objects,
        optimize: false,
        max_elements: None,
    };
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &e)) else {
        panic!()
    };
    assert!(page.items.is_empty());
    let ctx = page.context.unwrap();
    let mut names = Vec::new();
    let mut ctx = Some(ctx);
    while let Some(c) = ctx {
        let h = f.hdr(&uri(model::CS));
        let ResponseBody::Enumeration(p) = f.send(f.p, &request::pull(&h, &c, None)) else {
            panic!()
        };
        assert_eq!(p.items.len(), 1);
        names.push(
            p.items[0]
                .instance
                .as_ref()
                .unwrap()
                .get_str("ElementName")
                .unwrap()
                .to_owned(),
        );
        assert_eq!(p.end_of_sequence, p.context.is_none());
        ctx = p.context;
    }
    assert_eq!(names, ["HV-PRIMARY", "app01", "other"]);
    assert!(f.store.is_empty());

    // Optimized with MaxElements 2 and EPRs: first page in the EnumerateResponse.
    let h = f.hdr(&uri(model::CS));
    let e = Enumerate {
        filter: None,
        mode: EnumerationMode::ObjectAndEpr,
        optimize: true,
        max_elements: Some(2),
    };
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &e)) else {
        panic!()
    };
    assert_eq!(page.items.len(), 2);
    let epr = page.items[1].epr.as_ref().unwrap();
    assert_eq!(epr.selectors.get("Name"), Some(f.vm.as_str()));
    let c = page.context.unwrap();
    // Release closes it; a Pull after that is refused.
    let h = f.hdr(&uri(model::CS));
    assert_eq!(f.send(f.p, &request::release(&h, &c)), ResponseBody::Empty);
    let h = f.hdr(&uri(model::CS));
    let e = fault(f.send(f.p, &request::pull(&h, &c, Some(5))));
    assert_eq!(e.subcode.as_deref(), Some("InvalidEnumerationContext"));
    assert_eq!(e.code, "Receiver");
    assert_eq!(e.wsman_code, Some(0x8033_801B));
}

#[test]
fn enumeration_contexts_expire() {
    let mut f = fx();
    let h = f.hdr(&uri(model::CS));
    let e = Enumerate {
        filter: None,
        mode: EnumerationMode::Epr,
        optimize: false,
        max_elements: None,
    };
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &e)) else {
        panic!()
    };
    let c = page.context.unwrap();
    f.instant += Duration::from_secs(31);
    let h = f.hdr(&uri(model::CS));
    let e = fault(f.send(f.p, &request::pull(&h, &c, Some(10))));
    assert_eq!(e.subcode.as_deref(), Some("InvalidEnumerationContext"));
}

#[test]
fn wql_and_association_filters() {
    let mut f = fx();
    let all = wmi_all_classes_uri("root/virtualization/v2");
    let h = f.hdr(&all);
    let q = format!(
        "SELECT * FROM Msvm_ReplicationSettingData WHERE VirtualSystemIdentifier = '{}'",
        f.vm
    );
    let e = Enumerate {
        filter: Some(Filter::Wql(q)),
        mode: EnumerationMode::Objects,
        optimize: true,
        max_elements: Some(32000),
    };
    let ResponseBody::Enumeration(page) = f.send(f.r, &request::enumerate(&h, &e)) else {
        panic!()
    };
    assert!(page.end_of_sequence);
    let rsd = page.items[0].instance.as_ref().unwrap();
    assert_eq!(
        rsd.get_str("RecoveryConnectionPoint"),
        Some("hv-replica.contoso.test")
    );
    assert_eq!(
        rsd.get_str("PrimaryConnectionPoint"),
        Some("hv-primary.contoso.test")
    );

    // WQL on a class URI is refused.
    let h = f.hdr(&uri(model::CS));
    let e = Enumerate {
        filter: Some(Filter::Wql("SELECT * FROM Msvm_ComputerSystem".into())),
        ..Enumerate::default()
    };
    assert_eq!(
        fault(f.send(f.r, &request::enumerate(&h, &e))).known(),
        Some(KnownFault::CannotProcessFilter)
    );
    // Unknown class.
    let h = f.hdr(&all);
    let e = Enumerate {
        filter: Some(Filter::Wql("SELECT * FROM Msvm_Bogus".into())),
        ..Enumerate::default()
    };
    let flt = fault(f.send(f.r, &request::enumerate(&h, &e)));
    assert_eq!(flt.known(), Some(KnownFault::CannotProcessFilter));
    assert_eq!(
        flt.extended_status.unwrap().parameter_info.as_deref(),
        Some("SELECT * FROM Msvm_Bogus")
    );

    // Association filter: VM -> RSD.
    let h = f.hdr(&all);
    let a = AssociationFilter {
        object: Epr::new(uri(model::CS), f.cs_sel()),
        kind: AssociationKind::AssociatedInstances,
        association_class: Some("Msvm_ElementSettingData".into()),
        result_class: Some("Msvm_ReplicationSettingData".into()),
        role: Some("ManagedElement".into()),
        result_role: Some("SettingData".into()),
    };
    let e = Enumerate {
        filter: Some(Filter::Association(a)),
        mode: EnumerationMode::ObjectAndEpr,
        optimize: true,
        max_elements: Some(10),
    };
    let ResponseBody::Enumeration(page) = f.send(f.r, &request::enumerate(&h, &e)) else {
        panic!()
    };
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].instance.as_ref().unwrap().class_name,
        "Msvm_ReplicationSettingData"
    );
    assert_eq!(
        page.items[0].epr.as_ref().unwrap().selectors.get("InstanceID"),
        Some(model::relationship_id(&f.vm).as_str())
    );
}

#[test]
fn planned_failover_through_envelopes() {
    let mut f = fx();
    let wait = |f: &mut Fx| {
        f.now += Duration::from_secs(2);
    };
    // Stop, prepare (on the VM), fail over, reverse (on the service), start.
    let h = f.hdr(&uri(model::CS)).with_selectors(f.cs_sel());
    let out = instance(f.send(
        f.p,
        &request::invoke(
            &h,
            "RequestStateChange",
            &[("RequestedState".into(), Value::Scalar(Scalar::Uint16(3)))],
        ),
    ));
    let out = MethodOutput::from_instance(out).unwrap();
    assert_eq!(out.return_value, Some(4096));
    let job_id = out.job_instance_id().unwrap().to_owned();
    wait(&mut f);
    let h = f
        .hdr(&uri(model::JOB))
        .with_selectors(SelectorSet::new().with("InstanceID", job_id));
    let j = instance(f.send(f.p, &request::get(&h)));
    assert_eq!(j.get_u16("JobState"), Some(7));
    assert_eq!(j.get_u16("PercentComplete"), Some(100));

    let h = f.hdr(&uri(model::CS)).with_selectors(f.cs_sel());
    let params = vec![
        ("ReplicationRelationship".to_owned(), Value::Null),
        ("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(4))),
        ("TimeoutPeriod".to_owned(), Value::Null),
    ];
    let out = MethodOutput::from_instance(instance(f.send(
        f.p,
        &request::invoke(&h, "RequestReplicationStateChangeEx", &params),
    )))
    .unwrap();
    assert_eq!(out.return_value, Some(4096));
    wait(&mut f);

    let svc = SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService");
    let vm_ref = Value::Reference(Epr::new(uri(model::CS), f.cs_sel()));
    let h = f.hdr(&uri(model::SVC)).with_selectors(svc.clone());
    let params = vec![
        ("ComputerSystem".to_owned(), vm_ref.clone()),
        ("SnapshotSettingData".to_owned(), Value::Null),
    ];
    let out = MethodOutput::from_instance(instance(
        f.send(f.r, &request::invoke(&h, "InitiateFailover", &params)),
    ))
    .unwrap();
    assert_eq!(out.return_value, Some(4096));
    wait(&mut f);

    // The RSD as the client reads it, modified, sent back as an embedded instance written by
    // the client library (DMTF datetimes inside CIM-XML).
    let h = f
        .hdr(&uri(model::RSD))
        .with_selectors(SelectorSet::new().with("InstanceID", model::relationship_id(&f.vm)));
    let mut rsd = instance(f.send(f.r, &request::get(&h)));
    let primary = rsd.get_str("PrimaryConnectionPoint").unwrap().to_owned();
    rsd.set("RecoveryConnectionPoint", Value::Scalar(Scalar::String(primary)));
    rsd.set("RecoveryServerPortNumber", Value::Scalar(Scalar::Uint16(80)));
    rsd.set("AuthenticationType", Value::Scalar(Scalar::Uint16(1)));
    let h = f.hdr(&uri(model::SVC)).with_selectors(svc.clone());
    let reverse = |f: &mut Fx, rsd: Instance| {
        let params = vec![
            ("ComputerSystem".to_owned(), vm_ref.clone()),
            (
                "ReplicationSettingData".to_owned(),
                Value::Instance(Box::new(rsd)),
            ),
        ];
        MethodOutput::from_instance(instance(f.send(
            f.r,
            &request::invoke(&h, "ReverseReplicationRelationship", &params),
        )))
        .unwrap()
    };
    // As read (WS-Management XML carries no types): every value and null goes as a string,
    // which the class refuses (incorrect data type), before any job starts.
    let untyped = reverse(&mut f, rsd.clone());
    assert_eq!(
        (untyped.return_value, untyped.job_instance_id()),
        (Some(32776), None)
    );
    // Typed from the class schema, nulls included.
    let schema = mof::retype_schema(mof::REPLICATION_SETTING_DATA);
    let out = reverse(&mut f, rsd.retyped(&schema).unwrap());
    assert_eq!(out.return_value, Some(4096));
    let job = out.job_instance_id().unwrap().to_owned();
    wait(&mut f);
    let h = f
        .hdr(&uri(model::JOB))
        .with_selectors(SelectorSet::new().with("InstanceID", job));
    let j = instance(f.send(f.r, &request::get(&h)));
    assert_eq!(
        (j.get_u16("JobState"), j.get_u16("ErrorCode")),
        (Some(7), Some(0)),
        "{j:?}"
    );
    let h = f.hdr(&uri(model::CS)).with_selectors(f.cs_sel());
    let vm = instance(f.send(f.r, &request::get(&h)));
    assert_eq!(
        (vm.get_u16("ReplicationMode"), vm.get_u16("ReplicationState")),
        (Some(1), Some(3))
    );
    let vm = instance(f.send(f.p, &request::get(&h)));
    assert_eq!(
        (vm.get_u16("ReplicationMode"), vm.get_u16("ReplicationState")),
        (Some(2), Some(3))
    );
}

#[test]
fn strict_input_is_refused_like_windows() {
    let mut f = fx();
    let svc = SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService");
    let h = f.hdr(&uri(model::SVC)).with_selectors(svc);
    let vm_ref = Value::Reference(Epr::new(uri(model::CS), f.cs_sel()));
    let good = request::invoke(&h, "InitiateFailover", &[("ComputerSystem".to_owned(), vm_ref)]);
    // A REF wrapped in a:EndpointReference.
    let wrapped = good.replace("<p:ComputerSystem>", "<p:ComputerSystem><a:EndpointReference xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">").replace(
        "</p:ComputerSystem>",
        "</a:EndpointReference></p:ComputerSystem>",
    );
    assert_ne!(wrapped, good);
    let err = parse_request(wrapped.as_bytes(), &Limits::default()).unwrap_err();
    assert!(matches!(err, wsman_soap::Error::Schema(_)), "{err:?}");
    // An embedded instance in the WS-Man element form instead of CIM-XML text.
    let h = f
        .hdr(&uri(model::SVC))
        .with_selectors(SelectorSet::new().with("CreationClassName", "Msvm_ReplicationService"));
    let xml = request::invoke(&h, "ReverseReplicationRelationship", &[("ReplicationSettingData".to_owned(), Value::Null)]).replace(
        "<p:ReplicationSettingData xsi:nil=\"true\"/>",
        "<p:ReplicationSettingData><q:Msvm_ReplicationSettingData xmlns:q=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationSettingData\"><q:InstanceID>x</q:InstanceID></q:Msvm_ReplicationSettingData></p:ReplicationSettingData>",
    );
    assert!(xml.contains("q:InstanceID"));
    let err = parse_request(xml.as_bytes(), &Limits::default()).unwrap_err();
    assert!(matches!(err, wsman_soap::Error::Schema(_)), "{err:?}");
}

/// MaxElements must be a positive integer no larger than the listener's MaxBatchItems
/// (default 32000, [MS-WSMAN 3.2.4.1.6], [MS-WSMV 2.2.4.10]), on an optimized Enumerate and on
/// a Pull: above it (or 0) the request is refused with InvalidBatchParameter, and a refused
/// Pull leaves the context open.
#[test]
fn max_elements_above_max_batch_items_is_refused() {
    let mut f = fx();
    let optimized = |max_elements| Enumerate {
        filter: None,
        mode: EnumerationMode::Objects,
        optimize: true,
        max_elements,
    };
    let h = f.hdr(&uri(model::CS));
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &optimized(Some(32000))))
    else {
        panic!()
    };
    assert_eq!(page.items.len(), 3, "32000 is the default MaxBatchItems: allowed");
    for refused in [32001, u32::MAX, 0] {
        let h = f.hdr(&uri(model::CS));
        let e = fault(f.send(f.p, &request::enumerate(&h, &optimized(Some(refused)))));
        assert_eq!(
            (e.code.as_str(), e.subcode.as_deref(), e.wsman_code),
            ("Sender", Some("InvalidBatchParameter"), Some(0x8033_802F)),
            "MaxElements {refused}"
        );
    }
    assert!(f.store.is_empty(), "a refused Enumerate opens no context");

    // A store with MaxBatchItems 2: Pull 3 is refused, the context survives, Pull 2 works.
    f.store = EnumStore::new(Duration::from_secs(30)).with_max_batch_items(2);
    let h = f.hdr(&uri(model::CS));
    let e = Enumerate {
        optimize: false,
        ..optimized(None)
    };
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &e)) else {
        panic!()
    };
    let ctx = page.context.unwrap();
    let h = f.hdr(&uri(model::CS));
    let e = fault(f.send(f.p, &request::pull(&h, &ctx, Some(3))));
    assert_eq!(e.subcode.as_deref(), Some("InvalidBatchParameter"));
    assert!(e.best_message().unwrap().contains("MaxBatchItems (2)"), "{e:?}");
    let h = f.hdr(&uri(model::CS));
    let ResponseBody::Enumeration(p) = f.send(f.p, &request::pull(&h, &ctx, Some(2))) else {
        panic!()
    };
    assert_eq!(p.items.len(), 2);
    let h = f.hdr(&uri(model::CS));
    assert_eq!(
        fault(f.send(f.p, &request::enumerate(&h, &optimized(Some(3)))))
            .subcode
            .as_deref(),
        Some("InvalidBatchParameter")
    );
}

/// A filter goes only on the all-classes URI `…/v2/*` without selectors, and `*` is never
/// enumerated without a filter: CannotProcessFilter with the WMI provider's text (MS docs
/// "Querying for Specific Instances of a Resource"; r4sd/go-wsman's real-host report).
#[test]
fn filters_need_the_star_uri_and_the_star_uri_needs_a_filter() {
    let mut f = fx();
    let all = wmi_all_classes_uri("root/virtualization/v2");
    let wql = |q: &str| Enumerate {
        filter: Some(Filter::Wql(q.to_owned())),
        ..Enumerate::default()
    };
    let provider_text = |b: ResponseBody| {
        let flt = fault(b);
        assert_eq!(flt.known(), Some(KnownFault::CannotProcessFilter));
        assert_eq!(flt.wsman_code, Some(0x8033_801A));
        flt.best_message().unwrap().to_owned()
    };
    // Class URI + filter.
    let h = f.hdr(&uri(model::CS));
    let text = provider_text(f.send(
        f.p,
        &request::enumerate(&h, &wql("SELECT * FROM Msvm_ComputerSystem")),
    ));
    assert!(text.contains("class name must be '*'"), "{text}");
    // `*` + filter + selectors.
    let h = f.hdr(&all).with_selectors(f.cs_sel());
    let text = provider_text(f.send(
        f.p,
        &request::enumerate(&h, &wql("SELECT * FROM Msvm_ComputerSystem")),
    ));
    assert!(text.contains("cannot contain keys"), "{text}");
    // `*` without a filter.
    let h = f.hdr(&all);
    let text = provider_text(f.send(f.p, &request::enumerate(&h, &Enumerate::default())));
    assert!(text.contains("requires a filter"), "{text}");
    // The accepted shape.
    let h = f.hdr(&all);
    let e = Enumerate {
        optimize: true,
        max_elements: Some(10),
        ..wql("SELECT * FROM Msvm_ComputerSystem")
    };
    let ResponseBody::Enumeration(page) = f.send(f.p, &request::enumerate(&h, &e)) else {
        panic!()
    };
    assert_eq!(page.items.len(), 3);
}
