//! The per-request guard, and the signal that cuts a request at the deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::futures::OwnedNotified;

use crate::Drain;

/// One request counted in flight by a [`Drain`], until this guard is dropped.
///
/// Keep it alive for as long as the request is in flight: on HTTP, until the response
/// body has been sent ([`DrainBody`](crate::DrainBody) holds it).
///
/// ```
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder().build()?;
/// let guard = drain.enter().expect("serving");
/// assert_eq!(drain.snapshot().in_flight, 1);
/// assert!(!guard.is_cut());
/// drop(guard);
/// assert_eq!(drain.snapshot().in_flight, 0);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct RequestGuard {
    drain: Drain,
}

impl RequestGuard {
    #[inline]
    pub(crate) fn new(drain: Drain) -> Self {
        Self { drain }
    }

    /// The drain this request counts in.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// `true` once the drain is done while this request is still in flight: it was
    /// cut at the deadline and should stop.
    #[inline]
    pub fn is_cut(&self) -> bool {
        self.drain.is_done()
    }
}

impl Drop for RequestGuard {
    #[inline]
    fn drop(&mut self) {
        self.drain.shared.tracker.leave();
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard")
            .field("cut", &self.is_cut())
            .finish()
    }
}

/// Waits for the request holding a [`RequestGuard`] to be cut. Allocates its
/// notification only when first polled, so requests that never wait pay nothing, and
/// stays `Unpin` so that the bodies holding it are.
#[derive(Debug, Default)]
pub(crate) struct Cut {
    notified: Option<Pin<Box<OwnedNotified>>>,
}

impl Cut {
    /// Ready once the request of `guard` is cut.
    pub(crate) fn poll_cut(&mut self, guard: &RequestGuard, cx: &mut Context<'_>) -> Poll<()> {
        let notified = self
            .notified
            .get_or_insert_with(|| Box::pin(guard.drain.shared.cut.clone().notified_owned()));
        // The notification was created before this check, so it also catches a move to
        // done that happens after the check.
        if guard.is_cut() {
            return Poll::Ready(());
        }
        notified.as_mut().poll(cx)
    }
}
