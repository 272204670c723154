//! The tower [`Layer`]: a direct or keyed limiter in front of any service.

use std::fmt;
use std::time::Duration;

use tollgate_core::AsError;
use tower_layer::Layer;

use crate::decide::Limiter;
use crate::key::{MissingKey, Unkeyed, WithMissingKey};
use crate::outcome::Snapshot;
use crate::service::RateLimit;

/// Rate limits the requests of the service it wraps, deciding in `call`.
///
/// - Direct ([`new`](RateLimitLayer::new)): every request shares one bucket. Keyed
///   ([`keyed`](RateLimitLayer::keyed)): a [`KeyFn`](tollgate_core::KeyFn) picks each
///   request's bucket; a request without a key is refused with
///   [`Reason::MissingKey`](tollgate_core::Reason::MissingKey) unless
///   [`on_missing_key`](RateLimitLayer::on_missing_key) says otherwise.
/// - Reject mode (the default): a request over the quota is refused at once. Wait mode
///   ([`max_wait`](RateLimitLayer::max_wait)): it waits for its slot inside the response
///   future when that wait is at most the maximum, and is refused at once otherwise.
/// - What a refusal becomes is the layer's [`Refuse`](tollgate_core::Refuse) type `R`:
///   by default ([`AsError`]) an `Err(BoxError)` holding the
///   [`Rejection`](tollgate_core::Rejection); [`refuse_with`](RateLimitLayer::refuse_with)
///   plugs in another, such as `tollgate_http`'s `AsResponse` (a `429` response with
///   `Retry-After` and the `RateLimit` headers, the error type kept: `Infallible` on an
///   axum router) or `AsStatus` (a `tonic::Status` for tonic clients). `R` also says what
///   admitted responses are told ([`OnAdmitted`](crate::OnAdmitted)).
///
/// The service is always as ready as its inner service. Clones share the limiter, so
/// it is `Clone` and needs no `Buffer`. The inner service must be `Clone` too: a waiting
/// request takes the inner service that `poll_ready` readied, and leaves a fresh clone
/// in its place.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::BoxError> {
/// use tollgate_bucket::{Quota, RateLimitLayer, RateLimiter};
/// use tollgate_core::{Reason, Rejection};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let limiter = RateLimiter::new(Quota::per_hour(1).build()?);
/// let echo = service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) });
/// let layer = RateLimitLayer::new(limiter);
/// let service = layer.layer(echo);
///
/// assert_eq!(service.clone().oneshot(7).await?, 7);
/// let err = service.oneshot(8).await.unwrap_err();
/// let rejection = err.downcast_ref::<Rejection>().expect("a rejection");
/// assert_eq!(rejection.reason(), Reason::RateLimited);
/// assert_eq!((layer.snapshot().admitted, layer.snapshot().rejected), (1, 1));
/// # Ok(())
/// # }
/// ```
///
/// Keyed, with the key taken from the request:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::BoxError> {
/// use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let limiter = KeyedRateLimiter::builder(Quota::per_hour(1).build()?).build()?;
/// let layer = RateLimitLayer::keyed(limiter, |req: &(&'static str, u32)| Some(req.0));
/// let service = layer.layer(service_fn(|req: (&str, u32)| async move {
///     Ok::<_, tower::BoxError>(req.1)
/// }));
/// assert_eq!(service.clone().oneshot(("alice", 1)).await?, 1);
/// assert_eq!(service.clone().oneshot(("bob", 2)).await?, 2);
/// assert!(service.oneshot(("alice", 3)).await.is_err());
/// assert_eq!(layer.snapshot().keys, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer<L, F = Unkeyed, R = AsError> {
    limiter: L,
    key: F,
    max_wait: Option<Duration>,
    refuse: R,
}

impl<L> RateLimitLayer<L> {
    /// A reject-mode layer over a direct limiter (one bucket for every request), whose
    /// refusals are errors ([`AsError`]).
    pub fn new(limiter: L) -> Self {
        Self::keyed(limiter, Unkeyed)
    }
}

impl<L, F> RateLimitLayer<L, F> {
    /// A reject-mode layer over a keyed limiter, whose refusals are errors
    /// ([`AsError`]); `key` (a [`KeyFn`](tollgate_core::KeyFn)) picks each request's key.
    pub fn keyed(limiter: L, key: F) -> Self {
        RateLimitLayer {
            limiter,
            key,
            max_wait: None,
            refuse: AsError,
        }
    }
}

impl<L, F, R> RateLimitLayer<L, F, R> {
    /// Wait mode: a request over the quota waits for its slot inside the response
    /// future if that is at most `max` away, and is refused at once with
    /// [`Reason::WaitTooLong`](tollgate_core::Reason::WaitTooLong) otherwise. Dropping
    /// the response future while it waits gives the slot back (see
    /// [`Reservation`](crate::Reservation)). Needs a tokio runtime with the timer.
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.max_wait = Some(max);
        self
    }

    /// What refusals become (and what admitted responses are told): a
    /// [`Refuse`](tollgate_core::Refuse) that is also an
    /// [`OnAdmitted`](crate::OnAdmitted).
    pub fn refuse_with<R2>(self, refuse: R2) -> RateLimitLayer<L, F, R2> {
        RateLimitLayer {
            limiter: self.limiter,
            key: self.key,
            max_wait: self.max_wait,
            refuse,
        }
    }

    /// What to do with a request whose key function finds no key (default:
    /// [`MissingKey::Reject`]).
    ///
    /// ```
    /// use tollgate_bucket::{KeyedRateLimiter, MissingKey, Quota, RateLimitLayer};
    ///
    /// let limiter = KeyedRateLimiter::<String>::builder(Quota::per_second(5).build()?).build()?;
    /// let layer = RateLimitLayer::keyed(limiter, |user: &Option<String>| user.clone())
    ///     .on_missing_key(MissingKey::Bucket("anonymous".to_owned()));
    /// # let _ = layer;
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn on_missing_key<K>(
        self,
        missing: MissingKey<K>,
    ) -> RateLimitLayer<L, WithMissingKey<F, K>, R> {
        RateLimitLayer {
            limiter: self.limiter,
            key: WithMissingKey::new(self.key, missing),
            max_wait: self.max_wait,
            refuse: self.refuse,
        }
    }

    /// The limiter (shared with every service this layer makes).
    pub fn limiter(&self) -> &L {
        &self.limiter
    }

    /// The limiter's counters so far.
    pub fn snapshot(&self) -> Snapshot
    where
        L: Limiter,
    {
        self.limiter.snapshot()
    }
}

impl<S, L: Clone, F: Clone, R: Clone> Layer<S> for RateLimitLayer<L, F, R> {
    type Service = RateLimit<S, L, F, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(
            inner,
            self.limiter.clone(),
            self.key.clone(),
            self.max_wait,
            self.refuse.clone(),
        )
    }
}

impl<L: fmt::Debug, F, R: fmt::Debug> fmt::Debug for RateLimitLayer<L, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key function is often a closure, which has no `Debug`.
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .field("refuse", &self.refuse)
            .finish_non_exhaustive()
    }
}
