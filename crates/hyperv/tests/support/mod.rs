//! An in-memory [`Wsman`] that records every call and answers from a handler closure, a
//! clock that only moves when the workflow sleeps, and a tiny executor (the fake never pends).
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyperv::{TransportError, Wsman};
use wsman_soap::{
    CimDateTime, Enumerate, Epr, Fault, Instance, Item, MethodOutput, Scalar, SelectorSet, Value,
};

/// Runs a future that never waits on anything outside itself to completion.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete: the fake never pends")
}

/// One request the domain made.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Get {
        uri: String,
        selectors: SelectorSet,
    },
    Enumerate {
        uri: String,
        request: Enumerate,
    },
    Invoke {
        uri: String,
        selectors: SelectorSet,
        method: String,
        params: Vec<(String, Value)>,
    },
}

impl Call {
    pub fn class(&self) -> &str {
        let uri = match self {
            Call::Get { uri, .. } | Call::Enumerate { uri, .. } | Call::Invoke { uri, .. } => uri,
        };
        wsman_soap::class_of(uri)
    }

    /// A one-line summary: `Get Msvm_ComputerSystem`, `Enumerate *`, `Invoke Msvm_X.Method`.
    pub fn summary(&self) -> String {
        match self {
            Call::Get { .. } => format!("Get {}", self.class()),
            Call::Enumerate { .. } => format!("Enumerate {}", self.class()),
            Call::Invoke { method, .. } => format!("Invoke {}.{method}", self.class()),
        }
    }
}

/// What the handler answers.
pub enum Reply {
    Instance(Instance),
    Items(Vec<Item>),
    Output(Instance),
    Err(TransportError),
}

/// Answers a call; gets the fake clock's time since the fake was made.
type Handler = Box<dyn FnMut(&Call, Duration) -> Reply + Send>;

pub struct Fake {
    host: String,
    base: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    handler: Handler,
    calls: Vec<Call>,
    sleeps: Vec<Duration>,
    elapsed: Duration,
    round_trip: Duration,
}

impl Fake {
    pub fn new(host: &str, mut handler: impl FnMut(&Call) -> Reply + Send + 'static) -> Fake {
        Fake::timed(host, move |call, _| handler(call))
    }

    /// A fake whose handler also gets the fake clock's time at the call (for jobs that
    /// progress with time).
    pub fn timed(host: &str, handler: impl FnMut(&Call, Duration) -> Reply + Send + 'static) -> Fake {
        Fake {
            host: host.to_owned(),
            base: Instant::now(),
            inner: Mutex::new(Inner {
                handler: Box::new(handler),
                calls: Vec::new(),
                sleeps: Vec::new(),
                elapsed: Duration::ZERO,
                round_trip: Duration::ZERO,
            }),
        }
    }

    /// Every call costs `d` on the fake clock after the handler answered it (a network round
    /// trip, like the simulator's latency: the host reads its state, then the reply travels).
    pub fn with_round_trip(self, d: Duration) -> Fake {
        self.inner.lock().unwrap().round_trip = d;
        self
    }

    /// The fake clock's time since the fake was made.
    pub fn elapsed(&self) -> Duration {
        self.inner.lock().unwrap().elapsed
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn summaries(&self) -> Vec<String> {
        self.calls().iter().map(Call::summary).collect()
    }

    pub fn invokes(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Invoke { method: m, .. } if m == method))
            .collect()
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.lock().unwrap().sleeps.clone()
    }

    fn answer(&self, call: Call) -> Reply {
        let mut inner = self.inner.lock().unwrap();
        inner.calls.push(call.clone());
        let at = inner.elapsed;
        let reply = (inner.handler)(&call, at);
        let rt = inner.round_trip;
        inner.elapsed += rt;
        reply
    }
}

impl Wsman for Fake {
    fn host(&self) -> &str {
        &self.host
    }

    async fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<Instance, TransportError> {
        match self.answer(Call::Get {
            uri: resource_uri.to_owned(),
            selectors: selectors.clone(),
        }) {
            Reply::Instance(i) => Ok(i),
            Reply::Err(e) => Err(e),
            _ => panic!("bad reply to a Get"),
        }
    }

    async fn enumerate(&self, resource_uri: &str, request: &Enumerate) -> Result<Vec<Item>, TransportError> {
        match self.answer(Call::Enumerate {
            uri: resource_uri.to_owned(),
            request: request.clone(),
        }) {
            Reply::Items(i) => Ok(i),
            Reply::Err(e) => Err(e),
            _ => panic!("bad reply to an Enumerate"),
        }
    }

    async fn invoke(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        method: &str,
        params: &[(String, Value)],
    ) -> Result<MethodOutput, TransportError> {
        let call = Call::Invoke {
            uri: resource_uri.to_owned(),
            selectors: selectors.clone(),
            method: method.to_owned(),
            params: params.to_vec(),
        };
        match self.answer(call) {
            Reply::Output(i) => Ok(MethodOutput::from_instance(i).unwrap()),
            Reply::Err(e) => Err(e),
            _ => panic!("bad reply to an Invoke"),
        }
    }

    async fn sleep(&self, d: Duration) {
        let mut inner = self.inner.lock().unwrap();
        inner.sleeps.push(d);
        inner.elapsed += d;
    }

    fn now(&self) -> Instant {
        self.base + self.inner.lock().unwrap().elapsed
    }
}

// ---- instance builders -------------------------------------------------------------------

pub const NS: &str = "root/virtualization/v2";

pub fn uri(class: &str) -> String {
    wsman_soap::wmi_resource_uri(NS, class)
}

pub fn s(v: &str) -> Value {
    Value::Scalar(Scalar::String(v.to_owned()))
}

pub fn dt(text: &str) -> Value {
    Value::Scalar(Scalar::Datetime(CimDateTime::parse_iso8601(text).unwrap()))
}

/// An `Msvm_ComputerSystem` as WS-Management returns it (untyped text, `cim:Datetime`).
pub fn vm(guid: &str, name: &str, mode: u16, state: u16, enabled: u16) -> Instance {
    Instance::new("Msvm_ComputerSystem")
        .with("Caption", s("Virtual Machine"))
        .with("CreationClassName", s("Msvm_ComputerSystem"))
        .with("Description", s("Microsoft Virtual Machine"))
        .with("ElementName", s(name))
        .with("EnabledState", s(&enabled.to_string()))
        .with("LastReplicationTime", dt("2026-11-25T09:00:00Z"))
        .with("Name", s(guid))
        .with("ReplicationHealth", s("1"))
        .with("ReplicationMode", s(&mode.to_string()))
        .with("ReplicationState", s(&state.to_string()))
}

pub fn host_instance(name: &str) -> Instance {
    Instance::new("Msvm_ComputerSystem")
        .with("CreationClassName", s("Msvm_ComputerSystem"))
        .with("Description", s("Microsoft Hosting Computer System"))
        .with("ElementName", s(name))
        .with("Name", s(name))
        .with("LastReplicationTime", Value::Null)
}

/// The replica-side primary-relationship RSD of a failed-over VM, untyped as read.
pub fn rsd(guid: &str) -> Instance {
    Instance::new("Msvm_ReplicationSettingData")
        .with("AdditionalSettings", Value::Null)
        .with("ApplicationConsistentSnapshotInterval", s("0"))
        .with("AuthenticationType", s("1"))
        .with("AutoResynchronizeEnabled", s("false"))
        .with(
            "AutoResynchronizeIntervalEnd",
            Value::Scalar(Scalar::Datetime(
                CimDateTime::parse_dmtf("00000000060000.000000:000").unwrap(),
            )),
        )
        .with(
            "AutoResynchronizeIntervalStart",
            Value::Scalar(Scalar::Datetime(
                CimDateTime::parse_dmtf("00000000183000.000000:000").unwrap(),
            )),
        )
        .with("BypassProxyServer", s("false"))
        .with("Caption", s("Replication Settings"))
        .with("CertificateThumbPrint", Value::Null)
        .with("CompressionEnabled", s("true"))
        .with("CreationTime", dt("2026-10-01T08:00:00Z"))
        .with("EnableWriteOrderPreservationAcrossDisks", s("true"))
        .with(
            "IncludedDisks",
            Value::Array(vec![
                Scalar::String("disk-1".into()),
                Scalar::String("disk-2".into()),
            ]),
        )
        .with("InstanceID", s(&format!("Microsoft:{guid}\\HVR\\0")))
        .with("PrimaryConnectionPoint", s("hv01.contoso.com"))
        .with("PrimaryHostSystem", s("hv01.contoso.com"))
        .with("RecoveryConnectionPoint", s("hv02.contoso.com"))
        .with("RecoveryHistory", s("0"))
        .with("RecoveryHostSystem", s("hv02.contoso.com"))
        .with("RecoveryServerPortNumber", s("80"))
        .with("ReplicateHostKvpItems", s("true"))
        .with("ReplicationInterval", s("300"))
        .with("VirtualSystemIdentifier", s(guid))
}

pub fn job(id: &str, state: u16, percent: u16) -> Instance {
    Instance::new("Msvm_ConcreteJob")
        .with("Caption", s("Reverse Replication"))
        .with("ErrorCode", s("0"))
        .with("InstanceID", s(id))
        .with("JobState", s(&state.to_string()))
        .with("JobType", s("104"))
        .with("PercentComplete", s(&percent.to_string()))
}

pub fn job_epr(id: &str) -> Epr {
    Epr::new(uri("Msvm_ConcreteJob"), SelectorSet::new().with("InstanceID", id))
}

/// A `{method}_OUTPUT` with a ReturnValue and, for 4096, the Job REF.
pub fn output(method: &str, rv: u32, job_id: Option<&str>) -> Instance {
    let mut i = Instance::new(format!("{method}_OUTPUT"));
    if let Some(j) = job_id {
        i.set("Job", Value::Reference(job_epr(j)));
    }
    i.set("ReturnValue", s(&rv.to_string()));
    i
}

pub fn service_items(host: &str) -> Vec<Item> {
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ReplicationService")
        .with("Name", "replicasvc")
        .with("SystemCreationClassName", "Msvm_ComputerSystem")
        .with("SystemName", host.to_ascii_uppercase());
    vec![Item {
        instance: Some(Instance::new("Msvm_ReplicationService").with("Name", s("replicasvc"))),
        epr: Some(Epr::new(uri("Msvm_ReplicationService"), sel)),
    }]
}

pub fn items(instances: Vec<Instance>) -> Vec<Item> {
    instances
        .into_iter()
        .map(|i| Item {
            instance: Some(i),
            epr: None,
        })
        .collect()
}

/// A fault with a WSManFault code (and a subcode), as the parser produces them.
pub fn fault(wsman_code: u32, subcode: &str) -> TransportError {
    TransportError::Fault(Box::new(Fault {
        code: "Sender".into(),
        subcode: Some(subcode.into()),
        reason: Some(format!("{subcode} fault")),
        wsman_code: Some(wsman_code),
        machine: Some("hv02".into()),
        ..Fault::default()
    }))
}

pub fn not_found() -> TransportError {
    fault(0x8033_8000, "DestinationUnreachable")
}

pub fn cannot_process_filter() -> TransportError {
    fault(0x8033_801A, "CannotProcessFilter")
}

/// A no-op progress sink.
pub fn quiet() -> impl FnMut(&hyperv::JobProgress) + Send {
    |_| {}
}
