//! The two tower layers: the server side reads the caller's budget, the client side
//! sends what is left.

use tollgate_core::{AsError, TokioClock};
use tower_layer::Layer;

use crate::TimeoutSnapshot;
use crate::{DeadlinePolicy, DeadlineSnapshot, Local, ServerDeadline, Timeout, TimeoutPolicy};

/// Runs each request under the deadline its caller sent (see [`DeadlinePolicy`]):
/// refuses budgets that are spent, too small or malformed before the inner service
/// runs, runs it inside the deadline's scope, and cuts it off when the deadline fires.
///
/// `P` reads the budget from the request ([`Local`]: none is read, only the policy's
/// default applies; `tollgate_http::deadline::TimeoutHeaders` reads `grpc-timeout` and
/// `Request-Timeout`), `R` says what a refusal becomes ([`AsError`]: an error holding
/// the [`Rejection`](tollgate_core::Rejection); `tollgate_http::AsResponse`: a 504, 400
/// or gRPC status response). See the crate docs for an example.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer};
///
/// let layer = ServerDeadlineLayer::new(
///     DeadlinePolicy::builder().default_budget(Duration::from_secs(2)).build().unwrap(),
/// );
/// assert_eq!(layer.snapshot().admitted, 0);
/// ```
#[derive(Debug, Clone)]
pub struct ServerDeadlineLayer<P = Local, R = AsError, C = TokioClock> {
    policy: DeadlinePolicy<C>,
    propagate: P,
    refuse: R,
}

impl<C> ServerDeadlineLayer<Local, AsError, C> {
    /// A layer enforcing `policy`, reading no budget from requests and refusing with
    /// [`AsError`].
    pub fn new(policy: DeadlinePolicy<C>) -> Self {
        Self {
            policy,
            propagate: Local,
            refuse: AsError,
        }
    }
}

impl<P, R, C> ServerDeadlineLayer<P, R, C> {
    /// Reads the caller's budget with `propagate`.
    pub fn propagate<P2>(self, propagate: P2) -> ServerDeadlineLayer<P2, R, C> {
        ServerDeadlineLayer {
            policy: self.policy,
            propagate,
            refuse: self.refuse,
        }
    }

    /// Makes refusals with `refuse` (`tollgate_http::AsResponse` on a server).
    pub fn refuse_with<R2>(self, refuse: R2) -> ServerDeadlineLayer<P, R2, C> {
        ServerDeadlineLayer {
            policy: self.policy,
            propagate: self.propagate,
            refuse,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &DeadlinePolicy<C> {
        &self.policy
    }

    /// What the layer's policy decided so far, across every service it built.
    pub fn snapshot(&self) -> DeadlineSnapshot {
        self.policy.snapshot()
    }
}

impl<S, P: Clone, R: Clone, C: Clone> Layer<S> for ServerDeadlineLayer<P, R, C> {
    type Service = ServerDeadline<S, P, R, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerDeadline::new(
            inner,
            self.policy.clone(),
            self.propagate.clone(),
            self.refuse.clone(),
        )
    }
}

/// A total or per-try timeout that also sends the remaining budget on (see
/// [`TimeoutPolicy`]): the call is bounded by the earlier of the inherited deadline and
/// the policy's own timeout, fails fast without calling when too little is left, runs
/// inside the deadline's scope, and is cut off when the deadline fires.
///
/// `P` writes the budget on the request ([`Local`]: nothing is written;
/// `tollgate_http::deadline::TimeoutHeaders` writes `grpc-timeout` or
/// `Request-Timeout`), `R` says what a refusal becomes ([`AsError`] by default;
/// `tollgate_http::AsStatus` around a tonic `Channel`). See the crate docs for an
/// example.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::{TimeoutLayer, TimeoutPolicy};
///
/// let layer = TimeoutLayer::new(TimeoutPolicy::total(Duration::from_secs(3)).unwrap());
/// assert_eq!(layer.snapshot().admitted, 0);
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer<P = Local, R = AsError, C = TokioClock> {
    policy: TimeoutPolicy<C>,
    propagate: P,
    refuse: R,
}

impl<C> TimeoutLayer<Local, AsError, C> {
    /// A layer enforcing `policy`, writing no budget on requests and refusing with
    /// [`AsError`].
    pub fn new(policy: TimeoutPolicy<C>) -> Self {
        Self {
            policy,
            propagate: Local,
            refuse: AsError,
        }
    }
}

impl<P, R, C> TimeoutLayer<P, R, C> {
    /// Writes the budget sent on with `propagate`.
    pub fn propagate<P2>(self, propagate: P2) -> TimeoutLayer<P2, R, C> {
        TimeoutLayer {
            policy: self.policy,
            propagate,
            refuse: self.refuse,
        }
    }

    /// Makes refusals with `refuse` (`tollgate_http::AsStatus` for tonic clients).
    pub fn refuse_with<R2>(self, refuse: R2) -> TimeoutLayer<P, R2, C> {
        TimeoutLayer {
            policy: self.policy,
            propagate: self.propagate,
            refuse,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &TimeoutPolicy<C> {
        &self.policy
    }

    /// What the layer's policy decided so far, across every service it built.
    pub fn snapshot(&self) -> TimeoutSnapshot {
        self.policy.snapshot()
    }
}

impl<S, P: Clone, R: Clone, C: Clone> Layer<S> for TimeoutLayer<P, R, C> {
    type Service = Timeout<S, P, R, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout::new(
            inner,
            self.policy.clone(),
            self.propagate.clone(),
            self.refuse.clone(),
        )
    }
}
