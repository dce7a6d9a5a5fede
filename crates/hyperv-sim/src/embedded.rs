//! Embedded CIM-XML instances (DSP0201 `<INSTANCE>`) as the server sees them in string method
//! parameters, and as it writes them (`Msvm_Error` from `GetErrorEx`).
//!
//! The reader keeps each value's raw text and declared `TYPE`, because the server must judge the
//! text the client sent (an ISO 8601 datetime where DMTF is required fails the job like on a
//! real host, as r4sd/go-wsman issue #119 reports: ISO 8601 with `TYPE="datetime"` ends in job
//! ErrorCode 32768).

use quick_xml::events::Event;
use quick_xml::Reader;

/// One property of an embedded instance, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedProperty {
    /// `NAME`.
    pub name: String,
    /// `TYPE` (empty when missing).
    pub cim_type: String,
    /// `VALUE` texts: one for a scalar, several for `VALUE.ARRAY`, none for null.
    pub values: Vec<String>,
    /// Whether this was a `PROPERTY.ARRAY`.
    pub is_array: bool,
}

/// An embedded instance: `CLASSNAME` and properties in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbeddedInstance {
    /// `CLASSNAME`.
    pub class_name: String,
    /// Properties in document order.
    pub properties: Vec<EmbeddedProperty>,
}

impl EmbeddedInstance {
    /// The first value of a property (case-insensitive name).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.values.first())
            .map(String::as_str)
    }

    /// Names of `datetime` properties whose text is not in DMTF form.
    pub fn non_dmtf_datetimes(&self) -> Vec<&str> {
        self.properties
            .iter()
            .filter(|p| p.cim_type.eq_ignore_ascii_case("datetime"))
            .filter(|p| p.values.iter().any(|v| !is_dmtf(v)))
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// True for `yyyymmddHHMMSS.mmmmmmsUUU` and `ddddddddHHMMSS.mmmmmm:000` (DSP0004 §5.2.4),
/// allowing `*` wildcards in digit positions.
pub fn is_dmtf(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 25 || b[14] != b'.' || !matches!(b[21], b'+' | b'-' | b':') {
        return false;
    }
    b.iter()
        .enumerate()
        .all(|(i, c)| i == 14 || i == 21 || c.is_ascii_digit() || *c == b'*')
}

/// Parses a CIM-XML `<INSTANCE>` document (the text of a string parameter).
pub fn parse(text: &str) -> Result<EmbeddedInstance, String> {
    let mut reader = Reader::from_str(text.trim());
    let mut inst: Option<EmbeddedInstance> = None;
    let mut current: Option<EmbeddedProperty> = None;
    let mut in_value = false;
    let mut value_text = String::new();
    let mut depth = 0usize;
    loop {
        let ev = reader.read_event().map_err(|e| format!("not well-formed: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                depth += 1;
                if depth > 16 {
                    return Err("nesting too deep".into());
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attr = |k: &str| -> Option<String> {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref().eq_ignore_ascii_case(k.as_bytes()))
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                };
                match name.as_str() {
                    "INSTANCE" if inst.is_none() => {
                        let class_name = attr("CLASSNAME").ok_or("INSTANCE without CLASSNAME")?;
                        inst = Some(EmbeddedInstance {
                            class_name,
                            properties: Vec::new(),
                        });
                    }
                    "PROPERTY" | "PROPERTY.ARRAY" | "PROPERTY.REFERENCE" => {
                        if inst.is_none() {
                            return Err("PROPERTY outside INSTANCE".into());
                        }
                        let prop = EmbeddedProperty {
                            name: attr("NAME").ok_or("PROPERTY without NAME")?,
                            cim_type: attr("TYPE").unwrap_or_default(),
                            values: Vec::new(),
                            is_array: name == "PROPERTY.ARRAY",
                        };
                        if is_empty {
                            if let Some(i) = inst.as_mut() {
                                i.properties.push(prop);
                            }
                        } else {
                            current = Some(prop);
                        }
                    }
                    "VALUE" => {
                        if is_empty {
                            if let Some(p) = current.as_mut() {
                                p.values.push(String::new());
                            }
                        } else {
                            in_value = true;
                            value_text.clear();
                        }
                    }
                    "VALUE.ARRAY" | "VALUE.REFERENCE" | "INSTANCEPATH" | "NAMESPACEPATH"
                    | "LOCALNAMESPACEPATH" | "NAMESPACE" | "INSTANCENAME" | "KEYBINDING" | "KEYVALUE"
                    | "HOST" | "QUALIFIER" => {}
                    other if inst.is_none() => {
                        return Err(format!("expected INSTANCE, found element {other}"))
                    }
                    _ => {}
                }
                if is_empty {
                    depth -= 1;
                }
            }
            Event::Text(t) if in_value => {
                value_text.push_str(&t.unescape().map_err(|e| format!("bad text: {e}"))?);
            }
            Event::CData(t) if in_value => value_text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match e.name().as_ref() {
                    b"VALUE" if in_value => {
                        in_value = false;
                        if let Some(p) = current.as_mut() {
                            p.values.push(std::mem::take(&mut value_text));
                        }
                    }
                    b"PROPERTY" | b"PROPERTY.ARRAY" | b"PROPERTY.REFERENCE" => {
                        if let (Some(i), Some(p)) = (inst.as_mut(), current.take()) {
                            i.properties.push(p);
                        }
                    }
                    _ => {}
                }
            }
            Event::DocType(_) => return Err("DOCTYPE refused".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    inst.ok_or_else(|| "no INSTANCE element".into())
}

/// One property to write: name, CIM type name, and values (`None` = null, one value for a
/// scalar; arrays are written when `array` is set).
#[derive(Debug, Clone)]
pub struct OutProperty<'a> {
    /// `NAME`.
    pub name: &'a str,
    /// `TYPE`.
    pub cim_type: &'a str,
    /// Whether to write `PROPERTY.ARRAY`.
    pub array: bool,
    /// Values (empty = null).
    pub values: Vec<String>,
}

/// Writes a CIM-XML `<INSTANCE>` (DSP0201), the form `GetErrorEx` returns `Msvm_Error` in.
pub fn write(class_name: &str, props: &[OutProperty<'_>]) -> String {
    let mut s = format!("<INSTANCE CLASSNAME=\"{}\">", esc(class_name));
    for p in props {
        if p.array {
            s.push_str(&format!(
                "<PROPERTY.ARRAY NAME=\"{}\" TYPE=\"{}\">",
                esc(p.name),
                esc(p.cim_type)
            ));
            if !p.values.is_empty() {
                s.push_str("<VALUE.ARRAY>");
                for v in &p.values {
                    s.push_str(&format!("<VALUE>{}</VALUE>", esc(v)));
                }
                s.push_str("</VALUE.ARRAY>");
            }
            s.push_str("</PROPERTY.ARRAY>");
        } else {
            s.push_str(&format!(
                "<PROPERTY NAME=\"{}\" TYPE=\"{}\">",
                esc(p.name),
                esc(p.cim_type)
            ));
            if let Some(v) = p.values.first() {
                s.push_str(&format!("<VALUE>{}</VALUE>", esc(v)));
            }
            s.push_str("</PROPERTY>");
        }
    }
    s.push_str("</INSTANCE>");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_arrays_and_nulls() {
        let t = r#"<INSTANCE CLASSNAME="Msvm_ReplicationSettingData"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:A\HVR\0</VALUE></PROPERTY><PROPERTY NAME="RecoveryServerPortNumber" TYPE="uint16"><VALUE>80</VALUE></PROPERTY><PROPERTY.ARRAY NAME="IncludedDisks" TYPE="string"><VALUE.ARRAY><VALUE>a</VALUE><VALUE>b&amp;c</VALUE></VALUE.ARRAY></PROPERTY.ARRAY><PROPERTY NAME="CertificateThumbPrint" TYPE="string"/><PROPERTY NAME="CreationTime" TYPE="datetime"><VALUE>20240101000000.000000+000</VALUE></PROPERTY></INSTANCE>"#;
        let i = parse(t).unwrap();
        assert_eq!(i.class_name, "Msvm_ReplicationSettingData");
        assert_eq!(i.value("instanceid"), Some(r"Microsoft:A\HVR\0"));
        assert_eq!(i.value("RecoveryServerPortNumber"), Some("80"));
        assert_eq!(i.properties[2].values, vec!["a".to_string(), "b&c".to_string()]);
        assert!(i.properties[2].is_array);
        assert_eq!(i.value("CertificateThumbPrint"), None);
        assert!(i.non_dmtf_datetimes().is_empty());
    }

    #[test]
    fn flags_iso_datetimes() {
        let t = r#"<INSTANCE CLASSNAME="X"><PROPERTY NAME="CreationTime" TYPE="datetime"><VALUE>2024-01-01T00:00:00Z</VALUE></PROPERTY><PROPERTY NAME="I" TYPE="datetime"><VALUE>00000000183000.000000:000</VALUE></PROPERTY></INSTANCE>"#;
        assert_eq!(parse(t).unwrap().non_dmtf_datetimes(), vec!["CreationTime"]);
    }

    #[test]
    fn refuses_element_form_and_garbage() {
        assert!(parse(r#"<p:Msvm_ReplicationSettingData xmlns:p="u"><p:InstanceID>x</p:InstanceID></p:Msvm_ReplicationSettingData>"#)
            .unwrap_err()
            .contains("expected INSTANCE"));
        assert!(parse("not xml at all").is_err());
        assert!(parse("<!DOCTYPE x><INSTANCE CLASSNAME=\"a\"/>")
            .unwrap_err()
            .contains("DOCTYPE"));
    }

    #[test]
    fn writes_what_it_reads() {
        let s = write(
            "Msvm_Error",
            &[
                OutProperty {
                    name: "Message",
                    cim_type: "string",
                    array: false,
                    values: vec!["a <b>".into()],
                },
                OutProperty {
                    name: "MessageArguments",
                    cim_type: "string",
                    array: true,
                    values: vec!["x".into()],
                },
                OutProperty {
                    name: "OwningEntity",
                    cim_type: "string",
                    array: false,
                    values: vec![],
                },
            ],
        );
        let i = parse(&s).unwrap();
        assert_eq!(i.value("Message"), Some("a <b>"));
        assert_eq!(i.properties[1].values, vec!["x".to_string()]);
        assert_eq!(i.value("OwningEntity"), None);
    }
}
