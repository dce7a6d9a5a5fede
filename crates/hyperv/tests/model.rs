//! The typed values: every documented code and name.
#![allow(clippy::unwrap_used)]

use hyperv::{
    EnabledState, JobState, PsReplicationState, ReplicationHealth, ReplicationMode, ReplicationState,
    ReturnCode,
};

#[test]
fn every_documented_return_value_has_its_meaning() {
    let table: &[(u32, &str)] = &[
        (0, "completed with no error"),
        (1, "not supported"),
        (2, "unknown or unspecified error"),
        (3, "cannot complete within the timeout period"),
        (4, "failed"),
        (5, "invalid parameter"),
        (6, "in use"),
        (4096, "method parameters checked, job started"),
        (4097, "invalid state transition"),
        (4098, "use of the timeout parameter is not supported"),
        (4099, "busy"),
        (32768, "failed"),
        (32769, "access denied"),
        (32770, "not supported"),
        (32771, "status is unknown"),
        (32772, "timeout"),
        (32773, "invalid parameter"),
        (32774, "system is in use"),
        (32775, "invalid state for this operation"),
        (32776, "incorrect data type"),
        (32777, "system is not available"),
        (32778, "out of memory"),
        (32779, "file not found"),
    ];
    assert_eq!(table.len(), ReturnCode::ALL.len());
    for &(v, desc) in table {
        let c = ReturnCode::from_value(v);
        assert!(!matches!(c, ReturnCode::Other(_)), "{v} is documented");
        assert_eq!(c.value(), v);
        assert_eq!(c.description(), desc, "{v}");
        assert_eq!(c.to_string(), format!("{v} ({desc})"));
        assert!(ReturnCode::ALL.contains(&c));
    }
    assert_eq!(ReturnCode::from_value(7), ReturnCode::Other(7));
    assert_eq!(
        ReturnCode::from_value(32780).description(),
        "undocumented return value"
    );
    assert_eq!(ReturnCode::InvalidState, ReturnCode::from_value(32775));
    assert!(ReturnCode::AccessDenied
        .hint()
        .unwrap()
        .contains("Hyper-V Administrators"));
    assert!(ReturnCode::from_value(0).is_success());
    assert_eq!(
        serde_json::to_value(ReturnCode::from_value(32775)).unwrap(),
        32775
    );
}

#[test]
fn job_states_map_to_running_success_and_failure() {
    let table: &[(u16, &str, bool, bool)] = &[
        (2, "New", false, false),
        (3, "Starting", false, false),
        (4, "Running", false, false),
        (5, "Suspended", false, false),
        (6, "ShuttingDown", false, false),
        (7, "Completed", true, false),
        (8, "Terminated", false, true),
        (9, "Killed", false, true),
        (10, "Exception", false, true),
        (11, "Service", false, true),
    ];
    for &(v, name, ok, failed) in table {
        let s = JobState::from_value(v);
        assert_eq!(s.value(), v);
        assert_eq!(s.name(), name);
        assert_eq!(s.is_success(), ok, "{v}");
        assert_eq!(s.is_failure(), failed, "{v}");
        assert_eq!(s.is_finished(), ok || failed, "{v}");
    }
    assert_eq!(JobState::ALL.len(), table.len());
    assert_eq!(JobState::from_value(32768).to_string(), "Undocumented(32768)");
    assert!(!JobState::from_value(12).is_finished());
}

#[test]
fn replication_states_cover_0_to_21() {
    for v in 0..=21u16 {
        let s = ReplicationState::from_value(v);
        assert!(!matches!(s, ReplicationState::Other(_)), "{v}");
        assert_eq!(s.value(), v);
    }
    assert_eq!(ReplicationState::from_value(5).name(), "Recovered");
    assert_eq!(ReplicationState::from_value(6).name(), "Committed");
    assert_eq!(ReplicationState::from_value(17).name(), "Unknown");
    assert_eq!(ReplicationState::from_value(21).name(), "FiredrillInProgress");
    assert_eq!(ReplicationState::from_value(22), ReplicationState::Other(22));
    assert_eq!(ReplicationMode::from_value(4).name(), "ExtendedReplica");
    assert_eq!(ReplicationHealth::from_value(1).name(), "Normal");
    assert_eq!(ReplicationHealth::from_value(3).name(), "Critical");
    assert_eq!(EnabledState::from_value(2).name(), "Running");
    assert_eq!(EnabledState::from_value(3).name(), "Off");
    assert_eq!(EnabledState::from_value(32769).name(), "Saved");
    assert_eq!(EnabledState::from_value(32774).name(), "Stopping");
}

fn ps(mode: u16, state: u16) -> &'static str {
    PsReplicationState::derive(
        ReplicationMode::from_value(mode),
        ReplicationState::from_value(state),
    )
    .name()
}

#[test]
fn powershell_names_follow_mode_and_state() {
    // Primary (the Hyper-V module's mapping, see `PsReplicationState`).
    let primary: &[(u16, &str)] = &[
        (0, "Disabled"),
        (1, "ReadyForInitialReplication"),
        (2, "InitialReplicationInProgress"),
        (3, "Replicating"),
        (4, "PreparedForFailover"),
        (5, "Disabled"),
        (6, "Disabled"),
        (7, "Suspended"),
        (8, "Error"),
        (9, "WaitingForStartResynchronize"),
        (10, "Resynchronizing"),
        (11, "ResynchronizeSuspended"),
        (12, "RecoveryInProgress"),
        (13, "Disabled"),
        (14, "Disabled"),
        (15, "WaitingForUpdateCompletion"),
        (16, "UpdateError"),
        (17, "Disabled"),
        (18, "WaitingForRepurposeCompletion"),
        (19, "PreparedForSyncReplication"),
        (20, "PreparedForGroupReverseReplication"),
        (21, "Disabled"),
    ];
    for &(st, name) in primary {
        assert_eq!(ps(1, st), name, "primary {st}");
    }
    // Replica (2) and extended replica (4).
    let replica: &[(u16, &str, &str)] = &[
        (0, "Disabled", "Disabled"),
        (1, "Disabled", "ReadyForInitialReplication"),
        (2, "WaitingForInitialReplication", "InitialReplicationInProgress"),
        (3, "Replicating", "Replicating"),
        (4, "Disabled", "Disabled"),
        (5, "FailedOverWaitingCompletion", "FailedOverWaitingCompletion"),
        (6, "FailedOver", "FailedOver"),
        (7, "Suspended", "Suspended"),
        (8, "Error", "Error"),
        (9, "Disabled", "WaitingForStartResynchronize"),
        (10, "Resynchronizing", "Resynchronizing"),
        (11, "ResynchronizeSuspended", "ResynchronizeSuspended"),
        (12, "RecoveryInProgress", "RecoveryInProgress"),
        (13, "FailbackInProgress", "FailbackInProgress"),
        (14, "FailbackComplete", "FailbackComplete"),
        (15, "WaitingForUpdateCompletion", "WaitingForUpdateCompletion"),
        (16, "UpdateError", "UpdateError"),
        (17, "Disabled", "Disabled"),
        (18, "WaitingForRepurposeCompletion", "Disabled"),
        (19, "Disabled", "Disabled"),
        (20, "Disabled", "Disabled"),
        (21, "FiredrillInProgress", "FiredrillInProgress"),
    ];
    for &(st, replica_name, extended_name) in replica {
        assert_eq!(ps(2, st), replica_name, "replica {st}");
        assert_eq!(ps(4, st), extended_name, "extended {st}");
    }
    // Not replicated, test replica and unknown modes are Disabled.
    for st in 0..=21 {
        assert_eq!(ps(0, st), "Disabled");
        assert_eq!(ps(3, st), "Disabled");
        assert_eq!(ps(9, st), "Disabled");
    }
    assert_eq!(
        serde_json::to_value(PsReplicationState::FailedOverWaitingCompletion).unwrap(),
        "FailedOverWaitingCompletion"
    );
}

#[test]
fn rsd_schema_types_the_documented_properties() {
    use wsman_soap::CimType;
    let find = |n: &str| {
        hyperv::RSD_SCHEMA
            .iter()
            .find(|(name, _, _)| *name == n)
            .map(|&(_, t, a)| (t, a))
    };
    assert_eq!(find("RecoveryServerPortNumber"), Some((CimType::Uint16, false)));
    assert_eq!(find("AuthenticationType"), Some((CimType::Uint16, false)));
    assert_eq!(
        find("AutoResynchronizeIntervalStart"),
        Some((CimType::Datetime, false))
    );
    assert_eq!(find("IncludedDisks"), Some((CimType::String, true)));
    assert_eq!(find("CompressionEnabled"), Some((CimType::Boolean, false)));
    assert_eq!(find("ReplicationInterval"), Some((CimType::Uint16, false)));
    assert_eq!(hyperv::RSD_SCHEMA.len(), 42);
}
