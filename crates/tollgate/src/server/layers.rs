//! The layers of a server stack between its drain and its handler, and their order.

use tollgate_breaker::{Breaker, BreakerLayer, CircuitBreaker};
use tollgate_bucket::{KeyedRateLimiter, RateLimit, RateLimitLayer, WithMissingKey};
use tollgate_core::Clock;
use tollgate_deadline::{Local, ServerDeadline, ServerDeadlineLayer, Timeout, TimeoutLayer};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::AsResponse;
use tollgate_leaky::{NoFeedback, Shape, ShapeLayer, Unit};
use tower_layer::Layer;

use crate::config::ServerConfig;
use crate::face::Face;
use crate::key::{KeySource, RequestKey};
use crate::optional::Optional;
use crate::reload::Compose;

/// The keyed limiter of a server stack.
pub(crate) type Limiter<C> = KeyedRateLimiter<RequestKey, C>;
/// The key of a server stack's limiter, with what keyless requests get.
pub(crate) type KeyOf = WithMissingKey<KeySource, RequestKey>;

type PerTry<S> = Optional<Timeout<S, Local, AsResponse>, S, AsResponse>;
type Breaking<S, F, C> = CircuitBreaker<PerTry<S>, Breaker<C>, <F as Face>::Classifier, AsResponse>;
type Shaping<S, F, C> = Optional<
    Shape<Breaking<S, F, C>, C, NoFeedback, Unit, AsResponse>,
    Breaking<S, F, C>,
    AsResponse,
>;
type Limiting<S, F, C> = Optional<
    RateLimit<Shaping<S, F, C>, Limiter<C>, KeyOf, AsResponse>,
    Shaping<S, F, C>,
    AsResponse,
>;
/// Deadline -> rate limit -> shaping -> breaker -> per-try timeout -> handler.
pub(crate) type Composed<S, F, C> = Optional<
    ServerDeadline<Limiting<S, F, C>, TimeoutHeaders, AsResponse>,
    Limiting<S, F, C>,
    AsResponse,
>;

/// Every layer of a server stack inside its drain, as one value a reload swaps.
///
/// Opaque: it appears only in the type of the services a server stack makes.
#[derive(Debug)]
pub struct ServerLayers<F: Face, C> {
    pub(crate) generation: u64,
    pub(crate) deadline: Option<ServerDeadlineLayer<TimeoutHeaders, AsResponse>>,
    pub(crate) rate_limit: Option<RateLimitLayer<Limiter<C>, KeyOf, AsResponse>>,
    pub(crate) shape: Option<ShapeLayer<C, NoFeedback, Unit, AsResponse>>,
    /// Always there, so that the response type does not depend on it; disabled (and
    /// left out of snapshots) when not configured.
    pub(crate) breaker: BreakerLayer<Breaker<C>, F::Classifier, AsResponse>,
    pub(crate) breaker_on: bool,
    pub(crate) timeout: Option<TimeoutLayer<Local, AsResponse>>,
    /// The section these layers were made from, when made from a config.
    pub(crate) config: Option<ServerConfig>,
}

impl<F: Face, C: Clock> ServerLayers<F, C> {
    /// These layers, with `old`'s layer (and its state) for every section of the
    /// config that did not change.
    pub(crate) fn keeping(mut self, old: &Self) -> Self {
        let (Some(new), Some(was)) = (&self.config, &old.config) else {
            return self;
        };
        if new.deadline == was.deadline {
            self.deadline.clone_from(&old.deadline);
        }
        if new.rate_limit == was.rate_limit {
            self.rate_limit.clone_from(&old.rate_limit);
        }
        if new.shape == was.shape {
            self.shape.clone_from(&old.shape);
        }
        if new.breaker == was.breaker {
            self.breaker = old.breaker.clone();
            self.breaker_on = old.breaker_on;
        }
        if new.timeout == was.timeout {
            self.timeout.clone_from(&old.timeout);
        }
        self
    }
}

impl<S, F: Face, C: Clock> Compose<S> for ServerLayers<F, C> {
    type Service = Composed<S, F, C>;

    fn compose(&self, handler: S) -> Composed<S, F, C> {
        let r = AsResponse::new();
        let per_try = Optional::new(self.timeout.as_ref(), handler, r);
        let breaking = self.breaker.layer(per_try);
        let shaping = Optional::new(self.shape.as_ref(), breaking, r);
        let limiting = Optional::new(self.rate_limit.as_ref(), shaping, r);
        Optional::new(self.deadline.as_ref(), limiting, r)
    }
}
