//! The real `winrm-client` against the simulator's response variance ([`Variance`]): pages
//! smaller than MaxElements asked for, optimized enumeration answered in one response or not
//! at all, null properties written as `xsi:nil` or left out, method output parameters in
//! either order or with a nil `Job`, other namespace prefixes, default namespaces,
//! pretty-printing with CRLF, single quotes and a prolog. Each variant must read exactly like
//! the canonical output, over NTLM with message encryption.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hyperv_sim::{SimConfig, SimHost, Variance};
use winrm_client::{AuthMethod, Client};
use wsman_soap::{
    wmi_all_classes_uri, wmi_resource_uri, Enumerate, Fault, IdentifyResponse, Instance, Item, Scalar,
    SelectorSet, Value,
};

const USER: &str = "HV\\operator";
const NS: &str = "root/virtualization/v2";
/// VMs on the host; an enumeration of Msvm_ComputerSystem also lists the host itself.
const VMS: usize = 20;
const ITEMS: u64 = VMS as u64 + 1;

fn cs_uri() -> String {
    wmi_resource_uri(NS, "Msvm_ComputerSystem")
}

async fn host() -> (SimHost, Client, String) {
    let password = hyperv_sim::random_password().to_string();
    let mut cfg = SimConfig::new("HV01").user(USER, &password);
    cfg.vms = (1..=VMS).map(|i| format!("vm{i:02}")).collect();
    cfg.job_duration = Duration::ZERO;
    let h = SimHost::start(cfg).await.unwrap();
    let client = Client::builder(&h.endpoint())
        .auth(AuthMethod::ntlm(USER, password.as_str()))
        .operation_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    (h, client, password)
}

/// An Enumerate of every `Msvm_ComputerSystem` that asks for up to 50 items per page.
fn all_systems(optimize: bool) -> Enumerate {
    Enumerate {
        optimize,
        max_elements: Some(50),
        ..Enumerate::default()
    }
}

fn names(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.instance.as_ref().unwrap().get_str("Name").unwrap().to_owned())
        .collect()
}

/// Requests of `label` since `before`.
fn delta(h: &SimHost, before: &hyperv_sim::Stats, label: &str) -> u64 {
    h.stats().count(label) - before.count(label)
}

fn capped(k: u32) -> Variance {
    Variance {
        page_cap: Some(k),
        ..Variance::default()
    }
}

#[tokio::test]
async fn pages_of_one_and_of_seven_deliver_every_item_once_in_order_and_release_nothing() {
    let (h, c, _) = host().await;
    let canonical = c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap();
    assert_eq!(canonical.len() as u64, ITEMS);
    for k in [1u32, 7] {
        h.set_variance(capped(k));
        for optimize in [true, false] {
            let before = h.stats();
            let items = c.enumerate(&cs_uri(), &all_systems(optimize)).await.unwrap();
            assert_eq!(
                names(&items),
                names(&canonical),
                "page cap {k}, optimize {optimize}"
            );
            assert_eq!(items, canonical, "page cap {k}, optimize {optimize}");
            // Each response held at most k items: the optimized Enumerate the first k, then
            // one Pull per further k.
            let in_enumerate = if optimize { u64::from(k) } else { 0 };
            let pulls = (ITEMS - in_enumerate).div_ceil(u64::from(k));
            assert_eq!(
                delta(&h, &before, "Pull"),
                pulls,
                "page cap {k}, optimize {optimize}"
            );
            assert_eq!(delta(&h, &before, "Enumerate"), 1);
            // The sequence ended with EndOfSequence: nothing to release, nothing left open.
            assert_eq!(delta(&h, &before, "Release"), 0);
            assert_eq!(h.open_enumerations(), 0);
        }
    }
}

#[tokio::test]
async fn an_optimized_enumeration_that_fits_the_first_response_needs_no_pull() {
    let (h, c, _) = host().await;
    let before = h.stats();
    let page = c.enumerate_page(&cs_uri(), &all_systems(true)).await.unwrap();
    assert!(page.end_of_sequence && page.context.is_none(), "{page:?}");
    assert_eq!(page.items.len() as u64, ITEMS);
    let items = c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap();
    assert_eq!(items, page.items);
    assert_eq!(delta(&h, &before, "Enumerate"), 2);
    assert_eq!(delta(&h, &before, "Pull"), 0);
    assert_eq!(delta(&h, &before, "Release"), 0);
    assert_eq!(h.open_enumerations(), 0);

    // A host that ignores OptimizeEnumeration: a context only, then one Pull for all of it.
    h.set_variance(Variance {
        ignore_optimize: true,
        ..Variance::default()
    });
    let page = c.enumerate_page(&cs_uri(), &all_systems(true)).await.unwrap();
    assert!(page.items.is_empty() && !page.end_of_sequence && page.context.is_some());
    c.release(&cs_uri(), page.context.as_deref().unwrap())
        .await
        .unwrap();
    let before = h.stats();
    assert_eq!(c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap(), items);
    assert_eq!(delta(&h, &before, "Pull"), 1);
    assert_eq!(delta(&h, &before, "Release"), 0);
}

#[tokio::test]
async fn a_stream_dropped_between_small_pages_releases_its_context_once() {
    let (h, c, _) = host().await;
    let canonical = c.enumerate(&cs_uri(), &all_systems(false)).await.unwrap();
    h.set_variance(capped(1));
    let before = h.stats();
    {
        let stream = c.enumerate_stream(&cs_uri(), &all_systems(false));
        let first: Vec<Item> = stream.take(3).map(Result::unwrap).collect().await;
        assert_eq!(first, canonical[..3]);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.open_enumerations() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.open_enumerations(), 0);
    assert_eq!(delta(&h, &before, "Pull"), 3);
    assert_eq!(delta(&h, &before, "Release"), 1);
}

#[tokio::test]
async fn null_properties_omitted_read_as_absent_and_everything_else_is_equal() {
    let (h, c, _) = host().await;
    let guid = h.vm_id("vm01").unwrap();
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", guid.as_str());
    let nil = c.get(&cs_uri(), &sel).await.unwrap();
    let nulls: Vec<&str> = nil
        .properties
        .iter()
        .filter(|p| p.value == Value::Null)
        .map(|p| p.name.as_str())
        .collect();
    assert!(nulls.len() >= 5, "the canonical VM has nil properties: {nil:?}");
    h.set_variance(Variance {
        omit_nulls: true,
        ..Variance::default()
    });
    let omitted = c.get(&cs_uri(), &sel).await.unwrap();
    assert_eq!(omitted, without_nulls(&nil));
    for n in &nulls {
        assert_eq!(omitted.get(n), None, "{n}");
    }
    // The same in enumeration pages.
    let items = c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap();
    h.set_variance(Variance::default());
    let canonical = c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap();
    let stripped: Vec<Instance> = canonical
        .iter()
        .map(|i| without_nulls(i.instance.as_ref().unwrap()))
        .collect();
    let got: Vec<Instance> = items.into_iter().map(|i| i.instance.unwrap()).collect();
    assert_eq!(got, stripped);
}

fn without_nulls(i: &Instance) -> Instance {
    let mut out = i.clone();
    out.properties.retain(|p| p.value != Value::Null);
    out
}

/// `RequestStateChange(RequestedState)` on `vm01`.
async fn request_state_change(h: &SimHost, c: &Client, state: u16) -> wsman_soap::MethodOutput {
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", h.vm_id("vm01").unwrap().as_str());
    c.invoke(
        &cs_uri(),
        &sel,
        "RequestStateChange",
        &[("RequestedState".into(), Value::Scalar(Scalar::Uint16(state)))],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn method_outputs_in_either_order_or_with_a_nil_job_are_read_alike() {
    let (h, c, _) = host().await;
    for v in [
        Variance::default(),
        Variance {
            return_value_first: true,
            ..Variance::default()
        },
        Variance {
            return_value_first: true,
            nil_job: true,
            ..Variance::default()
        },
    ] {
        h.set_variance(v.clone());
        // Start (a job), then an invalid state (no job: 32775 with Job nil or absent).
        let started = request_state_change(&h, &c, 2).await;
        assert_eq!(started.return_value, Some(4096), "{v:?}");
        let job = started.job_instance_id().unwrap().to_owned();
        let first = started.out.properties[0].name.as_str();
        assert_eq!(
            first,
            if v.return_value_first {
                "ReturnValue"
            } else {
                "Job"
            }
        );
        let j = c
            .get(
                &wmi_resource_uri(NS, "Msvm_ConcreteJob"),
                &SelectorSet::new().with("InstanceID", job.as_str()),
            )
            .await
            .unwrap();
        assert!(j.get_u64("JobState").is_some(), "{j:?}");
        let refused = request_state_change(&h, &c, 0).await;
        assert_eq!(refused.return_value, Some(32773), "{v:?}");
        assert_eq!(refused.job(), None);
        assert_eq!(refused.out.get("Job"), v.nil_job.then_some(&Value::Null));
        let _stopped = request_state_change(&h, &c, 3).await;
    }
    // Completed synchronously: ReturnValue 0 with `<p:Job xsi:nil="true"/>`.
    h.set_variance(Variance {
        complete_synchronously: true,
        nil_job: true,
        ..Variance::default()
    });
    let done = request_state_change(&h, &c, 2).await;
    assert_eq!(done.return_value, Some(0));
    assert_eq!(done.job(), None);
    assert_eq!(done.out.get("Job"), Some(&Value::Null));
}

/// What the client reads from the host through each operation, with job ids left out.
#[derive(Debug, PartialEq)]
struct Observed {
    identify: IdentifyResponse,
    vm: Instance,
    listed: Vec<Item>,
    wql: Vec<Item>,
    output: (String, Option<u32>, bool),
    not_found: Fault,
    bad_filter: Fault,
}

async fn observe(h: &SimHost, c: &Client) -> Observed {
    let guid = h.vm_id("vm02").unwrap();
    let sel = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", guid.as_str());
    let out = request_state_change(h, c, 0).await;
    let missing = SelectorSet::new()
        .with("CreationClassName", "Msvm_ComputerSystem")
        .with("Name", "00000000-0000-0000-0000-000000000000");
    let not_found = c.get(&cs_uri(), &missing).await.unwrap_err();
    let bad_filter = c
        .enumerate(&wmi_all_classes_uri(NS), &Enumerate::default())
        .await
        .unwrap_err();
    let wql = Enumerate {
        filter: Some(wsman_soap::Filter::Wql(
            "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'vm03'".into(),
        )),
        optimize: true,
        max_elements: Some(50),
        ..Enumerate::default()
    };
    Observed {
        identify: c.identify().await.unwrap(),
        vm: c.get(&cs_uri(), &sel).await.unwrap(),
        listed: c.enumerate(&cs_uri(), &all_systems(true)).await.unwrap(),
        wql: c.enumerate(&wmi_all_classes_uri(NS), &wql).await.unwrap(),
        output: (out.method.clone(), out.return_value, out.job().is_some()),
        not_found: not_found.fault().unwrap().clone(),
        bad_filter: bad_filter.fault().unwrap().clone(),
    }
}

/// Every response recorded in `dir` (the client's `record`), read and removed.
fn take_recorded(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.to_string_lossy().ends_with(".response.xml") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
        std::fs::remove_file(&path).unwrap();
    }
    out
}

#[tokio::test]
async fn other_prefixes_default_namespaces_and_whitespace_read_like_the_canonical_output() {
    let (h, c, password) = host().await;
    let canonical = observe(&h, &c).await;
    assert_eq!(canonical.wql.len(), 1);
    assert!(canonical.bad_filter.extended_status.is_some());
    // Each variant with a mark every one of its responses carries on the wire.
    let variants = [
        (Variance::pretty("\r\n", 2), "\r\n  <s:"),
        (Variance::pretty("\n", 1), ">\n <s:"),
        (
            Variance::other_prefixes(),
            "<env:Envelope xml:lang=\"en-US\" xmlns:wsa=",
        ),
        (
            Variance::renamed(&[("p", "")]),
            " xmlns=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"",
        ),
        (Variance::renamed(&[("s", "")]), "<Envelope "),
        (
            Variance::renamed(&[("a", "")]),
            " xmlns=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"",
        ),
        (
            Variance::renamed(&[("w", "")]),
            " xmlns=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"",
        ),
        (
            Variance {
                single_quotes: true,
                prolog: "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- recorded by hand -->\r\n"
                    .into(),
                ..Variance::pretty("\r\n", 4)
            },
            "-->\r\n<s:Envelope xml:lang='en-US'",
        ),
        (
            Variance {
                page_cap: Some(2),
                return_value_first: true,
                ..Variance::renamed(&[("s", "soap"), ("p", "")])
            },
            "<soap:Envelope ",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let recording = Client::builder(&h.endpoint())
        .auth(AuthMethod::ntlm(USER, password.as_str()))
        .record(dir.path().to_owned(), false)
        .build()
        .unwrap();
    for (v, mark) in variants {
        h.set_variance(v.clone());
        assert_eq!(observe(&h, &recording).await, canonical, "{v:?}");
        let responses = take_recorded(dir.path());
        assert!(responses.len() >= 7, "{}", responses.len());
        for r in &responses {
            assert!(r.contains(mark), "{v:?}: no {mark:?} in\n{r}");
        }
    }
}
