//! [`CircuitBreakerLayer`]: a breaker around any tower service.

use tollgate_core::{Clock, SystemClock};
use tower_layer::Layer;

use crate::{Breaker, BreakerConfig, CircuitBreaker, DefaultClassifier};

/// Puts a circuit breaker in front of a service; every service it makes (and every
/// clone of them) shares one [`Breaker`]: one layer per logical dependency.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate_breaker::{BreakerConfig, CircuitBreakerLayer, Outcome, State};
/// use tollgate_core::{Reason, Rejection};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let layer = CircuitBreakerLayer::new(
///     BreakerConfig::builder().name("search").no_failure_rate().consecutive_failures(2).build()?,
/// )
/// // Count only errors, whatever the response says.
/// .classifier(|r: &Result<u16, std::io::Error>| if r.is_err() { Outcome::Failure } else { Outcome::Success });
/// let breaker = layer.breaker().clone();
/// let svc = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: ()| async { Err::<u16, _>(std::io::Error::other("down")) }));
///
/// for _ in 0..2 {
///     assert!(svc.clone().oneshot(()).await.is_err());
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let err = svc.oneshot(()).await.unwrap_err();
/// let rejection = err.downcast_ref::<Rejection>().expect("refused by the breaker");
/// assert_eq!(rejection.reason(), Reason::CircuitOpen);
/// assert_eq!(rejection.name(), Some("search"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = SystemClock, K = DefaultClassifier> {
    breaker: Breaker<C>,
    classifier: K,
}

impl CircuitBreakerLayer {
    /// A layer with a new breaker on the system clock.
    pub fn new(config: BreakerConfig) -> Self {
        Self::from_breaker(Breaker::new(config))
    }
}

impl<C: Clock> CircuitBreakerLayer<C, DefaultClassifier> {
    /// A layer around an existing breaker (to share it, or to use another clock).
    pub fn from_breaker(breaker: Breaker<C>) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C, K> CircuitBreakerLayer<C, K> {
    /// Classifies outcomes with `classifier` (a [`Classifier`](crate::Classifier) or a closure).
    pub fn classifier<K2>(self, classifier: K2) -> CircuitBreakerLayer<C, K2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The shared breaker, for snapshots, subscriptions and operator actions.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }
}

impl<S, C: Clone, K: Clone> Layer<S> for CircuitBreakerLayer<C, K> {
    type Service = CircuitBreaker<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}
