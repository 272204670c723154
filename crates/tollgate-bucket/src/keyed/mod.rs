//! The keyed limiter: one bucket per key, in a sharded table of bounded size.

mod builder;
mod insert;
mod shard;
mod spill;
mod when_full;

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::sync::Ordering;
use tollgate_core::{Clock, Rejection, SystemClock, Timestamp};

pub use builder::KeyedBuilder;
pub use when_full::WhenFull;

use crate::gcra;
use crate::metrics::Metrics;
use crate::outcome::{Admitted, GiveBack, Reservation, Snapshot};
use insert::denied;
use shard::{Entry, Shard};
use spill::Spill;
use tollgate_core::Quota;
use tollgate_core::StripedCounter;

/// Records a rejection with its key (set by [`KeyedBuilder::trace_keys`]).
type TraceKey<K> = fn(&Rejection, &Quota, &K);

/// Picks a key's quota (set by [`KeyedBuilder::quota_for`]).
type QuotaFor<K> = Box<dyn Fn(&K) -> Option<Quota> + Send + Sync>;

/// A token bucket per key (client address, API key, route...), with bounded memory.
///
/// Each key gets its own GCRA bucket with the default quota, or the one
/// [`KeyedBuilder::quota_for`] picks for it. The table holds at most
/// [`max_keys`](KeyedBuilder::max_keys) keys: a key whose bucket is full again (its TAT
/// is at or before now) is indistinguishable from a key never seen, so it is evicted
/// when room is needed (amortized on the calls that insert keys) or by
/// [`sweep`](KeyedRateLimiter::sweep); there is no background thread. When every key is
/// still active, [`WhenFull`] decides, and never over-admits.
///
/// The table is split into shards, each under its own reader-writer lock: a check takes
/// the read lock and compare-exchanges the key's TAT; only new keys and eviction take
/// the write lock. Clones share the table.
///
/// ```
/// use std::time::Duration;
/// use tollgate_bucket::{KeyedRateLimiter, Quota};
/// use tollgate_core::{ManualClock, Reason};
///
/// let clock = ManualClock::new();
/// let limiter = KeyedRateLimiter::builder(Quota::per_second(1).build()?)
///     .max_keys(1_000)
///     .clock(clock.clone())
///     .build()?;
///
/// assert!(limiter.check_key(&"alice").is_ok());
/// let refused = limiter.check_key(&"alice").unwrap_err();
/// assert_eq!(refused.reason(), Reason::RateLimited);
/// assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
/// assert!(limiter.check_key(&"bob").is_ok()); // keys are isolated
///
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(limiter.sweep(), 2); // both buckets are full again: forget them
/// assert!(limiter.is_empty());
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct KeyedRateLimiter<K, C = SystemClock> {
    quota: Quota,
    clock: C,
    shared: Arc<Shared<K>>,
}

struct Shared<K> {
    shards: Box<[Shard<K>]>,
    mask: usize,
    hasher: foldhash::quality::RandomState,
    max_keys: usize,
    quota_for: Option<QuotaFor<K>>,
    spill: Spill,
    trace_key: Option<TraceKey<K>>,
    name: Option<Arc<str>>,
    admitted: StripedCounter,
    metrics: Metrics,
    _key: PhantomData<fn(K)>,
}

impl<K> Shared<K> {
    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K> {
        // Bits 32.. choose the shard; hashbrown uses the low bits and the top seven
        // inside it, so the two choices stay independent.
        &self.shards[(hash >> 32) as usize & self.mask]
    }
}

/// A reserved slot in a key's bucket, found again by key and insertion epoch.
struct KeySlot<K> {
    shared: Arc<Shared<K>>,
    key: K,
    hash: u64,
    epoch: u64,
}

impl<K: Eq + Send + Sync> GiveBack for KeySlot<K> {
    fn give_back(&self, reserved: u64, previous: u64) -> bool {
        let table = self.shared.shard(self.hash).read();
        let Some(entry) = table
            .entries
            .find(self.hash, |e| e.key == self.key && e.epoch() == self.epoch)
        else {
            return false; // evicted since: its cells are gone with it
        };
        let returned = gcra::give_back(&entry.tat, reserved, previous);
        if returned {
            table.lower_next_evictable(previous);
        }
        returned
    }
}

/// A granted admission, before it is turned into what the caller asked for.
struct Grant {
    previous: u64,
    next: u64,
    quota: Quota,
    at: Slot,
}

enum Slot {
    /// A tracked key: its hash and insertion epoch.
    Key(u64, u64),
    /// The overflow bucket.
    Overflow,
    /// Nothing to give back: nothing was charged (`n = 0` for an unknown key), or the
    /// sketch was, whose cells other keys share.
    Nothing,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static, C: Clock> KeyedRateLimiter<K, C> {
    /// Admits one cell for `key` now, or says why not.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<Admitted, Rejection> {
        self.check_key_at(key, 1, self.clock.now())
    }

    /// Admits `n` cells for `key` now: all or none (see [`RateLimiter::check_n`](crate::RateLimiter::check_n)).
    #[inline]
    pub fn check_key_n(&self, key: &K, n: u32) -> Result<Admitted, Rejection> {
        self.check_key_at(key, n, self.clock.now())
    }

    /// Admits `n` cells for `key` at `now`.
    #[inline]
    pub fn check_key_at(&self, key: &K, n: u32, now: Timestamp) -> Result<Admitted, Rejection> {
        let now = now.as_nanos();
        let grant = self.acquire(key, n, now, 0, false)?;
        Ok(Admitted::new(grant.next, now, grant.quota))
    }

    /// Reserves `n` cells for `key` at most `max_wait` ahead, like
    /// [`RateLimiter::reserve_at`](crate::RateLimiter::reserve_at). Dropping the
    /// reservation uncommitted gives the cells back under the rules of [`Reservation`];
    /// if the key was evicted in between, they are gone with it.
    pub fn reserve_key_at(
        &self,
        key: &K,
        n: u32,
        now: Timestamp,
        max_wait: Duration,
    ) -> Result<Reservation, Rejection> {
        let now = now.as_nanos();
        let grant = self.acquire(key, n, now, gcra::nanos(max_wait), true)?;
        let bucket: Option<Arc<dyn GiveBack>> = match grant.at {
            Slot::Key(hash, epoch) => Some(Arc::new(KeySlot {
                shared: self.shared.clone(),
                key: key.clone(),
                hash,
                epoch,
            })),
            Slot::Overflow => {
                (self.shared.spill.overflow()).map(|o| Arc::clone(o) as Arc<dyn GiveBack>)
            }
            Slot::Nothing => None,
        };
        Ok(Reservation::new(
            bucket,
            grant.previous,
            grant.next,
            now,
            grant.quota,
        ))
    }

    /// Evicts every key whose bucket is full again; returns how many. Calls that
    /// insert keys do this on their own shard when it is full, so calling `sweep` is
    /// optional: it only returns memory sooner.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now().as_nanos();
        self.shared
            .shards
            .iter()
            .map(|shard| shard.write().evict(now))
            .sum()
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|shard| shard.read().entries.len())
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The default quota (keys [`quota_for`](KeyedBuilder::quota_for) does not override).
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The bound on tracked keys.
    pub fn max_keys(&self) -> usize {
        self.shared.max_keys
    }

    /// The most heap bytes this limiter can ever use, whatever keys it is offered: the
    /// table at `max_keys` keys, its shards, and the [`WhenFull`] policy's fixed size
    /// (a sketch's `bytes`). Heap memory owned by the keys themselves (a `String`'s
    /// text) comes on top, at most `max_keys` of them. Fixed at build.
    ///
    /// ```
    /// use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
    ///
    /// let limiter = KeyedRateLimiter::<u64>::builder(Quota::per_second(1).build()?)
    ///     .max_keys(100_000)
    ///     .when_full(WhenFull::sketch(4 << 20))
    ///     .build()?;
    /// assert!(limiter.max_bytes() < 16 << 20); // 16 MiB, attackers or not
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn max_bytes(&self) -> usize {
        let shared = &*self.shared;
        let quotas = if shared.quota_for.is_some() {
            shard::MAX_QUOTAS
        } else {
            1
        };
        let tables: usize = (shared.shards.iter())
            .map(|shard| Shard::<K>::max_bytes(shard.cap, quotas))
            .sum();
        let fixed = std::mem::size_of::<Shared<K>>()
            + std::mem::size_of_val(&*shared.shards)
            + shared.name.as_ref().map_or(0, |name| name.len() + 16);
        tables + fixed + shared.spill.bytes()
    }

    /// The policy name set by [`KeyedBuilder::name`].
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// The counters so far, and the keys tracked now.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            admitted: self.shared.admitted.sum(),
            ..Snapshot::default()
        };
        for shard in self.shared.shards.iter() {
            // Relaxed: a metrics read needs no ordering with the buckets.
            snapshot.rejected += shard.rejected.load(Ordering::Relaxed);
            snapshot.keys += shard.read().entries.len();
        }
        snapshot
    }

    #[inline]
    fn acquire(
        &self,
        key: &K,
        n: u32,
        now: u64,
        slack: u64,
        reserve: bool,
    ) -> Result<Grant, Rejection> {
        let hash = self.shared.hasher.hash_one(key);
        let shard = self.shared.shard(hash);
        {
            let table = shard.read();
            if let Some(entry) = table.entries.find(hash, |e| e.key == *key) {
                let quota = table.quota(entry);
                return self.charge(shard, entry, quota, hash, key, n, now, slack, reserve);
            }
            // A full shard with nothing to evict: decided by the policy, under this
            // lock. With `quota_for`, `insert` calls it outside the lock first.
            if self.shared.quota_for.is_none() && table.no_room(shard.cap, now) {
                let quota = self.quota;
                return self.spill(shard, &table, hash, key, quota, n, now, slack, reserve);
            }
        }
        self.insert(shard, hash, key, n, now, slack, reserve)
    }

    /// Charges a tracked key's bucket; the caller holds the shard's lock.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn charge(
        &self,
        shard: &Shard<K>,
        entry: &Entry<K>,
        quota: Quota,
        hash: u64,
        key: &K,
        n: u32,
        now: u64,
        slack: u64,
        reserve: bool,
    ) -> Result<Grant, Rejection> {
        if n > quota.burst() {
            return Err(self.reject(shard, key, &quota, gcra::over_capacity(quota.policy())));
        }
        match gcra::acquire(&entry.tat, &quota, n, now, slack) {
            Ok((previous, next)) => {
                self.shared.admitted.add(1);
                self.shared.metrics.admitted();
                Ok(Grant {
                    previous,
                    next,
                    quota,
                    at: Slot::Key(hash, entry.epoch()),
                })
            }
            Err(wait) => Err(self.reject(shard, key, &quota, denied(wait, reserve, &quota))),
        }
    }

    #[cold]
    fn reject(&self, shard: &Shard<K>, key: &K, quota: &Quota, rejection: Rejection) -> Rejection {
        shard.count_rejected();
        self.shared.metrics.rejected(rejection.reason());
        match self.shared.trace_key {
            Some(trace) => trace(&rejection, quota, key),
            None => crate::trace::rejected(&rejection, quota),
        }
        match &self.shared.name {
            Some(name) => rejection.with_name(Arc::clone(name)),
            None => rejection,
        }
    }
}

impl<K, C: Clone> Clone for KeyedRateLimiter<K, C> {
    fn clone(&self) -> Self {
        Self {
            quota: self.quota,
            clock: self.clock.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<K, C: fmt::Debug> fmt::Debug for KeyedRateLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &self.quota)
            .field("name", &self.shared.name)
            .field("max_keys", &self.shared.max_keys)
            .field("shards", &self.shared.shards.len())
            .field("spill_bytes", &self.shared.spill.bytes())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;

    #[test]
    fn max_bytes_adds_the_tables_the_fixed_parts_and_the_name() {
        let quota = Quota::per_second(1).build().unwrap();
        let build = |name: Option<&str>| {
            let builder = KeyedRateLimiter::<u64>::builder(quota)
                .max_keys(100)
                .shards(4)
                .when_full(WhenFull::Reject);
            match name {
                Some(name) => builder.name(name),
                None => builder,
            }
            .build()
            .unwrap()
        };
        let fixed = std::mem::size_of::<Shared<u64>>() + 4 * std::mem::size_of::<Shard<u64>>();
        assert_eq!(
            build(None).max_bytes(),
            4 * Shard::<u64>::max_bytes(25, 1) + fixed
        );
        // A name: its text and the `Arc`'s two counts.
        assert_eq!(
            build(Some("abc")).max_bytes() - build(None).max_bytes(),
            3 + 16
        );
    }
}
