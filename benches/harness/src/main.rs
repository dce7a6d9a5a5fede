//! hvbench: the benchmark harness behind `benches/run.py`.
//!
//! * `hvbench serve [--hosts H] [--failed-over V] [--replicating R] [--plain-vms P]
//!   [--job-ms MS] [--latency-ms L] [--primaries] [--distinct-names]`
//!   starts H simulated Hyper-V replica hosts (each in its own world, with a primary partner,
//!   served too with `--primaries`) on 127.0.0.1, each with V VMs failed over to it
//!   (`vm-NNN`: `ReplicationState` Recovered, the primary side Synced: a planned failover
//!   waiting for `replication reverse`), R VMs replicating normally (`rep-NNN`: running on the
//!   primary, off on the replica: ready for a planned failover) and P plain VMs (`plain-NNN`).
//!   With `--distinct-names` host h's VMs are `hHHH-vm-NNN` etc., so that each name is on one
//!   host only (fleet lookups). Every HTTP exchange waits L ms before its reply (an emulated round trip). Prints one JSON
//!   line (endpoints, VM names and GUIDs of host 0), then reads commands on stdin: `stats`
//!   (exchange and request counters, summed and per host), `check` (VM replication states on
//!   every replica host), `jobs` (every job with its submission and completion times), `quit`
//!   or end of input.
//! * `hvbench client --endpoint URL --vm GUID --n N` does N Gets and N Invokes on one
//!   connection through `winrm_client::Client` (NTLM, message encryption) and prints the wall
//!   time of the loop as JSON. The runner measures the process CPU time (wait4 rusage).
//! * `hvbench floor-serve` / `hvbench floor-client --port P --n N`: the per-request floor (see
//!   `floor.rs`): blocking write/read of the same byte counts, no HTTP library, crypto or XML.
//!
//! The user is `HV\bench`; the password is read from `HVBENCH_PASSWORD`.
#![forbid(unsafe_code)]

mod floor;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use hyperv_sim::model::{mode, power, state};
use hyperv_sim::{SimConfig, SimHost, World, WorldConfig};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, BufReader};
use winrm_client::{AuthMethod, Client};
use wsman_soap::{Epr, SelectorSet, Value};

const USER: &str = "HV\\bench";
const NS: &str = "root/virtualization/v2";

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => runtime(true).and_then(|rt| rt.block_on(serve(&args[1..]))),
        Some("client") => runtime(false).and_then(|rt| rt.block_on(client(&args[1..]))),
        Some("floor-serve") => floor::serve(),
        Some("floor-client") => floor::client(&args[1..]),
        _ => Err(
            "usage: hvbench serve [--hosts H] [--failed-over V] [--replicating R] [--plain-vms P] \
                  [--job-ms MS] [--latency-ms L] [--primaries] [--distinct-names] | \
                  hvbench client --endpoint URL --vm GUID --n N | \
                  hvbench floor-serve | hvbench floor-client --port P --n N"
                .into(),
        ),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvbench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime(multi: bool) -> Result<tokio::runtime::Runtime, Error> {
    let mut b = if multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(b.enable_all().build()?)
}

/// The value of `--name` in `args`, parsed, or `default`.
fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: Option<T>) -> Result<T, Error> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args.get(i + 1).ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("invalid value for {name}: {v}").into())
        }
        None => default.ok_or_else(|| format!("missing {name}").into()),
    }
}

fn password() -> Result<String, Error> {
    std::env::var("HVBENCH_PASSWORD").map_err(|_| "set HVBENCH_PASSWORD".into())
}

fn lock(w: &Arc<Mutex<World>>) -> std::sync::MutexGuard<'_, World> {
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value-less flag `name` is in `args`.
fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// The served hosts: replica host h (with its world) and, with `--primaries`, its primary.
struct Served {
    replicas: Vec<(SimHost, Arc<Mutex<World>>)>,
    primaries: Vec<SimHost>,
}

async fn serve(args: &[String]) -> Result<(), Error> {
    let hosts: usize = opt(args, "--hosts", Some(1))?;
    let failed_over: usize = opt(args, "--failed-over", Some(0))?;
    let replicating: usize = opt(args, "--replicating", Some(0))?;
    let plain: usize = opt(args, "--plain-vms", Some(1))?;
    let job_ms: u64 = opt(args, "--job-ms", Some(1500))?;
    let latency = Duration::from_millis(opt(args, "--latency-ms", Some(0))?);
    let serve_primaries = flag(args, "--primaries");
    let distinct = flag(args, "--distinct-names");
    let password = password()?;
    let mut served = Served {
        replicas: Vec::with_capacity(hosts),
        primaries: Vec::new(),
    };
    let mut host0_vms = Vec::new();
    for h in 0..hosts {
        let now = SystemTime::now();
        let mut world = World::new(WorldConfig {
            job_duration: Duration::from_millis(job_ms),
            ..WorldConfig::default()
        });
        let prefix = if distinct {
            format!("h{h:03}-")
        } else {
            String::new()
        };
        let primary = world.add_host(&format!("HV-P{h:03}"), &format!("hv-p{h:03}.contoso.test"));
        let replica = world.add_host(&format!("HV-R{h:03}"), &format!("hv-r{h:03}.contoso.test"));
        for v in 0..failed_over {
            let name = format!("{prefix}vm-{v:03}");
            let id = world
                .add_replicated_vm(primary, replica, &name, now)
                .ok_or("add_replicated_vm failed")?;
            for (host, st, power_state) in [
                (primary, state::SYNCED, power::OFF),
                (replica, state::RECOVERED, power::OFF),
            ] {
                let vm = world.hosts[host.0]
                    .vms
                    .iter_mut()
                    .find(|vm| vm.id == id)
                    .ok_or("replicated VM missing")?;
                vm.enabled_state = power_state;
                if let Some(r) = vm.replication.as_mut() {
                    r.state = st;
                }
            }
            if h == 0 {
                host0_vms.push(json!({"name": name, "id": id}));
            }
        }
        for v in 0..replicating {
            let name = format!("{prefix}rep-{v:03}");
            let id = world
                .add_replicated_vm(primary, replica, &name, now)
                .ok_or("add_replicated_vm failed")?;
            if h == 0 {
                host0_vms.push(json!({"name": name, "id": id}));
            }
        }
        for v in 0..plain {
            let name = format!("{prefix}plain-{v:03}");
            let id = world.add_vm(replica, &name, now).ok_or("add_vm failed")?;
            if h == 0 {
                host0_vms.push(json!({"name": name, "id": id}));
            }
        }
        let world = Arc::new(Mutex::new(world));
        let start = |name: String, host| {
            let mut config = SimConfig::new(&name).user(USER, &password);
            config.job_duration = Duration::from_millis(job_ms);
            config.latency = latency;
            config.attach = Some((world.clone(), host));
            SimHost::start(config)
        };
        let sim = start(format!("HV-R{h:03}"), replica).await?;
        if serve_primaries {
            served
                .primaries
                .push(start(format!("HV-P{h:03}"), primary).await?);
        }
        served.replicas.push((sim, world));
    }
    let endpoints: Vec<String> = served.replicas.iter().map(|(s, _)| s.endpoint()).collect();
    let ports: Vec<u16> = served.replicas.iter().map(|(s, _)| s.addr().port()).collect();
    let primary_endpoints: Vec<String> = served.primaries.iter().map(SimHost::endpoint).collect();
    let primary_ports: Vec<u16> = served.primaries.iter().map(|s| s.addr().port()).collect();
    println!(
        "{}",
        json!({
            "endpoints": endpoints, "ports": ports, "primary_endpoints": primary_endpoints,
            "primary_ports": primary_ports, "user": USER, "host0_vms": host0_vms,
            "latency_ms": latency.as_secs_f64() * 1e3, "job_ms": job_ms,
        })
    );

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "stats" => println!("{}", stats_json(&served)),
            "check" => println!("{}", check_json(&served.replicas)),
            "jobs" => println!("{}", jobs_json(&served.replicas)),
            "quit" => break,
            "" => {}
            other => println!("{}", json!({"error": format!("unknown command {other}")})),
        }
    }
    for (sim, _) in served.replicas {
        sim.shutdown().await;
    }
    for sim in served.primaries {
        sim.shutdown().await;
    }
    Ok(())
}

/// Counters summed over every served host (replicas and primaries), and per host.
fn stats_json(served: &Served) -> Json {
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    let (mut exchanges, mut requests, mut connections, mut handshakes, mut unauthorized) = (0, 0, 0, 0, 0);
    let mut per_host = Vec::new();
    let all = served
        .replicas
        .iter()
        .map(|(s, _)| s)
        .chain(served.primaries.iter());
    for sim in all {
        let s = sim.stats();
        exchanges += s.exchanges;
        requests += s.requests;
        connections += s.connections;
        handshakes += s.handshakes;
        unauthorized += s.unauthorized;
        for (k, v) in &s.by_action {
            *total.entry(k.clone()).or_default() += v;
        }
        per_host.push(json!({
            "host": sim.host_name(), "exchanges": s.exchanges, "requests": s.requests,
            "connections": s.connections,
        }));
    }
    json!({
        "exchanges": exchanges, "requests": requests, "connections": connections,
        "handshakes": handshakes, "unauthorized": unauthorized, "by_action": total,
        "per_host": per_host,
    })
}

/// Seconds since the Unix epoch, as the runner's `time.time()` reads them.
fn epoch_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every job of every world: where it ran, what it was, when it was submitted and completed.
fn jobs_json(served: &[(SimHost, Arc<Mutex<World>>)]) -> Json {
    let now = SystemTime::now();
    let mut jobs = Vec::new();
    for (_, world) in served {
        let mut w = lock(world);
        w.advance(now);
        for j in &w.jobs {
            jobs.push(json!({
                "host": w.host(j.host).map(|h| h.name.clone()),
                "caption": j.caption,
                "submitted_s": epoch_s(j.submitted),
                "completed_s": j.completed_at.map(epoch_s),
            }));
        }
    }
    json!({ "jobs": jobs })
}

fn check_json(served: &[(SimHost, Arc<Mutex<World>>)]) -> Json {
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    let now = SystemTime::now();
    for (sim, world) in served {
        let mut w = lock(world);
        w.advance(now);
        if let Some(host) = w.host(sim.host_id()) {
            for vm in &host.vms {
                let label = match &vm.replication {
                    Some(r) => format!("{}/{}", mode_name(r.mode), state_name(r.state)),
                    None => "not-replicated".to_owned(),
                };
                *states.entry(label).or_default() += 1;
            }
        }
    }
    json!({ "states": states })
}

fn mode_name(m: u16) -> String {
    match m {
        mode::NONE => "None".into(),
        mode::PRIMARY => "Primary".into(),
        mode::REPLICA => "Replica".into(),
        other => other.to_string(),
    }
}

fn state_name(s: u16) -> String {
    match s {
        state::READY => "Ready".into(),
        state::REPLICATING => "Replicating".into(),
        state::SYNCED => "Synced".into(),
        state::RECOVERED => "Recovered".into(),
        state::COMMITTED => "Committed".into(),
        state::FAILOVER_IN_PROGRESS => "FailoverInProgress".into(),
        other => other.to_string(),
    }
}

async fn client(args: &[String]) -> Result<(), Error> {
    let endpoint: String = opt(args, "--endpoint", None)?;
    let vm: String = opt(args, "--vm", None)?;
    let n: usize = opt(args, "--n", None)?;
    let client = Client::builder(&endpoint)
        .auth(AuthMethod::ntlm(USER, password()?))
        .build()?;
    if !client.is_encrypted() {
        return Err("the client is not encrypting messages".into());
    }
    let cs_uri = wsman_soap::wmi_resource_uri(NS, "Msvm_ComputerSystem");
    let svc_uri = wsman_soap::wmi_resource_uri(NS, "Msvm_ReplicationService");
    let mut cs_sel = SelectorSet::new();
    cs_sel.push("CreationClassName", "Msvm_ComputerSystem");
    cs_sel.push("Name", &vm);
    let mut svc_sel = SelectorSet::new();
    svc_sel.push("CreationClassName", "Msvm_ReplicationService");
    let vm_ref = Value::Reference(Epr::new(&cs_uri, cs_sel.clone()));
    let params = vec![("ComputerSystem".to_owned(), vm_ref)];

    // Connection set-up and NTLM handshake happen on the first request (not timed in the loop).
    let t0 = Instant::now();
    let first = client.get(&cs_uri, &cs_sel).await?;
    let first_s = t0.elapsed().as_secs_f64();
    if first.class_name != "Msvm_ComputerSystem" {
        return Err(format!("unexpected class {}", first.class_name).into());
    }
    let start = Instant::now();
    let mut return_values = BTreeMap::new();
    for _ in 0..n {
        let i = client.get(&cs_uri, &cs_sel).await?;
        if i.class_name != "Msvm_ComputerSystem" {
            return Err(format!("unexpected class {}", i.class_name).into());
        }
        let out = client
            .invoke(&svc_uri, &svc_sel, "InitiateFailover", &params)
            .await?;
        *return_values
            .entry(out.return_value.unwrap_or(u32::MAX))
            .or_insert(0u64) += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "n": n, "requests": 2 * n, "wall_s": wall, "first_request_s": first_s,
            "connections": client.connections_opened(), "return_values": return_values,
        })
    );
    Ok(())
}
