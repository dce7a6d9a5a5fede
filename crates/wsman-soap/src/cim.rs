//! The CIM value model: instances with ordered, typed properties.
//!
//! Instances read from WS-Management XML carry no type information: their scalars arrive as
//! [`Scalar::String`] (or [`Scalar::Datetime`] for `cim:Datetime`/`cim:Interval` elements) and the
//! numeric accessors parse them. Instances written as CIM-XML need real types; see
//! [`Instance::retyped`].

use crate::epr::Epr;
use crate::error::Error;

/// A CIM intrinsic data type, as named in the CIM-XML `TYPE` attribute (DSP0201).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CimType {
    /// `boolean`
    Boolean,
    /// `uint8`
    Uint8,
    /// `sint8`
    Sint8,
    /// `uint16`
    Uint16,
    /// `sint16`
    Sint16,
    /// `uint32`
    Uint32,
    /// `sint32`
    Sint32,
    /// `uint64`
    Uint64,
    /// `sint64`
    Sint64,
    /// `real32`
    Real32,
    /// `real64`
    Real64,
    /// `char16`
    Char16,
    /// `string`
    String,
    /// `datetime`
    Datetime,
    /// `reference` (CIM-XML `PROPERTY.REFERENCE`)
    Reference,
}

impl CimType {
    /// The DSP0201 `TYPE` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CimType::Boolean => "boolean",
            CimType::Uint8 => "uint8",
            CimType::Sint8 => "sint8",
            CimType::Uint16 => "uint16",
            CimType::Sint16 => "sint16",
            CimType::Uint32 => "uint32",
            CimType::Sint32 => "sint32",
            CimType::Uint64 => "uint64",
            CimType::Sint64 => "sint64",
            CimType::Real32 => "real32",
            CimType::Real64 => "real64",
            CimType::Char16 => "char16",
            CimType::String => "string",
            CimType::Datetime => "datetime",
            CimType::Reference => "reference",
        }
    }

    /// Parses a DSP0201 `TYPE` attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "boolean" => CimType::Boolean,
            "uint8" => CimType::Uint8,
            "sint8" => CimType::Sint8,
            "uint16" => CimType::Uint16,
            "sint16" => CimType::Sint16,
            "uint32" => CimType::Uint32,
            "sint32" => CimType::Sint32,
            "uint64" => CimType::Uint64,
            "sint64" => CimType::Sint64,
            "real32" => CimType::Real32,
            "real64" => CimType::Real64,
            "char16" => CimType::Char16,
            "string" => CimType::String,
            "datetime" => CimType::Datetime,
            "reference" => CimType::Reference,
            _ => return None,
        })
    }
}

/// A CIM datetime: either a point in time or an interval (DSP0004 §5.2.4).
///
/// DMTF text forms: `yyyymmddHHMMSS.mmmmmmsUUU` (timestamp, `s` is `+` or `-`, `UUU` the UTC
/// offset in minutes) and `ddddddddHHMMSS.mmmmmm:000` (interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CimDateTime {
    /// A point in time with its UTC offset.
    Timestamp {
        /// Year, 0..=9999.
        year: u16,
        /// Month, 1..=12.
        month: u8,
        /// Day of month, 1..=31.
        day: u8,
        /// Hour, 0..=23.
        hour: u8,
        /// Minute, 0..=59.
        minute: u8,
        /// Second, 0..=60.
        second: u8,
        /// Microseconds, 0..=999_999.
        microsecond: u32,
        /// Offset from UTC in minutes, -999..=999.
        utc_offset_minutes: i16,
    },
    /// A duration.
    Interval {
        /// Days, 0..=99_999_999.
        days: u32,
        /// Hours, 0..=23.
        hours: u8,
        /// Minutes, 0..=59.
        minutes: u8,
        /// Seconds, 0..=59.
        seconds: u8,
        /// Microseconds, 0..=999_999.
        microseconds: u32,
    },
}

/// One CIM scalar value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// `boolean`
    Boolean(bool),
    /// `uint8`
    Uint8(u8),
    /// `sint8`
    Sint8(i8),
    /// `uint16`
    Uint16(u16),
    /// `sint16`
    Sint16(i16),
    /// `uint32`
    Uint32(u32),
    /// `sint32`
    Sint32(i32),
    /// `uint64`
    Uint64(u64),
    /// `sint64`
    Sint64(i64),
    /// `real32`
    Real32(f32),
    /// `real64`
    Real64(f64),
    /// `char16`
    Char16(char),
    /// `string`, and every untyped text value read from WS-Management XML.
    String(String),
    /// `datetime`
    Datetime(CimDateTime),
}

impl Scalar {
    /// The CIM type of this scalar.
    pub fn cim_type(&self) -> CimType {
        match self {
            Scalar::Boolean(_) => CimType::Boolean,
            Scalar::Uint8(_) => CimType::Uint8,
            Scalar::Sint8(_) => CimType::Sint8,
            Scalar::Uint16(_) => CimType::Uint16,
            Scalar::Sint16(_) => CimType::Sint16,
            Scalar::Uint32(_) => CimType::Uint32,
            Scalar::Sint32(_) => CimType::Sint32,
            Scalar::Uint64(_) => CimType::Uint64,
            Scalar::Sint64(_) => CimType::Sint64,
            Scalar::Real32(_) => CimType::Real32,
            Scalar::Real64(_) => CimType::Real64,
            Scalar::Char16(_) => CimType::Char16,
            Scalar::String(_) => CimType::String,
            Scalar::Datetime(_) => CimType::Datetime,
        }
    }

    /// The value as an unsigned integer: integer scalars that fit, or a string holding one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Scalar::Uint8(v) => Some(v.into()),
            Scalar::Uint16(v) => Some(v.into()),
            Scalar::Uint32(v) => Some(v.into()),
            Scalar::Uint64(v) => Some(v),
            Scalar::Sint8(v) => u64::try_from(v).ok(),
            Scalar::Sint16(v) => u64::try_from(v).ok(),
            Scalar::Sint32(v) => u64::try_from(v).ok(),
            Scalar::Sint64(v) => u64::try_from(v).ok(),
            Scalar::String(ref s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a signed integer: integer scalars that fit, or a string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::Sint8(v) => Some(v.into()),
            Scalar::Sint16(v) => Some(v.into()),
            Scalar::Sint32(v) => Some(v.into()),
            Scalar::Sint64(v) => Some(v),
            Scalar::String(ref s) => s.trim().parse().ok(),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a boolean: a boolean, or a string `true`/`false` (any case).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Boolean(b) => Some(*b),
            Scalar::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
            Scalar::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The string, for string scalars.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::String(s) => Some(s),
            _ => None,
        }
    }

    /// The datetime, for datetime scalars.
    pub fn as_datetime(&self) -> Option<&CimDateTime> {
        match self {
            Scalar::Datetime(d) => Some(d),
            _ => None,
        }
    }
}

/// A property value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// No value, type unknown (`xsi:nil="true"` or an absent element in WS-Management XML,
    /// where nothing says the type; a CIM-XML property without `VALUE` and without `TYPE`).
    Null,
    /// No value, of a known CIM type: a CIM-XML property without `VALUE` whose `TYPE` was
    /// given, or a null that [`Instance::retyped`] typed from the class schema. CIM-XML writes
    /// it with that type (`<PROPERTY NAME="n" TYPE="uint16"></PROPERTY>`), the way WMI's own
    /// serialiser does; WS-Management XML writes it as `xsi:nil`, like [`Value::Null`].
    TypedNull {
        /// The property's CIM type.
        cim_type: CimType,
        /// Whether the property is an array (`PROPERTY.ARRAY`).
        array: bool,
    },
    /// A single value.
    Scalar(Scalar),
    /// An array (repeated elements in WS-Management XML, `VALUE.ARRAY` in CIM-XML).
    Array(Vec<Scalar>),
    /// A reference to another instance.
    Reference(Epr),
    /// An embedded instance.
    Instance(Box<Instance>),
}

impl Value {
    /// The scalar, when this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The reference, when this is one.
    pub fn as_reference(&self) -> Option<&Epr> {
        match self {
            Value::Reference(e) => Some(e),
            _ => None,
        }
    }

    /// True for a null of either kind ([`Value::Null`] or [`Value::TypedNull`]).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::TypedNull { .. })
    }
}

impl From<Scalar> for Value {
    fn from(s: Scalar) -> Self {
        Value::Scalar(s)
    }
}

impl From<Epr> for Value {
    fn from(e: Epr) -> Self {
        Value::Reference(e)
    }
}

impl From<Instance> for Value {
    fn from(i: Instance) -> Self {
        Value::Instance(Box::new(i))
    }
}

/// One named property of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name, as the server spells it.
    pub name: String,
    /// Its value.
    pub value: Value,
}

/// A CIM instance: a class name and properties in document order.
///
/// Property names are looked up case-insensitively (CIM names are case-insensitive) and the
/// order is kept, because it is part of the byte-exact output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    /// The class name (`Msvm_ComputerSystem`, or `ReverseReplicationRelationship_OUTPUT`).
    pub class_name: String,
    /// Properties in document order.
    pub properties: Vec<Property>,
}

impl Instance {
    /// An instance of `class_name` with no properties.
    pub fn new(class_name: impl Into<String>) -> Self {
        Self {
            class_name: class_name.into(),
            properties: Vec::new(),
        }
    }

    /// Adds or replaces a property, builder style.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets a property: replaces the value in place when the name exists, appends otherwise.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self
            .properties
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(&name))
        {
            Some(p) => p.value = value,
            None => self.properties.push(Property { name, value }),
        }
    }

    /// The value of a property (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| &p.value)
    }

    /// A string property; `None` when absent, null or not a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_scalar()?.as_str()
    }

    /// An unsigned integer property (typed, or text that parses).
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        self.get(name)?.as_scalar()?.as_u64()
    }

    /// A `uint16` property (typed, or text that parses and fits).
    pub fn get_u16(&self, name: &str) -> Option<u16> {
        self.get_u64(name).and_then(|v| u16::try_from(v).ok())
    }

    /// A `uint32` property (typed, or text that parses and fits).
    pub fn get_u32(&self, name: &str) -> Option<u32> {
        self.get_u64(name).and_then(|v| u32::try_from(v).ok())
    }

    /// A boolean property (typed, or text `true`/`false`).
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_scalar()?.as_bool()
    }

    /// A datetime property.
    pub fn get_datetime(&self, name: &str) -> Option<&CimDateTime> {
        self.get(name)?.as_scalar()?.as_datetime()
    }

    /// A reference property.
    pub fn get_reference(&self, name: &str) -> Option<&Epr> {
        self.get(name)?.as_reference()
    }
}

impl CimDateTime {
    /// 1601-01-01T00:00:00Z, the value WMI reports for "never" (FILETIME 0).
    pub const NEVER: CimDateTime = CimDateTime::Timestamp {
        year: 1601,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        microsecond: 0,
        utc_offset_minutes: 0,
    };

    /// The UTC timestamp (offset 0) of a wall-clock time, to the microsecond; times before
    /// 1970 clamp to 1970-01-01 and times after 9999 to 9999-12-31T23:59:59.999999Z. The caller
    /// reads the clock (this crate reads none).
    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        let d = t
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(std::time::Duration::ZERO);
        let secs = d.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let rem = secs % 86_400;
        if year > 9999 {
            return CimDateTime::Timestamp {
                year: 9999,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 59,
                microsecond: 999_999,
                utc_offset_minutes: 0,
            };
        }
        CimDateTime::Timestamp {
            year: year as u16,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: ((rem % 3600) / 60) as u8,
            second: (rem % 60) as u8,
            microsecond: d.subsec_micros(),
            utc_offset_minutes: 0,
        }
    }

    /// True for the 1601-01-01 00:00:00 "never" timestamp (any offset).
    pub fn is_never(&self) -> bool {
        matches!(
            *self,
            CimDateTime::Timestamp {
                year: 1601,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                microsecond: 0,
                ..
            }
        )
    }

    /// Parses the DMTF form (DSP0004 §5.2.4): `yyyymmddHHMMSS.mmmmmmsUUU` (timestamp, `s` is `+`
    /// or `-`, `UUU` minutes) or `ddddddddHHMMSS.mmmmmm:000` (interval).
    pub fn parse_dmtf(s: &str) -> Result<Self, Error> {
        let bad = |d: &str| Error::invalid("dmtf datetime", format!("{s:?}: {d}"));
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() != 25 || !s.is_ascii() {
            return Err(bad("expected 25 characters"));
        }
        if b[14] != b'.' {
            return Err(bad("expected '.' at position 15"));
        }
        let num = |from: usize, to: usize| -> Result<u32, Error> {
            let part = &s[from..to];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("non-digit field (wildcards are not supported)"));
            }
            part.parse::<u32>().map_err(|e| bad(&e.to_string()))
        };
        let micro = num(15, 21)?;
        match b[21] {
            b':' => {
                if &s[22..] != "000" {
                    return Err(bad("interval must end with :000"));
                }
                let (days, hours, minutes, seconds) = (num(0, 8)?, num(8, 10)?, num(10, 12)?, num(12, 14)?);
                if hours > 23 || minutes > 59 || seconds > 59 {
                    return Err(bad("field out of range"));
                }
                Ok(CimDateTime::Interval {
                    days,
                    hours: hours as u8,
                    minutes: minutes as u8,
                    seconds: seconds as u8,
                    microseconds: micro,
                })
            }
            sign @ (b'+' | b'-') => {
                let off = num(22, 25)? as i16;
                let utc_offset_minutes = if sign == b'-' { -off } else { off };
                let (year, month, day) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
                let (hour, minute, second) = (num(8, 10)?, num(10, 12)?, num(12, 14)?);
                check_date(year, month, day, hour, minute, second).map_err(bad)?;
                Ok(CimDateTime::Timestamp {
                    year: year as u16,
                    month: month as u8,
                    day: day as u8,
                    hour: hour as u8,
                    minute: minute as u8,
                    second: second as u8,
                    microsecond: micro,
                    utc_offset_minutes,
                })
            }
            _ => Err(bad("expected '+', '-' or ':' at position 22")),
        }
    }

    /// The DMTF form (see [`CimDateTime::parse_dmtf`]); this is what CIM-XML carries.
    pub fn to_dmtf(&self) -> String {
        match *self {
            CimDateTime::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                utc_offset_minutes,
            } => {
                let sign = if utc_offset_minutes < 0 { '-' } else { '+' };
                format!(
                    "{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}.{microsecond:06}{sign}{:03}",
                    utc_offset_minutes.unsigned_abs()
                )
            }
            CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds,
            } => {
                format!("{days:08}{hours:02}{minutes:02}{seconds:02}.{microseconds:06}:000")
            }
        }
    }

    /// Parses ISO 8601 as WS-Management carries it in `cim:Datetime` (`2024-01-01T00:00:00Z`,
    /// `…T13:09:06.102138-07:00`; no zone means UTC, as Windows reads it) and `xs:duration`
    /// (`P1DT2H3M4.5S`) for `cim:Interval`.
    pub fn parse_iso8601(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.starts_with('P') {
            return parse_duration(s).map(|(days, hours, minutes, seconds, microseconds)| {
                CimDateTime::Interval {
                    days,
                    hours,
                    minutes,
                    seconds,
                    microseconds,
                }
            });
        }
        let bad = |d: &str| Error::invalid("iso 8601 datetime", format!("{s:?}: {d}"));
        if !s.is_ascii() || s.len() < 19 {
            return Err(bad("too short"));
        }
        let b = s.as_bytes();
        if b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') || b[13] != b':' || b[16] != b':'
        {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
        }
        // At most 4 ASCII digits per field: no overflow.
        let num = |from: usize, to: usize| -> Result<u32, Error> {
            b[from..to].iter().try_fold(0u32, |n, &c| {
                if c.is_ascii_digit() {
                    Ok(n * 10 + u32::from(c - b'0'))
                } else {
                    Err(bad("non-digit field"))
                }
            })
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        check_date(year, month, day, hour, minute, second).map_err(bad)?;
        let mut rest = &s[19..];
        let mut microsecond = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("empty fraction"));
            }
            // The first six digits, right-padded with zeros (microseconds; the rest truncated).
            microsecond = (0..6).fold(0u32, |n, i| {
                let d = frac
                    .as_bytes()
                    .get(i)
                    .filter(|_| i < digits)
                    .map_or(0, |c| c - b'0');
                n * 10 + u32::from(d)
            });
            rest = &frac[digits..];
        }
        let utc_offset_minutes = match rest {
            "" | "Z" | "z" => 0,
            _ => {
                let rb = rest.as_bytes();
                let sign = match rb[0] {
                    b'+' => 1i16,
                    b'-' => -1i16,
                    _ => return Err(bad("bad zone")),
                };
                let (h, m) = match rest.len() {
                    6 if rb[3] == b':' => (&rest[1..3], &rest[4..6]),
                    5 => (&rest[1..3], &rest[3..5]),
                    3 => (&rest[1..3], "00"),
                    _ => return Err(bad("bad zone")),
                };
                if !(h.bytes().chain(m.bytes())).all(|c| c.is_ascii_digit()) {
                    return Err(bad("bad zone"));
                }
                let (h, m) = (h.parse::<i16>().unwrap_or(0), m.parse::<i16>().unwrap_or(0));
                if m > 59 || h * 60 + m > 999 {
                    return Err(bad("zone offset out of range"));
                }
                sign * (h * 60 + m)
            }
        };
        Ok(CimDateTime::Timestamp {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            microsecond,
            utc_offset_minutes,
        })
    }

    /// ISO 8601: a timestamp as RFC 3339 with its offset (`Z` for zero; fraction only when
    /// non-zero, trailing zeros trimmed, as Windows writes it); an interval as `xs:duration`
    /// `P{d}DT{h}H{m}M{s}[.f]S`.
    pub fn to_iso8601(&self) -> String {
        fn frac(us: u32) -> String {
            if us == 0 {
                return String::new();
            }
            let f = format!(".{us:06}");
            f.trim_end_matches('0').to_owned()
        }
        match *self {
            CimDateTime::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                utc_offset_minutes,
            } => {
                let zone = if utc_offset_minutes == 0 {
                    "Z".to_owned()
                } else {
                    let sign = if utc_offset_minutes < 0 { '-' } else { '+' };
                    let a = utc_offset_minutes.unsigned_abs();
                    format!("{sign}{:02}:{:02}", a / 60, a % 60)
                };
                format!(
                    "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{}{zone}",
                    frac(microsecond)
                )
            }
            CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds,
            } => {
                format!("P{days}DT{hours}H{minutes}M{seconds}{}S", frac(microseconds))
            }
        }
    }

    /// The timestamp as whole seconds since 1970-01-01T00:00:00Z (its UTC offset applied, the
    /// microseconds dropped), so that times written with different offsets compare; `None` for
    /// intervals.
    pub fn unix_seconds(&self) -> Option<i64> {
        match *self {
            CimDateTime::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                utc_offset_minutes,
                ..
            } => Some(
                days_from_civil(i64::from(year), month, day) * 86_400
                    + i64::from(hour) * 3600
                    + i64::from(minute) * 60
                    + i64::from(second)
                    - i64::from(utc_offset_minutes) * 60,
            ),
            CimDateTime::Interval { .. } => None,
        }
    }

    /// The interval as a [`std::time::Duration`]; `None` for timestamps.
    pub fn as_duration(&self) -> Option<std::time::Duration> {
        match *self {
            CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds,
            } => {
                let secs = u64::from(days) * 86_400
                    + u64::from(hours) * 3600
                    + u64::from(minutes) * 60
                    + u64::from(seconds);
                Some(
                    std::time::Duration::from_secs(secs)
                        + std::time::Duration::from_micros(microseconds.into()),
                )
            }
            CimDateTime::Timestamp { .. } => None,
        }
    }

    /// An interval from a [`std::time::Duration`] (saturating at 99 999 999 days).
    pub fn interval(d: std::time::Duration) -> Self {
        let total = d.as_secs();
        let days = u32::try_from(total / 86_400).unwrap_or(u32::MAX).min(99_999_999);
        let rem = total % 86_400;
        CimDateTime::Interval {
            days,
            hours: (rem / 3600) as u8,
            minutes: ((rem % 3600) / 60) as u8,
            seconds: (rem % 60) as u8,
            microseconds: d.subsec_micros(),
        }
    }
}

fn check_date(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Result<(), &'static str> {
    if !(1..=12).contains(&month) || year > 9999 {
        return Err("date field out of range");
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time field out of range");
    }
    Ok(())
}

/// The length of `month` (1..=12) of `year` in the proleptic Gregorian calendar: February has
/// 29 days in years divisible by 4, except centuries not divisible by 400.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // mp is 0..=11 and the day 1..=31, so both fit a u8.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) of the proleptic Gregorian calendar to days since 1970-01-01 (Howard
/// Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an `xs:duration` into (days, hours, minutes, seconds, microseconds), normalising
/// hours/minutes/seconds overflow into days. Years and months are refused (not exact).
pub(crate) fn parse_duration(s: &str) -> Result<(u32, u8, u8, u8, u32), Error> {
    let bad = |d: &str| Error::invalid("xs:duration", format!("{s:?}: {d}"));
    let body = s
        .trim()
        .strip_prefix('P')
        .ok_or_else(|| bad("must start with P"))?;
    if body.is_empty() {
        return Err(bad("empty"));
    }
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad("empty time part"));
            }
            (d, t)
        }
        None => (body, ""),
    };
    let mut total_us: u128 = 0;
    let mut take = |part: &str, units: &[(char, u128)]| -> Result<(), Error> {
        let mut rest = part;
        let mut last = 0usize;
        while !rest.is_empty() {
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_digit() || *c == b'.')
                .count();
            if n == 0 || n >= rest.len() {
                return Err(bad("expected number and unit"));
            }
            let (num, unit) = (&rest[..n], rest[n..].chars().next().unwrap_or(' '));
            let idx = units
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(|| bad("unknown or unsupported unit"))?;
            if idx < last {
                return Err(bad("units out of order"));
            }
            last = idx + 1;
            let scale = units[idx].1;
            let (int, frac) = num.split_once('.').unwrap_or((num, ""));
            if int.is_empty() || (num.contains('.') && (unit != 'S' || frac.is_empty())) {
                return Err(bad("bad number"));
            }
            let int: u128 = int.parse().map_err(|_| bad("number too large"))?;
            let mut f = String::from(&frac[..frac.len().min(6)]);
            while f.len() < 6 {
                f.push('0');
            }
            let f: u128 = f.parse().map_err(|_| bad("bad fraction"))?;
            total_us = int
                .checked_mul(scale)
                .and_then(|v| v.checked_add(total_us))
                .and_then(|v| v.checked_add(f))
                .ok_or_else(|| bad("too large"))?;
            rest = &rest[n + unit.len_utf8()..];
        }
        Ok(())
    };
    take(date, &[('D', 86_400_000_000)])?;
    take(time, &[('H', 3_600_000_000), ('M', 60_000_000), ('S', 1_000_000)])?;
    let micro = (total_us % 1_000_000) as u32;
    let secs = total_us / 1_000_000;
    let days = secs / 86_400;
    if days > 99_999_999 {
        return Err(bad("more than 99999999 days"));
    }
    let rem = secs % 86_400;
    Ok((
        days as u32,
        (rem / 3600) as u8,
        ((rem % 3600) / 60) as u8,
        (rem % 60) as u8,
        micro,
    ))
}

impl Scalar {
    /// Parses text as a value of type `ty` (CIM-XML `VALUE` text, or WS-Management element
    /// text). Booleans accept `true`/`false` in any case; datetimes accept DMTF or ISO 8601.
    pub fn from_text(ty: CimType, text: &str) -> Result<Scalar, Error> {
        let t = text.trim();
        let bad =
            |e: &dyn std::fmt::Display| Error::invalid("cim value", format!("{t:?} as {}: {e}", ty.as_str()));
        Ok(match ty {
            CimType::Boolean => {
                if t.eq_ignore_ascii_case("true") {
                    Scalar::Boolean(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Scalar::Boolean(false)
                } else {
                    return Err(bad(&"expected true or false"));
                }
            }
            CimType::Uint8 => Scalar::Uint8(t.parse().map_err(|e| bad(&e))?),
            CimType::Sint8 => Scalar::Sint8(t.parse().map_err(|e| bad(&e))?),
            CimType::Uint16 => Scalar::Uint16(t.parse().map_err(|e| bad(&e))?),
            CimType::Sint16 => Scalar::Sint16(t.parse().map_err(|e| bad(&e))?),
            CimType::Uint32 => Scalar::Uint32(t.parse().map_err(|e| bad(&e))?),
            CimType::Sint32 => Scalar::Sint32(t.parse().map_err(|e| bad(&e))?),
            CimType::Uint64 => Scalar::Uint64(t.parse().map_err(|e| bad(&e))?),
            CimType::Sint64 => Scalar::Sint64(t.parse().map_err(|e| bad(&e))?),
            CimType::Real32 => Scalar::Real32(t.parse().map_err(|e| bad(&e))?),
            CimType::Real64 => Scalar::Real64(t.parse().map_err(|e| bad(&e))?),
            CimType::Char16 => {
                let mut it = text.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) if u32::from(c) <= 0xFFFF => Scalar::Char16(c),
                    _ => return Err(bad(&"expected one UCS-2 character")),
                }
            }
            CimType::String | CimType::Reference => Scalar::String(text.to_owned()),
            CimType::Datetime => Scalar::Datetime(
                CimDateTime::parse_dmtf(t)
                    .or_else(|_| CimDateTime::parse_iso8601(t))
                    .map_err(|e| bad(&e))?,
            ),
        })
    }

    /// The canonical text: decimal numbers, lowercase booleans, DMTF datetimes.
    pub fn to_text(&self) -> String {
        match self {
            Scalar::Boolean(b) => b.to_string(),
            Scalar::Uint8(v) => v.to_string(),
            Scalar::Sint8(v) => v.to_string(),
            Scalar::Uint16(v) => v.to_string(),
            Scalar::Sint16(v) => v.to_string(),
            Scalar::Uint32(v) => v.to_string(),
            Scalar::Sint32(v) => v.to_string(),
            Scalar::Uint64(v) => v.to_string(),
            Scalar::Sint64(v) => v.to_string(),
            Scalar::Real32(v) => v.to_string(),
            Scalar::Real64(v) => v.to_string(),
            Scalar::Char16(c) => c.to_string(),
            Scalar::String(s) => s.clone(),
            Scalar::Datetime(d) => d.to_dmtf(),
        }
    }

    fn retyped(&self, ty: CimType) -> Result<Scalar, Error> {
        if self.cim_type() == ty || ty == CimType::Reference {
            return Ok(self.clone());
        }
        Scalar::from_text(ty, &self.to_text())
    }
}

impl Instance {
    /// Converts untyped text scalars to the given types (schema: property name -> (type,
    /// is_array), names case-insensitive), for writing as CIM-XML. A scalar where the schema
    /// says array becomes a one-element array (WS-Management XML cannot tell them apart); a
    /// one-element array where it says scalar becomes a scalar. Nulls, and empty arrays,
    /// become [`Value::TypedNull`] of the schema's type: WS-Management XML tells neither the
    /// type of a nil element nor an empty array from a null one, and CIM-XML writes a null with
    /// its class type ([DSP0201 §5.2.6]: `PROPERTY` requires `TYPE`). Properties not in the
    /// schema are kept as they are; see [`Instance::split_by_schema`] to leave them out.
    pub fn retyped(&self, schema: &[(&str, CimType, bool)]) -> Result<Instance, Error> {
        let mut out = Instance::new(self.class_name.clone());
        for p in &self.properties {
            let Some(&(_, ty, is_array)) = schema_entry(schema, &p.name) else {
                out.properties.push(p.clone());
                continue;
            };
            let null = Value::TypedNull {
                cim_type: ty,
                array: is_array,
            };
            let value = match (&p.value, is_array) {
                (Value::Null | Value::TypedNull { .. }, _) => null,
                (Value::Scalar(s), false) => Value::Scalar(s.retyped(ty)?),
                (Value::Scalar(s), true) => Value::Array(vec![s.retyped(ty)?]),
                (Value::Array(a), _) if a.is_empty() => null,
                (Value::Array(a), true) => {
                    Value::Array(a.iter().map(|s| s.retyped(ty)).collect::<Result<_, _>>()?)
                }
                (Value::Array(a), false) => match a.as_slice() {
                    [one] => Value::Scalar(one.retyped(ty)?),
                    _ => {
                        return Err(Error::invalid(
                            "property",
                            format!("{} has {} values but the schema says scalar", p.name, a.len()),
                        ))
                    }
                },
                (other, _) => other.clone(),
            };
            out.properties.push(Property {
                name: p.name.clone(),
                value,
            });
        }
        Ok(out)
    }

    /// Splits the instance into the properties the schema names (in their order here) and the
    /// names of those it does not: a class schema written for one Windows version meets an
    /// instance from a newer one. Used to leave out what cannot be typed rather than guess.
    pub fn split_by_schema(&self, schema: &[(&str, CimType, bool)]) -> (Instance, Vec<String>) {
        let mut known = Instance::new(self.class_name.clone());
        let mut unknown = Vec::new();
        for p in &self.properties {
            if schema_entry(schema, &p.name).is_some() {
                known.properties.push(p.clone());
            } else {
                unknown.push(p.name.clone());
            }
        }
        (known, unknown)
    }
}

fn schema_entry<'s, 'a>(
    schema: &'s [(&'a str, CimType, bool)],
    name: &str,
) -> Option<&'s (&'a str, CimType, bool)> {
    schema.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_keeps_order() {
        let mut i = Instance::new("C")
            .with("A", Scalar::Uint16(1))
            .with("B", Scalar::String("x".into()));
        i.set("a", Scalar::Uint16(2));
        assert_eq!(i.properties[0].name, "A");
        assert_eq!(i.get_u16("A"), Some(2));
        assert_eq!(i.properties.len(), 2);
    }

    #[test]
    fn untyped_text_parses_through_accessors() {
        let i = Instance::new("C")
            .with("ReplicationState", Scalar::String("5".into()))
            .with("Flag", Scalar::String("TRUE".into()))
            .with("Big", Scalar::String("70000".into()));
        assert_eq!(i.get_u16("replicationstate"), Some(5));
        assert_eq!(i.get_bool("Flag"), Some(true));
        assert_eq!(i.get_u16("Big"), None);
        assert_eq!(i.get_u32("Big"), Some(70000));
    }

    #[test]
    fn cim_type_names_round_trip() {
        for t in [
            CimType::Boolean,
            CimType::Uint16,
            CimType::Datetime,
            CimType::Reference,
        ] {
            assert_eq!(CimType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(CimType::from_name("UINT16"), None);
    }
    #[test]
    fn dmtf_timestamps_and_intervals_round_trip() {
        let t = CimDateTime::parse_dmtf("20240101123456.123456-420").unwrap();
        assert_eq!(
            t,
            CimDateTime::Timestamp {
                year: 2024,
                month: 1,
                day: 1,
                hour: 12,
                minute: 34,
                second: 56,
                microsecond: 123_456,
                utc_offset_minutes: -420
            }
        );
        assert_eq!(t.to_dmtf(), "20240101123456.123456-420");
        assert_eq!(t.to_iso8601(), "2024-01-01T12:34:56.123456-07:00");
        let i = CimDateTime::parse_dmtf("00000001183000.500000:000").unwrap();
        assert_eq!(
            i,
            CimDateTime::Interval {
                days: 1,
                hours: 18,
                minutes: 30,
                seconds: 0,
                microseconds: 500_000
            }
        );
        assert_eq!(i.to_iso8601(), "P1DT18H30M0.5S");
        assert_eq!(
            i.as_duration(),
            Some(std::time::Duration::from_millis(153_000_500))
        );
        assert_eq!(CimDateTime::NEVER.to_dmtf(), "16010101000000.000000+000");
        assert!(CimDateTime::parse_dmtf("16010101000000.000000+000")
            .unwrap()
            .is_never());
    }

    #[test]
    fn dmtf_rejects_bad_text() {
        for bad in [
            "2024",
            "20241301000000.000000+000",
            "********000000.000000+000",
            "00000000250000.000000:000",
            "00000000000000.000000:001",
            "20240101000000.000000*000",
            "20240101000000,000000+000",
        ] {
            assert!(
                matches!(
                    CimDateTime::parse_dmtf(bad),
                    Err(Error::Invalid {
                        what: "dmtf datetime",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn days_must_exist_in_their_month() {
        // 2024 is a leap year, 1900 is not (a century), 2000 is (divisible by 400).
        let cases = [
            ("2024-02-29", true),
            ("2000-02-29", true),
            ("2023-04-30", true),
            ("2023-12-31", true),
            ("2023-01-31", true),
            ("2024-02-30", false),
            ("2024-02-31", false),
            ("2023-02-29", false),
            ("1900-02-29", false),
            ("2023-04-31", false),
            ("2023-06-31", false),
            ("2023-09-31", false),
            ("2023-11-31", false),
            ("2023-01-00", false),
            ("2023-01-32", false),
        ];
        for (date, valid) in cases {
            let iso = format!("{date}T00:00:00Z");
            assert_eq!(CimDateTime::parse_iso8601(&iso).is_ok(), valid, "{iso}");
            let dmtf = format!("{}000000.000000+000", date.replace('-', ""));
            assert_eq!(CimDateTime::parse_dmtf(&dmtf).is_ok(), valid, "{dmtf}");
        }
    }

    #[test]
    fn unix_seconds_applies_the_offset_and_inverts_from_system_time() {
        for secs in [0u64, 951_782_400, 1_800_000_000, 4_102_444_799] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let d = CimDateTime::from_system_time(t);
            assert_eq!(d.unix_seconds(), Some(secs as i64), "{d:?}");
        }
        let utc = CimDateTime::parse_iso8601("2027-01-15T08:00:00Z").unwrap();
        let pacific = CimDateTime::parse_iso8601("2027-01-15T00:00:00.5-08:00").unwrap();
        assert_eq!(utc.unix_seconds(), pacific.unix_seconds());
        assert_eq!(
            CimDateTime::interval(std::time::Duration::from_secs(5)).unix_seconds(),
            None
        );
    }

    #[test]
    fn from_system_time_is_utc_civil_time() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |secs: u64, micros: u64| {
            CimDateTime::from_system_time(
                UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros),
            )
        };
        // 2026-10-08T15:15:36.684240Z, 2000-02-29 (leap day), 2100-03-01 (after a non-leap
        // century February), the epoch, and a time before it (clamped).
        assert_eq!(
            at(1_791_472_536, 684_240).to_iso8601(),
            "2026-10-08T15:15:36.68424Z"
        );
        assert_eq!(at(951_782_400, 0).to_iso8601(), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_400, 0).to_iso8601(), "2100-03-01T00:00:00Z");
        assert_eq!(at(0, 0).to_dmtf(), "19700101000000.000000+000");
        assert_eq!(
            CimDateTime::from_system_time(UNIX_EPOCH - Duration::from_secs(1)).to_dmtf(),
            "19700101000000.000000+000"
        );
        // Every day of 1970..2101 comes out as a valid date that parses back.
        for day in 0..48_000u64 {
            let t = at(day * 86_400 + 86_399, 0);
            assert_eq!(CimDateTime::parse_dmtf(&t.to_dmtf()).unwrap(), t, "day {day}");
        }
    }

    #[test]
    fn iso8601_forms_windows_sends() {
        let z = CimDateTime::parse_iso8601("2026-10-08T15:15:36.68424Z").unwrap();
        assert_eq!(z.to_dmtf(), "20261008151536.684240+000");
        assert_eq!(z.to_iso8601(), "2026-10-08T15:15:36.68424Z");
        assert_eq!(
            CimDateTime::parse_iso8601("1601-01-01T00:00:00Z").unwrap(),
            CimDateTime::NEVER
        );
        let no_zone = CimDateTime::parse_iso8601("2024-01-01T00:00:00").unwrap();
        assert_eq!(no_zone.to_iso8601(), "2024-01-01T00:00:00Z");
        let plus = CimDateTime::parse_iso8601("2024-01-01T00:00:00.1234567+05:30").unwrap();
        assert_eq!(plus.to_dmtf(), "20240101000000.123456+330");
        assert_eq!(plus.to_iso8601(), "2024-01-01T00:00:00.123456+05:30");
        let d = CimDateTime::parse_iso8601("PT36H1.25S").unwrap();
        assert_eq!(
            d,
            CimDateTime::Interval {
                days: 1,
                hours: 12,
                minutes: 0,
                seconds: 1,
                microseconds: 250_000
            }
        );
        assert_eq!(
            CimDateTime::parse_iso8601("P2D").unwrap().to_dmtf(),
            "00000002000000.000000:000"
        );
        for bad in [
            "P1Y",
            "PT",
            "P",
            "PT1.5M",
            "2024-01-01",
            "2024-01-01T00:00:00+25:00",
            "P1DT2S3M",
            "2024-01-01T00:00:00.Z",
        ] {
            assert!(CimDateTime::parse_iso8601(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interval_from_duration() {
        let i = CimDateTime::interval(std::time::Duration::from_secs(90_061));
        assert_eq!(i.to_dmtf(), "00000001010101.000000:000");
    }

    #[test]
    fn scalar_text_conversions() {
        assert_eq!(
            Scalar::from_text(CimType::Boolean, "TRUE").unwrap(),
            Scalar::Boolean(true)
        );
        assert_eq!(Scalar::Boolean(false).to_text(), "false");
        assert_eq!(
            Scalar::from_text(CimType::Sint16, " -5 ").unwrap(),
            Scalar::Sint16(-5)
        );
        assert_eq!(
            Scalar::from_text(CimType::Char16, "x").unwrap(),
            Scalar::Char16('x')
        );
        assert!(Scalar::from_text(CimType::Char16, "xy").is_err());
        assert!(Scalar::from_text(CimType::Uint8, "256").is_err());
        assert!(Scalar::from_text(CimType::Boolean, "1").is_err());
        assert_eq!(
            Scalar::from_text(CimType::Datetime, "2024-01-01T00:00:00Z")
                .unwrap()
                .to_text(),
            "20240101000000.000000+000"
        );
        assert_eq!(
            Scalar::from_text(CimType::Real64, "1.5").unwrap().to_text(),
            "1.5"
        );
    }

    #[test]
    fn retyped_converts_scalars_arrays_and_keeps_unknown() {
        let i = Instance::new("C")
            .with("Port", Scalar::String("80".into()))
            .with("Disks", Scalar::String("d1".into()))
            .with("One", Value::Array(vec![Scalar::String("7".into())]))
            .with("Other", Scalar::String("x".into()));
        let t = i
            .retyped(&[
                ("port", CimType::Uint16, false),
                ("Disks", CimType::String, true),
                ("One", CimType::Uint8, false),
            ])
            .unwrap();
        assert_eq!(t.get("Port"), Some(&Value::Scalar(Scalar::Uint16(80))));
        assert_eq!(
            t.get("Disks"),
            Some(&Value::Array(vec![Scalar::String("d1".into())]))
        );
        assert_eq!(t.get("One"), Some(&Value::Scalar(Scalar::Uint8(7))));
        assert_eq!(t.get("Other"), Some(&Value::Scalar(Scalar::String("x".into()))));
        let bad = Instance::new("C").with("Port", Scalar::String("eighty".into()));
        assert!(matches!(
            bad.retyped(&[("Port", CimType::Uint16, false)]),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn retyped_types_nulls_and_empty_arrays_from_the_schema() {
        let i = Instance::new("Msvm_ReplicationSettingData")
            .with("AutomaticRecoveryAction", Value::Null)
            .with("AutomaticStartupActionDelay", Value::Null)
            .with("Notes", Value::Array(Vec::new()))
            .with("Unknown", Value::Null);
        let schema = [
            ("AutomaticRecoveryAction", CimType::Uint16, false),
            ("AutomaticStartupActionDelay", CimType::Datetime, false),
            ("Notes", CimType::String, true),
        ];
        let t = i.retyped(&schema).unwrap();
        assert_eq!(
            t.get("AutomaticRecoveryAction"),
            Some(&Value::TypedNull {
                cim_type: CimType::Uint16,
                array: false
            })
        );
        assert_eq!(
            t.get("AutomaticStartupActionDelay"),
            Some(&Value::TypedNull {
                cim_type: CimType::Datetime,
                array: false
            })
        );
        assert_eq!(
            t.get("Notes"),
            Some(&Value::TypedNull {
                cim_type: CimType::String,
                array: true
            })
        );
        assert_eq!(t.get("Unknown"), Some(&Value::Null));
        assert!(t.get("Notes").is_some_and(Value::is_null));
        let (known, unknown) = i.split_by_schema(&schema);
        assert_eq!(unknown, vec!["Unknown".to_owned()]);
        assert_eq!(known.properties.len(), 3);
    }
}
