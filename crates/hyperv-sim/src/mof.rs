//! The class schemas (MOF) the simulated host checks embedded instances against, and the check.
//!
//! A Windows host deserialises an embedded CIM-XML instance against the class definition in
//! its repository. This module is the simulator's copy of those definitions, written from the
//! public class pages (not from the client's own schema, so that the two check each other):
//! - `Msvm_ReplicationSettingData`:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationsettingdata>
//!   ("simplified MOF code, and it includes all of the inherited properties").
//! - `Msvm_ReplicationRelationship`:
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationrelationship> (its own
//!   properties), with the properties it inherits from `CIM_ManagedSystemElement` (DMTF CIM
//!   Schema, `CIM_ManagedSystemElement` and `CIM_ManagedElement`), which the page's simplified
//!   MOF leaves out but a Get returns (`Caption`, `ElementName`).
//! - `Msvm_VirtualSystemSettingData` (the simulator renders its instances, a VM's settings and
//!   its recovery points, with every property of this list):
//!   <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsettingdata>.
//!
//! What the check refuses, and why each is strict:
//! - a property the class does not declare (WMI has nowhere to put it): ReturnValue 32773,
//!   invalid parameter;
//! - `PROPERTY` for an array property or `PROPERTY.ARRAY` for a scalar, a missing `TYPE`, or a
//!   `TYPE` other than the declared one, **nulls included**: WMI's own serialiser writes every
//!   property with its class type whether or not it has a value (the KVP sample
//!   "Getting the virtual machine DNS name" on learn.microsoft.com shows
//!   `<PROPERTY NAME="Caption" PROPAGATED="true" TYPE="string"></PROPERTY>`; WMI `GetText_`
//!   output recorded on a Hyper-V 2012 host by OpenStack nova's Hyper-V test stubs writes
//!   `<PROPERTY NAME="AutomaticRecoveryAction" ... TYPE="uint16"></PROPERTY>`), and
//!   [DSP0201 §5.2.6] makes `TYPE` part of `PROPERTY`: ReturnValue 32776, incorrect data type;
//! - a value whose text is not of the declared type (`TYPE="uint16"` with `70000`): 32776.
//!
//! Datetimes in ISO 8601 rather than DMTF form pass this check and fail the job instead, as
//! reported from real hosts (see [`crate::embedded::EmbeddedInstance::non_dmtf_datetimes`]).

use wsman_soap::CimType;

use crate::embedded::{is_dmtf, EmbeddedInstance, EmbeddedProperty};

/// One declared property: name, CIM type name (DSP0201 `TYPE`), whether it is an array.
pub type PropertyDecl = (&'static str, &'static str, bool);

/// `Msvm_ReplicationSettingData`, every property with the inherited ones, in the page's order.
pub const REPLICATION_SETTING_DATA: &[PropertyDecl] = &[
    ("InstanceID", "string", false),
    ("Caption", "string", false),
    ("Description", "string", false),
    ("ElementName", "string", false),
    ("VirtualSystemIdentifier", "string", false),
    ("VirtualSystemType", "string", false),
    ("Notes", "string", true),
    ("CreationTime", "datetime", false),
    ("ConfigurationID", "string", false),
    ("ConfigurationDataRoot", "string", false),
    ("ConfigurationFile", "string", false),
    ("SnapshotDataRoot", "string", false),
    ("SuspendDataRoot", "string", false),
    ("SwapFileDataRoot", "string", false),
    ("LogDataRoot", "string", false),
    ("AutomaticStartupAction", "uint16", false),
    ("AutomaticStartupActionDelay", "datetime", false),
    ("AutomaticStartupActionSequenceNumber", "uint16", false),
    ("AutomaticShutdownAction", "uint16", false),
    ("AutomaticRecoveryAction", "uint16", false),
    ("RecoveryFile", "string", false),
    ("AuthenticationType", "uint16", false),
    ("CertificateThumbPrint", "string", false),
    ("RootCertificateThumbPrint", "string", false),
    ("CompressionEnabled", "boolean", false),
    ("BypassProxyServer", "boolean", false),
    ("RecoveryConnectionPoint", "string", false),
    ("RecoveryHostSystem", "string", false),
    ("PrimaryConnectionPoint", "string", false),
    ("PrimaryHostSystem", "string", false),
    ("RecoveryServerPortNumber", "uint16", false),
    ("ReplicateHostKvpItems", "boolean", false),
    ("ApplicationConsistentSnapshotInterval", "uint16", false),
    ("RecoveryHistory", "uint16", false),
    ("IncludedDisks", "string", true),
    ("AutoResynchronizeEnabled", "boolean", false),
    ("AutoResynchronizeIntervalStart", "datetime", false),
    ("AutoResynchronizeIntervalEnd", "datetime", false),
    ("EnableWriteOrderPreservationAcrossDisks", "boolean", false),
    ("ReplicationProvider", "string", false),
    ("AdditionalSettings", "string", false),
    ("ReplicationInterval", "uint16", false),
];

/// `Msvm_ReplicationRelationship`: the page's properties, then the inherited
/// `CIM_ManagedSystemElement` ones.
pub const REPLICATION_RELATIONSHIP: &[PropertyDecl] = &[
    ("InstanceID", "string", false),
    ("ReplicationState", "uint16", false),
    ("ReplicationHealth", "uint16", false),
    ("FailedOverReplicationType", "uint16", false),
    ("LastReplicationType", "uint16", false),
    ("LastApplicationConsistentReplicationTime", "datetime", false),
    ("LastReplicationTime", "datetime", false),
    ("LastApplyTime", "datetime", false),
    ("Caption", "string", false),
    ("Description", "string", false),
    ("ElementName", "string", false),
    ("InstallDate", "datetime", false),
    ("Name", "string", false),
    ("OperationalStatus", "uint16", true),
    ("StatusDescriptions", "string", true),
    ("Status", "string", false),
    ("HealthState", "uint16", false),
    ("CommunicationStatus", "uint16", false),
    ("DetailedStatus", "uint16", false),
    ("OperatingStatus", "uint16", false),
    ("PrimaryStatus", "uint16", false),
];

/// `Msvm_VirtualSystemSettingData`, every property with the inherited ones, in the page's order.
pub const VIRTUAL_SYSTEM_SETTING_DATA: &[PropertyDecl] = &[
    ("InstanceID", "string", false),
    ("Caption", "string", false),
    ("Description", "string", false),
    ("ElementName", "string", false),
    ("VirtualSystemIdentifier", "string", false),
    ("VirtualSystemType", "string", false),
    ("Notes", "string", true),
    ("CreationTime", "datetime", false),
    ("ConfigurationID", "string", false),
    ("ConfigurationDataRoot", "string", false),
    ("ConfigurationFile", "string", false),
    ("SnapshotDataRoot", "string", false),
    ("SuspendDataRoot", "string", false),
    ("SwapFileDataRoot", "string", false),
    ("LogDataRoot", "string", false),
    ("AutomaticStartupAction", "uint16", false),
    ("AutomaticStartupActionDelay", "datetime", false),
    ("AutomaticStartupActionSequenceNumber", "uint16", false),
    ("AutomaticShutdownAction", "uint16", false),
    ("AutomaticRecoveryAction", "uint16", false),
    ("RecoveryFile", "string", false),
    ("BIOSGUID", "string", false),
    ("BIOSSerialNumber", "string", false),
    ("BaseBoardSerialNumber", "string", false),
    ("ChassisSerialNumber", "string", false),
    ("Architecture", "string", false),
    ("ChassisAssetTag", "string", false),
    ("BIOSNumLock", "boolean", false),
    ("BootOrder", "uint16", true),
    ("Parent", "string", false),
    ("UserSnapshotType", "uint16", false),
    ("IsSaved", "boolean", false),
    ("AdditionalRecoveryInformation", "string", false),
    ("AllowFullSCSICommandSet", "boolean", false),
    ("DebugChannelId", "uint32", false),
    ("DebugPortEnabled", "uint16", false),
    ("DebugPort", "uint32", false),
    ("Version", "string", false),
    ("IncrementalBackupEnabled", "boolean", false),
    ("VirtualNumaEnabled", "boolean", false),
    ("AllowReducedFcRedundancy", "boolean", false),
    ("VirtualSystemSubType", "string", false),
    ("BootSourceOrder", "string", true),
    ("PauseAfterBootFailure", "boolean", false),
    ("NetworkBootPreferredProtocol", "uint16", false),
    ("GuestControlledCacheTypes", "boolean", false),
    ("AutomaticSnapshotsEnabled", "boolean", false),
    ("IsAutomaticSnapshot", "boolean", false),
    ("GuestStateFile", "string", false),
    ("GuestStateDataRoot", "string", false),
    ("LockOnDisconnect", "boolean", false),
    ("ParentPackage", "string", false),
    ("AutomaticCriticalErrorActionTimeout", "datetime", false),
    ("AutomaticCriticalErrorAction", "uint16", false),
    ("ConsoleMode", "uint16", false),
    ("SecureBootEnabled", "boolean", false),
    ("SecureBootTemplateId", "string", false),
    ("LowMmioGapSize", "uint64", false),
    ("HighMmioGapSize", "uint64", false),
    ("EnhancedSessionTransportType", "uint16", false),
];

/// `class` in the form [`wsman_soap::Instance::retyped`] takes, for tests that send an
/// instance read from the simulator back to it typed the way a careful client types it.
pub fn retype_schema(class: &[PropertyDecl]) -> Vec<(&'static str, CimType, bool)> {
    class
        .iter()
        .filter_map(|&(n, t, a)| CimType::from_name(t).map(|t| (n, t, a)))
        .collect()
}

/// Why an embedded instance does not fit its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A property the class does not declare (ReturnValue 32773).
    Unknown(String),
    /// A property whose element, `TYPE` or value text does not match the declaration
    /// (ReturnValue 32776).
    WrongType {
        /// The property.
        name: String,
        /// What the class declares (`uint16`, `string[]`).
        declared: String,
        /// What was sent.
        sent: String,
    },
}

impl Mismatch {
    /// The method ReturnValue a host answers with.
    pub fn return_value(&self) -> u32 {
        match self {
            Mismatch::Unknown(_) => crate::model::rv::INVALID_PARAMETER,
            Mismatch::WrongType { .. } => crate::model::rv::INCORRECT_DATA_TYPE,
        }
    }
}

/// Checks every property of `e` against `class`; the first mismatch in document order.
pub fn check(e: &EmbeddedInstance, class: &[PropertyDecl]) -> Result<(), Mismatch> {
    e.properties.iter().try_for_each(|p| check_property(p, class))
}

fn check_property(p: &EmbeddedProperty, class: &[PropertyDecl]) -> Result<(), Mismatch> {
    let Some(&(_, ty, array)) = class.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(&p.name)) else {
        return Err(Mismatch::Unknown(p.name.clone()));
    };
    let shape = |t: &str, a: bool| format!("{t}{}", if a { "[]" } else { "" });
    let sent_type = if p.cim_type.is_empty() {
        "(no TYPE)"
    } else {
        &p.cim_type
    };
    let wrong = |sent: String| Mismatch::WrongType {
        name: p.name.clone(),
        declared: shape(ty, array),
        sent,
    };
    if p.is_array != array || !p.cim_type.eq_ignore_ascii_case(ty) {
        return Err(wrong(shape(sent_type, p.is_array)));
    }
    if p.values.iter().all(|v| value_fits(ty, v)) {
        Ok(())
    } else {
        Err(wrong(format!(
            "{} value {:?}",
            shape(sent_type, p.is_array),
            p.values.join(",")
        )))
    }
}

/// Whether `text` is a value of CIM type `ty` ([DSP0201 §5.2.6] value text, [DSP0004] types).
/// Datetimes accept any 25-character DMTF-shaped text and also ISO 8601 here: the form is
/// judged when the job runs (see the module notes).
fn value_fits(ty: &str, text: &str) -> bool {
    let t = text.trim();
    match ty {
        "boolean" => t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"),
        "uint8" => t.parse::<u8>().is_ok(),
        "uint16" => t.parse::<u16>().is_ok(),
        "uint32" => t.parse::<u32>().is_ok(),
        "uint64" => t.parse::<u64>().is_ok(),
        "sint8" => t.parse::<i8>().is_ok(),
        "sint16" => t.parse::<i16>().is_ok(),
        "sint32" => t.parse::<i32>().is_ok(),
        "sint64" => t.parse::<i64>().is_ok(),
        "real32" | "real64" => t.parse::<f64>().is_ok(),
        "char16" => text.chars().count() == 1,
        "datetime" => is_dmtf(t) || looks_iso8601(t),
        _ => true,
    }
}

fn looks_iso8601(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::parse;

    fn rsd(props: &str) -> EmbeddedInstance {
        parse(&format!(
            "<INSTANCE CLASSNAME=\"Msvm_ReplicationSettingData\">{props}</INSTANCE>"
        ))
        .unwrap()
    }

    #[test]
    fn typed_values_and_typed_nulls_fit() {
        let e = rsd(concat!(
            r#"<PROPERTY NAME="RecoveryServerPortNumber" TYPE="uint16"><VALUE>80</VALUE></PROPERTY>"#,
            r#"<PROPERTY NAME="AutomaticRecoveryAction" TYPE="uint16"></PROPERTY>"#,
            r#"<PROPERTY NAME="AutomaticStartupActionDelay" TYPE="datetime"></PROPERTY>"#,
            r#"<PROPERTY.ARRAY NAME="Notes" TYPE="string"></PROPERTY.ARRAY>"#,
            r#"<PROPERTY.ARRAY NAME="IncludedDisks" TYPE="string"><VALUE.ARRAY><VALUE>a</VALUE></VALUE.ARRAY></PROPERTY.ARRAY>"#,
            r#"<PROPERTY NAME="CompressionEnabled" TYPE="boolean"><VALUE>TRUE</VALUE></PROPERTY>"#,
        ));
        assert_eq!(check(&e, REPLICATION_SETTING_DATA), Ok(()));
    }

    #[test]
    fn a_null_typed_string_for_a_uint16_is_incorrect_data_type() {
        let e = rsd(r#"<PROPERTY NAME="AutomaticRecoveryAction" TYPE="string"></PROPERTY>"#);
        let m = check(&e, REPLICATION_SETTING_DATA).unwrap_err();
        assert_eq!(m.return_value(), 32776);
        assert_eq!(
            m,
            Mismatch::WrongType {
                name: "AutomaticRecoveryAction".into(),
                declared: "uint16".into(),
                sent: "string".into()
            }
        );
        let delay = rsd(r#"<PROPERTY NAME="AutomaticStartupActionDelay" TYPE="string"></PROPERTY>"#);
        assert_eq!(
            check(&delay, REPLICATION_SETTING_DATA)
                .unwrap_err()
                .return_value(),
            32776
        );
    }

    #[test]
    fn arrays_missing_types_and_bad_values_are_refused() {
        for props in [
            r#"<PROPERTY NAME="IncludedDisks" TYPE="string"><VALUE>a</VALUE></PROPERTY>"#,
            r#"<PROPERTY.ARRAY NAME="RecoveryServerPortNumber" TYPE="uint16"></PROPERTY.ARRAY>"#,
            r#"<PROPERTY NAME="RecoveryServerPortNumber"><VALUE>80</VALUE></PROPERTY>"#,
            r#"<PROPERTY NAME="RecoveryServerPortNumber" TYPE="uint16"><VALUE>70000</VALUE></PROPERTY>"#,
            r#"<PROPERTY NAME="CompressionEnabled" TYPE="boolean"><VALUE>1</VALUE></PROPERTY>"#,
            r#"<PROPERTY NAME="CreationTime" TYPE="datetime"><VALUE>yesterday</VALUE></PROPERTY>"#,
        ] {
            let m = check(&rsd(props), REPLICATION_SETTING_DATA).unwrap_err();
            assert_eq!(m.return_value(), 32776, "{props}: {m:?}");
        }
    }

    #[test]
    fn unknown_properties_are_invalid_parameters() {
        let e = rsd(r#"<PROPERTY NAME="AuthorizationEntry" TYPE="string"><VALUE>x</VALUE></PROPERTY>"#);
        assert_eq!(
            check(&e, REPLICATION_SETTING_DATA),
            Err(Mismatch::Unknown("AuthorizationEntry".into()))
        );
        assert_eq!(
            Mismatch::Unknown(String::new()).return_value(),
            crate::model::rv::INVALID_PARAMETER
        );
    }

    #[test]
    fn iso_datetimes_pass_the_type_check_for_the_job_to_judge() {
        let e = rsd(
            r#"<PROPERTY NAME="CreationTime" TYPE="datetime"><VALUE>2024-01-01T00:00:00Z</VALUE></PROPERTY>"#,
        );
        assert_eq!(check(&e, REPLICATION_SETTING_DATA), Ok(()));
        assert_eq!(e.non_dmtf_datetimes(), vec!["CreationTime"]);
    }
}
