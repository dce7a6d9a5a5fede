//! MaxEnvelopeSize over the real wire path (NTLM, sealed bodies): enumeration pages shrink to
//! fit the request's `w:MaxEnvelopeSize`, a response that cannot fit is `w:EncodingLimit`
//! (0x80338048), and a request envelope over the listener's `MaxEnvelopeSizekb` gets HTTP 413.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use hyperv_sim::model::uri;
use hyperv_sim::{SimConfig, SimHost};
use support::{ntlm, Client};
use wsman_soap::request::{self, Enumerate, EnumerationMode, RequestHeader};
use wsman_soap::response::{parse_response, EnumerationPage, Fault, KnownFault, ResponseBody};
use wsman_soap::{ns, Limits, Scalar, SelectorSet, Value};

const USER: &str = "HV\\operator";
const VMS: usize = 30;

async fn host(pw: &str, max_envelope_size_kb: u32) -> SimHost {
    let mut cfg = SimConfig::new("HV-SIM").user(USER, pw);
    cfg.max_envelope_size_kb = max_envelope_size_kb;
    let h = SimHost::start(cfg).await.unwrap();
    for n in 0..VMS {
        h.add_vm(&format!("vm-{n:02}"));
    }
    h
}

async fn session(h: &SimHost, pw: &str) -> Client {
    let mut c = Client::connect(h.addr()).await;
    let r = c.handshake(ntlm(USER, pw, None), "Negotiate").await.unwrap();
    assert_eq!(r.status, 200);
    c
}

fn hdr(h: &SimHost, class: &str, sel: SelectorSet, max_envelope: u32) -> RequestHeader {
    let id = format!("uuid:{}", hyperv_sim::model::new_guid());
    let mut r = RequestHeader::new(h.endpoint(), uri(class), id).with_selectors(sel);
    r.max_envelope_size = max_envelope;
    r
}

/// Sends a sealed request; returns (HTTP status, unsealed envelope length, parsed body).
async fn call(c: &mut Client, xml: &str) -> (u16, usize, ResponseBody) {
    let (r, plain) = c.soap_raw(xml).await.unwrap();
    let plain = plain.unwrap_or_else(|e| panic!("status {}: {e}", r.status));
    let parsed = parse_response(&plain, &Limits::default()).unwrap();
    (r.status, plain.len(), parsed.body)
}

fn page(body: ResponseBody) -> EnumerationPage {
    match body {
        ResponseBody::Enumeration(p) => p,
        other => panic!("expected an enumeration page, got {other:?}"),
    }
}

fn fault(body: ResponseBody) -> Fault {
    match body {
        ResponseBody::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn names(p: &EnumerationPage) -> Vec<String> {
    p.items
        .iter()
        .map(|i| {
            let inst = i.instance.as_ref().unwrap();
            inst.get_str("ElementName").unwrap().to_owned()
        })
        .collect()
}

/// Asserts an EncodingLimit fault naming `max` as the allowed size; returns the computed size.
fn assert_encoding_limit(status: u16, body: ResponseBody, max: usize) -> usize {
    assert_eq!(status, 500);
    let f = fault(body);
    assert_eq!(f.known(), Some(KnownFault::EncodingLimit));
    assert_eq!(f.code, "Sender");
    assert_eq!(f.subcode.as_deref(), Some("EncodingLimit"));
    assert_eq!(f.wsman_code, Some(0x8033_8048));
    assert_eq!(f.machine.as_deref(), Some("HV-SIM"));
    assert_eq!(
        f.fault_details,
        vec![ns::FAULT_DETAIL_MAX_ENVELOPE_SIZE.to_owned()]
    );
    assert!(f.is_max_envelope_size_exceeded());
    let msg = f.message.unwrap();
    let allowed = format!("exceeds the maximum envelope size that is allowed ({max})");
    assert!(msg.contains(&allowed), "{msg}");
    let size: usize = msg
        .split("computed response packet size (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > max, "{size} <= {max}");
    size
}

fn enumerate_all(max_elements: u32) -> Enumerate {
    Enumerate {
        filter: None,
        mode: EnumerationMode::Objects,
        optimize: true,
        max_elements: Some(max_elements),
    }
}

/// Every page (Enumerate and Pull) of a 31-instance enumeration fits 8192 bytes though the
/// client asks for 100 items at a time; all instances arrive, once each.
#[tokio::test]
async fn pages_shrink_to_fit_max_envelope_size() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 500).await;
    let mut c = session(&h, &pw).await;
    const MAX: u32 = 8192;

    let enumerate = request::enumerate(
        &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), MAX),
        &enumerate_all(100),
    );
    let (status, len, body) = call(&mut c, &enumerate).await;
    assert_eq!(status, 200);
    assert!(len <= MAX as usize, "{len}");
    let mut p = page(body);
    assert!(!p.items.is_empty());
    assert!(p.items.len() < VMS + 1, "the first page was not trimmed");
    assert!(!p.end_of_sequence);
    let mut seen = names(&p);
    let mut pages = 1;
    while let Some(ctx) = p.context.clone() {
        let pull = request::pull(
            &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), MAX),
            &ctx,
            Some(100),
        );
        let (status, len, body) = call(&mut c, &pull).await;
        assert_eq!(status, 200);
        assert!(len <= MAX as usize, "{len}");
        p = page(body);
        assert!(!p.items.is_empty());
        seen.extend(names(&p));
        pages += 1;
    }
    assert!(p.end_of_sequence);
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen.len(), VMS + 1);
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), VMS + 1);
    for n in 0..VMS {
        assert!(distinct.contains(&format!("vm-{n:02}")), "vm-{n:02} missing");
    }
    assert_eq!(h.open_enumerations(), 0);

    // With the default 512000 bytes the same request is answered in one page.
    let enumerate = request::enumerate(
        &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), 512_000),
        &enumerate_all(100),
    );
    let (_, _, body) = call(&mut c, &enumerate).await;
    let p = page(body);
    assert_eq!(p.items.len(), VMS + 1);
    assert!(p.end_of_sequence);
    h.shutdown().await;
}

/// A Get whose response is one byte over the request's MaxEnvelopeSize is the EncodingLimit
/// fault reporting the exact computed size; at the exact size it is answered.
#[tokio::test]
async fn get_over_max_envelope_size_is_encoding_limit() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 500).await;
    let vm = h.vm_id("vm-00").unwrap();
    let mut c = session(&h, &pw).await;
    let sel = || {
        SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", vm.clone())
    };
    let get = request::get(&hdr(&h, "Msvm_ComputerSystem", sel(), 512_000));
    let (status, full, body) = call(&mut c, &get).await;
    assert_eq!(status, 200);
    assert!(matches!(body, ResponseBody::Instance(_)));

    let exact = u32::try_from(full).unwrap();
    let (status, len, body) = call(
        &mut c,
        &request::get(&hdr(&h, "Msvm_ComputerSystem", sel(), exact)),
    )
    .await;
    assert_eq!((status, len), (200, full));
    assert!(matches!(body, ResponseBody::Instance(_)));

    let (status, _, body) = call(
        &mut c,
        &request::get(&hdr(&h, "Msvm_ComputerSystem", sel(), exact - 1)),
    )
    .await;
    let size = assert_encoding_limit(status, body, full - 1);
    assert_eq!(size, full);
    // The session is still in step after the fault.
    let (status, _, _) = call(&mut c, &get).await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

/// An Invoke whose output does not fit is the EncodingLimit fault, but the method ran (the
/// response is computed after execution, as on Windows).
#[tokio::test]
async fn invoke_over_max_envelope_size_is_encoding_limit() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 500).await;
    let vm = h.vm_id("vm-01").unwrap();
    let mut c = session(&h, &pw).await;
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", vm.clone());
    let params = vec![("RequestedState".to_owned(), Value::Scalar(Scalar::Uint16(2)))];
    let invoke = request::invoke(
        &hdr(&h, "Msvm_ComputerSystem", sel.clone(), 600),
        "RequestStateChange",
        &params,
    );
    let (status, _, body) = call(&mut c, &invoke).await;
    assert_encoding_limit(status, body, 600);
    assert_eq!(h.stats().count("Invoke:RequestStateChange"), 1);
    let (_, _, body) = call(
        &mut c,
        &request::get(&hdr(&h, "Msvm_ComputerSystem", sel, 512_000)),
    )
    .await;
    let ResponseBody::Instance(i) = body else {
        panic!("{body:?}")
    };
    // 10 = Starting: the state change started although its answer was refused.
    assert_ne!(i.get_u16("EnabledState"), Some(3), "the method did not run");
    h.shutdown().await;
}

/// When not even one instance fits: Enumerate answers EncodingLimit and leaves no context; a
/// Pull answers EncodingLimit and keeps its context, so a Pull with room gets the item.
#[tokio::test]
async fn single_item_too_large_for_a_page() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 500).await;
    let mut c = session(&h, &pw).await;
    const TINY: u32 = 1500;
    let enumerate = request::enumerate(
        &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), TINY),
        &enumerate_all(5),
    );
    let (status, _, body) = call(&mut c, &enumerate).await;
    assert_encoding_limit(status, body, TINY as usize);
    assert_eq!(h.open_enumerations(), 0);

    // Non-optimized: the EnumerateResponse only carries the context, which fits.
    let e = Enumerate {
        optimize: false,
        ..enumerate_all(5)
    };
    let (status, _, body) = call(
        &mut c,
        &request::enumerate(&hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), TINY), &e),
    )
    .await;
    assert_eq!(status, 200);
    let ctx = page(body).context.unwrap();
    let pull = |max| {
        request::pull(
            &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), max),
            &ctx,
            Some(5),
        )
    };
    let (status, _, body) = call(&mut c, &pull(TINY)).await;
    assert_encoding_limit(status, body, TINY as usize);
    assert_eq!(h.open_enumerations(), 1);
    let (status, _, body) = call(&mut c, &pull(512_000)).await;
    assert_eq!(status, 200);
    let p = page(body);
    assert_eq!(p.items.len(), 5, "the refused Pull lost items");
    h.shutdown().await;
}

/// Sends `RequestStateChange` with a `RequestedState` string of `kib` KiB.
fn oversized_invoke(h: &SimHost, vm: &str, kib: usize) -> String {
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", vm);
    let params = vec![(
        "RequestedState".to_owned(),
        Value::Scalar(Scalar::String("2".repeat(kib * 1024))),
    )];
    request::invoke(
        &hdr(h, "Msvm_ComputerSystem", sel, 512_000),
        "RequestStateChange",
        &params,
    )
}

/// The listener's MaxEnvelopeSizekb: a request envelope over it gets HTTP 413 and is not
/// executed (the session stays usable), and it caps a larger request MaxEnvelopeSize.
#[tokio::test]
async fn listener_max_envelope_size_kb() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 32).await;
    let vm = h.vm_id("vm-02").unwrap();
    let mut c = session(&h, &pw).await;
    let big = oversized_invoke(&h, &vm, 33);
    assert!(big.len() > 32 * 1024);
    let (r, _) = c.soap_raw(&big).await.unwrap();
    assert_eq!(r.status, 413);
    assert!(r.body.is_empty());
    let s = h.stats();
    assert_eq!(s.count("refused-too-large"), 1);
    assert_eq!(s.count("Invoke:RequestStateChange"), 0);

    // Same connection, same context: the next request is answered, its pages held to 32 KiB
    // although the request allows 512000 bytes.
    let enumerate = request::enumerate(
        &hdr(&h, "Msvm_ComputerSystem", SelectorSet::new(), 512_000),
        &enumerate_all(100),
    );
    let (status, len, body) = call(&mut c, &enumerate).await;
    assert_eq!(status, 200);
    assert!(len <= 32 * 1024, "{len}");
    let p = page(body);
    assert!(!p.end_of_sequence && p.items.len() < VMS + 1, "not capped");
    h.shutdown().await;
}

/// A body far over the limit is refused unread with 413; it was sealed with a sequence number
/// the server never consumed, so the context ends and the client authenticates again.
#[tokio::test]
async fn far_oversized_body_ends_the_context() {
    let pw = hyperv_sim::random_password();
    let h = host(&pw, 32).await;
    let vm = h.vm_id("vm-03").unwrap();
    let mut c = session(&h, &pw).await;
    let (r, _) = c.soap_raw(&oversized_invoke(&h, &vm, 64)).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(h.stats().count("refused-too-large"), 1);
    assert_eq!(h.stats().count("Invoke:RequestStateChange"), 0);
    let mut c = session(&h, &pw).await;
    let get = request::get(&hdr(
        &h,
        "Msvm_ComputerSystem",
        SelectorSet::new()
            .with("CreationClassName", "Msvm_ComputerSystem")
            .with("Name", vm),
        512_000,
    ));
    let (status, _, body) = call(&mut c, &get).await;
    assert_eq!(status, 200);
    let ResponseBody::Instance(i) = body else {
        panic!("{body:?}")
    };
    assert_eq!(i.get_u16("EnabledState"), Some(3));
    h.shutdown().await;
}
