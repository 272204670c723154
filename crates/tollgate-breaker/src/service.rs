//! The tower service of [`BreakerLayer`](crate::BreakerLayer).

use std::fmt;
use std::task::{Context, Poll};

use tollgate_core::{AsError, Clock, Refusal, Refuse};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::snapshot::{KeyedBreakersSnapshot, Snapshot};
use crate::{Breaker, BreakerPerKey, Classifier, DefaultClassifier, KeyedBreakers, SelectBreaker};

/// A service behind a circuit breaker, made by [`BreakerLayer`](crate::BreakerLayer):
/// see there for examples.
///
/// `poll_ready` passes through to the inner service; the decision is made in `call`.
/// A refused call answers at once through the layer's [`Refuse`] (by default an
/// `Err(BoxError)` holding the [`Rejection`](tollgate_core::Rejection)), without
/// calling the inner service. Clones share the breakers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_breaker::{Breaker, BreakerLayer};
/// use tollgate_core::Rejection;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let breaker = Breaker::builder().build()?;
/// let svc = BreakerLayer::new(breaker.clone())
///     .layer(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
/// breaker.force_open();
/// let err = svc.clone().oneshot(7).await.unwrap_err();
/// assert!(err.downcast_ref::<Rejection>().is_some());
/// assert_eq!((svc.snapshot().admitted, svc.snapshot().rejected), (1, 1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker<S, B = Breaker, K = DefaultClassifier, R = AsError> {
    inner: S,
    breakers: B,
    classifier: K,
    refuse: R,
}

impl<S, B, K, R> CircuitBreaker<S, B, K, R> {
    pub(crate) fn new(inner: S, breakers: B, classifier: K, refuse: R) -> Self {
        CircuitBreaker {
            inner,
            breakers,
            classifier,
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

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C: Clock, K, R> CircuitBreaker<S, Breaker<C>, K, R> {
    /// The shared breaker, for subscriptions and operator actions.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breakers
    }

    /// The breaker's state and counters: see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.breakers.snapshot()
    }
}

impl<S, Key, F, C: Clock, K, R> CircuitBreaker<S, BreakerPerKey<Key, F, C>, K, R> {
    /// The table of breakers.
    pub fn breakers(&self) -> &KeyedBreakers<Key, C> {
        self.breakers.breakers()
    }

    /// The table's counters: see [`KeyedBreakersSnapshot`].
    pub fn snapshot(&self) -> KeyedBreakersSnapshot {
        self.breakers.breakers().snapshot()
    }
}

impl<S: fmt::Debug, B: fmt::Debug, K: fmt::Debug, R: fmt::Debug> fmt::Debug
    for CircuitBreaker<S, B, K, R>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breakers", &self.breakers)
            .field("classifier", &self.classifier)
            .field("refuse", &self.refuse)
            .finish()
    }
}

impl<S, Req, B, K, R> Service<Req> for CircuitBreaker<S, B, K, R>
where
    S: Service<Req>,
    B: SelectBreaker<Req>,
    K: Classifier<S::Response, S::Error, B::Clock>,
    R: Refuse<Req>,
    R::Refusal: Refusal<K::Response, S::Error>,
{
    type Response = K::Response;
    type Error = <R::Refusal as Refusal<K::Response, S::Error>>::Error;
    type Future = ResponseFuture<S::Future, B::Clock, K, R::Refusal>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<K::Response, S::Error>>::error)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breakers.acquire(&req) {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => ResponseFuture::refused(self.refuse.prepare(&req), rejection),
        }
    }
}
