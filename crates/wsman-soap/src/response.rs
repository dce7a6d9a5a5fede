//! Client-side response parsers: by namespace URI, never by prefix.
//!
//! DSP0226 responses and SOAP 1.2 faults with the Microsoft `f:WSManFault` detail
//! ([MS-WSMV §2.2.4.43]), `__ExtendedStatus` and `MSFT_WmiError`.

use crate::cim::Instance;
use crate::epr::Epr;
use crate::error::{Error, Limits};
use crate::ns;
use crate::wsxml::{parse_epr, parse_instance};
use crate::xml::{parse, Elem};

/// A parsed response envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Addressing headers.
    pub header: ResponseHeader,
    /// The body.
    pub body: ResponseBody,
}

/// WS-Addressing headers of a response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// `a:Action`.
    pub action: Option<String>,
    /// `a:MessageID`.
    pub message_id: Option<String>,
    /// `a:RelatesTo`: the MessageID of the request this answers.
    pub relates_to: Option<String>,
}

impl ResponseHeader {
    /// Checks that this response answers the request sent with `sent_message_id`
    /// (compared ignoring ASCII case: Windows may change the case of the UUID).
    pub fn check_relates_to(&self, sent_message_id: &str) -> Result<(), Error> {
        match &self.relates_to {
            Some(r) if r.trim().eq_ignore_ascii_case(sent_message_id.trim()) => Ok(()),
            other => Err(Error::RelatesTo {
                expected: sent_message_id.to_owned(),
                found: other.clone(),
            }),
        }
    }
}

/// The body of a response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// The variants are the public API (ARCHITECTURE.md, "API boundary"); a fault is rare, so its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ResponseBody {
    /// A SOAP fault.
    Fault(Fault),
    /// An Identify response.
    Identify(IdentifyResponse),
    /// A Get/Put response body, or a method's `{Method}_OUTPUT` (class name `X_OUTPUT`).
    Instance(Instance),
    /// An EnumerateResponse (optimized: items inside) or PullResponse.
    Enumeration(EnumerationPage),
    /// ReleaseResponse, or any empty body.
    Empty,
}

/// One page of an enumeration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnumerationPage {
    /// `n:EnumerationContext` to Pull with (absent once the sequence ended).
    pub context: Option<String>,
    /// The items of this page.
    pub items: Vec<Item>,
    /// `n:EndOfSequence` or `w:EndOfSequence` was present.
    pub end_of_sequence: bool,
}

/// One enumeration item: an object, an EPR, or both (EnumerateObjectAndEPR).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item {
    /// The object, unless the mode was EnumerateEPR.
    pub instance: Option<Instance>,
    /// The EPR, with EnumerateEPR / EnumerateObjectAndEPR.
    pub epr: Option<Epr>,
}

/// [DSP0226 §11] Identify response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentifyResponse {
    /// `wsmid:ProtocolVersion`.
    pub protocol_version: String,
    /// `wsmid:ProductVendor`.
    pub product_vendor: String,
    /// `wsmid:ProductVersion`.
    pub product_version: String,
    /// `wsmid:SecurityProfiles/wsmid:SecurityProfileName`.
    pub security_profiles: Vec<String>,
}

/// A method's output (`{Method}_OUTPUT`).
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOutput {
    /// The method name (`X` for `X_OUTPUT`).
    pub method: String,
    /// `ReturnValue`: 0 done, 4096 job started, 32768.. failures (Msvm methods).
    pub return_value: Option<u32>,
    /// All output parameters, including `ReturnValue` and `Job`.
    pub out: Instance,
}

impl MethodOutput {
    /// Interprets an `X_OUTPUT` instance.
    pub fn from_instance(i: Instance) -> Result<MethodOutput, Error> {
        let method = i
            .class_name
            .strip_suffix("_OUTPUT")
            .ok_or_else(|| {
                Error::invalid(
                    "method output",
                    format!("element {} is not X_OUTPUT", i.class_name),
                )
            })?
            .to_owned();
        let return_value = match i.get("ReturnValue") {
            None => None,
            Some(v) if v.is_null() => None,
            Some(v) => Some(
                v.as_scalar()
                    .and_then(|s| s.as_u64())
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| Error::invalid("ReturnValue", format!("{v:?}")))?,
            ),
        };
        Ok(MethodOutput {
            method,
            return_value,
            out: i,
        })
    }

    /// The `Job` output reference (set when ReturnValue is 4096).
    pub fn job(&self) -> Option<&Epr> {
        self.out.get_reference("Job")
    }

    /// The `InstanceID` selector of the job reference.
    pub fn job_instance_id(&self) -> Option<&str> {
        self.job()?.selectors.get("InstanceID")
    }
}

/// A SOAP 1.2 fault with the Microsoft details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fault {
    /// The response `a:Action` (`…/wsman/1/wsman/fault`, `…/enumeration/fault`, …).
    pub action: Option<String>,
    /// `s:Code/s:Value` local name: `Sender` or `Receiver`.
    pub code: String,
    /// `s:Subcode/s:Value` local name, e.g. `InvalidSelectors`.
    pub subcode: Option<String>,
    /// The namespace URI of the subcode's prefix.
    pub subcode_ns: Option<String>,
    /// `s:Reason/s:Text`.
    pub reason: Option<String>,
    /// `f:WSManFault/@Code` (a Windows error code such as 0x8033803D).
    pub wsman_code: Option<u32>,
    /// `f:WSManFault/@Machine`.
    pub machine: Option<String>,
    /// The text of `f:WSManFault/f:Message` (without nested elements), trimmed.
    pub message: Option<String>,
    /// `f:ProviderFault`.
    pub provider: Option<ProviderFault>,
    /// WMI `__ExtendedStatus`.
    pub extended_status: Option<ExtendedStatus>,
    /// `MSFT_WmiError` (CIM-style error, any namespace).
    pub wmi_error: Option<WmiError>,
    /// The `w:FaultDetail` URIs that are children of `s:Detail`, in document order, trimmed,
    /// at most [`MAX_FAULT_DETAILS`] ([DMTF-DSP0226 14], e.g.
    /// [`ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE`] for `w:EncodingLimit`). Windows writes them
    /// before `f:WSManFault`.
    pub fault_details: Vec<String>,
}

/// The most `w:FaultDetail` URIs kept from one fault (more are ignored).
pub const MAX_FAULT_DETAILS: usize = 16;

/// `f:ProviderFault`: the provider (usually WMI) that failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderFault {
    /// `@provider`, e.g. `WMI Provider`.
    pub provider: Option<String>,
    /// `@path`, e.g. `%systemroot%\system32\WsmWmiPl.dll`.
    pub path: Option<String>,
    /// The nested `f:WSManFault/@Code`.
    pub wsman_code: Option<u32>,
    /// The nested `f:WSManFault/f:Message` text (or the ProviderFault's own text), trimmed.
    pub message: Option<String>,
}

/// WMI `__ExtendedStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedStatus {
    /// `Description`.
    pub description: Option<String>,
    /// `Operation`, e.g. `ExecQuery`, `GetObject`.
    pub operation: Option<String>,
    /// `ParameterInfo`: the query or object path.
    pub parameter_info: Option<String>,
    /// `ProviderName`.
    pub provider_name: Option<String>,
    /// `StatusCode` (a WBEM HRESULT).
    pub status_code: Option<u32>,
}

/// `MSFT_WmiError`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WmiError {
    /// `CIMStatusCode`.
    pub cim_status_code: Option<u32>,
    /// `Message`.
    pub message: Option<String>,
    /// `MessageID`, e.g. `HRESULT 0x803381a5`.
    pub message_id: Option<String>,
    /// `error_Code`.
    pub error_code: Option<u32>,
    /// `error_Type` (numeric form; `HRESULT` text gives `None`).
    pub error_type: Option<u32>,
    /// `error_Category`.
    pub error_category: Option<u32>,
    /// `error_WindowsErrorMessage`.
    pub windows_error_message: Option<String>,
}

/// Faults with a documented meaning (`wsmerror.h`, WS-Management subcodes, WMI HRESULTs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownFault {
    /// 0x80338000 ERROR_WSMAN_RESOURCE_NOT_FOUND: no instance for the URI and selectors.
    ResourceNotFound,
    /// 0x8033801A / `n:CannotProcessFilter`: filter refused, or the class does not exist.
    CannotProcessFilter,
    /// 0x80338029 / `w:TimedOut`: the operation did not finish within OperationTimeout.
    OperationTimeout,
    /// 0x8033803D / `w:InvalidSelectors`: selectors do not name an instance.
    InvalidSelectors,
    /// 0x80070005 / `w:AccessDenied`.
    AccessDenied,
    /// `w:SchemaValidationError`: the request does not match the schema.
    SchemaValidation,
    /// 0x803381A5 / `w:QuotaLimit`.
    QuotaLimit,
    /// 0x80338012 / `a:DestinationUnreachable`.
    DestinationUnreachable,
    /// 0x80338013 / `a:ActionNotSupported`.
    ActionNotSupported,
    /// 0x80338019 / `w:FilterDialectRequestedUnavailable`.
    FilterDialectUnavailable,
    /// 0x803380FA: URI without keys but the class is not a singleton.
    NotSingleton,
    /// 0x80338048 ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED / `w:EncodingLimit` (e.g. the
    /// response would exceed MaxEnvelopeSize).
    EncodingLimit,
    /// 0x8004102F WBEM_E_INVALID_METHOD_PARAMETERS.
    InvalidMethodParameters,
    /// 0x80041008 WBEM_E_INVALID_PARAMETER.
    InvalidParameter,
    /// 0x80041002 WBEM_E_NOT_FOUND.
    WmiNotFound,
    /// `w:InternalError`.
    InternalError,
    /// 0x8033802F ERROR_WSMAN_INVALID_BATCH_PARAMETER / `w:InvalidBatchParameter`: the
    /// request's MaxElements is 0 or above the host's MaxBatchItems ([MS-WSMAN 3.2.4.1.6]).
    InvalidBatchParameter,
}

impl KnownFault {
    /// A short lowercase description.
    pub fn description(self) -> &'static str {
        match self {
            KnownFault::ResourceNotFound => {
                "resource not found (no instance matches the resource URI and selectors)"
            }
            KnownFault::CannotProcessFilter => {
                "the server cannot process the filter (or the class does not exist)"
            }
            KnownFault::OperationTimeout => "the operation timed out on the server",
            KnownFault::InvalidSelectors => "invalid selectors for the resource",
            KnownFault::AccessDenied => "access denied",
            KnownFault::SchemaValidation => "the request failed schema validation",
            KnownFault::QuotaLimit => "a WinRM quota was exceeded",
            KnownFault::DestinationUnreachable => {
                "destination unreachable (resource URI or selectors not accepted)"
            }
            KnownFault::ActionNotSupported => "action not supported",
            KnownFault::FilterDialectUnavailable => "filter dialect not available",
            KnownFault::NotSingleton => "the class is not a singleton: selectors are required",
            KnownFault::EncodingLimit => "an encoding limit was exceeded (envelope too large?)",
            KnownFault::InvalidMethodParameters => "invalid method parameters",
            KnownFault::InvalidParameter => "invalid parameter",
            KnownFault::WmiNotFound => "WMI object not found",
            KnownFault::InternalError => "internal error on the server",
            KnownFault::InvalidBatchParameter => {
                "the page size asked for (MaxElements) is above the host's MaxBatchItems: \
                 ask for fewer items per page"
            }
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0x8033_8000 => KnownFault::ResourceNotFound,
            0x8033_801A => KnownFault::CannotProcessFilter,
            0x8033_8029 => KnownFault::OperationTimeout,
            0x8033_803D => KnownFault::InvalidSelectors,
            0x8007_0005 | 5 => KnownFault::AccessDenied,
            0x8033_81A5 => KnownFault::QuotaLimit,
            0x8033_8012 => KnownFault::DestinationUnreachable,
            0x8033_8013 => KnownFault::ActionNotSupported,
            0x8033_8019 => KnownFault::FilterDialectUnavailable,
            0x8033_80FA => KnownFault::NotSingleton,
            0x8033_8048 => KnownFault::EncodingLimit,
            0x8004_102F => KnownFault::InvalidMethodParameters,
            0x8004_1008 => KnownFault::InvalidParameter,
            0x8004_1002 => KnownFault::WmiNotFound,
            0x8033_802F => KnownFault::InvalidBatchParameter,
            _ => return None,
        })
    }

    fn from_subcode(sub: &str) -> Option<Self> {
        Some(match sub {
            "InvalidSelectors" => KnownFault::InvalidSelectors,
            "CannotProcessFilter" => KnownFault::CannotProcessFilter,
            "TimedOut" => KnownFault::OperationTimeout,
            "AccessDenied" => KnownFault::AccessDenied,
            "SchemaValidationError" => KnownFault::SchemaValidation,
            "QuotaLimit" => KnownFault::QuotaLimit,
            "DestinationUnreachable" => KnownFault::DestinationUnreachable,
            "ActionNotSupported" => KnownFault::ActionNotSupported,
            "FilterDialectRequestedUnavailable" => KnownFault::FilterDialectUnavailable,
            "EncodingLimit" => KnownFault::EncodingLimit,
            "InternalError" => KnownFault::InternalError,
            "InvalidBatchParameter" => KnownFault::InvalidBatchParameter,
            _ => return None,
        })
    }
}

impl Fault {
    /// The documented fault this is, from the WSManFault code, then the provider's code, then
    /// the SOAP subcode.
    pub fn known(&self) -> Option<KnownFault> {
        self.wsman_code
            .and_then(KnownFault::from_code)
            .or_else(|| {
                self.provider
                    .as_ref()
                    .and_then(|p| p.wsman_code)
                    .and_then(KnownFault::from_code)
            })
            .or_else(|| {
                self.wmi_error
                    .as_ref()
                    .and_then(|w| w.error_code)
                    .and_then(KnownFault::from_code)
            })
            .or_else(|| self.subcode.as_deref().and_then(KnownFault::from_subcode))
    }

    /// True when the fault carries the `w:FaultDetail` URI `uri` (compared exactly, e.g.
    /// [`ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE`]).
    pub fn has_fault_detail(&self, uri: &str) -> bool {
        self.fault_details.iter().any(|d| d == uri)
    }

    /// True for a `w:EncodingLimit` fault that says the reply would exceed the request's
    /// `w:MaxEnvelopeSize` (FaultDetail `…/faultDetail/MaxEnvelopeSize`, [DMTF-DSP0226 6.2]).
    pub fn is_max_envelope_size_exceeded(&self) -> bool {
        self.known() == Some(KnownFault::EncodingLimit)
            && self.has_fault_detail(ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE)
    }

    /// True for an operation timeout (`w:TimedOut`, 0x80338029): a Pull may be retried.
    pub fn is_timeout(&self) -> bool {
        self.known() == Some(KnownFault::OperationTimeout)
    }

    /// The most specific message the server gave.
    pub fn best_message(&self) -> Option<&str> {
        self.provider
            .as_ref()
            .and_then(|p| p.message.as_deref())
            .or(self.message.as_deref())
            .or_else(|| self.wmi_error.as_ref().and_then(|w| w.message.as_deref()))
            .or(self.reason.as_deref())
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }

    /// One line: what kind of fault, the server's message, and the code(s).
    ///
    /// e.g. `invalid selectors for the resource: The WS-Management service cannot process the
    /// request because the request contained invalid selectors for the resource. (wsman
    /// 0x8033803D, w:InvalidSelectors, on HV1)`.
    pub fn summary(&self) -> String {
        let kind = match self.known() {
            Some(_) if self.is_max_envelope_size_exceeded() => {
                "the reply would exceed the request's MaxEnvelopeSize (ask for less per request, \
                 or raise the client's max envelope size together with the host's \
                 MaxEnvelopeSizekb)"
                    .to_owned()
            }
            Some(k) => k.description().to_owned(),
            None => format!("soap fault {}", self.subcode.as_deref().unwrap_or(&self.code)),
        };
        let mut s = kind;
        if let Some(m) = self.best_message() {
            s.push_str(": ");
            s.push_str(&m.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        let mut tags = Vec::new();
        if let Some(c) = self.wsman_code {
            tags.push(format!("wsman 0x{c:08X}"));
        }
        if let Some(c) = self
            .provider
            .as_ref()
            .and_then(|p| p.wsman_code)
            .filter(|c| Some(*c) != self.wsman_code)
        {
            tags.push(format!("provider 0x{c:08X}"));
        }
        if let Some(c) = self.wmi_error.as_ref().and_then(|w| w.error_code) {
            tags.push(format!("wmi 0x{c:08X}"));
        }
        if let Some(x) = &self.extended_status {
            if let (Some(op), Some(p)) = (&x.operation, &x.parameter_info) {
                tags.push(format!("{op} {p}"));
            }
        }
        for d in &self.fault_details {
            tags.push(format!("detail {}", d.rsplit('/').next().unwrap_or(d)));
        }
        if let Some(sub) = &self.subcode {
            tags.push(format!("{}:{sub}", self.code));
        } else {
            tags.push(self.code.clone());
        }
        if let Some(m) = &self.machine {
            tags.push(format!("on {m}"));
        }
        s.push_str(&format!(" ({})", tags.join(", ")));
        s
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Parses a response envelope (by namespace URI), enforcing `limits`.
pub fn parse_response(body: &[u8], limits: &Limits) -> Result<Response, Error> {
    let doc = parse(body, limits)?;
    let root = doc.root();
    if !root.is(ns::SOAP, "Envelope") {
        return Err(Error::Missing("soap:Envelope"));
    }
    let mut header = ResponseHeader::default();
    if let Some(h) = root.child(ns::SOAP, "Header") {
        let text = |local: &str| h.child(ns::ADDRESSING, local).map(|e| e.text().trim().to_owned());
        header.action = text("Action");
        header.message_id = text("MessageID");
        header.relates_to = text("RelatesTo");
    }
    let b = root.child(ns::SOAP, "Body").ok_or(Error::Missing("soap:Body"))?;
    let body = match b.elems().next() {
        None => ResponseBody::Empty,
        Some(e) if e.is(ns::SOAP, "Fault") => ResponseBody::Fault(parse_fault(e, header.action.clone())),
        Some(e) if e.is(ns::WSMAN_IDENTITY, "IdentifyResponse") => ResponseBody::Identify(parse_identify(e)),
        Some(e) if e.is(ns::ENUMERATION, "EnumerateResponse") || e.is(ns::ENUMERATION, "PullResponse") => {
            ResponseBody::Enumeration(parse_page(e)?)
        }
        Some(e) if e.is(ns::ENUMERATION, "ReleaseResponse") => ResponseBody::Empty,
        Some(e) => ResponseBody::Instance(parse_instance(e)?),
    };
    Ok(Response { header, body })
}

fn parse_identify(e: Elem<'_>) -> IdentifyResponse {
    let t = |l: &str| {
        e.child(ns::WSMAN_IDENTITY, l)
            .map(|x| x.text().trim().to_owned())
            .unwrap_or_default()
    };
    IdentifyResponse {
        protocol_version: t("ProtocolVersion"),
        product_vendor: t("ProductVendor"),
        product_version: t("ProductVersion"),
        security_profiles: e
            .child(ns::WSMAN_IDENTITY, "SecurityProfiles")
            .map(|sp| sp.elems().map(|x| x.text().trim().to_owned()).collect())
            .unwrap_or_default(),
    }
}

fn parse_page(e: Elem<'_>) -> Result<EnumerationPage, Error> {
    let mut page = EnumerationPage {
        // An empty `<n:EnumerationContext/>` (sent beside EndOfSequence) is no context.
        context: e
            .child(ns::ENUMERATION, "EnumerationContext")
            .map(|c| c.text().trim().to_owned())
            .filter(|c| !c.is_empty()),
        ..EnumerationPage::default()
    };
    page.end_of_sequence =
        e.child(ns::ENUMERATION, "EndOfSequence").is_some() || e.child(ns::WSMAN, "EndOfSequence").is_some();
    let items = e
        .child(ns::ENUMERATION, "Items")
        .or_else(|| e.child(ns::WSMAN, "Items"));
    if let Some(items) = items {
        for it in items.elems() {
            page.items.push(parse_item(it)?);
        }
    }
    Ok(page)
}

fn parse_item(it: Elem<'_>) -> Result<Item, Error> {
    if it.is(ns::ADDRESSING, "EndpointReference") {
        return Ok(Item {
            instance: None,
            epr: parse_epr(it),
        });
    }
    if it.is(ns::WSMAN, "Item") {
        let mut item = Item::default();
        for c in it.elems() {
            if c.is(ns::ADDRESSING, "EndpointReference") {
                item.epr = parse_epr(c);
            } else if item.instance.is_none() {
                item.instance = Some(parse_instance(c)?);
            }
        }
        return Ok(item);
    }
    Ok(Item {
        instance: Some(parse_instance(it)?),
        epr: None,
    })
}

fn opt_text(e: Option<Elem<'_>>) -> Option<String> {
    let e = e?;
    if e.is_nil() {
        return None;
    }
    Some(e.text().to_owned())
}

fn opt_u32(e: Option<Elem<'_>>) -> Option<u32> {
    opt_text(e).and_then(|t| parse_u32(&t))
}

/// Decimal, or `0x` hex.
fn parse_u32(t: &str) -> Option<u32> {
    let t = t.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok().or_else(|| t.parse::<i32>().ok().map(|v| v as u32)),
    }
}

fn trimmed(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn parse_fault(f: Elem<'_>, action: Option<String>) -> Fault {
    let mut out = Fault {
        action,
        ..Fault::default()
    };
    if let Some(code) = f.child(ns::SOAP, "Code") {
        if let Some(v) = code.child(ns::SOAP, "Value") {
            let t = v.text();
            out.code = local_of(t.trim()).to_owned();
        }
        if let Some(v) = code
            .child(ns::SOAP, "Subcode")
            .and_then(|s| s.child(ns::SOAP, "Value"))
        {
            let t = v.text();
            out.subcode = Some(local_of(t.trim()).to_owned());
            out.subcode_ns = v.text_ns.map(str::to_owned);
        }
    }
    out.reason = f
        .child(ns::SOAP, "Reason")
        .and_then(|r| r.child(ns::SOAP, "Text"))
        .map(|t| t.text().to_owned());
    let Some(detail) = f.child(ns::SOAP, "Detail") else {
        return out;
    };
    out.fault_details = detail
        .elems()
        .filter(|e| e.is(ns::WSMAN, "FaultDetail"))
        .filter_map(|e| trimmed(e.text()))
        .take(MAX_FAULT_DETAILS)
        .collect();
    if let Some(w) = detail.child(ns::WSMAN_FAULT, "WSManFault") {
        out.wsman_code = w.attr("Code").and_then(parse_u32);
        out.machine = w.attr("Machine").map(str::to_owned);
        if let Some(m) = w.child(ns::WSMAN_FAULT, "Message") {
            out.message = trimmed(m.text());
            if let Some(p) = m.child(ns::WSMAN_FAULT, "ProviderFault") {
                let nested = p.child(ns::WSMAN_FAULT, "WSManFault");
                out.provider = Some(ProviderFault {
                    provider: p.attr("provider").map(str::to_owned),
                    path: p.attr("path").map(str::to_owned),
                    wsman_code: nested.and_then(|n| n.attr("Code")).and_then(parse_u32),
                    message: nested
                        .and_then(|n| n.child(ns::WSMAN_FAULT, "Message"))
                        .and_then(|m| trimmed(m.text()))
                        .or_else(|| trimmed(p.text())),
                });
            }
        }
    }
    if let Some(x) = detail.descendant_any("__ExtendedStatus") {
        out.extended_status = Some(ExtendedStatus {
            description: opt_text(x.child_any("Description")),
            operation: opt_text(x.child_any("Operation")),
            parameter_info: opt_text(x.child_any("ParameterInfo")),
            provider_name: opt_text(x.child_any("ProviderName")),
            status_code: opt_u32(x.child_any("StatusCode")),
        });
    }
    let wmi = if detail.local == "MSFT_WmiError" {
        Some(detail)
    } else {
        detail.descendant_any("MSFT_WmiError")
    };
    if let Some(w) = wmi {
        out.wmi_error = Some(WmiError {
            cim_status_code: opt_u32(w.child_any("CIMStatusCode")),
            message: opt_text(w.child_any("Message")),
            message_id: opt_text(w.child_any("MessageID")),
            error_code: opt_u32(w.child_any("error_Code")),
            error_type: opt_u32(w.child_any("error_Type")),
            error_category: opt_u32(w.child_any("error_Category")),
            windows_error_message: opt_text(w.child_any("error_WindowsErrorMessage")),
        });
    }
    out
}

fn local_of(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l)
}
