//! The path of a key not in the table: make room if needed, then insert it, or hand it
//! to the [`WhenFull`](super::WhenFull) policy.

use std::hash::{BuildHasher, Hash};

use tollgate_core::{Clock, Rejection};

use super::shard::Shard;
use super::{Grant, KeyedRateLimiter, Slot};
use crate::gcra;
use tollgate_core::Quota;

impl<K: Hash + Eq + Clone + Send + Sync + 'static, C: Clock> KeyedRateLimiter<K, C> {
    /// The path for a key not in the table: make room if needed, then insert.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert(
        &self,
        shard: &Shard<K>,
        hash: u64,
        key: &K,
        n: u32,
        now: u64,
        slack: u64,
        reserve: bool,
    ) -> Result<Grant, Rejection> {
        let shared = &*self.shared;
        // User code, outside every lock.
        let quota = shared
            .quota_for
            .as_ref()
            .and_then(|f| f(key))
            .unwrap_or(self.quota);
        if let Some(done) = self.trivial(shard, key, quota, n, now) {
            return done;
        }
        {
            // A full shard with nothing to evict needs no write lock.
            let table = shard.read();
            if let Some(entry) = table.entries.find(hash, |e| e.key == *key) {
                let quota = table.quota(entry);
                return self.charge(shard, entry, quota, hash, key, n, now, slack, reserve);
            }
            if table.no_room(shard.cap, now) {
                return self.spill(shard, &table, hash, key, quota, n, now, slack, reserve);
            }
        }
        let mut table = shard.write();
        // Another caller may have inserted it while we waited for the write lock.
        if let Some(entry) = table.entries.find(hash, |e| e.key == *key) {
            let quota = table.quota(entry);
            return self.charge(shard, entry, quota, hash, key, n, now, slack, reserve);
        }
        if table.entries.len() >= shard.cap {
            table.evict(now);
        }
        if table.entries.len() >= shard.cap {
            return self.spill(shard, &table, hash, key, quota, n, now, slack, reserve);
        }
        // The key may just have been admitted by the policy: start as spent as that.
        let previous = shared.spill.start_tat(hash);
        let (index, quota) = table.intern(quota);
        match gcra::decide(previous, &quota, n, now, slack) {
            Ok(next) => {
                let epoch = table.insert(hash, key.clone(), next, index, |k| {
                    shared.hasher.hash_one(k)
                });
                drop(table);
                shared.admitted.add(1);
                shared.metrics.admitted();
                Ok(Grant {
                    previous,
                    next,
                    quota,
                    at: Slot::Key(hash, epoch),
                })
            }
            Err(wait) => {
                drop(table);
                Err(self.reject(shard, key, &quota, denied(wait, reserve, &quota)))
            }
        }
    }

    /// The decision for a key not in the table that needs no bucket: a request above
    /// the burst (never admissible), or of zero cells (nothing to charge).
    #[inline]
    pub(super) fn trivial(
        &self,
        shard: &Shard<K>,
        key: &K,
        quota: Quota,
        n: u32,
        now: u64,
    ) -> Option<Result<Grant, Rejection>> {
        if n > quota.burst() {
            return Some(Err(self.reject(
                shard,
                key,
                &quota,
                gcra::over_capacity(quota.policy()),
            )));
        }
        (n == 0).then_some(Ok(Grant {
            previous: now,
            next: now,
            quota,
            at: Slot::Nothing,
        }))
    }
}

/// The rejection for a request that would have to wait `nanos` (past the allowed wait
/// when reserving).
#[cold]
pub(super) fn denied(nanos: u64, reserve: bool, quota: &Quota) -> Rejection {
    if reserve {
        gcra::wait_too_long(nanos, quota.policy())
    } else {
        gcra::rate_limited(nanos, quota.policy())
    }
}
