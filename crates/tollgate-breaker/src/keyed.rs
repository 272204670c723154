//! One breaker per key (for example per upstream host), with bounded memory.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};
use std::time::Duration;

use tollgate_core::sync::{Arc, AtomicU64, Ordering, RwLock};
use tollgate_core::{Clock, ConfigError, Reason, Rejection, SystemClock, Timestamp};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::{Breaker, BreakerConfig, Classifier, DefaultClassifier, State};

/// A table of breakers, one per key, all with one configuration.
///
/// Memory is bounded by `max_keys`. When a new key arrives at the bound, breakers that
/// are closed and idle (unused for `idle_after`) are evicted; if none is idle, the
/// least recently used closed breaker goes. A closed breaker holds nothing worth
/// keeping beyond its window; open and half-open breakers are never evicted, and if
/// every breaker is open the new key is refused with
/// [`Reason::KeyTableFull`](tollgate_core::Reason::KeyTableFull). Each breaker is named
/// `"<name>/<key>"`. A call in flight on a breaker that is evicted meanwhile records
/// its outcome into the evicted breaker, where it is lost: harmless for a breaker that
/// was closed and the least recently used.
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::{BreakerConfig, KeyedBreakers, Outcome, State};
/// use tollgate_core::ManualClock;
///
/// let config = BreakerConfig::builder().name("hosts").no_failure_rate().consecutive_failures(1).build()?;
/// let table = KeyedBreakers::with_clock(config, 2, Duration::from_secs(60), ManualClock::new())?;
/// table.get(&"a.example").unwrap().try_acquire()?.record(Outcome::Failure);
/// assert_eq!(table.get(&"a.example").unwrap().state(), State::Open);
/// assert_eq!(table.get(&"b.example").unwrap().state(), State::Closed);
/// assert_eq!(table.get(&"a.example").unwrap().name(), "hosts/a.example");
/// assert_eq!(table.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedBreakers<K, C = SystemClock> {
    inner: Arc<Table<K, C>>,
}

struct Table<K, C> {
    config: BreakerConfig,
    clock: C,
    max_keys: usize,
    idle_after: Duration,
    map: RwLock<HashMap<K, Entry<C>>>,
}

struct Entry<C> {
    breaker: Breaker<C>,
    last_used: AtomicU64,
}

impl<K, C> Clone for KeyedBreakers<K, C> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, C> fmt::Debug for KeyedBreakers<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("name", &self.inner.config.name())
            .field("max_keys", &self.inner.max_keys)
            .finish()
    }
}

impl<K> KeyedBreakers<K, SystemClock>
where
    K: Hash + Eq + Clone + fmt::Display,
{
    /// A table of at most `max_keys` breakers; closed breakers unused for
    /// `idle_after` are the first to be evicted.
    pub fn new(
        config: BreakerConfig,
        max_keys: usize,
        idle_after: Duration,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(config, max_keys, idle_after, SystemClock::new())
    }
}

impl<K, C> KeyedBreakers<K, C>
where
    K: Hash + Eq + Clone + fmt::Display,
    C: Clock,
{
    /// [`new`](Self::new) with a clock.
    pub fn with_clock(
        config: BreakerConfig,
        max_keys: usize,
        idle_after: Duration,
        clock: C,
    ) -> Result<Self, ConfigError> {
        if max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        Ok(KeyedBreakers {
            inner: Arc::new(Table {
                config,
                clock,
                max_keys,
                idle_after,
                map: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// The breaker of `key`, created if absent; `Err` if the table is full of breakers
    /// that cannot be evicted.
    pub fn get(&self, key: &K) -> Result<Breaker<C>, Rejection> {
        let now = self.inner.clock.now();
        {
            let map = self.inner.map.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = map.get(key) {
                // Relaxed: an approximate recency for eviction; it orders nothing.
                entry.last_used.store(now.as_nanos(), Ordering::Relaxed);
                return Ok(entry.breaker.clone());
            }
        }
        self.insert(key, now)
    }

    #[cold]
    fn insert(&self, key: &K, now: Timestamp) -> Result<Breaker<C>, Rejection> {
        let table = &self.inner;
        let mut map = table.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get(key) {
            return Ok(entry.breaker.clone());
        }
        if map.len() >= table.max_keys {
            evict_idle(&mut map, now, table.idle_after);
        }
        if map.len() >= table.max_keys {
            // Relaxed: see `get`.
            let oldest = map
                .iter()
                .filter(|(_, e)| e.breaker.state() == State::Closed)
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => {
                    return Err(
                        Rejection::new(Reason::KeyTableFull).with_name(table.config.name.clone())
                    )
                }
            }
        }
        let mut config = table.config.clone();
        config.name = format!("{}/{key}", table.config.name()).into();
        let breaker = Breaker::with_clock(config, table.clock.clone());
        map.insert(
            key.clone(),
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now.as_nanos()),
            },
        );
        Ok(breaker)
    }

    /// Evicts every closed breaker unused for `idle_after`; returns how many went.
    pub fn sweep(&self) -> usize {
        let now = self.inner.clock.now();
        let mut map = self.inner.map.write().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        evict_idle(&mut map, now, self.inner.idle_after);
        before - map.len()
    }

    /// How many breakers the table holds.
    pub fn len(&self) -> usize {
        self.inner
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether the table holds no breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn evict_idle<K, C: Clock>(map: &mut HashMap<K, Entry<C>>, now: Timestamp, idle_after: Duration) {
    map.retain(|_, e| {
        // Relaxed: see `get`.
        let last = Timestamp::from_nanos(e.last_used.load(Ordering::Relaxed));
        e.breaker.state() != State::Closed || now - last < idle_after
    });
}

// ===== layer and service =====

/// One breaker per key of the request: `key` extracts it (for example the authority of
/// a client request's URI). See [`KeyedBreakers`] for the bounds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate_breaker::{BreakerConfig, KeyedBreakers, KeyedCircuitBreakerLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let table = KeyedBreakers::new(BreakerConfig::default(), 1000, Duration::from_secs(300))?;
/// let svc = ServiceBuilder::new()
///     .layer(KeyedCircuitBreakerLayer::new(table.clone(), |host: &&'static str| *host))
///     .service(service_fn(|host: &'static str| async move { Ok::<_, std::io::Error>(host.len()) }));
/// assert_eq!(svc.oneshot("db.internal").await.unwrap(), 11);
/// assert_eq!(table.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct KeyedCircuitBreakerLayer<K, F, C = SystemClock, Cl = DefaultClassifier> {
    table: KeyedBreakers<K, C>,
    key: F,
    classifier: Cl,
}

impl<K, F, C> KeyedCircuitBreakerLayer<K, F, C, DefaultClassifier> {
    /// A layer over `table`, keying requests with `key`.
    pub fn new(table: KeyedBreakers<K, C>, key: F) -> Self {
        KeyedCircuitBreakerLayer {
            table,
            key,
            classifier: DefaultClassifier,
        }
    }
}

impl<K, F, C, Cl> KeyedCircuitBreakerLayer<K, F, C, Cl> {
    /// Classifies outcomes with `classifier`.
    pub fn classifier<Cl2>(self, classifier: Cl2) -> KeyedCircuitBreakerLayer<K, F, C, Cl2> {
        KeyedCircuitBreakerLayer {
            table: self.table,
            key: self.key,
            classifier,
        }
    }
}

impl<S, K, F: Clone, C, Cl: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, F, C, Cl> {
    type Service = KeyedCircuitBreaker<S, K, F, C, Cl>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            table: self.table.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// The service of [`KeyedCircuitBreakerLayer`].
///
/// See [`KeyedCircuitBreakerLayer`] for an example.
#[derive(Debug, Clone)]
pub struct KeyedCircuitBreaker<S, K, F, C = SystemClock, Cl = DefaultClassifier> {
    inner: S,
    table: KeyedBreakers<K, C>,
    key: F,
    classifier: Cl,
}

impl<S, K, F, C, Cl> KeyedCircuitBreaker<S, K, F, C, Cl> {
    /// The table of breakers.
    pub fn table(&self) -> &KeyedBreakers<K, C> {
        &self.table
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

impl<S, Req, K, F, C, Cl> Service<Req> for KeyedCircuitBreaker<S, K, F, C, Cl>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + fmt::Display,
    F: Fn(&Req) -> K,
    C: Clock,
    Cl: Classifier<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, Cl>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key)(&req);
        match self.table.get(&key).and_then(|b| b.try_acquire()) {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}
