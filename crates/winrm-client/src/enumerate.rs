//! The enumeration stream: pulls pages as it is polled and releases the context when dropped
//! before EndOfSequence ([DSP0226 §8.6]).
//!
//! A Pull advances the enumeration on the server ([DSP0226 §8.4]; Windows keeps the same
//! context string), so a Pull whose reply was lost is not sent again with the same context
//! (the transport gives [`Error::OutcomeUnknown`] for it). The stream restarts instead: the
//! same Enumerate again, skipping the items already yielded. This assumes the provider returns
//! the same order each time (WMI providers enumerate a class in their own stable order; true
//! for the simulator, assumed for Hyper-V's providers) and that the set did not change.

use std::collections::VecDeque;

use futures_util::Stream;
use wsman_soap::{Enumerate, EnumerationPage, Item};

use crate::{Client, Error};

/// Releases the enumeration context (in a background task) if still set when dropped.
struct ReleaseOnDrop {
    client: Client,
    resource_uri: String,
    context: Option<String>,
}

impl ReleaseOnDrop {
    /// Releases the current context, if any, in a background task; errors are only logged.
    fn release_in_background(&mut self) {
        let Some(context) = self.context.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("enumeration dropped outside a runtime; context not released");
            return;
        };
        let client = self.client.clone();
        let uri = self.resource_uri.clone();
        handle.spawn(async move {
            match client.release(&uri, &context).await {
                Ok(()) => tracing::debug!("released enumeration context"),
                Err(e) => tracing::debug!(error = %e, "releasing enumeration context failed"),
            }
        });
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.release_in_background();
    }
}

struct State {
    request: Enumerate,
    buffer: VecDeque<Item>,
    started: bool,
    done: bool,
    /// Items handed to the consumer so far.
    yielded: usize,
    /// Items of the current (restarted) enumeration still to drop: already yielded before.
    skip: usize,
    /// Restarts left.
    restarts_left: u32,
    /// The current enumeration is a restart (its Enumerate or a short result ends the stream
    /// with [`Error::EnumerationInterrupted`]).
    restarted: bool,
    guard: ReleaseOnDrop,
}

impl State {
    fn interrupted(&mut self, source: Error) -> Error {
        self.done = true;
        Error::EnumerationInterrupted {
            items: self.yielded,
            source: Box::new(source),
        }
    }

    /// Takes a page: its items after the ones to skip, and its context.
    fn accept(&mut self, p: EnumerationPage) {
        let n = self.skip.min(p.items.len());
        self.skip -= n;
        self.buffer.extend(p.items.into_iter().skip(n));
        if p.end_of_sequence {
            self.done = true;
            self.guard.context = None;
        } else {
            self.guard.context = p.context;
        }
    }
}

pub(crate) fn stream(
    client: Client,
    resource_uri: String,
    request: Enumerate,
) -> impl Stream<Item = Result<Item, Error>> + Send + 'static {
    let restarts_left = client.inner.cfg.enumeration_restarts;
    let state = State {
        request,
        buffer: VecDeque::new(),
        started: false,
        done: false,
        yielded: 0,
        skip: 0,
        restarts_left,
        restarted: false,
        guard: ReleaseOnDrop {
            client,
            resource_uri,
            context: None,
        },
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.buffer.pop_front() {
                st.yielded += 1;
                return Some((Ok(item), st));
            }
            if st.done {
                if st.skip > 0 {
                    // The restarted enumeration ended before reaching the items already
                    // yielded: the set changed, the rest cannot be placed.
                    let skip = st.skip;
                    st.skip = 0;
                    let e = Error::protocol(format!(
                        "the restarted enumeration ended {skip} item(s) short of the items already received \
                         (the set changed in between)"
                    ));
                    return Some((Err(st.interrupted(e)), st));
                }
                return None;
            }
            let client = st.guard.client.clone();
            let uri = st.guard.resource_uri.clone();
            if !st.started {
                st.started = true;
                match client.enumerate_page(&uri, &st.request).await {
                    Ok(p) => st.accept(p),
                    Err(e) if st.restarted => {
                        let e = st.interrupted(e);
                        return Some((Err(e), st));
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                continue;
            }
            let Some(ctx) = st.guard.context.clone() else {
                st.done = true;
                let e = Error::protocol("enumeration response without EndOfSequence or EnumerationContext");
                return Some((Err(e), st));
            };
            match client.pull(&uri, &ctx, st.request.max_elements).await {
                Ok(p) => st.accept(p),
                Err(e @ Error::OutcomeUnknown { .. }) => {
                    // The server may have advanced past the page that was lost.
                    if st.restarts_left == 0 {
                        let e = st.interrupted(e);
                        return Some((Err(e), st));
                    }
                    st.restarts_left -= 1;
                    tracing::warn!(
                        items = st.yielded,
                        error = %e,
                        "the reply to a Pull was lost; restarting the enumeration and skipping the items already received"
                    );
                    st.guard.release_in_background();
                    st.started = false;
                    st.restarted = true;
                    st.skip = st.yielded;
                }
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
}
