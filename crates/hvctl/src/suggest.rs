//! "Did you mean ...?" for a mistyped VM, profile or config key: the known names within two
//! edits (one for names of up to four characters; an edit is an insertion, deletion,
//! substitution or swap of neighbours, ignoring case), or that start with what was typed (or it
//! with them).

/// The names among `known` close to `typed`, closest first (at most three).
pub fn close<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let t = typed.to_lowercase();
    let max = if t.chars().count() <= 4 { 1 } else { 2 };
    let mut hits: Vec<(usize, &str)> = known
        .into_iter()
        .filter_map(|k| {
            let l = k.to_lowercase();
            let d = strsim::osa_distance(&t, &l);
            let prefix = !t.is_empty() && (l.starts_with(&t) || t.starts_with(&l));
            (l != t && (d <= max || prefix)).then_some((d, k))
        })
        .collect();
    hits.sort();
    hits.dedup_by(|a, b| a.1 == b.1);
    hits.into_iter().take(3).map(|(_, k)| k).collect()
}

/// `; did you mean 'a'?` (or `'a' or 'b'`), each name between `quote`s; empty without any.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>, quote: char) -> String {
    let hits = close(typed, known);
    if hits.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = hits.iter().map(|h| format!("{quote}{h}{quote}")).collect();
    format!("; did you mean {}?", quoted.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_near_in_edits_or_share_a_prefix() {
        let vms = ["demo-vm", "web01", "web02", "db-primary", "DEMO-VM2"];
        assert_eq!(close("demo-mv", vms), ["demo-vm", "DEMO-VM2"]);
        assert_eq!(close("web1", vms), ["web01"]);
        assert_eq!(
            close("host", ["hosts", "port"]),
            ["hosts"],
            "one edit for a short name"
        );
        assert_eq!(close("db", vms), ["db-primary"]);
        assert!(close("zzzzzz", vms).is_empty());
        assert_eq!(
            did_you_mean("webo1", vms, '\''),
            "; did you mean 'web01' or 'web02'?"
        );
        assert_eq!(did_you_mean("x", ["y"], '`'), "; did you mean `y`?");
        assert_eq!(did_you_mean("nothing-like", vms, '\''), "");
    }
}
