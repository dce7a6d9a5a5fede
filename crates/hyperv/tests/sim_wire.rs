//! The whole planned-failover workflow through real envelopes, in process: each [`Wsman`] call
//! is built with the `wsman_soap` request builders, parsed by the server-side parser, executed
//! by the `hyperv-sim` model, written back as a Windows-shaped response and parsed again. No
//! sockets; the simulated clock moves only when the workflow sleeps.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hyperv::{ErrorClass, JobWaitOptions, ReverseOptions, TransportError, VmRef, Wsman};
use hyperv_sim::ops::{execute, EnumStore, OpContext};
use hyperv_sim::{HostId, JobInjection, World, WorldConfig};
use support::block_on;
use wsman_soap::{
    Enumerate, Instance, Item, Limits, MethodOutput, RequestHeader, ResponseBody, SelectorSet, Value,
};

struct Shared {
    world: World,
    base: SystemTime,
    elapsed: Duration,
    injection: JobInjection,
    invokes: Vec<String>,
    drop_invoke_reply: bool,
}

/// One host's endpoint over the shared world.
struct WireSim {
    shared: Arc<Mutex<Shared>>,
    store: Mutex<EnumStore>,
    id: HostId,
    name: String,
    origin: Instant,
    seq: Mutex<u64>,
}

impl WireSim {
    fn header(&self, uri: &str, selectors: &SelectorSet) -> RequestHeader {
        let mut seq = self.seq.lock().unwrap();
        *seq += 1;
        RequestHeader::new(
            format!("http://{}:5985/wsman", self.name),
            uri,
            format!("uuid:00000000-0000-4000-8000-{:012}", *seq),
        )
        .with_selectors(selectors.clone())
    }

    /// Sends an envelope through the server parser, the model and the response writer/parser.
    fn roundtrip(&self, envelope: String) -> Result<ResponseBody, TransportError> {
        let req = wsman_soap::parse_request(envelope.as_bytes(), &Limits::default())
            .map_err(|e| TransportError::Other(format!("server rejected the request: {e}")))?;
        let mut sh = self.shared.lock().unwrap();
        let now = sh.base + sh.elapsed;
        let instant = self.origin + sh.elapsed;
        let injection = sh.injection.clone();
        let body = {
            let cx = OpContext {
                host: self.id,
                machine: &self.name,
                now,
                instant,
                injection: &injection,
            };
            let mut store = self.store.lock().unwrap();
            execute(&mut sh.world, &mut store, &req, &cx)
        };
        let action = if matches!(body, ResponseBody::Fault(_)) {
            wsman_soap::ns::ACTION_FAULT.to_owned()
        } else {
            wsman_soap::response_action(&req.header.action)
        };
        let text = wsman_soap::write_response(&action, "uuid:resp", &req.header.message_id, &body);
        let resp = wsman_soap::parse_response(text.as_bytes(), &Limits::default())
            .map_err(|e| TransportError::Other(format!("bad response: {e}")))?;
        resp.header.check_relates_to(&req.header.message_id).unwrap();
        match resp.body {
            ResponseBody::Fault(f) => Err(TransportError::Fault(Box::new(f))),
            other => Ok(other),
        }
    }
}

impl Wsman for WireSim {
    fn host(&self) -> &str {
        &self.name
    }

    async fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<Instance, TransportError> {
        match self.roundtrip(wsman_soap::get(&self.header(resource_uri, selectors)))? {
            ResponseBody::Instance(i) => Ok(i),
            other => Err(TransportError::Other(format!("unexpected {other:?}"))),
        }
    }

    async fn enumerate(&self, resource_uri: &str, request: &Enumerate) -> Result<Vec<Item>, TransportError> {
        let h = self.header(resource_uri, &SelectorSet::new());
        let mut out = Vec::new();
        let mut body = self.roundtrip(wsman_soap::enumerate(&h, request))?;
        loop {
            let ResponseBody::Enumeration(page) = body else {
                return Err(TransportError::Other(format!("unexpected {body:?}")));
            };
            out.extend(page.items);
            match page.context {
                Some(ctx) if !page.end_of_sequence => {
                    let h = self.header(resource_uri, &SelectorSet::new());
                    body = self.roundtrip(wsman_soap::pull(&h, &ctx, Some(20)))?;
                }
                _ => return Ok(out),
            }
        }
    }

    async fn invoke(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> Result<MethodOutput, TransportError> {
        self.shared
            .lock()
            .unwrap()
            .invokes
            .push(format!("{}:{method}", self.name));
        let body = self.roundtrip(wsman_soap::invoke(
            &self.header(resource_uri, selectors),
            method,
            params,
        ))?;
        if std::mem::take(&mut self.shared.lock().unwrap().drop_invoke_reply) {
            return Err(TransportError::OutcomeUnknown {
                detail: "connection closed before the reply".into(),
            });
        }
        match body {
            ResponseBody::Instance(i) => {
                MethodOutput::from_instance(i).map_err(|e| TransportError::Other(e.to_string()))
            }
            other => Err(TransportError::Other(format!("unexpected {other:?}"))),
        }
    }

    async fn sleep(&self, d: Duration) {
        self.shared.lock().unwrap().elapsed += d;
    }

    fn now(&self) -> Instant {
        self.origin + self.shared.lock().unwrap().elapsed
    }
}

/// hv01 (primary) and hv02 (replica) with `web01` replicating between them.
fn pair() -> (WireSim, WireSim, Arc<Mutex<Shared>>, String) {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let mut world = World::new(WorldConfig::default());
    let hv01 = world.add_host("HV01", "hv01.contoso.com");
    let hv02 = world.add_host("HV02", "hv02.contoso.com");
    let guid = world.add_replicated_vm(hv01, hv02, "web01", base).unwrap();
    let shared = Arc::new(Mutex::new(Shared {
        world,
        base,
        elapsed: Duration::ZERO,
        injection: JobInjection::default(),
        invokes: Vec::new(),
        drop_invoke_reply: false,
    }));
    let origin = Instant::now();
    let mk = |id, name: &str| WireSim {
        shared: shared.clone(),
        store: Mutex::new(EnumStore::new(Duration::from_secs(60))),
        id,
        name: name.to_owned(),
        origin,
        seq: Mutex::new(0),
    };
    (mk(hv01, "hv01"), mk(hv02, "hv02"), shared, guid)
}

fn web01() -> VmRef {
    VmRef::parse("web01")
}

fn fast() -> JobWaitOptions {
    JobWaitOptions {
        timeout: Duration::from_secs(60),
        ..JobWaitOptions::default()
    }
}

#[test]
fn planned_failover_and_reverse_end_to_end_over_envelopes() {
    let (hv01, hv02, shared, guid) = pair();
    let w = fast();
    let mut pct = Vec::new();
    let mut progress = |p: &hyperv::JobProgress| pct.push(p.percent_complete);

    // Preflight refuses a reverse before the failover.
    let e = block_on(hyperv::reverse_replication(
        &hv02,
        &web01(),
        &ReverseOptions::default(),
        &w,
        &mut progress,
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidState, "{e}");
    assert!(
        e.to_string()
            .contains("web01 on hv02 is Replicating: reverse needs a failed-over VM"),
        "{e}"
    );

    // Primary: stop, prepare.
    let r = block_on(hyperv::stop_vm(&hv01, &web01(), &w, &mut progress)).unwrap();
    assert_eq!(r.after.enabled_state, hyperv::EnabledState::Off);
    let r = block_on(hyperv::prepare_failover(&hv01, &web01(), &w, &mut progress)).unwrap();
    assert_eq!(
        r.after.ps_replication_state.name(),
        "PreparedForFailover",
        "{r:?}"
    );
    assert!(r.job_id.is_some());

    // Replica: fail over (latest point), reverse, start.
    let r = block_on(hyperv::start_failover(&hv02, &web01(), None, &w, &mut progress)).unwrap();
    assert_eq!(
        r.after.ps_replication_state.name(),
        "FailedOverWaitingCompletion",
        "{r:?}"
    );
    let status = block_on(hyperv::replication_status(&hv02, &VmRef::parse(&guid))).unwrap();
    assert_eq!(
        status
            .settings
            .as_ref()
            .unwrap()
            .primary_connection_point
            .as_deref(),
        Some("hv01.contoso.com")
    );

    let r = block_on(hyperv::reverse_replication(
        &hv02,
        &web01(),
        &ReverseOptions::default(),
        &w,
        &mut progress,
    ))
    .unwrap();
    assert_eq!(
        r.before.ps_replication_state.name(),
        "FailedOverWaitingCompletion"
    );
    assert_eq!(
        r.after.replication_mode,
        hyperv::ReplicationMode::Primary,
        "{r:?}"
    );
    assert_eq!(
        r.reverse.as_ref().unwrap().recovery_connection_point,
        "hv01.contoso.com"
    );
    assert!(r.job_id.is_some());
    assert!(r.duration > Duration::ZERO);

    let r = block_on(hyperv::start_vm(&hv02, &web01(), &w, &mut progress)).unwrap();
    assert_eq!(r.after.enabled_state, hyperv::EnabledState::Running);

    // The old primary is now the replica.
    let old = block_on(hyperv::find_vm(&hv01, &web01())).unwrap();
    assert_eq!(old.replication_mode, hyperv::ReplicationMode::Replica, "{old:?}");
    let now = block_on(hyperv::replication_status(&hv02, &web01())).unwrap();
    assert_eq!(
        now.settings.unwrap().recovery_connection_point.as_deref(),
        Some("hv01.contoso.com")
    );

    assert!(pct.contains(&Some(100)), "progress seen: {pct:?}");
    let invokes = shared.lock().unwrap().invokes.clone();
    assert_eq!(
        invokes,
        [
            "hv01:RequestStateChange",
            "hv01:RequestReplicationStateChangeEx",
            "hv02:InitiateFailover",
            "hv02:ReverseReplicationRelationship",
            "hv02:RequestStateChange"
        ]
    );
}

#[test]
fn a_dropped_reply_is_outcome_unknown_and_the_state_shows_what_happened() {
    let (hv01, hv02, shared, _) = pair();
    let w = fast();
    block_on(hyperv::stop_vm(&hv01, &web01(), &w, &mut support::quiet())).unwrap();
    block_on(hyperv::prepare_failover(
        &hv01,
        &web01(),
        &w,
        &mut support::quiet(),
    ))
    .unwrap();
    shared.lock().unwrap().drop_invoke_reply = true;
    let e = block_on(hyperv::start_failover(
        &hv02,
        &web01(),
        None,
        &w,
        &mut support::quiet(),
    ))
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    assert!(
        e.to_string()
            .contains("`hvctl replication status web01 --host hv02`"),
        "{e}"
    );
    let n = shared
        .lock()
        .unwrap()
        .invokes
        .iter()
        .filter(|i| i.ends_with("InitiateFailover"))
        .count();
    assert_eq!(n, 1, "never re-sent");
    // The operator's check: the host did run it.
    shared.lock().unwrap().elapsed += Duration::from_secs(10);
    let st = block_on(hyperv::replication_status(&hv02, &web01())).unwrap();
    assert_eq!(st.vm.ps_replication_state.name(), "FailedOverWaitingCompletion");
}

#[test]
fn a_failing_job_comes_back_with_its_error_code_and_msvm_errors() {
    let (hv01, hv02, shared, _) = pair();
    let w = fast();
    block_on(hyperv::stop_vm(&hv01, &web01(), &w, &mut support::quiet())).unwrap();
    block_on(hyperv::prepare_failover(
        &hv01,
        &web01(),
        &w,
        &mut support::quiet(),
    ))
    .unwrap();
    block_on(hyperv::start_failover(
        &hv02,
        &web01(),
        None,
        &w,
        &mut support::quiet(),
    ))
    .unwrap();
    // Reverse towards a server that is not the partner: the simulated job fails like Windows.
    let opts = ReverseOptions {
        replica_server: Some("nowhere.contoso.com".into()),
        ..ReverseOptions::default()
    };
    let e = block_on(hyperv::reverse_replication(
        &hv02,
        &web01(),
        &opts,
        &w,
        &mut support::quiet(),
    ))
    .unwrap_err();
    let hyperv::Error::JobFailed {
        code,
        ref description,
        ref errors,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(code, 32768);
    assert!(
        description.as_deref().unwrap().contains("nowhere.contoso.com"),
        "{description:?}"
    );
    assert!(!errors.is_empty(), "GetErrorEx gave the Msvm_Error list");
    assert!(
        errors[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("nowhere.contoso.com"),
        "{errors:?}"
    );
    assert_eq!(e.exit_code(), 6);
    drop(shared);
}

/// `shutdown_vm` over envelopes: the shutdown component found by WQL, `InitiateShutdown`
/// (Force, Reason) invoked once, the VM read until Off on the virtual clock; a wait shorter
/// than the guest's shutdown is `ShutdownTimeout` (exit class connection), naming
/// `--turn-off`; a VM that is off is nothing to do.
#[test]
fn shutdown_asks_the_guest_and_waits_until_off() {
    let (hv01, _hv02, shared, _) = pair();
    let short = JobWaitOptions {
        timeout: Duration::from_millis(600),
        ..JobWaitOptions::default()
    };
    let e = block_on(hyperv::shutdown_vm(
        &hv01,
        &web01(),
        false,
        &short,
        &mut support::quiet(),
    ))
    .unwrap_err();
    assert!(matches!(e, hyperv::Error::ShutdownTimeout { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Connection);
    assert!(e.to_string().contains("hvctl vm stop --turn-off web01"), "{e}");
    // It still turns off: the next shutdown finds it off and sends nothing.
    shared.lock().unwrap().elapsed += Duration::from_secs(2);
    let r = block_on(hyperv::shutdown_vm(
        &hv01,
        &web01(),
        false,
        &fast(),
        &mut support::quiet(),
    ))
    .unwrap();
    assert_eq!(r.method, None);
    assert_eq!(r.after.enabled_state, hyperv::EnabledState::Off);
    let invokes = shared.lock().unwrap().invokes.clone();
    assert_eq!(invokes, ["hv01:InitiateShutdown"]);

    block_on(hyperv::start_vm(&hv01, &web01(), &fast(), &mut support::quiet())).unwrap();
    let r = block_on(hyperv::shutdown_vm(
        &hv01,
        &web01(),
        true,
        &fast(),
        &mut support::quiet(),
    ))
    .unwrap();
    assert_eq!(r.method.as_deref(), Some("InitiateShutdown"));
    assert_eq!(r.operation, hyperv::Operation::ShutdownVm);
    assert_eq!(r.before.enabled_state, hyperv::EnabledState::Running);
    assert_eq!(r.after.enabled_state, hyperv::EnabledState::Off);
}
