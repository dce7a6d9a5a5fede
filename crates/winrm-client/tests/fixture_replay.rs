//! Every response fixture in `fixtures/` replayed through the client over an NTLM-sealed
//! loopback session (the replay server answers the next request with the chosen file, its
//! RelatesTo set to the request's MessageID).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use support::{client, fixture, ntlm_server, Reply};
use winrm_client::Client;
use wsman_soap::{Enumerate, KnownFault, SelectorSet};

const URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ConcreteJob";

struct Replay {
    next: Arc<Mutex<Option<(u16, String)>>>,
    client: Client,
    _server: support::Server,
}

impl Replay {
    async fn new() -> Replay {
        let next: Arc<Mutex<Option<(u16, String)>>> = Arc::new(Mutex::new(None));
        let slot = next.clone();
        let server = ntlm_server(Arc::new(move |_r: &support::Req| {
            let (status, xml) = slot.lock().unwrap().take().expect("a reply was queued");
            Reply::Soap(status, xml)
        }))
        .await;
        let client = client(&server)
            .retries(0, std::time::Duration::ZERO)
            .build()
            .unwrap();
        Replay {
            next,
            client,
            _server: server,
        }
    }

    fn queue(&self, status: u16, rel: &str) {
        *self.next.lock().unwrap() = Some((status, fixture(rel)));
    }
}

#[tokio::test]
async fn get_fixtures_replay_as_instances() {
    let r = Replay::new().await;
    for (file, state, code) in [
        ("wsman/get/concrete_job_running.response.xml", 4, 0),
        ("wsman/get/concrete_job_completed.response.xml", 7, 0),
        ("wsman/get/concrete_job_failed.response.xml", 10, 32768),
    ] {
        r.queue(200, file);
        let job = r
            .client
            .get(URI, &SelectorSet::new().with("InstanceID", "x"))
            .await
            .unwrap();
        assert_eq!(job.class_name, "Msvm_ConcreteJob", "{file}");
        assert_eq!(job.get_u64("JobState"), Some(state), "{file}");
        assert_eq!(job.get_u64("ErrorCode"), Some(code), "{file}");
    }
    r.queue(200, "wsman/get/replication_setting_data.response.xml");
    let rsd = r.client.get(URI, &SelectorSet::new()).await.unwrap();
    assert_eq!(
        rsd.get_str("PrimaryConnectionPoint"),
        Some("hv-primary.contoso.test")
    );
}

#[tokio::test]
async fn invoke_fixtures_replay_as_method_outputs() {
    let r = Replay::new().await;
    for (file, method, rv, job) in [
        (
            "wsman/invoke/request_replication_state_change_ex.response.xml",
            "RequestReplicationStateChangeEx",
            4096,
            true,
        ),
        (
            "wsman/invoke/initiate_failover.response.xml",
            "InitiateFailover",
            4096,
            true,
        ),
        (
            "wsman/invoke/reverse_replication_relationship.response.xml",
            "ReverseReplicationRelationship",
            4096,
            true,
        ),
        (
            "wsman/invoke/request_state_change.response.xml",
            "RequestStateChange",
            4096,
            true,
        ),
        (
            "wsman/invoke/commit_failover.response.xml",
            "CommitFailover",
            0,
            false,
        ),
        (
            "wsman/invoke/revert_failover.response.xml",
            "RevertFailover",
            32775,
            false,
        ),
        ("wsman/invoke/get_error_ex.response.xml", "GetErrorEx", 0, false),
        (
            "real/04_winrb_invoke_response_cim_datafile_delete.xml",
            "Delete",
            0,
            false,
        ),
    ] {
        r.queue(200, file);
        let out = r
            .client
            .invoke(URI, &SelectorSet::new(), method, &[])
            .await
            .unwrap();
        assert_eq!(out.method, method, "{file}");
        assert_eq!(out.return_value, Some(rv), "{file}");
        assert_eq!(out.job_instance_id().is_some(), job, "{file}");
    }
}

#[tokio::test]
async fn enumeration_fixtures_replay_as_pages() {
    let r = Replay::new().await;
    r.queue(200, "wsman/enumerate/find_vm_wql.response.xml");
    let p = r.client.enumerate_page(URI, &Enumerate::default()).await.unwrap();
    assert!(p.context.is_some() && p.items.is_empty() && !p.end_of_sequence);
    r.queue(200, "wsman/enumerate/find_vm_pull.response.xml");
    let p = r
        .client
        .pull(URI, p.context.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(p.items.len(), 1);
    assert!(p.end_of_sequence);
    let vm = p.items[0].instance.as_ref().unwrap();
    assert_eq!(vm.get_u64("ReplicationState"), Some(5));

    r.queue(200, "wsman/enumerate/rsd_association.response.xml");
    let p = r.client.enumerate_page(URI, &Enumerate::default()).await.unwrap();
    assert!(p.end_of_sequence);
    assert!(p.items.iter().all(|i| i.instance.is_some() && i.epr.is_some()));

    r.queue(200, "wsman/enumerate/replication_service_epr.response.xml");
    let p = r.client.enumerate_page(URI, &Enumerate::default()).await.unwrap();
    let epr = p.items[0].epr.as_ref().unwrap();
    assert_eq!(epr.selectors.len(), 4);

    r.queue(200, "real/05_winrb_pull_response_win32_process.xml");
    let p = r.client.pull(URI, "ctx", None).await.unwrap();
    assert!(p.end_of_sequence);
    assert_eq!(p.items.len(), 1);

    r.queue(200, "real/08_r4sd_recorded_msvm_computersystem_pull_vm_off.xml");
    let p = r.client.pull(URI, "ctx", None).await.unwrap();
    assert_eq!(
        p.items[0].instance.as_ref().unwrap().class_name,
        "Msvm_ComputerSystem"
    );

    r.queue(200, "wsman/enumerate/release.response.xml");
    r.client.release(URI, "ctx").await.unwrap();
}

#[tokio::test]
async fn fault_fixtures_replay_as_structured_errors() {
    let r = Replay::new().await;
    for (file, known, code) in [
        (
            "wsman/fault/access_denied.response.xml",
            Some(KnownFault::AccessDenied),
            Some(5),
        ),
        (
            "wsman/fault/invalid_selectors.response.xml",
            Some(KnownFault::InvalidSelectors),
            Some(0x8033_803D),
        ),
        (
            "wsman/fault/timed_out.response.xml",
            Some(KnownFault::OperationTimeout),
            Some(0x8033_8029),
        ),
        (
            "wsman/fault/job_not_found.response.xml",
            Some(KnownFault::ResourceNotFound),
            Some(0x8033_8000),
        ),
        (
            "real/01_winrb_fault_msft_wmierror_quota.xml",
            Some(KnownFault::QuotaLimit),
            None,
        ),
        (
            "real/02_winrb_fault_wmi_provider_extendedstatus_cannotprocessfilter.xml",
            Some(KnownFault::CannotProcessFilter),
            Some(2_150_858_778),
        ),
    ] {
        r.queue(500, file);
        let err = r.client.get(URI, &SelectorSet::new()).await.unwrap_err();
        let f = err.fault().unwrap_or_else(|| panic!("{file}: {err:?}"));
        assert_eq!(f.known(), known, "{file}: {f:?}");
        if code.is_some() {
            assert_eq!(f.wsman_code, code, "{file}");
        }
        assert_eq!(
            err.is_timeout(),
            known == Some(KnownFault::OperationTimeout),
            "{file}"
        );
    }
    r.queue(500, "wsman/fault/schema_validation.response.xml");
    let err = r
        .client
        .invoke(URI, &SelectorSet::new(), "ReverseReplicationRelationship", &[])
        .await
        .unwrap_err();
    assert!(err.fault().is_some(), "{err:?}");
}

/// The EncodingLimit fault with the DSP0226 MaxEnvelopeSize `w:FaultDetail` reaches the caller
/// as a structured fault whose message says what happened and what to change, with the sizes
/// the host reported.
#[tokio::test]
async fn max_envelope_size_fault_says_the_reply_was_too_large() {
    let r = Replay::new().await;
    r.queue(500, "wsman/fault/max_envelope_size_exceeded.response.xml");
    let err = r.client.get(URI, &SelectorSet::new()).await.unwrap_err();
    let f = err.fault().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(f.known(), Some(KnownFault::EncodingLimit));
    assert_eq!(f.wsman_code, Some(0x8033_8048));
    assert!(f.is_max_envelope_size_exceeded(), "{f:?}");
    assert!(!err.is_timeout());
    let text = err.to_string();
    assert!(
        text.starts_with(
            "server fault: the reply would exceed the request's MaxEnvelopeSize (ask for less \
             per request, or raise the client's max envelope size together with the host's \
             MaxEnvelopeSizekb): "
        ),
        "{text}"
    );
    assert!(
        text.contains("packet size (976820) exceeds the maximum envelope size that is allowed (512000)"),
        "{text}"
    );
    assert!(text.contains("detail MaxEnvelopeSize"), "{text}");
}

#[tokio::test]
async fn identify_fixture_replays() {
    let r = Replay::new().await;
    r.queue(200, "wsman/identify/identify.response.xml");
    let id = r.client.identify().await.unwrap();
    assert!(id.protocol_version.contains("wsman"), "{id:?}");
}
