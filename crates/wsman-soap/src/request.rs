//! Client-side request builders (DSP0226 WS-Management over SOAP 1.2, MS-WSMV).
//!
//! Every builder is a pure function of its arguments: the caller supplies the MessageID, so
//! the same inputs always give the same bytes (golden files in `fixtures/wsman/` check this).
//! Header order follows what Windows clients send: To, ResourceURI, ReplyTo, Action,
//! MaxEnvelopeSize, MessageID, Locale, DataLocale, OperationTimeout, SelectorSet, OptionSet.

use std::time::Duration;

use crate::cim::{CimDateTime, Instance, Scalar, Value};
use crate::epr::{Epr, SelectorSet};
use crate::ns;
use crate::wsxml::{push_epr_contents, push_instance, push_scalar_text, push_selector_set};
use crate::xml::{escape, push_cdata, push_escaped};

/// The addressing and WS-Management headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// `a:To`: the endpoint URL, e.g. `http://host:5985/wsman`.
    pub to: String,
    /// `w:ResourceURI` (sent with `mustUnderstand`).
    pub resource_uri: String,
    /// `a:MessageID`, `uuid:…`, supplied by the caller.
    pub message_id: String,
    /// `w:MaxEnvelopeSize` in bytes.
    pub max_envelope_size: u32,
    /// `w:OperationTimeout`, written `PT60.000S`.
    pub operation_timeout: Duration,
    /// `Some("en-US")` writes `w:Locale` and `p:DataLocale`.
    pub locale: Option<String>,
    /// `w:SelectorSet` (omitted when empty).
    pub selectors: SelectorSet,
    /// `w:OptionSet` options (omitted when empty).
    pub options: Vec<(String, String)>,
}

impl RequestHeader {
    /// A header with the usual defaults: 512000-byte envelopes, 60 s timeout, `en-US`.
    pub fn new(
        to: impl Into<String>,
        resource_uri: impl Into<String>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            to: to.into(),
            resource_uri: resource_uri.into(),
            message_id: message_id.into(),
            max_envelope_size: 512_000,
            operation_timeout: Duration::from_secs(60),
            locale: Some("en-US".to_owned()),
            selectors: SelectorSet::new(),
            options: Vec::new(),
        }
    }

    /// Sets the selector set, builder style.
    #[must_use]
    pub fn with_selectors(mut self, selectors: SelectorSet) -> Self {
        self.selectors = selectors;
        self
    }
}

/// [DSP0226 §8.2] WS-Enumeration Enumerate request options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enumerate {
    /// `w:Filter`; `None` enumerates every instance of the resource URI's class.
    pub filter: Option<Filter>,
    /// `w:EnumerationMode`.
    pub mode: EnumerationMode,
    /// `w:OptimizeEnumeration`: items may come back in the EnumerateResponse itself.
    pub optimize: bool,
    /// `w:MaxElements` (with `optimize`).
    pub max_elements: Option<u32>,
}

/// An enumeration filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Dialect `http://schemas.microsoft.com/wbem/wsman/1/WQL`; use the `…/*` resource URI.
    Wql(String),
    /// DSP0227 association filter (dialect `…/cimbinding/associationFilter`).
    Association(AssociationFilter),
}

/// [DSP0227 §8.2] `b:AssociatedInstances` / `b:AssociationInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationFilter {
    /// The source instance (`b:Object`).
    pub object: Epr,
    /// Which side of the association to return.
    pub kind: AssociationKind,
    /// `b:AssociationClassName` (AssociatedInstances only).
    pub association_class: Option<String>,
    /// `b:ResultClassName`: the result class (for AssociationInstances, the association class;
    /// `association_class` is used there when this is `None`).
    pub result_class: Option<String>,
    /// `b:Role`: the source object's role in the association.
    pub role: Option<String>,
    /// `b:ResultRole` (AssociatedInstances only).
    pub result_role: Option<String>,
}

/// What an association filter returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationKind {
    /// The instances at the other end (`b:AssociatedInstances`, like WQL `ASSOCIATORS OF`).
    AssociatedInstances,
    /// The association instances themselves (`b:AssociationInstances`, `REFERENCES OF`).
    AssociationInstances,
}

/// `w:EnumerationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnumerationMode {
    /// Objects only (no `w:EnumerationMode` element).
    #[default]
    Objects,
    /// `EnumerateEPR`: endpoint references only.
    Epr,
    /// `EnumerateObjectAndEPR`: each item is a `w:Item` with the object and its EPR.
    ObjectAndEpr,
}

impl EnumerationMode {
    /// The `w:EnumerationMode` text, `None` for objects.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            EnumerationMode::Objects => None,
            EnumerationMode::Epr => Some("EnumerateEPR"),
            EnumerationMode::ObjectAndEpr => Some("EnumerateObjectAndEPR"),
        }
    }
}

/// `PT60.000S`: seconds with milliseconds, as Windows clients write `w:OperationTimeout`.
pub fn format_timeout(d: Duration) -> String {
    format!("PT{}.{:03}S", d.as_secs(), d.subsec_millis())
}

fn envelope_start(out: &mut String) {
    out.push_str("<s:Envelope xmlns:s=\"");
    out.push_str(ns::SOAP);
    out.push_str("\" xmlns:a=\"");
    out.push_str(ns::ADDRESSING);
    out.push_str("\" xmlns:w=\"");
    out.push_str(ns::WSMAN);
    out.push_str("\" xmlns:p=\"");
    out.push_str(ns::MS_WSMAN);
    out.push_str("\">");
}

fn header(out: &mut String, h: &RequestHeader, action: &str) {
    out.push_str("<s:Header><a:To>");
    push_escaped(out, &h.to);
    out.push_str("</a:To><w:ResourceURI s:mustUnderstand=\"true\">");
    push_escaped(out, &h.resource_uri);
    out.push_str("</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">");
    out.push_str(ns::ANONYMOUS);
    out.push_str("</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">");
    push_escaped(out, action);
    out.push_str("</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">");
    push_decimal(out, u64::from(h.max_envelope_size), 1);
    out.push_str("</w:MaxEnvelopeSize><a:MessageID>");
    push_escaped(out, &h.message_id);
    out.push_str("</a:MessageID>");
    if let Some(l) = &h.locale {
        out.push_str("<w:Locale xml:lang=\"");
        push_escaped(out, l);
        out.push_str("\" s:mustUnderstand=\"false\"/><p:DataLocale xml:lang=\"");
        push_escaped(out, l);
        out.push_str("\" s:mustUnderstand=\"false\"/>");
    }
    let d = h.operation_timeout;
    out.push_str("<w:OperationTimeout>PT");
    push_decimal(out, d.as_secs(), 1);
    out.push('.');
    push_decimal(out, u64::from(d.subsec_millis()), 3);
    out.push_str("S</w:OperationTimeout>");
    push_selector_set(out, &h.selectors);
    if !h.options.is_empty() {
        out.push_str("<w:OptionSet>");
        for (n, v) in &h.options {
            out.push_str(&format!(
                "<w:Option Name=\"{}\">{}</w:Option>",
                escape(n),
                escape(v)
            ));
        }
        out.push_str("</w:OptionSet>");
    }
    out.push_str("</s:Header>");
}

/// Appends `n` in decimal, zero-padded to at least `min_digits` digits (no formatter).
fn push_decimal(out: &mut String, mut n: u64, min_digits: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    while n > 0 || buf.len() - at < min_digits.clamp(1, 20) {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            // n % 10 < 10: the cast cannot truncate.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    for &c in buf.get(at..).unwrap_or_default() {
        out.push(char::from(c));
    }
}

fn with_body(h: &RequestHeader, action: &str, body: &str) -> String {
    if body.is_empty() {
        let mut out = String::with_capacity(1200);
        envelope_start(&mut out);
        header(&mut out, h, action);
        out.push_str("<s:Body/></s:Envelope>");
        return out;
    }
    let mut out = open_body(h, action, body.len());
    out.push_str(body);
    close_body(out)
}

/// The envelope up to and including `<s:Body>`, with room for `body_len` more bytes.
fn open_body(h: &RequestHeader, action: &str, body_len: usize) -> String {
    let mut out = String::with_capacity(1200 + body_len);
    envelope_start(&mut out);
    header(&mut out, h, action);
    out.push_str("<s:Body>");
    out
}

/// Closes what [`open_body`] opened.
fn close_body(mut out: String) -> String {
    out.push_str("</s:Body></s:Envelope>");
    out
}

/// [DSP0226 §11] Identify: no addressing headers, `wsmid:Identify` body.
pub fn identify() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:wsmid=\"{}\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>",
        ns::SOAP,
        ns::WSMAN_IDENTITY
    )
}

/// [DSP0226 §7.3] WS-Transfer Get of the instance named by `h.selectors`.
pub fn get(h: &RequestHeader) -> String {
    with_body(h, ns::ACTION_GET, "")
}

/// [DSP0226 §7.5] WS-Transfer Put: the instance in element form in the resource URI namespace.
pub fn put(h: &RequestHeader, instance: &Instance) -> String {
    let mut body = String::new();
    push_instance(&mut body, &h.resource_uri, instance, false);
    with_body(h, ns::ACTION_PUT, &body)
}

/// [DSP0226 §8.2] WS-Enumeration Enumerate, with optional WQL or association filter.
pub fn enumerate(h: &RequestHeader, e: &Enumerate) -> String {
    let mut b = format!("<n:Enumerate xmlns:n=\"{}\">", ns::ENUMERATION);
    if e.optimize {
        b.push_str("<w:OptimizeEnumeration/>");
    }
    if let Some(m) = e.max_elements {
        b.push_str(&format!("<w:MaxElements>{m}</w:MaxElements>"));
    }
    if let Some(mode) = e.mode.as_str() {
        b.push_str(&format!("<w:EnumerationMode>{mode}</w:EnumerationMode>"));
    }
    match &e.filter {
        None => {}
        Some(Filter::Wql(q)) => {
            b.push_str(&format!(
                "<w:Filter Dialect=\"{}\">{}</w:Filter>",
                ns::DIALECT_WQL,
                escape(q)
            ));
        }
        Some(Filter::Association(a)) => {
            b.push_str(&format!("<w:Filter Dialect=\"{}\">", ns::DIALECT_ASSOCIATION));
            let el = match a.kind {
                AssociationKind::AssociatedInstances => "AssociatedInstances",
                AssociationKind::AssociationInstances => "AssociationInstances",
            };
            b.push_str(&format!("<b:{el} xmlns:b=\"{}\"><b:Object>", ns::CIM_BINDING));
            push_epr_contents(&mut b, &a.object);
            b.push_str("</b:Object>");
            let opt = |b: &mut String, name: &str, v: Option<&String>| {
                if let Some(v) = v {
                    b.push_str(&format!("<b:{name}>{}</b:{name}>", escape(v)));
                }
            };
            match a.kind {
                AssociationKind::AssociatedInstances => {
                    opt(&mut b, "AssociationClassName", a.association_class.as_ref());
                    opt(&mut b, "Role", a.role.as_ref());
                    opt(&mut b, "ResultClassName", a.result_class.as_ref());
                    opt(&mut b, "ResultRole", a.result_role.as_ref());
                }
                AssociationKind::AssociationInstances => {
                    opt(
                        &mut b,
                        "ResultClassName",
                        a.result_class.as_ref().or(a.association_class.as_ref()),
                    );
                    opt(&mut b, "Role", a.role.as_ref());
                }
            }
            b.push_str(&format!("</b:{el}></w:Filter>"));
        }
    }
    b.push_str("</n:Enumerate>");
    with_body(h, ns::ACTION_ENUMERATE, &b)
}

/// [DSP0226 §8.4] WS-Enumeration Pull.
pub fn pull(h: &RequestHeader, context: &str, max_elements: Option<u32>) -> String {
    let mut b = format!(
        "<n:Pull xmlns:n=\"{}\"><n:EnumerationContext>{}</n:EnumerationContext>",
        ns::ENUMERATION,
        escape(context)
    );
    if let Some(m) = max_elements {
        b.push_str(&format!("<n:MaxElements>{m}</n:MaxElements>"));
    }
    b.push_str("</n:Pull>");
    with_body(h, ns::ACTION_PULL, &b)
}

/// [DSP0226 §8.6] WS-Enumeration Release.
pub fn release(h: &RequestHeader, context: &str) -> String {
    let b = format!(
        "<n:Release xmlns:n=\"{}\"><n:EnumerationContext>{}</n:EnumerationContext></n:Release>",
        ns::ENUMERATION,
        escape(context)
    );
    with_body(h, ns::ACTION_RELEASE, &b)
}

/// [DSP0227 §9] [MS-WSMV §3.1.4.1.5] Invoke of the WMI method `method` on the instance named by
/// `h.selectors` (or a static/singleton).
///
/// Action = `{resource_uri}/{method}`; body `<p:{method}_INPUT xmlns:p="{resource_uri}">`
/// with the parameters in the given order: a null ([`Value::Null`], [`Value::TypedNull`]) is
/// `xsi:nil="true"`; a scalar is
/// its text (datetimes as `<cim:Datetime>` ISO 8601 with offset, intervals as
/// `<cim:Interval>` xs:duration); an array repeats the element; a reference is `a:Address` +
/// `a:ReferenceParameters` directly inside the parameter element (no `a:EndpointReference`
/// wrapper: Windows rejects that with SchemaValidationError); an embedded instance is its
/// CIM-XML `<INSTANCE>` text in CDATA (a `]]>` inside is split across sections).
pub fn invoke(h: &RequestHeader, method: &str, params: &[(String, Value)]) -> String {
    let mut action = String::with_capacity(h.resource_uri.len() + 1 + method.len());
    action.push_str(&h.resource_uri);
    action.push('/');
    action.push_str(method);
    let mut b = open_body(h, &action, 256 + params.len() * 512);
    let m = escape(method);
    b.push_str("<p:");
    b.push_str(&m);
    b.push_str("_INPUT xmlns:p=\"");
    push_escaped(&mut b, &h.resource_uri);
    b.push_str("\" xmlns:xsi=\"");
    b.push_str(ns::XSI);
    b.push_str("\" xmlns:cim=\"");
    b.push_str(ns::CIM_COMMON);
    b.push_str("\">");
    for (name, value) in params {
        let n = escape(name);
        match value {
            Value::Null | Value::TypedNull { .. } => {
                open_param(&mut b, &n);
                b.push_str(" xsi:nil=\"true\"/>");
            }
            Value::Scalar(s) => push_param_scalar(&mut b, &n, s),
            Value::Array(items) => {
                for s in items {
                    push_param_scalar(&mut b, &n, s);
                }
            }
            Value::Reference(e) => {
                open_param(&mut b, &n);
                b.push('>');
                push_epr_contents(&mut b, e);
                close_param(&mut b, &n);
            }
            Value::Instance(i) => {
                open_param(&mut b, &n);
                b.push('>');
                push_cdata(&mut b, &crate::cimxml::instance_to_string(i));
                close_param(&mut b, &n);
            }
        }
    }
    b.push_str("</p:");
    b.push_str(&m);
    b.push_str("_INPUT>");
    close_body(b)
}

/// Appends `<p:{n}` (no `>`).
fn open_param(b: &mut String, n: &str) {
    b.push_str("<p:");
    b.push_str(n);
}

/// Appends `</p:{n}>`.
fn close_param(b: &mut String, n: &str) {
    b.push_str("</p:");
    b.push_str(n);
    b.push('>');
}

fn push_param_scalar(b: &mut String, n: &str, s: &Scalar) {
    open_param(b, n);
    b.push('>');
    match s {
        Scalar::Datetime(d @ CimDateTime::Timestamp { .. }) => {
            b.push_str("<cim:Datetime>");
            b.push_str(&d.to_iso8601());
            b.push_str("</cim:Datetime>");
        }
        Scalar::Datetime(d @ CimDateTime::Interval { .. }) => {
            b.push_str("<cim:Interval>");
            b.push_str(&d.to_iso8601());
            b.push_str("</cim:Interval>");
        }
        other => push_scalar_text(b, other),
    }
    close_param(b, n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Limits;
    use crate::server::{parse_request, RequestBody};

    #[test]
    fn decimals_match_the_formatter() {
        for n in [
            0u64,
            1,
            9,
            10,
            59,
            999,
            1000,
            512_000,
            86_400,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            for width in [1usize, 3] {
                let mut s = String::new();
                push_decimal(&mut s, n, width);
                assert_eq!(s, format!("{n:0width$}"));
            }
        }
    }

    fn h() -> RequestHeader {
        RequestHeader::new("http://h:5985/wsman?x=1&y=<2>", "urn:r", "uuid:1")
    }

    #[test]
    fn everything_caller_supplied_is_escaped() {
        let mut hd = h().with_selectors(SelectorSet::new().with("N\"", "a&b<c>'"));
        hd.options = vec![("O&".into(), "<v>".into())];
        let text = get(&hd);
        assert!(text.contains("<a:To>http://h:5985/wsman?x=1&amp;y=&lt;2&gt;</a:To>"));
        assert!(text.contains("<w:Selector Name=\"N&quot;\">a&amp;b&lt;c&gt;&apos;</w:Selector>"));
        assert!(text.contains("<w:OptionSet><w:Option Name=\"O&amp;\">&lt;v&gt;</w:Option></w:OptionSet>"));
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.header.selectors.get("N\""), Some("a&b<c>'"));
        assert_eq!(r.header.options, vec![("O&".to_owned(), "<v>".to_owned())]);
        assert_eq!(r.header.to.as_deref(), Some("http://h:5985/wsman?x=1&y=<2>"));
        assert_eq!(r.body, RequestBody::Get);
    }

    #[test]
    fn locale_is_optional_and_timeout_has_milliseconds() {
        let mut hd = h();
        hd.locale = None;
        hd.operation_timeout = Duration::from_millis(1500);
        let text = release(&hd, "ctx");
        assert!(!text.contains("Locale"));
        assert!(text.contains("<w:OperationTimeout>PT1.500S</w:OperationTimeout>"));
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.header.operation_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(r.header.locale, None);
        assert_eq!(
            r.body,
            RequestBody::Release {
                context: "ctx".into()
            }
        );
        assert_eq!(format_timeout(Duration::from_secs(60)), "PT60.000S");
    }

    #[test]
    fn identify_has_no_addressing_headers() {
        let text = identify();
        assert!(!text.contains("a:Action") && !text.contains("MessageID"));
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.body, RequestBody::Identify);
        assert_eq!(r.header.action, "");
    }

    #[test]
    fn put_writes_the_instance_in_the_resource_uri_namespace() {
        let i = Instance::new("Msvm_X")
            .with("A", Scalar::String("1".into()))
            .with("B", Value::Null);
        let text = put(&h(), &i);
        assert!(text
            .contains("<p:Msvm_X xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:p=\"urn:r\""));
        assert!(text.contains("<p:B xsi:nil=\"true\"/>"));
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.body, RequestBody::Put(i));
    }

    #[test]
    fn association_instances_use_result_class_for_the_association() {
        let e = Enumerate {
            filter: Some(Filter::Association(AssociationFilter {
                object: Epr::new("urn:c", SelectorSet::new()),
                kind: AssociationKind::AssociationInstances,
                association_class: Some("Msvm_SystemReplicationRelationship".into()),
                result_class: None,
                role: Some("Antecedent".into()),
                result_role: None,
            })),
            ..Enumerate::default()
        };
        let text = enumerate(&h(), &e);
        assert!(text.contains(
            "<b:AssociationInstances xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\">"
        ));
        assert!(text.contains("<b:ResultClassName>Msvm_SystemReplicationRelationship</b:ResultClassName><b:Role>Antecedent</b:Role>"));
        assert!(!text.contains("AssociationClassName"));
    }
}
