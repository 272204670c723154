//! Configuration of a [`KeyedRateLimiter`].

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use tollgate_core::{Clock, ConfigError, Rejection, SystemClock};

use super::shard::Shard;
use super::spill::Spill;
use super::when_full::WhenFull;
use super::{KeyedRateLimiter, QuotaFor, Shared, TraceKey};
use crate::metrics::Metrics;
use tollgate_core::Quota;
use tollgate_core::StripedCounter;

/// Builds a [`KeyedRateLimiter`]; start from [`KeyedRateLimiter::builder`].
///
/// ```
/// use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
///
/// let paid = Quota::per_second(100).build()?;
/// let limiter = KeyedRateLimiter::<String>::builder(Quota::per_second(5).build()?)
///     .max_keys(10_000)
///     .shards(16)
///     .when_full(WhenFull::SharedOverflowBucket)
///     .quota_for(move |key: &String| key.starts_with("paid-").then_some(paid))
///     .build()?;
/// assert_eq!(limiter.quota().count(), 5);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[must_use = "a KeyedBuilder does nothing until `build` is called"]
pub struct KeyedBuilder<K, C> {
    quota: Quota,
    max_keys: usize,
    shards: usize,
    /// `None`: the default for `max_keys`, chosen at build.
    when_full: Option<WhenFull>,
    quota_for: Option<QuotaFor<K>>,
    trace_key: Option<TraceKey<K>>,
    name: Option<Arc<str>>,
    clock: C,
}

/// The default bound on tracked keys.
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedRateLimiter<K, SystemClock> {
    /// A builder with the default `quota` for every key, on the system clock, tracking
    /// at most 100,000 keys.
    pub fn builder(quota: Quota) -> KeyedBuilder<K, SystemClock> {
        KeyedBuilder {
            quota,
            max_keys: DEFAULT_MAX_KEYS,
            shards: default_shards(),
            when_full: None,
            quota_for: None,
            trace_key: None,
            name: None,
            clock: SystemClock::new(),
        }
    }
}

/// Four shards per core, as a power of two: few collisions between threads.
fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 4).next_power_of_two().max(16)
}

impl<K, C> KeyedBuilder<K, C> {
    /// The most keys tracked at once (default 100,000). The bound holds per shard
    /// (`max_keys / shards` each), so a shard may fill before the whole table does.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// How many independently locked shards (default: four per core, at least 16;
    /// rounded down to a power of two, and to at most `max_keys`).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// What happens to a new key when its shard is full of active keys (see
    /// [`WhenFull`]; by default a sketch of 128 bytes per key of `max_keys`).
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = Some(policy);
        self
    }

    /// Picks a key's quota when the key is first seen: `Some(quota)` overrides the
    /// default, `None` keeps it. Called outside every lock, when the key is not in the
    /// table (once per new key, and per check of a key decided by the sketch). Each shard
    /// keeps up to 65,536 distinct quotas (tiers, not one per key); past that, new keys
    /// get the default quota.
    pub fn quota_for(mut self, f: impl Fn(&K) -> Option<Quota> + Send + Sync + 'static) -> Self {
        self.quota_for = Some(Box::new(f));
        self
    }

    /// Records the key in rejection events (field `key`). Off by default: keys are
    /// often personal data (addresses, API keys).
    pub fn trace_keys(mut self) -> Self
    where
        K: fmt::Debug,
    {
        self.trace_key = Some(|rejection: &Rejection, quota: &Quota, key: &K| {
            crate::trace::rejected_key(rejection, quota, key)
        });
        self
    }

    /// Names the limiter's policy: its rejections carry the name (the HTTP face states
    /// it in the `RateLimit` headers). Printable ASCII, not empty; no name by default.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Reads time from `clock` instead.
    pub fn clock<C2: Clock>(self, clock: C2) -> KeyedBuilder<K, C2> {
        KeyedBuilder {
            quota: self.quota,
            max_keys: self.max_keys,
            shards: self.shards,
            when_full: self.when_full,
            quota_for: self.quota_for,
            trace_key: self.trace_key,
            name: self.name,
            clock,
        }
    }

    /// Validates and builds: `max_keys` and `shards` must be at least 1, a sketch's
    /// size and rows as [`WhenFull::Sketch`] says, and the name, when set, printable
    /// ASCII and not empty.
    ///
    /// ```
    /// use tollgate_bucket::{KeyedRateLimiter, Quota};
    ///
    /// let err = KeyedRateLimiter::<u64>::builder(Quota::per_second(1).build()?)
    ///     .max_keys(0)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `max_keys`: must be at least 1");
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<KeyedRateLimiter<K, C>, ConfigError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        C: Clock,
    {
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        if self.shards == 0 {
            return Err(ConfigError::new("shards", "must be at least 1"));
        }
        crate::direct::check_name(self.name.as_deref())?;
        let wanted = self.shards.min(self.max_keys);
        // The largest power of two not above `wanted`.
        let count = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        let base = self.max_keys / count;
        let extra = self.max_keys % count;
        let shards = (0..count)
            .map(|i| Shard::new(base + usize::from(i < extra), self.quota))
            .collect();
        let spill = Spill::new(
            self.when_full
                .unwrap_or_else(|| WhenFull::default_for(self.max_keys)),
        )?;
        Ok(KeyedRateLimiter {
            quota: self.quota,
            clock: self.clock,
            shared: Arc::new(Shared {
                shards,
                mask: count - 1,
                hasher: foldhash::quality::RandomState::default(),
                max_keys: self.max_keys,
                quota_for: self.quota_for,
                spill,
                trace_key: self.trace_key,
                metrics: Metrics::new(self.name.as_deref()),
                name: self.name,
                admitted: StripedCounter::default(),
                _key: PhantomData,
            }),
        })
    }
}

impl<K, C: fmt::Debug> fmt::Debug for KeyedBuilder<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("shards", &self.shards)
            .field("when_full", &self.when_full)
            .field("quota_for", &self.quota_for.is_some())
            .field("trace_keys", &self.trace_key.is_some())
            .field("name", &self.name)
            .field("clock", &self.clock)
            .finish()
    }
}
