//! `hvctl demo` (a planned failover between two in-process simulated hosts, through the same
//! client code used for real hosts) and `hvctl sim serve` (a standalone simulated host).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyperv::{JobWaitOptions, VmRef};
use hyperv_sim::{PairConfig, SimConfig, SimHost};
use winrm_client::{AuthMethod, Client};

use crate::cli::OutputFormat;
use crate::commands::operation_human;
use crate::exit::ExitClass;
use crate::output::{self, Record, Table};
use crate::progress::ProgressSink;
use crate::transport::HostSession;

/// The simulated user of `demo` and `sim serve`.
pub const SIM_USER: &str = "HV\\operator";

/// How long each simulated job runs in the demo (long enough to see progress).
const DEMO_JOB_DURATION: Duration = Duration::from_millis(1500);

fn session(host: &SimHost, password: &str) -> anyhow::Result<HostSession> {
    let client = Client::builder(&host.endpoint())
        .auth(AuthMethod::ntlm(SIM_USER, password))
        .build()
        .context("building the WinRM client")?;
    Ok(HostSession::new(client, host.host_name().to_owned()))
}

/// Runs the demo; prints each step. Returns the exit class.
pub async fn demo(format: OutputFormat, progress_bars: bool) -> anyhow::Result<ExitClass> {
    let started = Instant::now();
    let password = hyperv_sim::random_password();
    let config = PairConfig {
        job_duration: DEMO_JOB_DURATION,
        ..PairConfig::default()
    }
    .user(SIM_USER, &password);
    let vm_name = config.vm_name.clone();
    let (primary, replica) = hyperv_sim::start_pair(config)
        .await
        .context("starting the simulated hosts")?;
    let human = format != OutputFormat::Json;
    let mut out = std::io::stdout();
    if human {
        writeln!(
            out,
            "Started two simulated Hyper-V hosts (NTLM, encrypted HTTP, random password for {SIM_USER}):\n  \
             primary {} at {}\n  replica {} at {}\nVM `{vm_name}` replicates from {} to {}.\n",
            primary.host_name(),
            primary.endpoint(),
            replica.host_name(),
            replica.endpoint(),
            primary.host_name(),
            replica.host_name()
        )?;
    }
    let p = session(&primary, &password)?;
    let r = session(&replica, &password)?;
    let sink = ProgressSink::new(progress_bars, false);
    let wait = JobWaitOptions {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        ..JobWaitOptions::default()
    };
    let vm = VmRef::parse(&vm_name);
    let mut records: Vec<Record> = Vec::new();

    let result: anyhow::Result<()> = async {
        step(&mut out, human, 1, "replication status on both hosts")?;
        status_step(&mut out, human, &mut records, &[&p, &r], &vm).await?;

        step(
            &mut out,
            human,
            2,
            &format!(
                "shut the VM down on the primary {} (failover needs it off)",
                p_name(&p)
            ),
        )?;
        let mut cb = sink.callback(format!("{vm_name} on {}", p_name(&p)));
        let rep = hyperv::shutdown_vm(&p, &vm, false, &wait, &mut cb).await?;
        push_op(&mut out, human, &mut records, "vm stop", &rep)?;

        step(
            &mut out,
            human,
            3,
            &format!("prepare the planned failover on the primary {}", p_name(&p)),
        )?;
        let mut cb = sink.callback(format!("{vm_name} on {}", p_name(&p)));
        let rep = hyperv::prepare_failover(&p, &vm, &wait, &mut cb).await?;
        push_op(&mut out, human, &mut records, "failover prepare", &rep)?;

        step(
            &mut out,
            human,
            4,
            &format!("fail over on the replica {}", p_name(&r)),
        )?;
        let mut cb = sink.callback(format!("{vm_name} on {}", p_name(&r)));
        let rep = hyperv::start_failover(&r, &vm, None, &wait, &mut cb).await?;
        push_op(&mut out, human, &mut records, "failover start", &rep)?;

        step(
            &mut out,
            human,
            5,
            &format!("reverse replication on {} (it becomes the primary)", p_name(&r)),
        )?;
        let mut cb = sink.callback(format!("{vm_name} on {}", p_name(&r)));
        let rep =
            hyperv::reverse_replication(&r, &vm, &hyperv::ReverseOptions::default(), &wait, &mut cb).await?;
        push_op(&mut out, human, &mut records, "replication reverse", &rep)?;

        step(&mut out, human, 6, &format!("start the VM on {}", p_name(&r)))?;
        let mut cb = sink.callback(format!("{vm_name} on {}", p_name(&r)));
        let rep = hyperv::start_vm(&r, &vm, &wait, &mut cb).await?;
        push_op(&mut out, human, &mut records, "vm start", &rep)?;

        step(&mut out, human, 7, "replication status on both hosts again")?;
        status_step(&mut out, human, &mut records, &[&p, &r], &vm).await?;
        Ok(())
    }
    .await;

    if let Err(e) = &result {
        records.push(Record::failed("demo", None, Some(&vm_name), e));
    }
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let class = match format {
        OutputFormat::Json => {
            let mut err = std::io::stderr();
            output::emit(&mut out, &mut err, format, false, "demo", &records, elapsed, None)?
        }
        OutputFormat::Human | OutputFormat::Wide => {
            let class = ExitClass::combine(records.iter().map(Record::class));
            match &result {
                Ok(()) => writeln!(
                    out,
                    "Done in {:.1}s: {vm_name} failed over from {} to {}, replication reversed, VM running.",
                    started.elapsed().as_secs_f64(),
                    primary.host_name(),
                    replica.host_name()
                )?,
                Err(e) => writeln!(std::io::stderr(), "error: demo failed: {e:#}")?,
            }
            class
        }
    };
    primary.shutdown().await;
    replica.shutdown().await;
    Ok(class)
}

fn p_name(s: &HostSession) -> &str {
    hyperv::Wsman::host(s)
}

fn step(out: &mut dyn Write, human: bool, n: u32, what: &str) -> std::io::Result<()> {
    if human {
        writeln!(out, "[{n}/7] {what}")?;
    }
    Ok(())
}

fn push_op(
    out: &mut dyn Write,
    human: bool,
    records: &mut Vec<Record>,
    command: &str,
    rep: &hyperv::OperationReport,
) -> anyhow::Result<()> {
    let text = operation_human(rep);
    if human {
        writeln!(out, "{text}\n")?;
    }
    records.push(Record::ok(
        command,
        Some(&rep.host),
        Some(&rep.vm),
        serde_json::to_value(rep)?,
        text,
    ));
    Ok(())
}

async fn status_step(
    out: &mut dyn Write,
    human: bool,
    records: &mut Vec<Record>,
    hosts: &[&HostSession],
    vm: &VmRef,
) -> anyhow::Result<()> {
    let mut table = Table::new(&["HOST", "VM", "MODE", "STATE", "HEALTH", "POWER"]);
    for h in hosts {
        let rep = hyperv::replication_status(*h, vm).await?;
        table.row(vec![
            rep.host.clone(),
            rep.vm.name.clone(),
            rep.vm.replication_mode.to_string(),
            rep.vm.ps_replication_state.to_string(),
            rep.vm.replication_health.to_string(),
            rep.vm.enabled_state.to_string(),
        ]);
        records.push(Record::ok(
            "replication status",
            Some(&rep.host),
            Some(&rep.vm.name),
            serde_json::to_value(&rep)?,
            String::new(),
        ));
    }
    if human {
        table.write(out)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `hvctl sim serve`: runs a simulated host (or a pair) until Ctrl-C; every HTTP exchange waits
/// `latency` before its reply (an emulated round trip).
pub async fn serve(
    https: bool,
    port: Option<u16>,
    pair: bool,
    latency: Duration,
) -> anyhow::Result<ExitClass> {
    let (password, generated) = match std::env::var("HVCTL_PASSWORD").ok().filter(|s| !s.is_empty()) {
        Some(p) => (zeroize::Zeroizing::new(p), false),
        None => (hyperv_sim::random_password(), true),
    };
    let mut hosts: Vec<SimHost> = Vec::new();
    if pair {
        let (p, r) = hyperv_sim::start_pair(
            PairConfig {
                https,
                latency,
                ..PairConfig::default()
            }
            .user(SIM_USER, &password),
        )
        .await
        .context("starting the simulated hosts")?;
        hosts.push(p);
        hosts.push(r);
    } else {
        let mut cfg = SimConfig::new("HV-SIM").user(SIM_USER, &password);
        cfg.https = https;
        cfg.latency = latency;
        cfg.vms = vec!["vm01".to_owned(), "vm02".to_owned()];
        if let Some(port) = port {
            cfg.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        }
        hosts.push(SimHost::start(cfg).await.context("starting the simulated host")?);
    }
    let mut out = std::io::stdout();
    for h in &hosts {
        writeln!(
            out,
            "simulated Hyper-V host {} listening on {}",
            h.host_name(),
            h.endpoint()
        )?;
        if let Some(pem) = h.cert_pem() {
            let path = std::env::temp_dir().join(format!("hvctl-sim-{}.pem", h.addr().port()));
            std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "  self-signed certificate for {}: {}",
                h.fqdn(),
                path.display()
            )?;
        }
    }
    let first = &hosts[0];
    let flags = if https { " --https --insecure" } else { "" };
    if !latency.is_zero() {
        writeln!(
            out,
            "every HTTP exchange waits {} ms before its reply (emulated round trip)",
            latency.as_millis()
        )?;
    }
    writeln!(out, "user: {SIM_USER}")?;
    if generated {
        writeln!(
            out,
            "password (generated for this run): export HVCTL_PASSWORD={}",
            password.as_str()
        )?;
    } else {
        writeln!(out, "password: the HVCTL_PASSWORD this server was started with")?;
    }
    writeln!(
        out,
        "try: hvctl --host {}{flags} --auth ntlm --user '{SIM_USER}' vm list\nCtrl-C stops the server.",
        first.addr()
    )?;
    out.flush()?;
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    for h in hosts {
        h.shutdown().await;
    }
    Ok(ExitClass::Success)
}
