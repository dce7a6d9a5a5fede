//! `hvctl replication recovery-points`: a replica VM's recovery points, over every host and VM
//! like the other commands (the domain side is [`hyperv::drill`]).

use hyperv::RecoveryPointsReport;

use crate::commands::{per_vm, Hosts, Outcome, Resolve};
use crate::output::{human_time, Table};

/// `replication recovery-points`: one table row per point, oldest first; a VM without points
/// says why (they are kept on the replica).
pub async fn recovery_points(hosts: &Hosts, vms: &[String]) -> anyhow::Result<Outcome> {
    const C: &str = "replication recovery-points";
    let records = per_vm(hosts, C, vms, Resolve::Each, |s, vm, _track| async move {
        let report = hyperv::list_recovery_points(&s, &vm).await?;
        let human = none_human(&report);
        Ok((serde_json::to_value(&report)?, human))
    })
    .await;
    let mut table = Table::new(&["HOST", "VM", "TIME", "TYPE", "NAME"])
        .wide_columns(&["INSTANCE ID"])
        .free_text(&["HOST", "VM", "NAME"]);
    for r in records.iter().filter(|r| r.ok) {
        let Ok(report) = serde_json::from_value::<Points>(r.data.clone()) else {
            continue;
        };
        for p in &report.recovery_points {
            table.row(vec![
                report.host.clone(),
                report.vm.clone(),
                p.time
                    .as_deref()
                    .map(human_time)
                    .unwrap_or_else(|| "-".to_owned()),
                if p.application_consistent {
                    "application-consistent"
                } else {
                    "standard"
                }
                .to_owned(),
                p.name.clone(),
                p.instance_id.clone(),
            ]);
        }
    }
    Ok(Outcome {
        command: C.to_owned(),
        records,
        table: Some(table),
    })
}

/// The line for a VM without recovery points (nothing when it has some: the table shows them).
fn none_human(r: &RecoveryPointsReport) -> String {
    if !r.recovery_points.is_empty() {
        return String::new();
    }
    format!(
        "{} on {}: no recovery points (this host's copy is {}; recovery points are kept on the replica)",
        r.vm, r.host, r.replication_mode
    )
}

/// The fields of a [`RecoveryPointsReport`] the table shows, read back from its JSON.
#[derive(serde::Deserialize)]
struct Points {
    host: String,
    vm: String,
    recovery_points: Vec<Point>,
}

#[derive(serde::Deserialize)]
struct Point {
    name: String,
    time: Option<String>,
    application_consistent: bool,
    instance_id: String,
}
