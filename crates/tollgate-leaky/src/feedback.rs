//! What a response says about the server's capacity, fed back into the shaper, at
//! once or when the response has ended (a gRPC status comes in the trailers).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::Clock;

use crate::shaper::Shaper;

// A plain `std` `Arc`, also under loom: it holds a trait object, which loom's `Arc`
// cannot.

/// What one response said about the server's capacity.
///
/// The HTTP face (`tollgate_http::shape`) reads it from `429`/`503` + `Retry-After`,
/// the `RateLimit` headers and gRPC's `grpc-status` + `grpc-retry-pushback-ms`.
///
/// ```
/// use std::time::Duration;
/// use tollgate_leaky::Signal;
///
/// let pushback = Signal::Throttled { retry_after: Some(Duration::from_secs(2)) };
/// assert_ne!(pushback, Signal::Accepted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The server accepted the call (counted by adaptive throttling).
    Accepted,
    /// The server refused for lack of capacity; when it said how long to back off,
    /// releases pause for that long.
    Throttled {
        /// The server's requested back-off, when it gave one.
        retry_after: Option<Duration>,
    },
    /// The server accepted the call but says its quota is now spent (an IETF
    /// `RateLimit` header with remaining 0): releases pause until the quota resets.
    Exhausted {
        /// Time until the server's quota resets.
        reset: Duration,
    },
    /// Says nothing about capacity (for example a transport error).
    Ignored,
}

/// Reads what a response of type `Res` says, for the [`ShapeLayer`](crate::ShapeLayer)'s
/// server-feedback mode, and tells the shaper through a [`Verdict`]: at once, or later,
/// from a part of the response still to come (a gRPC status in the trailers: the
/// feedback then wraps the response to read them, `Response` being the wrapped type).
///
/// Implemented by [`NoFeedback`] (every response is [`Signal::Accepted`]), by any
/// `Fn(&Res) -> Signal` closure (read at once, the response unchanged), and by
/// `tollgate_http::shape::HttpFeedback`.
///
/// ```
/// use std::time::Duration;
/// use tollgate_leaky::{Feedback, Signal};
///
/// let by_status = |status: &u16| match status {
///     429 => Signal::Throttled { retry_after: Some(Duration::from_secs(1)) },
///     _ => Signal::Accepted,
/// };
/// # let _ = by_status;
/// ```
pub trait Feedback<Res>: Clone + Send + Sync + 'static {
    /// What the layer answers: the response, or the response wrapped to report later.
    type Response;

    /// Reads `response` and reports what it says to `verdict`, now or later (dropping
    /// the verdict unreported means [`Signal::Ignored`]).
    fn observe(&self, response: Res, verdict: Verdict<'_>) -> Self::Response;

    /// A response the layer made itself (its refusal): it says nothing of the server.
    fn refused(&self, response: Res) -> Self::Response;
}

impl<F, Res> Feedback<Res> for F
where
    F: Fn(&Res) -> Signal + Clone + Send + Sync + 'static,
{
    type Response = Res;

    fn observe(&self, response: Res, verdict: Verdict<'_>) -> Res {
        verdict.report(self(&response));
        response
    }

    fn refused(&self, response: Res) -> Res {
        response
    }
}

/// No server feedback: every response counts as accepted.
///
/// ```
/// use tollgate_leaky::NoFeedback;
/// let _ = tollgate_leaky::ShapeLayer::new(
///     tollgate_leaky::Shaper::builder(tollgate_core::Quota::per_second(1).burst(1)?).build()?,
/// )
/// .feedback(NoFeedback);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFeedback;

impl<Res> Feedback<Res> for NoFeedback {
    type Response = Res;

    fn observe(&self, response: Res, verdict: Verdict<'_>) -> Res {
        verdict.report(Signal::Accepted);
        response
    }

    fn refused(&self, response: Res) -> Res {
        response
    }
}

/// Where one response's [`Signal`] goes: its shaper. [`report`](Verdict::report) it
/// now, or [`defer`](Verdict::defer) it to report it from what comes later.
///
/// ```
/// use tollgate_core::{ManualClock, Quota};
/// use tollgate_leaky::{Shaper, Signal};
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(ManualClock::new()).build()?;
/// let later = shaper.verdict().defer(); // the status is still to come
/// later.report(Signal::Throttled { retry_after: Some(std::time::Duration::from_secs(3)) });
/// assert_eq!(shaper.snapshot().paused_for, std::time::Duration::from_secs(3));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct Verdict<'a> {
    shaper: &'a dyn Share,
}

impl<'a> Verdict<'a> {
    pub(crate) fn new<C: Clock>(shaper: &'a Shaper<C>) -> Self {
        Self { shaper }
    }

    /// Tells the shaper what the response said.
    pub fn report(self, signal: Signal) {
        self.shaper.observe(signal);
    }

    /// Keeps the verdict past the response's head (one reference count), to report
    /// it when the rest of the response says.
    pub fn defer(self) -> DeferredVerdict {
        DeferredVerdict {
            shaper: self.shaper.shared(),
        }
    }
}

impl fmt::Debug for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict").finish_non_exhaustive()
    }
}

/// A [`Verdict`] kept for later; see [`Verdict::defer`]. Dropped unreported, it says
/// nothing ([`Signal::Ignored`]).
#[derive(Clone)]
pub struct DeferredVerdict {
    shaper: Arc<dyn Observe>,
}

impl DeferredVerdict {
    /// Tells the shaper what the response said.
    pub fn report(self, signal: Signal) {
        self.shaper.observe(signal);
    }
}

impl fmt::Debug for DeferredVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredVerdict").finish_non_exhaustive()
    }
}

/// A shaper's state, whatever its clock: what a deferred verdict keeps.
pub(crate) trait Observe: Send + Sync {
    fn observe(&self, signal: Signal);
}

/// A shaper, whatever its clock: what a verdict borrows.
pub(crate) trait Share: Send + Sync {
    fn observe(&self, signal: Signal);
    /// Its state, shared.
    fn shared(&self) -> Arc<dyn Observe>;
}
