//! A Pull whose reply is lost is never re-sent with the same context: the enumeration restarts.
//!
//! The scripted server below enumerates like Windows: a Pull advances the enumeration when the
//! server processes it, and the EnumerationContext string stays the same. Re-sending a Pull
//! whose reply was lost would therefore return the next page and skip one.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use support::{client, ntlm_server, page_reply, Reply, CS_URI};
use wsman_soap::{Enumerate, EnumerationPage, Instance, Item, RequestBody, Scalar};

/// Items in the enumeration and items per page (Enumerate with optimize, then Pulls).
const ITEMS: usize = 7;
const PAGE: usize = 2;

fn vm(i: usize) -> Item {
    Item {
        instance: Some(
            Instance::new("Msvm_ComputerSystem").with("ElementName", Scalar::String(format!("vm-{i}"))),
        ),
        epr: None,
    }
}

fn names(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i.instance
                .as_ref()
                .and_then(|inst| inst.get_str("ElementName"))
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn all_names() -> Vec<String> {
    (0..ITEMS).map(|i| format!("vm-{i}")).collect()
}

/// The server side of the enumerations: context -> next item.
#[derive(Default)]
struct Enumerations {
    cursors: HashMap<String, usize>,
    created: usize,
    released: Vec<String>,
}

impl Enumerations {
    /// The next page of `ctx` (advancing it), or None for an unknown context.
    fn next_page(&mut self, ctx: &str) -> Option<EnumerationPage> {
        let cursor = self.cursors.get_mut(ctx)?;
        let end = (*cursor + PAGE).min(ITEMS);
        let items = (*cursor..end).map(vm).collect();
        *cursor = end;
        let last = end == ITEMS;
        if last {
            self.cursors.remove(ctx);
        }
        Some(EnumerationPage {
            context: (!last).then(|| ctx.to_owned()),
            items,
            end_of_sequence: last,
        })
    }
}

/// A Windows-like enumerating server; `lose(nth)` says how to answer the nth Pull (counted
/// from 0 over the server's life) after the server has processed it (None: answer normally).
fn windows_like(
    lose: impl Fn(u64) -> Option<fn(Reply) -> Reply> + Send + Sync + 'static,
) -> (support::Responder, Arc<Mutex<Enumerations>>) {
    let state = Arc::new(Mutex::new(Enumerations::default()));
    let st = state.clone();
    let responder: support::Responder = Arc::new(move |r: &support::Req| {
        let mut st = st.lock().unwrap();
        match &r.parsed.body {
            RequestBody::Enumerate(e) => {
                let ctx = format!("uuid:enum-{}", st.created);
                st.created += 1;
                st.cursors.insert(ctx.clone(), 0);
                let page = if e.optimize {
                    st.next_page(&ctx).unwrap()
                } else {
                    EnumerationPage {
                        context: Some(ctx),
                        items: Vec::new(),
                        end_of_sequence: false,
                    }
                };
                page_reply(r, page)
            }
            RequestBody::Pull { context, .. } => match st.next_page(context) {
                Some(page) => {
                    let reply = page_reply(r, page);
                    match lose(r.nth) {
                        Some(f) => f(reply),
                        None => reply,
                    }
                }
                None => Reply::Soap(
                    500,
                    support::fixture("wsman/fault/schema_validation.response.xml"),
                ),
            },
            RequestBody::Release { context } => {
                st.cursors.remove(context);
                st.released.push(context.clone());
                Reply::Soap(200, support::fixture("wsman/enumerate/release.response.xml"))
            }
            _ => support::standard(r),
        }
    });
    (responder, state)
}

fn close(_: Reply) -> Reply {
    Reply::Close
}

fn optimized() -> Enumerate {
    Enumerate {
        optimize: true,
        max_elements: Some(PAGE as u32),
        ..Enumerate::default()
    }
}

async fn wait_for_release(state: &Mutex<Enumerations>, n: usize) {
    for _ in 0..100 {
        if state.lock().unwrap().released.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_pull_reply_lost_after_the_server_processed_it_restarts_without_skipping_a_page() {
    // Pull 1 (items vm-4, vm-5) is processed, then the connection drops.
    let (responder, state) = windows_like(|nth| (nth == 1).then_some(close as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();

    let items: Vec<Item> = c
        .enumerate_stream(CS_URI, &optimized())
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(names(&items), all_names(), "every item once, in order");
    assert_eq!(
        server.stats.count("Enumerate"),
        2,
        "the enumeration restarted once"
    );
    // First enumeration: the Enumerate page (0, 1), Pull 0 (2, 3), Pull 1 lost (4, 5).
    // Restart: the Enumerate page (0, 1) and Pull 2 (2, 3) are skipped, Pull 3 (4, 5),
    // Pull 4 (6, end).
    assert_eq!(server.stats.count("Pull"), 5);
    wait_for_release(&state, 1).await;
    let st = state.lock().unwrap();
    assert_eq!(
        st.released,
        ["uuid:enum-0"],
        "the interrupted context was released"
    );
    assert!(st.cursors.is_empty(), "no context left open on the server");
}

fn corrupt(r: Reply) -> Reply {
    Reply::CorruptSeal(Box::new(r))
}

#[tokio::test]
async fn a_pull_reply_that_fails_its_integrity_check_restarts_the_enumeration() {
    // Pull 1 (items vm-4, vm-5) is processed; its reply does not verify.
    let (responder, _state) = windows_like(|nth| (nth == 1).then_some(corrupt as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let items = c.enumerate(CS_URI, &optimized()).await.unwrap();
    assert_eq!(names(&items), all_names(), "every item once, in order");
    assert_eq!(server.stats.count("Enumerate"), 2, "restarted, not re-pulled");
    assert_eq!(server.stats.count("Pull"), 5);
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_pull_read_timeout_restarts_too() {
    // Pull 0 (items vm-0, vm-1; no optimize) is processed, the reply comes after the read
    // timeout.
    let (responder, _state) = windows_like(|nth| {
        (nth == 0)
            .then_some((|r| Reply::Delay(Duration::from_millis(1500), Box::new(r))) as fn(Reply) -> Reply)
    });
    let server = ntlm_server(responder).await;
    let c = client(&server)
        .operation_timeout(Duration::from_millis(200))
        .read_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let items = c.enumerate(CS_URI, &Enumerate::default()).await.unwrap();
    assert_eq!(names(&items), all_names());
    assert_eq!(server.stats.count("Enumerate"), 2);
    // Pull 0 timed out; restart: Pull 1 (0, 1) skipped, Pulls 2..4 yield the rest.
    assert_eq!(server.stats.count("Pull"), 5);
}

#[tokio::test]
async fn client_enumerate_also_restarts_after_a_lost_pull_reply() {
    let (responder, _state) = windows_like(|nth| (nth == 2).then_some(close as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let items = c.enumerate(CS_URI, &optimized()).await.unwrap();
    assert_eq!(names(&items), all_names());
    assert_eq!(server.stats.count("Enumerate"), 2);
    // Pulls 0, 1, 2 (lost: item 6 and the end); restart: Pulls 3, 4 skipped, Pull 5 (6, end).
    assert_eq!(server.stats.count("Pull"), 6);
}

#[tokio::test]
async fn a_second_lost_pull_reply_ends_the_stream_with_enumeration_interrupted() {
    // Pull 1 is lost; after the restart Pull 2 (skipped items) passes, Pull 3 is lost too.
    let (responder, _state) =
        windows_like(|nth| (nth == 1 || nth == 3).then_some(close as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();

    let results: Vec<Result<Item, winrm_client::Error>> =
        c.enumerate_stream(CS_URI, &optimized()).collect().await;
    assert_eq!(results.len(), 5, "four items, then the error");
    let items: Vec<Item> = results[..4].iter().map(|r| r.as_ref().unwrap().clone()).collect();
    assert_eq!(names(&items), ["vm-0", "vm-1", "vm-2", "vm-3"]);
    let err = results[4].as_ref().unwrap_err();
    match err {
        winrm_client::Error::EnumerationInterrupted { items, source } => {
            assert_eq!(*items, 4);
            match source.as_ref() {
                winrm_client::Error::OutcomeUnknown {
                    method, resource_uri, ..
                } => {
                    assert_eq!(method, "Pull");
                    assert_eq!(resource_uri, CS_URI);
                }
                other => panic!("expected the Pull's OutcomeUnknown as the source, got {other:?}"),
            }
        }
        other => panic!("expected EnumerationInterrupted, got {other:?}"),
    }
    assert!(err.is_connection(), "classified as a connection error");
    assert!(!err.is_outcome_unknown());
    let msg = err.to_string();
    assert!(msg.contains("after 4 item(s)"), "{msg}");
    assert!(msg.contains("incomplete"), "{msg}");
    assert!(msg.contains("run it again"), "{msg}");
    assert_eq!(server.stats.count("Enumerate"), 2, "restarted once, not twice");
    assert_eq!(server.stats.count("Pull"), 4, "no lost Pull was re-sent");

    // Client::enumerate gives the same error: every Pull's reply lost; the Enumerate page
    // (2 items) was received, the restart's Enumerate page skipped.
    let (responder, _state) = windows_like(|_| Some(close as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let err = c.enumerate(CS_URI, &optimized()).await.unwrap_err();
    assert!(
        matches!(err, winrm_client::Error::EnumerationInterrupted { items: 2, .. }),
        "{err:?}"
    );
    assert_eq!(server.stats.count("Enumerate"), 2);
    assert_eq!(server.stats.count("Pull"), 2);
}

#[tokio::test]
async fn with_no_restarts_allowed_the_first_lost_pull_reply_interrupts() {
    let (responder, state) = windows_like(|nth| (nth == 1).then_some(close as fn(Reply) -> Reply));
    let server = ntlm_server(responder).await;
    let c = client(&server).enumeration_restarts(0).build().unwrap();
    let err = c.enumerate(CS_URI, &optimized()).await.unwrap_err();
    assert!(
        matches!(err, winrm_client::Error::EnumerationInterrupted { items: 4, .. }),
        "{err:?}"
    );
    assert_eq!(server.stats.count("Enumerate"), 1);
    assert_eq!(server.stats.count("Pull"), 2);
    // The stream was dropped with the context still set: released in the background.
    wait_for_release(&state, 1).await;
    assert_eq!(state.lock().unwrap().released, ["uuid:enum-0"]);
}

#[tokio::test]
async fn a_restarted_enumeration_that_comes_back_shorter_is_an_error() {
    // The second enumeration has fewer items than were already yielded.
    let enumerates = Arc::new(Mutex::new(0usize));
    let n = enumerates.clone();
    let responder: support::Responder = Arc::new(move |r: &support::Req| match &r.parsed.body {
        RequestBody::Enumerate(_) => {
            let mut n = n.lock().unwrap();
            *n += 1;
            let page = if *n == 1 {
                EnumerationPage {
                    context: Some("uuid:long".to_owned()),
                    items: (0..3).map(vm).collect(),
                    end_of_sequence: false,
                }
            } else {
                EnumerationPage {
                    context: None,
                    items: (0..2).map(vm).collect(),
                    end_of_sequence: true,
                }
            };
            page_reply(r, page)
        }
        RequestBody::Pull { .. } => Reply::Close,
        _ => support::standard(r),
    });
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let err = c.enumerate(CS_URI, &optimized()).await.unwrap_err();
    match &err {
        winrm_client::Error::EnumerationInterrupted { items, source } => {
            assert_eq!(*items, 3);
            assert!(source.to_string().contains("1 item(s) short"), "{source}");
        }
        other => panic!("expected EnumerationInterrupted, got {other:?}"),
    }
    assert_eq!(server.stats.count("Enumerate"), 2);
    assert_eq!(server.stats.count("Pull"), 1);
}

#[tokio::test]
async fn a_pull_on_a_connection_closed_before_sending_is_sent_once_without_restart() {
    // Every reply but the last comes with `Connection: close`: each Pull finds its
    // authenticated connection gone before anything is written, re-authenticates on a new
    // connection and is sent there (once).
    let (inner, _state) = windows_like(|_| None);
    let responder: support::Responder =
        Arc::new(move |r: &support::Req| Reply::ThenClose(Box::new(inner(r))));
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let items = c.enumerate(CS_URI, &optimized()).await.unwrap();
    assert_eq!(names(&items), all_names());
    assert_eq!(server.stats.count("Enumerate"), 1, "no restart");
    assert_eq!(server.stats.count("Pull"), 3, "each Pull processed once");
    assert_eq!(server.stats.connections.load(Ordering::SeqCst), 4);
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_pull_answered_with_401_is_resent_after_reauthentication_without_restart() {
    let (responder, _state) = windows_like(|_| None);
    let server = ntlm_server(responder).await;
    let c = client(&server).build().unwrap();
    let mut stream = Box::pin(c.enumerate_stream(CS_URI, &optimized()));
    let mut got = Vec::new();
    // The Enumerate page (vm-0, vm-1).
    for _ in 0..2 {
        got.push(stream.next().await.unwrap().unwrap());
    }
    // The server forgets the session: the next Pull gets a 401 (not executed).
    server.unauthorize_next.store(true, Ordering::SeqCst);
    while let Some(item) = stream.next().await {
        got.push(item.unwrap());
    }
    assert_eq!(names(&got), all_names());
    assert_eq!(server.stats.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(server.stats.count("Enumerate"), 1, "no restart");
    assert_eq!(server.stats.count("Pull"), 3, "the 401'd Pull was re-sent once");
}

#[tokio::test]
async fn a_pull_whose_connect_is_refused_is_retried_without_restart() {
    // The Enumerate reply closes the connection and the server goes away: the Pull's connect
    // is refused (certainly not sent). The server comes back on the same port during the retry
    // backoff, and the retried Pull completes the enumeration.
    let (inner, _state) = windows_like(|_| None);
    let responder: support::Responder = Arc::new(move |r: &support::Req| match &r.parsed.body {
        RequestBody::Enumerate(_) => Reply::ThenClose(Box::new(inner(r))),
        _ => inner(r),
    });
    let server = ntlm_server(responder.clone()).await;
    let addr = server.addr;
    let first_stats = server.stats.clone();
    let c = client(&server)
        .retries(2, Duration::from_millis(1000))
        .build()
        .unwrap();
    let mut stream = Box::pin(c.enumerate_stream(CS_URI, &optimized()));
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(stream.next().await.unwrap().unwrap());
    }
    drop(server);
    // The Pull finds the connection gone (after the guard's grace of 400 ms), the connect is
    // refused, the retry waits 1 s; the server is back after 800 ms.
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        support::start_at(
            &addr.to_string(),
            support::Auth::Ntlm {
                encrypt: true,
                cbt: None,
            },
            None,
            responder,
        )
        .await
    });
    while let Some(item) = stream.next().await {
        got.push(item.unwrap());
    }
    let second = back.await.unwrap();
    assert_eq!(names(&got), all_names());
    assert_eq!(
        first_stats.count("Enumerate") + second.stats.count("Enumerate"),
        1,
        "no restart"
    );
    assert_eq!(first_stats.count("Pull"), 0);
    assert_eq!(second.stats.count("Pull"), 3, "each Pull processed once");
    assert_eq!(
        c.connections_opened(),
        3,
        "the first connection, the refused connect, the retry's connection"
    );
}
