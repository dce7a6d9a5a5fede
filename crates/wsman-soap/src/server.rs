//! Server side, for the simulated Hyper-V host: parse requests the way Windows validates
//! them, and write responses shaped like the real Windows ones (see `fixtures/real/`).

use std::time::Duration;

use crate::cim::{CimDateTime, Scalar, Value};
use crate::epr::{class_of, wmi_resource_uri, SelectorSet};
use crate::error::{Error, Limits};
use crate::ns;
use crate::request::{AssociationFilter, AssociationKind, Enumerate, EnumerationMode, Filter};
use crate::response::{EnumerationPage, Fault, ResponseBody};
use crate::wsxml::{parse_epr, parse_instance, parse_selector_set, push_epr_contents, push_instance};
use crate::xml::{escape, parse, Elem};

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Headers.
    pub header: ParsedHeader,
    /// The operation.
    pub body: RequestBody,
}

/// The headers of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedHeader {
    /// `a:Action` (empty for Identify, which has no addressing headers).
    pub action: String,
    /// `a:To`.
    pub to: Option<String>,
    /// `w:ResourceURI`.
    pub resource_uri: Option<String>,
    /// `a:MessageID` (empty for Identify).
    pub message_id: String,
    /// `w:SelectorSet`.
    pub selectors: SelectorSet,
    /// `w:MaxEnvelopeSize`.
    pub max_envelope_size: Option<u32>,
    /// `w:OperationTimeout`.
    pub operation_timeout: Option<Duration>,
    /// `w:OptionSet`.
    pub options: Vec<(String, String)>,
    /// `w:Locale/@xml:lang`.
    pub locale: Option<String>,
}

/// The operation a request asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestBody {
    /// Identify.
    Identify,
    /// WS-Transfer Get.
    Get,
    /// WS-Transfer Put with the new instance.
    Put(crate::cim::Instance),
    /// WS-Enumeration Enumerate.
    Enumerate(Enumerate),
    /// WS-Enumeration Pull.
    Pull {
        /// `n:EnumerationContext`.
        context: String,
        /// `n:MaxElements`.
        max_elements: Option<u32>,
    },
    /// WS-Enumeration Release.
    Release {
        /// `n:EnumerationContext`.
        context: String,
    },
    /// Method call: method name from the action; params in order. REF params ->
    /// [`Value::Reference`]; embedded-instance params arrive as `Value::Scalar(Scalar::String(
    /// cim_xml_text))`. A REF wrapped in `a:EndpointReference`, or an element-form instance
    /// (`<p:Class>`) where text is expected, is `Err(Error::Schema(..))` (Windows answers
    /// those with SchemaValidationError).
    Invoke {
        /// Method name.
        method: String,
        /// Parameters in document order.
        params: Vec<(String, Value)>,
    },
}

fn text_of(e: Option<Elem<'_>>) -> Option<String> {
    e.map(|x| x.text().trim().to_owned())
}

/// Parses a request envelope.
pub fn parse_request(body: &[u8], limits: &Limits) -> Result<Request, Error> {
    let doc = parse(body, limits)?;
    let root = doc.root();
    if !root.is(ns::SOAP, "Envelope") {
        return Err(Error::Missing("soap:Envelope"));
    }
    let b = root.child(ns::SOAP, "Body").ok_or(Error::Missing("soap:Body"))?;
    let first = b.elems().next();
    let mut header = ParsedHeader::default();
    if let Some(h) = root.child(ns::SOAP, "Header") {
        header.action = text_of(h.child(ns::ADDRESSING, "Action")).unwrap_or_default();
        header.to = text_of(h.child(ns::ADDRESSING, "To"));
        header.resource_uri = text_of(h.child(ns::WSMAN, "ResourceURI"));
        header.message_id = text_of(h.child(ns::ADDRESSING, "MessageID")).unwrap_or_default();
        if let Some(s) = h.child(ns::WSMAN, "SelectorSet") {
            header.selectors = parse_selector_set(s);
        }
        if let Some(m) = text_of(h.child(ns::WSMAN, "MaxEnvelopeSize")) {
            header.max_envelope_size = Some(
                m.parse()
                    .map_err(|_| Error::invalid("MaxEnvelopeSize", m.clone()))?,
            );
        }
        if let Some(t) = text_of(h.child(ns::WSMAN, "OperationTimeout")) {
            let (d, hh, mm, ss, us) = crate::cim::parse_duration(&t)?;
            let secs = u64::from(d) * 86_400 + u64::from(hh) * 3600 + u64::from(mm) * 60 + u64::from(ss);
            header.operation_timeout = Some(Duration::from_secs(secs) + Duration::from_micros(us.into()));
        }
        if let Some(o) = h.child(ns::WSMAN, "OptionSet") {
            header.options = o
                .elems()
                .filter(|x| x.is(ns::WSMAN, "Option"))
                .map(|x| (x.attr("Name").unwrap_or_default().to_owned(), x.text().to_owned()))
                .collect();
        }
        header.locale = h
            .child(ns::WSMAN, "Locale")
            .and_then(|l| l.attr("lang"))
            .map(str::to_owned);
    }
    if let Some(f) = first {
        if f.is(ns::WSMAN_IDENTITY, "Identify") {
            return Ok(Request {
                header,
                body: RequestBody::Identify,
            });
        }
    }
    if header.action.is_empty() {
        return Err(Error::Missing("a:Action"));
    }
    if header.message_id.is_empty() {
        return Err(Error::Missing("a:MessageID"));
    }
    let body = match header.action.as_str() {
        ns::ACTION_GET => RequestBody::Get,
        ns::ACTION_PUT => {
            let f = first.ok_or(Error::Missing("instance in Put body"))?;
            RequestBody::Put(parse_instance(f)?)
        }
        ns::ACTION_ENUMERATE => {
            let f = first
                .filter(|f| f.is(ns::ENUMERATION, "Enumerate"))
                .ok_or(Error::Missing("n:Enumerate"))?;
            RequestBody::Enumerate(parse_enumerate(f)?)
        }
        ns::ACTION_PULL => {
            let f = first
                .filter(|f| f.is(ns::ENUMERATION, "Pull"))
                .ok_or(Error::Missing("n:Pull"))?;
            let context = text_of(f.child(ns::ENUMERATION, "EnumerationContext"))
                .ok_or(Error::Missing("n:EnumerationContext"))?;
            let max_elements = match text_of(f.child(ns::ENUMERATION, "MaxElements")) {
                Some(m) => Some(m.parse().map_err(|_| Error::invalid("MaxElements", m.clone()))?),
                None => None,
            };
            RequestBody::Pull {
                context,
                max_elements,
            }
        }
        ns::ACTION_RELEASE => {
            let f = first
                .filter(|f| f.is(ns::ENUMERATION, "Release"))
                .ok_or(Error::Missing("n:Release"))?;
            let context = text_of(f.child(ns::ENUMERATION, "EnumerationContext"))
                .ok_or(Error::Missing("n:EnumerationContext"))?;
            RequestBody::Release { context }
        }
        action => {
            let method = action.rsplit('/').next().unwrap_or_default().to_owned();
            if let Some(uri) = &header.resource_uri {
                if action != format!("{uri}/{method}") {
                    return Err(Error::invalid(
                        "action",
                        format!("{action} is not {uri}/<method>"),
                    ));
                }
            }
            let input = first.ok_or(Error::Missing("method _INPUT element"))?;
            if input.local != format!("{method}_INPUT") {
                return Err(Error::Schema(format!(
                    "body element {} is not {method}_INPUT",
                    input.local
                )));
            }
            RequestBody::Invoke {
                method,
                params: parse_params(input)?,
            }
        }
    };
    Ok(Request { header, body })
}

fn parse_params(input: Elem<'_>) -> Result<Vec<(String, Value)>, Error> {
    let mut params: Vec<(String, Value)> = Vec::new();
    let mut index = crate::wsxml::NameIndex::new();
    for p in input.elems() {
        let v = parse_param(p)?;
        match index.get(&p.local) {
            None => {
                params.push((p.local.to_string(), v));
                index.push(p.local_name());
            }
            Some(i) => {
                let existing = &mut params[i].1;
                let prev = std::mem::replace(existing, Value::Null);
                *existing = match (prev, v) {
                    (Value::Array(mut a), Value::Scalar(s)) => {
                        a.push(s);
                        Value::Array(a)
                    }
                    (Value::Scalar(a), Value::Scalar(b)) => Value::Array(vec![a, b]),
                    _ => {
                        return Err(Error::Schema(format!(
                            "parameter {} repeated with non-scalar values",
                            p.local
                        )))
                    }
                };
            }
        }
    }
    Ok(params)
}

fn parse_param(p: Elem<'_>) -> Result<Value, Error> {
    if p.is_nil() {
        return Ok(Value::Null);
    }
    if !p.has_elems() {
        return Ok(Value::Scalar(Scalar::String(p.text().to_owned())));
    }
    if p.child(ns::ADDRESSING, "EndpointReference").is_some() {
        return Err(Error::Schema(format!(
            "parameter {}: a REF must hold a:Address and a:ReferenceParameters directly, not an a:EndpointReference wrapper",
            p.local
        )));
    }
    if let Some(d) = p
        .child(ns::CIM_COMMON, "Datetime")
        .or_else(|| p.child(ns::CIM_COMMON, "Interval"))
    {
        return Ok(Value::Scalar(Scalar::Datetime(
            CimDateTime::parse_iso8601(d.text())
                .map_err(|e| Error::Schema(format!("parameter {}: {e}", p.local)))?,
        )));
    }
    if let Some(epr) = parse_epr(p) {
        if p.elems()
            .any(|c| !c.is(ns::ADDRESSING, "Address") && !c.is(ns::ADDRESSING, "ReferenceParameters"))
        {
            return Err(Error::Schema(format!(
                "parameter {}: unexpected element beside the EPR",
                p.local
            )));
        }
        return Ok(Value::Reference(epr));
    }
    let child = p.elems().next().map(|c| c.local.to_string()).unwrap_or_default();
    Err(Error::Schema(format!(
        "parameter {}: element <{child}> where text is expected (embedded instances must be CIM-XML text, not the element form)",
        p.local
    )))
}

fn parse_enumerate(e: Elem<'_>) -> Result<Enumerate, Error> {
    let mut out = Enumerate {
        optimize: e.child(ns::WSMAN, "OptimizeEnumeration").is_some(),
        ..Enumerate::default()
    };
    if let Some(m) = text_of(e.child(ns::WSMAN, "MaxElements")) {
        out.max_elements = Some(m.parse().map_err(|_| Error::invalid("MaxElements", m.clone()))?);
    }
    if let Some(m) = text_of(e.child(ns::WSMAN, "EnumerationMode")) {
        out.mode = match m.as_str() {
            "EnumerateEPR" => EnumerationMode::Epr,
            "EnumerateObjectAndEPR" => EnumerationMode::ObjectAndEpr,
            other => return Err(Error::invalid("EnumerationMode", other)),
        };
    }
    if let Some(f) = e
        .child(ns::WSMAN, "Filter")
        .or_else(|| e.child(ns::ENUMERATION, "Filter"))
    {
        let dialect = f.attr("Dialect").unwrap_or_default();
        out.filter = Some(match dialect {
            ns::DIALECT_WQL => Filter::Wql(f.text().trim().to_owned()),
            ns::DIALECT_ASSOCIATION => {
                let (a, kind) = match f.child(ns::CIM_BINDING, "AssociatedInstances") {
                    Some(a) => (a, AssociationKind::AssociatedInstances),
                    None => (
                        f.child(ns::CIM_BINDING, "AssociationInstances")
                            .ok_or(Error::Missing("b:AssociatedInstances or b:AssociationInstances"))?,
                        AssociationKind::AssociationInstances,
                    ),
                };
                let object = a
                    .child(ns::CIM_BINDING, "Object")
                    .and_then(parse_epr)
                    .ok_or(Error::Missing("b:Object EPR"))?;
                let t = |l: &str| text_of(a.child(ns::CIM_BINDING, l));
                Filter::Association(AssociationFilter {
                    object,
                    kind,
                    association_class: t("AssociationClassName"),
                    result_class: t("ResultClassName"),
                    role: t("Role"),
                    result_role: t("ResultRole"),
                })
            }
            other => return Err(Error::invalid("filter dialect", other)),
        });
    }
    Ok(out)
}

/// The response action for a request action: WS-Transfer/Enumeration actions get their
/// `…Response` action; a method action `{uri}/{Method}` becomes `{uri}/{Method}Response`.
pub fn response_action(request_action: &str) -> String {
    format!("{request_action}Response")
}

/// Serialises a response envelope the way Windows does (namespaces on the envelope, `p:`
/// rebound on the class element, `a:To` anonymous). Instances are written in the namespace of
/// the method's resource URI (from a method response action), of their EPR, or else of
/// `root/virtualization/v2`; see [`write_response_in`] to choose the WMI namespace.
pub fn write_response(action: &str, message_id: &str, relates_to: &str, body: &ResponseBody) -> String {
    write_response_in("root/virtualization/v2", action, message_id, relates_to, body)
}

/// [`write_response`] with an explicit default WMI namespace (e.g. `root/cimv2`).
pub fn write_response_in(
    wmi_namespace: &str,
    action: &str,
    message_id: &str,
    relates_to: &str,
    body: &ResponseBody,
) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(&format!(
        "<s:Envelope xml:lang=\"en-US\" xmlns:a=\"{}\" xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" xmlns:n=\"{}\" xmlns:p=\"{}\" xmlns:s=\"{}\" xmlns:w=\"{}\" xmlns:x=\"{}\">",
        ns::ADDRESSING, ns::ENUMERATION, ns::MS_WSMAN, ns::SOAP, ns::WSMAN, ns::TRANSFER
    ));
    if matches!(body, ResponseBody::Identify(_)) {
        out.push_str("<s:Header/>");
    } else {
        out.push_str("<s:Header><a:Action>");
        out.push_str(&escape(action));
        out.push_str("</a:Action><a:MessageID>");
        out.push_str(&escape(message_id));
        out.push_str("</a:MessageID><a:To>");
        out.push_str(ns::ANONYMOUS);
        out.push_str("</a:To><a:RelatesTo>");
        out.push_str(&escape(relates_to));
        out.push_str("</a:RelatesTo></s:Header>");
    }
    match body {
        ResponseBody::Empty => out.push_str("<s:Body/>"),
        ResponseBody::Identify(i) => {
            out.push_str(&format!(
                "<s:Body><wsmid:IdentifyResponse xmlns:wsmid=\"{}\"><wsmid:ProtocolVersion>{}</wsmid:ProtocolVersion><wsmid:ProductVendor>{}</wsmid:ProductVendor><wsmid:ProductVersion>{}</wsmid:ProductVersion>",
                ns::WSMAN_IDENTITY,
                escape(&i.protocol_version),
                escape(&i.product_vendor),
                escape(&i.product_version)
            ));
            if !i.security_profiles.is_empty() {
                out.push_str("<wsmid:SecurityProfiles>");
                for p in &i.security_profiles {
                    out.push_str(&format!(
                        "<wsmid:SecurityProfileName>{}</wsmid:SecurityProfileName>",
                        escape(p)
                    ));
                }
                out.push_str("</wsmid:SecurityProfiles>");
            }
            out.push_str("</wsmid:IdentifyResponse></s:Body>");
        }
        ResponseBody::Instance(i) => {
            out.push_str("<s:Body>");
            if i.class_name.ends_with("_OUTPUT") {
                let uri = action
                    .rsplit_once('/')
                    .map(|(u, _)| u.to_owned())
                    .unwrap_or_default();
                push_instance(&mut out, &uri, i, false);
            } else {
                push_instance(&mut out, &wmi_resource_uri(wmi_namespace, &i.class_name), i, true);
            }
            out.push_str("</s:Body>");
        }
        ResponseBody::Enumeration(page) => {
            out.push_str("<s:Body>");
            push_page(&mut out, wmi_namespace, action, page);
            out.push_str("</s:Body>");
        }
        ResponseBody::Fault(f) => {
            out.push_str("<s:Body>");
            push_fault(&mut out, f);
            out.push_str("</s:Body>");
        }
    }
    out.push_str("</s:Envelope>");
    out
}

fn push_page(out: &mut String, wmi_namespace: &str, action: &str, page: &EnumerationPage) {
    let optimized = action.ends_with("EnumerateResponse");
    let (el, items_prefix) = if optimized {
        ("EnumerateResponse", "w")
    } else {
        ("PullResponse", "n")
    };
    out.push_str(&format!("<n:{el}>"));
    if let Some(c) = &page.context {
        out.push_str(&format!(
            "<n:EnumerationContext>{}</n:EnumerationContext>",
            escape(c)
        ));
    }
    if !page.items.is_empty() || !optimized {
        out.push_str(&format!("<{items_prefix}:Items>"));
        for item in &page.items {
            let uri = |class: &str| match &item.epr {
                Some(e) if class_of(&e.resource_uri) == class => e.resource_uri.clone(),
                _ => wmi_resource_uri(wmi_namespace, class),
            };
            match (&item.instance, &item.epr) {
                (Some(i), None) => push_instance(out, &uri(&i.class_name), i, true),
                (None, Some(e)) => {
                    out.push_str("<a:EndpointReference>");
                    push_epr_contents(out, e);
                    out.push_str("</a:EndpointReference>");
                }
                (Some(i), Some(e)) => {
                    out.push_str("<w:Item>");
                    push_instance(out, &uri(&i.class_name), i, true);
                    out.push_str("<a:EndpointReference>");
                    push_epr_contents(out, e);
                    out.push_str("</a:EndpointReference></w:Item>");
                }
                (None, None) => out.push_str("<w:Item/>"),
            }
        }
        out.push_str(&format!("</{items_prefix}:Items>"));
    }
    if page.end_of_sequence {
        out.push_str(&format!("<{items_prefix}:EndOfSequence/>"));
    }
    out.push_str(&format!("</n:{el}>"));
}

fn push_opt(out: &mut String, prefix: &str, name: &str, v: Option<&str>) {
    match v {
        Some(v) => out.push_str(&format!("<{prefix}:{name}>{}</{prefix}:{name}>", escape(v))),
        None => out.push_str(&format!("<{prefix}:{name} xsi:nil=\"true\"/>")),
    }
}

fn push_fault(out: &mut String, f: &Fault) {
    out.push_str(&format!(
        "<s:Fault><s:Code><s:Value>s:{}</s:Value>",
        escape(&f.code)
    ));
    if let Some(sub) = &f.subcode {
        let prefix = match f.subcode_ns.as_deref() {
            Some(ns::WSMAN) | None => "w",
            Some(ns::ENUMERATION) => "n",
            Some(ns::ADDRESSING) => "a",
            Some(ns::TRANSFER) => "x",
            Some(ns::MS_WSMAN) => "p",
            Some(ns::SOAP) => "s",
            Some(_) => "sc",
        };
        if prefix == "sc" {
            out.push_str(&format!(
                "<s:Subcode><s:Value xmlns:sc=\"{}\">sc:{}</s:Value></s:Subcode>",
                escape(f.subcode_ns.as_deref().unwrap_or_default()),
                escape(sub)
            ));
        } else {
            out.push_str(&format!(
                "<s:Subcode><s:Value>{prefix}:{}</s:Value></s:Subcode>",
                escape(sub)
            ));
        }
    }
    out.push_str("</s:Code>");
    if let Some(r) = &f.reason {
        out.push_str(&format!(
            "<s:Reason><s:Text xml:lang=\"en-US\">{}</s:Text></s:Reason>",
            escape(r)
        ));
    }
    let has_wsman =
        f.wsman_code.is_some() || f.machine.is_some() || f.message.is_some() || f.provider.is_some();
    if has_wsman || f.extended_status.is_some() || f.wmi_error.is_some() || !f.fault_details.is_empty() {
        out.push_str("<s:Detail>");
        // Windows writes `w:FaultDetail` first, then `f:WSManFault`.
        for d in &f.fault_details {
            out.push_str(&format!("<w:FaultDetail>{}</w:FaultDetail>", escape(d)));
        }
        if has_wsman {
            out.push_str(&format!("<f:WSManFault xmlns:f=\"{}\"", ns::WSMAN_FAULT));
            if let Some(c) = f.wsman_code {
                out.push_str(&format!(" Code=\"{c}\""));
            }
            if let Some(m) = &f.machine {
                out.push_str(&format!(" Machine=\"{}\"", escape(m)));
            }
            out.push_str("><f:Message>");
            if let Some(m) = &f.message {
                out.push_str(&escape(m));
            }
            if let Some(p) = &f.provider {
                out.push_str("<f:ProviderFault");
                if let Some(v) = &p.path {
                    out.push_str(&format!(" path=\"{}\"", escape(v)));
                }
                if let Some(v) = &p.provider {
                    out.push_str(&format!(" provider=\"{}\"", escape(v)));
                }
                out.push('>');
                out.push_str(&format!("<f:WSManFault xmlns:f=\"{}\"", ns::WSMAN_FAULT));
                if let Some(c) = p.wsman_code {
                    out.push_str(&format!(" Code=\"{c}\""));
                }
                if let Some(m) = &f.machine {
                    out.push_str(&format!(" Machine=\"{}\"", escape(m)));
                }
                out.push_str("><f:Message>");
                if let Some(m) = &p.message {
                    out.push_str(&escape(m));
                }
                out.push_str("</f:Message></f:WSManFault>");
                if let Some(x) = &f.extended_status {
                    push_extended(out, x);
                }
                out.push_str("</f:ProviderFault>");
            }
            out.push_str("</f:Message></f:WSManFault>");
        }
        if f.provider.is_none() || !has_wsman {
            if let Some(x) = &f.extended_status {
                push_extended(out, x);
            }
        }
        if let Some(w) = &f.wmi_error {
            out.push_str(&format!(
                "<p:MSFT_WmiError b:IsCIM_Error=\"true\" xmlns:b=\"{}\" xmlns:cim=\"{}\" xmlns:p=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError\" xsi:type=\"p:MSFT_WmiError_Type\" xmlns:xsi=\"{}\">",
                ns::CIM_BINDING, ns::CIM_COMMON, ns::XSI
            ));
            let num = |v: Option<u32>| v.map(|n| n.to_string());
            push_opt(out, "p", "CIMStatusCode", num(w.cim_status_code).as_deref());
            push_opt(out, "p", "Message", w.message.as_deref());
            push_opt(out, "p", "MessageID", w.message_id.as_deref());
            push_opt(out, "p", "error_Category", num(w.error_category).as_deref());
            push_opt(out, "p", "error_Code", num(w.error_code).as_deref());
            push_opt(out, "p", "error_Type", num(w.error_type).as_deref());
            push_opt(
                out,
                "p",
                "error_WindowsErrorMessage",
                w.windows_error_message.as_deref(),
            );
            out.push_str("</p:MSFT_WmiError>");
        }
        out.push_str("</s:Detail>");
    }
    out.push_str("</s:Fault>");
}

fn push_extended(out: &mut String, x: &crate::response::ExtendedStatus) {
    out.push_str(&format!(
        "<f:ExtendedError xmlns:f=\"{}\"><p:__ExtendedStatus xmlns:cim=\"{}\" xmlns:p=\"{}root/cimv2/__ExtendedStatus\" xmlns:xsi=\"{}\" xsi:type=\"p:__ExtendedStatus_Type\">",
        ns::WSMAN_FAULT, ns::CIM_COMMON, ns::WMI_BASE, ns::XSI
    ));
    let num = x.status_code.map(|n| n.to_string());
    push_opt(out, "p", "Description", x.description.as_deref());
    push_opt(out, "p", "Operation", x.operation.as_deref());
    push_opt(out, "p", "ParameterInfo", x.parameter_info.as_deref());
    push_opt(out, "p", "ProviderName", x.provider_name.as_deref());
    push_opt(out, "p", "StatusCode", num.as_deref());
    out.push_str("</p:__ExtendedStatus></f:ExtendedError>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cim::Instance;
    use crate::epr::Epr;
    use crate::request::{invoke, RequestHeader};
    use crate::response::{parse_response, Item, ProviderFault};

    const HDR: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService</w:ResourceURI><a:Action>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService/ReverseReplicationRelationship</a:Action><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body><p:ReverseReplicationRelationship_INPUT xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService">"#;
    const TAIL: &str = "</p:ReverseReplicationRelationship_INPUT></s:Body></s:Envelope>";

    #[test]
    fn ref_wrapped_in_endpoint_reference_is_a_schema_error() {
        let body = format!(
            "{HDR}<p:ComputerSystem><a:EndpointReference><a:Address>{}</a:Address><a:ReferenceParameters><w:ResourceURI>u</w:ResourceURI></a:ReferenceParameters></a:EndpointReference></p:ComputerSystem>{TAIL}",
            ns::ANONYMOUS
        );
        let err = parse_request(body.as_bytes(), &Limits::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Schema(m) if m.contains("a:EndpointReference wrapper")),
            "{err}"
        );
    }

    #[test]
    fn element_form_embedded_instance_is_a_schema_error() {
        let body = format!(
            "{HDR}<p:ReplicationSettingData><q:Msvm_ReplicationSettingData xmlns:q=\"urn:x\"><q:InstanceID>i</q:InstanceID></q:Msvm_ReplicationSettingData></p:ReplicationSettingData>{TAIL}"
        );
        let err = parse_request(body.as_bytes(), &Limits::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Schema(m) if m.contains("Msvm_ReplicationSettingData")),
            "{err}"
        );
    }

    #[test]
    fn entity_escaped_cim_xml_is_accepted_like_cdata() {
        let body = format!("{HDR}<p:ReplicationSettingData>&lt;INSTANCE CLASSNAME=\"X\"/&gt;</p:ReplicationSettingData>{TAIL}");
        let r = parse_request(body.as_bytes(), &Limits::default()).unwrap();
        let RequestBody::Invoke { params, .. } = r.body else {
            panic!()
        };
        assert_eq!(
            params[0].1,
            Value::Scalar(Scalar::String("<INSTANCE CLASSNAME=\"X\"/>".into()))
        );
    }

    #[test]
    fn wrong_input_element_and_missing_headers_are_errors() {
        let body = HDR.replace("ReverseReplicationRelationship_INPUT", "Other_INPUT")
            + &TAIL.replace("ReverseReplicationRelationship_INPUT", "Other_INPUT");
        assert!(matches!(
            parse_request(body.as_bytes(), &Limits::default()),
            Err(Error::Schema(_))
        ));
        let no_id = format!("{HDR}{TAIL}").replace("<a:MessageID>uuid:1</a:MessageID>", "");
        assert_eq!(
            parse_request(no_id.as_bytes(), &Limits::default()),
            Err(Error::Missing("a:MessageID"))
        );
    }

    #[test]
    fn invoke_params_parse_back_in_order_with_types_windows_would_see() {
        let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ComputerSystem");
        let h = RequestHeader::new("http://h:5985/wsman", uri.clone(), "uuid:2");
        let vm = Epr::new(uri, SelectorSet::new().with("Name", "G"));
        let ts = CimDateTime::parse_iso8601("2024-01-01T00:00:00+01:00").unwrap();
        let text = invoke(
            &h,
            "M",
            &[
                ("A".into(), Value::Null),
                (
                    "B".into(),
                    Value::Array(vec![Scalar::Uint16(1), Scalar::Uint16(2)]),
                ),
                ("C".into(), Value::Reference(vm.clone())),
                ("D".into(), Value::Scalar(Scalar::Datetime(ts))),
                (
                    "E".into(),
                    Instance::new("X").with("K", Scalar::String("]]>".into())).into(),
                ),
            ],
        );
        let r = parse_request(text.as_bytes(), &Limits::default()).unwrap();
        let RequestBody::Invoke { method, params } = r.body else {
            panic!()
        };
        assert_eq!(method, "M");
        let names: Vec<_> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "D", "E"]);
        assert_eq!(params[0].1, Value::Null);
        assert_eq!(
            params[1].1,
            Value::Array(vec![Scalar::String("1".into()), Scalar::String("2".into())])
        );
        assert_eq!(params[2].1, Value::Reference(vm));
        assert_eq!(params[3].1, Value::Scalar(Scalar::Datetime(ts)));
        assert_eq!(
            params[4].1,
            Value::Scalar(Scalar::String(
                "<INSTANCE CLASSNAME=\"X\"><PROPERTY NAME=\"K\" TYPE=\"string\"><VALUE>]]&gt;</VALUE></PROPERTY></INSTANCE>".into()
            ))
        );
    }

    #[test]
    fn write_response_shapes_like_windows_and_parses_back() {
        let uri = wmi_resource_uri("root/virtualization/v2", "Msvm_ReplicationService");
        let job = Epr::new(
            wmi_resource_uri("root/virtualization/v2", "Msvm_ConcreteJob"),
            SelectorSet::new().with("InstanceID", "J"),
        );
        let out = Instance::new("ReverseReplicationRelationship_OUTPUT")
            .with("Job", job)
            .with("ReturnValue", Scalar::String("4096".into()));
        let action = response_action(&format!("{uri}/ReverseReplicationRelationship"));
        let body = ResponseBody::Instance(out);
        let text = write_response(&action, "uuid:R", "uuid:Q", &body);
        assert!(text.contains(&format!(
            "<p:ReverseReplicationRelationship_OUTPUT xmlns:xsi=\"{}\" xmlns:p=\"{uri}\"",
            ns::XSI
        )));
        assert!(text.contains("<p:Job xmlns:a="));
        assert!(text.contains("<a:RelatesTo>uuid:Q</a:RelatesTo>"));
        let r = parse_response(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.body, body);
        assert_eq!(r.header.action.as_deref(), Some(action.as_str()));
        r.header.check_relates_to("uuid:Q").unwrap();
    }

    #[test]
    fn pull_and_optimized_enumerate_use_n_and_w_items() {
        let inst = Instance::new("Msvm_ComputerSystem").with("Name", Scalar::String("G".into()));
        let page = EnumerationPage {
            context: Some("ctx".into()),
            items: vec![Item {
                instance: Some(inst),
                epr: None,
            }],
            end_of_sequence: true,
        };
        let pull = write_response(
            ns::ACTION_PULL_RESPONSE,
            "m",
            "r",
            &ResponseBody::Enumeration(page.clone()),
        );
        assert!(pull.contains("<n:Items><p:Msvm_ComputerSystem ") && pull.contains("<n:EndOfSequence/>"));
        assert!(pull.contains("xsi:type=\"p:Msvm_ComputerSystem_Type\""));
        let en = write_response(
            ns::ACTION_ENUMERATE_RESPONSE,
            "m",
            "r",
            &ResponseBody::Enumeration(page.clone()),
        );
        assert!(en.contains("<w:Items>") && en.contains("<w:EndOfSequence/>"));
        for t in [pull, en] {
            assert_eq!(
                parse_response(t.as_bytes(), &Limits::default()).unwrap().body,
                ResponseBody::Enumeration(page.clone())
            );
        }
    }

    #[test]
    fn faults_are_written_with_wsmanfault_detail() {
        let f = Fault {
            action: Some(ns::ACTION_FAULT.into()),
            code: "Sender".into(),
            subcode: Some("InvalidSelectors".into()),
            subcode_ns: Some(ns::WSMAN.into()),
            reason: Some("bad selectors".into()),
            wsman_code: Some(0x8033_803D),
            machine: Some("HV1".into()),
            message: Some("bad selectors".into()),
            provider: Some(ProviderFault {
                provider: Some("WMI Provider".into()),
                path: Some("%systemroot%\\system32\\WsmWmiPl.dll".into()),
                wsman_code: Some(0x8004_1002),
                message: Some("not found".into()),
            }),
            ..Fault::default()
        };
        let text = write_response(ns::ACTION_FAULT, "m", "r", &ResponseBody::Fault(f.clone()));
        assert!(text.contains("<s:Value>w:InvalidSelectors</s:Value>"));
        assert!(text.contains("<f:WSManFault xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\" Code=\"2150858813\" Machine=\"HV1\">"));
        assert_eq!(
            parse_response(text.as_bytes(), &Limits::default()).unwrap().body,
            ResponseBody::Fault(f)
        );
    }

    #[test]
    fn response_action_appends_response() {
        assert_eq!(response_action(ns::ACTION_GET), ns::ACTION_GET_RESPONSE);
        assert_eq!(response_action(ns::ACTION_PULL), ns::ACTION_PULL_RESPONSE);
        assert_eq!(response_action(ns::ACTION_RELEASE), ns::ACTION_RELEASE_RESPONSE);
        assert_eq!(response_action("u/M"), "u/MResponse");
    }
}
