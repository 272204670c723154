//! What a response says about the server's capacity, fed back into the shaper.

use std::time::Duration;

/// What one response said about the server's capacity.
///
/// The HTTP face (`tollgate_http::shape`) reads it from `429`/`503` + `Retry-After`,
/// the `RateLimit` headers and gRPC's `grpc-retry-pushback-ms`.
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

/// Reads a [`Signal`] from a response of type `Res`, for the
/// [`ShapeLayer`](crate::ShapeLayer)'s server-feedback mode.
///
/// Implemented by [`NoFeedback`] (every response is [`Signal::Accepted`]), by any
/// `Fn(&Res) -> Signal` closure, and by `tollgate_http::shape::HttpFeedback`.
///
/// ```
/// use std::time::Duration;
/// use tollgate_leaky::{Feedback, Signal};
///
/// let by_status = |status: &u16| match status {
///     429 => Signal::Throttled { retry_after: Some(Duration::from_secs(1)) },
///     _ => Signal::Accepted,
/// };
/// assert_eq!(by_status.signal(&200), Signal::Accepted);
/// ```
pub trait Feedback<Res>: Clone + Send + Sync + 'static {
    /// What `response` says.
    fn signal(&self, response: &Res) -> Signal;
}

impl<F, Res> Feedback<Res> for F
where
    F: Fn(&Res) -> Signal + Clone + Send + Sync + 'static,
{
    fn signal(&self, response: &Res) -> Signal {
        self(response)
    }
}

/// No server feedback: every response counts as accepted.
///
/// ```
/// use tollgate_leaky::{Feedback, NoFeedback, Signal};
/// assert_eq!(NoFeedback.signal(&"any response"), Signal::Accepted);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFeedback;

impl<Res> Feedback<Res> for NoFeedback {
    fn signal(&self, _: &Res) -> Signal {
        Signal::Accepted
    }
}
