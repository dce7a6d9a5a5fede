//! Method dispatch: `invoke` resolves the target instance (a missing one is a fault, as on
//! Windows), picks the method by class and name, reads its parameters and hands over to the
//! state machine (`vm`, `replication`, `reverse`, `drill`) or to the job errors (`jobs`).

use std::time::SystemTime;

use wsman_soap::{Instance, SelectorSet, Value};

use super::{output, rv, HostId, JobInjection, Object, World, CS};
use crate::fault::SimFault;

impl World {
    /// Invokes a method on the instance named by class and selectors; returns the
    /// `{method}_OUTPUT` instance. Method-level refusals are `ReturnValue`s; a missing instance is
    /// a fault, as on Windows.
    #[allow(clippy::too_many_arguments)]
    pub fn invoke(
        &mut self,
        host: HostId,
        class: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
        now: SystemTime,
        injection: &JobInjection,
    ) -> Result<Instance, SimFault> {
        self.advance(now);
        let target = self.resolve(host, class, selectors, now, "ExecMethod")?;
        match (class.to_ascii_lowercase().as_str(), method) {
            ("msvm_computersystem", "RequestStateChange") => {
                let vm_id = key_of(&target, "Name");
                let req = requested_state(params);
                Ok(self.request_state_change(host, &vm_id, req, now, injection))
            }
            ("msvm_computersystem", "RequestReplicationStateChangeEx" | "RequestReplicationStateChange") => {
                let vm_id = key_of(&target, "Name");
                let req = requested_state(params);
                let rel = param(params, "ReplicationRelationship");
                Ok(self.request_replication_state_change(host, method, &vm_id, req, rel, now, injection))
            }
            (
                "msvm_replicationservice",
                "InitiateFailover"
                | "CommitFailover"
                | "RevertFailover"
                | "ReverseReplicationRelationship"
                | "Resynchronize"
                | "GetReplicationStatisticsEx"
                | "TestReplicaSystem",
            ) => self.invoke_service(host, method, params, now, injection),
            ("msvm_virtualsystemmanagementservice", "DestroySystem") => Ok(
                match self.computer_system_param(host, params, "AffectedSystem", now)? {
                    Some(vm_id) => self.destroy_system(host, &vm_id, now, injection),
                    None => output(method, rv::INVALID_PARAMETER, None),
                },
            ),
            ("msvm_shutdowncomponent", "InitiateShutdown") => {
                let vm_id = key_of(&target, "SystemName");
                let scalar = |name| param(params, name).and_then(|v| v.as_scalar());
                let force = scalar("Force").and_then(|v| v.as_bool());
                let reason = scalar("Reason").and_then(|v| v.as_str());
                Ok(self.initiate_shutdown(host, &vm_id, force, reason, now))
            }
            ("msvm_concretejob", "GetErrorEx" | "GetError") => {
                Ok(self.get_error(&key_of(&target, "InstanceID"), method))
            }
            _ => Err(SimFault::provider_error(
                0x8004_1055,
                "ExecMethod",
                &format!("{class}.{method}"),
            )),
        }
    }

    /// A failover method of `Msvm_ReplicationService`: the VM its `ComputerSystem` names, then
    /// the method.
    fn invoke_service(
        &mut self,
        host: HostId,
        method: &str,
        params: &[(String, Value)],
        now: SystemTime,
        injection: &JobInjection,
    ) -> Result<Instance, SimFault> {
        let Some(vm_id) = self.computer_system_param(host, params, "ComputerSystem", now)? else {
            return Ok(output(method, rv::INVALID_PARAMETER, None));
        };
        Ok(match method {
            "InitiateFailover" => {
                let snap = param(params, "SnapshotSettingData");
                self.initiate_failover(host, &vm_id, snap, now, injection)
            }
            "CommitFailover" => self.commit_failover(host, &vm_id, now, injection),
            "RevertFailover" => self.revert_failover(host, &vm_id, now, injection),
            "Resynchronize" => self.resynchronize(host, &vm_id, param(params, "StartTime"), now, injection),
            "GetReplicationStatisticsEx" => {
                self.replication_statistics(host, &vm_id, param(params, "ReplicationRelationship"), now)
            }
            "TestReplicaSystem" => {
                let snap = param(params, "SnapshotSettingData");
                self.test_replica_system(host, &vm_id, snap, now, injection)
            }
            _ => {
                let rsd = param(params, "ReplicationSettingData");
                self.reverse(host, &vm_id, rsd, now, injection)
            }
        })
    }

    /// Target resolution of a VM parameter (`ComputerSystem`, `AffectedSystem`): a reference to an existing instance
    /// (a fault otherwise) of a VM's `Msvm_ComputerSystem`; `None` when it is not a VM reference
    /// (`ReturnValue` invalid parameter).
    fn computer_system_param(
        &self,
        host: HostId,
        params: &[(String, Value)],
        name: &str,
        now: SystemTime,
    ) -> Result<Option<String>, SimFault> {
        let Some(Value::Reference(epr)) = param(params, name) else {
            return Ok(None);
        };
        let o = self.resolve(host, epr.class_name(), &epr.selectors, now, "ExecMethod")?;
        if !epr.class_name().eq_ignore_ascii_case(CS) {
            return Ok(None);
        }
        let vm_id = key_of(&o, "Name");
        // The host instance itself is not a VM.
        Ok(self.vm(host, &vm_id).is_some().then_some(vm_id))
    }
}

/// The parameter of this name (case-insensitive).
fn param<'a>(params: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The `RequestedState` parameter as a number.
fn requested_state(params: &[(String, Value)]) -> Option<u64> {
    param(params, "RequestedState")
        .and_then(|v| v.as_scalar())
        .and_then(|s| s.as_u64())
}

/// A string property of the target instance (empty when absent).
fn key_of(target: &Object, name: &str) -> String {
    target.instance.get_str(name).unwrap_or_default().to_owned()
}
