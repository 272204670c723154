//! The tower [`Service`] made by [`RateLimitLayer`](crate::RateLimitLayer).

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};
use std::time::Duration;

use tollgate_core::{Clock, Reason, Rejection, SystemClock};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::{Limiter, Unkeyed};
use crate::BoxError;

/// Picks a request's key for a keyed [`RateLimit`]; implemented by every
/// `Fn(&Req) -> Option<K>` and by [`Unkeyed`].
pub trait KeyFn<Req, K> {
    /// The request's key, or `None` if it has none.
    fn key(&self, req: &Req) -> Option<K>;
}

impl<Req, K, F: Fn(&Req) -> Option<K>> KeyFn<Req, K> for F {
    #[inline]
    fn key(&self, req: &Req) -> Option<K> {
        self(req)
    }
}

impl<Req> KeyFn<Req, ()> for Unkeyed {
    #[inline]
    fn key(&self, _: &Req) -> Option<()> {
        Some(())
    }
}

/// A service rate limited by a [`RateLimitLayer`](crate::RateLimitLayer); see there.
///
/// ```
/// use tollgate_bucket::{Quota, RateLimit, RateLimitLayer, RateLimiter};
/// use tower::{service_fn, Layer};
///
/// let layer = RateLimitLayer::new(RateLimiter::new(Quota::per_second(10).build()?));
/// let service: RateLimit<_> = layer.layer(service_fn(|x: u8| async move {
///     Ok::<_, tower::BoxError>(x)
/// }));
/// let _inner = service.into_inner();
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct RateLimit<S, K = (), C = SystemClock, F = Unkeyed> {
    inner: S,
    limiter: Limiter<K, C>,
    key: F,
    max_wait: Option<Duration>,
}

impl<S, K, C, F> RateLimit<S, K, C, F> {
    pub(crate) fn new(
        inner: S,
        limiter: Limiter<K, C>,
        key: F,
        max_wait: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            limiter,
            key,
            max_wait,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, K, C, F> Service<Req> for RateLimit<S, K, C, F>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
    F: KeyFn<Req, K>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(max_wait) = self.max_wait else {
            let decision = match &self.limiter {
                Limiter::Direct(limiter) => limiter.check().map(drop),
                Limiter::Keyed(limiter) => match self.key.key(&req) {
                    Some(key) => limiter.check_key(&key).map(drop),
                    None => Err(Rejection::new(Reason::MissingKey)),
                },
            };
            return match decision {
                Ok(()) => ResponseFuture::called(self.inner.call(req)),
                Err(rejection) => ResponseFuture::rejected(rejection),
            };
        };
        let reservation = match &self.limiter {
            Limiter::Direct(limiter) => limiter.reserve_at(1, limiter.clock().now(), max_wait),
            Limiter::Keyed(limiter) => match self.key.key(&req) {
                Some(key) => limiter.reserve_key_at(&key, 1, limiter.clock().now(), max_wait),
                None => Err(Rejection::new(Reason::MissingKey)),
            },
        };
        match reservation {
            Err(rejection) => ResponseFuture::rejected(rejection),
            Ok(reservation) if reservation.wait().is_zero() => {
                reservation.commit();
                ResponseFuture::called(self.inner.call(req))
            }
            Ok(reservation) => {
                // The future calls the service later: hand it the one that is ready and
                // keep a fresh clone, which `poll_ready` will drive next.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(reservation, ready, req)
            }
        }
    }
}

impl<S: Clone, K, C: Clone, F: Clone> Clone for RateLimit<S, K, C, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            max_wait: self.max_wait,
        }
    }
}

impl<S: fmt::Debug, K, C: fmt::Debug, F> fmt::Debug for RateLimit<S, K, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}
