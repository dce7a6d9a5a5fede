//! Shell completion scripts: clap_complete's, with the values only the config file knows
//! completed at the time of completion. `-p/--profile` offers the config file's profile names and
//! `-g/--group` the inventory's groups: the scripts ask `hvctl __complete profiles|groups`,
//! which reads the config (and inventory) that a command would read then.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompleteWhat};
use crate::config::{ConfigFile, Profile};
use crate::inventory::Inventory;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hvctl", &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => bash(&text),
        Shell::Zsh => zsh(&text),
        Shell::Fish => fish(&text),
        // Elvish and PowerShell get clap's script as it is: profile names are not offered.
        _ => text,
    }
}

/// The words `hvctl __complete WHAT` prints, one per line.
pub fn words(what: CompleteWhat, file: &ConfigFile, profile: &Profile) -> Vec<String> {
    match what {
        CompleteWhat::Profiles => file.profiles.keys().cloned().collect(),
        CompleteWhat::Groups => {
            let Some(path) = &profile.inventory else {
                return Vec::new();
            };
            std::fs::read_to_string(path)
                .ok()
                .and_then(|text| Inventory::parse(&text, path).ok())
                .map(|inv| inv.group_names().into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        }
    }
}

/// Prints [`words`] (errors are left out: a completion must not print them on the terminal).
pub fn print(words: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for w in words {
        writeln!(out, "{w}")?;
    }
    out.flush()
}

/// The value options whose words come from `hvctl __complete`: (long, short, what).
const DYNAMIC: [(&str, &str, &str); 2] = [("--profile", "-p", "profiles"), ("--group", "-g", "groups")];

/// bash: clap completes an option's value with file names (`compgen -f`) in the `case` arm of
/// each option; those of `--profile`/`-p` and `--group`/`-g` ask hvctl instead.
fn bash(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1024);
    let mut what: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some((_, _, w)) = DYNAMIC
            .iter()
            .find(|(l, s, _)| t == format!("{l})") || t == format!("{s})"))
        {
            what = Some(w);
        } else if let Some(w) = what.take() {
            if t == "COMPREPLY=($(compgen -f \"${cur}\"))" {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!(
                    "{indent}COMPREPLY=($(compgen -W \"$(hvctl __complete {w} 2>/dev/null)\" -- \"${{cur}}\"))\n"
                ));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// zsh: the `_arguments` specs end in `:PROFILE:_default`; they call a function that adds the
/// words instead, defined at the top of the script.
fn zsh(text: &str) -> String {
    let mut text = text.to_owned();
    let mut functions = String::new();
    for (long, _, what) in DYNAMIC {
        let value = long.trim_start_matches('-').to_uppercase();
        let name = if what == "groups" { "NAME" } else { value.as_str() };
        text = text.replace(&format!(":{name}:_default'"), &format!(":{name}:_hvctl_{what}'"));
        functions.push_str(&format!(
            "_hvctl_{what}() {{\n    local -a words\n    words=(${{(f)\"$(hvctl __complete {what} 2>/dev/null)\"}})\n    compadd -a words\n}}\n"
        ));
    }
    match text.split_once("autoload -U is-at-least\n") {
        Some((head, tail)) => format!("{head}autoload -U is-at-least\n\n{functions}{tail}"),
        None => format!("{functions}{text}"),
    }
}

/// fish: `complete ... -l profile -r` lines get the words as arguments (`-f -a`), which serves
/// `--profile=NAME`. clap's conditions (`__fish_hvctl_needs_command`, ...) run `argparse` on the
/// command line, which fails while an option still waits for its value (`hvctl -p `), so one
/// line per option without a condition serves `-p NAME` and `--profile NAME` anywhere.
fn fish(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1024);
    for line in text.lines() {
        out.push_str(line);
        if let Some((_, _, what)) = DYNAMIC.iter().find(|(l, s, _)| {
            line.starts_with("complete -c hvctl ")
                && line.contains(&format!(" -s {} -l {} ", &s[1..], &l[2..]))
                && line.ends_with(" -r")
        }) {
            out.push_str(&format!(" -f -a \"(hvctl __complete {what} 2>/dev/null)\""));
        }
        out.push('\n');
    }
    for (long, short, what) in DYNAMIC {
        out.push_str(&format!(
            "complete -c hvctl -s {} -l {} -r -f -a \"(hvctl __complete {what} 2>/dev/null)\"\n",
            &short[1..],
            &long[2..]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_and_group_option_asks_hvctl_in_each_shell() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            for what in ["profiles", "groups"] {
                assert!(s.contains(&format!("hvctl __complete {what}")), "{shell}: {what}");
            }
        }
        // bash: no file-name completion is left for them, in any subcommand's arm.
        let b = script(Shell::Bash);
        let lines: Vec<&str> = b.lines().map(str::trim).collect();
        for (i, l) in lines.iter().enumerate() {
            if ["--profile)", "-p)", "--group)", "-g)"].contains(l) {
                assert!(
                    lines[i + 1].contains("hvctl __complete"),
                    "line {i}: {}",
                    lines[i + 1]
                );
            }
        }
        assert!(!script(Shell::Zsh).contains(":PROFILE:_default"));
        let f = script(Shell::Fish);
        assert!(f
            .lines()
            .filter(|l| l.contains("-l profile"))
            .all(|l| l.contains("__complete profiles")));
    }
}
