//! Finding VMs, settings and the replication service.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv::{ErrorClass, VmRef};
use support::*;
use wsman_soap::{AssociationKind, EnumerationMode, Filter, Instance, Limits, ResponseBody};

const A: &str = "AAAAAAAA-0000-4000-8000-000000000001";
const B: &str = "BBBBBBBB-0000-4000-8000-000000000002";

#[test]
fn wql_string_literals_escape_backslash_and_quote() {
    assert_eq!(hyperv::wql_string("web01"), "'web01'");
    assert_eq!(hyperv::wql_string("O'Brien\\db"), r"'O\'Brien\\db'");
    assert_eq!(hyperv::wql_string(r"\'"), r"'\\\''");
    assert_eq!(hyperv::wql_string("say \"hi\""), "'say \"hi\"'");
    assert_eq!(
        hyperv::query::vm_by_name_query("it's"),
        r"SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'it\'s'"
    );
}

#[test]
fn find_by_name_sends_escaped_wql_to_the_all_classes_uri() {
    let fake = Fake::new("hv02", |_| Reply::Items(items(vec![vm(A, "O'Brien", 0, 0, 3)])));
    let v = block_on(hyperv::find_vm(&fake, &VmRef::parse("O'Brien"))).unwrap();
    assert_eq!(v.guid, A);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let Call::Enumerate { uri, request } = &calls[0] else {
        panic!()
    };
    assert_eq!(uri, &support::uri("*"));
    assert_eq!(
        request.filter,
        Some(Filter::Wql(
            r"SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'O\'Brien'".into()
        ))
    );
}

#[test]
fn cannot_process_filter_falls_back_to_client_side_filtering() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { request, .. } if request.filter.is_some() => Reply::Err(cannot_process_filter()),
        Call::Enumerate { uri, request } => {
            assert!(
                uri.ends_with("/root/virtualization/v2/Msvm_ComputerSystem"),
                "{uri}"
            );
            assert_eq!(request.filter, None);
            Reply::Items(items(vec![
                host_instance("HV02"),
                vm(A, "db01", 0, 0, 3),
                vm(B, "WEB01", 2, 5, 3),
            ]))
        }
        other => panic!("unexpected {other:?}"),
    });
    let v = block_on(hyperv::find_vm(&fake, &VmRef::parse("web01"))).unwrap();
    assert_eq!(v.guid, B, "case-insensitive, as WQL = and Get-VM");
    assert_eq!(v.name, "WEB01");
    assert_eq!(fake.summaries(), ["Enumerate *", "Enumerate Msvm_ComputerSystem"]);

    let e = block_on(hyperv::find_vm(&fake, &VmRef::parse("HV02"))).unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "the host instance is not a VM");
    assert_eq!(e.to_string(), "no virtual machine named 'HV02' on hv02");
}

#[test]
fn two_vms_with_one_name_is_ambiguous_and_lists_guids() {
    let fake = Fake::new("hv02", |_| {
        Reply::Items(items(vec![vm(A, "web01", 0, 0, 3), vm(B, "web01", 0, 0, 3)]))
    });
    let e = block_on(hyperv::find_vm(&fake, &VmRef::parse("web01"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("2 virtual machines named 'web01' on hv02 ({A}, {B}); name one by its GUID")
    );
    assert_eq!(e.class(), ErrorClass::Usage);
}

#[test]
fn find_by_guid_gets_with_both_keys_and_falls_back_to_the_name() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Get { selectors, .. } => {
            assert_eq!(
                selectors.iter().collect::<Vec<_>>(),
                [("CreationClassName", "Msvm_ComputerSystem"), ("Name", A)]
            );
            Reply::Instance(vm(A, "web01", 0, 0, 3))
        }
        other => panic!("unexpected {other:?}"),
    });
    let v = block_on(hyperv::find_vm(
        &fake,
        &VmRef::parse(&format!("{{{}}}", A.to_lowercase())),
    ))
    .unwrap();
    assert_eq!(v.name, "web01");

    let fake = Fake::new("hv02", |call| match call {
        Call::Get { .. } => Reply::Err(not_found()),
        Call::Enumerate { .. } => Reply::Items(vec![]),
        Call::Invoke { .. } => panic!(),
    });
    let e = block_on(hyperv::find_vm(&fake, &VmRef::Guid(A.into()))).unwrap_err();
    assert_eq!(e.to_string(), format!("no virtual machine with GUID {A} on hv02"));
    assert_eq!(fake.summaries(), ["Get Msvm_ComputerSystem", "Enumerate *"]);
}

#[test]
fn other_faults_are_not_not_found() {
    let fake = Fake::new("hv02", |_| Reply::Err(fault(0x8007_0005, "AccessDenied")));
    let e = block_on(hyperv::find_vm(&fake, &VmRef::parse("web01"))).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert!(
        e.to_string()
            .starts_with("Enumerate Msvm_ComputerSystem (WQL) on hv02 failed: access denied"),
        "{e}"
    );
    let fake = Fake::new("hv02", |_| {
        Reply::Err(hyperv::TransportError::Auth("401 after NTLM".into()))
    });
    let e = block_on(hyperv::list_vms(&fake)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert_eq!(e.exit_code(), 3);
}

#[test]
fn settings_fall_back_to_the_element_setting_data_association() {
    let v = hyperv::Vm::from_instance(&vm(A, "web01", 2, 5, 3)).unwrap();
    let fake = Fake::new("hv02", |call| match call {
        Call::Get { uri, selectors } => {
            assert!(uri.ends_with("Msvm_ReplicationSettingData"));
            assert_eq!(
                selectors.get("InstanceID"),
                Some(format!("Microsoft:{A}\\HVR\\0").as_str())
            );
            Reply::Err(not_found())
        }
        Call::Enumerate { uri, request } => {
            assert_eq!(uri, &support::uri("*"));
            let Some(Filter::Association(a)) = &request.filter else {
                panic!()
            };
            assert_eq!(a.kind, AssociationKind::AssociatedInstances);
            assert_eq!(a.association_class.as_deref(), Some("Msvm_ElementSettingData"));
            assert_eq!(a.result_class.as_deref(), Some("Msvm_ReplicationSettingData"));
            assert_eq!(a.object.selectors.get("Name"), Some(A));
            let mut extended = rsd(A);
            extended.set("InstanceID", s(&format!("Microsoft:{A}\\HVR\\1")));
            extended.set("PrimaryConnectionPoint", s("wrong"));
            Reply::Items(items(vec![extended, rsd(A)]))
        }
        Call::Invoke { .. } => panic!(),
    });
    let st = block_on(hyperv::replication_settings(&fake, &v)).unwrap();
    assert_eq!(st.instance_id, format!("Microsoft:{A}\\HVR\\0"));
    assert_eq!(st.primary_connection_point.as_deref(), Some("hv01.contoso.com"));

    let empty = Fake::new("hv02", |call| match call {
        Call::Get { .. } => Reply::Err(not_found()),
        _ => Reply::Items(vec![]),
    });
    let e = block_on(hyperv::replication_settings(&empty, &v)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "web01 on hv02 has no replication settings (replication is not enabled for it)"
    );
}

#[test]
fn the_service_epr_comes_from_enumerate_object_and_epr_or_its_keys() {
    let fake = Fake::new("hv02", |call| {
        let Call::Enumerate { request, .. } = call else {
            panic!()
        };
        assert_eq!(request.mode, EnumerationMode::ObjectAndEpr);
        Reply::Items(service_items("hv02"))
    });
    let epr = block_on(hyperv::replication_service(&fake)).unwrap();
    assert_eq!(epr.selectors.get("SystemName"), Some("HV02"));

    let fake = Fake::new("hv02", |_| {
        Reply::Items(vec![wsman_soap::Item {
            instance: Some(
                Instance::new("Msvm_ReplicationService")
                    .with("CreationClassName", s("Msvm_ReplicationService"))
                    .with("Name", s("replicasvc"))
                    .with("SystemCreationClassName", s("Msvm_ComputerSystem"))
                    .with("SystemName", s("HV02")),
            ),
            epr: None,
        }])
    });
    let epr = block_on(hyperv::replication_service(&fake)).unwrap();
    assert_eq!(
        epr.selectors.iter().collect::<Vec<_>>(),
        [
            ("CreationClassName", "Msvm_ReplicationService"),
            ("Name", "replicasvc"),
            ("SystemCreationClassName", "Msvm_ComputerSystem"),
            ("SystemName", "HV02")
        ]
    );
    assert_eq!(epr.resource_uri, uri("Msvm_ReplicationService"));
}

#[test]
fn list_vms_leaves_out_the_host() {
    let fake = Fake::new("hv02", |_| {
        Reply::Items(items(vec![
            host_instance("HV02"),
            vm(A, "a", 1, 3, 2),
            vm(B, "b", 2, 3, 3),
        ]))
    });
    let vms = block_on(hyperv::list_vms(&fake)).unwrap();
    assert_eq!(
        vms.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(vms[0].ps_replication_state.name(), "Replicating");
    assert_eq!(vms[0].enabled_state.name(), "Running");
}

/// The real recording from a Hyper-V host (fixture 08): a VM off, not replicated, with
/// `LastReplicationTime` 1601-01-01 ("never") and a localized Caption.
#[test]
fn a_real_msvm_computersystem_reads_as_a_vm() {
    let xml = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/real/08_r4sd_recorded_msvm_computersystem_pull_vm_off.xml"
    ))
    .unwrap();
    let resp = wsman_soap::parse_response(&xml, &Limits::default()).unwrap();
    let ResponseBody::Enumeration(page) = resp.body else {
        panic!()
    };
    let inst = page.items[0].instance.as_ref().unwrap();
    assert!(hyperv::Vm::is_vm_instance(inst));
    let v = hyperv::Vm::from_instance(inst).unwrap();
    assert_eq!(v.name, "scrubbed-9");
    assert_eq!(v.guid, "00000000-0000-4000-8000-000000000012");
    assert_eq!(v.enabled_state, hyperv::EnabledState::Off);
    assert_eq!(v.replication_mode, hyperv::ReplicationMode::None);
    assert_eq!(v.ps_replication_state.name(), "Disabled");
    assert_eq!(v.last_replication_time, None, "1601-01-01 means never");
}

/// `find_vms` on several names is one WQL query (an OR of the names; a GUID also as a name),
/// whatever their number; each name gets what `find_vm` would give it.
#[test]
fn several_vms_are_found_with_one_query() {
    let fake = Fake::new("hv02", |_| {
        Reply::Items(items(vec![vm(A, "web01", 0, 0, 3), vm(B, "DB01", 2, 5, 3)]))
    });
    let refs = [
        VmRef::parse("web01"),
        VmRef::parse("db01"),
        VmRef::parse("nosuch"),
        VmRef::parse(B),
    ];
    let found = block_on(hyperv::find_vms(&fake, &refs)).unwrap();
    assert_eq!(fake.calls().len(), 1, "{:?}", fake.summaries());
    let Call::Enumerate { uri, request } = &fake.calls()[0] else {
        panic!()
    };
    assert_eq!(uri, &support::uri("*"));
    assert_eq!(
        request.filter,
        Some(Filter::Wql(format!(
            "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'web01' OR ElementName = 'db01' \
             OR ElementName = 'nosuch' OR Name = '{B}' OR ElementName = '{B}'"
        )))
    );
    let guids: Vec<_> = found
        .iter()
        .map(|r| r.as_ref().map(|v| v.guid.clone()).map_err(|e| e.to_string()))
        .collect();
    assert_eq!(
        guids,
        vec![
            Ok(A.to_owned()),
            Ok(B.to_owned()),
            Err("no virtual machine named 'nosuch' on hv02".to_owned()),
            Ok(B.to_owned()),
        ]
    );
}

#[test]
fn many_vms_are_matched_against_one_listing() {
    let names: Vec<String> = (0..=hyperv::MAX_NAMES_PER_QUERY)
        .map(|i| format!("vm{i}"))
        .collect();
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { request, .. } if request.filter.is_none() => Reply::Items(items(vec![
            host_instance("HV02"),
            vm(A, "vm1", 0, 0, 3),
            vm(B, "vm1", 0, 0, 3),
        ])),
        other => panic!("unexpected {other:?}"),
    });
    let refs: Vec<VmRef> = names.iter().map(|n| VmRef::parse(n)).collect();
    let found = block_on(hyperv::find_vms(&fake, &refs)).unwrap();
    assert_eq!(fake.summaries(), ["Enumerate Msvm_ComputerSystem"]);
    assert_eq!(found.len(), names.len());
    assert_eq!(found[0].as_ref().unwrap_err().class(), ErrorClass::NotFound);
    assert!(
        matches!(found[1], Err(hyperv::Error::Ambiguous { .. })),
        "{:?}",
        found[1]
    );
}

#[test]
fn several_vms_fall_back_to_a_listing_when_the_filter_is_refused() {
    let fake = Fake::new("hv02", |call| match call {
        Call::Enumerate { request, .. } if request.filter.is_some() => Reply::Err(cannot_process_filter()),
        Call::Enumerate { .. } => Reply::Items(items(vec![vm(A, "web01", 0, 0, 3), vm(B, "db01", 0, 0, 3)])),
        other => panic!("unexpected {other:?}"),
    });
    let found = block_on(hyperv::find_vms(
        &fake,
        &[VmRef::parse("db01"), VmRef::parse("web01")],
    ))
    .unwrap();
    assert_eq!(fake.summaries(), ["Enumerate *", "Enumerate Msvm_ComputerSystem"]);
    assert_eq!(found[0].as_ref().unwrap().guid, B);
    assert_eq!(found[1].as_ref().unwrap().guid, A);
    // One VM is the single-VM lookup; a failed query is the outer error.
    let one = block_on(hyperv::find_vms(&fake, &[VmRef::parse("nosuch")])).unwrap();
    assert_eq!(one[0].as_ref().unwrap_err().class(), ErrorClass::NotFound);
}
