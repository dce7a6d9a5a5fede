//! Property tests: parsers never panic on hostile input, and build -> parse round trips.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use wsman_soap::fuzzing::{fuzz_cimxml, fuzz_parse_request, fuzz_parse_response};
use wsman_soap::*;

fn fixture_bytes() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "xml") {
                out.push(std::fs::read(p).unwrap());
            }
        }
    }
    out.sort();
    out
}

/// Text without leading/trailing whitespace (the parsers trim some fields), XML-hostile chars
/// included.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9<>&'\"\\]\\\\:/é\u{3042}_.-]([ a-zA-Z0-9<>&'\"\\]\\\\:/é\u{3042}_.-]{0,16}[a-zA-Z0-9<>&\\]_-])?"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_]{0,12}"
}

fn datetime() -> impl Strategy<Value = CimDateTime> {
    prop_oneof![
        (
            0u16..=9999,
            1u8..=12,
            1u8..=28,
            0u8..24,
            0u8..60,
            0u8..60,
            0u32..1_000_000,
            -999i16..=999
        )
            .prop_map(
                |(year, month, day, hour, minute, second, microsecond, utc_offset_minutes)| {
                    CimDateTime::Timestamp {
                        year,
                        month,
                        day,
                        hour,
                        minute,
                        second,
                        microsecond,
                        utc_offset_minutes,
                    }
                }
            ),
        (0u32..=99_999_999, 0u8..24, 0u8..60, 0u8..60, 0u32..1_000_000).prop_map(
            |(days, hours, minutes, seconds, microseconds)| CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds
            }
        ),
    ]
}

fn epr() -> impl Strategy<Value = Epr> {
    (name(), vec((name(), text()), 0..4)).prop_map(|(class, sels)| {
        Epr::new(
            wmi_resource_uri("root/virtualization/v2", &class),
            sels.into_iter().collect(),
        )
    })
}

/// Values as WS-Management XML carries them (untyped strings, datetimes, nulls, refs,
/// arrays of two or more).
fn ws_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        text().prop_map(|s| Value::Scalar(Scalar::String(s))),
        datetime().prop_map(|d| Value::Scalar(Scalar::Datetime(d))),
        vec(text().prop_map(Scalar::String), 2..4).prop_map(Value::Array),
        epr().prop_map(Value::Reference),
    ]
}

fn ws_instance() -> impl Strategy<Value = Instance> {
    (name(), btree_map("[a-z][a-z0-9_]{0,10}", ws_value(), 0..6)).prop_map(|(class, props)| {
        let mut i = Instance::new(class);
        for (n, v) in props {
            i.properties.push(Property {
                name: format!("P{n}"),
                value: v,
            });
        }
        i
    })
}

fn typed_scalar(ty: u8) -> BoxedStrategy<Scalar> {
    match ty {
        0 => any::<bool>().prop_map(Scalar::Boolean).boxed(),
        1 => any::<u8>().prop_map(Scalar::Uint8).boxed(),
        2 => any::<i8>().prop_map(Scalar::Sint8).boxed(),
        3 => any::<u16>().prop_map(Scalar::Uint16).boxed(),
        4 => any::<i32>().prop_map(Scalar::Sint32).boxed(),
        5 => any::<u64>().prop_map(Scalar::Uint64).boxed(),
        6 => any::<i64>().prop_map(Scalar::Sint64).boxed(),
        7 => (-1.0e30f64..1.0e30).prop_map(Scalar::Real64).boxed(),
        8 => (-1.0e10f32..1.0e10).prop_map(Scalar::Real32).boxed(),
        9 => "[a-zA-Z<>&]"
            .prop_map(|s| Scalar::Char16(s.chars().next().unwrap()))
            .boxed(),
        10 => datetime().prop_map(Scalar::Datetime).boxed(),
        _ => "[ a-zA-Z0-9<>&'\"\\]\u{3042}]{0,12}"
            .prop_map(Scalar::String)
            .boxed(),
    }
}

/// The CIM type `typed_scalar(ty)` produces.
fn cim_type(ty: u8) -> CimType {
    match ty {
        0 => CimType::Boolean,
        1 => CimType::Uint8,
        2 => CimType::Sint8,
        3 => CimType::Uint16,
        4 => CimType::Sint32,
        5 => CimType::Uint64,
        6 => CimType::Sint64,
        7 => CimType::Real64,
        8 => CimType::Real32,
        9 => CimType::Char16,
        10 => CimType::Datetime,
        _ => CimType::String,
    }
}

/// Values as CIM-XML carries them: typed, nulls with their type (an untyped null or an empty
/// array is left out when written, so neither round-trips and neither is generated here).
fn cim_value() -> impl Strategy<Value = Value> {
    (0u8..12).prop_flat_map(|ty| {
        prop_oneof![
            any::<bool>().prop_map(move |array| Value::TypedNull {
                cim_type: cim_type(ty),
                array
            }),
            Just(Value::TypedNull {
                cim_type: CimType::Reference,
                array: false
            }),
            typed_scalar(ty).prop_map(Value::Scalar),
            vec(typed_scalar(ty), 1..4).prop_map(Value::Array),
            epr().prop_map(Value::Reference),
        ]
    })
}

fn cim_instance() -> impl Strategy<Value = Instance> {
    (name(), btree_map("[a-z][a-z0-9_]{0,10}", cim_value(), 0..8)).prop_map(|(class, props)| {
        let mut i = Instance::new(class);
        for (n, v) in props {
            i.properties.push(Property { name: n, value: v });
        }
        i
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    let ns_choice = prop_oneof![
        Just(ns::WSMAN),
        Just(ns::ENUMERATION),
        Just(ns::ADDRESSING),
        Just("urn:other")
    ];
    (
        prop_oneof![Just("Sender"), Just("Receiver")],
        proptest::option::of((name(), ns_choice)),
        proptest::option::of(text()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(name()),
        proptest::option::of(text()),
        proptest::option::of((
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(text()),
        )),
        proptest::option::of((
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
        )),
        proptest::option::of((
            proptest::option::of(any::<u32>()),
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
        )),
        vec(
            name().prop_map(|n| format!("http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/{n}")),
            0..3,
        ),
    )
        .prop_map(
            |(code, sub, reason, wsman_code, machine, message, provider, ext, wmi, fault_details)| Fault {
                action: Some(ns::ACTION_FAULT.to_owned()),
                code: code.to_owned(),
                subcode: sub.as_ref().map(|s| s.0.clone()),
                subcode_ns: sub.map(|s| s.1.to_owned()),
                reason,
                wsman_code,
                machine,
                message,
                provider: provider.map(|(provider, wsman_code, message)| ProviderFault {
                    provider,
                    path: Some("%systemroot%\\system32\\WsmWmiPl.dll".into()),
                    wsman_code,
                    message,
                }),
                extended_status: ext.map(|(operation, parameter_info, status_code)| ExtendedStatus {
                    description: None,
                    operation,
                    parameter_info,
                    provider_name: Some("WinMgmt".into()),
                    status_code,
                }),
                wmi_error: wmi.map(|(cim_status_code, message, error_code)| WmiError {
                    cim_status_code,
                    message,
                    message_id: Some("HRESULT 0x803381a5".into()),
                    error_code,
                    error_type: None,
                    error_category: Some(30),
                    windows_error_message: None,
                }),
                fault_details,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in vec(any::<u8>(), 0..2048)) {
        fuzz_parse_response(&data);
        fuzz_parse_request(&data);
        fuzz_cimxml(&data);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let all = fixture_bytes();
        let mut data = all[pick.index(all.len())].clone();
        for (at, byte, op) in edits {
            let i = at.index(data.len().max(1)).min(data.len());
            match op {
                0 if i < data.len() => data[i] = byte,
                1 => data.insert(i, byte),
                _ if i < data.len() => { data.remove(i); }
                _ => {}
            }
        }
        fuzz_parse_response(&data);
        fuzz_parse_request(&data);
        fuzz_cimxml(&data);
    }

    #[test]
    fn invoke_params_round_trip_through_parse_request(
        method in name(),
        params in btree_map("[a-z][a-z0-9_]{0,10}", ws_value(), 0..6),
        msg in "uuid:[0-9A-F-]{8,36}",
    ) {
        let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ReplicationService");
        let h = RequestHeader::new("http://h:5985/wsman", uri, msg.clone());
        let params: Vec<(String, Value)> = params.into_iter().map(|(n, v)| (format!("P{n}"), v)).collect();
        let text = invoke(&h, &method, &params);
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(r.header.message_id, msg);
        prop_assert_eq!(r.body, RequestBody::Invoke { method, params });
    }

    #[test]
    fn embedded_instances_survive_cdata(i in cim_instance()) {
        let h = RequestHeader::new("http://h/wsman", "urn:r", "uuid:1");
        let text = invoke(&h, "M", &[("X".into(), i.clone().into())]);
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        let RequestBody::Invoke { params, .. } = r.body else { panic!() };
        let Value::Scalar(Scalar::String(s)) = &params[0].1 else { panic!() };
        prop_assert_eq!(cimxml::parse_instance(s, &Limits::default()).unwrap(), i);
    }

    #[test]
    fn cimxml_round_trips(i in cim_instance()) {
        let s = cimxml::write_instance(&i).unwrap();
        prop_assert_eq!(cimxml::parse_instance(&s, &Limits::default()).unwrap(), i);
    }

    #[test]
    fn enumerate_round_trips(
        wql in proptest::option::of(text()),
        assoc in proptest::option::of((epr(), any::<bool>(), proptest::option::of(name()), proptest::option::of(name()), proptest::option::of(name()))),
        mode in 0u8..3,
        optimize in any::<bool>(),
        max in proptest::option::of(any::<u32>()),
    ) {
        let filter = match (wql, assoc) {
            (Some(q), _) => Some(Filter::Wql(q)),
            (None, Some((object, associated, a, r, role))) => Some(Filter::Association(AssociationFilter {
                object,
                kind: if associated { AssociationKind::AssociatedInstances } else { AssociationKind::AssociationInstances },
                association_class: if associated { a } else { None },
                result_class: r,
                role,
                result_role: None,
            })),
            (None, None) => None,
        };
        let mode = [EnumerationMode::Objects, EnumerationMode::Epr, EnumerationMode::ObjectAndEpr][usize::from(mode)];
        let e = Enumerate { filter, mode, optimize, max_elements: max };
        let h = RequestHeader::new("http://h/wsman", wmi_all_classes_uri("root/virtualization/v2"), "uuid:1");
        let r = parse_request(enumerate(&h, &e).as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(r.body, RequestBody::Enumerate(e));
    }

    #[test]
    fn instance_responses_round_trip(i in ws_instance()) {
        let body = ResponseBody::Instance(i);
        let text = write_response(ns::ACTION_GET_RESPONSE, "uuid:m", "uuid:r", &body);
        prop_assert_eq!(parse_response(text.as_bytes(), &Limits::default()).unwrap().body, body);
    }

    #[test]
    fn page_responses_round_trip(
        items in vec((proptest::option::of(ws_instance()), proptest::option::of(epr())), 0..4),
        context in proptest::option::of(text()),
        eos in any::<bool>(),
        optimized in any::<bool>(),
    ) {
        let page = EnumerationPage {
            context,
            items: items.into_iter().map(|(instance, epr)| Item { instance, epr }).collect(),
            end_of_sequence: eos,
        };
        let action = if optimized { ns::ACTION_ENUMERATE_RESPONSE } else { ns::ACTION_PULL_RESPONSE };
        let body = ResponseBody::Enumeration(page);
        let text = write_response(action, "uuid:m", "uuid:r", &body);
        prop_assert_eq!(parse_response(text.as_bytes(), &Limits::default()).unwrap().body, body);
    }

    #[test]
    fn fault_responses_round_trip(f in fault()) {
        let body = ResponseBody::Fault(f);
        let text = write_response(ns::ACTION_FAULT, "uuid:m", "uuid:r", &body);
        let parsed = parse_response(text.as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(parsed.body, body);
    }

    #[test]
    fn other_bodies_round_trip(v in text(), profiles in vec(text(), 0..3), out in ws_instance()) {
        let id = ResponseBody::Identify(IdentifyResponse {
            protocol_version: ns::WSMAN.into(),
            product_vendor: v.clone(),
            product_version: v,
            security_profiles: profiles,
        });
        let t = write_response("", "", "", &id);
        prop_assert_eq!(parse_response(t.as_bytes(), &Limits::default()).unwrap().body, id);
        let t = write_response(ns::ACTION_RELEASE_RESPONSE, "m", "r", &ResponseBody::Empty);
        prop_assert_eq!(parse_response(t.as_bytes(), &Limits::default()).unwrap().body, ResponseBody::Empty);
        let mut out = out;
        out.class_name = "Method_OUTPUT".into();
        let body = ResponseBody::Instance(out);
        let t = write_response("http://x/wmi/root/cimv2/C/MethodResponse", "m", "r", &body);
        prop_assert_eq!(parse_response(t.as_bytes(), &Limits::default()).unwrap().body, body);
    }

    #[test]
    fn datetimes_round_trip_both_forms(d in datetime()) {
        prop_assert_eq!(CimDateTime::parse_dmtf(&d.to_dmtf()).unwrap(), d);
        prop_assert_eq!(CimDateTime::parse_iso8601(&d.to_iso8601()).unwrap(), d);
    }
}
