//! The connection guard: a reqwest connector layer that counts the TCP connections a session
//! opens and refuses to open a new one while the session's security context is pinned to the
//! current connection.
//!
//! NTLM and Negotiate contexts are bound to the TCP connection ([MS-WSMV 3.1.4.1.29]); a sealed
//! request sent on a fresh connection would be answered with 401 (and, for an Invoke, leave us
//! guessing). With one request in flight per session and a pool of one idle connection, reqwest
//! reuses the pooled connection; when that connection is gone, the guard turns the request into
//! a connect error *before anything is written*, and the session re-authenticates on a new
//! connection. So even a non-idempotent request is safe to send after a [`ConnectionLost`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::BoxError;

/// How long a refused connect waits before failing: an idle connection that is being returned
/// to the pool by hyper's background task wins the race in the meantime and is used instead.
const RETURN_GRACE: Duration = Duration::from_millis(400);

/// Per-session connection state shared with the connector layer.
#[derive(Debug, Default)]
pub(crate) struct ConnGuard {
    pinned: AtomicBool,
    connects: AtomicU64,
}

impl ConnGuard {
    /// Pins the session to the current connection: new connects fail with [`ConnectionLost`].
    pub(crate) fn pin(&self) {
        self.pinned.store(true, Ordering::SeqCst);
    }

    /// Allows new connections (the context is reset).
    pub(crate) fn unpin(&self) {
        self.pinned.store(false, Ordering::SeqCst);
    }

    /// TCP connections opened so far by this session.
    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::SeqCst)
    }
}

/// The pinned connection is gone; nothing of the request was written.
#[derive(Debug, thiserror::Error)]
#[error("the authenticated connection was closed; a new connection needs a new handshake")]
pub(crate) struct ConnectionLost;

/// Returns true if `err` (or one of its sources) is a [`ConnectionLost`].
pub(crate) fn is_connection_lost(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<ConnectionLost>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The tower layer given to `reqwest::ClientBuilder::connector_layer`.
#[derive(Clone, Debug)]
pub(crate) struct GuardLayer(pub(crate) Arc<ConnGuard>);

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// The connector service wrapper.
#[derive(Clone, Debug)]
pub(crate) struct GuardService<S> {
    inner: S,
    guard: Arc<ConnGuard>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, R> tower_service::Service<R> for GuardService<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFut<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if self.guard.pinned.load(Ordering::SeqCst) {
            return Box::pin(async {
                tokio::time::sleep(RETURN_GRACE).await;
                Err(Box::new(ConnectionLost) as BoxError)
            });
        }
        self.guard.connects.fetch_add(1, Ordering::SeqCst);
        tracing::debug!("opening a new connection");
        Box::pin(self.inner.call(req))
    }
}
