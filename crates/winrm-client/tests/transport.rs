//! The transport against a loopback NTLM WinRM server (winrm_auth's acceptor, message
//! encryption, replies from `fixtures/`).
#![allow(clippy::unwrap_used)]

mod support;

use support::{CS_URI, RSD_URI, SERVICE_URI};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use support::{client, ntlm_server, standard, standard_responder, Reply};
use wsman_soap::{Enumerate, SelectorSet, Value};

fn rsd_selectors() -> SelectorSet {
    SelectorSet::new().with(
        "InstanceID",
        "Microsoft:3F2504E0-4F89-11D3-9A0C-0305E82C3301\\HVR\\0",
    )
}

#[tokio::test]
async fn get_enumerate_and_invoke_share_one_encrypted_connection() {
    let server = ntlm_server(standard_responder()).await;
    let c = client(&server).build().unwrap();
    assert!(c.is_encrypted());

    let id = c.identify().await.unwrap();
    assert!(id.product_vendor.contains("Microsoft"), "{id:?}");

    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");

    let items = c.enumerate(CS_URI, &Enumerate::default()).await.unwrap();
    assert_eq!(items.len(), support::PAGE_ITEMS * support::PULL_PAGES);
    let names: Vec<_> = items
        .iter()
        .map(|i| {
            i.instance
                .as_ref()
                .unwrap()
                .get_str("ElementName")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["vm-0", "vm-1", "vm-2", "vm-3", "vm-4", "vm-5"]);

    let out = c
        .invoke(
            SERVICE_URI,
            &SelectorSet::new(),
            "ReverseReplicationRelationship",
            &[("ComputerSystem".to_owned(), Value::Null)],
        )
        .await
        .unwrap();
    assert_eq!(out.method, "ReverseReplicationRelationship");
    assert_eq!(out.return_value, Some(4096));

    let s = &server.stats;
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        1,
        "everything on one TCP connection"
    );
    assert_eq!(c.connections_opened(), 1);
    assert_eq!(s.handshakes.load(Ordering::SeqCst), 1, "one NTLM handshake");
    assert_eq!(s.count("Pull"), support::PULL_PAGES as u64);
    assert_eq!(s.count("ReverseReplicationRelationship"), 1);
    // Every SOAP request was sealed; the two handshake legs had empty bodies.
    let cts = s.content_types.lock().unwrap().clone();
    let sealed = cts
        .iter()
        .filter(|c| c.starts_with("multipart/encrypted"))
        .count();
    assert_eq!(sealed, 1 + 1 + 1 + support::PULL_PAGES + 1);
    assert!(
        cts.iter()
            .all(|c| c.is_empty() || c.starts_with("multipart/encrypted")),
        "{cts:?}"
    );
    assert!(s.accept_encoding.lock().unwrap().iter().all(|a| a == "identity"));
    // Exactly one Host (the endpoint's authority) and one Accept per request.
    let n = s.header_names.lock().unwrap().len();
    let want_host = format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(*s.hosts.lock().unwrap(), vec![want_host; n]);
    assert_eq!(*s.accepts.lock().unwrap(), vec!["*/*".to_owned(); n]);
    // A sealed request's headers, in wire order (hyper keeps the map's order).
    let names = s.header_names.lock().unwrap();
    let sealed = names
        .iter()
        .rfind(|h| h.iter().any(|n| n == "content-type"))
        .unwrap();
    assert_eq!(
        sealed,
        &[
            "accept-encoding",
            "user-agent",
            "content-type",
            "accept",
            "host",
            "content-length"
        ]
    );
}

#[tokio::test]
async fn parallel_sessions_open_one_connection_each() {
    let server = ntlm_server(Arc::new(|r: &support::Req| {
        Reply::Delay(Duration::from_millis(150), Box::new(standard(r)))
    }))
    .await;
    let c = client(&server).sessions(3).build().unwrap();
    let sel = rsd_selectors();
    let mut tasks = Vec::new();
    for _ in 0..9 {
        let c = c.clone();
        let sel = sel.clone();
        tasks.push(tokio::spawn(async move {
            c.get(RSD_URI, &sel).await.map(|i| i.class_name)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "Msvm_ReplicationSettingData");
    }
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 3);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 3);
    assert_eq!(server.stats.count("Get"), 9);
}

#[tokio::test]
async fn sequential_requests_stay_on_one_authenticated_connection_with_several_sessions() {
    let server = ntlm_server(Arc::new(|r: &support::Req| standard(r))).await;
    let c = client(&server).sessions(4).build().unwrap();
    let sel = rsd_selectors();
    for _ in 0..6 {
        assert_eq!(
            c.get(RSD_URI, &sel).await.unwrap().class_name,
            "Msvm_ReplicationSettingData"
        );
    }
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 1);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(server.stats.count("Get"), 6);
}

#[tokio::test]
async fn soap_fault_becomes_a_structured_error() {
    let server = ntlm_server(Arc::new(|_r: &support::Req| {
        Reply::Soap(
            500,
            support::fixture("wsman/fault/invalid_selectors.response.xml"),
        )
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    let fault = err.fault().expect("a fault");
    assert_eq!(fault.known(), Some(wsman_soap::KnownFault::InvalidSelectors));
    assert_eq!(fault.wsman_code, Some(0x8033_803D));
    assert!(!err.is_timeout() && !err.is_auth());
    assert_eq!(
        server.stats.count("Get"),
        1,
        "a fault other than TimedOut is not retried"
    );
}

#[tokio::test]
async fn timed_out_fault_is_retried_for_idempotent_requests() {
    let server = ntlm_server(Arc::new(|r: &support::Req| {
        if r.nth < 2 {
            Reply::Soap(500, support::fixture("wsman/fault/timed_out.response.xml"))
        } else {
            standard(r)
        }
    }))
    .await;
    let c = client(&server).build().unwrap();
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.count("Get"), 3);

    // Retries exhausted: the TimedOut fault comes back and is_timeout() says so.
    let server = ntlm_server(Arc::new(|_r: &support::Req| {
        Reply::Soap(500, support::fixture("wsman/fault/timed_out.response.xml"))
    }))
    .await;
    let c = client(&server)
        .retries(1, Duration::from_millis(10))
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        err.fault().unwrap().known(),
        Some(wsman_soap::KnownFault::OperationTimeout)
    );
    assert_eq!(server.stats.count("Get"), 2);
}

#[tokio::test]
async fn invoke_with_a_timed_out_fault_is_not_resent() {
    let server = ntlm_server(Arc::new(|_r: &support::Req| {
        Reply::Soap(500, support::fixture("wsman/fault/timed_out.response.xml"))
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = c
        .invoke(SERVICE_URI, &SelectorSet::new(), "RequestStateChange", &[])
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(server.stats.count("RequestStateChange"), 1);
}

#[tokio::test]
async fn read_timeout_above_operation_timeout_fires() {
    let server = ntlm_server(Arc::new(|r: &support::Req| {
        Reply::Delay(Duration::from_millis(2500), Box::new(standard(r)))
    }))
    .await;
    let c = client(&server)
        .operation_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_secs(1))
        .retries(0, Duration::ZERO)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "{:?}",
        started.elapsed()
    );

    // The same for an Invoke: the outcome is unknown, and it was sent once.
    let err = c
        .invoke(SERVICE_URI, &SelectorSet::new(), "RequestStateChange", &[])
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(server.stats.count("RequestStateChange"), 1);

    // The builder refuses a read timeout not above the operation timeout.
    let e = client(&server)
        .operation_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("must be above the operation timeout"),
        "{e}"
    );
}

#[tokio::test]
async fn connection_dropped_after_invoke_gives_outcome_unknown_without_resend() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Invoke { .. } => Reply::Close,
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    let sel = SelectorSet::new().with("Name", "vm-0");
    let err = c
        .invoke(
            CS_URI,
            &sel,
            "RequestStateChange",
            &[("RequestedState".to_owned(), Value::Null)],
        )
        .await
        .unwrap_err();
    match &err {
        winrm_client::Error::OutcomeUnknown {
            resource_uri,
            method,
            selectors,
            sent_at,
            ..
        } => {
            assert_eq!(resource_uri, CS_URI);
            assert_eq!(method, "RequestStateChange");
            assert_eq!(selectors, &[("Name".to_owned(), "vm-0".to_owned())]);
            assert!(sent_at.elapsed().unwrap() < Duration::from_secs(10));
        }
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert!(err.is_outcome_unknown());
    assert_eq!(
        server.stats.count("RequestStateChange"),
        1,
        "the Invoke was not re-sent"
    );

    // The session recovers on a new connection for the next request.
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_closed_before_invoke_reauthenticates_and_sends_it_once() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Get => Reply::ThenClose(Box::new(standard(r))),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    assert_eq!(server.stats.count("ReverseReplicationRelationship"), 1);
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.stats.handshakes.load(Ordering::SeqCst),
        2,
        "new connection, new NTLM context"
    );
}

#[tokio::test]
async fn a_get_whose_reply_fails_its_integrity_check_is_sent_again_on_a_new_connection_and_context() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Get if r.nth == 0 => Reply::CorruptSeal(Box::new(standard(r))),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.count("Get"), 2, "sent once more");
    assert_eq!(
        server.stats.connections.load(Ordering::SeqCst),
        2,
        "on a new connection"
    );
    assert_eq!(
        server.stats.handshakes.load(Ordering::SeqCst),
        2,
        "with a new context"
    );
    // Later work goes on on the new context.
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(c.connections_opened(), 2);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_get_whose_replies_keep_failing_their_integrity_check_is_an_integrity_error() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Get => Reply::CorruptSeal(Box::new(standard(r))),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(err.is_integrity(), "{err:?}");
    assert!(!err.is_connection() && !err.is_outcome_unknown(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("the reply to Get from"), "{text}");
    assert!(text.contains("failed its integrity check"), "{text}");
    assert!(text.contains("a proxy that rewrites bodies"), "{text}");
    assert!(text.contains("failed again"), "{text}");
    assert_eq!(server.stats.count("Get"), 2, "sent once more, not again");
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 2);
    c.identify().await.unwrap();
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 3);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_invoke_whose_reply_fails_its_integrity_check_is_outcome_unknown_and_the_session_recovers() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Invoke { .. } if r.nth == 0 => Reply::CorruptSeal(Box::new(standard(r))),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = support::reverse(&c).await.unwrap_err();
    match &err {
        winrm_client::Error::OutcomeUnknown { method, detail, .. } => {
            assert_eq!(method, "ReverseReplicationRelationship");
            assert!(detail.contains("failed its integrity check"), "{detail}");
            assert!(detail.contains("signature"), "{detail}");
        }
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert_eq!(
        server.stats.count("ReverseReplicationRelationship"),
        1,
        "never sent again"
    );
    // The next requests run on a new connection and context.
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn dropped_connection_on_get_is_retried() {
    let server = ntlm_server(Arc::new(
        |r: &support::Req| if r.nth == 0 { Reply::Close } else { standard(r) },
    ))
    .await;
    let c = client(&server).build().unwrap();
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.count("Get"), 2);
}

/// A Get with MaxEnvelopeSize 16 KiB against a server answering with `reply` must fail with
/// TooLarge at the client's cap (twice the envelope size plus 64 KiB of framing slack).
async fn assert_get_refused_as_too_large(reply: fn() -> Reply) {
    let server = ntlm_server(Arc::new(move |_r: &support::Req| reply())).await;
    let c = client(&server).max_envelope_size(16_384).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    match err {
        winrm_client::Error::TooLarge { limit } => assert_eq!(limit, 2 * 16_384 + 64 * 1024),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn reply_over_the_size_cap_is_refused() {
    assert_get_refused_as_too_large(|| Reply::Oversize(200_000)).await;
}

#[tokio::test]
async fn unencrypted_reply_on_an_encrypted_session_is_refused() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Get => Reply::Plain(
            200,
            support::fixture("wsman/get/replication_setting_data.response.xml"),
        ),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(matches!(err, winrm_client::Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("unencrypted reply"), "{err}");
}

#[tokio::test]
async fn rejected_credentials_give_an_auth_error_naming_user_and_scheme() {
    let server = support::start(support::Auth::Reject, None, standard_responder()).await;
    let c = client(&server).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("CORP\\\\alice") || text.contains("CORP\\alice"),
        "{text}"
    );
    assert!(text.contains("NTLM"), "{text}");
    assert!(text.contains("LocalAccountTokenFilterPolicy"), "{text}");
    assert!(!text.contains(support::PASSWORD));
    assert_eq!(server.stats.count("Get"), 0);

    let server = ntlm_server(standard_responder()).await;
    let c = client(&server)
        .auth(winrm_client::AuthMethod::ntlm(support::USER, "wrong"))
        .build()
        .unwrap();
    let err = c.identify().await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
}

#[tokio::test]
async fn a_401_mid_session_reauthenticates_once_and_resends_only_idempotent_requests() {
    let server = ntlm_server(standard_responder()).await;
    let c = client(&server).build().unwrap();
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();

    server.unauthorize_next.store(true, Ordering::SeqCst);
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.stats.count("Get"),
        2,
        "the 401'd Get was never processed; the resend was"
    );

    server.unauthorize_next.store(true, Ordering::SeqCst);
    let err = support::reverse(&c).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert!(err.to_string().contains("not re-sent"), "{err}");
    assert_eq!(server.stats.count("ReverseReplicationRelationship"), 0);
    assert_eq!(
        server.stats.handshakes.load(Ordering::SeqCst),
        3,
        "re-authenticated for the next request"
    );
    let out = support::reverse(&c).await.unwrap();
    assert_eq!(out.return_value, Some(4096));
    // Each new context starts on a new connection pool (the first handshake, then one per 401),
    // so no leg of a handshake can land on the connection that was answered 401.
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn relates_to_mismatch_is_a_protocol_error() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match standard(r) {
        Reply::Soap(s, xml) => {
            // Answer as if to another request (Enumerate pages are already generated with the
            // right RelatesTo; Get replays a fixture).
            let wrong = support::with_relates_to(&xml, "uuid:00000000-0000-0000-0000-00000000DEAD");
            Reply::Verbatim(s, wrong)
        }
        other => other,
    }))
    .await;
    let c = client(&server).build().unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(matches!(err, winrm_client::Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("does not answer"), "{err}");
}

#[tokio::test]
async fn dropping_an_enumeration_stream_early_releases_the_context() {
    let server = ntlm_server(standard_responder()).await;
    let c = client(&server).build().unwrap();
    let mut stream = Box::pin(c.enumerate_stream(CS_URI, &Enumerate::default()));
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.instance.unwrap().get_str("ElementName"), Some("vm-0"));
    drop(stream);
    for _ in 0..100 {
        if server.stats.count("Release") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats.count("Release"), 1);
    assert_eq!(server.stats.count("Pull"), 1);

    // Read to the end: no Release.
    let all: Vec<_> = c.enumerate_stream(CS_URI, &Enumerate::default()).collect().await;
    assert_eq!(all.len(), support::PAGE_ITEMS * support::PULL_PAGES);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.stats.count("Release"), 1);
}

#[tokio::test]
async fn recording_writes_decrypted_scrubbed_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let server = ntlm_server(standard_responder()).await;
    let c = client(&server)
        .record(dir.path().to_path_buf(), true)
        .build()
        .unwrap();
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    support::reverse(&c).await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0001-Get.meta",
            "0001-Get.request.xml",
            "0001-Get.response.xml",
            "0002-ReverseReplicationRelationship.meta",
            "0002-ReverseReplicationRelationship.request.xml",
            "0002-ReverseReplicationRelationship.response.xml",
        ]
    );
    let req = std::fs::read_to_string(dir.path().join("0001-Get.request.xml")).unwrap();
    assert!(req.contains("Msvm_ReplicationSettingData"));
    assert!(!req.contains("127.0.0.1"), "host scrubbed: {req}");
    assert!(req.contains(winrm_client::SCRUBBED_HOST));
    let resp = std::fs::read_to_string(dir.path().join("0001-Get.response.xml")).unwrap();
    assert!(
        resp.contains("GetResponse") && resp.contains("Msvm_ReplicationSettingData"),
        "decrypted: {resp}"
    );
    let meta = std::fs::read_to_string(dir.path().join("0002-ReverseReplicationRelationship.meta")).unwrap();
    assert!(
        meta.contains("status: 200") && meta.contains("encrypted: true"),
        "{meta}"
    );
    for n in &names {
        let t = std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert!(
            !t.contains(support::PASSWORD) && !t.contains("Authorization") && !t.contains("TlRMTVNTUA"),
            "{n}"
        );
    }
}

#[tokio::test]
async fn builder_refuses_unsafe_combinations() {
    let e = winrm_client::Client::builder("http://hv01:5985/wsman")
        .auth(winrm_client::AuthMethod::basic("admin", "pw"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("only allowed over HTTPS"), "{e}");
    let e = winrm_client::Client::builder("http://hv01:5985/wsman")
        .auth(winrm_client::AuthMethod::ntlm("a", "b"))
        .insecure(true)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("insecure"), "{e}");
    let e = winrm_client::Client::builder("ftp://hv01/wsman")
        .auth(winrm_client::AuthMethod::ntlm("a", "b"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("scheme"), "{e}");
    let e = winrm_client::Client::builder("https://hv01:5986/wsman")
        .auth(winrm_client::AuthMethod::basic("a", "b"))
        .encryption(winrm_client::Encryption::Always)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("message encryption needs"), "{e}");
    let p = winrm_client::Password::new("s3cret");
    assert!(!format!("{p:?}").contains("s3cret"));
    let c = winrm_client::Client::builder("http://hv01:5985/wsman")
        .auth(winrm_client::AuthMethod::ntlm("a", "s3cret"))
        .build()
        .unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[tokio::test]
async fn put_returns_the_stored_instance_and_is_never_resent() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Put(i) if i.get_str("ElementName") == Some("drop") => Reply::Close,
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    let stored = c.put(RSD_URI, &rsd_selectors(), &rsd).await.unwrap();
    assert_eq!(stored.get_str("InstanceID"), rsd.get_str("InstanceID"));
    assert_eq!(server.stats.count("Put"), 1);

    let mut changed = rsd.clone();
    changed.set("ElementName", wsman_soap::Scalar::String("drop".to_owned()));
    let err = c.put(RSD_URI, &rsd_selectors(), &changed).await.unwrap_err();
    match &err {
        winrm_client::Error::OutcomeUnknown { method, .. } => assert_eq!(method, "Put"),
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert_eq!(server.stats.count("Put"), 2, "the dropped Put was sent once");
}

#[tokio::test]
async fn a_redirect_is_an_error_and_is_not_followed() {
    let elsewhere = ntlm_server(standard_responder()).await;
    let target = elsewhere.endpoint();
    let server = ntlm_server(Arc::new(move |r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Invoke { .. } => Reply::Redirect(307, target.clone()),
        _ => standard(r),
    }))
    .await;
    let c = client(&server).build().unwrap();
    c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    let err = c
        .invoke(SERVICE_URI, &SelectorSet::new(), "RequestStateChange", &[])
        .await
        .unwrap_err();
    match &err {
        winrm_client::Error::Http { status, detail } => {
            assert_eq!(*status, 307);
            assert!(
                detail.contains(&format!("to {}", elsewhere.endpoint())),
                "{detail}"
            );
            assert!(detail.contains("not redirected"), "{detail}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(server.stats.count("RequestStateChange"), 1);
    assert_eq!(elsewhere.stats.connections.load(Ordering::SeqCst), 0);
    // The session starts a new context for the next request, on a new connection.
    let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(c.connections_opened(), 2);
}

#[tokio::test]
async fn a_redirect_during_the_handshake_is_an_error() {
    let server = support::start_redirecting_server("http://elsewhere.invalid/wsman").await;
    let c = winrm_client::Client::builder(&server.1)
        .auth(winrm_client::AuthMethod::ntlm("CORP\\user", "pw"))
        .build()
        .unwrap();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    match &err {
        winrm_client::Error::Http { status, detail } => {
            assert_eq!(*status, 302);
            assert!(detail.contains("to http://elsewhere.invalid/wsman"), "{detail}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(server.0.load(Ordering::SeqCst), 1, "one request, not followed");
}

#[tokio::test]
async fn chunked_sealed_replies_are_joined() {
    let server = ntlm_server(Arc::new(|r: &support::Req| {
        Reply::Chunked(97, Box::new(standard(r)))
    }))
    .await;
    let c = client(&server).build().unwrap();
    for _ in 0..3 {
        let rsd = c.get(RSD_URI, &rsd_selectors()).await.unwrap();
        assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
        assert_eq!(
            rsd.get_str("InstanceID"),
            Some("Microsoft:8A1F7C2E-3B4D-4E5F-9A0B-1C2D3E4F5A6B\\HVR\\0")
        );
    }
    assert_eq!(c.connections_opened(), 1);
}

#[tokio::test]
async fn chunked_reply_over_the_size_cap_is_refused_while_reading() {
    assert_get_refused_as_too_large(|| Reply::Chunked(4096, Box::new(Reply::Oversize(200_000)))).await;
}

#[tokio::test]
async fn read_timeout_still_fires_after_the_timer_was_reused() {
    let server = ntlm_server(Arc::new(|r: &support::Req| match &r.parsed.body {
        wsman_soap::RequestBody::Get if r.nth == 5 => {
            Reply::Delay(Duration::from_millis(2500), Box::new(standard(r)))
        }
        _ => standard(r),
    }))
    .await;
    let c = client(&server)
        .operation_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_secs(1))
        .retries(0, Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..5 {
        c.get(RSD_URI, &rsd_selectors()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // 1.5 s after the first request: a timer left at its first deadline would have fired.
    let started = std::time::Instant::now();
    let err = c.get(RSD_URI, &rsd_selectors()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2400),
        "{waited:?}"
    );
}

#[test]
fn a_client_moved_to_another_runtime_keeps_working() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let server = server_rt.block_on(ntlm_server(standard_responder()));
    let c = client(&server).build().unwrap();
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rsd = first.block_on(c.get(RSD_URI, &rsd_selectors())).unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rsd = second.block_on(c.get(RSD_URI, &rsd_selectors())).unwrap();
    assert_eq!(rsd.class_name, "Msvm_ReplicationSettingData");
    let sel = SelectorSet::new();
    second
        .block_on(c.invoke(SERVICE_URI, &sel, "RequestStateChange", &[]))
        .unwrap();
    assert_eq!(server.stats.count("RequestStateChange"), 1);
}
