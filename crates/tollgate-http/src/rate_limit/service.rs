use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tollgate_bucket::Admitted;
use tollgate_core::Clock as _;
use tower_service::Service;

use super::future::{ExtraHeaders, ResponseFuture};
use super::{Decision, Limit, RateLimitHeaders};
use crate::{Protocol, RejectionResponder};

/// What every clone of a [`RateLimit`] service shares.
#[derive(Debug)]
pub(crate) struct Shared<L, R> {
    pub(crate) limit: L,
    pub(crate) responder: R,
    pub(crate) headers: RateLimitHeaders,
    pub(crate) max_wait: Option<Duration>,
}

/// The service [`RateLimitLayer`](super::RateLimitLayer) builds: see there.
///
/// Clones share the limiter and the configuration.
///
/// ```
/// use std::convert::Infallible;
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_http::rate_limit::RateLimitLayer;
/// use tower::{Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let limiter = RateLimiter::new(Quota::per_hour(1).build()?);
/// let handler = tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(String::from("hello")))
/// });
/// let mut svc = RateLimitLayer::direct(limiter).layer(handler);
/// let first = svc.ready().await?.call(http::Request::new(())).await?;
/// assert_eq!(first.status(), 200);
/// let second = svc.ready().await?.call(http::Request::new(())).await?;
/// assert_eq!(second.status(), 429);
/// assert_eq!(second.headers()["retry-after"], "3600");
/// assert_eq!(second.headers()["ratelimit-policy"], "\"default\";q=1;w=3600");
/// assert_eq!(second.headers()["ratelimit"], "\"default\";r=0;t=3600");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimit<S, L, R> {
    inner: S,
    shared: Arc<Shared<L, R>>,
}

impl<S, L, R> RateLimit<S, L, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<L, R>>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The limit, to reach the limiter's `snapshot()`.
    pub fn limit(&self) -> &L {
        &self.shared.limit
    }
}

impl<S: Clone, L, R> Clone for RateLimit<S, L, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, L, R, B, ResB> Service<Request<B>> for RateLimit<S, L, R>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    L: Limit<B>,
    R: RejectionResponder<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, Request<B>, L::Clock, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let now = shared.limit.clock().now();
        match shared.limit.decide(&request, now, shared.max_wait) {
            Decision::Admit(admitted) => {
                let extra = admitted_headers(&shared.headers, &admitted);
                ResponseFuture::called(self.inner.call(request), extra)
            }
            Decision::Wait(reservation) => {
                let extra = admitted_headers(&shared.headers, &reservation.admitted());
                let wait = reservation.wait();
                if wait.is_zero() {
                    reservation.commit();
                    return ResponseFuture::called(self.inner.call(request), extra);
                }
                // Hand the ready service to the future and keep a fresh clone: the
                // future calls it once the wait is over.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(wait, reservation, ready, request, extra)
            }
            Decision::Reject(rejection) => {
                let protocol = Protocol::of(&request);
                let mut response = shared.responder.respond(&rejection, protocol);
                if protocol == Protocol::Http {
                    shared
                        .headers
                        .insert_rejected(response.headers_mut(), &rejection);
                }
                ResponseFuture::rejected(response)
            }
        }
    }
}

fn admitted_headers(headers: &RateLimitHeaders, admitted: &Admitted) -> Option<Box<ExtraHeaders>> {
    headers.is_on_admitted().then(|| {
        Box::new(ExtraHeaders::new(
            headers.policy_value(admitted.policy()),
            headers.limit_value(u64::from(admitted.remaining()), admitted.reset()),
        ))
    })
}
