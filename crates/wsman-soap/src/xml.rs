//! A small namespace-resolved element tree, and escaping.
//!
//! Tokenizing is quick-xml's borrowing, non-namespace `Reader` (markup, attributes, CDATA,
//! comments, PIs, DOCTYPE detection, end-tag matching, entity unescaping); namespace scoping
//! and resolution by URI, the limits and the tree (names and text borrowed from the input) are
//! ours. The test-only `reference` module keeps the quick-xml `NsReader` builder, and tests
//! compare both on every fixture, edge cases and thousands of mutated documents.
//!
//! INVARIANT: every name in the tree is a (namespace URI, local name) pair; prefixes are gone.

use std::borrow::Cow;

use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesStart, Event};

use crate::error::{Error, Limits};

/// Most attributes (namespace declarations included) accepted on one element.
const MAX_ATTRIBUTES: usize = 256;
/// Most namespace declarations in scope at once.
const MAX_ACTIVE_DECLARATIONS: usize = 256;

/// A parsed document: every element lives in one arena (`nodes`, in document order, the root
/// first; children linked from their parent and to their next sibling) and every attribute in
/// another, so building and dropping the tree costs a few growing vectors instead of two
/// allocations per element, and no element is moved once built.
#[derive(Clone)]
pub(crate) struct Doc<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
}

/// No element (an index into `Doc::nodes` that is not there).
const NONE: usize = usize::MAX;

/// The root of a document without elements (never returned by the parsers).
const NO_ROOT: Node<'static> = Node {
    ns: None,
    local: Cow::Borrowed(""),
    attrs: (0, 0),
    first: NONE,
    next: NONE,
    count: 0,
    text: Cow::Borrowed(""),
    text_ns: None,
};

/// One element's data: namespace URI (None when unbound), local name, its attributes and
/// children (ranges into the document's arenas) and its direct text. Namespace URIs (the raw
/// `xmlns` attribute values, as XML Namespaces compares them), names and text borrow from the
/// parsed input wherever no unescaping was needed, so a leaf element costs no allocation.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) ns: Option<&'a str>,
    pub(crate) local: Cow<'a, str>,
    /// `Doc::attrs[attrs.0..attrs.1]`.
    attrs: (usize, usize),
    /// The first child element (`NONE` for none).
    first: usize,
    /// The next sibling element (`NONE` for none).
    next: usize,
    /// How many child elements.
    count: usize,
    /// The direct text and CDATA children, concatenated in document order.
    pub(crate) text: Cow<'a, str>,
    /// For elements whose text is a QName (SOAP `s:Value`): the namespace its prefix resolves to.
    pub(crate) text_ns: Option<&'a str>,
}

/// An attribute, namespace-resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr<'a> {
    pub(crate) ns: Option<&'a str>,
    pub(crate) local: Cow<'a, str>,
    pub(crate) value: Cow<'a, str>,
}

/// An element of a [`Doc`] (a copyable handle; its fields are the [`Node`]'s).
#[derive(Clone, Copy)]
pub(crate) struct Elem<'d> {
    doc: &'d Doc<'d>,
    node: &'d Node<'d>,
}

impl<'d> std::ops::Deref for Elem<'d> {
    type Target = Node<'d>;
    fn deref(&self) -> &Node<'d> {
        self.node
    }
}

impl<'a> Node<'a> {
    fn new(ns: Option<&'a str>, local: Cow<'a, str>, attrs: (usize, usize)) -> Self {
        Node {
            ns,
            local,
            attrs,
            first: NONE,
            next: NONE,
            count: 0,
            text: Cow::Borrowed(""),
            text_ns: None,
        }
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

impl<'a> Doc<'a> {
    /// The root element.
    pub(crate) fn root(&self) -> Elem<'_> {
        Elem {
            doc: self,
            node: self.nodes.first().unwrap_or(&NO_ROOT),
        }
    }
}

impl<'d> Elem<'d> {
    pub(crate) fn is(self, ns: &str, local: &str) -> bool {
        self.node.local == local && self.node.ns == Some(ns)
    }

    /// Child elements.
    pub(crate) fn elems(self) -> impl Iterator<Item = Elem<'d>> {
        let doc = self.doc;
        let mut at = self.node.first;
        std::iter::from_fn(move || {
            let node = doc.nodes.get(at)?;
            at = node.next;
            Some(Elem { doc, node })
        })
    }

    /// How many child elements.
    pub(crate) fn child_count(self) -> usize {
        self.node.count
    }

    /// The attributes, in document order (namespace declarations excluded).
    pub(crate) fn attrs(self) -> &'d [Attr<'d>] {
        let (from, to) = self.node.attrs;
        self.doc.attrs.get(from..to).unwrap_or_default()
    }

    /// The first child element with this namespace and local name.
    pub(crate) fn child(self, ns: &str, local: &str) -> Option<Elem<'d>> {
        self.elems().find(|e| e.is(ns, local))
    }

    /// The first child element with this local name, in any namespace.
    pub(crate) fn child_any(self, local: &str) -> Option<Elem<'d>> {
        self.elems().find(|e| e.node.local == local)
    }

    /// The first descendant (depth first, self excluded) with this local name.
    pub(crate) fn descendant_any(self, local: &str) -> Option<Elem<'d>> {
        for e in self.elems() {
            if e.node.local == local {
                return Some(e);
            }
            if let Some(d) = e.descendant_any(local) {
                return Some(d);
            }
        }
        None
    }

    /// The local name (borrowed for the document's lifetime, unlike through `Deref`).
    pub(crate) fn local_name(self) -> &'d str {
        &self.node.local
    }

    /// Concatenated direct text (text and CDATA) children.
    pub(crate) fn text(self) -> &'d str {
        &self.node.text
    }

    pub(crate) fn has_elems(self) -> bool {
        self.child_count() > 0
    }

    /// An attribute by local name in any namespace (or none).
    pub(crate) fn attr(self, local: &str) -> Option<&'d str> {
        self.attrs().iter().find(|a| a.local == local).map(|a| &*a.value)
    }

    /// An attribute by namespace and local name.
    pub(crate) fn attr_ns(self, ns: &str, local: &str) -> Option<&'d str> {
        self.attrs()
            .iter()
            .find(|a| a.local == local && a.ns == Some(ns))
            .map(|a| &*a.value)
    }

    /// True when `xsi:nil="true"`.
    pub(crate) fn is_nil(self) -> bool {
        self.attr_ns(crate::ns::XSI, "nil")
            .is_some_and(|v| v.trim() == "true" || v.trim() == "1")
    }
}

/// Trees are equal when their elements are (the arena layout does not matter).
impl PartialEq for Elem<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.ns == o.ns
            && self.local == o.local
            && self.text == o.text
            && self.text_ns == o.text_ns
            && self.attrs() == o.attrs()
            && self.elems().eq(o.elems())
    }
}

impl PartialEq for Doc<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.root() == o.root()
    }
}

impl std::fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elem")
            .field("ns", &self.ns)
            .field("local", &self.local)
            .field("attrs", &self.attrs())
            .field("children", &self.elems().collect::<Vec<_>>())
            .field("text", &self.text)
            .field("text_ns", &self.text_ns)
            .finish()
    }
}

impl std::fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.root().fmt(f)
    }
}

/// `xml` prefix namespace (bound implicitly).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// `xmlns` prefix namespace (bound implicitly, never declarable).
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

fn xml_err(e: impl std::fmt::Display) -> Error {
    Error::Xml(e.to_string())
}

/// Namespace declarations in scope: (prefix, URI) from innermost to outermost when scanned
/// backwards; prefix `None` is the default namespace, URI `None` an undeclaration (`=""`).
/// URIs borrow from the input (or are the static `xml`/`xmlns` namespaces).
struct Scope<'a> {
    bindings: Vec<(Option<&'a str>, Option<&'a str>)>,
}

/// How a name's prefix resolved.
enum Resolved<'a> {
    Unbound,
    Bound(&'a str),
    Unknown,
}

impl<'a> Scope<'a> {
    fn new() -> Self {
        let mut bindings = Vec::with_capacity(16);
        bindings.push((Some("xml"), Some(XML_NS)));
        bindings.push((Some("xmlns"), Some(XMLNS_NS)));
        Scope { bindings }
    }

    /// Declares `xmlns[:prefix]="uri"` (the raw attribute value, as quick-xml binds it).
    fn declare(&mut self, prefix: Option<&'a str>, uri: &'a str) -> Result<(), Error> {
        match prefix {
            Some("xml") => {
                if uri != XML_NS {
                    return Err(Error::Xml(format!("the xml prefix cannot be bound to {uri:?}")));
                }
                Ok(())
            }
            Some("xmlns") => Err(Error::Xml("the xmlns prefix cannot be declared".into())),
            Some(p) if uri == XML_NS || uri == XMLNS_NS => Err(Error::Xml(format!(
                "prefix {p:?} cannot be bound to the reserved namespace {uri:?}"
            ))),
            _ => {
                // `xmlns:=".."` (empty prefix) declares the default namespace.
                let prefix = prefix.filter(|p| !p.is_empty());
                let uri = (!uri.is_empty()).then_some(uri);
                self.bindings.push((prefix, uri));
                Ok(())
            }
        }
    }

    /// Resolves `prefix` (`None`: unprefixed; the default namespace applies when `use_default`).
    fn resolve(&self, prefix: Option<&str>, use_default: bool) -> Resolved<'a> {
        for (p, uri) in self.bindings.iter().rev() {
            match (p, prefix) {
                (None, None) if use_default => return uri.map_or(Resolved::Unbound, Resolved::Bound),
                (None, None) => return Resolved::Unbound,
                (Some(d), Some(u)) if d.len() == u.len() && d.bytes().eq(u.bytes()) => {
                    return uri.map_or(Resolved::Unknown, Resolved::Bound)
                }
                _ => {}
            }
        }
        if prefix.is_some() {
            Resolved::Unknown
        } else {
            Resolved::Unbound
        }
    }

    /// The namespace of a qualified name and its local part; an unknown prefix is an error.
    fn name(&self, qname: &'a str, use_default: bool) -> Result<(Option<&'a str>, &'a str), Error> {
        // Names are short: a plain byte scan beats a substring searcher.
        let (prefix, local) = match qname.bytes().position(|b| b == b':') {
            Some(i) => (qname.get(..i), qname.get(i + 1..).unwrap_or_default()),
            None => (None, qname),
        };
        match self.resolve(prefix, use_default) {
            Resolved::Unbound => Ok((None, local)),
            Resolved::Bound(u) => Ok((Some(u), local)),
            Resolved::Unknown => Err(Error::Xml(format!(
                "unbound namespace prefix {:?}",
                prefix.unwrap_or_default()
            ))),
        }
    }
}

/// Text or an attribute value with entity and character references replaced (borrowed when
/// there are none).
fn unescape(raw: &str) -> Result<Cow<'_, str>, Error> {
    if memchr::memchr(b'&', raw.as_bytes()).is_none() {
        return Ok(Cow::Borrowed(raw));
    }
    quick_xml::escape::unescape(raw).map_err(xml_err)
}

/// Builds a [`Doc`] from start tags, end tags and text, in document order.
struct Builder<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
    /// Open elements: (index, index of its last child so far or `NONE`).
    open: Vec<(usize, usize)>,
    /// The root element has ended.
    done: bool,
}

impl<'a> Builder<'a> {
    fn new(nodes: usize, attrs: usize, depth: usize) -> Self {
        Builder {
            nodes: Vec::with_capacity(nodes),
            attrs: Vec::with_capacity(attrs),
            open: Vec::with_capacity(depth),
            done: false,
        }
    }

    /// Adds an element (its attributes already pushed to `attrs`); `empty`: no end tag follows.
    fn start(&mut self, node: Node<'a>, empty: bool) -> Result<(), Error> {
        if self.done {
            return Err(Error::Xml("content after the root element".into()));
        }
        let at = self.nodes.len();
        self.nodes.push(node);
        if let Some((parent, last)) = self.open.last_mut() {
            let prev = std::mem::replace(last, at);
            let link = if prev == NONE {
                self.nodes.get_mut(*parent).map(|p| &mut p.first)
            } else {
                self.nodes.get_mut(prev).map(|p| &mut p.next)
            };
            if let Some(link) = link {
                *link = at;
            }
            if let Some(p) = self.nodes.get_mut(*parent) {
                p.count += 1;
            }
        }
        if !empty {
            self.open.push((at, NONE));
        } else if self.open.is_empty() {
            self.done = true;
        }
        Ok(())
    }

    /// Closes the innermost open element.
    fn end(&mut self) -> Result<(), Error> {
        self.open
            .pop()
            .ok_or_else(|| Error::Xml("unmatched end tag".into()))?;
        self.done = self.open.is_empty();
        Ok(())
    }

    /// The innermost open element.
    fn parent(&mut self) -> Option<&mut Node<'a>> {
        let &(at, _) = self.open.last()?;
        self.nodes.get_mut(at)
    }

    fn finish(self) -> Result<Doc<'a>, Error> {
        if !self.open.is_empty() {
            return Err(Error::Xml("unexpected end of input inside an element".into()));
        }
        if self.nodes.is_empty() {
            return Err(Error::Missing("root element"));
        }
        Ok(Doc {
            nodes: self.nodes,
            attrs: self.attrs,
        })
    }
}

/// Parses a whole document into its tree ([`Doc::root`]), enforcing `limits` and refusing
/// DOCTYPE.
pub(crate) fn parse<'a>(body: &'a [u8], limits: &Limits) -> Result<Doc<'a>, Error> {
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

/// `part`, a slice quick-xml's borrowing reader handed out from `text`, as a `&str` borrowed
/// from `text` itself (so it outlives the event). O(1): the position is recovered from the
/// address (arithmetic only, no dereference); `str::get` checks range and char boundaries.
fn reborrow<'a>(text: &'a str, part: &[u8]) -> Result<&'a str, Error> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let s = start
        .checked_add(part.len())
        .and_then(|end| text.get(start..end))
        .ok_or_else(|| Error::Xml("markup outside the input".into()))?;
    debug_assert_eq!(s.as_bytes(), part);
    Ok(s)
}

/// Parses a document held in a string (see [`parse`]).
///
/// Tokenizing (markup, attributes, CDATA, comments, PIs, DOCTYPE detection, end-tag matching)
/// is quick-xml's borrowing [`quick_xml::Reader`]; namespace scoping and resolution by URI,
/// the limits and the tree are ours ([`Parser`]).
pub(crate) fn parse_str<'a>(text: &'a str, limits: &Limits) -> Result<Doc<'a>, Error> {
    if text.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let mut reader = quick_xml::Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        cfg.trim_text_start = false;
        cfg.trim_text_end = false;
    }
    let mut parser = Parser::new(text, limits);
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::DocType(_) => return Err(Error::Forbidden("DOCTYPE or entity declaration")),
            Event::Start(start) => parser.start(&start, false)?,
            Event::Empty(start) => parser.start(&start, true)?,
            Event::End(_) => parser.end()?,
            Event::Text(t) => parser.text(t.into_inner())?,
            Event::CData(c) => parser.cdata(c.into_inner())?,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    parser.tree.finish()
}

/// One parse in progress: the input, its limits, the namespace scope and the tree built so
/// far, fed [`parse_str`]'s reader events in document order.
struct Parser<'a, 'l> {
    text: &'a str,
    limits: &'l Limits,
    scope: Scope<'a>,
    tree: Builder<'a>,
    /// Each open element's scope length at its start and its namespace declaration count.
    open: Vec<(usize, usize)>,
    /// Namespace declarations in scope.
    active_decls: usize,
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(text: &'a str, limits: &'l Limits) -> Self {
        let depth = limits.max_depth.min(16);
        // Sized for a typical envelope (an element per ~64 bytes), capped for large pages.
        let guess = (text.len() / 64).clamp(8, 4096);
        Parser {
            text,
            limits,
            scope: Scope::new(),
            tree: Builder::new(guess, guess / 4, depth),
            open: Vec::with_capacity(depth),
            active_decls: 0,
        }
    }

    /// A start tag (`empty`: a self-closing one): its attributes and namespace declarations,
    /// then the element with its name resolved in the new scope.
    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<(), Error> {
        if self.tree.done {
            return Err(Error::Xml("content after the root element".into()));
        }
        if self.tree.open.len() >= self.limits.max_depth {
            return Err(Error::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        // The tag's content (name and attributes), borrowed from the input.
        let content = reborrow(self.text, start)?;
        let name_len = start.name().as_ref().len();
        let qname = content.get(..name_len).unwrap_or_default();
        let scope_len = self.scope.bindings.len();
        let attrs_from = self.tree.attrs.len();
        // Most elements have no attributes: skip the iterator for a bare name.
        let decls = if content.len() > name_len {
            self.attributes(content, name_len)?
        } else {
            0
        };
        // INVARIANT: at most MAX_ACTIVE_DECLARATIONS bindings are in scope, so resolving
        // a prefix costs a bounded scan (no quadratic blow-up from hostile xmlns floods).
        if self.active_decls + decls > MAX_ACTIVE_DECLARATIONS {
            return Err(Error::Xml(format!(
                "more than {MAX_ACTIVE_DECLARATIONS} namespace declarations in scope"
            )));
        }
        let (ns, local) = self.scope.name(qname, true)?;
        self.resolve_attributes(attrs_from)?;
        let el = Node::new(ns, Cow::Borrowed(local), (attrs_from, self.tree.attrs.len()));
        self.tree.start(el, empty)?;
        if empty {
            self.scope.bindings.truncate(scope_len);
        } else {
            self.active_decls += decls;
            self.open.push((scope_len, decls));
        }
        Ok(())
    }

    /// The attributes of a tag: namespace declarations go into the scope (their count is
    /// returned), the others onto the tree with their full names, resolved by
    /// [`Parser::resolve_attributes`] once all of the element's declarations are in scope.
    fn attributes(&mut self, content: &'a str, name_len: usize) -> Result<usize, Error> {
        let mut decls = 0usize;
        // Duplicate checks in quick-xml are quadratic in the attribute count; the count is
        // capped instead (duplicates are harmless here: lookups take the first).
        let mut it = Attributes::new(content, name_len);
        it.with_checks(false);
        for (n, a) in it.enumerate() {
            if n >= MAX_ATTRIBUTES {
                return Err(Error::Xml(format!(
                    "more than {MAX_ATTRIBUTES} attributes on one element"
                )));
            }
            let a = a.map_err(xml_err)?;
            let key = reborrow(self.text, a.key.as_ref())?;
            let raw = match a.value {
                Cow::Borrowed(v) => reborrow(self.text, v)?,
                Cow::Owned(_) => return Err(Error::Xml("attribute value outside the input".into())),
            };
            if key == "xmlns" || key.starts_with("xmlns:") {
                decls += 1;
                self.scope.declare(key.strip_prefix("xmlns:"), raw)?;
                continue;
            }
            self.tree.attrs.push(Attr {
                ns: None,
                local: Cow::Borrowed(key),
                value: unescape(raw)?,
            });
        }
        Ok(decls)
    }

    /// Resolves the names of the attributes pushed from `from` on (unprefixed ones have no
    /// namespace).
    fn resolve_attributes(&mut self, from: usize) -> Result<(), Error> {
        for at in self.tree.attrs.get_mut(from..).unwrap_or_default() {
            if let Cow::Borrowed(key) = at.local {
                let (ns, local) = self.scope.name(key, false)?;
                at.ns = ns;
                at.local = Cow::Borrowed(local);
            }
        }
        Ok(())
    }

    /// An end tag: the element's declarations leave the scope.
    fn end(&mut self) -> Result<(), Error> {
        // quick-xml has checked that the end tag matches the open start tag.
        let (scope_len, decls) = self
            .open
            .pop()
            .ok_or_else(|| Error::Xml("unmatched end tag".into()))?;
        self.scope.bindings.truncate(scope_len);
        self.active_decls -= decls;
        self.tree.end()
    }

    /// Text, unescaped, appended to the open element (only whitespace outside the root). The
    /// text of a SOAP `Value` (a fault code QName) also records its prefix's namespace.
    fn text(&mut self, raw: Cow<'_, [u8]>) -> Result<(), Error> {
        let raw = match raw {
            Cow::Borrowed(b) => reborrow(self.text, b)?,
            Cow::Owned(_) => return Err(Error::Xml("text outside the input".into())),
        };
        let s = unescape(raw)?;
        let Some(parent) = self.tree.parent() else {
            if !s.trim().is_empty() {
                return Err(Error::Xml("text outside the root element".into()));
            }
            return Ok(());
        };
        if parent.local == "Value" && parent.ns == Some(crate::ns::SOAP) {
            let q = s.trim();
            if let Some((prefix, _)) = q.split_once(':') {
                if !prefix.is_empty() && !prefix.contains(char::is_whitespace) {
                    parent.text_ns = match self.scope.resolve(Some(prefix), true) {
                        Resolved::Bound(u) => Some(u),
                        Resolved::Unbound | Resolved::Unknown => None,
                    };
                }
            }
        }
        parent.push_text(s);
        Ok(())
    }

    /// A CDATA section, appended as is to the open element.
    fn cdata(&mut self, raw: Cow<'_, [u8]>) -> Result<(), Error> {
        let c = match raw {
            Cow::Borrowed(b) => reborrow(self.text, b)?,
            Cow::Owned(_) => return Err(Error::Xml("cdata outside the input".into())),
        };
        match self.tree.parent() {
            Some(parent) => {
                parent.push_text(Cow::Borrowed(c));
                Ok(())
            }
            None => Err(Error::Xml("cdata outside the root element".into())),
        }
    }
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

/// Bytes [`escape_byte`] replaces, as a table (one load per byte in the scanning loops).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t
};

/// Escapes text for element content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    push_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Appends `s` escaped as [`escape`] does, without an intermediate string.
///
/// Short strings are scanned byte by byte; longer ones (URIs, UUIDs) with two SIMD searches
/// (`&<>` and `"'`), each resumed only after the byte it found, so the work stays linear.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let b = s.as_bytes();
    if b.len() < 16 {
        let mut rest = s;
        // The escaped characters are ASCII, so every split point is a char boundary.
        while let Some(i) = rest.bytes().position(|b| NEEDS_ESCAPE[usize::from(b)]) {
            out.push_str(rest.get(..i).unwrap_or_default());
            let c = rest.as_bytes().get(i).copied().unwrap_or(b' ');
            out.push_str(escape_byte(c).unwrap_or(""));
            rest = rest.get(i + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        return;
    }
    let find3 = |from: usize| memchr::memchr3(b'&', b'<', b'>', b.get(from..)?).map(|p| p + from);
    let find2 = |from: usize| memchr::memchr2(b'"', b'\'', b.get(from..)?).map(|p| p + from);
    let (mut next3, mut next2) = (find3(0), find2(0));
    let mut done = 0;
    loop {
        let i = match (next3, next2) {
            (None, None) => break,
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
        };
        // `i` is an ASCII byte's index: both slice ends are char boundaries.
        out.push_str(s.get(done..i).unwrap_or_default());
        out.push_str(b.get(i).and_then(|&c| escape_byte(c)).unwrap_or(""));
        done = i + 1;
        if next3 == Some(i) {
            next3 = find3(done);
        }
        if next2 == Some(i) {
            next2 = find2(done);
        }
    }
    out.push_str(s.get(done..).unwrap_or_default());
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

/// The quick-xml `NsReader` tree builder this module's parser replaced, kept to check that
/// both accept and reject the same documents and build the same trees.
#[cfg(test)]
mod reference {
    use std::borrow::Cow;

    use quick_xml::events::Event;
    use quick_xml::name::{QName, ResolveResult};
    use quick_xml::NsReader;

    use super::{Attr, Builder, Doc, Node, MAX_ACTIVE_DECLARATIONS, MAX_ATTRIBUTES};
    use crate::error::{Error, Limits};

    /// Resolves a namespace to the same URI text borrowed from the document (a bound URI is
    /// the raw value of an `xmlns` attribute in it), or the static `xml`/`xmlns` namespace.
    fn ns_of<'a>(src: &'a str, r: &ResolveResult<'_>) -> Result<Option<&'a str>, Error> {
        match r {
            ResolveResult::Unbound => Ok(None),
            ResolveResult::Bound(ns) => {
                let uri = std::str::from_utf8(ns.as_ref()).map_err(|e| Error::Xml(e.to_string()))?;
                for builtin in [super::XML_NS, super::XMLNS_NS] {
                    if uri == builtin {
                        return Ok(Some(builtin));
                    }
                }
                let at = src
                    .find(uri)
                    .ok_or_else(|| Error::Xml(format!("namespace {uri:?} not in the document")))?;
                Ok(src.get(at..at + uri.len()))
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

    /// Parses a document held in a string (see [`parse`]).
    pub(super) fn parse_str<'a>(text: &'a str, limits: &Limits) -> Result<Doc<'a>, Error> {
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
        let mut tree = Builder::new(0, 0, 0);
        let mut active_decls = 0usize;
        let mut decl_stack: Vec<usize> = Vec::new();
        loop {
            let (res, ev) = reader
                .read_resolved_event()
                .map_err(|e| Error::Xml(e.to_string()))?;
            match ev {
                Event::DocType(_) => return Err(Error::Forbidden("DOCTYPE or entity declaration")),
                Event::Start(ref start) | Event::Empty(ref start) => {
                    let empty = matches!(ev, Event::Empty(_));
                    if tree.done {
                        return Err(Error::Xml("content after the root element".into()));
                    }
                    if tree.open.len() >= limits.max_depth {
                        return Err(Error::TooDeep {
                            limit: limits.max_depth,
                        });
                    }
                    let ns = ns_of(text, &res)?;
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
                            ns: ns_of(text, &ares)?,
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
                    let from = tree.attrs.len();
                    tree.attrs.extend(attrs);
                    let el = Node::new(ns, local, (from, tree.attrs.len()));
                    if !empty {
                        active_decls += decls;
                        decl_stack.push(decls);
                    }
                    tree.start(el, empty)?;
                }
                Event::End(_) => {
                    active_decls -= decl_stack.pop().unwrap_or(0);
                    tree.end()?;
                }
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| Error::Xml(e.to_string()))?;
                    match tree.parent() {
                        Some(parent) => {
                            if parent.local == "Value" && parent.ns == Some(crate::ns::SOAP) {
                                let q = s.trim();
                                if let Some((prefix, _)) = q.split_once(':') {
                                    if !prefix.is_empty() && !prefix.contains(char::is_whitespace) {
                                        let qn = format!("{prefix}:x");
                                        let (r, _) = reader.resolve_element(QName(qn.as_bytes()));
                                        parent.text_ns = ns_of(text, &r).ok().flatten();
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
                        Cow::Owned(v) => {
                            Cow::Owned(String::from_utf8(v).map_err(|e| Error::Xml(e.to_string()))?)
                        }
                    };
                    match tree.parent() {
                        Some(parent) => parent.push_text(s),
                        None => return Err(Error::Xml("cdata outside the root element".into())),
                    }
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        tree.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same acceptance as the quick-xml reference (malformed-XML messages may differ), and the
    /// same tree when both accept.
    fn same_as_reference(doc: &str) -> Result<(), String> {
        let l = Limits {
            max_bytes: 1 << 20,
            max_depth: 12,
        };
        let ours = parse_str(doc, &l);
        let theirs = reference::parse_str(doc, &l);
        let same = match (&ours, &theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(Error::Xml(_)), Err(Error::Xml(_))) => true,
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(format!("{doc:?}\nours: {ours:?}\nreference: {theirs:?}"))
        }
    }

    fn fixture_documents() -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "xml") {
                    let t = std::fs::read_to_string(&p).unwrap();
                    out.push(t.strip_prefix('\u{feff}').unwrap_or(&t).to_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn matches_the_quick_xml_reference_on_fixtures_and_edge_cases() {
        let docs = fixture_documents();
        assert!(docs.len() >= 40, "{}", docs.len());
        for d in &docs {
            same_as_reference(d).unwrap();
        }
        let edge = [
            "", " ", "<", "<a", "<a>", "</a>", "<a></b>", "<a></a >", "<a></ a>", "<a/><b/>", "<a/>x",
            "<a/> \n", "x<a/>", "<>", "</>", "<a></>", "< a></a>", "<a\t/>", "<a b='1' c=\"2\"/>",
            "<a b=1/>", "<a b/>", "<a =\"1\"/>", "<a b= '1'/>", "<a b  =  \"1\"  c='2' />",
            "<a b=\"1\" c/>", "<a b=\"1\" c=/>", "<a b='1\"/>", "<a b=''/>", "<a b='1' b='2'/>", "<a\tb\n=\r'1'/>", "<a b = '1'/>", "<a b='1'c='2'/>", "<a b='1/>", "<a b='>'/>",
            "<a b=\"x'y\"/>", "<a \"b\"='1'/>", "<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</a>",
            "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#+1;</a>", "<a>&#X41;</a>", "<a>&amp</a>",
            "<a>&;</a>", "<a>; &amp; ;</a>", "<a b='&lt;&#x20;'/>", "<a b='&bogus;'/>",
            "<a><![CDATA[<x>&amp;]]></a>", "<a><![CDATA[x</a>", "<a><![cdata[x]]></a>",
            "<a><!-- c --></a>", "<a><!-- c -></a>", "<a><!- c --></a>", "<a><!-->--></a>",
            "<a><!x></a>", "<?xml version=\"1.0\"?><a/>", "<?xml version=\"1.0\"<a/>",
            "<a><?pi x?></a>", "<!DOCTYPE a><a/>", "<!doctype a><a/>", "<a/><!DOCTYPE a>",
            "<!DOCTYPE", "<!DOCTYPE>", "<!DOCTYPE  >", "<!Doctype a [<!ENTITY x 'y'>]><a/>",
            "<!DOCTYPE a [<!ENTITY x 'y'>", "<!Dx>", "<a><!DOCTYPE x></a>", "<p:a xmlns:p='u'/>", "<p:a/>", "<p:a xmlns:p=''/>", "<a xmlns='u'><b/></a>",
            "<a xmlns='u'><b xmlns=''/></a>", "<a xmlns:='u'/>", "<:a xmlns:='u'/>",
            "<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>", "<a xmlns:xml='u'/>",
            "<a xmlns:xmlns='u'/>", "<a xmlns:p='http://www.w3.org/2000/xmlns/'/>",
            "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>", "<a xml:lang='en'/>",
            "<a xmlns:p='u' p:b='1' b='2'/>", "<a q:b='1'/>", "<a xmlns:p='u&amp;v'><p:b/></a>",
            "<p:a xmlns:p='u'><p:b xmlns:p='v'><p:c/></p:b><p:d/></p:a>", "<a:b:c xmlns:a='u'/>",
            "<a xmlnsx='1'/>", "<a xmlns:p='u'/><p:b/>",
            "<s:Value xmlns:s='http://www.w3.org/2003/05/soap-envelope' xmlns:w='urn:w'> w:X </s:Value>",
            "<s:Value xmlns:s='http://www.w3.org/2003/05/soap-envelope'>q:X</s:Value>",
            "<s:Value xmlns:s='http://www.w3.org/2003/05/soap-envelope' xmlns:w='urn:w'>w:X<![CDATA[z:Y]]>v:Z</s:Value>",
            "<a>x<b/>y<![CDATA[z]]>w</a>", "<a>\r\n</a>", "<a\r\nb='1'\r\n/>",
            "<a><b><c><d><e><f><g><h><i><j><k><l><m/></l></k></j></i></h></g></f></e></d></c></b></a>",
            "<a><b><c><d><e><f><g><h><i><j><k><l/></k></j></i></h></g></f></e></d></c></b></a>",
        ];
        for d in edge {
            same_as_reference(d).unwrap();
        }
    }

    #[test]
    fn matches_the_quick_xml_reference_on_mutated_fixtures() {
        let docs = fixture_documents();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        const PIECES: [&str; 16] = [
            "<",
            ">",
            "/",
            "'",
            "\"",
            "&",
            ";",
            ":",
            "=",
            " ",
            "]]>",
            "<!--",
            "xmlns:p=\"u\"",
            "&#",
            "p:",
            "",
        ];
        let mut failures = Vec::new();
        for round in 0..3000 {
            let d = &docs[round % docs.len()];
            let mut b = d.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(b.len() + 1);
                while !b.is_char_boundary(at) {
                    at -= 1;
                }
                let mut to = (at + next(4)).min(b.len());
                while !b.is_char_boundary(to) {
                    to -= 1;
                }
                b.replace_range(at..to.max(at), PIECES[next(PIECES.len())]);
            }
            if let Err(e) = same_as_reference(&b) {
                failures.push(e);
            }
        }
        assert!(
            failures.is_empty(),
            "{} differences, first: {}",
            failures.len(),
            failures[0]
        );
    }
    #[test]
    fn matches_the_quick_xml_reference_on_random_token_soup() {
        const PIECES: [&str; 27] = [
            "=",
            "\"v\"",
            "\t",
            "<a",
            "<p:b",
            "<q:c",
            ">",
            "</a>",
            "</p:b>",
            "/>",
            " x='1'",
            " p:y=\"2\"",
            " xmlns:p='u'",
            " xmlns='v'",
            " xmlns:p=''",
            "&amp;",
            "&#65;",
            "&bad;",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?x",
            "?>",
            "text",
            " ",
            "'",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut failures = Vec::new();
        for _ in 0..5000 {
            let doc: String = (0..1 + next(24)).map(|_| PIECES[next(PIECES.len())]).collect();
            if let Err(e) = same_as_reference(&doc) {
                failures.push(e);
            }
        }
        assert!(
            failures.is_empty(),
            "{} differences, first: {}",
            failures.len(),
            failures[0]
        );
    }

    #[test]
    fn resolves_rebound_prefixes_by_uri() {
        let doc = r#"<p:a xmlns:p="urn:one"><p:b xmlns:p="urn:two"/><p:c/></p:a>"#;
        let d = parse(doc.as_bytes(), &Limits::default()).unwrap();
        let e = d.root();
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
                .root()
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
                .root()
                .elems()
                .count(),
            100
        );
    }

    #[test]
    fn escaping_matches_a_byte_by_byte_escaper() {
        fn naive(s: &str) -> String {
            s.chars()
                .map(|c| match c {
                    '&' => "&amp;".to_owned(),
                    '<' => "&lt;".to_owned(),
                    '>' => "&gt;".to_owned(),
                    '"' => "&quot;".to_owned(),
                    '\'' => "&apos;".to_owned(),
                    c => c.to_string(),
                })
                .collect()
        }
        let pieces = [
            "a",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "é",
            "仮想",
            " ",
            "xyzxyzxyzxyzxyzxyz",
        ];
        let mut seed = 0x1234_5678_9ABC_DEF1u64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 40) as usize;
            let s: String = (0..n)
                .map(|k| pieces[((seed >> (k % 60)) as usize + k * 7) % pieces.len()])
                .collect();
            let mut out = String::from("=");
            push_escaped(&mut out, &s);
            assert_eq!(out, format!("={}", naive(&s)), "{s:?}");
            assert_eq!(escape(&s), naive(&s));
        }
        let long = "http://h/wsman?a=1&b=\"2\"&c='3'<>".repeat(20);
        let mut out = String::new();
        push_escaped(&mut out, &long);
        assert_eq!(out, naive(&long));
    }

    #[test]
    fn cdata_split_round_trips() {
        let mut s = String::from("<a>");
        push_cdata(&mut s, "x]]>y");
        s.push_str("</a>");
        let d = parse(s.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(d.root().text(), "x]]>y");
    }

    #[test]
    fn qname_text_in_soap_value_is_resolved() {
        let doc =
            r#"<s:Value xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="urn:w">w:Foo</s:Value>"#;
        let d = parse(doc.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(d.root().text_ns, Some("urn:w"));
    }
}
