//! The CIM value model: instances with ordered, typed properties.
//!
//! Instances read from WS-Management XML carry no type information: their scalars arrive as
//! [`Scalar::String`] (or [`Scalar::Datetime`] for `cim:Datetime`/`cim:Interval` elements) and the
//! numeric accessors parse them. Instances written as CIM-XML need real types; see
//! [`Instance::retyped`].

use crate::epr::Epr;

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
    /// No value (`xsi:nil="true"`, or a CIM-XML property without `VALUE`).
    Null,
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

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
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
        Self { class_name: class_name.into(), properties: Vec::new() }
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
        match self.properties.iter_mut().find(|p| p.name.eq_ignore_ascii_case(&name)) {
            Some(p) => p.value = value,
            None => self.properties.push(Property { name, value }),
        }
    }

    /// The value of a property (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| &p.value)
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
        for t in [CimType::Boolean, CimType::Uint16, CimType::Datetime, CimType::Reference] {
            assert_eq!(CimType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(CimType::from_name("UINT16"), None);
    }
}
