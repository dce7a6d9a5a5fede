//! hvctl: Hyper-V replication and WS-Management from Linux and macOS.
//!
//! Glue only: [`cli`] parses, [`config`] resolves flags, environment, profile and credentials,
//! the commands call the `hyperv` workflow over `winrm-client`, [`output`] prints, and
//! [`exit`] maps errors to the documented exit codes.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod completion;
mod config;
#[cfg(feature = "sim")]
mod demo;
mod drill;
mod errors;
mod exit;
mod health;
mod interrupt;
mod inventory;
mod manual;
mod output;
mod planned;
mod progress;
mod startup;
mod suggest;
mod transport;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::config::{Needs, Sources};

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return startup::parse_failed(&e, &argv),
    };
    let mut json = cli.global.output == Some(cli::OutputFormat::Json)
        || startup::wants_json(&argv, &|k| std::env::var(k).ok());
    match run(cli, &mut json) {
        Ok(code) => code,
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => startup::run_failed(&err, json, &argv),
    }
}

/// Runs the parsed command; `json` becomes true once the resolved configuration (a profile's
/// `output`) asks for JSON, so that an error after that point is reported as JSON too.
fn run(mut cli: Cli, json: &mut bool) -> anyhow::Result<ExitCode> {
    planned::use_hosts(&mut cli);
    let needs = match &cli.command {
        Command::Completions { .. }
        | Command::Man { .. }
        | Command::Complete { .. }
        | Command::Demo
        | Command::Sim(_) => Needs::Nothing,
        _ => Needs::Hosts,
    };
    let env = |k: &str| std::env::var(k).ok();
    let file = config::load_config(cli.global.config.as_deref(), &env)?;
    let prompt = |msg: &str| rpassword::prompt_password(msg);
    let stdin_is_terminal = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let read_file = |p: &std::path::Path| std::fs::read_to_string(p);
    let resolved = config::resolve(
        &cli.global,
        &file,
        needs,
        Sources {
            env: &env,
            stdin: &mut stdin,
            prompt: if stdin_is_terminal { Some(&prompt) } else { None },
            read_file: &read_file,
            stderr_is_terminal: std::io::stderr().is_terminal(),
        },
    )?;
    *json |= resolved.output == cli::OutputFormat::Json;
    init_tracing(resolved.verbose, resolved.quiet);
    tracing::debug!(source = ?resolved.password_source, hosts = resolved.endpoints.len(), "configuration resolved");
    if resolved.insecure {
        let mut e = std::io::stderr().lock();
        writeln!(
            e,
            "WARNING: --insecure: TLS certificates are NOT verified; anyone on the network path can \
             impersonate the host and read your credentials"
        )?;
    }
    match cli.command {
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            out.write_all(completion::script(shell).as_bytes())
                .and_then(|()| out.flush())
                .context("writing completions")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Complete { what } => {
            let mut profile = file.profile(cli.global.profile.as_deref()).unwrap_or_default();
            if cli.global.inventory.is_some() {
                profile.inventory = cli.global.inventory.clone();
            }
            completion::print(&completion::words(what, &file, &profile)).context("writing completions")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out_dir } => {
            let pages = manual::pages();
            match out_dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                    for (name, page) in &pages {
                        let path = dir.join(name);
                        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
                    }
                    writeln!(
                        std::io::stderr().lock(),
                        "wrote {} pages into {}",
                        pages.len(),
                        dir.display()
                    )?;
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&pages[0].1)
                        .and_then(|()| out.flush())
                        .context("writing the man page")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "sim")]
        Command::Demo => {
            let class = runtime()?.block_on(demo::demo(resolved.output, resolved.progress_bars))?;
            Ok(class.into())
        }
        #[cfg(feature = "sim")]
        Command::Sim(cli::SimCmd::Serve { pair, latency }) => {
            let port = cli.global.port;
            let latency = latency.unwrap_or_default();
            let class = runtime()?.block_on(demo::serve(resolved.https, port, pair, latency))?;
            Ok(class.into())
        }
        #[cfg(not(feature = "sim"))]
        Command::Demo | Command::Sim(_) => Err(anyhow::Error::new(exit::UsageError::new(cli::NO_SIM))),
        mut command => {
            config::merge_repeated_vms(&mut command);
            let mut ask = |q: &str| terminal_answer(q, &mut stdin);
            let interactive = stdin_is_terminal && std::io::stderr().is_terminal();
            commands::confirm(&command, if interactive { Some(&mut ask) } else { None })?;
            let runtime = runtime()?;
            let start = std::time::Instant::now();
            let hosts = {
                let _in_runtime = runtime.enter();
                commands::Hosts::connect(&resolved)?
            };
            // Ctrl-C stops waiting (the hosts' jobs go on): the records so far, an
            // `interrupted` one per operation still running, and exit code 130.
            let ctrl_c = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let finished = runtime.block_on(async {
                tokio::select! {
                    outcome = commands::run(&hosts, command) => outcome.map(Some),
                    () = ctrl_c => Ok(None),
                }
            })?;
            let interrupted = finished.is_none();
            let outcome = match finished {
                Some(outcome) => outcome,
                None => {
                    // A second Ctrl-C ends the process at once.
                    runtime.spawn(async {
                        if tokio::signal::ctrl_c().await.is_ok() {
                            std::process::exit(i32::from(exit::INTERRUPTED_CODE));
                        }
                    });
                    hosts.clear_progress();
                    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
                    let command = startup::command_name(&Cli::command(), &argv);
                    let records = hosts.inflight.interrupted(&command);
                    commands::Outcome {
                        command,
                        records,
                        table: None,
                    }
                }
            };
            if let Some(e) = errors::missing_credentials(&resolved, &outcome.records) {
                return Err(e.into());
            }
            let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            let class = output::emit(
                &mut out,
                &mut err,
                resolved.output,
                resolved.quiet,
                &outcome.command,
                &outcome.records,
                elapsed,
                outcome.table.as_ref(),
            )
            .context("writing output")?;
            if interrupted && resolved.output == cli::OutputFormat::Json {
                // Human output printed these as its error lines; JSON says them on stderr too.
                for line in outcome
                    .records
                    .iter()
                    .filter(|r| r.class() == exit::ExitClass::Interrupted)
                {
                    writeln!(err, "{}", output::error_line(line).unwrap_or_default())?;
                }
            }
            Ok(class.into())
        }
    }
}

/// Shows `question` on stderr and reads one line of the answer from the terminal (stdin).
fn terminal_answer(question: &str, stdin: &mut impl std::io::BufRead) -> std::io::Result<String> {
    let mut err = std::io::stderr().lock();
    err.write_all(question.as_bytes())?;
    err.flush()?;
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    Ok(line)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Logging on stderr: warnings by default, errors only with `-q`, then one step of detail per
/// `-v` for hvctl's own crates (`HVCTL_LOG` overrides, in `EnvFilter` syntax). Colours only on a
/// terminal, and never when `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>).
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let default = if verbose == 0 {
        level.to_owned()
    } else {
        let ours = ["hvctl", "hyperv", "winrm_client", "winrm_auth", "wsman_soap"]
            .map(|c| format!("{c}={level}"))
            .join(",");
        format!("warn,{ours}")
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HVCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_target(false)
        .try_init();
}

/// Whether stderr gets colours: a terminal, and `NO_COLOR` unset or empty.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}
