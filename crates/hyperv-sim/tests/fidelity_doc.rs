//! FIDELITY.md stays true: every row names at least one test, and every test it names exists
//! (`path::name` is a `fn name` in that file, or in the `tests` module of a `src/` file).
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn every_row_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("crates/hyperv-sim/FIDELITY.md")).unwrap();
    let mut rows = 0;
    let mut missing = Vec::new();
    for line in doc
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(tests) = cells.last() else { continue };
        if cells
            .first()
            .is_some_and(|c| *c == "behaviour" || *c == "variance")
        {
            continue;
        }
        rows += 1;
        let named: Vec<&str> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.contains(".rs::"))
            .collect();
        if named.is_empty() {
            missing.push(format!("row without a test: {line}"));
        }
        for t in named {
            let (file, name) = t.split_once(".rs::").unwrap();
            let name = name.rsplit("::").next().unwrap();
            let text = std::fs::read_to_string(root.join(format!("{file}.rs"))).unwrap_or_default();
            if !text.contains(&format!("fn {name}(")) {
                missing.push(format!("{t}: no `fn {name}(` in {file}.rs"));
            }
        }
    }
    assert!(rows >= 20, "only {rows} rows read");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
