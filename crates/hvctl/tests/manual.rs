//! Man pages, shell completions and inventory groups, through the binary: `hvctl man --out-dir`
//! writes a page for every page referred to; the bash, zsh and fish scripts complete `-p` with
//! the config file's profiles (asking `hvctl __complete`); an Ansible-style inventory's
//! `[group]`s select hosts with `--group`, and what hvctl cannot honour is refused with its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{hvctl, Pair, Run};

const CONFIG: &str = "\
default_profile = \"alpha\"
[profiles.alpha]
hosts = [\"hv-a\"]
[profiles.beta-dr]
hosts = [\"hv-b\"]
inventory = \"INVENTORY\"
";

const INVENTORY: &str = "[primaries]\nhv01\n[replicas]\nhv02\n[dr:children]\nreplicas\n";

/// A home with the config above (its beta-dr profile naming an inventory file).
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("config/hvctl");
    std::fs::create_dir_all(&dir).unwrap();
    let inv = home.path().join("hosts.ini");
    std::fs::write(&inv, INVENTORY).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        CONFIG.replace("INVENTORY", inv.to_str().unwrap()),
    )
    .unwrap();
    home
}

#[test]
fn man_writes_every_page_its_pages_refer_to() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("man");
    let run = Run::of(
        {
            let mut c = hvctl(home.path());
            c.args(["man", "--out-dir", out.to_str().unwrap()]);
            c
        },
        None,
    );
    run.expect(0);
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() > 20, "{names:?}");
    for leaf in [
        "hvctl.1",
        "hvctl-replication-reverse.1",
        "hvctl-wsman-invoke.1",
        "hvctl-vm-stop.1",
    ] {
        assert!(names.iter().any(|n| n == leaf), "{leaf} in {names:?}");
    }
    for name in &names {
        let text = std::fs::read_to_string(out.join(name))
            .unwrap()
            .replace("\\-", "-");
        for (i, _) in text.match_indices("(1)") {
            let start = text[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |s| s + 1);
            let page = &text[start..i];
            if page.starts_with("hvctl") {
                assert!(
                    out.join(format!("{page}.1")).exists(),
                    "{name} refers to {page}(1), which was not written"
                );
            }
        }
        if name != "hvctl.1" {
            let synopsis = text
                .split(".SH SYNOPSIS")
                .nth(1)
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
                .to_owned();
            // `hvctl replication recovery-points` for hvctl-replication-recovery-points.1.
            let command = synopsis.split("\\fR").next().unwrap().trim_start_matches("\\fB");
            assert_eq!(
                command.replace(' ', "-"),
                name.trim_end_matches(".1"),
                "{name}: the synopsis names the command: {synopsis}"
            );
        }
    }
    // Without --out-dir: hvctl(1) on stdout, with its added sections.
    let run = Run::of(
        {
            let mut c = hvctl(home.path());
            c.arg("man");
            c
        },
        None,
    );
    run.expect(0);
    for s in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        "HVCTL_PASSWORD",
        "130",
    ] {
        assert!(run.stdout.contains(s), "{s}");
    }
}

/// PATH with the binary's directory first, so that the scripts' `hvctl __complete` runs it.
fn path_with_hvctl() -> String {
    let dir = Path::new(env!("CARGO_BIN_EXE_hvctl")).parent().unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

fn script(home: &Path, shell: &str) -> std::path::PathBuf {
    let mut c = hvctl(home);
    c.args(["completions", shell]);
    let run = Run::of(c, None);
    run.expect(0);
    let path = home.join(format!("hvctl.{shell}"));
    std::fs::write(&path, &run.stdout).unwrap();
    path
}

fn shell_run(home: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", path_with_hvctl())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/install-peers.sh): {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion function offers for the words of `line` (the last one being typed).
fn bash_complete(home: &Path, line: &str) -> Vec<String> {
    let script = script(home, "bash");
    let words: Vec<&str> = line.split(' ').collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         _hvctl hvctl '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = shell_run(home, "bash", &["-c", &program]);
    out.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn bash_completes_profiles_and_groups_from_the_config() {
    let home = home();
    assert_eq!(bash_complete(home.path(), "hvctl -p "), ["alpha", "beta-dr"]);
    assert_eq!(
        bash_complete(home.path(), "hvctl replication status --profile be"),
        ["beta-dr"]
    );
    assert_eq!(bash_complete(home.path(), "hvctl vm list -p al"), ["alpha"]);
    // Groups come from the inventory of the profile in use (HVCTL_PROFILE, or the default's).
    let script = script(home.path(), "bash");
    let program = format!(
        "source '{}'; export HVCTL_PROFILE=beta-dr; COMP_WORDS=(hvctl --group ''); COMP_CWORD=2; \
         _hvctl hvctl '' --group; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = shell_run(home.path(), "bash", &["-c", &program]);
    let groups: Vec<&str> = out.lines().collect();
    assert_eq!(groups, ["all", "ungrouped", "primaries", "replicas", "dr"]);
}

#[test]
fn fish_completes_profiles_from_the_config() {
    let home = home();
    let script = script(home.path(), "fish");
    let program = format!("source '{}'; complete -C 'hvctl -p '", script.display());
    let out = shell_run(home.path(), "fish", &["--no-config", "-c", &program]);
    let offered: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(offered, ["alpha", "beta-dr"], "{out}");
}

#[test]
fn zsh_script_adds_the_profiles_it_asks_hvctl_for() {
    let home = home();
    let script = script(home.path(), "zsh");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains(":PROFILE:_hvctl_profiles'"),
        "the -p spec calls the function"
    );
    // The function, with compadd standing in for the completion system.
    let program = format!(
        "autoload -U compinit; compdef() {{ :; }}; source '{}'; compadd() {{ shift; print -l -- ${{(P)1}}; }}; _hvctl_profiles",
        script.display()
    );
    let out = shell_run(home.path(), "zsh", &["-f", "-c", &program]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["alpha", "beta-dr"], "{out}");
}

#[test]
fn inventory_groups_select_hosts_and_what_cannot_be_honoured_is_refused() {
    let pair = Pair::start();
    let (p, r) = (pair.p(), pair.r());
    let inv = pair.home.path().join("hosts.ini");
    std::fs::write(
        &inv,
        format!("# the DR pair\n[primaries]\n{p}\n\n[replicas]\n{r}   ; not a comment in hvctl\n"),
    )
    .unwrap();
    let i = inv.to_str().unwrap();
    let run = pair.run(&["--inventory", i, "-o", "json", "replication", "status", "demo-vm"]);
    run.expect(2);
    assert!(run.stderr.contains("line 6: unexpected `;`"), "{}", run.stderr);

    std::fs::write(
        &inv,
        format!("# the DR pair\n[primaries]\n{p}\n\n[replicas]\n{r}\n[dr:children]\nreplicas\n"),
    )
    .unwrap();
    let hosts_of = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--inventory", i, "-o", "json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["replication", "status", "demo-vm"]);
        let run = pair.run(&all);
        run.expect(0);
        let (lines, _) = run.json();
        lines
            .iter()
            .map(|l| l["host"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(hosts_of(&[]).len(), 2);
    assert_eq!(hosts_of(&["--group", "dr"]), vec![r.as_str()]);
    assert_eq!(hosts_of(&["-g", "primaries"]), vec![p.as_str()]);
    assert_eq!(hosts_of(&["--group", "primaries,replicas"]).len(), 2);

    let run = pair.run(&["--inventory", i, "--group", "replica", "vm", "list"]);
    run.expect(2);
    assert!(
        run.stderr
            .contains("has no group `replica`; did you mean `replicas`?"),
        "{}",
        run.stderr
    );
    let run = pair.run(&["--host", &p, "--group", "dr", "vm", "list"]);
    run.expect(2);
    assert!(run.stderr.contains("give --inventory FILE"), "{}", run.stderr);

    std::fs::write(&inv, format!("[replicas]\n{r} ansible_port=5986\n")).unwrap();
    let exchanges = || pair.replica.stats().exchanges + pair.primary.stats().exchanges;
    let before = exchanges();
    let run = pair.run(&["--inventory", i, "-o", "json", "vm", "list"]);
    run.expect(2);
    let (_, summary) = run.json_lines();
    assert_eq!(summary["exit_code"], 2);
    assert!(
        run.stderr
            .contains("line 2: host variables (`ansible_port=5986`) are not supported"),
        "{}",
        run.stderr
    );
    assert_eq!(exchanges(), before, "nothing is sent");
}
