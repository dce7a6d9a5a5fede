//! The licence the workspace declares (`MIT OR Apache-2.0`) ships as text at the top level,
//! and README.md points to both files.

use std::path::Path;

fn top(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn declared_licences_ship_as_text() {
    let manifest = top("Cargo.toml");
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""), "{manifest}");
    let mit = top("LICENSE-MIT");
    assert!(mit.starts_with("MIT License\n\nCopyright (c) 2026 The hvctl developers\n"));
    assert!(mit.contains("THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND"));
    let apache = top("LICENSE-APACHE");
    assert!(apache.contains("Apache License\n                        Version 2.0, January 2004"));
    // The full text, not an excerpt: all nine sections and the appendix.
    for section in [
        "1. Definitions.",
        "2. Grant of Copyright License.",
        "3. Grant of Patent License.",
        "4. Redistribution.",
        "5. Submission of Contributions.",
        "6. Trademarks.",
        "7. Disclaimer of Warranty.",
        "8. Limitation of Liability.",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
        "APPENDIX: How to apply the Apache License to your work.",
    ] {
        assert!(apache.contains(section), "LICENSE-APACHE lacks {section}");
    }
    assert_eq!(apache.lines().count(), 201);
    let readme = top("README.md");
    assert!(readme.contains("(LICENSE-APACHE)") && readme.contains("(LICENSE-MIT)"));
}
