//! DMTF CIM-XML (DSP0201) instances: the text form of embedded-instance method parameters
//! (`ReplicationSettingData` of `ReverseReplicationRelationship`) and of `Msvm_Error` returned
//! by `Msvm_ConcreteJob.GetErrorEx`.
//!
//! Written form: `<INSTANCE CLASSNAME="C"><PROPERTY NAME="n" TYPE="uint16"><VALUE>1</VALUE>
//! </PROPERTY><PROPERTY.ARRAY NAME="a" TYPE="string"><VALUE.ARRAY><VALUE>x</VALUE></VALUE.ARRAY>
//! </PROPERTY.ARRAY>…</INSTANCE>`. Datetimes are DMTF (`yyyymmddHHMMSS.mmmmmmsUUU`): Hyper-V
//! fails the job when an embedded instance carries ISO 8601 datetimes.

use crate::cim::{CimType, Instance, Property, Scalar, Value};
use crate::epr::{Epr, SelectorSet};
use crate::error::{Error, Limits};
use crate::ns;
use crate::wsxml::push_scalar_text;
use crate::xml::{parse_str, push_escaped, Elem};

/// Serialises `i` as a DSP0201 `<INSTANCE>` (one line, no declaration).
///
/// [DSP0201 §5.2.6] INSTANCE, PROPERTY, PROPERTY.ARRAY, PROPERTY.REFERENCE. Untyped
/// [`Scalar::String`] values are written `TYPE="string"`; retype first
/// ([`Instance::retyped`]) to write numbers, datetimes and nulls with their real types.
/// A [`Value::TypedNull`] is a `PROPERTY` (or `PROPERTY.ARRAY`, `PROPERTY.REFERENCE`) with its
/// `TYPE` and no `VALUE`, as WMI writes a null. A [`Value::Null`] (type unknown) is **left
/// out**, never guessed: `PROPERTY` requires `TYPE`, a wrong one makes WMI refuse the whole
/// instance (ReturnValue 32776, incorrect data type), while leaving the property out
/// merely sends no value for it; the same goes for an empty array whose items give no type. References are `VALUE.REFERENCE` with a
/// `LOCALINSTANCEPATH` (namespace from a WMI resource URI) or an `INSTANCENAME`. Embedded
/// instances are `TYPE="string" EmbeddedObject="instance"` with the nested CIM-XML escaped.
pub fn write_instance(i: &Instance) -> Result<String, Error> {
    let mut out = String::with_capacity(64 + i.properties.len() * 64);
    push_instance(&mut out, i);
    Ok(out)
}

pub(crate) fn instance_to_string(i: &Instance) -> String {
    let mut out = String::with_capacity(64 + i.properties.len() * 64);
    push_instance(&mut out, i);
    out
}

fn push_instance(out: &mut String, i: &Instance) {
    out.push_str("<INSTANCE CLASSNAME=\"");
    push_escaped(out, &i.class_name);
    out.push_str("\">");
    for p in &i.properties {
        push_property(out, p);
    }
    out.push_str("</INSTANCE>");
}

/// Appends `<{tag} NAME="{name}" TYPE="{ty}"` (no `>`).
fn open_property(out: &mut String, tag: &str, name: &str, ty: &str) {
    out.push('<');
    out.push_str(tag);
    out.push_str(" NAME=\"");
    push_escaped(out, name);
    out.push_str("\" TYPE=\"");
    out.push_str(ty);
    out.push('"');
}

fn push_property(out: &mut String, p: &Property) {
    match &p.value {
        Value::Null => {}
        Value::Array(items) if items.is_empty() => {}
        Value::TypedNull {
            cim_type: CimType::Reference,
            ..
        } => {
            out.push_str("<PROPERTY.REFERENCE NAME=\"");
            push_escaped(out, &p.name);
            out.push_str("\"></PROPERTY.REFERENCE>");
        }
        Value::TypedNull { cim_type, array } => {
            let tag = if *array { "PROPERTY.ARRAY" } else { "PROPERTY" };
            open_property(out, tag, &p.name, cim_type.as_str());
            out.push_str("></");
            out.push_str(tag);
            out.push('>');
        }
        Value::Scalar(s) => {
            open_property(out, "PROPERTY", &p.name, s.cim_type().as_str());
            out.push_str("><VALUE>");
            push_scalar_text(out, s);
            out.push_str("</VALUE></PROPERTY>");
        }
        Value::Array(items) => {
            let ty = items.first().map_or(CimType::String, Scalar::cim_type);
            // INVARIANT: an empty array was left out above, so `ty` is the first item's type.
            open_property(out, "PROPERTY.ARRAY", &p.name, ty.as_str());
            out.push_str("><VALUE.ARRAY>");
            for s in items {
                out.push_str("<VALUE>");
                push_scalar_text(out, s);
                out.push_str("</VALUE>");
            }
            out.push_str("</VALUE.ARRAY></PROPERTY.ARRAY>");
        }
        Value::Reference(e) => {
            out.push_str("<PROPERTY.REFERENCE NAME=\"");
            push_escaped(out, &p.name);
            out.push_str("\" REFERENCECLASS=\"");
            push_escaped(out, e.class_name());
            out.push_str("\"><VALUE.REFERENCE>");
            push_reference(out, e);
            out.push_str("</VALUE.REFERENCE></PROPERTY.REFERENCE>");
        }
        Value::Instance(inner) => {
            open_property(out, "PROPERTY", &p.name, "string");
            out.push_str(" EmbeddedObject=\"instance\"><VALUE>");
            push_escaped(out, &instance_to_string(inner));
            out.push_str("</VALUE></PROPERTY>");
        }
    }
}

fn push_reference(out: &mut String, e: &Epr) {
    let namespace = e
        .resource_uri
        .strip_prefix(ns::WMI_BASE)
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(nspath, _)| nspath)
        .filter(|n| !n.is_empty());
    if let Some(nspath) = namespace {
        out.push_str("<LOCALINSTANCEPATH><LOCALNAMESPACEPATH>");
        for part in nspath.split('/').filter(|p| !p.is_empty()) {
            out.push_str("<NAMESPACE NAME=\"");
            push_escaped(out, part);
            out.push_str("\"/>");
        }
        out.push_str("</LOCALNAMESPACEPATH>");
    }
    out.push_str("<INSTANCENAME CLASSNAME=\"");
    push_escaped(out, e.class_name());
    out.push_str("\">");
    for (k, v) in e.selectors.iter() {
        out.push_str("<KEYBINDING NAME=\"");
        push_escaped(out, k);
        out.push_str("\"><KEYVALUE VALUETYPE=\"string\">");
        push_escaped(out, v);
        out.push_str("</KEYVALUE></KEYBINDING>");
    }
    out.push_str("</INSTANCENAME>");
    if namespace.is_some() {
        out.push_str("</LOCALINSTANCEPATH>");
    }
}

/// Parses a DSP0201 `<INSTANCE>` (the root, or the first `INSTANCE` inside a wrapper such as
/// `VALUE.NAMEDINSTANCE`). `TYPE` attributes give typed scalars; a property without `TYPE`
/// is read as a string; without `VALUE` it is [`Value::TypedNull`] of its `TYPE`
/// (`PROPERTY.REFERENCE`: of type reference), or [`Value::Null`] when it has none.
pub fn parse_instance(s: &str, limits: &Limits) -> Result<Instance, Error> {
    let doc = parse_str(s.strip_prefix('\u{feff}').unwrap_or(s), limits)?;
    let root = doc.root();
    let inst = if root.local == "INSTANCE" {
        Some(root)
    } else {
        root.descendant_any("INSTANCE")
    };
    let inst = inst.ok_or(Error::Missing("INSTANCE element"))?;
    read_instance(inst, limits)
}

fn read_instance(e: Elem<'_>, limits: &Limits) -> Result<Instance, Error> {
    let class = e
        .attr("CLASSNAME")
        .ok_or(Error::Missing("INSTANCE CLASSNAME attribute"))?;
    let mut out = Instance::new(class);
    for p in e.elems() {
        let Some(name) = p.attr("NAME") else {
            if p.local.starts_with("PROPERTY") {
                return Err(Error::Missing("PROPERTY NAME attribute"));
            }
            continue;
        };
        let ty = match p.attr("TYPE") {
            Some(t) => Some(CimType::from_name(t.trim()).ok_or_else(|| Error::invalid("cim-xml TYPE", t))?),
            None => None,
        };
        let null = |array| match ty {
            Some(cim_type) => Value::TypedNull { cim_type, array },
            None => Value::Null,
        };
        let value = match &*p.local {
            "PROPERTY" => match p.child_any("VALUE") {
                None => null(false),
                Some(v) => {
                    let text = v.text();
                    let embedded = p.attr("EmbeddedObject").or_else(|| p.attr("EMBEDDEDOBJECT"));
                    if embedded.is_some_and(|k| {
                        k.eq_ignore_ascii_case("instance") || k.eq_ignore_ascii_case("object")
                    }) && text.trim_start().starts_with('<')
                    {
                        // INVARIANT: each nesting level costs the three levels it sits in
                        // (INSTANCE > PROPERTY > VALUE), so recursion ends within max_depth / 3.
                        let inner = Limits {
                            max_depth: limits.max_depth.saturating_sub(3),
                            ..*limits
                        };
                        if inner.max_depth == 0 {
                            return Err(Error::TooDeep {
                                limit: limits.max_depth,
                            });
                        }
                        Value::Instance(Box::new(parse_instance(text, &inner)?))
                    } else {
                        Value::Scalar(Scalar::from_text(ty.unwrap_or(CimType::String), text)?)
                    }
                }
            },
            "PROPERTY.ARRAY" => match p.child_any("VALUE.ARRAY") {
                None => null(true),
                Some(arr) => Value::Array(
                    arr.elems()
                        .filter(|v| v.local == "VALUE")
                        .map(|v| Scalar::from_text(ty.unwrap_or(CimType::String), v.text()))
                        .collect::<Result<_, _>>()?,
                ),
            },
            "PROPERTY.REFERENCE" => match p.child_any("VALUE.REFERENCE") {
                None => Value::TypedNull {
                    cim_type: CimType::Reference,
                    array: false,
                },
                Some(r) => Value::Reference(read_reference(r)?),
            },
            _ => continue,
        };
        out.properties.push(Property {
            name: name.to_owned(),
            value,
        });
    }
    Ok(out)
}

fn read_reference(r: Elem<'_>) -> Result<Epr, Error> {
    let mut namespace: Vec<String> = Vec::new();
    if let Some(path) = r.descendant_any("LOCALNAMESPACEPATH") {
        namespace = path
            .elems()
            .filter(|n| n.local == "NAMESPACE")
            .filter_map(|n| n.attr("NAME").map(str::to_owned))
            .collect();
    }
    let name = if r.local == "INSTANCENAME" {
        Some(r)
    } else {
        r.descendant_any("INSTANCENAME")
    };
    let name = name.ok_or(Error::Missing("INSTANCENAME in VALUE.REFERENCE"))?;
    let class = name
        .attr("CLASSNAME")
        .ok_or(Error::Missing("INSTANCENAME CLASSNAME attribute"))?;
    let mut selectors = SelectorSet::new();
    for kb in name.elems().filter(|k| k.local == "KEYBINDING") {
        let key = kb
            .attr("NAME")
            .ok_or(Error::Missing("KEYBINDING NAME attribute"))?;
        let value = kb.child_any("KEYVALUE").map(Elem::text).unwrap_or_default();
        selectors.push(key, value);
    }
    let resource_uri = if namespace.is_empty() {
        class.to_owned()
    } else {
        format!("{}{}/{}", ns::WMI_BASE, namespace.join("/"), class)
    };
    Ok(Epr {
        address: ns::ANONYMOUS.to_owned(),
        resource_uri,
        selectors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cim::CimDateTime;
    use crate::epr::wmi_resource_uri;

    fn rsd() -> Instance {
        Instance::new("Msvm_ReplicationSettingData")
            .with("InstanceID", Scalar::String("Microsoft:5A1F\\HVR\\0".into()))
            .with("RecoveryServerPortNumber", Scalar::Uint16(80))
            .with("BypassProxyServer", Scalar::Boolean(false))
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
                "IncludedDisks",
                Value::Array(vec![
                    Scalar::String("a<\"b\">&c".into()),
                    Scalar::String("d".into()),
                ]),
            )
            .with(
                "CertificateThumbPrint",
                Value::TypedNull {
                    cim_type: CimType::String,
                    array: false,
                },
            )
            .with(
                "AutomaticRecoveryAction",
                Value::TypedNull {
                    cim_type: CimType::Uint16,
                    array: false,
                },
            )
            .with(
                "Notes",
                Value::TypedNull {
                    cim_type: CimType::String,
                    array: true,
                },
            )
    }

    #[test]
    fn writes_dsp0201_with_types_lowercase_booleans_and_dmtf_datetimes() {
        let s = write_instance(&rsd()).unwrap();
        assert!(
            s.starts_with("<INSTANCE CLASSNAME=\"Msvm_ReplicationSettingData\">"),
            "{s}"
        );
        assert!(s.contains(
            "<PROPERTY NAME=\"RecoveryServerPortNumber\" TYPE=\"uint16\"><VALUE>80</VALUE></PROPERTY>"
        ));
        assert!(s.contains(
            "<PROPERTY NAME=\"BypassProxyServer\" TYPE=\"boolean\"><VALUE>false</VALUE></PROPERTY>"
        ));
        assert!(s.contains("<VALUE>00000000183000.000000:000</VALUE>"));
        assert!(s.contains("<VALUE>a&lt;&quot;b&quot;&gt;&amp;c</VALUE>"));
        assert!(!s.contains("]]>"));
    }

    #[test]
    fn writes_nulls_with_their_type_and_leaves_untyped_nulls_out() {
        let s = write_instance(&rsd()).unwrap();
        assert!(s.contains("<PROPERTY NAME=\"AutomaticRecoveryAction\" TYPE=\"uint16\"></PROPERTY>"));
        assert!(s.contains("<PROPERTY NAME=\"CertificateThumbPrint\" TYPE=\"string\"></PROPERTY>"));
        assert!(s.contains("<PROPERTY.ARRAY NAME=\"Notes\" TYPE=\"string\"></PROPERTY.ARRAY>"));
        let untyped = Instance::new("C")
            .with("A", Value::Null)
            .with("B", Value::Array(Vec::new()))
            .with(
                "R",
                Value::TypedNull {
                    cim_type: CimType::Reference,
                    array: false,
                },
            )
            .with("D", Scalar::Uint8(1));
        assert_eq!(
            write_instance(&untyped).unwrap(),
            "<INSTANCE CLASSNAME=\"C\"><PROPERTY.REFERENCE NAME=\"R\"></PROPERTY.REFERENCE>\
             <PROPERTY NAME=\"D\" TYPE=\"uint8\"><VALUE>1</VALUE></PROPERTY></INSTANCE>"
        );
    }

    #[test]
    fn round_trips_typed_values() {
        let i = rsd();
        let back = parse_instance(&write_instance(&i).unwrap(), &Limits::default()).unwrap();
        assert_eq!(back, i);
    }

    #[test]
    fn references_and_embedded_instances_round_trip() {
        let vm = Epr::new(
            wmi_resource_uri("root/virtualization/v2", "Msvm_ComputerSystem"),
            SelectorSet::new()
                .with("CreationClassName", "Msvm_ComputerSystem")
                .with("Name", "GUID-1"),
        );
        let i = Instance::new("X")
            .with("VM", vm)
            .with("Inner", Instance::new("Y").with("A", Scalar::Uint8(7)));
        let s = write_instance(&i).unwrap();
        assert!(s.contains("<NAMESPACE NAME=\"virtualization\"/>"));
        assert_eq!(parse_instance(&s, &Limits::default()).unwrap(), i);
    }

    #[test]
    fn parses_a_wmi_msvm_error() {
        let text = r#"<?xml version="1.0"?><INSTANCE CLASSNAME="Msvm_Error"><PROPERTY NAME="CIMStatusCode" TYPE="uint32"><VALUE>1</VALUE></PROPERTY><PROPERTY NAME="ErrorSource" TYPE="string"></PROPERTY><PROPERTY.ARRAY NAME="MessageArguments" TYPE="string"><VALUE.ARRAY><VALUE>vm1</VALUE><VALUE>0x80070005</VALUE></VALUE.ARRAY></PROPERTY.ARRAY><PROPERTY NAME="Message" TYPE="string"><VALUE>'vm1' failed to reverse replication: access denied (0x80070005).</VALUE></PROPERTY><PROPERTY NAME="MessageID" TYPE="string"><VALUE>32770</VALUE></PROPERTY></INSTANCE>"#;
        let e = parse_instance(text, &Limits::default()).unwrap();
        assert_eq!(e.class_name, "Msvm_Error");
        assert_eq!(e.get("CIMStatusCode"), Some(&Value::Scalar(Scalar::Uint32(1))));
        assert_eq!(
            e.get("ErrorSource"),
            Some(&Value::TypedNull {
                cim_type: CimType::String,
                array: false
            })
        );
        assert_eq!(
            e.get("MessageArguments"),
            Some(&Value::Array(vec![
                Scalar::String("vm1".into()),
                Scalar::String("0x80070005".into())
            ]))
        );
        assert_eq!(e.get_str("MessageID"), Some("32770"));
    }

    #[test]
    fn nested_embedded_instances_are_bounded() {
        let mut i = Instance::new("Leaf").with("A", Scalar::Uint8(1));
        for n in 0..40 {
            i = Instance::new(format!("L{n}")).with("Inner", i);
        }
        let s = write_instance(&i).unwrap();
        let err = parse_instance(
            &s,
            &Limits {
                max_bytes: usize::MAX,
                max_depth: 64,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
        let mut ok = Instance::new("Leaf").with("A", Scalar::Uint8(1));
        for n in 0..5 {
            ok = Instance::new(format!("L{n}")).with("Inner", ok);
        }
        assert_eq!(
            parse_instance(&write_instance(&ok).unwrap(), &Limits::default()).unwrap(),
            ok
        );
    }

    #[test]
    fn bad_type_and_bad_value_are_errors() {
        let l = Limits::default();
        let bad_type = r#"<INSTANCE CLASSNAME="C"><PROPERTY NAME="a" TYPE="uint99"><VALUE>1</VALUE></PROPERTY></INSTANCE>"#;
        assert!(matches!(
            parse_instance(bad_type, &l),
            Err(Error::Invalid {
                what: "cim-xml TYPE",
                ..
            })
        ));
        let bad_val = r#"<INSTANCE CLASSNAME="C"><PROPERTY NAME="a" TYPE="uint8"><VALUE>300</VALUE></PROPERTY></INSTANCE>"#;
        assert!(matches!(
            parse_instance(bad_val, &l),
            Err(Error::Invalid {
                what: "cim value",
                ..
            })
        ));
        assert_eq!(
            parse_instance("<CLASS/>", &l),
            Err(Error::Missing("INSTANCE element"))
        );
    }
}
