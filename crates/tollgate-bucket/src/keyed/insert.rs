//! The path of a key not in the table: make room if needed, then insert it.

use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use tollgate_core::sync::Ordering;
use tollgate_core::{Clock, Reason, Rejection};

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
        let quota = shared
            .quota_for
            .as_ref()
            .and_then(|f| f(key))
            .unwrap_or(self.quota);
        if n > quota.burst() {
            return Err(self.reject(shard, key, &quota, gcra::over_capacity(quota.policy())));
        }
        if n == 0 {
            return Ok(Grant {
                previous: now,
                next: now,
                quota,
                at: Slot::Nothing,
            });
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
            let Some(overflow) = &shared.overflow else {
                let retry = table.next_evictable().saturating_sub(now);
                drop(table);
                let full = Rejection::new(Reason::KeyTableFull)
                    .with_retry_after(Duration::from_nanos(retry))
                    .with_policy(quota.policy());
                return Err(self.reject(shard, key, &quota, full));
            };
            drop(table);
            let quota = self.quota;
            return match gcra::acquire(&overflow.tat, &quota, n, now, slack) {
                Ok((previous, next)) => {
                    shared.admitted.add(1);
                    shared.metrics.admitted();
                    Ok(Grant {
                        previous,
                        next,
                        quota,
                        at: Slot::Overflow,
                    })
                }
                Err(wait) => Err(self.reject(shard, key, &quota, denied(wait, reserve, &quota))),
            };
        }
        // A key that may have been served by the overflow bucket starts as spent as it.
        // Relaxed: any value it read is a TAT the overflow bucket really had, and a
        // later one only makes this bucket stricter.
        let previous = shared
            .overflow
            .as_ref()
            .map_or(0, |o| o.tat.load(Ordering::Relaxed));
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
