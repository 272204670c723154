//! What an instance remembers of a key between round trips: "limited until", the
//! unspent cells of a lease, and whether more cells for that lease are on their way.
//!
//! Nothing here is needed for correctness: forgetting an entry only costs a round trip
//! (or, for a lease, leaves its cells unspent: under-admission, never over). So the
//! table is bounded, and a full table simply stops remembering new keys.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use foldhash::quality::RandomState;
use hashbrown::HashTable;

use tollgate_core::Timestamp;

use crate::key::LocalKey;

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
    /// A round trip that tops the lease up may be in flight until then (its deadline).
    /// One at a time, so that the cells it brings always fit in the lease: none is
    /// taken from Redis only to be dropped.
    leasing_until: Timestamp,
}

impl Entry {
    fn is_idle(&self, now: Timestamp) -> bool {
        self.known_tat <= now && (self.cells == 0 || self.lease_expires <= now)
    }
}

/// `key`'s entry in its shard, found by its `hash`.
fn find<'a>(shard: &'a mut Map, hash: u64, key: LocalKey<'_>) -> Option<&'a mut Entry> {
    shard.find_mut(hash, |(k, _)| key.is(k)).map(|(_, e)| e)
}

/// What the table says of a key at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    /// Refuse: `n` cells fit in `wait` at the earliest.
    Limited { wait: Duration },
    /// Admitted from the lease; the bucket is full again `reset` from now (as last known).
    /// `refill` > 0: half the lease is spent, so top it up by that many cells now, in
    /// the background, before it runs out (this caller is the one to start it).
    Spent { reset: Duration, refill: u32 },
    /// Nothing known that decides: ask Redis, taking from `n` up to `take` cells (more
    /// than `n`: this round trip also tops the lease up).
    Ask { take: u32 },
}

/// The quota's figures in nanoseconds, as the script's unit rounds them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cells {
    pub(crate) interval: Duration,
    pub(crate) capacity: Duration,
}

/// One lock's keys (in their owned form, `LocalKey::to_tagged`), by the hash of their
/// bytes (computed once per decision: it also picks the shard).
type Map = HashTable<(Box<[u8]>, Entry)>;

/// Sharded, bounded map of key -> [`Entry`].
#[derive(Debug)]
pub(crate) struct LocalTable {
    /// A power of two of them.
    shards: Box<[Mutex<Map>]>,
    per_shard: usize,
    /// foldhash, seeded per process: a key chosen to collide costs an attacker as
    /// much as any other.
    hasher: RandomState,
    /// The most unspent cells a key's lease holds (1: exact mode, no leases).
    lease: u32,
    /// The longest a round trip can take.
    timeout: Duration,
}

impl LocalTable {
    pub(crate) fn new(max_keys: usize, lease: u32, timeout: Duration) -> Self {
        // The largest power of two up to 16 and `max_keys`.
        let shards = 1 << 16.min(max_keys.max(1)).ilog2();
        Self {
            shards: (0..shards).map(|_| Mutex::new(Map::new())).collect(),
            per_shard: max_keys.div_ceil(shards),
            hasher: RandomState::default(),
            lease,
            timeout,
        }
    }

    /// `key`'s hash and its shard, locked.
    fn shard(&self, key: LocalKey<'_>) -> (u64, MutexGuard<'_, Map>) {
        let hash = self.hasher.hash_one(key.bytes);
        // Bits the table's own probing leaves alone (it uses the low ones, and the top
        // seven as tags).
        let i = (hash >> 32) as usize & (self.shards.len() - 1);
        // A poisoned lock only means another caller panicked mid-update of plain
        // numbers: the map is still consistent enough for a cache.
        let shard = self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (hash, shard)
    }

    /// Decides `n` cells of `key` locally at `now` if it can: from the lease, or a
    /// refusal that Redis would make too. Otherwise says how much to ask Redis for:
    /// with `lease` (a request that takes cells due now), enough to top the lease up.
    #[inline]
    pub(crate) fn decide(
        &self,
        key: LocalKey<'_>,
        n: u32,
        cells: Cells,
        now: Timestamp,
        lease: bool,
    ) -> Local {
        let (hash, mut shard) = self.shard(key);
        if let Some(entry) = find(&mut shard, hash, key) {
            return self.decide_entry(entry, n, cells, now, lease);
        }
        drop(shard);
        if !lease || self.lease <= n {
            return Local::Ask { take: n };
        }
        // A new key: remember that its first lease is on its way.
        self.update(key, now, |entry| self.top_up(entry, n, now))
            .unwrap_or(Local::Ask { take: n })
    }

    fn decide_entry(
        &self,
        entry: &mut Entry,
        n: u32,
        cells: Cells,
        now: Timestamp,
        lease: bool,
    ) -> Local {
        if entry.cells >= n && entry.lease_expires > now {
            entry.cells -= n;
            return Local::Spent {
                reset: entry.known_tat - now,
                refill: self.refill(entry, cells, now),
            };
        }
        let fits_at = entry.known_tat + cells.interval * n;
        let limit = now + cells.capacity;
        if fits_at > limit {
            return Local::Limited {
                wait: fits_at - limit,
            };
        }
        if lease {
            self.top_up(entry, n, now)
        } else {
            Local::Ask { take: n }
        }
    }

    /// A round trip for `n` cells that also tops the lease up to its size, unless
    /// another is on its way (then it takes `n` only).
    fn top_up(&self, entry: &mut Entry, n: u32, now: Timestamp) -> Local {
        let held = if entry.lease_expires > now {
            entry.cells
        } else {
            0
        };
        let take = n.max(self.lease.saturating_sub(held));
        if take == n || entry.leasing_until > now {
            return Local::Ask { take: n };
        }
        entry.leasing_until = now + self.timeout;
        Local::Ask { take }
    }

    /// How many cells to top `entry`'s lease up by now: none while more than half of it
    /// is left, while another top-up is on its way, or while Redis (as last known) has
    /// no cell to give; else up to the lease's size.
    fn refill(&self, entry: &mut Entry, cells: Cells, now: Timestamp) -> u32 {
        if entry.cells > self.lease / 2
            || entry.leasing_until > now
            || entry.known_tat + cells.interval > now + cells.capacity
        {
            return 0;
        }
        entry.leasing_until = now + self.timeout;
        self.lease - entry.cells
    }

    /// The top-up of `key`'s lease started at `started` is over (its cells, if any,
    /// already given to [`lease`](Self::lease)): the next may start.
    pub(crate) fn lease_ended(&self, key: LocalKey<'_>, started: Timestamp) {
        let (hash, mut shard) = self.shard(key);
        if let Some(entry) = find(&mut shard, hash, key) {
            if entry.leasing_until == started + self.timeout {
                entry.leasing_until = Timestamp::ZERO;
            }
        }
    }

    /// Redis's TAT for `key` is at least `tat` (on the local timeline).
    pub(crate) fn saw(&self, key: LocalKey<'_>, tat: Timestamp, now: Timestamp) {
        self.update(key, now, |e| e.known_tat = e.known_tat.max(tat));
    }

    /// Redis granted `cells` more than the request used, to spend until `expires`. A
    /// lease never holds more than the lease's size (the bound on what an instance can
    /// carry from one window into the next).
    pub(crate) fn lease(&self, key: LocalKey<'_>, cells: u32, expires: Timestamp, now: Timestamp) {
        let max = self.lease;
        self.update(key, now, |e| {
            let held = if e.lease_expires > now { e.cells } else { 0 };
            e.cells = held.saturating_add(cells).min(max);
            e.lease_expires = expires;
        });
    }

    /// Applies `f` to `key`'s entry, made when missing; `None` when the table is full
    /// of live entries (it then stops remembering new keys, and stays correct).
    fn update<R>(
        &self,
        key: LocalKey<'_>,
        now: Timestamp,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<R> {
        let (hash, mut shard) = self.shard(key);
        if let Some(entry) = find(&mut shard, hash, key) {
            return Some(f(entry));
        }
        if shard.len() >= self.per_shard {
            shard.retain(|(_, e)| !e.is_idle(now));
            if shard.len() >= self.per_shard {
                return None;
            }
        }
        let mut entry = Entry::default();
        let r = f(&mut entry);
        let owned = key.to_tagged().into_boxed_slice();
        shard.insert_unique(hash, (owned, entry), |(k, _)| {
            self.hasher.hash_one(LocalKey::from_tagged(k).bytes)
        });
        Some(r)
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

    /// A refill's round trip takes at most this.
    const TIMEOUT: Duration = Duration::from_millis(50);

    /// 10 per second, burst 20.
    const WIDE: Cells = Cells {
        interval: Duration::from_millis(100),
        capacity: Duration::from_secs(2),
    };

    fn spend(t: &LocalTable, now: Timestamp) -> u32 {
        match t.decide(LocalKey::raw(b"k"), 1, WIDE, now, true) {
            Local::Spent { refill, .. } => refill,
            other => panic!("not spent from the lease: {other:?}"),
        }
    }

    #[test]
    fn the_call_that_spends_half_a_lease_starts_one_refill_up_to_its_size() {
        let t = LocalTable::new(100, 8, TIMEOUT);
        // Redis's TAT 1 s ahead: 10 cells of the bucket left to give.
        t.saw(LocalKey::raw(b"k"), ms(1_000), ms(0));
        t.lease(LocalKey::raw(b"k"), 8, ms(1_000), ms(0));
        for _ in 0..3 {
            assert_eq!(spend(&t, ms(0)), 0, "more than half left");
        }
        assert_eq!(spend(&t, ms(0)), 4, "4 left: top up by 4 to 8");
        assert_eq!(spend(&t, ms(0)), 0, "one refill in flight at a time");
        assert_eq!(spend(&t, ms(49)), 0, "still in flight until its deadline");
        assert_eq!(
            spend(&t, ms(50)),
            7,
            "its deadline passed: 1 left, 7 to ask"
        );
        // The first refill's late end leaves the second in flight; the second's ends it.
        t.lease_ended(LocalKey::raw(b"k"), ms(0));
        assert_eq!(spend(&t, ms(50)), 0);
        t.lease_ended(LocalKey::raw(b"k"), ms(50));
        t.lease(LocalKey::raw(b"k"), 6, ms(1_000), ms(50));
        assert_eq!(spend(&t, ms(50)), 0);
        assert_eq!(
            spend(&t, ms(50)),
            4,
            "the refill's end lets the next one start"
        );
    }

    #[test]
    fn one_round_trip_at_a_time_tops_a_lease_up_so_no_cell_granted_is_dropped() {
        let t = LocalTable::new(100, 8, TIMEOUT);
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, WIDE, ms(0), true),
            Local::Ask { take: 8 }
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, WIDE, ms(0), true),
            Local::Ask { take: 1 },
            "the first lease is on its way: a concurrent ask takes its own cell only"
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, WIDE, ms(49), true),
            Local::Ask { take: 1 }
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, WIDE, ms(50), true),
            Local::Ask { take: 8 },
            "its deadline passed: it is over, answered or not"
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"j"), 1, WIDE, ms(0), false),
            Local::Ask { take: 1 },
            "a request that may wait takes no lease"
        );
        t.lease(LocalKey::raw(b"k"), 7, ms(1_000), ms(50));
        t.lease_ended(LocalKey::raw(b"k"), ms(50));
        let refills: Vec<u32> = (0..7).map(|_| spend(&t, ms(50))).collect();
        assert_eq!(refills, [0, 0, 4, 0, 0, 0, 0], "half spent: one refill");
        t.lease_ended(LocalKey::raw(b"k"), ms(50)); // it failed: no cells
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 3, WIDE, ms(50), true),
            Local::Ask { take: 8 },
            "empty: 3 for the request, 5 to top the lease up"
        );
        t.lease(LocalKey::raw(b"k"), 5, ms(1_000), ms(50));
        t.lease_ended(LocalKey::raw(b"k"), ms(50));
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 6, WIDE, ms(50), true),
            Local::Ask { take: 6 },
            "5 held, 6 asked: only 3 more fit in the lease, less than the request"
        );
        // Cells that expire now are not held: the top-up asks for the whole lease.
        t.lease(LocalKey::raw(b"e"), 2, ms(100), ms(0));
        assert_eq!(
            t.decide(LocalKey::raw(b"e"), 1, WIDE, ms(100), true),
            Local::Ask { take: 8 }
        );
    }

    #[test]
    fn no_refill_starts_while_redis_has_no_cell_to_give() {
        let t = LocalTable::new(100, 4, TIMEOUT);
        // The TAT is at the full bucket's edge: the next cell is due 100 ms from now.
        t.saw(LocalKey::raw(b"k"), ms(2_000), ms(0));
        t.lease(LocalKey::raw(b"k"), 4, ms(1_000), ms(0));
        assert_eq!(spend(&t, ms(0)), 0);
        assert_eq!(
            spend(&t, ms(99)),
            0,
            "2 left, but no cell fits on Redis yet"
        );
        assert_eq!(spend(&t, ms(100)), 3, "one cell fits: 1 left, top up by 3");
    }

    #[test]
    fn a_known_tat_refuses_exactly_what_redis_would() {
        let t = LocalTable::new(100, 1, TIMEOUT);
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(0), true),
            Local::Ask { take: 1 }
        );
        // TAT 250 ms: at 10 ms, one cell needs TAT + 100 <= now + 200, so 140 ms more.
        t.saw(LocalKey::raw(b"k"), ms(250), ms(0));
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(10), true),
            Local::Limited {
                wait: Duration::from_millis(140)
            }
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 2, CELLS, ms(10), true),
            Local::Limited {
                wait: Duration::from_millis(240)
            },
            "a larger request waits longer"
        );
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(150), true),
            Local::Ask { take: 1 },
            "one fits now"
        );
        t.saw(LocalKey::raw(b"k"), ms(100), ms(150));
        assert_eq!(
            t.decide(LocalKey::raw(b"k"), 2, CELLS, ms(150), true),
            Local::Limited {
                wait: Duration::from_millis(100)
            },
            "the bound only grows"
        );
    }

    #[test]
    fn a_lease_is_spent_then_expires_and_never_exceeds_its_bound() {
        let t = LocalTable::new(100, 4, TIMEOUT);
        // A TAT a full bucket ahead: Redis has no cell to give, so no refill.
        t.saw(LocalKey::raw(b"k"), ms(200), ms(0));
        t.lease(LocalKey::raw(b"k"), 3, ms(100), ms(0));
        for _ in 0..3 {
            assert_eq!(
                t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(0), true),
                Local::Spent {
                    reset: Duration::from_millis(200),
                    refill: 0,
                }
            );
        }
        assert!(matches!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(0), true),
            Local::Limited { .. }
        ));
        t.lease(LocalKey::raw(b"k"), 3, ms(100), ms(0));
        t.lease(LocalKey::raw(b"k"), 3, ms(100), ms(0)); // 6 offered, 4 kept
        for _ in 0..4 {
            assert!(matches!(
                t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(0), true),
                Local::Spent { .. }
            ));
        }
        assert!(!matches!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(0), true),
            Local::Spent { .. }
        ));
        t.lease(LocalKey::raw(b"k"), 2, ms(100), ms(0));
        assert!(
            !matches!(
                t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(100), true),
                Local::Spent { .. }
            ),
            "expired"
        );
        // Cells expiring at the instant a new lease comes are not carried into it.
        t.lease(LocalKey::raw(b"k"), 3, ms(200), ms(100));
        for _ in 0..3 {
            assert!(matches!(
                t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(100), true),
                Local::Spent { .. }
            ));
        }
        assert!(!matches!(
            t.decide(LocalKey::raw(b"k"), 1, CELLS, ms(100), true),
            Local::Spent { .. }
        ));
    }

    #[test]
    fn only_an_idle_entry_makes_room_a_limited_key_or_a_live_lease_stays() {
        let t = LocalTable::new(1, 4, TIMEOUT); // one shard of one key
        t.saw(LocalKey::raw(b"a"), ms(300), ms(0));
        t.saw(LocalKey::raw(b"b"), ms(300), ms(100));
        assert!(
            matches!(
                t.decide(LocalKey::raw(b"a"), 1, CELLS, ms(100), true),
                Local::Limited { .. }
            ),
            "a key still limited is kept"
        );
        assert_eq!(t.len(), 1, "the new key is not remembered");
        // Past its TAT, but with leased cells left: kept until the lease expires.
        t.lease(LocalKey::raw(b"a"), 2, ms(500), ms(100));
        t.saw(LocalKey::raw(b"b"), ms(900), ms(400));
        assert!(matches!(
            t.decide(LocalKey::raw(b"a"), 1, CELLS, ms(400), true),
            Local::Spent { .. }
        ));
        // Expired lease, TAT passed: idle, and it makes room.
        t.saw(LocalKey::raw(b"b"), ms(900), ms(600));
        assert_eq!(
            t.decide(LocalKey::raw(b"a"), 1, CELLS, ms(600), false),
            Local::Ask { take: 1 }
        );
        assert!(matches!(
            t.decide(LocalKey::raw(b"b"), 1, CELLS, ms(600), true),
            Local::Limited { .. }
        ));
        // A spent lease (no cells) is idle once its TAT passes, expired or not.
        t.lease(LocalKey::raw(b"b"), 1, ms(5_000), ms(600));
        assert!(matches!(
            t.decide(LocalKey::raw(b"b"), 1, CELLS, ms(1_000), true),
            Local::Spent { .. }
        ));
        t.saw(LocalKey::raw(b"c"), ms(2_000), ms(1_000));
        assert!(matches!(
            t.decide(LocalKey::raw(b"c"), 1, CELLS, ms(1_000), true),
            Local::Limited { .. }
        ));
    }

    #[test]
    fn a_full_table_forgets_idle_keys_and_refuses_to_grow_past_its_bound() {
        let t = LocalTable::new(16, 1, TIMEOUT); // one key per shard
        for i in 0..1_000u32 {
            t.saw(LocalKey::raw(&i.to_be_bytes()), ms(10), ms(0));
        }
        assert_eq!(t.len(), 16, "every shard filled, none past its bound");
        // Once their TATs pass, the entries are idle and make room.
        for i in 1_000..1_100u32 {
            t.saw(LocalKey::raw(&i.to_be_bytes()), ms(500), ms(20));
        }
        assert!(t.len() <= 16);
        assert!((1_000..1_100u32).any(|i| matches!(
            t.decide(LocalKey::raw(&i.to_be_bytes()), 1, CELLS, ms(25), true),
            Local::Limited { .. }
        )));
    }
}
