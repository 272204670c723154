//! The per-request guard, and the signal that cuts a request at the deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::futures::OwnedNotified;

use crate::Drain;

/// One request counted in flight by a [`Drain`], until this guard is dropped.
///
/// Keep it alive for as long as the request is in flight: the [`DrainLayer`]'s
/// [`Track`] moves it into the response (on HTTP, into the body, until it has been
/// sent). A request still in flight when the drain is done was cut at the deadline:
/// [`is_cut`](RequestGuard::is_cut) says so, and [`poll_cut`](RequestGuard::poll_cut)
/// wakes the holder then, so a stream can end at a frame boundary.
///
/// [`DrainLayer`]: crate::DrainLayer
/// [`Track`]: crate::Track
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
    cut: Cut,
}

impl RequestGuard {
    #[inline]
    pub(crate) fn new(drain: Drain) -> Self {
        Self {
            drain,
            cut: Cut::default(),
        }
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

    /// Ready once this request is cut (see [`is_cut`](RequestGuard::is_cut)); while
    /// pending, the task is woken when the drain reaches its end. The notification is
    /// allocated only on the first pending poll, so requests that never wait pay
    /// nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), tollgate_core::ConfigError> {
    /// use std::future::poll_fn;
    /// use std::time::Duration;
    /// use tollgate_drain::Drain;
    ///
    /// let drain = Drain::builder().propagation_delay(Duration::ZERO).deadline(Duration::from_secs(1)).build()?;
    /// let mut guard = drain.enter().unwrap();
    /// tokio::spawn(drain.clone().run());
    /// drain.start();
    /// poll_fn(|cx| guard.poll_cut(cx)).await; // one second later
    /// assert!(guard.is_cut());
    /// # Ok(()) }
    /// ```
    pub fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.cut.poll(&self.drain, cx)
    }
}

impl Drop for RequestGuard {
    #[inline]
    fn drop(&mut self) {
        self.drain.leave();
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard")
            .field("cut", &self.is_cut())
            .finish()
    }
}

/// Waits for a request to be cut. Allocates its notification only when first polled,
/// and stays `Unpin` so that the guard, and the bodies holding it, are.
#[derive(Debug, Default)]
struct Cut {
    notified: Option<Pin<Box<OwnedNotified>>>,
}

impl Cut {
    fn poll(&mut self, drain: &Drain, cx: &mut Context<'_>) -> Poll<()> {
        let notified = self
            .notified
            .get_or_insert_with(|| Box::pin(drain.cut_notify().notified_owned()));
        // The notification was created before this check, so it also catches a move to
        // done that happens after the check.
        if drain.is_done() {
            return Poll::Ready(());
        }
        notified.as_mut().poll(cx)
    }
}
