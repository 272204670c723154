//! The tower [`Layer`]: a direct or keyed limiter in front of any service.

use std::fmt;
use std::time::Duration;

use tollgate_core::SystemClock;
use tower_layer::Layer;

use crate::direct::RateLimiter;
use crate::keyed::KeyedRateLimiter;
use crate::service::RateLimit;

/// Rate limits the requests of the service it wraps, deciding in `call`.
///
/// The wrapped service is always as ready as its inner service: a request over the
/// quota fails at once with a [`Rejection`](tollgate_core::Rejection) inside
/// [`BoxError`](crate::BoxError) (reject mode, the default), or, after
/// [`max_wait`](RateLimitLayer::max_wait), waits for its slot inside the response future
/// when that wait is at most the maximum, and fails at once otherwise (wait mode).
/// Clones share the limiter, so it is `Clone` and needs no `Buffer`. The inner
/// service must be `Clone` too: a waiting request takes the inner service that
/// `poll_ready` readied, and leaves a fresh clone in its place.
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
/// let service = RateLimitLayer::new(limiter).layer(echo);
///
/// assert_eq!(service.clone().oneshot(7).await?, 7);
/// let err = service.oneshot(8).await.unwrap_err();
/// let rejection = err.downcast_ref::<Rejection>().expect("a rejection");
/// assert_eq!(rejection.reason(), Reason::RateLimited);
/// # Ok(())
/// # }
/// ```
///
/// Keyed, with the key taken from the request (a request without a key is refused
/// with [`Reason::MissingKey`](tollgate_core::Reason::MissingKey)):
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
/// # Ok(())
/// # }
/// ```
pub struct RateLimitLayer<K = (), C = SystemClock, F = Unkeyed> {
    limiter: Limiter<K, C>,
    key: F,
    max_wait: Option<Duration>,
}

/// The key function of a direct (unkeyed) [`RateLimitLayer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Unkeyed;

/// The limiter behind a layer.
pub(crate) enum Limiter<K, C> {
    Direct(RateLimiter<C>),
    Keyed(KeyedRateLimiter<K, C>),
}

impl RateLimitLayer {
    /// A reject-mode layer over a direct limiter on the system clock.
    pub fn new(limiter: RateLimiter) -> Self {
        Self::direct(limiter)
    }
}

impl<C> RateLimitLayer<(), C> {
    /// A reject-mode layer over a direct limiter: every request shares one bucket.
    pub fn direct(limiter: RateLimiter<C>) -> Self {
        RateLimitLayer {
            limiter: Limiter::Direct(limiter),
            key: Unkeyed,
            max_wait: None,
        }
    }
}

impl<K, C> RateLimitLayer<K, C> {
    /// A reject-mode layer over a keyed limiter; `key` picks each request's key, and
    /// `None` refuses the request with
    /// [`Reason::MissingKey`](tollgate_core::Reason::MissingKey).
    pub fn keyed<Req, F>(limiter: KeyedRateLimiter<K, C>, key: F) -> RateLimitLayer<K, C, F>
    where
        F: Fn(&Req) -> Option<K>,
    {
        RateLimitLayer {
            limiter: Limiter::Keyed(limiter),
            key,
            max_wait: None,
        }
    }
}

impl<K, C, F> RateLimitLayer<K, C, F> {
    /// Wait mode: a request over the quota waits for its slot inside the response
    /// future if that is at most `max` away, and is refused at once with
    /// [`Reason::WaitTooLong`](tollgate_core::Reason::WaitTooLong) otherwise. Dropping
    /// the response future while it waits gives the slot back (see
    /// [`Reservation`](crate::Reservation)).
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.max_wait = Some(max);
        self
    }
}

impl<S, K, C: Clone, F: Clone> Layer<S> for RateLimitLayer<K, C, F> {
    type Service = RateLimit<S, K, C, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limiter.clone(), self.key.clone(), self.max_wait)
    }
}

impl<K, C: Clone, F: Clone> Clone for RateLimitLayer<K, C, F> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            max_wait: self.max_wait,
        }
    }
}

impl<K, C: Clone> Clone for Limiter<K, C> {
    fn clone(&self) -> Self {
        match self {
            Limiter::Direct(l) => Limiter::Direct(l.clone()),
            Limiter::Keyed(l) => Limiter::Keyed(l.clone()),
        }
    }
}

impl<K, C: fmt::Debug> fmt::Debug for Limiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limiter::Direct(l) => l.fmt(f),
            Limiter::Keyed(l) => l.fmt(f),
        }
    }
}

impl<K, C: fmt::Debug, F> fmt::Debug for RateLimitLayer<K, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}
