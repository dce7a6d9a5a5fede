//! Recovery points: the point in time a failover starts the replica from (`InitiateFailover`'s
//! `SnapshotSettingData`, an `Msvm_VirtualSystemSettingData` of a recovery snapshot, or null
//! for the latest replicated state). No recovery snapshots are simulated (the relationship's
//! `RecoveryHistory` is kept but no points are stored), so the latest point is the only one.

use wsman_soap::Value;

/// True when `snapshot` names a recovery point the replica has: only "latest point in time"
/// (the parameter absent or null).
pub(super) fn exists(snapshot: Option<&Value>) -> bool {
    matches!(snapshot, None | Some(Value::Null))
}
