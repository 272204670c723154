//! What an instance remembers of a key between round trips: "limited until", and the
//! unspent cells of a lease.
//!
//! Nothing here is needed for correctness: forgetting an entry only costs a round trip
//! (or, for a lease, leaves its cells unspent: under-admission, never over). So the
//! table is bounded, and a full table simply stops remembering new keys.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tollgate_core::Timestamp;

/// One key's local state.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// A lower bound of the key's TAT on Redis, on the local timeline: Redis's TAT only
    /// grows (or expires once passed, which is the same as `now`), so a request that
    /// this bound already refuses, Redis would refuse too, with at least this wait.
    known_tat: Timestamp,
    /// Unspent leased cells (already counted in the TAT), usable until `lease_expires`.
    cells: u32,
    lease_expires: Timestamp,
}

impl Entry {
    fn is_idle(&self, now: Timestamp) -> bool {
        self.known_tat <= now && (self.cells == 0 || self.lease_expires <= now)
    }
}

/// What the table says of a key at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    /// Refuse: `n` cells fit in `wait` at the earliest.
    Limited { wait: Duration },
    /// Admitted from the lease; the bucket is full again `reset` from now (as last known).
    Spent { reset: Duration },
    /// Nothing known that decides: ask Redis.
    Unknown,
}

/// The quota's figures in nanoseconds, as the script's unit rounds them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cells {
    pub(crate) interval: Duration,
    pub(crate) capacity: Duration,
}

type Shard = Mutex<HashMap<Vec<u8>, Entry>>;

/// Sharded, bounded map of key -> [`Entry`].
#[derive(Debug)]
pub(crate) struct LocalTable {
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: RandomState,
}

impl LocalTable {
    pub(crate) fn new(max_keys: usize) -> Self {
        let shards = 16.min(max_keys.max(1));
        Self {
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_keys.div_ceil(shards),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        let i = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        // A poisoned lock only means another caller panicked mid-update of plain
        // numbers: the map is still consistent enough for a cache.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides `n` cells of `key` locally at `now` if it can: from the lease, or a
    /// refusal that Redis would make too.
    pub(crate) fn decide(&self, key: &[u8], n: u32, cells: Cells, now: Timestamp) -> Local {
        let mut shard = self.shard(key);
        let Some(entry) = shard.get_mut(key) else {
            return Local::Unknown;
        };
        if entry.cells >= n && entry.lease_expires > now {
            entry.cells -= n;
            return Local::Spent {
                reset: entry.known_tat - now,
            };
        }
        let fits_at = entry.known_tat + cells.interval * n;
        let limit = now + cells.capacity;
        if fits_at > limit {
            return Local::Limited {
                wait: fits_at - limit,
            };
        }
        Local::Unknown
    }

    /// Redis's TAT for `key` is at least `tat` (on the local timeline).
    pub(crate) fn saw(&self, key: &[u8], tat: Timestamp, now: Timestamp) {
        self.update(key, now, |e| e.known_tat = e.known_tat.max(tat));
    }

    /// Redis granted `cells` more than the request used, to spend until `expires`. A
    /// lease never holds more than `max` cells (the bound on what an instance can carry
    /// from one window into the next).
    pub(crate) fn lease(
        &self,
        key: &[u8],
        cells: u32,
        max: u32,
        expires: Timestamp,
        now: Timestamp,
    ) {
        self.update(key, now, |e| {
            let held = if e.lease_expires > now { e.cells } else { 0 };
            e.cells = held.saturating_add(cells).min(max);
            e.lease_expires = expires;
        });
    }

    fn update(&self, key: &[u8], now: Timestamp, f: impl FnOnce(&mut Entry)) {
        let mut shard = self.shard(key);
        if let Some(entry) = shard.get_mut(key) {
            f(entry);
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, e| !e.is_idle(now));
            if shard.len() >= self.per_shard {
                return; // full of live entries: stop remembering, stay correct
            }
        }
        let mut entry = Entry::default();
        f(&mut entry);
        shard.insert(key.to_vec(), entry);
    }

    /// Keys remembered now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    /// 10 per second, burst 2.
    const CELLS: Cells = Cells {
        interval: Duration::from_millis(100),
        capacity: Duration::from_millis(200),
    };

    #[test]
    fn a_known_tat_refuses_exactly_what_redis_would() {
        let t = LocalTable::new(100);
        assert_eq!(t.decide(b"k", 1, CELLS, ms(0)), Local::Unknown);
        // TAT 250 ms: at 10 ms, one cell needs TAT + 100 <= now + 200, so 140 ms more.
        t.saw(b"k", ms(250), ms(0));
        assert_eq!(
            t.decide(b"k", 1, CELLS, ms(10)),
            Local::Limited {
                wait: Duration::from_millis(140)
            }
        );
        assert_eq!(
            t.decide(b"k", 2, CELLS, ms(10)),
            Local::Limited {
                wait: Duration::from_millis(240)
            },
            "a larger request waits longer"
        );
        assert_eq!(
            t.decide(b"k", 1, CELLS, ms(150)),
            Local::Unknown,
            "one fits now"
        );
        t.saw(b"k", ms(100), ms(150));
        assert_eq!(
            t.decide(b"k", 2, CELLS, ms(150)),
            Local::Limited {
                wait: Duration::from_millis(100)
            },
            "the bound only grows"
        );
    }

    #[test]
    fn a_lease_is_spent_then_expires_and_never_exceeds_its_bound() {
        let t = LocalTable::new(100);
        t.saw(b"k", ms(300), ms(0));
        t.lease(b"k", 3, 4, ms(100), ms(0));
        for _ in 0..3 {
            assert_eq!(
                t.decide(b"k", 1, CELLS, ms(0)),
                Local::Spent {
                    reset: Duration::from_millis(300)
                }
            );
        }
        assert!(matches!(
            t.decide(b"k", 1, CELLS, ms(0)),
            Local::Limited { .. }
        ));
        t.lease(b"k", 3, 4, ms(100), ms(0));
        t.lease(b"k", 3, 4, ms(100), ms(0)); // 6 offered, 4 kept
        for _ in 0..4 {
            assert!(matches!(
                t.decide(b"k", 1, CELLS, ms(0)),
                Local::Spent { .. }
            ));
        }
        assert!(!matches!(
            t.decide(b"k", 1, CELLS, ms(0)),
            Local::Spent { .. }
        ));
        t.lease(b"k", 2, 4, ms(100), ms(0));
        assert!(
            !matches!(t.decide(b"k", 1, CELLS, ms(100)), Local::Spent { .. }),
            "expired"
        );
    }

    #[test]
    fn a_full_table_forgets_idle_keys_and_refuses_to_grow_past_its_bound() {
        let t = LocalTable::new(16); // one key per shard
        for i in 0..1_000u32 {
            t.saw(&i.to_be_bytes(), ms(10), ms(0));
        }
        assert!(t.len() <= 16, "{}", t.len());
        // Once their TATs pass, the entries are idle and make room.
        for i in 1_000..1_100u32 {
            t.saw(&i.to_be_bytes(), ms(500), ms(20));
        }
        assert!(t.len() <= 16);
        assert!((1_000..1_100u32).any(|i| matches!(
            t.decide(&i.to_be_bytes(), 1, CELLS, ms(25)),
            Local::Limited { .. }
        )));
    }
}
