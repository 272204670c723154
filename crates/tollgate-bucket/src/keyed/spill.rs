//! Where keys without room in the table are decided: the [`WhenFull`] policy at work.
//!
//! Every decision here is made while holding the lock of the key's shard (read or
//! write), after finding the key absent under that same lock. Inserting the key takes
//! the write lock and reads [`Spill::start_tat`] under it, so an admission here is
//! either wholly before the insertion (whose bucket then starts from a TAT that counts
//! it) or after it (and then the key is found in the table instead).

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::sync::{AtomicU64, Ordering};
use tollgate_core::{Clock, ConfigError, Quota, Reason, Rejection};

use super::insert::denied;
use super::shard::{Shard, Table};
use super::when_full::WhenFull;
use super::{Grant, KeyedRateLimiter, Slot};
use crate::gcra;
use crate::outcome::GiveBack;
use crate::sketch::Sketch;

/// The runtime form of a [`WhenFull`] policy.
pub(super) enum Spill {
    Reject,
    Shared(Arc<Overflow>),
    Sketch(Sketch),
}

impl Spill {
    pub(super) fn new(policy: WhenFull) -> Result<Self, ConfigError> {
        Ok(match policy {
            WhenFull::Reject => Spill::Reject,
            WhenFull::SharedOverflowBucket => Spill::Shared(Arc::new(Overflow::new())),
            WhenFull::Sketch { bytes, rows } => {
                let (rows, width) = WhenFull::sketch_shape(bytes, rows)?;
                Spill::Sketch(Sketch::new(rows, width))
            }
        })
    }

    /// The TAT a key inserted into the table starts from: it may just have been
    /// admitted here. Called under the shard's write lock.
    pub(super) fn start_tat(&self, hash: u64) -> u64 {
        match self {
            Spill::Reject => 0,
            // Relaxed: the shard's lock orders this after every admission of this key
            // in the overflow bucket, and a later value only makes the bucket stricter.
            Spill::Shared(overflow) => overflow.tat.load(Ordering::Relaxed),
            Spill::Sketch(sketch) => sketch.estimate(hash),
        }
    }

    /// The overflow bucket, to give a reservation back to.
    pub(super) fn overflow(&self) -> Option<&Arc<Overflow>> {
        match self {
            Spill::Shared(overflow) => Some(overflow),
            _ => None,
        }
    }

    /// Heap bytes beyond the table.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Spill::Reject => 0,
            Spill::Shared(_) => std::mem::size_of::<Overflow>(),
            Spill::Sketch(sketch) => sketch.bytes(),
        }
    }
}

/// The bucket shared by keys that found no room ([`WhenFull::SharedOverflowBucket`]).
pub(super) struct Overflow {
    tat: AtomicU64,
}

impl Overflow {
    fn new() -> Self {
        Self {
            tat: AtomicU64::new(0),
        }
    }
}

impl GiveBack for Overflow {
    fn give_back(&self, reserved: u64, previous: u64) -> bool {
        gcra::give_back(&self.tat, reserved, previous)
    }
}

impl<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static, C: Clock> KeyedRateLimiter<K, C> {
    /// Decides a key that is not in `table` (whose lock the caller holds) and has no
    /// room there, by the [`WhenFull`] policy.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn spill(
        &self,
        shard: &Shard<K>,
        table: &Table<K>,
        hash: u64,
        key: &K,
        quota: Quota,
        n: u32,
        now: u64,
        slack: u64,
        reserve: bool,
    ) -> Result<Grant, Rejection> {
        if let Some(done) = self.trivial(shard, key, quota, n, now) {
            return done;
        }
        let (quota, decided, at) = match &self.shared.spill {
            Spill::Reject => {
                let retry = table.next_evictable().saturating_sub(now);
                let full = Rejection::new(Reason::KeyTableFull)
                    .with_retry_after(Duration::from_nanos(retry))
                    .with_policy(quota.policy());
                return Err(self.reject(shard, key, &quota, full));
            }
            Spill::Shared(overflow) => {
                let quota = self.quota;
                let decided = gcra::acquire(&overflow.tat, &quota, n, now, slack);
                (quota, decided, Slot::Overflow)
            }
            // Nothing to give back: the cells are shared with other keys.
            Spill::Sketch(sketch) => (
                quota,
                sketch.acquire(hash, &quota, n, now, slack),
                Slot::Nothing,
            ),
        };
        match decided {
            Ok((previous, next)) => {
                self.shared.admitted.add(1);
                self.shared.metrics.admitted();
                Ok(Grant {
                    previous,
                    next,
                    quota,
                    at,
                })
            }
            Err(wait) => Err(self.reject(shard, key, &quota, denied(wait, reserve, &quota))),
        }
    }
}
