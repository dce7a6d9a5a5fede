//! Wall-clock helpers: the model takes `now` as a parameter (it reads no clock itself), and
//! renders times as CIM datetimes the way Hyper-V does (UTC, offset 0).

use std::time::{Duration, SystemTime};

use wsman_soap::CimDateTime;

/// The CIM datetime (UTC) of a wall-clock time; times before 1970 clamp to the epoch
/// ([`CimDateTime::from_system_time`]).
pub fn to_cim(t: SystemTime) -> CimDateTime {
    CimDateTime::from_system_time(t)
}

/// The "never" datetime Hyper-V reports for times that have not happened (1601-01-01, the
/// FILETIME epoch), as seen in real recordings.
pub fn never() -> CimDateTime {
    CimDateTime::NEVER
}

/// A CIM interval of `d` ([`CimDateTime::interval`]).
pub fn interval(d: Duration) -> CimDateTime {
    CimDateTime::interval(d)
}

/// The current time as a Windows FILETIME (100 ns ticks since 1601-01-01), for NTLM
/// ([`winrm_auth::ntlm::filetime`]).
pub fn filetime(t: SystemTime) -> u64 {
    winrm_auth::ntlm::filetime(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn converts_known_instants() {
        // 2026-10-08T15:15:36Z
        let t = UNIX_EPOCH + Duration::from_secs(1_791_472_536);
        assert_eq!(
            to_cim(t),
            CimDateTime::Timestamp {
                year: 2026,
                month: 10,
                day: 8,
                hour: 15,
                minute: 15,
                second: 36,
                microsecond: 0,
                utc_offset_minutes: 0
            }
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(matches!(
            to_cim(leap),
            CimDateTime::Timestamp {
                year: 2000,
                month: 2,
                day: 29,
                ..
            }
        ));
    }

    #[test]
    fn filetime_of_unix_epoch() {
        assert_eq!(filetime(UNIX_EPOCH), 116_444_736_000_000_000);
    }

    #[test]
    fn interval_splits_fields() {
        assert_eq!(
            interval(Duration::from_millis(90_061_500)),
            CimDateTime::Interval {
                days: 1,
                hours: 1,
                minutes: 1,
                seconds: 1,
                microseconds: 500_000
            }
        );
    }
}
