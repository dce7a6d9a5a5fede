//! SOAP faults shaped like the ones a Windows WinRM service returns for WMI resources
//! (see the real recordings in `fixtures/real/`, [MS-WSMV 2.2.4.43] WSManFaultType).
//!
//! The codes are the `wsmerror.h` values of the Windows SDK (FACILITY_WINRM, 0x8033xxxx) and the
//! WMI `WBEM_E_*` HRESULTs ("WMI Error Constants",
//! <https://learn.microsoft.com/windows/win32/wmisdk/wmi-error-constants>).

use wsman_soap::ns;

/// WS-Management fault action.
pub const ACTION_WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
/// WS-Addressing fault action.
pub const ACTION_ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
/// WS-Enumeration fault action.
pub const ACTION_ENUMERATION_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";

/// ERROR_WSMAN_RESOURCE_NOT_FOUND.
pub const CODE_RESOURCE_NOT_FOUND: u32 = 0x8033_8000;
/// ERROR_WSMAN_ACTION_NOT_SUPPORTED.
pub const CODE_ACTION_NOT_SUPPORTED: u32 = 0x8033_8013;
/// ERROR_WSMAN_ENUMERATE_CANNOT_PROCESS_FILTER.
pub const CODE_CANNOT_PROCESS_FILTER: u32 = 0x8033_801A;
/// ERROR_WSMAN_ENUMERATE_INVALID_ENUMERATION_CONTEXT (`wsmerror.h`; 0x8033801C is
/// ERROR_WSMAN_ENUMERATE_TIMED_OUT).
pub const CODE_INVALID_ENUMERATION_CONTEXT: u32 = 0x8033_801B;
/// ERROR_WSMAN_OPERATION_TIMEDOUT.
pub const CODE_TIMED_OUT: u32 = 0x8033_8029;
/// ERROR_WSMAN_INVALID_SELECTORS.
pub const CODE_INVALID_SELECTORS: u32 = 0x8033_803D;
/// ERROR_WSMAN_SCHEMA_VALIDATION_ERROR (uncertain value).
pub const CODE_SCHEMA_VALIDATION: u32 = 0x8033_8041;
/// ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED (`wsmerror.h`): the computed response exceeds the
/// request's MaxEnvelopeSize.
pub const CODE_MAX_ENVELOPE_SIZE_EXCEEDED: u32 = 0x8033_8048;
/// ERROR_WSMAN_INVALID_BATCH_PARAMETER (`wsmerror.h`: code Sender, subcode
/// InvalidBatchParameter).
pub const CODE_INVALID_BATCH_PARAMETER: u32 = 0x8033_802F;
/// E_ACCESSDENIED.
pub const CODE_ACCESS_DENIED: u32 = 0x8007_0005;
/// ERROR_WSMAN_INTERNAL_ERROR-style provider failure.
pub const CODE_PROVIDER_FAILURE: u32 = 0x8033_8003;

/// The WMI provider path Windows reports in `f:ProviderFault`.
pub const WMI_PROVIDER_PATH: &str = "%systemroot%\\system32\\WsmWmiPl.dll";

/// A fault the simulator answers with: everything Windows puts in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFault {
    /// `a:Action` of the fault envelope.
    pub action: String,
    /// SOAP code local name: `Sender` or `Receiver`.
    pub code: String,
    /// Subcode namespace URI.
    pub subcode_ns: String,
    /// Subcode local name (`InvalidSelectors`, `CannotProcessFilter`, ...).
    pub subcode: String,
    /// `s:Reason/s:Text`.
    pub reason: String,
    /// `f:WSManFault/@Code`.
    pub wsman_code: u32,
    /// `f:WSManFault/f:Message` text (outer), when there is no provider fault.
    pub message: Option<String>,
    /// The WMI provider fault nested in the message: (code, message).
    pub provider: Option<(u32, String)>,
    /// `__ExtendedStatus` (Operation, ParameterInfo) inside the provider fault.
    pub extended_status: Option<(String, String)>,
    /// HTTP status of the reply (Windows answers faults with 500, some with 400).
    pub http_status: u16,
    /// `w:FaultDetail` URIs, written in `s:Detail` before `f:WSManFault` as Windows does
    /// ([DMTF-DSP0226 14]; e.g. `…/faultDetail/MaxEnvelopeSize` for `w:EncodingLimit`).
    pub fault_details: Vec<String>,
}

impl SimFault {
    fn new(action: &str, code: &str, subcode_ns: &str, subcode: &str, reason: &str, wsman_code: u32) -> Self {
        Self {
            action: action.to_owned(),
            code: code.to_owned(),
            subcode_ns: subcode_ns.to_owned(),
            subcode: subcode.to_owned(),
            reason: reason.to_owned(),
            wsman_code,
            message: Some(reason.to_owned()),
            provider: None,
            extended_status: None,
            http_status: 500,
            fault_details: Vec::new(),
        }
    }

    /// `w:InvalidSelectors` (0x8033803D): unknown selector names, or selectors on a class that
    /// takes none.
    pub fn invalid_selectors() -> Self {
        Self::new(
            ACTION_WSMAN_FAULT,
            "Sender",
            ns::WSMAN,
            "InvalidSelectors",
            "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
            CODE_INVALID_SELECTORS,
        )
    }

    /// `a:DestinationUnreachable` with 0x80338000: the instance named by the resource URI and
    /// selectors does not exist (also what a real host answers when the `CreationClassName`
    /// key of `Msvm_ComputerSystem` is missing).
    pub fn not_found(operation: &str, what: &str) -> Self {
        let mut f = Self::new(
            ACTION_ADDRESSING_FAULT,
            "Sender",
            ns::ADDRESSING,
            "DestinationUnreachable",
            "The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors. ",
            CODE_RESOURCE_NOT_FOUND,
        );
        f.message = None;
        f.provider = Some((
            CODE_RESOURCE_NOT_FOUND,
            "The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors. ".to_owned(),
        ));
        f.extended_status = Some((operation.to_owned(), what.to_owned()));
        f
    }

    /// `n:CannotProcessFilter` (0x8033801A), as in the real fixture 02.
    pub fn cannot_process_filter(query: &str, detail: &str) -> Self {
        let mut f = Self::new(
            ACTION_ENUMERATION_FAULT,
            "Sender",
            ns::ENUMERATION,
            "CannotProcessFilter",
            "The data source could not process the filter. The filter might be missing or it might be invalid. Change the filter and try the request again.  ",
            CODE_CANNOT_PROCESS_FILTER,
        );
        f.message = None;
        f.provider = Some((CODE_CANNOT_PROCESS_FILTER, format!("{detail} ")));
        f.extended_status = Some(("ExecQuery".to_owned(), query.to_owned()));
        f
    }

    /// `n:InvalidEnumerationContext`: unknown, released or expired context
    /// ([MS-WSMV 3.1.5] Enumeration Garbage Collection timer). A `Receiver` fault, as
    /// WS-Enumeration defines it and `wsmerror.h` annotates it.
    pub fn invalid_enumeration_context() -> Self {
        Self::new(
            ACTION_ENUMERATION_FAULT,
            "Receiver",
            ns::ENUMERATION,
            "InvalidEnumerationContext",
            "The WS-Management service cannot process the request because the enumeration context supplied in the message is not valid. ",
            CODE_INVALID_ENUMERATION_CONTEXT,
        )
    }

    /// `w:TimedOut` (0x80338029): the operation did not finish within OperationTimeout.
    pub fn timed_out() -> Self {
        let mut f = Self::new(
            ACTION_WSMAN_FAULT,
            "Receiver",
            ns::WSMAN,
            "TimedOut",
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
            CODE_TIMED_OUT,
        );
        f.http_status = 500;
        f
    }

    /// `w:EncodingLimit` (0x80338048): the response computed for the request (`size` bytes)
    /// exceeds the effective MaxEnvelopeSize (`max` bytes) ([DMTF-DSP0226 6.2],
    /// [MS-WSMV 3.1.4.1.7]). The message is the one Windows hosts report ("The computed
    /// response packet size (976820) exceeds the maximum envelope size that is allowed
    /// (512000)"); `s:Detail` carries the DSP0226 `w:FaultDetail`
    /// [`ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE`] before the `f:WSManFault`.
    pub fn encoding_limit(size: usize, max: usize) -> Self {
        let text = format!(
            "The WS-Management service cannot process the request. The computed response packet size ({size}) exceeds the maximum envelope size that is allowed ({max}). "
        );
        let mut f = Self::new(
            ACTION_WSMAN_FAULT,
            "Sender",
            ns::WSMAN,
            "EncodingLimit",
            &text,
            CODE_MAX_ENVELOPE_SIZE_EXCEEDED,
        );
        f.fault_details = vec![ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE.to_owned()];
        f
    }

    /// `w:InvalidBatchParameter` (0x8033802F, ERROR_WSMAN_INVALID_BATCH_PARAMETER): an
    /// Enumerate or Pull whose `MaxElements` (`requested`) is above the listener's
    /// `MaxBatchItems` (`max`, [MS-WSMV 2.2.4.10] ConfigType, default 32000).
    ///
    /// Assumption: [MS-WSMAN 3.2.4.1.6] tells clients to keep `MaxElements` at or below
    /// `MaxBatchItems`, but no recording shows what a host answers when one does not (the
    /// Windows Server 2003 text of [MS-WSMAN] lets the server lower the value instead). The
    /// simulator takes the strictest reading: a Sender fault with the `wsmerror.h` code and
    /// subcode Windows defines for an invalid batch parameter, so that a client which would
    /// rely on silent clamping fails here.
    pub fn invalid_batch_parameter(requested: u32, max: u32) -> Self {
        let mut f = Self::new(
            ACTION_WSMAN_FAULT,
            "Sender",
            ns::WSMAN,
            "InvalidBatchParameter",
            "The WS-Management service cannot process the batch request. ",
            CODE_INVALID_BATCH_PARAMETER,
        );
        f.message = Some(format!(
            "The WS-Management service cannot process the batch request. MaxElements ({requested}) exceeds MaxBatchItems ({max}). "
        ));
        f
    }

    /// `w:AccessDenied` (E_ACCESSDENIED).
    pub fn access_denied() -> Self {
        Self::new(
            ACTION_WSMAN_FAULT,
            "Sender",
            ns::WSMAN,
            "AccessDenied",
            "Access is denied. ",
            CODE_ACCESS_DENIED,
        )
    }

    /// `w:SchemaValidationError`: well-formed XML that violates the schema the way Windows
    /// refuses it (REF wrapped in `a:EndpointReference`, element-form embedded instance).
    pub fn schema_validation(detail: &str) -> Self {
        let mut f = Self::new(
            ACTION_WSMAN_FAULT,
            "Sender",
            ns::WSMAN,
            "SchemaValidationError",
            "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ",
            CODE_SCHEMA_VALIDATION,
        );
        f.message = Some(format!(
            "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. {detail}"
        ));
        f
    }

    /// `a:ActionNotSupported` (0x80338013).
    pub fn action_not_supported(action: &str) -> Self {
        let mut f = Self::new(
            ACTION_ADDRESSING_FAULT,
            "Sender",
            ns::ADDRESSING,
            "ActionNotSupported",
            "The action is not supported by the service. ",
            CODE_ACTION_NOT_SUPPORTED,
        );
        f.message = Some(format!(
            "The WS-Management service cannot process the action {action}. "
        ));
        f
    }

    /// A WMI provider failure with the given HRESULT (e.g. 0x8004102F
    /// WBEM_E_INVALID_METHOD_PARAMETERS for a method call on a service without selectors).
    pub fn provider_error(hresult: u32, operation: &str, what: &str) -> Self {
        let text = format!(
            "The WMI service or the WMI provider returned an unknown error: HRESULT 0x{hresult:08x} "
        );
        let mut f = Self::new(
            ACTION_WSMAN_FAULT,
            "Receiver",
            ns::WSMAN,
            "InternalError",
            &text,
            hresult,
        );
        f.message = None;
        f.provider = Some((hresult, text));
        f.extended_status = Some((operation.to_owned(), what.to_owned()));
        f
    }

    /// A fault with free-form fields, for fault injection.
    pub fn custom(code: &str, subcode_ns: &str, subcode: &str, reason: &str, wsman_code: u32) -> Self {
        Self::new(ACTION_WSMAN_FAULT, code, subcode_ns, subcode, reason, wsman_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_soap::{parse_response, write_response, Limits, ResponseBody};

    /// The EncodingLimit fault is written like Windows writes its faults: `w:FaultDetail`
    /// (DSP0226 MaxEnvelopeSize) first in `s:Detail`, then `f:WSManFault` with 0x80338048,
    /// and it parses back to the same detail.
    #[test]
    fn encoding_limit_carries_the_max_envelope_size_fault_detail() {
        let sim = SimFault::encoding_limit(976_820, 512_000);
        assert_eq!(
            sim.fault_details,
            vec![ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE.to_owned()]
        );
        let xml = write_response(
            ACTION_WSMAN_FAULT,
            "uuid:m",
            "uuid:r",
            &ResponseBody::Fault(crate::ops::to_fault(&sim, "HV1")),
        );
        let expected = format!(
            "<s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize</w:FaultDetail><f:WSManFault xmlns:f=\"{}\" Code=\"2150858824\" Machine=\"HV1\"><f:Message>The WS-Management service cannot process the request. The computed response packet size (976820) exceeds the maximum envelope size that is allowed (512000). </f:Message></f:WSManFault></s:Detail>",
            ns::WSMAN_FAULT
        );
        assert!(xml.contains(&expected), "{xml}");
        let ResponseBody::Fault(f) = parse_response(xml.as_bytes(), &Limits::default()).unwrap().body else {
            panic!("not a fault: {xml}");
        };
        assert_eq!(f.subcode.as_deref(), Some("EncodingLimit"));
        assert_eq!(f.wsman_code, Some(CODE_MAX_ENVELOPE_SIZE_EXCEEDED));
        assert!(f.is_max_envelope_size_exceeded());
    }

    /// Other faults carry no `w:FaultDetail`, so their `s:Detail` starts with `f:WSManFault`.
    #[test]
    fn other_faults_have_no_fault_detail() {
        for sim in [
            SimFault::invalid_selectors(),
            SimFault::timed_out(),
            SimFault::access_denied(),
        ] {
            assert!(sim.fault_details.is_empty());
            let xml = write_response(
                ACTION_WSMAN_FAULT,
                "uuid:m",
                "uuid:r",
                &ResponseBody::Fault(crate::ops::to_fault(&sim, "HV1")),
            );
            assert!(!xml.contains("FaultDetail"), "{xml}");
            assert!(xml.contains("<s:Detail><f:WSManFault "), "{xml}");
        }
    }
}
