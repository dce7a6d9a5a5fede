//! Inventory files: one host per line, as before, or grouped the way Ansible's INI inventories
//! are (<https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html>), so that
//! one file serves both tools.
//!
//! - `host`, `host:port` or a URL per line; `#` starts a comment anywhere, `;` at the start of a
//!   line.
//! - `[name]` starts a group: the hosts below it belong to it. Hosts above the first group are
//!   in the implicit group `ungrouped`; every host is in `all`.
//! - `[name:children]` lists groups whose hosts belong to `name` too.
//! - Numeric and alphabetic ranges: `hv[01:03]` is hv01, hv02, hv03; `hv[a:c]`; a stride as in
//!   `hv[1:9:2]`.
//!
//! What hvctl cannot honour is refused with the file and line, never ignored: host variables
//! (`hv01 ansible_port=5986`) and `[name:vars]` sections would change how a host is reached, so
//! silently dropping them could connect to the wrong port or with the wrong settings.

use std::path::Path;

use crate::exit::UsageError;

/// The implicit group of every host (Ansible's `all`).
pub const ALL: &str = "all";
/// The implicit group of the hosts above the first `[group]` line (Ansible's `ungrouped`).
pub const UNGROUPED: &str = "ungrouped";

/// A parsed inventory file.
#[derive(Debug, Default)]
pub struct Inventory {
    /// `ungrouped` first, then the groups in the order the file names them.
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Group {
    name: String,
    hosts: Vec<String>,
    /// Child groups, with the line that names each (for the error if it does not exist).
    children: Vec<(String, usize)>,
}

enum Section {
    Hosts(usize),
    Children(usize),
}

impl Inventory {
    /// Parses `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, UsageError> {
        let at =
            |n: usize, msg: String| UsageError::new(format!("inventory {} line {n}: {msg}", path.display()));
        let mut inv = Inventory {
            groups: vec![Group::new(UNGROUPED)],
        };
        let mut section = Section::Hosts(0);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                let Some(header) = header.strip_suffix(']') else {
                    return Err(at(n, format!("`{line}`: a group line is `[name]`")));
                };
                let (name, kind) = header.split_once(':').unwrap_or((header, ""));
                let name = name.trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(at(n, format!("`{line}`: a group name is one word")));
                }
                if name == ALL || name == UNGROUPED {
                    return Err(at(
                        n,
                        format!("`{line}`: `{name}` is the implicit group of {}", implicit(name)),
                    ));
                }
                let g = inv.group_index(name);
                section = match kind.trim() {
                    "" => Section::Hosts(g),
                    "children" => Section::Children(g),
                    "vars" => {
                        return Err(at(
                            n,
                            format!(
                                "`{line}`: group variables are not supported; put connection settings \
                                 (port, https, auth, user) in a profile of the config file"
                            ),
                        ))
                    }
                    other => return Err(at(n, format!("`{line}`: unknown section kind `{other}`"))),
                };
                continue;
            }
            let mut words = line.split_whitespace();
            let host = words.next().unwrap_or(line);
            if let Some(extra) = words.next() {
                let msg = if extra.contains('=') {
                    format!(
                        "host variables (`{extra}`) are not supported; write the host as host:port and put \
                         other settings in a profile of the config file"
                    )
                } else {
                    format!("unexpected `{extra}` after the host `{host}` (one host per line)")
                };
                return Err(at(n, msg));
            }
            match section {
                Section::Hosts(g) => {
                    let expanded = expand(host).map_err(|e| at(n, e))?;
                    inv.groups[g].hosts.extend(expanded);
                }
                Section::Children(g) => inv.groups[g].children.push((host.to_owned(), n)),
            }
        }
        for g in &inv.groups {
            for (child, n) in &g.children {
                if !inv.groups.iter().any(|x| &x.name == child) {
                    return Err(at(
                        *n,
                        format!("no group `{child}` for the children of `{}`", g.name),
                    ));
                }
            }
        }
        Ok(inv)
    }

    fn group_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            return i;
        }
        self.groups.push(Group::new(name));
        self.groups.len() - 1
    }

    /// The group names, `all` and `ungrouped` included (for completion and suggestions).
    pub fn group_names(&self) -> Vec<&str> {
        let mut names = vec![ALL];
        names.extend(self.groups.iter().map(|g| g.name.as_str()));
        names
    }

    /// The hosts of `selected` groups (every host when empty), each once, in file order.
    pub fn hosts(&self, selected: &[String], path: &Path) -> Result<Vec<String>, UsageError> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |h: &String| {
            if !out.contains(h) {
                out.push(h.clone());
            }
        };
        if selected.is_empty() || selected.iter().any(|s| s == ALL) {
            self.groups.iter().flat_map(|g| &g.hosts).for_each(&mut push);
            return Ok(out);
        }
        for name in selected {
            let Some(start) = self.groups.iter().position(|g| &g.name == name) else {
                let known = self.group_names();
                return Err(UsageError::new(format!(
                    "inventory {} has no group `{name}`{}; its groups: {}",
                    path.display(),
                    crate::suggest::did_you_mean(name, known.iter().copied(), '`'),
                    known.join(", ")
                )));
            };
            // The group, then its children (breadth first; a group seen twice is read once, so
            // that a cycle of children ends).
            let mut queue = vec![start];
            let mut seen = Vec::new();
            while let Some(i) = queue.pop() {
                if seen.contains(&i) {
                    continue;
                }
                seen.push(i);
                self.groups[i].hosts.iter().for_each(&mut push);
                for (child, _) in self.groups[i].children.iter().rev() {
                    if let Some(c) = self.groups.iter().position(|g| &g.name == child) {
                        queue.push(c);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Group {
    fn new(name: &str) -> Group {
        Group {
            name: name.to_owned(),
            hosts: Vec::new(),
            children: Vec::new(),
        }
    }
}

fn implicit(name: &str) -> &'static str {
    if name == ALL {
        "every host"
    } else {
        "the hosts above the first group"
    }
}

/// Expands the one `[start:end(:stride)]` range of a host pattern (numeric, zero-padded as
/// `start` is, or single letters), or returns the host as it is. An IPv6 literal (`[::1]:5985`)
/// is not a range.
fn expand(host: &str) -> Result<Vec<String>, String> {
    let Some(open) = host.find('[') else {
        return Ok(vec![host.to_owned()]);
    };
    let Some(close) = host[open..].find(']').map(|c| open + c) else {
        return Err(format!("`{host}`: `[` without `]`"));
    };
    let inner = &host[open + 1..close];
    let parts: Vec<&str> = inner.split(':').collect();
    let is_range = matches!(parts.len(), 2 | 3)
        && parts[..2].iter().all(|p| {
            !p.is_empty()
                && (p.chars().all(|c| c.is_ascii_digit())
                    || (p.len() == 1 && p.chars().all(|c| c.is_ascii_alphabetic())))
        });
    if !is_range {
        // `[v6]` or `[v6]:port` (an endpoint the host parser reads) stays as it is.
        return Ok(vec![host.to_owned()]);
    }
    let (prefix, suffix) = (&host[..open], &host[close + 1..]);
    if suffix.contains('[') {
        return Err(format!("`{host}`: one range per host"));
    }
    let stride: usize = match parts.get(2) {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{host}`: the stride `{s}` is not a positive number"))?,
        None => 1,
    };
    let (a, b) = (parts[0], parts[1]);
    let items: Vec<String> = if let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>()) {
        if x > y {
            return Err(format!("`{host}`: the range starts after it ends"));
        }
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        (x..=y).step_by(stride).map(|v| format!("{v:0width$}")).collect()
    } else if a.chars().all(|c| c.is_ascii_alphabetic()) && b.chars().all(|c| c.is_ascii_alphabetic()) {
        let (x, y) = (a.as_bytes()[0], b.as_bytes()[0]);
        if x > y {
            return Err(format!("`{host}`: the range starts after it ends"));
        }
        (x..=y)
            .step_by(stride)
            .map(|c| char::from(c).to_string())
            .collect()
    } else {
        return Err(format!("`{host}`: a range is numbers or letters on both sides"));
    };
    if items.len() > 10_000 {
        return Err(format!(
            "`{host}`: the range has {} hosts; at most 10000",
            items.len()
        ));
    }
    Ok(items
        .into_iter()
        .map(|i| format!("{prefix}{i}{suffix}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(text: &str) -> Result<Inventory, UsageError> {
        Inventory::parse(text, Path::new("inv.ini"))
    }

    fn hosts(text: &str, groups: &[&str]) -> Vec<String> {
        let g: Vec<String> = groups.iter().map(|s| (*s).to_owned()).collect();
        inv(text).unwrap().hosts(&g, Path::new("inv.ini")).unwrap()
    }

    const ANSIBLE: &str = "\
; an Ansible-style inventory
hv00.example.test
[primaries]
hv01.example.test   # London
hv02.example.test:5986

[replicas]
hv[03:04].example.test

[dr:children]
replicas
";

    #[test]
    fn a_plain_list_is_still_one_host_per_line() {
        assert_eq!(
            hosts("# hosts\nhv01\n\nhv02:6000  # comment\nhv01\n", &[]),
            ["hv01", "hv02:6000"]
        );
    }

    #[test]
    fn groups_children_ranges_and_the_implicit_groups() {
        assert_eq!(
            hosts(ANSIBLE, &[]),
            [
                "hv00.example.test",
                "hv01.example.test",
                "hv02.example.test:5986",
                "hv03.example.test",
                "hv04.example.test"
            ]
        );
        assert_eq!(hosts(ANSIBLE, &["all"]), hosts(ANSIBLE, &[]));
        assert_eq!(
            hosts(ANSIBLE, &["primaries"]),
            ["hv01.example.test", "hv02.example.test:5986"]
        );
        assert_eq!(
            hosts(ANSIBLE, &["dr"]),
            ["hv03.example.test", "hv04.example.test"]
        );
        assert_eq!(hosts(ANSIBLE, &["ungrouped"]), ["hv00.example.test"]);
        assert_eq!(hosts(ANSIBLE, &["replicas", "dr", "primaries"]).len(), 4);
        assert_eq!(
            inv(ANSIBLE).unwrap().group_names(),
            ["all", "ungrouped", "primaries", "replicas", "dr"]
        );
    }

    #[test]
    fn ranges_expand_with_padding_letters_and_strides() {
        assert_eq!(expand("hv[1:3]").unwrap(), ["hv1", "hv2", "hv3"]);
        assert_eq!(expand("hv[08:10].x").unwrap(), ["hv08.x", "hv09.x", "hv10.x"]);
        assert_eq!(expand("hv[a:c]").unwrap(), ["hva", "hvb", "hvc"]);
        assert_eq!(expand("hv[0:6:3]").unwrap(), ["hv0", "hv3", "hv6"]);
        assert_eq!(expand("[::1]:5985").unwrap(), ["[::1]:5985"]);
        assert!(expand("hv[3:1]").unwrap_err().contains("starts after"));
        assert!(expand("hv[1:3").unwrap_err().contains("without"));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_with_the_line() {
        let e = inv("[web]\nhv01 ansible_port=5986\n").unwrap_err().to_string();
        assert!(
            e.starts_with("inventory inv.ini line 2: host variables (`ansible_port=5986`)"),
            "{e}"
        );
        let e = inv("[web]\nhv01\n[web:vars]\nansible_user=x\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3: `[web:vars]`: group variables are not supported"),
            "{e}"
        );
        let e = inv("[dr:children]\nnosuch\n").unwrap_err().to_string();
        assert!(e.contains("line 2: no group `nosuch`"), "{e}");
        let e = inv("[web\nhv01\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = inv("hv01 hv02\n").unwrap_err().to_string();
        assert!(e.contains("unexpected `hv02`"), "{e}");
        let e = inv("[all]\nhv01\n").unwrap_err().to_string();
        assert!(e.contains("implicit group"), "{e}");
    }

    #[test]
    fn an_unknown_group_names_the_close_ones_and_all_of_them() {
        let e = inv(ANSIBLE)
            .unwrap()
            .hosts(&["replica".to_owned()], Path::new("inv.ini"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no group `replica`; did you mean `replicas`?"),
            "{e}"
        );
        assert!(
            e.ends_with("its groups: all, ungrouped, primaries, replicas, dr"),
            "{e}"
        );
    }

    #[test]
    fn children_that_form_a_cycle_end() {
        let text = "[a]\nh1\n[b]\nh2\n[a:children]\nb\n[b:children]\na\n";
        assert_eq!(hosts(text, &["a"]), ["h1", "h2"]);
    }
}
