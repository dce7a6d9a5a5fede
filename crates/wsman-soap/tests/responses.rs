//! Every response fixture (real recordings and constructed exchanges) parsed, with concrete
//! values asserted.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use wsman_soap::*;

const JOB: &str = "3A7C9E10-5B2D-4F6A-8C1E-9D0B2A4C6E8F";
const VM: &str = "8A1F7C2E-3B4D-4E5F-9A0B-1C2D3E4F5A6B";

fn load(rel: &str) -> Response {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_response(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn instance(rel: &str) -> Instance {
    match load(rel).body {
        ResponseBody::Instance(i) => i,
        other => panic!("{rel}: not an instance: {other:?}"),
    }
}

fn page(rel: &str) -> EnumerationPage {
    match load(rel).body {
        ResponseBody::Enumeration(p) => p,
        other => panic!("{rel}: not an enumeration: {other:?}"),
    }
}

fn fault(rel: &str) -> Fault {
    match load(rel).body {
        ResponseBody::Fault(f) => f,
        other => panic!("{rel}: not a fault: {other:?}"),
    }
}

fn output(rel: &str) -> MethodOutput {
    MethodOutput::from_instance(instance(rel)).unwrap()
}

// ---- real recordings ----

#[test]
fn real_01_quota_fault_with_msft_wmierror() {
    let f = fault("real/01_winrb_fault_msft_wmierror_quota.xml");
    assert_eq!(f.code, "Sender");
    assert_eq!(f.subcode.as_deref(), Some("QuotaLimit"));
    assert_eq!(f.subcode_ns.as_deref(), Some(ns::WSMAN));
    assert_eq!(f.action.as_deref(), Some(ns::ACTION_FAULT));
    let w = f.wmi_error.as_ref().unwrap();
    assert_eq!(w.cim_status_code, Some(27));
    assert_eq!(w.error_code, Some(2_150_859_173));
    assert_eq!(w.error_category, Some(30));
    assert_eq!(w.error_type, None); // "HRESULT" is text
    assert_eq!(w.message_id.as_deref(), Some("HRESULT 0x803381a5"));
    assert!(w
        .message
        .as_deref()
        .unwrap()
        .contains("maximum number of 30 concurrent shells"));
    assert_eq!(f.known(), Some(KnownFault::QuotaLimit));
    assert!(!f.is_timeout());
    let s = f.summary();
    assert!(s.starts_with("a WinRM quota was exceeded: "), "{s}");
    assert!(s.contains("wmi 0x803381A5"), "{s}");
}

#[test]
fn real_02_cannot_process_filter_with_provider_fault_and_extended_status() {
    let r = load("real/02_winrb_fault_wmi_provider_extendedstatus_cannotprocessfilter.xml");
    assert_eq!(
        r.header.relates_to.as_deref(),
        Some("uuid:0CB1C49A-5054-4C12-AF30-FC60BE995DD9")
    );
    r.header
        .check_relates_to("uuid:0cb1c49a-5054-4c12-af30-fc60be995dd9")
        .unwrap();
    let ResponseBody::Fault(f) = r.body else { panic!() };
    assert_eq!(f.subcode.as_deref(), Some("CannotProcessFilter"));
    assert_eq!(f.subcode_ns.as_deref(), Some(ns::ENUMERATION));
    assert_eq!(f.wsman_code, Some(0x8033_801A));
    assert_eq!(f.machine.as_deref(), Some("localhost"));
    assert_eq!(f.message, None);
    let p = f.provider.as_ref().unwrap();
    assert_eq!(p.provider.as_deref(), Some("WMI Provider"));
    assert_eq!(p.path.as_deref(), Some("%systemroot%\\system32\\WsmWmiPl.dll"));
    assert_eq!(p.wsman_code, Some(2_150_858_778));
    assert_eq!(
        p.message.as_deref(),
        Some("The specified class does not exist in the given namespace.")
    );
    let x = f.extended_status.as_ref().unwrap();
    assert_eq!(x.operation.as_deref(), Some("ExecQuery"));
    assert_eq!(
        x.parameter_info.as_deref(),
        Some("Select * from Win32_Processa where name=\"sshd.exe\"")
    );
    assert_eq!(x.provider_name.as_deref(), Some("WinMgmt"));
    assert_eq!((x.description.as_deref(), x.status_code), (None, None));
    assert_eq!(f.known(), Some(KnownFault::CannotProcessFilter));
    assert_eq!(
        f.summary(),
        "the server cannot process the filter (or the class does not exist): The specified class does not exist in the given namespace. (wsman 0x8033801A, ExecQuery Select * from Win32_Processa where name=\"sshd.exe\", Sender:CannotProcessFilter, on localhost)"
    );
}

#[test]
fn real_04_invoke_output_return_value() {
    let r = load("real/04_winrb_invoke_response_cim_datafile_delete.xml");
    assert_eq!(
        r.header.action.as_deref(),
        Some("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/CIM_DataFile/DeleteResponse")
    );
    let ResponseBody::Instance(i) = r.body else {
        panic!()
    };
    let m = MethodOutput::from_instance(i).unwrap();
    assert_eq!(m.method, "Delete");
    assert_eq!(m.return_value, Some(0));
    assert_eq!(m.job(), None);
}

#[test]
fn real_05_pull_win32_process_nil_datetime_end_of_sequence() {
    let p = page("real/05_winrb_pull_response_win32_process.xml");
    assert!(p.end_of_sequence);
    assert_eq!(p.context, None);
    assert_eq!(p.items.len(), 1);
    let i = p.items[0].instance.as_ref().unwrap();
    assert_eq!(i.class_name, "Win32_Process");
    assert_eq!(
        i.get_str("CommandLine"),
        Some("\\??\\C:\\Windows\\system32\\conhost.exe")
    );
    assert_eq!(i.get_u32("ProcessId"), Some(1100));
    assert_eq!(i.get("ExecutionState"), Some(&Value::Null));
    assert_eq!(
        i.get_datetime("CreationDate"),
        Some(&CimDateTime::Timestamp {
            year: 2013,
            month: 4,
            day: 29,
            hour: 13,
            minute: 9,
            second: 6,
            microsecond: 102_138,
            utc_offset_minutes: -420
        })
    );
    assert_eq!(
        i.get_datetime("CreationDate").unwrap().to_dmtf(),
        "20130429130906.102138-420"
    );
}

#[test]
fn real_08_hyperv_vm_off_replication_properties_never_and_localized_caption() {
    let r = load("real/08_r4sd_recorded_msvm_computersystem_pull_vm_off.xml");
    r.header
        .check_relates_to("uuid:00000000-0000-4000-8000-000000000010")
        .unwrap();
    let ResponseBody::Enumeration(p) = r.body else {
        panic!()
    };
    assert!(!p.end_of_sequence);
    assert_eq!(
        p.context.as_deref(),
        Some("uuid:00000000-0000-4000-8000-000000000011")
    );
    let vm = p.items[0].instance.as_ref().unwrap();
    assert_eq!(vm.class_name, "Msvm_ComputerSystem");
    assert_eq!(vm.get_str("Caption"), Some("仮想マシン"));
    assert_eq!(vm.get_str("StatusDescriptions"), Some("正常稼働中"));
    assert_eq!(vm.get_str("Description"), Some("Microsoft Virtual Machine"));
    assert_eq!(vm.get_u16("ReplicationMode"), Some(0));
    assert_eq!(vm.get_u16("ReplicationState"), Some(0));
    assert_eq!(vm.get_u16("EnabledState"), Some(3));
    assert_eq!(vm.get_str("Name"), Some("00000000-0000-4000-8000-000000000012"));
    assert!(vm.get_datetime("LastReplicationTime").unwrap().is_never());
    assert_eq!(vm.get_datetime("LastReplicationTime"), Some(&CimDateTime::NEVER));
    assert!(!vm.get_datetime("InstallDate").unwrap().is_never());
    assert_eq!(
        vm.get_datetime("InstallDate").unwrap().to_iso8601(),
        "2026-10-08T15:15:36.68424Z"
    );
    assert_eq!(vm.get("InstanceID"), Some(&Value::Null));
    let err = r.header.check_relates_to("uuid:other").unwrap_err();
    assert_eq!(
        err,
        Error::RelatesTo {
            expected: "uuid:other".into(),
            found: Some("uuid:00000000-0000-4000-8000-000000000010".into())
        }
    );
}

// ---- constructed exchanges ----

#[test]
fn identify_response() {
    let ResponseBody::Identify(i) = load("wsman/identify/identify.response.xml").body else {
        panic!()
    };
    assert_eq!(i.product_vendor, "Microsoft Corporation");
    assert_eq!(i.protocol_version, ns::WSMAN);
    assert_eq!(i.product_version, "OS: 10.0.20348 SP: 0.0 Stack: 3.0");
    assert_eq!(i.security_profiles.len(), 1);
    assert!(i.security_profiles[0].ends_with("spnego-kerberos"));
}

#[test]
fn find_vm_enumerate_then_pull() {
    let p = page("wsman/enumerate/find_vm_wql.response.xml");
    assert_eq!(
        p.context.as_deref(),
        Some("uuid:5F0C1D2E-0000-4000-8000-00000000C0DE")
    );
    assert!(p.items.is_empty());
    assert!(!p.end_of_sequence);
    let p = page("wsman/enumerate/find_vm_pull.response.xml");
    assert!(p.end_of_sequence);
    let vm = p.items[0].instance.as_ref().unwrap();
    assert_eq!(vm.get_str("ElementName"), Some("vm-sql01"));
    assert_eq!(vm.get_str("Name"), Some(VM));
    assert_eq!(vm.get_u16("ReplicationMode"), Some(2));
    assert_eq!(vm.get_u16("ReplicationState"), Some(5));
    assert_eq!(
        vm.get("OperationalStatus"),
        Some(&Value::Array(vec![
            Scalar::String("2".into()),
            Scalar::String("32783".into())
        ]))
    );
    assert_eq!(
        vm.get_datetime("InstallDate").unwrap().to_dmtf(),
        "20260302091407.512001+060"
    );
    assert_eq!(vm.get("TransitioningToState"), Some(&Value::Null));
}

#[test]
fn release_response_is_empty() {
    let r = load("wsman/enumerate/release.response.xml");
    assert_eq!(r.body, ResponseBody::Empty);
    r.header
        .check_relates_to("uuid:00000000-0000-4000-8000-000000000003")
        .unwrap();
}

#[test]
fn get_replication_setting_data_retypes_for_cim_xml() {
    let rsd = instance("wsman/get/replication_setting_data.response.xml");
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(
        rsd.get_str("InstanceID"),
        Some(format!("Microsoft:{VM}\\HVR\\0").as_str())
    );
    assert_eq!(
        rsd.get_str("PrimaryConnectionPoint"),
        Some("hv-primary.contoso.test")
    );
    assert_eq!(rsd.get_str("CertificateThumbPrint"), Some(""));
    assert_eq!(rsd.get("RootCertificateThumbPrint"), Some(&Value::Null));
    assert_eq!(rsd.get_bool("AutoResynchronizeEnabled"), Some(true));
    let Some(Value::Array(disks)) = rsd.get("IncludedDisks") else {
        panic!()
    };
    assert_eq!(disks.len(), 2);
    assert!(disks[0]
        .as_str()
        .unwrap()
        .contains("\\\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\\\0\\\\0\\\\D\""));
    let start = rsd.get_datetime("AutoResynchronizeIntervalStart").unwrap();
    assert_eq!(start.to_dmtf(), "00000000183000.000000:000");
    let typed = rsd
        .retyped(&[
            ("RecoveryServerPortNumber", CimType::Uint16, false),
            ("AuthenticationType", CimType::Uint16, false),
            ("BypassProxyServer", CimType::Boolean, false),
            ("IncludedDisks", CimType::String, true),
            ("ReplicationInterval", CimType::Uint16, false),
        ])
        .unwrap();
    assert_eq!(
        typed.get("RecoveryServerPortNumber"),
        Some(&Value::Scalar(Scalar::Uint16(80)))
    );
    let text = cimxml::write_instance(&typed).unwrap();
    assert!(text
        .contains("<PROPERTY NAME=\"BypassProxyServer\" TYPE=\"boolean\"><VALUE>false</VALUE></PROPERTY>"));
    assert!(text.contains("<PROPERTY NAME=\"AutoResynchronizeIntervalStart\" TYPE=\"datetime\"><VALUE>00000000183000.000000:000</VALUE>"));
    // Nil properties the schema above does not type are left out, not written as strings.
    assert_eq!(typed.get("AllowedStorageLocations"), Some(&Value::Null));
    assert!(!text.contains("AllowedStorageLocations"), "{text}");
    let mut written = typed.clone();
    written.properties.retain(|p| p.value != Value::Null);
    assert_eq!(
        cimxml::parse_instance(&text, &Limits::default()).unwrap(),
        written
    );
}

#[test]
fn association_enumerate_object_and_epr_in_optimized_response() {
    let p = page("wsman/enumerate/rsd_association.response.xml");
    assert!(p.end_of_sequence);
    assert_eq!(p.context, None);
    let item = &p.items[0];
    assert_eq!(
        item.instance
            .as_ref()
            .unwrap()
            .get_u16("RecoveryServerPortNumber"),
        Some(80)
    );
    let epr = item.epr.as_ref().unwrap();
    assert_eq!(epr.class_name(), "Msvm_ReplicationSettingData");
    assert_eq!(
        epr.selectors.get("InstanceID"),
        Some(format!("Microsoft:{VM}\\HVR\\0").as_str())
    );
}

#[test]
fn replication_service_epr_enumeration() {
    let p = page("wsman/enumerate/replication_service_epr.response.xml");
    let epr = p.items[0].epr.as_ref().unwrap();
    assert!(p.items[0].instance.is_none());
    assert_eq!(epr.address, ns::ANONYMOUS);
    assert_eq!(epr.selectors.len(), 4);
    assert_eq!(epr.selectors.get("SystemName"), Some("HV-REPLICA"));
}

#[test]
fn workflow_invoke_outputs() {
    for (file, method, rv, job) in [
        (
            "request_replication_state_change_ex",
            "RequestReplicationStateChangeEx",
            4096,
            true,
        ),
        ("initiate_failover", "InitiateFailover", 4096, true),
        (
            "reverse_replication_relationship",
            "ReverseReplicationRelationship",
            4096,
            true,
        ),
        ("commit_failover", "CommitFailover", 0, false),
        ("revert_failover", "RevertFailover", 32775, false),
        ("request_state_change", "RequestStateChange", 4096, true),
    ] {
        let m = output(&format!("wsman/invoke/{file}.response.xml"));
        assert_eq!(m.method, method);
        assert_eq!(m.return_value, Some(rv), "{file}");
        assert_eq!(m.job_instance_id(), job.then_some(JOB), "{file}");
        if job {
            assert_eq!(m.job().unwrap().class_name(), "Msvm_ConcreteJob");
        }
    }
    assert_eq!(
        output("wsman/invoke/commit_failover.response.xml").out.get("Job"),
        Some(&Value::Null)
    );
}

#[test]
fn concrete_job_running_completed_failed() {
    let running = instance("wsman/get/concrete_job_running.response.xml");
    assert_eq!(running.get_u16("JobState"), Some(4));
    assert_eq!(running.get_u16("PercentComplete"), Some(40));
    assert_eq!(running.get_str("InstanceID"), Some(JOB));
    assert_eq!(
        running.get_datetime("ElapsedTime").unwrap().as_duration(),
        Some(std::time::Duration::from_micros(2_375_000))
    );
    let done = instance("wsman/get/concrete_job_completed.response.xml");
    assert_eq!(
        (done.get_u16("JobState"), done.get_u16("ErrorCode")),
        (Some(7), Some(0))
    );
    assert_eq!(done.get("ErrorDescription"), Some(&Value::Null));
    let failed = instance("wsman/get/concrete_job_failed.response.xml");
    assert_eq!(failed.get_u16("JobState"), Some(10));
    assert_eq!(failed.get_u16("ErrorCode"), Some(32768));
    assert_eq!(failed.get_u16("JobType"), Some(104));
    assert!(failed
        .get_str("ErrorDescription")
        .unwrap()
        .contains("(0x800710DD)"));
    assert_eq!(
        failed.get_str("ErrorSummaryDescription"),
        Some("Reverse replication failed.")
    );
}

#[test]
fn get_error_ex_output_carries_cim_xml_msvm_errors() {
    let m = output("wsman/invoke/get_error_ex.response.xml");
    assert_eq!(m.return_value, Some(0));
    let Some(Value::Array(errors)) = m.out.get("Errors") else {
        panic!("{:?}", m.out)
    };
    assert_eq!(errors.len(), 2);
    let e = cimxml::parse_instance(errors[0].as_str().unwrap(), &Limits::default()).unwrap();
    assert_eq!(e.class_name, "Msvm_Error");
    assert_eq!(e.get("CIMStatusCode"), Some(&Value::Scalar(Scalar::Uint32(1))));
    assert_eq!(
        e.get_str("Message"),
        Some("Failed to reverse replication for virtual machine 'vm-sql01'.")
    );
    assert_eq!(e.get_str("MessageID"), Some("32022"));
    assert!(e.get("ErrorSource").is_some_and(Value::is_null));
    assert!(e.get("RecommendedActions").is_some_and(Value::is_null));
    assert_eq!(
        e.get("MessageArguments"),
        Some(&Value::Array(vec![
            Scalar::String("vm-sql01".into()),
            Scalar::String(VM.into())
        ]))
    );
    let e2 = cimxml::parse_instance(errors[1].as_str().unwrap(), &Limits::default()).unwrap();
    assert_eq!(e2.get_str("MessageID"), Some("0x800710DD"));
}

#[test]
fn fault_access_denied() {
    let f = fault("wsman/fault/access_denied.response.xml");
    assert_eq!(f.known(), Some(KnownFault::AccessDenied));
    assert_eq!(f.wsman_code, Some(5));
    assert_eq!(f.machine.as_deref(), Some("hv-replica.contoso.test"));
    assert_eq!(f.message.as_deref(), Some("Access is denied."));
    assert_eq!(
        f.summary(),
        "access denied: Access is denied. (wsman 0x00000005, Sender:AccessDenied, on hv-replica.contoso.test)"
    );
}

#[test]
fn fault_invalid_selectors() {
    let f = fault("wsman/fault/invalid_selectors.response.xml");
    assert_eq!(f.wsman_code, Some(0x8033_803D));
    assert_eq!(f.subcode.as_deref(), Some("InvalidSelectors"));
    assert_eq!(f.known(), Some(KnownFault::InvalidSelectors));
    assert!(f
        .summary()
        .starts_with("invalid selectors for the resource: The WS-Management service"));
}

#[test]
fn fault_timed_out_is_retryable() {
    let f = fault("wsman/fault/timed_out.response.xml");
    assert_eq!(f.code, "Receiver");
    assert_eq!(f.wsman_code, Some(0x8033_8029));
    assert!(f.is_timeout());
    assert_eq!(f.known(), Some(KnownFault::OperationTimeout));
}

#[test]
fn fault_job_not_found_with_rebound_prefix_in_extended_status() {
    let f = fault("wsman/fault/job_not_found.response.xml");
    assert_eq!(f.known(), Some(KnownFault::ResourceNotFound));
    assert_eq!(f.provider.as_ref().unwrap().wsman_code, Some(0x8004_1002));
    let x = f.extended_status.as_ref().unwrap();
    assert_eq!(x.operation.as_deref(), Some("GetObject"));
    assert_eq!(x.status_code, Some(0x8004_1002));
    let s = f.summary();
    assert!(s.contains("wsman 0x80338000, provider 0x80041002"), "{s}");
}

#[test]
fn fault_max_envelope_size_exceeded_carries_the_fault_detail() {
    let f = fault("wsman/fault/max_envelope_size_exceeded.response.xml");
    assert_eq!(f.code, "Sender");
    assert_eq!(f.subcode.as_deref(), Some("EncodingLimit"));
    assert_eq!(f.subcode_ns.as_deref(), Some(ns::WSMAN));
    assert_eq!(f.wsman_code, Some(2_150_858_824));
    assert_eq!(f.wsman_code, Some(0x8033_8048));
    assert_eq!(
        f.fault_details,
        vec!["http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize".to_owned()]
    );
    assert!(f.has_fault_detail(ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE));
    assert_eq!(f.known(), Some(KnownFault::EncodingLimit));
    assert!(f.is_max_envelope_size_exceeded());
    assert_eq!(
        f.summary(),
        "the reply would exceed the request's MaxEnvelopeSize (ask for less per request, or raise \
         the client's max envelope size together with the host's MaxEnvelopeSizekb): The \
         WS-Management service cannot process the request. The computed response packet size \
         (976820) exceeds the maximum envelope size that is allowed (512000). (wsman 0x80338048, \
         detail MaxEnvelopeSize, Sender:EncodingLimit, on hv-replica.contoso.test)"
    );
}

/// Without the MaxEnvelopeSize detail an EncodingLimit fault keeps the generic wording, and a
/// fault with no `w:FaultDetail` has none.
#[test]
fn encoding_limit_without_the_detail_is_generic() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/wsman/fault/max_envelope_size_exceeded.response.xml");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("<w:FaultDetail>").unwrap();
    let end = text.find("</w:FaultDetail>").unwrap() + "</w:FaultDetail>".len();
    let stripped = format!("{}{}", &text[..start], &text[end..]);
    let ResponseBody::Fault(f) = parse_response(stripped.as_bytes(), &Limits::default())
        .unwrap()
        .body
    else {
        panic!("not a fault");
    };
    assert!(f.fault_details.is_empty());
    assert_eq!(f.known(), Some(KnownFault::EncodingLimit));
    assert!(!f.is_max_envelope_size_exceeded());
    let s = f.summary();
    assert!(
        s.starts_with("an encoding limit was exceeded (envelope too large?): "),
        "{s}"
    );
    assert!(!s.contains("detail "), "{s}");
    assert!(fault("wsman/fault/timed_out.response.xml")
        .fault_details
        .is_empty());
}

/// `w:FaultDetail` is matched by namespace URI (any prefix), only as a child of `s:Detail`,
/// trimmed, empty ones dropped, and at most `MAX_FAULT_DETAILS` are kept.
#[test]
fn fault_details_by_namespace_uri_and_bounded() {
    let envelope = |detail: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Detail>{detail}</s:Detail></s:Fault></s:Body></s:Envelope>"#
        )
    };
    let details = |detail: &str| match parse_response(envelope(detail).as_bytes(), &Limits::default())
        .unwrap()
        .body
    {
        ResponseBody::Fault(f) => f.fault_details,
        other => panic!("not a fault: {other:?}"),
    };
    let dmtf = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
    assert_eq!(
        details(&format!(
            "<wsman:FaultDetail xmlns:wsman=\"{dmtf}\">\n  {}\n</wsman:FaultDetail>\
             <w:FaultDetail xmlns:w=\"urn:not-wsman\">urn:ignored</w:FaultDetail>\
             <q:FaultDetail xmlns:q=\"{dmtf}\"> </q:FaultDetail>\
             <q:Other xmlns:q=\"{dmtf}\"><q:FaultDetail>urn:nested</q:FaultDetail></q:Other>\
             <w:FaultDetail xmlns:w=\"{dmtf}\">urn:second</w:FaultDetail>",
            ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE
        )),
        vec![
            ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE.to_owned(),
            "urn:second".to_owned()
        ]
    );
    let many: String = (0..100)
        .map(|i| format!("<w:FaultDetail xmlns:w=\"{dmtf}\">urn:d{i}</w:FaultDetail>"))
        .collect();
    let got = details(&many);
    assert_eq!(got.len(), MAX_FAULT_DETAILS);
    assert_eq!(got[0], "urn:d0");
    assert_eq!(
        got[MAX_FAULT_DETAILS - 1],
        format!("urn:d{}", MAX_FAULT_DETAILS - 1)
    );
}

// ---- hostile input ----

#[test]
fn entity_expansion_and_doctype_are_refused() {
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>"#;
    assert_eq!(
        parse_response(bomb, &Limits::default()),
        Err(Error::Forbidden("DOCTYPE or entity declaration"))
    );
    assert_eq!(
        parse_request(bomb, &Limits::default()),
        Err(Error::Forbidden("DOCTYPE or entity declaration"))
    );
    let cim = r#"<!DOCTYPE INSTANCE SYSTEM "file:///etc/passwd"><INSTANCE CLASSNAME="C"/>"#;
    assert_eq!(
        cimxml::parse_instance(cim, &Limits::default()),
        Err(Error::Forbidden("DOCTYPE or entity declaration"))
    );
}

#[test]
fn oversized_and_overdeep_envelopes_are_refused() {
    let deep = format!(
        "<s:Envelope xmlns:s=\"{}\"><s:Body>{}{}</s:Body></s:Envelope>",
        ns::SOAP,
        "<x>".repeat(100),
        "</x>".repeat(100)
    );
    assert_eq!(
        parse_response(deep.as_bytes(), &Limits::default()),
        Err(Error::TooDeep { limit: 64 })
    );
    let real = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/real/05_winrb_pull_response_win32_process.xml"),
    )
    .unwrap();
    let small = Limits {
        max_bytes: 1024,
        ..Limits::default()
    };
    assert_eq!(
        parse_response(&real, &small),
        Err(Error::TooLarge { limit: 1024 })
    );
    assert!(matches!(
        parse_response(&real[..real.len() / 2], &Limits::default()),
        Err(Error::Xml(_))
    ));
    assert!(matches!(
        parse_response(b"\xff\xfe<a/>", &Limits::default()),
        Err(Error::Xml(_))
    ));
    assert_eq!(
        parse_response(b"<a/>", &Limits::default()),
        Err(Error::Missing("soap:Envelope"))
    );
}

#[test]
fn prefixes_are_irrelevant_only_uris_count() {
    // The same PullResponse with every prefix renamed, and a decoy element in a foreign
    // namespace that uses the SOAP prefixes.
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/wsman/enumerate/find_vm_pull.response.xml"),
    )
    .unwrap();
    let mut renamed = text.clone();
    for (from, to) in [("s", "soap12"), ("n", "enm"), ("p", "q")] {
        for (x, y) in [
            ("<{f}:", "<{t}:"),
            ("</{f}:", "</{t}:"),
            (" xmlns:{f}=", " xmlns:{t}="),
            ("\"{f}:", "\"{t}:"),
        ] {
            renamed = renamed.replace(&x.replace("{f}", from), &y.replace("{t}", to));
        }
    }
    assert!(renamed.contains("<soap12:Envelope") && renamed.contains("<q:Msvm_ComputerSystem"));
    let a = parse_response(text.as_bytes(), &Limits::default()).unwrap();
    let b = parse_response(renamed.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(a, b);
    let decoy = "<s:Envelope xmlns:s=\"urn:not-soap\"><s:Body/></s:Envelope>";
    assert_eq!(
        parse_response(decoy.as_bytes(), &Limits::default()),
        Err(Error::Missing("soap:Envelope"))
    );
}

// ---- requests Windows rejects, and its answer ----

fn request_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/wsman")
            .join(rel),
    )
    .unwrap()
}

#[test]
fn server_parser_rejects_what_windows_rejects_with_schema_validation_error() {
    let wrapped = request_fixture("invoke/wrapped_epr_rejected.request.xml");
    let err = parse_request(&wrapped, &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Schema(m) if m.starts_with("parameter ComputerSystem:")),
        "{err}"
    );
    let element_form = request_fixture("invoke/element_form_instance_rejected.request.xml");
    let err = parse_request(&element_form, &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Schema(m) if m.contains("ReplicationSettingData") && m.contains("Msvm_ReplicationSettingData")),
        "{err}"
    );
    let f = fault("wsman/fault/schema_validation.response.xml");
    assert_eq!(f.known(), Some(KnownFault::SchemaValidation));
    assert_eq!(f.wsman_code, None);
    assert_eq!(
        f.summary(),
        "the request failed schema validation: The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. (Sender:SchemaValidationError, on hv-replica.contoso.test)"
    );
}

#[test]
fn an_instance_with_very_many_properties_parses_in_linear_time() {
    let props: String = (0..100_000).map(|i| format!("<p:P{i}>{i}</p:P{i}>")).collect();
    let body = format!(
        "<s:Envelope xmlns:s=\"{}\"><s:Body><p:C xmlns:p=\"urn:c\">{props}</p:C></s:Body></s:Envelope>",
        ns::SOAP
    );
    let start = std::time::Instant::now();
    let ResponseBody::Instance(i) = parse_response(body.as_bytes(), &Limits::default()).unwrap().body else {
        panic!()
    };
    assert_eq!(i.properties.len(), 100_000);
    assert_eq!(i.properties[99_999].name, "P99999");
    // Quadratic grouping would take minutes here; linear takes well under a second even on a
    // loaded machine (the bound is loose on purpose).
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}
