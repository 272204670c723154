//! The tower service of [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).

use std::task::{Context, Poll};

use tollgate_core::{Clock, SystemClock};
use tower::BoxError;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::{Breaker, Classifier, DefaultClassifier};

/// A service behind a circuit breaker; see [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// `poll_ready` passes through to the inner service; the decision is made in `call`.
/// An open breaker answers at once with a
/// [`Rejection`](tollgate_core::Rejection) inside the `BoxError`, without calling the
/// inner service. Clones share the breaker.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tollgate_breaker::{Breaker, BreakerConfig, CircuitBreaker};
/// use tollgate_core::Rejection;
/// use tower::{service_fn, ServiceExt};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let svc = CircuitBreaker::new(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }), breaker.clone());
/// assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
/// breaker.force_open();
/// let err = svc.oneshot(7).await.unwrap_err();
/// assert!(err.downcast_ref::<Rejection>().is_some());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S, C = SystemClock, K = DefaultClassifier> {
    inner: S,
    breaker: Breaker<C>,
    classifier: K,
}

impl<S, C> CircuitBreaker<S, C, DefaultClassifier> {
    /// Wraps `inner` with `breaker` and the [`DefaultClassifier`].
    pub fn new(inner: S, breaker: Breaker<C>) -> Self {
        Self::with_classifier(inner, breaker, DefaultClassifier)
    }
}

impl<S, C, K> CircuitBreaker<S, C, K> {
    /// Wraps `inner` with `breaker`, classifying outcomes with `classifier`.
    pub fn with_classifier(inner: S, breaker: Breaker<C>, classifier: K) -> Self {
        CircuitBreaker {
            inner,
            breaker,
            classifier,
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, C, K> Service<Req> for CircuitBreaker<S, C, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Clock,
    K: Classifier<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}
