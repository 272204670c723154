//! [`BreakerLayer`]: a breaker around any tower service.

use tollgate_core::{AsError, Clock};
use tower_layer::Layer;

use crate::snapshot::{KeyedBreakersSnapshot, Snapshot};
use crate::{Breaker, BreakerPerKey, CircuitBreaker, DefaultClassifier, KeyedBreakers};

/// Puts a circuit breaker in front of a service; every service it makes (and every
/// clone of them) shares its breakers: one layer per logical dependency.
///
/// - [`new`](Self::new) sends every call through one [`Breaker`];
///   [`keyed`](Self::keyed) through one breaker per key of the request, from a table
///   of [`KeyedBreakers`].
/// - [`classifier`](Self::classifier) says what counts as a failure
///   ([`DefaultClassifier`]: an `Err`, and a timeout as a failure and a slow call);
///   `tollgate_http::breaker::HttpClassifier` and `GrpcClassifier` read HTTP statuses
///   and gRPC statuses (in the trailers too).
/// - [`refuse_with`](Self::refuse_with) says what a refusal becomes: by default
///   ([`AsError`]) an `Err(BoxError)` holding the
///   [`Rejection`](tollgate_core::Rejection); `tollgate_http::AsResponse` answers
///   `503` with `Retry-After` (gRPC: `UNAVAILABLE` with `grpc-retry-pushback-ms`) and
///   keeps the error type `Infallible`, as axum wants; `tollgate_http::AsStatus` fails a
///   tonic client's call with a `tonic::Status`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_breaker::{Breaker, BreakerLayer, Outcome, State};
/// use tollgate_core::{Reason, Rejection};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let breaker = Breaker::builder().name("search").no_failure_rate().consecutive_failures(2).build()?;
/// let layer = BreakerLayer::new(breaker)
///     // Count only errors, whatever the response says.
///     .classifier(|r: &Result<u16, std::io::Error>| if r.is_err() { Outcome::Failure } else { Outcome::Success });
/// let svc = ServiceBuilder::new()
///     .layer(layer.clone())
///     .service(service_fn(|_: ()| async { Err::<u16, _>(std::io::Error::other("down")) }));
///
/// for _ in 0..2 {
///     assert!(svc.clone().oneshot(()).await.is_err());
/// }
/// assert_eq!(layer.snapshot().state, State::Open);
/// let err = svc.oneshot(()).await.unwrap_err();
/// let rejection = err.downcast_ref::<Rejection>().expect("refused by the breaker");
/// assert_eq!(rejection.reason(), Reason::CircuitOpen);
/// assert_eq!(rejection.name(), Some("search"));
/// # Ok(())
/// # }
/// ```
///
/// Keyed, one breaker per upstream host; a request without a key is refused with
/// [`Reason::MissingKey`](tollgate_core::Reason::MissingKey):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_breaker::{BreakerLayer, KeyedBreakers};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let hosts = KeyedBreakers::builder().max_keys(1000).build()?;
/// let layer = BreakerLayer::keyed(hosts, |host: &&'static str| Some(*host));
/// let svc = ServiceBuilder::new()
///     .layer(layer.clone())
///     .service(service_fn(|host: &'static str| async move { Ok::<_, std::io::Error>(host.len()) }));
/// assert_eq!(svc.oneshot("db.internal").await.unwrap(), 11);
/// assert_eq!((layer.snapshot().keys, layer.snapshot().admitted), (1, 1));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BreakerLayer<B = Breaker, K = DefaultClassifier, R = AsError> {
    breakers: B,
    classifier: K,
    refuse: R,
}

impl<C: Clock> BreakerLayer<Breaker<C>> {
    /// Every call through `breaker` (a clone: the layer shares it).
    pub fn new(breaker: Breaker<C>) -> Self {
        BreakerLayer {
            breakers: breaker,
            classifier: DefaultClassifier,
            refuse: AsError,
        }
    }
}

impl<Key, F, C> BreakerLayer<BreakerPerKey<Key, F, C>> {
    /// Each call through the breaker of its key in `breakers`; `key` picks the key (a
    /// closure `Fn(&Req) -> Option<Key>` or any [`KeyFn`](tollgate_core::KeyFn), such as
    /// `tollgate_http`'s extractors).
    pub fn keyed(breakers: KeyedBreakers<Key, C>, key: F) -> Self {
        BreakerLayer {
            breakers: BreakerPerKey::new(breakers, key),
            classifier: DefaultClassifier,
            refuse: AsError,
        }
    }
}

impl<B, K, R> BreakerLayer<B, K, R> {
    /// Classifies outcomes with `classifier`: a [`Classifier`](crate::Classifier), such
    /// as a closure `Fn(&Result<Response, Error>) -> Outcome`.
    pub fn classifier<K2>(self, classifier: K2) -> BreakerLayer<B, K2, R> {
        BreakerLayer {
            breakers: self.breakers,
            classifier,
            refuse: self.refuse,
        }
    }

    /// Answers refused calls through `refuse` (a [`Refuse`](tollgate_core::Refuse)).
    pub fn refuse_with<R2>(self, refuse: R2) -> BreakerLayer<B, K, R2> {
        BreakerLayer {
            breakers: self.breakers,
            classifier: self.classifier,
            refuse,
        }
    }
}

impl<C: Clock, K, R> BreakerLayer<Breaker<C>, K, R> {
    /// The shared breaker, for subscriptions and operator actions.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breakers
    }

    /// The breaker's state and counters: see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.breakers.snapshot()
    }
}

impl<Key, F, C: Clock, K, R> BreakerLayer<BreakerPerKey<Key, F, C>, K, R> {
    /// The table of breakers.
    pub fn breakers(&self) -> &KeyedBreakers<Key, C> {
        self.breakers.breakers()
    }

    /// The table's counters: see [`KeyedBreakersSnapshot`].
    pub fn snapshot(&self) -> KeyedBreakersSnapshot {
        self.breakers.breakers().snapshot()
    }
}

impl<S, B: Clone, K: Clone, R: Clone> Layer<S> for BreakerLayer<B, K, R> {
    type Service = CircuitBreaker<S, B, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(
            inner,
            self.breakers.clone(),
            self.classifier.clone(),
            self.refuse.clone(),
        )
    }
}
