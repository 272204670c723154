//! The keyed table: one breaker per key (for example per upstream host), with bounded
//! memory.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use tollgate_core::sync::{Arc, AtomicU64, Ordering, RwLock};
use tollgate_core::{Clock, ConfigError, Reason, Rejection, SystemClock, Timestamp};

use crate::config::BreakerConfig;
use crate::metrics::Metrics;
use crate::snapshot::KeyedBreakersSnapshot;
use crate::{Breaker, BreakerBuilder, State};

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
/// use tollgate_breaker::{Breaker, KeyedBreakers, Outcome, State};
/// use tollgate_core::ManualClock;
///
/// let table = KeyedBreakers::builder()
///     .breaker(Breaker::builder().name("hosts").no_failure_rate().consecutive_failures(1))
///     .max_keys(2)
///     .idle_after(Duration::from_secs(60))
///     .clock(ManualClock::new())
///     .build()?;
/// table.get(&"a.example")?.try_acquire()?.record(Outcome::Failure);
/// assert_eq!(table.get(&"a.example")?.state(), State::Open);
/// assert_eq!(table.get(&"b.example")?.state(), State::Closed);
/// assert_eq!(table.get(&"a.example")?.name(), "hosts/a.example");
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
    /// Calls admitted by evicted breakers.
    retired_admitted: AtomicU64,
    /// Calls refused by evicted breakers, and by the table itself.
    retired_rejected: AtomicU64,
    evicted: AtomicU64,
    /// Shared by every breaker of the table, under the table's name.
    metrics: std::sync::Arc<Metrics>,
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
            .finish_non_exhaustive()
    }
}

impl<K> KeyedBreakers<K, SystemClock> {
    /// A builder: every breaker of the table is built from one
    /// [`BreakerBuilder`] ([`breaker`](KeyedBreakersBuilder::breaker)); at most
    /// 10 000 keys, closed breakers idle after 5 minutes, on the system clock by default.
    pub fn builder() -> KeyedBreakersBuilder<K> {
        KeyedBreakersBuilder {
            breaker: Breaker::builder(),
            max_keys: 10_000,
            idle_after: Duration::from_secs(300),
            clock: SystemClock::new(),
            key: PhantomData,
        }
    }
}

impl<K, C> KeyedBreakers<K, C>
where
    K: Hash + Eq + Clone + fmt::Display,
    C: Clock,
{
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
            table.evict_idle(&mut map, now);
        }
        if map.len() >= table.max_keys {
            // Relaxed: see `get`.
            let oldest = map
                .iter()
                .filter(|(_, e)| e.breaker.state() == State::Closed)
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            match oldest.and_then(|k| map.remove(&k)) {
                Some(entry) => table.retire(&entry.breaker),
                None => return Err(table.refuse(Reason::KeyTableFull)),
            }
        }
        let mut config = table.config.clone();
        config.name = format!("{}/{key}", table.config.name()).into();
        let breaker = Breaker::from_parts(config, table.clock.clone(), table.metrics.clone());
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
        self.inner.evict_idle(&mut map, now);
        before - map.len()
    }
}

impl<K, C: Clock> KeyedBreakers<K, C> {
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

    /// The table's counters and how many of its breakers are open: see
    /// [`KeyedBreakersSnapshot`]. Takes the table's read lock for a pass over the keys.
    pub fn snapshot(&self) -> KeyedBreakersSnapshot {
        let table = &self.inner;
        let map = table.map.read().unwrap_or_else(|e| e.into_inner());
        // Relaxed (all three): figures for metrics; eviction updates them under the
        // write lock we exclude here.
        let mut s = KeyedBreakersSnapshot {
            keys: map.len(),
            admitted: table.retired_admitted.load(Ordering::Relaxed),
            rejected: table.retired_rejected.load(Ordering::Relaxed),
            open: 0,
            half_open: 0,
            evicted: table.evicted.load(Ordering::Relaxed),
        };
        for entry in map.values() {
            let (admitted, rejected) = entry.breaker.totals();
            s.admitted = s.admitted.wrapping_add(admitted);
            s.rejected = s.rejected.wrapping_add(rejected);
            match entry.breaker.state() {
                State::Open | State::ForcedOpen => s.open += 1,
                State::HalfOpen => s.half_open += 1,
                State::Closed | State::Disabled => {}
            }
        }
        s
    }

    /// The rejection of a request that has no key, counted.
    #[cold]
    pub(crate) fn missing_key(&self) -> Rejection {
        self.inner.refuse(Reason::MissingKey)
    }
}

impl<K, C: Clock> Table<K, C> {
    fn evict_idle(&self, map: &mut HashMap<K, Entry<C>>, now: Timestamp) {
        map.retain(|_, e| {
            // Relaxed: see `get`.
            let last = Timestamp::from_nanos(e.last_used.load(Ordering::Relaxed));
            let keep = e.breaker.state() != State::Closed || now - last < self.idle_after;
            if !keep {
                self.retire(&e.breaker);
            }
            keep
        });
    }

    /// Keeps the counts of a breaker leaving the table (under the write lock).
    fn retire(&self, breaker: &Breaker<C>) {
        let (admitted, rejected) = breaker.totals();
        // Relaxed (all three): counters for metrics.
        self.retired_admitted.fetch_add(admitted, Ordering::Relaxed);
        self.retired_rejected.fetch_add(rejected, Ordering::Relaxed);
        self.evicted.fetch_add(1, Ordering::Relaxed);
        self.metrics.retired(breaker.state());
    }

    fn refuse(&self, reason: Reason) -> Rejection {
        // Relaxed: a counter for metrics.
        self.retired_rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejected(reason);
        Rejection::new(reason).with_name(self.config.name.clone())
    }
}

/// Builds [`KeyedBreakers`]: see [`KeyedBreakers::builder`] and the example there.
#[derive(Debug)]
pub struct KeyedBreakersBuilder<K, C = SystemClock> {
    breaker: BreakerBuilder,
    max_keys: usize,
    idle_after: Duration,
    clock: C,
    key: PhantomData<fn() -> K>,
}

impl<K, C> KeyedBreakersBuilder<K, C> {
    /// The policies of every breaker in the table, as a [`Breaker::builder`] (its name
    /// prefixes each breaker's name). The table's clock is set with
    /// [`clock`](Self::clock), here.
    pub fn breaker(mut self, breaker: BreakerBuilder) -> Self {
        self.breaker = breaker;
        self
    }

    /// The most breakers the table holds, at least 1 (default 10 000).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Closed breakers unused for this long are the first to be evicted (default 5 min).
    pub fn idle_after(mut self, idle_after: Duration) -> Self {
        self.idle_after = idle_after;
        self
    }

    /// Reads time from `clock` instead of the system clock, for every breaker.
    pub fn clock<C2: Clock>(self, clock: C2) -> KeyedBreakersBuilder<K, C2> {
        KeyedBreakersBuilder {
            breaker: self.breaker,
            max_keys: self.max_keys,
            idle_after: self.idle_after,
            clock,
            key: PhantomData,
        }
    }
}

impl<K, C: Clock> KeyedBreakersBuilder<K, C> {
    /// Validates the breakers' policies and the table's bounds.
    pub fn build(self) -> Result<KeyedBreakers<K, C>, ConfigError> {
        let config = self.breaker.config.validate()?;
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        let metrics = std::sync::Arc::new(Metrics::new(config.name()));
        Ok(KeyedBreakers {
            inner: Arc::new(Table {
                metrics,
                config,
                clock: self.clock,
                max_keys: self.max_keys,
                idle_after: self.idle_after,
                map: RwLock::new(HashMap::new()),
                retired_admitted: AtomicU64::new(0),
                retired_rejected: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::*;

    #[test]
    fn bad_bounds_and_policies_are_named() {
        let err = KeyedBreakers::<u32>::builder()
            .max_keys(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_keys");
        let err = KeyedBreakers::<u32>::builder()
            .breaker(Breaker::builder().minimum_calls(0))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "minimum_calls");
    }
}
