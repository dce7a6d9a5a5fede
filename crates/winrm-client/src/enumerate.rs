//! The enumeration stream: pulls pages as it is polled and releases the context when dropped
//! before EndOfSequence ([DSP0226 §8.6]).

use std::collections::VecDeque;

use futures_util::Stream;
use wsman_soap::{Enumerate, Item};

use crate::{Client, Error};

/// Releases the enumeration context (in a background task) if still set when dropped.
struct ReleaseOnDrop {
    client: Client,
    resource_uri: String,
    context: Option<String>,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some(context) = self.context.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("enumeration dropped outside a runtime; context not released");
            return;
        };
        let client = self.client.clone();
        let uri = std::mem::take(&mut self.resource_uri);
        handle.spawn(async move {
            match client.release(&uri, &context).await {
                Ok(()) => tracing::debug!("released enumeration context"),
                Err(e) => tracing::debug!(error = %e, "releasing enumeration context failed"),
            }
        });
    }
}

struct State {
    request: Enumerate,
    buffer: VecDeque<Item>,
    started: bool,
    done: bool,
    guard: ReleaseOnDrop,
}

pub(crate) fn stream(
    client: Client,
    resource_uri: String,
    request: Enumerate,
) -> impl Stream<Item = Result<Item, Error>> + Send + 'static {
    let state = State {
        request,
        buffer: VecDeque::new(),
        started: false,
        done: false,
        guard: ReleaseOnDrop {
            client,
            resource_uri,
            context: None,
        },
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.buffer.pop_front() {
                return Some((Ok(item), st));
            }
            if st.done {
                return None;
            }
            let client = st.guard.client.clone();
            let uri = st.guard.resource_uri.clone();
            let page = if st.started {
                match st.guard.context.clone() {
                    Some(ctx) => client.pull(&uri, &ctx, st.request.max_elements).await,
                    None => Err(Error::protocol(
                        "enumeration response without EndOfSequence or EnumerationContext",
                    )),
                }
            } else {
                st.started = true;
                client.enumerate_page(&uri, &st.request).await
            };
            match page {
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                Ok(p) => {
                    st.buffer.extend(p.items);
                    if p.end_of_sequence {
                        st.done = true;
                        st.guard.context = None;
                    } else {
                        st.guard.context = p.context;
                    }
                }
            }
        }
    })
}
