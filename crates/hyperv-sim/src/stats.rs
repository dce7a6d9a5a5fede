//! Request and connection counters of one endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// A snapshot of an endpoint's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP exchanges: every request received, whatever its answer (the 401 legs of a
    /// handshake, the empty POST that completes one, SOAP requests, refusals). On a link with
    /// a round-trip time, each one costs a round trip.
    pub exchanges: u64,
    /// SOAP requests received (after authentication and decryption).
    pub requests: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Completed NTLM handshakes.
    pub handshakes: u64,
    /// 401 replies sent.
    pub unauthorized: u64,
    /// Requests by action: `Identify`, `Get`, `Enumerate`, `Pull`, `Release`,
    /// `Invoke:<Method>`, plus `refused-unencrypted` and `invalid`.
    pub by_action: BTreeMap<String, u64>,
    /// Invokes by (VM GUID in upper case, method): the VM the target or the `ComputerSystem`
    /// parameter names (`Msvm_ComputerSystem`'s `Name`, `Msvm_ShutdownComponent`'s
    /// `SystemName`, the reference of a replication service method). Invokes that name no VM
    /// (a job's `GetErrorEx`) are not in it.
    pub by_vm_invoke: BTreeMap<(String, String), u64>,
}

impl Stats {
    /// The count for one action label (0 when never seen).
    pub fn count(&self, label: &str) -> u64 {
        self.by_action.get(label).copied().unwrap_or(0)
    }

    /// How many times `method` was invoked on the VM with this GUID (0 when never).
    pub fn invokes(&self, vm_guid: &str, method: &str) -> u64 {
        self.by_vm_invoke
            .get(&(vm_guid.to_ascii_uppercase(), method.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatsInner {
    exchanges: AtomicU64,
    requests: AtomicU64,
    connections: AtomicU64,
    handshakes: AtomicU64,
    unauthorized: AtomicU64,
    by_action: Mutex<BTreeMap<String, u64>>,
    by_vm_invoke: Mutex<BTreeMap<(String, String), u64>>,
}

impl StatsInner {
    pub(crate) fn exchange(&self) {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn handshake(&self) {
        self.handshakes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn request(&self, label: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .by_action
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label.to_owned())
            .or_default() += 1;
    }
    pub(crate) fn vm_invoke(&self, vm_guid: &str, method: &str) {
        *self
            .by_vm_invoke
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((vm_guid.to_ascii_uppercase(), method.to_owned()))
            .or_default() += 1;
    }
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            exchanges: self.exchanges.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            handshakes: self.handshakes.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            by_action: self
                .by_action
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            by_vm_invoke: self
                .by_vm_invoke
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}
