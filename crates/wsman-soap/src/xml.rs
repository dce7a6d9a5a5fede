//! A small namespace-resolved element tree built with quick-xml's `NsReader`, and escaping.
//!
//! INVARIANT: every name in the tree is a (namespace URI, local name) pair; prefixes are gone.

use std::borrow::Cow;
use std::rc::Rc;

use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use crate::error::{Error, Limits};

/// Most attributes (namespace declarations included) accepted on one element.
const MAX_ATTRIBUTES: usize = 256;
/// Most namespace declarations in scope at once.
const MAX_ACTIVE_DECLARATIONS: usize = 256;

/// An element: namespace URI (None when unbound), local name, attributes, child elements and
/// its direct text. Names and text borrow from the parsed input wherever no unescaping was
/// needed, so a leaf element costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Elem<'a> {
    pub(crate) ns: Option<Rc<str>>,
    pub(crate) local: Cow<'a, str>,
    pub(crate) attrs: Vec<Attr<'a>>,
    /// Child elements, in document order.
    pub(crate) children: Vec<Elem<'a>>,
    /// The direct text and CDATA children, concatenated in document order.
    pub(crate) text: Cow<'a, str>,
    /// For elements whose text is a QName (SOAP `s:Value`): the namespace its prefix resolves to.
    pub(crate) text_ns: Option<String>,
}

/// An attribute, namespace-resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr<'a> {
    pub(crate) ns: Option<Rc<str>>,
    pub(crate) local: Cow<'a, str>,
    pub(crate) value: Cow<'a, str>,
}

impl<'a> Elem<'a> {
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// Child elements.
    pub(crate) fn elems(&self) -> std::slice::Iter<'_, Elem<'a>> {
        self.children.iter()
    }

    /// The first child element with this namespace and local name.
    pub(crate) fn child(&self, ns: &str, local: &str) -> Option<&Elem<'a>> {
        self.elems().find(|e| e.is(ns, local))
    }

    /// The first child element with this local name, in any namespace.
    pub(crate) fn child_any(&self, local: &str) -> Option<&Elem<'a>> {
        self.elems().find(|e| e.local == local)
    }

    /// The first descendant (depth first, self excluded) with this local name.
    pub(crate) fn descendant_any(&self, local: &str) -> Option<&Elem<'a>> {
        for e in self.elems() {
            if e.local == local {
                return Some(e);
            }
            if let Some(d) = e.descendant_any(local) {
                return Some(d);
            }
        }
        None
    }

    /// Concatenated direct text (text and CDATA) children.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn has_elems(&self) -> bool {
        !self.children.is_empty()
    }

    /// An attribute by local name in any namespace (or none).
    pub(crate) fn attr(&self, local: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.local == local).map(|a| &*a.value)
    }

    /// An attribute by namespace and local name.
    pub(crate) fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.local == local && a.ns.as_deref() == Some(ns))
            .map(|a| &*a.value)
    }

    /// True when `xsi:nil="true"`.
    pub(crate) fn is_nil(&self) -> bool {
        self.attr_ns(crate::ns::XSI, "nil")
            .is_some_and(|v| v.trim() == "true" || v.trim() == "1")
    }

    /// Appends a text or CDATA chunk (borrowed as long as it is the only one).
    fn push_text(&mut self, s: Cow<'a, str>) {
        if self.text.is_empty() {
            self.text = s;
        } else if !s.is_empty() {
            self.text.to_mut().push_str(&s);
        }
    }
}

/// Resolves a namespace, interning URIs (an envelope uses a dozen at most, on every element).
fn ns_of(r: &ResolveResult<'_>, interned: &mut Vec<Rc<str>>) -> Result<Option<Rc<str>>, Error> {
    match r {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => {
            let bytes = ns.as_ref();
            if let Some(hit) = interned.iter().find(|u| u.as_bytes() == bytes) {
                return Ok(Some(Rc::clone(hit)));
            }
            let uri: Rc<str> = Rc::from(std::str::from_utf8(bytes).map_err(|e| Error::Xml(e.to_string()))?);
            interned.push(Rc::clone(&uri));
            Ok(Some(uri))
        }
        ResolveResult::Unknown(p) => Err(Error::Xml(format!(
            "unbound namespace prefix {:?}",
            String::from_utf8_lossy(p)
        ))),
    }
}

/// `part`, a slice quick-xml handed out while reading `src`, re-borrowed from `src` itself (so
/// it outlives the event); copied when it does not lie inside `src`.
fn from_src<'a>(src: &'a str, part: &[u8]) -> Result<Cow<'a, str>, Error> {
    // Address arithmetic only (no dereference); `str::get` checks range and char boundaries.
    let start = (part.as_ptr() as usize).wrapping_sub(src.as_ptr() as usize);
    if let Some(s) = start.checked_add(part.len()).and_then(|end| src.get(start..end)) {
        if s.as_bytes() == part {
            return Ok(Cow::Borrowed(s));
        }
    }
    std::str::from_utf8(part)
        .map(|s| Cow::Owned(s.to_owned()))
        .map_err(|e| Error::Xml(e.to_string()))
}

/// [`from_src`] for a string quick-xml may have unescaped into a new buffer.
fn cow_from_src<'a>(src: &'a str, s: Cow<'_, str>) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => from_src(src, b.as_bytes()).unwrap_or_else(|_| Cow::Owned(b.to_owned())),
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// Parses a whole document into its root element, enforcing `limits` and refusing DOCTYPE.
pub(crate) fn parse<'a>(body: &'a [u8], limits: &Limits) -> Result<Elem<'a>, Error> {
    if body.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(body).map_err(|e| Error::Xml(format!("not utf-8: {e}")))?;
    // A byte order mark is legal before the declaration.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse_str(text, limits)
}

/// Parses a document held in a string (see [`parse`]).
pub(crate) fn parse_str<'a>(text: &'a str, limits: &Limits) -> Result<Elem<'a>, Error> {
    if text.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let mut reader = NsReader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = true;
        cfg.check_end_names = true;
        cfg.trim_text_start = false;
        cfg.trim_text_end = false;
    }
    let mut stack: Vec<Elem<'a>> = Vec::new();
    let mut root: Option<Elem<'a>> = None;
    let mut interned: Vec<Rc<str>> = Vec::new();
    let mut active_decls = 0usize;
    let mut decl_stack: Vec<usize> = Vec::new();
    // Finished elements waiting for their parent's end tag; `first_child[d]` is where the
    // children of the open element at depth `d` start. Each element's children are moved out
    // at its end tag into one exactly sized Vec (no growth reallocations per element).
    let mut pending: Vec<Elem<'a>> = Vec::new();
    let mut first_child: Vec<usize> = Vec::new();
    loop {
        let (res, ev) = reader
            .read_resolved_event()
            .map_err(|e| Error::Xml(e.to_string()))?;
        match ev {
            Event::DocType(_) => return Err(Error::Forbidden("DOCTYPE or entity declaration")),
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(ev, Event::Empty(_));
                if root.is_some() {
                    return Err(Error::Xml("content after the root element".into()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(Error::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let ns = ns_of(&res, &mut interned)?;
                let local = from_src(text, start.local_name().as_ref())?;
                let mut attrs = Vec::new();
                let mut decls = 0usize;
                // Duplicate checks in quick-xml are quadratic in the attribute count; the count
                // is capped instead (duplicates are harmless here: lookups take the first).
                for (n, a) in start.attributes().with_checks(false).enumerate() {
                    if n >= MAX_ATTRIBUTES {
                        return Err(Error::Xml(format!(
                            "more than {MAX_ATTRIBUTES} attributes on one element"
                        )));
                    }
                    let a = a.map_err(|e| Error::Xml(e.to_string()))?;
                    let key = a.key;
                    if key.as_ref() == b"xmlns" || key.as_ref().starts_with(b"xmlns:") {
                        decls += 1;
                        continue;
                    }
                    let (ares, alocal) = reader.resolve_attribute(key);
                    let value = a.unescape_value().map_err(|e| Error::Xml(e.to_string()))?;
                    attrs.push(Attr {
                        ns: ns_of(&ares, &mut interned)?,
                        local: from_src(text, alocal.as_ref())?,
                        value: cow_from_src(text, value),
                    });
                }
                // INVARIANT: at most MAX_ACTIVE_DECLARATIONS bindings are in scope, so resolving
                // a prefix costs a bounded scan (no quadratic blow-up from hostile xmlns floods).
                if active_decls + decls > MAX_ACTIVE_DECLARATIONS {
                    return Err(Error::Xml(format!(
                        "more than {MAX_ACTIVE_DECLARATIONS} namespace declarations in scope"
                    )));
                }
                let el = Elem {
                    ns,
                    local,
                    attrs,
                    children: Vec::new(),
                    text: Cow::Borrowed(""),
                    text_ns: None,
                };
                if !empty {
                    active_decls += decls;
                    decl_stack.push(decls);
                }
                if empty {
                    if stack.is_empty() {
                        root = Some(el);
                    } else {
                        pending.push(el);
                    }
                } else {
                    first_child.push(pending.len());
                    stack.push(el);
                }
            }
            Event::End(_) => {
                active_decls -= decl_stack.pop().unwrap_or(0);
                let mut done = stack
                    .pop()
                    .ok_or_else(|| Error::Xml("unmatched end tag".into()))?;
                let from = first_child.pop().unwrap_or(pending.len()).min(pending.len());
                done.children = pending.drain(from..).collect();
                if stack.is_empty() {
                    root = Some(done);
                } else {
                    pending.push(done);
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| Error::Xml(e.to_string()))?;
                match stack.last_mut() {
                    Some(parent) => {
                        if parent.local == "Value" && parent.ns.as_deref() == Some(crate::ns::SOAP) {
                            let q = s.trim();
                            if let Some((prefix, _)) = q.split_once(':') {
                                if !prefix.is_empty() && !prefix.contains(char::is_whitespace) {
                                    let qn = format!("{prefix}:x");
                                    let (r, _) = reader.resolve_element(QName(qn.as_bytes()));
                                    parent.text_ns =
                                        ns_of(&r, &mut interned).ok().flatten().map(|u| u.to_string());
                                }
                            }
                        }
                        parent.push_text(s);
                    }
                    None => {
                        if !s.trim().is_empty() {
                            return Err(Error::Xml("text outside the root element".into()));
                        }
                    }
                }
            }
            Event::CData(c) => {
                let s = match c.into_inner() {
                    Cow::Borrowed(b) => from_src(text, b)?,
                    Cow::Owned(v) => Cow::Owned(String::from_utf8(v).map_err(|e| Error::Xml(e.to_string()))?),
                };
                match stack.last_mut() {
                    Some(parent) => parent.push_text(s),
                    None => return Err(Error::Xml("cdata outside the root element".into())),
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(Error::Xml("unexpected end of input inside an element".into()));
    }
    root.ok_or(Error::Missing("root element"))
}

/// The entity for a byte that must be escaped in content and attribute values.
fn escape_byte(b: u8) -> Option<&'static str> {
    match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        b'\'' => Some("&apos;"),
        _ => None,
    }
}

/// Escapes text for element content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| escape_byte(b).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    push_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Appends `s` escaped as [`escape`] does, without an intermediate string.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut rest = s;
    // The escaped characters are ASCII, so every split point is a char boundary.
    while let Some(i) = rest.bytes().position(|b| escape_byte(b).is_some()) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            out.push_str(escape_byte(c as u8).unwrap_or(""));
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// Writes `s` as one or more CDATA sections; a `]]>` inside is split across two sections.
pub(crate) fn push_cdata(out: &mut String, s: &str) {
    out.push_str("<![CDATA[");
    let mut rest = s;
    while let Some(i) = rest.find("]]>") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        out.push_str("]]]]><![CDATA[>");
        rest = tail.get(3..).unwrap_or_default();
    }
    out.push_str(rest);
    out.push_str("]]>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_rebound_prefixes_by_uri() {
        let doc = r#"<p:a xmlns:p="urn:one"><p:b xmlns:p="urn:two"/><p:c/></p:a>"#;
        let e = parse(doc.as_bytes(), &Limits::default()).unwrap();
        assert!(e.is("urn:one", "a"));
        let kids: Vec<_> = e.elems().collect();
        assert!(kids[0].is("urn:two", "b"));
        assert!(kids[1].is("urn:one", "c"));
    }

    #[test]
    fn doctype_is_forbidden() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert_eq!(
            parse(doc.as_bytes(), &Limits::default()),
            Err(Error::Forbidden("DOCTYPE or entity declaration"))
        );
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = "<a>".repeat(10) + &"</a>".repeat(10);
        let l = Limits {
            max_bytes: 1000,
            max_depth: 5,
        };
        assert_eq!(parse(deep.as_bytes(), &l), Err(Error::TooDeep { limit: 5 }));
        let l = Limits {
            max_bytes: 10,
            max_depth: 5,
        };
        assert_eq!(parse(deep.as_bytes(), &l), Err(Error::TooLarge { limit: 10 }));
    }

    #[test]
    fn unclosed_and_unknown_prefix_are_errors() {
        assert!(matches!(
            parse(b"<a><b></b>", &Limits::default()),
            Err(Error::Xml(_))
        ));
        assert!(matches!(parse(b"<q:a/>", &Limits::default()), Err(Error::Xml(_))));
        assert!(matches!(
            parse(b"<a>&bogus;</a>", &Limits::default()),
            Err(Error::Xml(_))
        ));
    }

    #[test]
    fn attribute_and_namespace_floods_are_refused() {
        let many_attrs = format!(
            "<a {}/>",
            (0..300)
                .map(|i| format!("x{i}=\"\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(
            matches!(parse(many_attrs.as_bytes(), &Limits::default()), Err(Error::Xml(m)) if m.contains("attributes"))
        );
        let decl = |p: &str| {
            (0..10)
                .map(|i| format!("xmlns:{p}{i}=\"urn:{i}\""))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let nested: String = (0..40)
            .map(|d| format!("<e {}>", decl(&format!("p{d}x"))))
            .collect();
        let doc = nested + &"</e>".repeat(40);
        assert!(
            matches!(parse(doc.as_bytes(), &Limits::default()), Err(Error::Xml(m)) if m.contains("namespace declarations"))
        );
        // siblings release their declarations, empty or not
        let empty_siblings = format!(
            "<r>{}</r>",
            (0..100)
                .map(|_| format!("<e {}/>", decl("q")))
                .collect::<String>()
        );
        assert_eq!(
            parse(empty_siblings.as_bytes(), &Limits::default())
                .unwrap()
                .elems()
                .count(),
            100
        );
        let open_siblings = format!(
            "<r>{}</r>",
            (0..100)
                .map(|_| format!("<e {}></e>", decl("q")))
                .collect::<String>()
        );
        assert_eq!(
            parse(open_siblings.as_bytes(), &Limits::default())
                .unwrap()
                .elems()
                .count(),
            100
        );
    }

    #[test]
    fn cdata_split_round_trips() {
        let mut s = String::from("<a>");
        push_cdata(&mut s, "x]]>y");
        s.push_str("</a>");
        let e = parse(s.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.text(), "x]]>y");
    }

    #[test]
    fn qname_text_in_soap_value_is_resolved() {
        let doc =
            r#"<s:Value xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="urn:w">w:Foo</s:Value>"#;
        let e = parse(doc.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.text_ns.as_deref(), Some("urn:w"));
    }
}
