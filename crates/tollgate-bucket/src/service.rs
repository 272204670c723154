//! The tower [`Service`] made by [`RateLimitLayer`](crate::RateLimitLayer).

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use tollgate_core::{timer, AsError, Clock, KeyFn, Reason, Refusal, Refuse, Rejection};
use tower_service::Service;

use crate::admitted::OnAdmitted;
use crate::decide::{Decide, Decision, Limiter};
use crate::future::ResponseFuture;
use crate::key::Unkeyed;
use crate::outcome::Snapshot;

/// A service rate limited by a [`RateLimitLayer`](crate::RateLimitLayer); see there.
///
/// ```
/// use tollgate_bucket::{Quota, RateLimit, RateLimitLayer, RateLimiter};
/// use tower::{service_fn, Layer};
///
/// let layer = RateLimitLayer::new(RateLimiter::new(Quota::per_second(10).build()?));
/// let service: RateLimit<_, RateLimiter> = layer.layer(service_fn(|x: u8| async move {
///     Ok::<_, tower::BoxError>(x)
/// }));
/// assert_eq!(service.snapshot().admitted, 0);
/// let _inner = service.into_inner();
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RateLimit<S, L, F = Unkeyed, R = AsError> {
    inner: S,
    limiter: L,
    key: F,
    max_wait: Option<Duration>,
    refuse: R,
}

impl<S, L, F, R> RateLimit<S, L, F, R> {
    pub(crate) fn new(inner: S, limiter: L, key: F, max_wait: Option<Duration>, refuse: R) -> Self {
        Self {
            inner,
            limiter,
            key,
            max_wait,
            refuse,
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

    /// The limiter (shared with the layer and every clone).
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

impl<S, L, F, R, Req> Service<Req> for RateLimit<S, L, F, R>
where
    S: Service<Req> + Clone,
    F: KeyFn<Req>,
    L: Decide<F::Key>,
    R: Refuse<Req> + OnAdmitted<S::Response>,
    R::Refusal: Refusal<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = <R::Refusal as Refusal<S::Response, S::Error>>::Error;
    type Future = ResponseFuture<S::Future, S, Req, R, R::Refusal, R::Note>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<S::Response, S::Error>>::error)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(key) = self.key.key(&req) else {
            return self.missing_key(req);
        };
        let now = self.limiter.clock().now();
        match self.limiter.decide(&key, now, self.max_wait) {
            Decision::Admit(admitted) => {
                let note = self.refuse.note(&admitted, self.limiter.name());
                ResponseFuture::called(self.inner.call(req), note)
            }
            Decision::Wait(reservation) => {
                let note = self
                    .refuse
                    .note(&reservation.admitted(), self.limiter.name());
                if reservation.wait().is_zero() {
                    reservation.commit();
                    return ResponseFuture::called(self.inner.call(req), note);
                }
                let sleep = timer::sleep_until(self.limiter.clock(), now, reservation.ready_at());
                ResponseFuture::waiting(sleep, reservation, self.take_ready(), req, note)
            }
            Decision::Reject(rejection) => {
                ResponseFuture::refused(self.refuse.prepare(&req), rejection)
            }
            Decision::Later(later) => {
                // Where `now` is on tokio's timeline, for a wait the answer may ask for.
                let base = timer::instant(self.limiter.clock(), now, now);
                let name = self.limiter.name().map(Into::into);
                let service = self.take_ready();
                let refuse = self.refuse.clone();
                ResponseFuture::deciding(later, service, req, refuse, name, (base, now))
            }
        }
    }
}

impl<S: Clone, L, F, R> RateLimit<S, L, F, R> {
    /// The inner service that `poll_ready` readied, for a future that calls it later;
    /// a fresh clone takes its place, which `poll_ready` will drive next.
    fn take_ready(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }

    #[cold]
    #[inline(never)]
    fn missing_key<Req>(
        &mut self,
        req: Req,
    ) -> ResponseFuture<S::Future, S, Req, R, R::Refusal, R::Note>
    where
        S: Service<Req>,
        R: Refuse<Req> + OnAdmitted<S::Response>,
    {
        // The limiter never sees this one: trace it as the limiter would.
        tracing::debug!(
            target: "tollgate::bucket",
            reason = %Reason::MissingKey,
            "request rejected"
        );
        ResponseFuture::refused(
            self.refuse.prepare(&req),
            Rejection::new(Reason::MissingKey),
        )
    }
}

impl<S: fmt::Debug, L: fmt::Debug, F, R: fmt::Debug> fmt::Debug for RateLimit<S, L, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key function is often a closure, which has no `Debug`.
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .field("refuse", &self.refuse)
            .finish_non_exhaustive()
    }
}
