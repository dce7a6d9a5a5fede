//! Man pages: `hvctl(1)` and one page per subcommand at every level (`hvctl-replication(1)`,
//! `hvctl-replication-reverse(1)`, ...), so that every page a SUBCOMMANDS section names exists.
//!
//! clap_mangen renders NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS from the clap
//! definitions (a subcommand's synopsis is its whole command line, `hvctl replication reverse`;
//! the global options are listed once, on `hvctl(1)`); this module adds the sections a man page
//! has (man-pages(7)): EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO.

use clap::builder::Resettable;
use clap::{Command, CommandFactory};
use clap_mangen::roff::{bold, italic, roman, Roff};

use crate::cli::{Cli, EXIT_CODES_HELP};

/// Environment variables hvctl reads that are not the `env` of a flag: (name, meaning).
const OTHER_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "HVCTL_PASSWORD",
        "The password (unless --password-stdin is given, or the profile names another variable with password_env). Passwords are never accepted on the command line.",
    ),
    (
        "HVCTL_LOG",
        "A log filter in tracing-subscriber's EnvFilter syntax (e.g. winrm_client=debug); overrides -v.",
    ),
    (
        "HVCTL_GSSAPI_LIBRARY",
        "Absolute path of the GSSAPI library for Kerberos (e.g. /usr/lib/x86_64-linux-gnu/libgssapi_krb5.so.2).",
    ),
    ("KRB5CCNAME", "The Kerberos credential cache (negotiate and kerberos without a password)."),
    ("KRB5_CLIENT_KTNAME", "The Kerberos client keytab."),
    ("KRB5_CONFIG", "The Kerberos configuration file (krb5.conf)."),
    ("XDG_CONFIG_HOME", "Where the config file is looked for (see FILES)."),
    ("HOME", "Where the config file is looked for when XDG_CONFIG_HOME is unset."),
    ("COLUMNS", "The width tables are fitted to when standard output is not a terminal."),
    ("NO_COLOR", "When set to a non-empty value, no colours (https://no-color.org)."),
];

/// Examples on `hvctl(1)`: (what it does, the command line).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "Reverse the replication of a failed-over VM, on the replica host (the password is read from HVCTL_PASSWORD or asked for):",
        "hvctl --host hv-replica -u 'CORP\\operator' replication reverse web01",
    ),
    (
        "What would be done, without changing anything:",
        "hvctl --host hv-replica replication reverse --dry-run web01",
    ),
    (
        "Replication status of two VMs on every host of an inventory group, as JSON lines:",
        "hvctl --inventory hosts.ini --group replicas -o json replication status web01 db01",
    ),
    (
        "The whole planned failover of two VMs as one command; run it again after any interruption and it goes on from where each VM stands:",
        "hvctl failover planned web01 db01 --primary hv-primary --replica hv-replica --shutdown",
    ),
    (
        "The planned failover by steps: prepare on the primary, fail over on the replica:",
        "hvctl --host hv-primary failover prepare web01",
    ),
    ("", "hvctl --host hv-replica failover start web01"),
    (
        "A DR drill: a test VM from the application-consistent recovery point, then its removal:",
        "hvctl --host hv-replica replication recovery-points web01",
    ),
    ("", "hvctl --host hv-replica failover test web01 --recovery-point 2026-12-06T23:25:10Z"),
    ("", "hvctl --host hv-replica failover test-stop web01"),
    (
        "Replication health, as Measure-VMReplication shows it:",
        "hvctl --host hv-primary replication measure web01 db01",
    ),
    (
        "Wait for a job that an interrupted command left running:",
        "hvctl --host hv-replica job wait 0D5C2F8A-5A9F-4B5E-9D0B-3B8F0E4A1C22",
    ),
    (
        "Any WMI class: enumerate with a WQL filter:",
        "hvctl --host hv01 wsman enumerate Msvm_ComputerSystem --wql \"SELECT * FROM Msvm_ComputerSystem WHERE EnabledState = 2\"",
    ),
    ("Try everything against two simulated hosts, in-process:", "hvctl demo"),
];

/// Every page: (file name, roff).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut out = vec![("hvctl.1".to_owned(), page(&root, None))];
    fn walk(cmd: &Command, out: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = display_name(sub);
            out.push((format!("{name}.1"), page(sub, Some(cmd))));
            walk(sub, out);
        }
    }
    walk(&root, &mut out);
    out
}

/// `hvctl-replication-reverse`: the page name clap gives a built subcommand.
fn display_name(cmd: &Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

/// One page; `parent` is `None` for `hvctl(1)`.
fn page(cmd: &Command, parent: Option<&Command>) -> Vec<u8> {
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|s| s.to_string());
    let mut shown = cmd
        .clone()
        .after_help(Resettable::Reset)
        .after_long_help(Resettable::Reset);
    if parent.is_some() {
        // The global options are documented once, on hvctl(1).
        shown = shown.mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
    }
    let mut buf = Vec::new();
    let title = display_name(cmd);
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(shown)
        .title(title)
        .source(concat!("hvctl ", env!("CARGO_PKG_VERSION")))
        .render(&mut buf);
    let mut r = Roff::new();
    match parent {
        None => root_sections(&mut r, cmd),
        Some(parent) => {
            r.control("SH", ["GLOBAL OPTIONS"]);
            r.text([
                roman("The global options of "),
                bold("hvctl"),
                roman("(1) apply too (--host, --inventory, --group, --profile, -o, -q, -v, ...); see there, and there for "),
                bold("EXIT STATUS"),
                roman(", "),
                bold("ENVIRONMENT"),
                roman(" and "),
                bold("FILES"),
                roman("."),
            ]);
            if let Some(text) = &after {
                notes(&mut r, text);
            }
            r.control("SH", ["SEE ALSO"]);
            let mut see = vec![bold("hvctl"), roman("(1)")];
            if parent.get_name() != "hvctl" {
                see.extend([roman(", "), bold(display_name(parent)), roman("(1)")]);
            }
            r.text(see);
        }
    }
    buf.extend_from_slice(without_preamble(&r.render()).as_bytes());
    buf
}

/// EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO of `hvctl(1)`.
fn root_sections(r: &mut Roff, root: &Command) {
    r.control("SH", ["EXIT STATUS"]);
    r.text([roman(
        "A command on several VMs or hosts exits with the most urgent code among them (130, then 8, 6, 3, 7, 2, 5, 4, 1).",
    )]);
    for (code, meaning) in exit_codes() {
        r.control("TP", []);
        r.text([bold(code)]);
        r.text([roman(meaning)]);
    }

    r.control("SH", ["ENVIRONMENT"]);
    r.text([roman(
        "Each flag's variable (below) is read when the flag is not given; booleans take 1/0, yes/no, true/false or on/off.",
    )]);
    for (name, meaning) in environment(root) {
        r.control("TP", []);
        r.text([bold(name)]);
        r.text([roman(meaning)]);
    }

    r.control("SH", ["FILES"]);
    r.control("TP", []);
    r.text([
        italic("$XDG_CONFIG_HOME/hvctl/config.toml"),
        roman(" (or "),
        italic("~/.config/hvctl/config.toml"),
        roman(")"),
    ]);
    r.text([roman(
        "The config file (TOML): default_profile, [defaults] and [profiles.NAME] tables with the flags' settings (hosts, inventory, group, port, https, auth, user, password_env, ca_cert, ...). --config FILE or HVCTL_CONFIG names another. Precedence: flag, environment variable, profile, [defaults], built-in default.",
    )]);
    r.control("TP", []);
    r.text([italic("inventory files"), roman(" (--inventory FILE)")]);
    r.text([roman(
        "One host, host:port or URL per line; # starts a comment. Ansible-style sections are understood: [NAME] starts a group, [NAME:children] lists child groups, ranges such as hv[01:03] expand; --group NAME selects groups (all and ungrouped are implicit). Host variables and [NAME:vars] sections are refused with the line that has them.",
    )]);

    r.control("SH", ["EXAMPLES"]);
    for (what, line) in EXAMPLES {
        if !what.is_empty() {
            r.control("PP", []);
            r.text([roman(*what)]);
        }
        r.control("RS", ["4"]);
        r.control("nf", []);
        r.text([bold(*line)]);
        r.control("fi", []);
        r.control("RE", []);
    }

    r.control("SH", ["SEE ALSO"]);
    let mut see = Vec::new();
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        if !see.is_empty() {
            see.push(roman(", "));
        }
        see.push(bold(display_name(sub)));
        see.push(roman("(1)"));
    }
    r.text(see);
}

/// A subcommand's after-help: EXAMPLES when it starts with `Example`, NOTES otherwise.
fn notes(r: &mut Roff, text: &str) {
    let mut lines = text.lines().peekable();
    let heading = match lines.peek() {
        Some(first) if first.trim_start().starts_with("Example") => {
            lines.next();
            "EXAMPLES"
        }
        _ => "NOTES",
    };
    r.control("SH", [heading]);
    r.control("nf", []);
    for l in lines {
        r.text([roman(l)]);
    }
    r.control("fi", []);
}

/// The `code  meaning` lines of the exit-code table in `--help`: one source for both.
pub fn exit_codes() -> Vec<(String, String)> {
    EXIT_CODES_HELP
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once(char::is_whitespace)?;
            Some((code.to_owned(), meaning.trim().to_owned()))
        })
        .collect()
}

/// Every variable hvctl reads: the flags' (`HVCTL_HOST` for --host, ...), then the others.
pub fn environment(root: &Command) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut visit = |cmd: &Command| {
        for a in cmd.get_arguments() {
            let Some(env) = a.get_env().and_then(|e| e.to_str()) else {
                continue;
            };
            if out.iter().any(|(n, _)| n == env) {
                continue;
            }
            let flag = a
                .get_long()
                .map(|l| format!("--{l}"))
                .unwrap_or_else(|| a.get_id().to_string());
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            out.push((env.to_owned(), format!("{flag}: {help}")));
        }
    };
    visit(root);
    fn subs<'a>(cmd: &'a Command, acc: &mut Vec<&'a Command>) {
        for s in cmd.get_subcommands() {
            acc.push(s);
            subs(s, acc);
        }
    }
    let mut all = Vec::new();
    subs(root, &mut all);
    for c in all {
        visit(c);
    }
    out.extend(
        OTHER_ENVIRONMENT
            .iter()
            .map(|(n, m)| ((*n).to_owned(), (*m).to_owned())),
    );
    out
}

/// roff's apostrophe preamble (`.ie \n(.g ...` and `.el ...`) is written once, by clap_mangen.
fn without_preamble(text: &str) -> String {
    text.lines()
        .skip_while(|l| l.starts_with(".ie \\n(.g") || l.starts_with(".el "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn text(page: &[u8]) -> String {
        String::from_utf8(page.to_vec()).unwrap()
    }

    #[test]
    fn every_page_a_page_refers_to_exists() {
        let pages = pages();
        let names: BTreeSet<String> = pages
            .iter()
            .map(|(n, _)| n.trim_end_matches(".1").to_owned())
            .collect();
        assert!(names.contains("hvctl-replication-reverse"), "{names:?}");
        for (name, page) in &pages {
            let t = text(page);
            // `hvctl\-replication\-reverse(1)` in roff: every such reference names a page.
            for (i, _) in t.match_indices("(1)") {
                let start = t[..i]
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\\'))
                    .map_or(0, |s| s + 1);
                let referred = t[start..i]
                    .replace("\\-", "-")
                    .replace("\\fB", "")
                    .replace("\\fR", "");
                let referred = referred.trim_start_matches("fB").to_owned();
                if referred.starts_with("hvctl") {
                    assert!(
                        names.contains(&referred),
                        "{name} refers to {referred}(1), which is not generated"
                    );
                }
            }
        }
    }

    #[test]
    fn subcommand_pages_have_their_whole_command_line_and_no_globals() {
        let pages = pages();
        let (_, reverse) = pages
            .iter()
            .find(|(n, _)| n == "hvctl-replication-reverse.1")
            .unwrap();
        let t = text(reverse);
        let synopsis = t
            .split(".SH SYNOPSIS")
            .nth(1)
            .unwrap()
            .split(".SH")
            .next()
            .unwrap();
        assert!(
            synopsis.contains("\\fBhvctl replication reverse\\fR"),
            "{synopsis}"
        );
        assert!(synopsis.contains("dry\\-run"), "{synopsis}");
        assert!(
            !synopsis.contains("\\-\\-inventory"),
            "globals are on hvctl(1): {synopsis}"
        );
        assert!(t.contains(".SH \"GLOBAL OPTIONS\""), "{t}");
        assert!(t.contains(".SH \"SEE ALSO\""), "{t}");
    }

    #[test]
    fn the_name_is_said_once() {
        for (name, page) in pages() {
            let t = text(&page);
            let line = t
                .split(".SH NAME\n")
                .nth(1)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_owned();
            let n = name.trim_end_matches(".1").replace('-', "\\-");
            let about = line
                .strip_prefix(&format!("{n} \\- "))
                .unwrap_or_else(|| panic!("{name}: {line}"));
            assert!(!about.starts_with("hvctl"), "{name}: NAME doubled: {line}");
        }
    }

    #[test]
    fn the_root_page_has_exit_status_environment_files_and_examples() {
        let pages = pages();
        let t = text(&pages[0].1);
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(t.contains(section), "{section}");
        }
        assert_eq!(t.matches(".ie \\n(.g").count(), 1, "one preamble");
        // Every exit code of the exit classes, 130 included.
        let codes: Vec<String> = exit_codes().into_iter().map(|(c, _)| c).collect();
        assert_eq!(codes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "130"]);
        use crate::exit::ExitClass::*;
        for class in [
            Success,
            Other,
            Usage,
            Auth,
            NotFound,
            InvalidState,
            JobFailed,
            Connection,
            OutcomeUnknown,
            Interrupted,
        ] {
            assert!(codes.contains(&class.code().to_string()), "{class:?}");
        }
        let env = t
            .split(".SH ENVIRONMENT")
            .nth(1)
            .unwrap()
            .split(".SH FILES")
            .next()
            .unwrap()
            .replace("\\-", "-");
        // Every HVCTL_ variable the source reads is documented.
        for file in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap() {
            let src = std::fs::read_to_string(file.unwrap().path()).unwrap();
            for (i, _) in src.match_indices("HVCTL_") {
                let var: String = src[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if var.len() > "HVCTL_".len() && !var.ends_with('_') && var != "HVCTL_FLAG" {
                    assert!(
                        env.contains(&format!("\\fB{var}\\fR")),
                        "{var} is not in ENVIRONMENT"
                    );
                }
            }
        }
        assert!(t.contains("config.toml"));
    }

    #[test]
    fn the_examples_parse() {
        use clap::Parser;
        for (_, line) in EXAMPLES {
            let words = shell_words(line);
            Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    /// Splits a command line as a shell would (single and double quotes; no escapes inside).
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        let mut any = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    any = true;
                }
                (None, ' ') => {
                    if any || !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                (None, c) => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            words.push(cur);
        }
        words
    }
}
