//! One shard of the key table: a hash table of buckets under a reader-writer lock.
//!
//! # The eviction protocol
//!
//! Every TAT in a shard is changed only while holding the shard's lock: checks
//! compare-exchange it under the READ lock (many at once), eviction removes entries
//! under the WRITE lock. So no caller is ever between "found the bucket" and "updated
//! it" while an eviction runs, and an admission can never land in a bucket that was just
//! removed (the race DESIGN.md describes, which `tests/loom.rs` shows on a naive table
//! that drops its lock before the update). A bucket whose TAT is `<= now` is equivalent
//! to a fresh one, so removing it never changes a decision.
//!
//! `next_evictable` is a lower bound of every TAT in the shard: a full shard skips the
//! eviction scan until `now` reaches it, so a table full of active keys costs O(1) per
//! refused key, not a scan.

use hashbrown::HashTable;

use tollgate_core::sync::{AtomicU64, Ordering, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tollgate_core::Quota;

/// A tracked key and its bucket: small, so that a million of them stay cache friendly.
pub(crate) struct Entry<K> {
    pub(crate) key: K,
    pub(crate) tat: AtomicU64,
    /// The insertion epoch (high 48 bits), so that a reservation never gives cells back
    /// to a newer bucket of the same key; and the index of the key's quota in
    /// [`Table::quotas`] (low 16 bits).
    meta: u64,
}

impl<K> Entry<K> {
    /// Which insertion made this entry.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.meta >> 16
    }

    #[inline]
    fn quota_index(&self) -> usize {
        (self.meta & 0xffff) as usize
    }
}

/// The most distinct quotas one shard keeps; past it, new keys get the default quota.
pub(crate) const MAX_QUOTAS: usize = 1 << 16;

pub(crate) struct Table<K> {
    pub(crate) entries: HashTable<Entry<K>>,
    /// The distinct quotas of this shard's keys, the default first; entries index it.
    quotas: Vec<Quota>,
    /// Incremented on every insertion.
    epoch: u64,
    /// No entry's TAT is below this (see the module docs).
    next_evictable: AtomicU64,
}

/// A shard, on its own cache lines: its lock word and counters are written by every
/// check that lands here, so neighbouring shards must not share them.
#[repr(align(128))]
pub(crate) struct Shard<K> {
    table: RwLock<Table<K>>,
    /// The most keys this shard may hold.
    pub(crate) cap: usize,
    pub(crate) rejected: AtomicU64,
}

impl<K> Shard<K> {
    pub(crate) fn new(cap: usize, default: Quota) -> Self {
        Self {
            table: RwLock::new(Table {
                entries: HashTable::new(),
                quotas: vec![default],
                epoch: 0,
                next_evictable: AtomicU64::new(0),
            }),
            cap,
            rejected: AtomicU64::new(0),
        }
    }

    /// The most heap bytes this shard's table can take, holding at most `cap` keys of
    /// type `K` and `quotas` distinct quotas: hashbrown keeps at least 1/8 of its
    /// buckets free and may double once more when deleted slots fill it up, so at most
    /// twice the smallest power of two above `cap x 8/7`, each bucket an entry and a
    /// control byte, plus a group of control bytes and alignment.
    pub(crate) fn max_bytes(cap: usize, quotas: usize) -> usize {
        let buckets = if cap < 4 {
            4
        } else if cap < 8 {
            8
        } else {
            (cap.saturating_mul(8) / 7).next_power_of_two()
        };
        let table = 2 * buckets * (std::mem::size_of::<Entry<K>>() + 1) + 64;
        // The quota list doubles as it grows.
        table + 2 * quotas * std::mem::size_of::<Quota>()
    }

    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Table<K>> {
        // A panic in user code (Hash, Eq, quota_for) never leaves a table half-updated:
        // hashbrown's operations are panic-safe, so a poisoned lock is still usable.
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Table<K>> {
        // See `read`.
        self.table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[inline]
    pub(crate) fn count_rejected(&self) {
        // Relaxed: a lone counter.
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
}

impl<K> Table<K> {
    /// The quota of `entry`.
    #[inline]
    pub(crate) fn quota(&self, entry: &Entry<K>) -> Quota {
        self.quotas[entry.quota_index()]
    }

    /// The quota a new key will get: `wanted`, unless this shard already keeps
    /// [`MAX_QUOTAS`] others (then the default).
    pub(crate) fn intern(&mut self, wanted: Quota) -> (usize, Quota) {
        if let Some(i) = self.quotas.iter().position(|q| *q == wanted) {
            return (i, wanted);
        }
        if self.quotas.len() < MAX_QUOTAS {
            self.quotas.push(wanted);
            return (self.quotas.len() - 1, wanted);
        }
        (0, self.quotas[0])
    }

    /// Inserts a new entry (the caller checked the key is absent and there is room);
    /// returns its epoch.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        tat: u64,
        quota_index: usize,
        rehash: impl Fn(&K) -> u64,
    ) -> u64 {
        self.epoch += 1;
        let epoch = self.epoch;
        self.lower_next_evictable(tat);
        self.entries.insert_unique(
            hash,
            Entry {
                key,
                tat: AtomicU64::new(tat),
                meta: (epoch << 16) | quota_index as u64,
            },
            |entry| rehash(&entry.key),
        );
        epoch
    }

    /// Removes every entry whose TAT is `<= now`, unless `now` is below the recorded
    /// lower bound (then none can be). Returns how many it removed.
    pub(crate) fn evict(&mut self, now: u64) -> usize {
        // Relaxed: the write lock orders this with every other access of the bound.
        if now < self.next_evictable.load(Ordering::Relaxed) {
            return 0;
        }
        let before = self.entries.len();
        let mut lowest = u64::MAX;
        self.entries.retain(|entry| {
            // Relaxed: under the write lock no one else touches this TAT.
            let tat = entry.tat.load(Ordering::Relaxed);
            if tat <= now {
                false
            } else {
                lowest = lowest.min(tat);
                true
            }
        });
        // Relaxed: under the write lock.
        self.next_evictable.store(lowest, Ordering::Relaxed);
        before - self.entries.len()
    }

    /// Whether the shard is full (at `cap` keys) and no key can be evicted at `now`.
    #[inline]
    pub(crate) fn no_room(&self, cap: usize, now: u64) -> bool {
        self.entries.len() >= cap && now < self.next_evictable()
    }

    /// The earliest time an entry may become evictable.
    #[inline]
    pub(crate) fn next_evictable(&self) -> u64 {
        // Relaxed: a hint for a retry-after; the lock orders it well enough.
        self.next_evictable.load(Ordering::Relaxed)
    }

    /// Keeps `next_evictable` a lower bound after a TAT went down to `tat`.
    pub(crate) fn lower_next_evictable(&self, tat: u64) {
        // Relaxed: it is only a bound, read under the write lock, which orders it with
        // this update made under the read lock.
        self.next_evictable.fetch_min(tat, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound's formula, term by term: hashbrown's buckets for `cap` keys (at least
    /// 4, else the power of two above `cap x 8/7`), doubled, each an entry and a control
    /// byte, one group of control bytes and alignment, and the quota list doubled.
    #[test]
    fn max_bytes_counts_every_term_of_the_table() {
        let entry = std::mem::size_of::<Entry<u64>>() + 1;
        let quota = std::mem::size_of::<Quota>();
        let table = |buckets: usize| 2 * buckets * entry + 64;
        assert_eq!(Shard::<u64>::max_bytes(0, 1), table(4) + 2 * quota);
        assert_eq!(Shard::<u64>::max_bytes(3, 1), table(4) + 2 * quota);
        assert_eq!(Shard::<u64>::max_bytes(4, 1), table(8) + 2 * quota);
        assert_eq!(Shard::<u64>::max_bytes(7, 1), table(8) + 2 * quota);
        assert_eq!(Shard::<u64>::max_bytes(8, 1), table(16) + 2 * quota);
        // 100 keys: 114 buckets at 7/8 load, rounded up to 128.
        assert_eq!(Shard::<u64>::max_bytes(100, 3), table(128) + 6 * quota);
        assert_eq!(Shard::<u64>::max_bytes(112, 1), table(128) + 2 * quota);
        assert_eq!(Shard::<u64>::max_bytes(113, 1), table(256) + 2 * quota);
    }

    /// The 16 bits of an entry's quota index hold `MAX_QUOTAS` quotas: a shard that
    /// keeps that many gives the next new quota's key the default.
    #[test]
    fn a_shard_keeps_at_most_max_quotas_and_then_gives_the_default() {
        let quota = |count: u32| Quota::per_second(count).build().unwrap();
        let mut table = Table::<u64> {
            entries: HashTable::new(),
            quotas: (1..MAX_QUOTAS as u32).map(quota).collect(),
            epoch: 0,
            next_evictable: AtomicU64::new(0),
        };
        let last = quota(1_000_000);
        assert_eq!(
            table.intern(last),
            (MAX_QUOTAS - 1, last),
            "the last that fits"
        );
        assert_eq!(table.intern(last), (MAX_QUOTAS - 1, last), "found again");
        assert_eq!(
            table.intern(quota(2_000_000)),
            (0, quota(1)),
            "full: the default"
        );
        assert_eq!(table.quotas.len(), MAX_QUOTAS);
    }
}
