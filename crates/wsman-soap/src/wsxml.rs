//! WS-Management XML forms shared by requests and responses: EPR contents, selector sets,
//! element-form instances (`<p:Class xmlns:p="{uri}">`), and their parsers.

use std::collections::HashMap;

use crate::cim::{CimDateTime, Instance, Property, Scalar, Value};
use crate::epr::{Epr, SelectorSet};
use crate::error::Error;
use crate::ns;
use crate::xml::{escape, push_escaped, Elem};

/// Appends `<w:SelectorSet>…</w:SelectorSet>` (nothing when empty). Prefix `w` must be bound.
pub(crate) fn push_selector_set(out: &mut String, s: &SelectorSet) {
    if s.is_empty() {
        return;
    }
    out.push_str("<w:SelectorSet>");
    for (n, v) in s.iter() {
        out.push_str("<w:Selector Name=\"");
        push_escaped(out, n);
        out.push_str("\">");
        push_escaped(out, v);
        out.push_str("</w:Selector>");
    }
    out.push_str("</w:SelectorSet>");
}

/// Appends the EPR contents `a:Address` + `a:ReferenceParameters` (prefixes `a`, `w` bound).
pub(crate) fn push_epr_contents(out: &mut String, e: &Epr) {
    out.push_str("<a:Address>");
    push_escaped(out, &e.address);
    out.push_str("</a:Address><a:ReferenceParameters><w:ResourceURI>");
    push_escaped(out, &e.resource_uri);
    out.push_str("</w:ResourceURI>");
    push_selector_set(out, &e.selectors);
    out.push_str("</a:ReferenceParameters>");
}

/// Appends `<{prefix}:{name}` (no `>`).
fn open_tag(out: &mut String, prefix: &str, name: &str) {
    out.push('<');
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
}

/// Appends `</{prefix}:{name}>`.
fn close_tag(out: &mut String, prefix: &str, name: &str) {
    out.push_str("</");
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
    out.push('>');
}

/// Appends [`Scalar::to_text`] of `s`, escaped, without intermediate strings for the common
/// kinds (strings, numbers, booleans).
pub(crate) fn push_scalar_text(out: &mut String, s: &Scalar) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match s {
        Scalar::String(v) => {
            push_escaped(out, v);
            Ok(())
        }
        Scalar::Boolean(b) => {
            out.push_str(if *b { "true" } else { "false" });
            Ok(())
        }
        Scalar::Uint8(v) => write!(out, "{v}"),
        Scalar::Sint8(v) => write!(out, "{v}"),
        Scalar::Uint16(v) => write!(out, "{v}"),
        Scalar::Sint16(v) => write!(out, "{v}"),
        Scalar::Uint32(v) => write!(out, "{v}"),
        Scalar::Sint32(v) => write!(out, "{v}"),
        Scalar::Uint64(v) => write!(out, "{v}"),
        Scalar::Sint64(v) => write!(out, "{v}"),
        Scalar::Real32(v) => write!(out, "{v}"),
        Scalar::Real64(v) => write!(out, "{v}"),
        Scalar::Char16(_) | Scalar::Datetime(_) => {
            push_escaped(out, &s.to_text());
            Ok(())
        }
    };
}

/// Appends one property element `<{prefix}:{name}>` for `value` (repeated for arrays).
/// Prefixes `xsi`, `cim` must be bound; references declare `a` and `w` on the element, the
/// way Windows writes them.
pub(crate) fn push_property(out: &mut String, prefix: &str, name: &str, value: &Value) {
    let name = escape(name);
    match value {
        Value::Null | Value::TypedNull { .. } => {
            open_tag(out, prefix, &name);
            out.push_str(" xsi:nil=\"true\"/>");
        }
        Value::Scalar(s) => push_scalar(out, prefix, &name, s),
        Value::Array(items) => {
            for s in items {
                push_scalar(out, prefix, &name, s);
            }
        }
        Value::Reference(e) => {
            open_tag(out, prefix, &name);
            out.push_str(" xmlns:a=\"");
            out.push_str(ns::ADDRESSING);
            out.push_str("\" xmlns:w=\"");
            out.push_str(ns::WSMAN);
            out.push_str("\">");
            push_epr_contents(out, e);
            close_tag(out, prefix, &name);
        }
        Value::Instance(i) => {
            open_tag(out, prefix, &name);
            out.push_str(" xsi:type=\"");
            push_escaped(out, &i.class_name);
            out.push_str("_Type\">");
            for p in &i.properties {
                push_property(out, prefix, &p.name, &p.value);
            }
            close_tag(out, prefix, &name);
        }
    }
}

fn push_scalar(out: &mut String, prefix: &str, name: &str, s: &Scalar) {
    open_tag(out, prefix, name);
    out.push('>');
    match s {
        Scalar::Datetime(d @ CimDateTime::Timestamp { .. }) => {
            out.push_str("<cim:Datetime>");
            out.push_str(&d.to_iso8601());
            out.push_str("</cim:Datetime>");
        }
        Scalar::Datetime(d @ CimDateTime::Interval { .. }) => {
            out.push_str("<cim:Interval>");
            out.push_str(&d.to_iso8601());
            out.push_str("</cim:Interval>");
        }
        other => push_scalar_text(out, other),
    }
    close_tag(out, prefix, name);
}

/// Appends an element-form instance `<p:{Class} xmlns:xsi xmlns:p="{uri}" xmlns:cim
/// [xsi:type="p:{Class}_Type"]>` with its properties, as Windows serialises Get/Pull items.
pub(crate) fn push_instance(out: &mut String, uri: &str, i: &Instance, with_type: bool) {
    let class = escape(&i.class_name);
    open_tag(out, "p", &class);
    out.push_str(" xmlns:xsi=\"");
    out.push_str(ns::XSI);
    out.push_str("\" xmlns:p=\"");
    push_escaped(out, uri);
    out.push_str("\" xmlns:cim=\"");
    out.push_str(ns::CIM_COMMON);
    out.push('"');
    if with_type {
        out.push_str(" xsi:type=\"p:");
        out.push_str(&class);
        out.push_str("_Type\"");
    }
    out.push('>');
    for p in &i.properties {
        push_property(out, "p", &p.name, &p.value);
    }
    close_tag(out, "p", &class);
}

/// Reads the EPR contents of `e` (its `a:Address` and `a:ReferenceParameters` children);
/// `None` when it has neither.
pub(crate) fn parse_epr(e: Elem<'_>) -> Option<Epr> {
    let address = e.child(ns::ADDRESSING, "Address");
    let params = e.child(ns::ADDRESSING, "ReferenceParameters");
    if address.is_none() && params.is_none() {
        return None;
    }
    let mut epr = Epr {
        address: address
            .map(|a| a.text().trim().to_owned())
            .unwrap_or_else(|| ns::ANONYMOUS.to_owned()),
        resource_uri: String::new(),
        selectors: SelectorSet::new(),
    };
    if let Some(p) = params {
        if let Some(r) = p.child(ns::WSMAN, "ResourceURI") {
            epr.resource_uri = r.text().trim().to_owned();
        }
        if let Some(s) = p.child(ns::WSMAN, "SelectorSet") {
            epr.selectors = parse_selector_set(s);
        }
    }
    Some(epr)
}

/// Reads `w:Selector Name=".."` children.
pub(crate) fn parse_selector_set(s: Elem<'_>) -> SelectorSet {
    let mut out = SelectorSet::new();
    for sel in s.elems().filter(|x| x.is(ns::WSMAN, "Selector")) {
        let name = sel.attr("Name").unwrap_or_default().to_owned();
        out.push(name, sel.text().trim().to_owned());
    }
    out
}

/// Reads one property element's value (not arrays; see [`parse_instance`]).
pub(crate) fn parse_value(e: Elem<'_>) -> Result<Value, Error> {
    if e.is_nil() {
        return Ok(Value::Null);
    }
    if !e.has_elems() {
        return Ok(Value::Scalar(Scalar::String(e.text().to_owned())));
    }
    if let Some(d) = e
        .child(ns::CIM_COMMON, "Datetime")
        .or_else(|| e.child(ns::CIM_COMMON, "Interval"))
    {
        return Ok(Value::Scalar(Scalar::Datetime(CimDateTime::parse_iso8601(
            d.text(),
        )?)));
    }
    for other in ["Date", "Time"] {
        if let Some(d) = e.child(ns::CIM_COMMON, other) {
            return Ok(Value::Scalar(Scalar::String(d.text().trim().to_owned())));
        }
    }
    if let Some(epr) = parse_epr(e) {
        return Ok(Value::Reference(epr));
    }
    if let Some(inner) = e.child(ns::ADDRESSING, "EndpointReference") {
        if let Some(epr) = parse_epr(inner) {
            return Ok(Value::Reference(epr));
        }
    }
    let class = e
        .attr_ns(ns::XSI, "type")
        .map(|t| {
            let local = t.rsplit(':').next().unwrap_or(t);
            local.strip_suffix("_Type").unwrap_or(local).to_owned()
        })
        .unwrap_or_default();
    let mut inst = parse_instance(e)?;
    inst.class_name = class;
    Ok(Value::Instance(Box::new(inst)))
}

/// Reads an element-form instance: class = local name; repeated child elements form arrays.
pub(crate) fn parse_instance(e: Elem<'_>) -> Result<Instance, Error> {
    let mut inst = Instance::new(e.local.to_string());
    inst.properties.reserve_exact(e.child_count());
    // Name -> index, so a hostile instance with many properties stays linear.
    let mut index = NameIndex::new();
    for child in e.elems() {
        let v = parse_value(child)?;
        match index.get(&child.local) {
            None => {
                inst.properties.push(Property {
                    name: child.local.to_string(),
                    value: v,
                });
                index.push(child.local_name());
            }
            Some(i) => {
                let p = &mut inst.properties[i];
                // Repeated element: an array. Only scalars can be arrays in the value model;
                // for repeated references or instances the first one is kept.
                let prev = std::mem::replace(&mut p.value, Value::Null);
                p.value = match (prev, v) {
                    (Value::Array(mut a), Value::Scalar(s)) => {
                        a.push(s);
                        Value::Array(a)
                    }
                    (Value::Scalar(a), Value::Scalar(b)) => Value::Array(vec![a, b]),
                    (Value::Null, Value::Scalar(s)) => Value::Array(vec![s]),
                    (prev @ Value::Array(_), Value::Null) => prev,
                    (Value::Scalar(a), Value::Null) => Value::Array(vec![a]),
                    (Value::Null, Value::Null) => Value::Null,
                    (prev, _) => prev,
                };
            }
        }
    }
    Ok(inst)
}

/// [`NameIndex::SMALL`].
const NAME_INDEX_SMALL: usize = 48;

/// Element name -> position of its first occurrence among the names recorded so far: a
/// linear scan (newest first: a repeated element, an array, follows its previous occurrence)
/// of the names while there are few (a typical instance has a few dozen properties), a hash
/// map beyond [`NameIndex::SMALL`] so a hostile instance with many distinct properties still
/// parses in linear time. Names are borrowed (from the parsed tree), never copied.
pub(crate) struct NameIndex<'n> {
    /// The first `len` recorded names (no heap allocation below [`NameIndex::SMALL`]).
    names: [&'n str; NAME_INDEX_SMALL],
    len: usize,
    /// One bit per recorded name's [`NameIndex::bit`]: a name whose bit is clear is new
    /// without a scan.
    seen: u128,
    map: Option<HashMap<&'n str, usize>>,
}

impl<'n> NameIndex<'n> {
    /// Most names looked up by a linear scan.
    const SMALL: usize = NAME_INDEX_SMALL;

    /// An empty index.
    pub(crate) fn new() -> Self {
        NameIndex {
            names: [""; Self::SMALL],
            len: 0,
            seen: 0,
            map: None,
        }
    }

    /// A cheap 7-bit digest of a name (length, first and last byte).
    fn bit(name: &str) -> u128 {
        let b = name.as_bytes();
        let first = usize::from(b.first().copied().unwrap_or(0));
        let last = usize::from(b.last().copied().unwrap_or(0));
        1u128 << ((b.len().wrapping_mul(17) ^ first.wrapping_mul(5) ^ last) & 127)
    }

    /// The position of `name` among the recorded names.
    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        match &self.map {
            Some(m) => m.get(name).copied(),
            None if self.seen & Self::bit(name) == 0 => None,
            None => self
                .names
                .get(..self.len)
                .unwrap_or_default()
                .iter()
                .rposition(|n| *n == name),
        }
    }

    /// Records `name` (not recorded yet) at the next position.
    pub(crate) fn push(&mut self, name: &'n str) {
        match &mut self.map {
            Some(m) => {
                let pos = m.len();
                m.insert(name, pos);
            }
            None => match self.names.get_mut(self.len) {
                Some(slot) => {
                    *slot = name;
                    self.len += 1;
                    self.seen |= Self::bit(name);
                }
                None => {
                    let mut m: HashMap<&'n str, usize> =
                        self.names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
                    m.insert(name, self.len);
                    self.map = Some(m);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    /// The index answers like a plain search of the recorded names, below and above the
    /// linear-scan size, for names that share digests and repeat out of order.
    #[test]
    fn name_index_matches_a_linear_search() {
        let pool: Vec<String> = (0..120)
            .map(|i| match i % 4 {
                0 => format!("P{i}"),
                1 => format!("P{}x", i % 7),
                2 => "x".repeat(1 + i % 9),
                _ => format!("{}Name", char::from(b'A' + (i % 5) as u8)),
            })
            .collect();
        for take in [1usize, 5, 40, 48, 49, 120] {
            let mut index = NameIndex::new();
            let mut names: Vec<&str> = Vec::new();
            for name in pool.iter().take(take).chain(pool.iter().rev().take(take)) {
                let expected = names.iter().position(|n| n == name);
                assert_eq!(index.get(name), expected, "{name} after {names:?}");
                if expected.is_none() {
                    index.push(name);
                    names.push(name);
                }
            }
        }
    }
}
