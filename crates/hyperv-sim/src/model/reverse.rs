//! `Msvm_ReplicationService.ReverseReplicationRelationship` on a failed-over replica: the
//! parameter checks ("Method Parameters Checked" precede the job), the state checks, the
//! recovery server the new settings name, the patches that swap the primary and replica roles,
//! and the job that applies them.

use std::time::SystemTime;

use wsman_soap::{Instance, Scalar, Value};

use super::jobs::VmPatch;
use super::replication::bad_datetime_failure;
use super::{
    mode, output, power, relationship_id, rv, state, Host, HostId, JobFailure, JobInjection, Replication,
    ReplicationSettings, Vm, World, RSD,
};
use crate::embedded::{self, EmbeddedInstance};
use crate::mof;

const M: &str = "ReverseReplicationRelationship";

/// The `ReplicationSettingData` parameter, checked.
struct ReverseParams {
    /// The embedded instance (for the optional properties and its datetimes).
    settings: EmbeddedInstance,
    /// `RecoveryConnectionPoint`, trimmed.
    recovery_connection_point: String,
    /// `RecoveryServerPortNumber`.
    port: u16,
    /// `AuthenticationType` (1 Kerberos, 2 certificate).
    auth: u16,
    /// `CertificateThumbPrint`, trimmed.
    thumbprint: String,
}

impl World {
    pub(super) fn reverse(
        &mut self,
        host: HostId,
        vm_id: &str,
        rsd: Option<&Value>,
        now: SystemTime,
        inj: &JobInjection,
    ) -> Instance {
        let Some(vm) = self.vm(host, vm_id).cloned() else {
            return output(M, rv::INVALID_STATE, None);
        };
        let params = match reverse_params(rsd, vm_id) {
            Ok(p) => p,
            Err(code) => return output(M, code, None),
        };
        let Some(r) = vm.replication.as_ref().filter(|r| can_reverse(r)) else {
            return output(M, rv::INVALID_STATE, None);
        };
        let partner = self.partner(host.0, vm_id);
        let target = partner.map(|p| self.hosts[p].clone());
        let failure = reverse_failure(&vm, &params, target.as_ref());
        let settings = reversed_settings(&self.hosts[host.0], target.as_ref(), &params, &r.settings);
        let planned = partner
            .and_then(|p| self.vm(HostId(p), vm_id))
            .and_then(|v| v.replication.as_ref())
            .is_some_and(|pr| pr.mode == mode::PRIMARY && pr.state == state::SYNCED);
        let success = reverse_patches(host, partner, vm_id, planned, settings);
        let job = self.start_job(
            host,
            104,
            "Reversing replication",
            vm_id,
            now,
            vec![VmPatch::of(host, vm_id)],
            success,
            failure,
            inj,
        );
        output(M, rv::JOB_STARTED, Some(job))
    }
}

/// Parameter checks: an embedded `Msvm_ReplicationSettingData` of this VM, typed as the class
/// declares, naming a recovery connection point, a port and a known authentication type (with
/// a thumbprint for certificates). `Err` is the `ReturnValue`.
fn reverse_params(rsd: Option<&Value>, vm_id: &str) -> Result<ReverseParams, u32> {
    let Some(Value::Scalar(Scalar::String(text))) = rsd else {
        return Err(rv::INVALID_PARAMETER);
    };
    let Ok(e) = embedded::parse(text) else {
        return Err(rv::INVALID_PARAMETER);
    };
    if !e.class_name.eq_ignore_ascii_case(RSD) {
        return Err(rv::INVALID_PARAMETER);
    }
    if let Err(m) = mof::check(&e, mof::REPLICATION_SETTING_DATA) {
        tracing::debug!(?m, "ReverseReplicationRelationship: embedded instance refused");
        return Err(m.return_value());
    }
    let port = e
        .value("RecoveryServerPortNumber")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(0);
    let auth = e
        .value("AuthenticationType")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(0);
    let rcp = e.value("RecoveryConnectionPoint").unwrap_or("").trim().to_owned();
    let thumb = e.value("CertificateThumbPrint").unwrap_or("").trim().to_owned();
    let valid = e
        .value("InstanceID")
        .is_some_and(|id| id.eq_ignore_ascii_case(&relationship_id(vm_id)))
        && !rcp.is_empty()
        && port != 0
        && matches!(auth, 1 | 2)
        && (auth != 2 || !thumb.is_empty());
    if !valid {
        return Err(rv::INVALID_PARAMETER);
    }
    Ok(ReverseParams {
        settings: e,
        recovery_connection_point: rcp,
        port,
        auth,
        thumbprint: thumb,
    })
}

/// State check: only a replica that has failed over (Recovered or Committed) reverses.
fn can_reverse(r: &Replication) -> bool {
    r.mode != mode::PRIMARY && r.mode != mode::NONE && matches!(r.state, state::RECOVERED | state::COMMITTED)
}

/// The failure the job ends with, if any: datetimes not in DMTF form first, else a recovery
/// server that is not the partner host (`target`) or a port it does not listen on for the
/// authentication type.
fn reverse_failure(vm: &Vm, p: &ReverseParams, target: Option<&Host>) -> Option<JobFailure> {
    let bad = p.settings.non_dmtf_datetimes();
    if !bad.is_empty() {
        return Some(bad_datetime_failure(&bad));
    }
    let (rcp, port) = (&p.recovery_connection_point, p.port);
    match target {
        Some(t) if t.fqdn.eq_ignore_ascii_case(rcp) || t.name.eq_ignore_ascii_case(rcp) => {
            let expected = if p.auth == 2 {
                t.replica_https_port
            } else {
                t.replica_http_port
            };
            (port != expected).then(|| JobFailure {
                code: 32768,
                description: format!(
                    "Hyper-V failed to enable reverse replication for '{}': the Replica server '{rcp}' is not listening on port {port} for the requested authentication type (0x00002EFD).",
                    vm.name
                ),
            })
        }
        _ => Some(JobFailure {
            code: 32768,
            description: format!(
                "Hyper-V failed to enable reverse replication for '{}': Hyper-V cannot connect to the specified Replica server '{rcp}'. The server name or address could not be resolved (0x00002EE7).",
                vm.name
            ),
        }),
    }
}

/// The settings after the reverse: this host (`me`) is the primary, the recovery server is the
/// one named; properties the parameter leaves out keep their `current` values.
fn reversed_settings(
    me: &Host,
    target: Option<&Host>,
    p: &ReverseParams,
    current: &ReplicationSettings,
) -> ReplicationSettings {
    let e = &p.settings;
    let bool_of = |n: &str, d: bool| e.value(n).map_or(d, |v| v.trim().eq_ignore_ascii_case("true"));
    let u16_of = |n: &str, d: u16| e.value(n).and_then(|v| v.trim().parse().ok()).unwrap_or(d);
    let rcp = &p.recovery_connection_point;
    ReplicationSettings {
        primary_connection_point: me.fqdn.clone(),
        primary_host_system: me.fqdn.clone(),
        recovery_connection_point: rcp.clone(),
        recovery_host_system: target.map_or(rcp.clone(), |t| t.fqdn.clone()),
        recovery_server_port: p.port,
        authentication_type: p.auth,
        certificate_thumbprint: p.thumbprint.clone(),
        compression_enabled: bool_of("CompressionEnabled", current.compression_enabled),
        bypass_proxy_server: bool_of("BypassProxyServer", current.bypass_proxy_server),
        replication_interval: u16_of("ReplicationInterval", current.replication_interval),
        recovery_history: u16_of("RecoveryHistory", current.recovery_history),
    }
}

/// The success patches: this host becomes the primary and the partner (if any) an off replica;
/// after a planned failover both keep replicating, otherwise initial replication is pending.
fn reverse_patches(
    host: HostId,
    partner: Option<usize>,
    vm_id: &str,
    planned: bool,
    settings: ReplicationSettings,
) -> Vec<VmPatch> {
    let mut success = vec![VmPatch {
        mode: Some(mode::PRIMARY),
        state: Some(if planned { state::REPLICATING } else { state::READY }),
        health: Some(1),
        failed_over_type: Some(0),
        settings: Some(settings.clone()),
        ..VmPatch::of(host, vm_id)
    }];
    if let Some(p) = partner {
        success.push(VmPatch {
            mode: Some(mode::REPLICA),
            state: Some(if planned {
                state::REPLICATING
            } else {
                state::WAITING_INITIAL
            }),
            health: Some(1),
            failed_over_type: Some(0),
            settings: Some(settings),
            enabled_state: Some(power::OFF),
            ..VmPatch::of(HostId(p), vm_id)
        });
    }
    success
}
