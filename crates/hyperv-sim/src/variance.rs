//! Response variance: ways in which real Windows hosts answer differently from the canonical
//! output of [`wsman_soap::write_response`], each off by default, so that tests can hold the
//! client to all of them ([`Variance`], set with [`crate::SimConfig::variance`] or
//! [`crate::SimHost::set_variance`]).
//!
//! Three hooks in the server: [`Variance::adjust_request`] before the request is executed
//! (page sizes), [`Variance::adjust_body`] on the response body (method output shape) and
//! [`Variance::restyle`] on the written envelope (nulls, prefixes, whitespace, prolog). With
//! the default `Variance` all three leave everything as it is, byte for byte.
//!
//! The envelope size limit ([MS-WSMV 3.1.4.1.7]) is measured on the canonical form: a restyled
//! envelope (indented, longer prefixes) may exceed a small `w:MaxEnvelopeSize` by what the
//! restyling adds.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use wsman_soap::cim::{Scalar, Value};
use wsman_soap::response::ResponseBody;
use wsman_soap::{Request, RequestBody};

/// How the simulated host varies its responses. `Variance::default()` is the canonical,
/// Windows-like output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variance {
    /// At most this many items per Enumerate (optimized) and Pull page, fewer than the
    /// request's `MaxElements` when that is larger: `MaxElements` is an upper bound, a service
    /// may return fewer items in any response ([DSP0226 §8.2], WS-Enumeration Pull), e.g.
    /// when the provider delivers items slowly or the envelope size limit is near.
    pub page_cap: Option<u32>,
    /// Answer `w:OptimizeEnumeration` with a context and no items, as a service that does not
    /// support optimized enumeration does ([DSP0226 §8.2.3]: the option may be ignored).
    pub ignore_optimize: bool,
    /// Leave out null properties entirely instead of writing `<p:X xsi:nil="true"/>` (Windows
    /// writes every property of the class, nulls with `xsi:nil`, see
    /// `fixtures/real/08_r4sd_recorded_msvm_computersystem_pull_vm_off.xml`; other WS-Man
    /// providers and older hosts omit them, [DSP0230 §7.2] allows both). Applies to every
    /// `xsi:nil` element of the response, fault details included.
    pub omit_nulls: bool,
    /// In a method output that names no job (ReturnValue other than 4096), write the `Job` out
    /// parameter as `<p:Job xsi:nil="true"/>` instead of leaving it out (the Msvm methods
    /// declare `[out] CIM_ConcreteJob REF Job`; WMI fills unset out parameters with null).
    /// `GetError`/`GetErrorEx` have no `Job` parameter and are left alone.
    pub nil_job: bool,
    /// Report a method that started a job as completed synchronously: ReturnValue 0 and no
    /// job (Msvm methods return 0 instead of 4096 when they finish before returning,
    /// [msvm-computersystem-requeststatechange] "Completed with No Error"). The model's job
    /// still runs for the host's `job_duration`: set that to zero so that the change is done
    /// by the client's next request.
    pub complete_synchronously: bool,
    /// Write `ReturnValue` first in a method output (the canonical output has `Job` first;
    /// DSP0226 does not fix the order of the output parameters and recordings show both).
    pub return_value_first: bool,
    /// Namespace prefix renames `(from, to)` applied to element and attribute names, namespace
    /// declarations and the QName values of `s:Value` and `xsi:type` (the prefix is renamed
    /// wherever it is bound, so `p`, which Windows binds on the envelope and rebinds on each
    /// class element, is renamed at every level). An empty `to` makes that namespace the
    /// default namespace (`<Msvm_ComputerSystem xmlns="…">`) while the old prefix stays
    /// declared for attributes and QName values; at most one prefix may map to `""` (two would
    /// both declare `xmlns` on the envelope). `xml` is never renamed.
    pub prefixes: Vec<(String, String)>,
    /// Pretty-print: this line break (`"\n"` or `"\r\n"`) before each start tag below the root
    /// and before the end tag of an element with element children, followed by `indent` spaces
    /// per level. Text content is never touched. `None`: compact, as Windows sends it.
    pub newline: Option<String>,
    /// Spaces per nesting level when `newline` is set.
    pub indent: usize,
    /// Quote attribute values with `'` (as in `fixtures/real/01_winrb_fault_msft_wmierror_quota.xml`).
    pub single_quotes: bool,
    /// Written before the envelope as it is: an XML declaration
    /// (`fixtures/real/02_…`), a comment (`fixtures/real/08_…`), a byte order mark.
    pub prolog: String,
}

impl Variance {
    /// Pretty-printed with `indent` spaces and `newline` between elements.
    pub fn pretty(newline: &str, indent: usize) -> Variance {
        Variance {
            newline: Some(newline.to_owned()),
            indent,
            ..Variance::default()
        }
    }

    /// With these prefix renames.
    pub fn renamed(prefixes: &[(&str, &str)]) -> Variance {
        Variance {
            prefixes: prefixes
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            ..Variance::default()
        }
    }

    /// Every prefix the canonical output uses for a WS-Management namespace renamed:
    /// `s`→`env`, `p`→`ns0`, `a`→`wsa`, `w`→`wsman`, `n`→`wsen`, `f`→`wsmf`, `x`→`wxf`.
    pub fn other_prefixes() -> Variance {
        Variance::renamed(&[
            ("s", "env"),
            ("p", "ns0"),
            ("a", "wsa"),
            ("w", "wsman"),
            ("n", "wsen"),
            ("f", "wsmf"),
            ("x", "wxf"),
        ])
    }

    /// True when [`Variance::restyle`] changes nothing.
    fn markup_is_canonical(&self) -> bool {
        !self.omit_nulls
            && self.prefixes.is_empty()
            && self.newline.is_none()
            && !self.single_quotes
            && self.prolog.is_empty()
    }

    /// Applies [`Variance::page_cap`] and [`Variance::ignore_optimize`] to a request before it
    /// is executed.
    pub fn adjust_request(&self, r: &mut Request) {
        let cap = |m: &mut Option<u32>| {
            if let Some(c) = self.page_cap {
                *m = Some(m.unwrap_or(1).min(c.max(1)));
            }
        };
        match &mut r.body {
            RequestBody::Enumerate(e) => {
                if self.ignore_optimize {
                    e.optimize = false;
                }
                cap(&mut e.max_elements);
            }
            RequestBody::Pull { max_elements, .. } => cap(max_elements),
            _ => {}
        }
    }

    /// Applies [`Variance::complete_synchronously`], [`Variance::nil_job`] and
    /// [`Variance::return_value_first`] to a method output.
    pub fn adjust_body(&self, body: ResponseBody) -> ResponseBody {
        if !self.nil_job && !self.return_value_first && !self.complete_synchronously {
            return body;
        }
        let ResponseBody::Instance(mut out) = body else {
            return body;
        };
        let Some(has_job_param) = out
            .class_name
            .strip_suffix("_OUTPUT")
            .map(|m| !m.starts_with("GetError"))
        else {
            return ResponseBody::Instance(out);
        };
        let started_job = out
            .get("ReturnValue")
            .and_then(Value::as_scalar)
            .and_then(|s| s.as_u64())
            == Some(4096);
        if self.complete_synchronously && started_job {
            out.properties.retain(|p| p.name != "Job");
            out.set("ReturnValue", Scalar::Uint32(0));
        }
        if self.nil_job && has_job_param && out.get("Job").is_none() {
            out.set("Job", Value::Null);
        }
        if self.return_value_first {
            if let Some(i) = out.properties.iter().position(|p| p.name == "ReturnValue") {
                let rv = out.properties.remove(i);
                out.properties.insert(0, rv);
            }
        }
        ResponseBody::Instance(out)
    }

    /// Rewrites an envelope written by [`wsman_soap::write_response`] with the markup options
    /// ([`Variance::omit_nulls`], [`Variance::prefixes`], [`Variance::newline`],
    /// [`Variance::single_quotes`], [`Variance::prolog`]); unchanged when none is set.
    pub fn restyle(&self, xml: String) -> String {
        if self.markup_is_canonical() {
            return xml;
        }
        match Restyler::new(self).run(&xml) {
            Ok(s) => s,
            // Our own writer's output always parses; keep it if it somehow does not.
            Err(e) => {
                tracing::error!(error = %e, "restyling a response failed; sent as written");
                xml
            }
        }
    }
}

/// One pass of [`Variance::restyle`].
struct Restyler<'v> {
    v: &'v Variance,
    out: String,
    /// Per open element: (has element children, has text, local name is `Value`).
    open: Vec<(bool, bool, bool)>,
}

impl<'v> Restyler<'v> {
    fn new(v: &'v Variance) -> Self {
        Self {
            v,
            out: String::new(),
            open: Vec::new(),
        }
    }

    fn run(mut self, xml: &str) -> Result<String, quick_xml::Error> {
        self.out.reserve(xml.len() + xml.len() / 4 + self.v.prolog.len());
        self.out.push_str(&self.v.prolog);
        let mut reader = Reader::from_str(xml);
        loop {
            match reader.read_event()? {
                Event::Start(e) => self.start(&e, false),
                // A nil element left out when nulls are omitted.
                Event::Empty(e) if self.v.omit_nulls && is_nil(&e) => {}
                Event::Empty(e) => self.start(&e, true),
                Event::End(e) => {
                    let (children, _, _) = self.open.pop().unwrap_or_default();
                    if children {
                        self.line_break(self.open.len());
                    }
                    let name = std::str::from_utf8(e.name().into_inner()).unwrap_or_default();
                    self.out.push_str("</");
                    self.out.push_str(&self.element_name(name));
                    self.out.push('>');
                }
                Event::Text(t) => {
                    let raw = std::str::from_utf8(&t).unwrap_or_default();
                    match self.open.last_mut() {
                        Some(top) => {
                            top.1 = true;
                            if top.2 {
                                let q = self.qname_value(raw);
                                self.out.push_str(&q);
                            } else {
                                self.out.push_str(raw);
                            }
                        }
                        None => self.out.push_str(raw),
                    }
                }
                Event::CData(c) => {
                    if let Some(top) = self.open.last_mut() {
                        top.1 = true;
                    }
                    self.out.push_str("<![CDATA[");
                    self.out.push_str(std::str::from_utf8(&c).unwrap_or_default());
                    self.out.push_str("]]>");
                }
                Event::Eof => break,
                // The writer emits no declaration, comment, PI or DOCTYPE.
                _ => {}
            }
        }
        Ok(self.out)
    }

    fn line_break(&mut self, depth: usize) {
        if let Some(nl) = &self.v.newline {
            self.out.push_str(nl);
            for _ in 0..depth * self.v.indent {
                self.out.push(' ');
            }
        }
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        let depth = self.open.len();
        if let Some(parent) = self.open.last_mut() {
            parent.0 = true;
            // Whitespace in mixed content would change the parent's text.
            if !parent.1 {
                self.line_break(depth);
            }
        }
        let name = std::str::from_utf8(e.name().into_inner()).unwrap_or_default();
        let local = name.rsplit(':').next().unwrap_or(name);
        self.out.push('<');
        self.out.push_str(&self.element_name(name));
        let q = if self.v.single_quotes { '\'' } else { '"' };
        for a in e.attributes().with_checks(false).flatten() {
            let key = std::str::from_utf8(a.key.into_inner()).unwrap_or_default();
            let value = std::str::from_utf8(&a.value).unwrap_or_default();
            let (key, value): (Cow<'_, str>, Cow<'_, str>) = if let Some(p) = key.strip_prefix("xmlns:") {
                match self.rename(p) {
                    Some("") => {
                        // The default namespace for the renamed elements, and the old prefix
                        // kept for attributes and QName values.
                        self.attr(q, "xmlns", value);
                        (Cow::Borrowed(key), Cow::Borrowed(value))
                    }
                    Some(to) => (Cow::Owned(format!("xmlns:{to}")), Cow::Borrowed(value)),
                    None => (Cow::Borrowed(key), Cow::Borrowed(value)),
                }
            } else {
                let renamed = match key.split_once(':') {
                    Some((p, l)) => match self.rename(p) {
                        Some(to) if !to.is_empty() => Cow::Owned(format!("{to}:{l}")),
                        _ => Cow::Borrowed(key),
                    },
                    None => Cow::Borrowed(key),
                };
                let value = if key.ends_with(":type") {
                    self.qname_value(value)
                } else {
                    Cow::Borrowed(value)
                };
                (renamed, value)
            };
            self.attr(q, &key, &value);
        }
        if empty {
            self.out.push_str("/>");
        } else {
            self.out.push('>');
            self.open.push((false, false, local == "Value"));
        }
    }

    fn attr(&mut self, q: char, key: &str, raw_value: &str) {
        self.out.push(' ');
        self.out.push_str(key);
        self.out.push('=');
        self.out.push(q);
        // Values come escaped from the writer, both quote characters included.
        self.out.push_str(raw_value);
        self.out.push(q);
    }

    fn rename(&self, prefix: &str) -> Option<&'v str> {
        if prefix == "xml" {
            return None;
        }
        self.v
            .prefixes
            .iter()
            .find(|(from, _)| from == prefix)
            .map(|(_, to)| to.as_str())
    }

    fn element_name(&self, name: &str) -> String {
        match name.split_once(':') {
            Some((p, l)) => match self.rename(p) {
                Some("") => l.to_owned(),
                Some(to) => format!("{to}:{l}"),
                None => name.to_owned(),
            },
            None => name.to_owned(),
        }
    }

    /// A QName value (`s:Sender`, `p:Msvm_ComputerSystem_Type`) with its prefix renamed; a
    /// prefix renamed to `""` stays (it is still declared).
    fn qname_value<'a>(&self, value: &'a str) -> Cow<'a, str> {
        match value.split_once(':') {
            Some((p, l)) => match self.rename(p.trim()) {
                Some(to) if !to.is_empty() => Cow::Owned(format!("{to}:{l}")),
                _ => Cow::Borrowed(value),
            },
            None => Cow::Borrowed(value),
        }
    }
}

fn is_nil(e: &BytesStart<'_>) -> bool {
    e.attributes().with_checks(false).flatten().any(|a| {
        a.key.local_name().as_ref() == b"nil"
            && a.key.prefix().is_some()
            && matches!(&*a.value, b"true" | b"1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_soap::cim::Instance;
    use wsman_soap::epr::{wmi_resource_uri, Epr, SelectorSet};
    use wsman_soap::response::{parse_response, EnumerationPage, Item};
    use wsman_soap::{ns, write_response, Limits};

    fn bodies() -> Vec<(String, ResponseBody)> {
        let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ReplicationService");
        let job = Epr::new(
            wmi_resource_uri("root/virtualization/v2", "Msvm_ConcreteJob"),
            SelectorSet::new().with("InstanceID", "J&<'\""),
        );
        let vm = Instance::new("Msvm_ComputerSystem")
            .with("Name", Scalar::String("G".into()))
            .with("Caption", Value::Null)
            .with(
                "OperationalStatus",
                Value::Array(vec![Scalar::String("2".into()), Scalar::String("3".into())]),
            )
            .with("Notes", Scalar::String("a 'quoted' \"note\" & <tag>".into()));
        let output = Instance::new("ReverseReplicationRelationship_OUTPUT")
            .with("Job", job.clone())
            .with("ReturnValue", Scalar::String("4096".into()));
        let page = EnumerationPage {
            context: Some("uuid:ctx".into()),
            items: vec![Item {
                instance: Some(vm.clone()),
                epr: Some(job),
            }],
            end_of_sequence: false,
        };
        // A fault with a provider fault and an `__ExtendedStatus` (nil fields included).
        let fault = crate::ops::to_fault(&crate::SimFault::cannot_process_filter("SELECT x", "bad"), "HV1");
        vec![
            (ns::ACTION_GET_RESPONSE.to_owned(), ResponseBody::Instance(vm)),
            (
                format!("{uri}/ReverseReplicationRelationshipResponse"),
                ResponseBody::Instance(output),
            ),
            (
                ns::ACTION_PULL_RESPONSE.to_owned(),
                ResponseBody::Enumeration(page.clone()),
            ),
            (
                ns::ACTION_ENUMERATE_RESPONSE.to_owned(),
                ResponseBody::Enumeration(page),
            ),
            (ns::ACTION_FAULT.to_owned(), ResponseBody::Fault(fault)),
            (ns::ACTION_RELEASE_RESPONSE.to_owned(), ResponseBody::Empty),
        ]
    }

    fn parsed(xml: &str) -> wsman_soap::response::Response {
        parse_response(xml.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    #[test]
    fn default_variance_leaves_everything_as_written() {
        let v = Variance::default();
        for (action, body) in bodies() {
            let xml = write_response(&action, "uuid:m", "uuid:r", &body);
            assert_eq!(v.restyle(xml.clone()), xml);
            assert_eq!(v.adjust_body(body.clone()), body);
        }
    }

    #[test]
    fn the_rewriter_without_changes_reproduces_the_writer_byte_for_byte() {
        let v = Variance::renamed(&[("unused", "other")]);
        for (action, body) in bodies() {
            let xml = write_response(&action, "uuid:m", "uuid:r", &body);
            assert_eq!(v.restyle(xml.clone()), xml);
        }
    }

    #[test]
    fn every_markup_variant_parses_to_the_same_response() {
        let variants = [
            Variance::pretty("\r\n", 2),
            Variance::pretty("\n", 0),
            Variance::other_prefixes(),
            Variance::renamed(&[("p", "")]),
            Variance::renamed(&[("s", "")]),
            Variance::renamed(&[("a", "")]),
            Variance {
                single_quotes: true,
                prolog: "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- recorded -->\r\n".into(),
                ..Variance::pretty("\n", 4)
            },
        ];
        for v in &variants {
            for (action, body) in bodies() {
                let xml = write_response(&action, "uuid:m", "uuid:r", &body);
                let styled = v.restyle(xml.clone());
                assert_ne!(styled, xml, "{v:?} changed nothing");
                assert_eq!(parsed(&styled), parsed(&xml), "{v:?}\n{styled}");
            }
        }
    }

    #[test]
    fn renamed_prefixes_reach_names_declarations_and_qname_values() {
        let v = Variance::other_prefixes();
        let (action, body) = bodies().swap_remove(4);
        let styled = v.restyle(write_response(&action, "m", "r", &body));
        assert!(styled.starts_with("<env:Envelope "), "{styled}");
        assert!(styled.contains(" xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\""));
        assert!(styled.contains("<env:Value>env:Sender</env:Value>"), "{styled}");
        assert!(
            styled.contains("<env:Value>wsen:CannotProcessFilter</env:Value>"),
            "{styled}"
        );
        assert!(
            styled.contains("xsi:type=\"ns0:__ExtendedStatus_Type\""),
            "{styled}"
        );
        assert!(!styled.contains("<s:") && !styled.contains("<p:"), "{styled}");
        let (action, body) = bodies().swap_remove(0);
        let styled = Variance::renamed(&[("p", "")]).restyle(write_response(&action, "m", "r", &body));
        assert!(styled.contains("<Msvm_ComputerSystem xmlns:xsi="), "{styled}");
        assert!(styled.contains("<Name>G</Name>"), "{styled}");
    }

    #[test]
    fn pretty_printing_indents_elements_and_never_touches_text() {
        let (action, body) = bodies().swap_remove(0);
        let styled = Variance::pretty("\r\n", 2).restyle(write_response(&action, "m", "r", &body));
        assert!(styled.contains("\r\n  <s:Header>\r\n    <a:Action>"), "{styled}");
        assert!(styled.contains("\r\n      <p:Name>G</p:Name>\r\n"), "{styled}");
        assert!(styled.ends_with("</s:Body>\r\n</s:Envelope>"), "{styled}");
    }

    #[test]
    fn omitted_nulls_leave_no_nil_element_and_parse_as_absent() {
        let v = Variance {
            omit_nulls: true,
            ..Variance::default()
        };
        for (action, body) in bodies() {
            let styled = v.restyle(write_response(&action, "m", "r", &body));
            assert!(!styled.contains("nil="), "{styled}");
        }
        let (action, body) = bodies().swap_remove(0);
        let r = parsed(&v.restyle(write_response(&action, "m", "r", &body)));
        let ResponseBody::Instance(i) = r.body else {
            panic!()
        };
        assert_eq!(i.get("Caption"), None);
        assert_eq!(i.get_str("Name"), Some("G"));
    }

    #[test]
    fn method_output_shapes() {
        let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ReplicationService");
        let out = Instance::new("CommitFailover_OUTPUT").with("ReturnValue", Scalar::Uint32(0));
        let v = Variance {
            nil_job: true,
            return_value_first: true,
            ..Variance::default()
        };
        let ResponseBody::Instance(i) = v.adjust_body(ResponseBody::Instance(out)) else {
            panic!()
        };
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ReturnValue", "Job"]);
        let xml = write_response(
            &format!("{uri}/CommitFailoverResponse"),
            "m",
            "r",
            &ResponseBody::Instance(i),
        );
        assert!(
            xml.contains("<p:ReturnValue>0</p:ReturnValue><p:Job xsi:nil=\"true\"/>"),
            "{xml}"
        );
        let started = Instance::new("RequestStateChange_OUTPUT")
            .with("Job", Epr::new("u", SelectorSet::new().with("InstanceID", "J")))
            .with("ReturnValue", Scalar::Uint32(4096));
        let sync = Variance {
            complete_synchronously: true,
            ..v.clone()
        };
        let ResponseBody::Instance(i) = sync.adjust_body(ResponseBody::Instance(started)) else {
            panic!()
        };
        assert_eq!(i.get("ReturnValue"), Some(&Value::Scalar(Scalar::Uint32(0))));
        assert_eq!(i.get("Job"), Some(&Value::Null));
        let errors = Instance::new("GetErrorEx_OUTPUT").with("ReturnValue", Scalar::Uint32(0));
        let ResponseBody::Instance(i) = v.adjust_body(ResponseBody::Instance(errors)) else {
            panic!()
        };
        assert_eq!(i.get("Job"), None);
    }
}
