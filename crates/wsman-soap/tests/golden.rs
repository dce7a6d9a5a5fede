//! Golden request envelopes: every call of the reverse-replication and planned-failover
//! workflow is built with the builders (fixed MessageID) and compared byte for byte with
//! `fixtures/wsman/<area>/<name>.request.xml`. `UPDATE_GOLDEN=1` rewrites the files.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use wsman_soap::*;

pub const TO: &str = "http://hv-replica.contoso.test:5985/wsman";
pub const VM: &str = "8A1F7C2E-3B4D-4E5F-9A0B-1C2D3E4F5A6B";
pub const JOB: &str = "3A7C9E10-5B2D-4F6A-8C1E-9D0B2A4C6E8F";
const V2: &str = "root/virtualization/v2";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/wsman")
}

fn header(class: &str, n: u32) -> RequestHeader {
    RequestHeader::new(
        TO,
        wmi_resource_uri(V2, class),
        format!("uuid:00000000-0000-4000-8000-{n:012}"),
    )
}

fn vm_selectors() -> SelectorSet {
    SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", VM)
}

fn vm_epr() -> Epr {
    Epr::new(wmi_resource_uri(V2, "Msvm_ComputerSystem"), vm_selectors())
}

fn service_selectors() -> SelectorSet {
    SelectorSet::new()
        .with("CreationClassName", "Msvm_ReplicationService")
        .with("Name", "replicasvc")
        .with("SystemCreationClassName", "Msvm_ComputerSystem")
        .with("SystemName", "HV-REPLICA")
}

fn rsd() -> Instance {
    Instance::new("Msvm_ReplicationSettingData")
        .with("InstanceID", Scalar::String(format!("Microsoft:{VM}\\HVR\\0")))
        .with("AuthenticationType", Scalar::Uint16(1))
        .with(
            "AutoResynchronizeIntervalStart",
            Scalar::Datetime(CimDateTime::Interval {
                days: 0,
                hours: 18,
                minutes: 30,
                seconds: 0,
                microseconds: 0,
            }),
        )
        .with(
            "AutomaticRecoveryAction",
            Value::TypedNull {
                cim_type: CimType::Uint16,
                array: false,
            },
        )
        .with("BypassProxyServer", Scalar::Boolean(false))
        .with(
            "CertificateThumbPrint",
            Value::TypedNull {
                cim_type: CimType::String,
                array: false,
            },
        )
        .with(
            "PrimaryConnectionPoint",
            Scalar::String("hv-primary.contoso.test".into()),
        )
        .with(
            "RecoveryConnectionPoint",
            Scalar::String("hv-primary.contoso.test".into()),
        )
        .with("RecoveryServerPortNumber", Scalar::Uint16(80))
        .with("ReplicationInterval", Scalar::Uint16(300))
        .with("Note", Scalar::String("odd ]]> & <chars>".into()))
}

/// (area/name, request text)
pub fn requests() -> Vec<(&'static str, String)> {
    let all = |n| {
        RequestHeader::new(
            TO,
            wmi_all_classes_uri(V2),
            format!("uuid:00000000-0000-4000-8000-{n:012}"),
        )
    };
    let service = |n| header("Msvm_ReplicationService", n).with_selectors(service_selectors());
    let vm = |n| header("Msvm_ComputerSystem", n).with_selectors(vm_selectors());
    let job = |n| header("Msvm_ConcreteJob", n).with_selectors(SelectorSet::new().with("InstanceID", JOB));
    vec![
        ("identify/identify", identify()),
        (
            "enumerate/find_vm_wql",
            enumerate(
                &all(1),
                &Enumerate {
                    filter: Some(Filter::Wql(
                        "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'vm-sql01'".into(),
                    )),
                    mode: EnumerationMode::Objects,
                    optimize: false,
                    max_elements: None,
                },
            ),
        ),
        (
            "enumerate/find_vm_pull",
            pull(&all(2), "uuid:5F0C1D2E-0000-4000-8000-00000000C0DE", Some(20)),
        ),
        (
            "enumerate/release",
            release(&all(3), "uuid:5F0C1D2E-0000-4000-8000-00000000C0DE"),
        ),
        (
            "get/replication_setting_data",
            get(&header("Msvm_ReplicationSettingData", 4)
                .with_selectors(SelectorSet::new().with("InstanceID", format!("Microsoft:{VM}\\HVR\\0")))),
        ),
        (
            "enumerate/rsd_association",
            enumerate(
                &all(5),
                &Enumerate {
                    filter: Some(Filter::Association(AssociationFilter {
                        object: vm_epr(),
                        kind: AssociationKind::AssociatedInstances,
                        association_class: Some("Msvm_ElementSettingData".into()),
                        result_class: Some("Msvm_ReplicationSettingData".into()),
                        role: Some("ManagedElement".into()),
                        result_role: Some("SettingData".into()),
                    })),
                    mode: EnumerationMode::ObjectAndEpr,
                    optimize: true,
                    max_elements: Some(32000),
                },
            ),
        ),
        (
            "enumerate/replication_service_epr",
            enumerate(
                &header("Msvm_ReplicationService", 6),
                &Enumerate {
                    filter: None,
                    mode: EnumerationMode::Epr,
                    optimize: true,
                    max_elements: Some(10),
                },
            ),
        ),
        (
            "invoke/request_replication_state_change_ex",
            invoke(
                &vm(7),
                "RequestReplicationStateChangeEx",
                &[
                    ("ReplicationRelationship".into(), Value::Null),
                    ("RequestedState".into(), Value::Scalar(Scalar::Uint16(4))),
                    ("TimeoutPeriod".into(), Value::Null),
                ],
            ),
        ),
        (
            "invoke/initiate_failover",
            invoke(
                &service(8),
                "InitiateFailover",
                &[
                    ("ComputerSystem".into(), Value::Reference(vm_epr())),
                    ("SnapshotSettingData".into(), Value::Null),
                ],
            ),
        ),
        (
            "invoke/reverse_replication_relationship",
            invoke(
                &service(9),
                "ReverseReplicationRelationship",
                &[
                    ("ComputerSystem".into(), Value::Reference(vm_epr())),
                    ("ReplicationSettingData".into(), rsd().into()),
                ],
            ),
        ),
        (
            "invoke/commit_failover",
            invoke(
                &service(10),
                "CommitFailover",
                &[("ComputerSystem".into(), Value::Reference(vm_epr()))],
            ),
        ),
        (
            "invoke/revert_failover",
            invoke(
                &service(11),
                "RevertFailover",
                &[("ComputerSystem".into(), Value::Reference(vm_epr()))],
            ),
        ),
        (
            "invoke/request_state_change",
            invoke(
                &vm(12),
                "RequestStateChange",
                &[
                    ("RequestedState".into(), Value::Scalar(Scalar::Uint16(2))),
                    (
                        "TimeoutPeriod".into(),
                        Value::Scalar(Scalar::Datetime(CimDateTime::interval(Duration::from_secs(90)))),
                    ),
                ],
            ),
        ),
        ("get/concrete_job", get(&job(13))),
        ("invoke/get_error_ex", invoke(&job(14), "GetErrorEx", &[])),
        (
            "invoke/resynchronize_start_time",
            invoke(
                &service(15),
                "Resynchronize",
                &[
                    ("ComputerSystem".into(), Value::Reference(vm_epr())),
                    (
                        "StartTime".into(),
                        Value::Scalar(Scalar::Datetime(
                            CimDateTime::parse_iso8601("2026-11-25T18:30:00+01:00").unwrap(),
                        )),
                    ),
                ],
            ),
        ),
    ]
}

#[test]
fn request_envelopes_match_golden_files_byte_for_byte() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for (name, text) in requests() {
        let path = fixtures().join(format!("{name}.request.xml"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", path.display()));
        if golden != text {
            mismatches.push(name);
        }
    }
    assert!(
        mismatches.is_empty(),
        "requests differ from golden files: {mismatches:?}"
    );
}

#[test]
fn golden_requests_parse_back_through_the_server_parser() {
    let limits = Limits::default();
    for (name, text) in requests() {
        let r = parse_request(text.as_bytes(), &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name != "identify/identify" {
            assert!(
                r.header.message_id.starts_with("uuid:00000000-0000-4000-8000-"),
                "{name}"
            );
            assert_eq!(r.header.to.as_deref(), Some(TO));
            assert_eq!(r.header.operation_timeout, Some(Duration::from_secs(60)));
            assert_eq!(r.header.max_envelope_size, Some(512_000));
            assert_eq!(r.header.locale.as_deref(), Some("en-US"));
        }
    }
}

#[test]
fn reverse_replication_request_carries_ref_and_cdata_cim_xml() {
    let (_, text) = requests()
        .into_iter()
        .find(|(n, _)| *n == "invoke/reverse_replication_relationship")
        .unwrap();
    let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
    let RequestBody::Invoke { method, params } = r.body else {
        panic!("not an invoke: {:?}", r.body)
    };
    assert_eq!(method, "ReverseReplicationRelationship");
    assert_eq!(
        params[0],
        ("ComputerSystem".to_owned(), Value::Reference(vm_epr()))
    );
    let Value::Scalar(Scalar::String(cimxml)) = &params[1].1 else {
        panic!("{:?}", params[1])
    };
    let back = cimxml::parse_instance(cimxml, &Limits::default()).unwrap();
    assert_eq!(back, rsd());
    assert!(text.contains("<![CDATA[<INSTANCE CLASSNAME=\"Msvm_ReplicationSettingData\">"));
    assert!(text.contains("<VALUE>00000000183000.000000:000</VALUE>"));
    assert!(!text.contains("EndpointReference"));
    assert_eq!(
        r.header.action,
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService/ReverseReplicationRelationship"
    );
    assert_eq!(r.header.selectors, service_selectors());
}

#[test]
fn wql_and_association_enumerates_parse_back_equal() {
    let reqs = requests();
    let find = |n: &str| reqs.iter().find(|(x, _)| *x == n).unwrap().1.clone();
    let r = parse_request(find("enumerate/rsd_association").as_bytes(), &Limits::default()).unwrap();
    let RequestBody::Enumerate(e) = r.body else {
        panic!()
    };
    assert_eq!(e.mode, EnumerationMode::ObjectAndEpr);
    assert!(e.optimize);
    assert_eq!(e.max_elements, Some(32000));
    let Some(Filter::Association(a)) = e.filter else {
        panic!()
    };
    assert_eq!(a.object, vm_epr());
    assert_eq!(a.result_class.as_deref(), Some("Msvm_ReplicationSettingData"));
    assert_eq!(a.result_role.as_deref(), Some("SettingData"));
    let r = parse_request(find("enumerate/find_vm_wql").as_bytes(), &Limits::default()).unwrap();
    assert_eq!(
        r.header.resource_uri.as_deref(),
        Some(wmi_all_classes_uri(V2).as_str())
    );
    let RequestBody::Enumerate(e) = r.body else {
        panic!()
    };
    assert_eq!(
        e.filter,
        Some(Filter::Wql(
            "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'vm-sql01'".into()
        ))
    );
}
