//! Endpoint references, resource URIs and selector sets.

/// A WS-Management selector set: ordered `(name, value)` pairs that name one instance.
///
/// Order is kept as given: it is part of the byte-exact output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SelectorSet {
    selectors: Vec<(String, String)>,
}

impl SelectorSet {
    /// An empty selector set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a selector, builder style.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// Adds a selector.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.selectors.push((name.into(), value.into()));
    }

    /// The value of the selector named `name` (case-insensitive, as WMI keys are).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.selectors
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All selectors in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.selectors.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of selectors.
    pub fn len(&self) -> usize {
        self.selectors.len()
    }

    /// True when there are no selectors.
    pub fn is_empty(&self) -> bool {
        self.selectors.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for SelectorSet {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        Self {
            selectors: iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect(),
        }
    }
}

/// A WS-Addressing endpoint reference to a WS-Management resource instance:
/// `a:Address` plus `a:ReferenceParameters` (`w:ResourceURI`, `w:SelectorSet`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Epr {
    /// `a:Address`; usually [`crate::ns::ANONYMOUS`].
    pub address: String,
    /// `w:ResourceURI` inside the reference parameters.
    pub resource_uri: String,
    /// `w:SelectorSet` inside the reference parameters.
    pub selectors: SelectorSet,
}

impl Epr {
    /// An EPR with the anonymous address.
    pub fn new(resource_uri: impl Into<String>, selectors: SelectorSet) -> Self {
        Self {
            address: crate::ns::ANONYMOUS.to_owned(),
            resource_uri: resource_uri.into(),
            selectors,
        }
    }

    /// The class name: the last path segment of the resource URI.
    pub fn class_name(&self) -> &str {
        class_of(&self.resource_uri)
    }
}

/// The WMI resource URI of `class` in `namespace` (`root/virtualization/v2` or `root\virtualization\v2`).
pub fn wmi_resource_uri(namespace: &str, class: &str) -> String {
    let ns = namespace
        .trim_matches(|c| c == '/' || c == '\\')
        .replace('\\', "/");
    format!("{}{}/{}", crate::ns::WMI_BASE, ns, class)
}

/// The "all classes" resource URI of a WMI namespace (`.../root/virtualization/v2/*`),
/// used with WQL and association filters.
pub fn wmi_all_classes_uri(namespace: &str) -> String {
    wmi_resource_uri(namespace, "*")
}

/// The last path segment of a resource URI (the class name for WMI URIs).
pub fn class_of(resource_uri: &str) -> &str {
    resource_uri.rsplit('/').next().unwrap_or(resource_uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wmi_uri_accepts_backslash_namespaces() {
        assert_eq!(
            wmi_resource_uri("root\\virtualization\\v2", "Msvm_ComputerSystem"),
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ComputerSystem"
        );
        assert_eq!(class_of(&wmi_all_classes_uri("root/cimv2")), "*");
    }

    #[test]
    fn selector_lookup_ignores_case() {
        let s = SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", "G");
        assert_eq!(s.get("name"), Some("G"));
        assert_eq!(s.get("missing"), None);
        assert_eq!(s.len(), 2);
    }
}
