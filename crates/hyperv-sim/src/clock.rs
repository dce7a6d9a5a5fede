//! Wall-clock helpers: the model takes `now` as a parameter (it reads no clock itself), and
//! renders times as CIM datetimes the way Hyper-V does (UTC, offset 0).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wsman_soap::CimDateTime;

/// The CIM datetime (UTC) of a wall-clock time; times before 1970 clamp to the epoch.
pub fn to_cim(t: SystemTime) -> CimDateTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    CimDateTime::Timestamp {
        year,
        month,
        day,
        hour: u8::try_from(rem / 3600).unwrap_or(0),
        minute: u8::try_from((rem % 3600) / 60).unwrap_or(0),
        second: u8::try_from(rem % 60).unwrap_or(0),
        microsecond: d.subsec_micros(),
        utc_offset_minutes: 0,
    }
}

/// The "never" datetime Hyper-V reports for times that have not happened (1601-01-01, the
/// FILETIME epoch), as seen in real recordings.
pub fn never() -> CimDateTime {
    CimDateTime::NEVER
}

/// A CIM interval of `d`.
pub fn interval(d: Duration) -> CimDateTime {
    let secs = d.as_secs();
    CimDateTime::Interval {
        days: u32::try_from(secs / 86_400).unwrap_or(u32::MAX),
        hours: u8::try_from((secs % 86_400) / 3600).unwrap_or(0),
        minutes: u8::try_from((secs % 3600) / 60).unwrap_or(0),
        seconds: u8::try_from(secs % 60).unwrap_or(0),
        microseconds: d.subsec_micros(),
    }
}

/// The current time as a Windows FILETIME (100 ns ticks since 1601-01-01), for NTLM.
pub fn filetime(t: SystemTime) -> u64 {
    const EPOCH_DIFF_SECS: u64 = 11_644_473_600;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    (d.as_secs() + EPOCH_DIFF_SECS) * 10_000_000 + u64::from(d.subsec_nanos() / 100)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(days: u64) -> (u16, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        u16::try_from(y).unwrap_or(9999),
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
