use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a tollgate layer refused a request.
///
/// The HTTP face maps each reason to its conventional status (429, 503, 504, 400) and
/// gRPC code; see `tollgate-http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not enough capacity now; capacity returns with time (token bucket).
    RateLimited,
    /// The request costs more than the quota can ever grant at once: waiting will not
    /// help. Carries no retry-after.
    OverCapacity,
    /// Waiting for capacity would take longer than the configured maximum wait.
    WaitTooLong,
    /// A bounded queue is full.
    QueueFull,
    /// The remote told us to slow down (server pushback), or adaptive client-side
    /// throttling shed the request.
    Throttled,
    /// The request carried no usable key and the keyed layer is set to refuse it.
    MissingKey,
    /// A header a layer reads (a timeout, a key) is malformed and the layer is set to
    /// refuse such requests.
    MalformedHeader,
    /// Every tracked key is active and the key table is at its bound.
    KeyTableFull,
    /// The store a shared limit lives in (Redis) did not answer in time, and the
    /// limiter is set to fail closed.
    StoreUnavailable,
    /// A circuit breaker is open (or held open) for this dependency.
    CircuitOpen,
    /// A deadline was spent before or during the call.
    DeadlineExceeded(DeadlineKind),
    /// The server is draining for shutdown and takes no new requests.
    Draining,
}

/// Which deadline fired, for [`Reason::DeadlineExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadlineKind {
    /// The deadline inherited from the caller (an incoming `grpc-timeout` or header).
    Inherited,
    /// This client's total timeout across all tries.
    Total,
    /// The timeout of one try.
    PerTry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::RateLimited => "rate limited",
            Reason::OverCapacity => "request exceeds the quota's capacity",
            Reason::WaitTooLong => "wait would exceed the maximum",
            Reason::QueueFull => "queue is full",
            Reason::Throttled => "throttled",
            Reason::MissingKey => "request has no rate-limit key",
            Reason::MalformedHeader => "request header is malformed",
            Reason::KeyTableFull => "key table is full",
            Reason::StoreUnavailable => "rate-limit store is unavailable",
            Reason::CircuitOpen => "circuit breaker is open",
            Reason::DeadlineExceeded(DeadlineKind::Inherited) => "inherited deadline exceeded",
            Reason::DeadlineExceeded(DeadlineKind::Total) => "total timeout exceeded",
            Reason::DeadlineExceeded(DeadlineKind::PerTry) => "per-try timeout exceeded",
            Reason::Draining => "server is draining",
        })
    }
}

/// The quota a rejection was measured against, for `RateLimit-Policy` style headers.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Policy;
///
/// let policy = Policy::new(100, Duration::from_secs(60));
/// assert_eq!(policy.limit(), 100);
/// assert_eq!(policy.window(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    limit: u64,
    window: Duration,
}

impl Policy {
    /// `limit` units per `window`.
    pub const fn new(limit: u64, window: Duration) -> Self {
        Self { limit, window }
    }

    /// Units granted per window.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The window the limit applies to.
    pub const fn window(&self) -> Duration {
        self.window
    }
}

/// A request refused by a tollgate layer: why, and when a retry can succeed.
///
/// Client-side services return it inside `tower::BoxError`, so callers downcast:
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Reason, Rejection};
///
/// let err: Box<dyn std::error::Error + Send + Sync> = Box::new(
///     Rejection::new(Reason::CircuitOpen)
///         .with_name("payments")
///         .with_retry_after(Duration::from_millis(1500)),
/// );
/// let rejected = err.downcast_ref::<Rejection>().expect("a tollgate rejection");
/// assert_eq!(rejected.reason(), Reason::CircuitOpen);
/// assert_eq!(rejected.name(), Some("payments"));
/// assert_eq!(rejected.to_string(), "payments: circuit breaker is open, retry after 1.5s");
/// ```
///
/// `retry_after` is `None` when waiting cannot help ([`Reason::OverCapacity`]) or is
/// not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    retry_after: Option<Duration>,
    name: Option<Arc<str>>,
    policy: Option<Policy>,
}

impl Rejection {
    /// A rejection for `reason`, with no retry time, name or policy yet.
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            retry_after: None,
            name: None,
            policy: None,
        }
    }

    /// Sets the time after which a retry can succeed.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Names the component that refused (a breaker, a limiter's policy).
    pub fn with_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the quota the request was measured against.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Why the request was refused.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The time after which a retry can succeed, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The name of the component that refused, when it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The quota the request was measured against, when there is one.
    pub fn policy(&self) -> Option<Policy> {
        self.policy
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name}: ")?;
        }
        write!(f, "{}", self.reason)?;
        if let Some(after) = self.retry_after {
            write!(f, ", retry after {after:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_without_period() {
        let r = Rejection::new(Reason::OverCapacity);
        assert_eq!(r.to_string(), "request exceeds the quota's capacity");
        let r = Rejection::new(Reason::DeadlineExceeded(DeadlineKind::PerTry));
        assert_eq!(r.to_string(), "per-try timeout exceeded");
        let r = Rejection::new(Reason::RateLimited)
            .with_retry_after(Duration::from_millis(250))
            .with_policy(Policy::new(10, Duration::from_secs(1)));
        assert_eq!(r.to_string(), "rate limited, retry after 250ms");
        assert_eq!(r.policy(), Some(Policy::new(10, Duration::from_secs(1))));
    }
}
