//! Namespace URIs, action URIs and dialects, in one place.
//!
//! Parsers match on these URIs, never on prefixes: real Windows envelopes rebind `p:`.

/// SOAP 1.2 envelope.
pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (2004/08), prefix `a`.
pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// DMTF WS-Management, prefix `w`.
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// Microsoft WS-Management extensions (DataLocale, SessionId), prefix `p` in headers.
pub const MS_WSMAN: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
/// WS-Enumeration, prefix `n`.
pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
/// WS-Transfer, prefix `t`.
pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// XML Schema instance (`xsi:nil`, `xsi:type`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// DMTF WS-CIM common types (`cim:Datetime`, `cim:Interval`, `cim:Date`, `cim:Time`).
pub const CIM_COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
/// DMTF CIM binding (association filter), prefix `b`.
pub const CIM_BINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
/// Microsoft WSManFault detail, prefix `f`.
pub const WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
/// WS-Management Identity (Identify), prefix `wsmid`.
pub const WSMAN_IDENTITY: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";

/// `w:FaultDetail` value of a `w:EncodingLimit` fault whose reply would exceed the request's
/// `w:MaxEnvelopeSize` ([DMTF-DSP0226 6.2], [MS-WSMV 3.1.4.1.7]).
pub const FAULT_DETAIL_MAX_ENVELOPE_SIZE: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize";

/// WS-Addressing anonymous reply address.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
/// Base of WMI resource URIs: append `root/virtualization/v2/Msvm_ComputerSystem`.
pub const WMI_BASE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";

/// WQL filter dialect.
pub const DIALECT_WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
/// CIM binding association filter dialect (DSP0227).
pub const DIALECT_ASSOCIATION: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";

/// WS-Transfer Get.
pub const ACTION_GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
/// WS-Transfer Get response.
pub const ACTION_GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
/// WS-Transfer Put.
pub const ACTION_PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
/// WS-Transfer Put response.
pub const ACTION_PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
/// WS-Enumeration Enumerate.
pub const ACTION_ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
/// WS-Enumeration Enumerate response.
pub const ACTION_ENUMERATE_RESPONSE: &str =
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
/// WS-Enumeration Pull.
pub const ACTION_PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
/// WS-Enumeration Pull response.
pub const ACTION_PULL_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
/// WS-Enumeration Release.
pub const ACTION_RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
/// WS-Enumeration Release response.
pub const ACTION_RELEASE_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
/// WS-Management fault action.
pub const ACTION_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
/// WS-Addressing fault action.
pub const ACTION_ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
