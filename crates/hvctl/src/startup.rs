//! Before a command runs: command-line errors said in the user's terms, and the output format
//! known even when the arguments do not parse (so `-o json` gets its summary line either way).

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use crate::cli::{Cli, OutputFormat};
use crate::exit::{ExitClass, UsageError};
use crate::output::{self, Record};

/// The values a boolean environment variable accepts, for its error message.
pub const BOOL_VALUES: &str = "1/0/yes/no/true/false/on/off";

/// When a clap value error comes from an `HVCTL_*` variable rather than from the command line,
/// the message naming that variable (the flag was never typed, so naming it would mislead).
///
/// `argv` is the command line (without the program name) and `env` the process environment.
pub fn env_value_error(
    err: &clap::Error,
    cmd: &clap::Command,
    argv: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if !matches!(err.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    // `--port <PORT>` or `--insecure`: the long name identifies the argument.
    let long = shown.split_whitespace().next()?.strip_prefix("--")?;
    let arg = all_args(cmd).find(|a| a.get_long() == Some(long))?;
    let var = arg.get_env()?.to_str()?;
    let value = env(var)?;
    let typed = argv.iter().filter_map(|a| a.to_str()).any(|a| {
        a == format!("--{long}") || a.starts_with(&format!("--{long}=")) || short_given(a, arg.get_short())
    });
    if typed {
        return None;
    }
    let is_bool = matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    );
    Some(if is_bool {
        format!("{var}: expected {BOOL_VALUES}, got '{value}'")
    } else {
        let reason = std::error::Error::source(err)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        format!("{var}: invalid value '{value}'{reason}")
    })
}

fn short_given(token: &str, short: Option<char>) -> bool {
    let Some(c) = short else { return false };
    token.len() > 1 && token.starts_with('-') && !token.starts_with("--") && token.chars().nth(1) == Some(c)
}

fn all_args(cmd: &clap::Command) -> Box<dyn Iterator<Item = &clap::Arg> + '_> {
    Box::new(
        cmd.get_arguments()
            .chain(cmd.get_subcommands().flat_map(all_args)),
    )
}

/// True when the run asked for JSON output: `-o json`, `--output json` (or `=json`) on the
/// command line, else `HVCTL_OUTPUT=json`. Used when the arguments do not parse.
pub fn wants_json(argv: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> bool {
    let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    let mut from_args = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a == "--" {
            break;
        }
        let value = match a {
            "-o" | "--output" => args.get(i + 1).copied(),
            _ => a
                .strip_prefix("--output=")
                .or_else(|| a.strip_prefix("-o="))
                .or_else(|| a.strip_prefix("-o").filter(|v| !v.is_empty())),
        };
        if let Some(v) = value {
            from_args = Some(v.eq_ignore_ascii_case("json"));
        }
        i += 1;
    }
    from_args.unwrap_or_else(|| env("HVCTL_OUTPUT").is_some_and(|v| v.eq_ignore_ascii_case("json")))
}

/// The command the arguments name (`vm stop`), as far as they name one: the chain of
/// subcommand names found among the arguments.
pub fn command_name(cmd: &clap::Command, argv: &[OsString]) -> String {
    let mut names = Vec::new();
    let mut current = cmd;
    for a in argv.iter().filter_map(|a| a.to_str()) {
        if let Some(sub) = current.find_subcommand(a) {
            names.push(sub.get_name().to_owned());
            current = sub;
        }
    }
    names.join(" ")
}

/// The arguments did not parse: `--help`/`--version` print and exit 0; anything else is a usage
/// error, said in terms of the environment variable when one caused it, and in JSON mode also
/// written as a failed result and the summary line on stdout.
pub fn parse_failed(err: &clap::Error, argv: &[OsString]) -> ExitCode {
    if err.exit_code() == 0 {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let env = |k: &str| std::env::var(k).ok();
    let cmd = Cli::command();
    let command = command_name(&cmd, argv);
    let json = wants_json(argv, &env);
    let error = match env_value_error(err, &cmd, argv, &env) {
        Some(msg) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {msg}");
            anyhow::Error::new(UsageError::new(msg))
        }
        None => {
            let _ = err.print();
            // The first line of clap's text, without its `error: ` prefix.
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            anyhow::Error::new(UsageError::new(first.strip_prefix("error: ").unwrap_or(first)))
        }
    };
    if json {
        write_json_failure(&command, &error);
    }
    ExitCode::from(ExitClass::Usage.code())
}

/// A run that failed before any item was reported: the error on stderr, and in JSON mode one
/// failed result (`host` and `vm` null) and the summary line on stdout.
pub fn run_failed(err: &anyhow::Error, json: bool, argv: &[OsString]) -> ExitCode {
    let class = crate::exit::classify(err);
    let _ = writeln!(std::io::stderr().lock(), "error: {err:#}");
    if json {
        write_json_failure(&command_name(&Cli::command(), argv), err);
    }
    ExitCode::from(class.code())
}

fn write_json_failure(command: &str, err: &anyhow::Error) {
    let records = [Record::failed(command, None, None, err)];
    let mut out = std::io::stdout().lock();
    let _ = output::emit(
        &mut out,
        &mut std::io::sink(),
        OutputFormat::Json,
        false,
        command,
        &records,
        0,
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_seen_in_every_spelling() {
        let none = |_: &str| None;
        for args in [
            &["-o", "json", "vm", "list"][..],
            &["vm", "list", "--output=json"],
            &["-ojson", "vm"],
            &["--output", "JSON"],
        ] {
            assert!(wants_json(&os(args), &none), "{args:?}");
        }
        assert!(!wants_json(&os(&["-o", "human"]), &|_| Some("json".into())));
        assert!(wants_json(&os(&["vm"]), &|k| (k == "HVCTL_OUTPUT").then(|| "json".into())));
        assert!(!wants_json(&os(&["vm", "--", "-o", "json"]), &none));
    }

    #[test]
    fn command_names_follow_the_subcommands() {
        let cmd = Cli::command();
        assert_eq!(
            command_name(&cmd, &os(&["-o", "json", "vm", "stop", "x"])),
            "vm stop"
        );
        assert_eq!(command_name(&cmd, &os(&["--bogus"])), "");
    }
}
