//! The layers of a client stack and their order.

use tollgate_breaker::{Breaker, BreakerLayer, CircuitBreaker};
use tollgate_bucket::{RateLimit, RateLimitLayer, RateLimiter, Unkeyed};
use tollgate_core::Clock;
use tollgate_deadline::{Timeout, TimeoutLayer};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::shape::HttpFeedback;
use tollgate_leaky::{Shape, ShapeLayer, Unit};
use tower_layer::Layer;

use super::unshaped::Unshaped;
use crate::config::ClientConfig;
use crate::face::Face;
use crate::optional::Optional;
use crate::reload::Compose;

type R<F> = <F as Face>::ClientRefuse;
type PerTry<S, F> = Optional<Timeout<S, TimeoutHeaders, R<F>>, S, R<F>>;
type Shaping<S, F, C> =
    Optional<Shape<PerTry<S, F>, C, HttpFeedback, Unit, R<F>>, Unshaped<PerTry<S, F>>, R<F>>;
type Limiting<S, F, C> =
    Optional<RateLimit<Shaping<S, F, C>, RateLimiter<C>, Unkeyed, R<F>>, Shaping<S, F, C>, R<F>>;
type Breaking<S, F, C> =
    CircuitBreaker<Limiting<S, F, C>, Breaker<C>, <F as Face>::Classifier, R<F>>;
/// Deadline -> breaker -> rate limit -> shaping -> per-try timeout -> transport.
pub(crate) type Composed<S, F, C> =
    Optional<Timeout<Breaking<S, F, C>, TimeoutHeaders, R<F>>, Breaking<S, F, C>, R<F>>;

/// Every layer of a client stack, as one value a reload swaps.
///
/// Opaque: it appears only in the type of the services a client stack makes.
#[derive(Debug)]
pub struct ClientLayers<F: Face, C> {
    pub(crate) generation: u64,
    pub(crate) deadline: Option<TimeoutLayer<TimeoutHeaders, R<F>>>,
    /// Always there (see the server stack); disabled when not configured.
    pub(crate) breaker: BreakerLayer<Breaker<C>, F::Classifier, R<F>>,
    pub(crate) breaker_on: bool,
    pub(crate) rate_limit: Option<RateLimitLayer<RateLimiter<C>, Unkeyed, R<F>>>,
    pub(crate) shape: Option<ShapeLayer<C, HttpFeedback, Unit, R<F>>>,
    pub(crate) per_try: Option<TimeoutLayer<TimeoutHeaders, R<F>>>,
    pub(crate) config: Option<ClientConfig>,
}

impl<F: Face, C: Clock> ClientLayers<F, C> {
    /// These layers, with `old`'s layer (and its state) for every part of the config
    /// that did not change.
    pub(crate) fn keeping(mut self, old: &Self) -> Self {
        let (Some(new), Some(was)) = (&self.config, &old.config) else {
            return self;
        };
        if new.deadline == was.deadline {
            self.deadline.clone_from(&old.deadline);
        }
        if new.breaker == was.breaker {
            self.breaker = old.breaker.clone();
            self.breaker_on = old.breaker_on;
        }
        if new.rate_limit == was.rate_limit {
            self.rate_limit.clone_from(&old.rate_limit);
        }
        if new.shape == was.shape {
            self.shape.clone_from(&old.shape);
        }
        if new.per_try == was.per_try {
            self.per_try.clone_from(&old.per_try);
        }
        self
    }
}

impl<S, F: Face, C: Clock> Compose<S> for ClientLayers<F, C> {
    type Service = Composed<S, F, C>;

    fn compose(&self, transport: S) -> Composed<S, F, C> {
        let r = R::<F>::default;
        let per_try = Optional::new(self.per_try.as_ref(), transport, r());
        let shaping = match self.shape.as_ref() {
            Some(layer) => Optional::On(layer.layer(per_try)),
            None => Optional::Off(Unshaped(per_try), r()),
        };
        let limiting = Optional::new(self.rate_limit.as_ref(), shaping, r());
        let breaking = self.breaker.layer(limiting);
        Optional::new(self.deadline.as_ref(), breaking, r())
    }
}
