//! Exact decisions of the keyed limiter on a manual clock, and its memory bound.

use std::time::Duration;

use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
use tollgate_core::{Clock, ManualClock, Reason, Timestamp};

const MS: Duration = Duration::from_millis(1);

fn keyed(
    count: u32,
    burst: u32,
    max_keys: usize,
    when_full: WhenFull,
) -> (KeyedRateLimiter<u64, ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::builder(Quota::per_second(count).burst(burst).unwrap())
        .max_keys(max_keys)
        .shards(1)
        .when_full(when_full)
        .clock(clock.clone())
        .build()
        .unwrap();
    (limiter, clock)
}

#[test]
fn keys_have_isolated_buckets_with_exact_retry_after() {
    let (limiter, clock) = keyed(10, 2, 100, WhenFull::Reject);
    assert_eq!(limiter.check_key(&1).unwrap().remaining(), 1);
    assert_eq!(limiter.check_key(&1).unwrap().remaining(), 0);
    let refused = limiter.check_key(&1).unwrap_err();
    assert_eq!(refused.reason(), Reason::RateLimited);
    assert_eq!(refused.retry_after(), Some(100 * MS));
    assert_eq!(limiter.check_key(&2).unwrap().remaining(), 1);

    clock.advance(30 * MS);
    assert_eq!(
        limiter.check_key(&1).unwrap_err().retry_after(),
        Some(70 * MS)
    );
    clock.advance(70 * MS);
    assert_eq!(limiter.check_key(&1).unwrap().reset(), 200 * MS);
    assert_eq!(limiter.len(), 2);
}

#[test]
fn weighted_and_over_capacity_per_key() {
    let (limiter, _clock) = keyed(10, 4, 100, WhenFull::Reject);
    assert_eq!(limiter.check_key_n(&1, 3).unwrap().remaining(), 1);
    let refused = limiter.check_key_n(&1, 2).unwrap_err();
    assert_eq!(
        (refused.reason(), refused.retry_after()),
        (Reason::RateLimited, Some(100 * MS))
    );
    let refused = limiter.check_key_n(&1, 5).unwrap_err();
    assert_eq!(
        (refused.reason(), refused.retry_after()),
        (Reason::OverCapacity, None)
    );
    // An unknown key over capacity is refused without being tracked.
    assert_eq!(
        limiter.check_key_n(&9, 5).unwrap_err().reason(),
        Reason::OverCapacity
    );
    // Zero cells: admitted, and an unknown key is not tracked for it.
    assert_eq!(limiter.check_key_n(&8, 0).unwrap().remaining(), 4);
    assert_eq!(limiter.len(), 1);
}

#[test]
fn same_instant_and_backwards_clock() {
    let (limiter, clock) = keyed(1, 1, 10, WhenFull::Reject);
    clock.set(Timestamp::from_nanos(5_000_000_000));
    let now = clock.now();
    limiter.check_key_at(&1, 1, now).unwrap();
    assert_eq!(
        limiter.check_key_at(&1, 1, now).unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
    clock.set(Timestamp::ZERO);
    assert_eq!(
        limiter.check_key(&1).unwrap_err().retry_after(),
        Some(Duration::from_secs(6))
    );
    assert_eq!(limiter.sweep(), 0);
}

#[test]
fn sweep_evicts_only_keys_equivalent_to_fresh() {
    let (limiter, clock) = keyed(10, 2, 100, WhenFull::Reject);
    limiter.check_key(&1).unwrap(); // full again at 100 ms
    limiter.check_key_n(&2, 2).unwrap(); // full again at 200 ms
    clock.advance(100 * MS);
    assert_eq!(limiter.sweep(), 1);
    assert_eq!(limiter.len(), 1);
    // Key 2 kept its state: one cell back, not two.
    assert_eq!(limiter.check_key(&2).unwrap().remaining(), 0);
    // Key 1 behaves exactly as before it was forgotten.
    assert_eq!(limiter.check_key_n(&1, 2).unwrap().remaining(), 0);
}

#[test]
fn full_table_evicts_expired_keys_on_insert() {
    let (limiter, clock) = keyed(10, 1, 2, WhenFull::Reject);
    limiter.check_key(&1).unwrap();
    limiter.check_key(&2).unwrap();
    clock.advance(100 * MS);
    // Both are evictable: the insert of 3 makes room without a sweep.
    limiter.check_key(&3).unwrap();
    assert_eq!(limiter.len(), 1);
}

#[test]
fn full_table_of_active_keys_rejects_with_the_earliest_eviction() {
    let (limiter, clock) = keyed(10, 1, 2, WhenFull::Reject);
    limiter.check_key(&1).unwrap(); // active until 100 ms
    clock.advance(30 * MS);
    limiter.check_key(&2).unwrap(); // active until 130 ms
    let refused = limiter.check_key(&3).unwrap_err();
    assert_eq!(refused.reason(), Reason::KeyTableFull);
    assert_eq!(refused.retry_after(), Some(70 * MS));
    // Tracked keys are unaffected.
    assert_eq!(
        limiter.check_key(&1).unwrap_err().reason(),
        Reason::RateLimited
    );
    clock.advance(70 * MS);
    limiter.check_key(&3).unwrap();
    assert_eq!(limiter.len(), 2);
    let snapshot = limiter.snapshot();
    assert_eq!(
        (snapshot.keys, snapshot.admitted, snapshot.rejected),
        (2, 3, 2)
    );
}

#[test]
fn overflow_bucket_is_shared_and_never_over_admits() {
    let (limiter, clock) = keyed(10, 2, 1, WhenFull::SharedOverflowBucket);
    // Key 1 takes the table's only slot, and stays active for 200 ms.
    limiter.check_key_n(&1, 2).unwrap();
    // Keys 2 and 3 find no room: they share one overflow bucket of burst 2.
    limiter.check_key(&2).unwrap();
    limiter.check_key(&3).unwrap();
    let refused = limiter.check_key(&2).unwrap_err();
    assert_eq!(refused.reason(), Reason::RateLimited);
    assert_eq!(refused.retry_after(), Some(100 * MS));
    assert_eq!(limiter.len(), 1);

    // At 100 ms one overflow cell is back, for whichever overflow key comes first.
    clock.advance(100 * MS);
    assert_eq!(limiter.check_key(&2).unwrap().remaining(), 0);
    assert!(limiter.check_key(&3).is_err());

    // At 200 ms key 1 is evicted to make room for key 4, whose own bucket starts from
    // the overflow bucket's state (TAT 300 ms: one cell of two left), because a new
    // key may just have been served by it. So no key ever gets two bursts.
    clock.advance(100 * MS);
    assert_eq!(limiter.check_key(&4).unwrap().remaining(), 0);
    assert_eq!(limiter.len(), 1);
    assert_eq!(
        limiter.check_key(&4).unwrap_err().reason(),
        Reason::RateLimited
    );
}

#[test]
fn quota_for_gives_keys_their_own_quota() {
    let clock = ManualClock::new();
    let paid = Quota::per_second(100).build().unwrap();
    let limiter = KeyedRateLimiter::builder(Quota::per_second(1).build().unwrap())
        .quota_for(move |key: &String| key.starts_with("paid-").then_some(paid))
        .clock(clock)
        .build()
        .unwrap();
    let paid_key = "paid-1".to_string();
    for _ in 0..100 {
        limiter.check_key(&paid_key).unwrap();
    }
    let refused = limiter.check_key(&paid_key).unwrap_err();
    assert_eq!(refused.retry_after(), Some(10 * MS));
    assert_eq!(refused.policy().unwrap().limit(), 100);
    let free = "free-1".to_string();
    limiter.check_key(&free).unwrap();
    assert_eq!(
        limiter.check_key(&free).unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn a_flood_of_a_million_keys_stays_within_the_bound() {
    let max_keys = 1_000;
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::builder(Quota::per_second(1).build().unwrap())
        .max_keys(max_keys)
        .shards(8)
        .when_full(WhenFull::Reject)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut admitted = 0u32;
    for key in 0..1_000_000u64 {
        if key % 100_000 == 0 {
            clock.advance(Duration::from_secs(1)); // the old keys become evictable
        }
        admitted += limiter.check_key(&key).is_ok() as u32;
        if key % 10_000 == 0 {
            assert!(limiter.len() <= max_keys, "{} keys", limiter.len());
        }
    }
    assert!(limiter.len() <= max_keys);
    // Every second, one full table of new keys got in: all of it, and no more.
    assert_eq!(admitted as usize, 10 * max_keys);
    assert_eq!(
        limiter.snapshot().rejected,
        1_000_000 - 10 * max_keys as u64
    );
}

#[test]
fn bound_is_split_across_shards() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::builder(Quota::per_hour(1).build().unwrap())
        .max_keys(10)
        .shards(64) // reduced to 8 (a power of two, at most max_keys)
        .clock(clock)
        .build()
        .unwrap();
    for key in 0..10_000u64 {
        let _ = limiter.check_key(&key);
    }
    // 10 keys over 8 shards: two of 2, six of 1, and a flood fills every one.
    assert_eq!(limiter.len(), 10);
    assert!(!limiter.is_empty());
    assert!(format!("{limiter:?}").contains("shards: 8"));
}

#[test]
fn a_builder_shows_its_settings_and_a_limiter_its_name() {
    let quota = Quota::per_second(1).build().unwrap();
    let builder = KeyedRateLimiter::<u8>::builder(quota)
        .max_keys(77)
        .name("per-ip");
    let shown = format!("{builder:?}");
    assert!(
        shown.starts_with("KeyedBuilder") && shown.contains("max_keys: 77"),
        "{shown}"
    );
    assert_eq!(builder.build().unwrap().name(), Some("per-ip"));
}

#[test]
fn builder_rejects_zero_values() {
    let quota = Quota::per_second(1).build().unwrap();
    let err = KeyedRateLimiter::<u8>::builder(quota)
        .shards(0)
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.rule()), ("shards", "must be at least 1"));
    let err = KeyedRateLimiter::<u8>::builder(quota)
        .max_keys(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_keys");
    let limiter = KeyedRateLimiter::<u8>::builder(quota).build().unwrap();
    assert_eq!(limiter.max_keys(), 100_000);
    assert!(limiter.is_empty());
    assert_eq!(limiter.name(), None);
}

#[test]
fn a_named_keyed_limiter_names_its_rejections() {
    let quota = Quota::per_second(1).build().unwrap();
    let limiter = KeyedRateLimiter::builder(quota)
        .name("per-ip")
        .clock(ManualClock::new())
        .build()
        .unwrap();
    limiter.check_key(&1).unwrap();
    let refused = limiter.check_key(&1).unwrap_err();
    assert_eq!(refused.name(), Some("per-ip"));
    assert_eq!(refused.reason(), Reason::RateLimited);
    let err = KeyedRateLimiter::<u8>::builder(quota)
        .name("")
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.rule()), ("name", "must not be empty"));
}

// ===== wait mode =====

#[test]
fn keyed_reservation_waits_and_gives_back() {
    let (limiter, clock) = keyed(10, 1, 10, WhenFull::Reject);
    let now = clock.now();
    limiter.check_key_at(&1, 1, now).unwrap();
    let a = limiter.reserve_key_at(&1, 1, now, 150 * MS).unwrap();
    assert_eq!(a.wait(), 100 * MS);
    let refused = limiter.reserve_key_at(&1, 1, now, 150 * MS).unwrap_err();
    assert_eq!(
        (refused.reason(), refused.retry_after()),
        (Reason::WaitTooLong, Some(50 * MS))
    );
    drop(a); // cancelled, and the last: the slot comes back
    let b = limiter.reserve_key_at(&1, 1, now, 150 * MS).unwrap();
    assert_eq!(b.wait(), 100 * MS);
    b.commit();
    assert!(limiter.reserve_key_at(&1, 1, now, 150 * MS).is_err());
    // A new key reserves at once.
    let c = limiter.reserve_key_at(&2, 1, now, Duration::ZERO).unwrap();
    assert_eq!(c.wait(), Duration::ZERO);
    drop(c); // gives back: key 2 is as fresh as before
    assert_eq!(limiter.check_key_at(&2, 1, now).unwrap().remaining(), 0);
}

#[test]
fn reservation_of_an_evicted_key_gives_nothing_back() {
    let (limiter, clock) = keyed(10, 1, 10, WhenFull::Reject);
    let now = clock.now();
    let a = limiter.reserve_key_at(&1, 1, now, Duration::ZERO).unwrap();
    clock.advance(100 * MS);
    assert_eq!(limiter.sweep(), 1);
    limiter.check_key(&1).unwrap(); // a new bucket for key 1
    drop(a); // must not touch the new bucket
    assert_eq!(
        limiter.check_key(&1).unwrap_err().retry_after(),
        Some(100 * MS)
    );
}

#[test]
fn overflow_reservation_gives_back_to_the_overflow_bucket() {
    let (limiter, clock) = keyed(10, 1, 1, WhenFull::SharedOverflowBucket);
    let now = clock.now();
    limiter.check_key_at(&1, 1, now).unwrap();
    let a = limiter.reserve_key_at(&2, 1, now, Duration::ZERO).unwrap();
    assert!(limiter.check_key_at(&3, 1, now).is_err());
    drop(a);
    assert!(limiter.check_key_at(&3, 1, now).is_ok());
    let zero = limiter.reserve_key_at(&4, 0, now, Duration::ZERO).unwrap();
    assert_eq!(zero.wait(), Duration::ZERO);
    drop(zero);
}

// Regression (issue 17): without the epoch check in `KeySlot::give_back`, a stale
// reservation gave its cells back to a newer bucket of the same key.
#[test]
fn stale_reservation_never_gives_back_to_a_reinserted_key() {
    let (limiter, clock) = keyed(10, 1, 10, WhenFull::Reject);
    let start = clock.now();
    let stale = limiter
        .reserve_key_at(&1, 1, start, Duration::ZERO)
        .unwrap();
    clock.advance(100 * MS);
    assert_eq!(limiter.sweep(), 1);
    // A caller that read the clock before the sweep inserts key 1 again: its new bucket
    // holds exactly the TAT the stale reservation would move back.
    limiter.check_key_at(&1, 1, start).unwrap();
    drop(stale);
    let refused = limiter.check_key_at(&1, 1, start).unwrap_err();
    assert_eq!(refused.retry_after(), Some(100 * MS));
}
