//! `hvctl replication measure | suspend | resume | resync`: replication health and control, over
//! every host and VM like the other commands (the domain side is [`hyperv::health`]).

use hyperv::{HealthOp, MeasureReport, Planned};
use serde_json::Value as Json;

use crate::commands::{cell, dry_run, operation, per_vm, Hosts, Outcome, Resolve};
use crate::output::{human_time, Table};

/// `replication suspend`, `resume` or `resync` (the preflight, the invoke and its job, the state
/// read back), or its `--dry-run`.
pub async fn control(hosts: &Hosts, op: HealthOp, vms: &[String], dry: bool) -> anyhow::Result<Outcome> {
    let command = op.operation().verb();
    if dry {
        return dry_run(hosts, command, vms, Planned::Health(op)).await;
    }
    operation(hosts, command, vms, |s, vm, track| {
        let wait = hosts.wait;
        let mut cb = hosts.callback(track);
        async move {
            match op {
                HealthOp::Suspend => hyperv::suspend_replication(&s, &vm, &wait, &mut cb).await,
                HealthOp::Resume => hyperv::resume_replication(&s, &vm, &wait, &mut cb).await,
                HealthOp::Resync => hyperv::resync_replication(&s, &vm, &wait, &mut cb).await,
            }
        }
    })
    .await
}

/// `replication measure`: a table of the statistics, and under it each VM's health issues.
pub async fn measure(hosts: &Hosts, vms: &[String]) -> anyhow::Result<Outcome> {
    const C: &str = "replication measure";
    let records = per_vm(hosts, C, vms, Resolve::Each, |s, vm, track| {
        let wait = hosts.wait;
        let mut cb = hosts.callback(track);
        async move {
            let report = hyperv::measure_replication(&s, &vm, &wait, &mut cb).await?;
            let human = issues_human(&report);
            Ok((serde_json::to_value(&report)?, human))
        }
    })
    .await;
    let mut table = Table::new(&[
        "HOST",
        "VM",
        "STATE",
        "HEALTH",
        "LAST REPLICATION",
        "AVG SIZE",
        "MAX SIZE",
        "LATENCY",
        "ERRORS",
        "SUCCESSES",
    ])
    .wide_columns(&[
        "MISSED",
        "PENDING",
        "MAX LATENCY",
        "NETWORK ERRORS",
        "SINCE",
        "GUID",
    ])
    .free_text(&["HOST", "VM"]);
    for r in records.iter().filter(|r| r.ok) {
        table.row(measure_row(&r.data));
    }
    Ok(Outcome {
        command: C.to_owned(),
        records,
        table: Some(table),
    })
}

/// The health issues of one VM, one line each (nothing when there are none).
fn issues_human(r: &MeasureReport) -> String {
    r.health_issues
        .iter()
        .map(|e| {
            format!(
                "{} on {}: {}: {}{}",
                r.vm,
                r.host,
                r.replication_health,
                e.message.as_deref().unwrap_or("(no message)"),
                e.message_id
                    .as_deref()
                    .map(|id| format!(" (message {id})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bytes in the binary units `Measure-VMReplication` shows sizes in (MB there, here scaled).
fn size(v: &Json) -> String {
    let Some(n) = v.as_u64() else {
        return cell(v);
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

fn seconds(v: &Json) -> String {
    v.as_u64().map_or_else(|| cell(v), |n| format!("{n}s"))
}

fn measure_row(rep: &Json) -> Vec<String> {
    let st = &rep["statistics"];
    vec![
        cell(&rep["host"]),
        cell(&rep["vm"]),
        cell(&rep["ps_replication_state"]),
        cell(&rep["replication_health"]),
        human_time(&cell(&rep["last_replication_time"])),
        size(&st["average_replication_size"]),
        size(&st["max_replication_size"]),
        seconds(&st["replication_latency"]),
        cell(&st["replication_failure_count"]),
        cell(&st["replication_success_count"]),
        cell(&st["replication_miss_count"]),
        size(&st["pending_replication_size"]),
        seconds(&st["max_replication_latency"]),
        cell(&st["network_failure_count"]),
        human_time(&cell(&st["start_statistic_time"])),
        cell(&rep["guid"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_latencies_read_like_measure_vmreplication() {
        assert_eq!(size(&json!(512)), "512 B");
        assert_eq!(size(&json!(10_485_760)), "10.0 MiB");
        assert_eq!(size(&json!(null)), "-");
        assert_eq!(seconds(&json!(12)), "12s");
        assert_eq!(seconds(&json!(null)), "-");
    }
}
