//! The sketch policy (`WhenFull::Sketch`) from a user's side: its false-refusal rate
//! against the formula in `WhenFull`'s docs, its handover to the table, its sizing.

use std::time::Duration;

use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
use tollgate_core::{ConfigError, ManualClock, Reason};

/// A limiter whose one-key table is full of key `u64::MAX`, so every other key is
/// decided by a sketch of `rows` rows of `width` cells. Keys below `heavy` get one cell
/// an hour (after one admission their cells sit an hour ahead: heavy); the others get
/// a burst of 1,000 one second apart, so that no pile of probes ever refuses a probe
/// and only heavy keys can.
fn sketched(rows: u32, width: usize, heavy: u64) -> KeyedRateLimiter<u64, ManualClock> {
    let per_hour = Quota::per_hour(1).build().unwrap();
    let limiter = KeyedRateLimiter::builder(Quota::per_second(1).burst(1_000).unwrap())
        .max_keys(1)
        .shards(1)
        .when_full(WhenFull::Sketch {
            bytes: width * 8 * rows as usize,
            rows,
        })
        .quota_for(move |key: &u64| (*key < heavy).then_some(per_hour))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    limiter.check_key(&u64::MAX).unwrap();
    limiter
}

/// The fraction of `probes` light keys refused beside `heavy` heavy keys.
fn false_refusals(rows: u32, width: usize, heavy: u64, probes: u64) -> f64 {
    let limiter = sketched(rows, width, heavy);
    for key in 0..heavy {
        // A heavy key refused because its cells are all heavy already changes nothing.
        let _ = limiter.check_key(&key);
    }
    let refused = (heavy..heavy + probes)
        .filter(|key| limiter.check_key(key).is_err())
        .count();
    refused as f64 / probes as f64
}

/// `(1 - (1 - 1/w)^H)^d`, from `WhenFull`'s docs.
fn predicted(rows: u32, width: usize, heavy: u64) -> f64 {
    let free = (1.0 - 1.0 / width as f64).powf(heavy as f64);
    (1.0 - free).powi(rows as i32)
}

#[test]
fn false_refusal_rate_matches_the_documented_formula() {
    // Each case: the measured rate within 20% of the prediction (about 4 standard
    // deviations: the heavy keys' placement and the probes' are both random).
    for (rows, width, heavy) in [(4, 4096, 2048), (4, 4096, 4096), (2, 4096, 2048)] {
        let measured = false_refusals(rows, width, heavy, 40_000);
        let want = predicted(rows, width, heavy);
        assert!(
            (measured - want).abs() <= 0.2 * want,
            "d={rows} w={width} H={heavy}: measured {measured:.4}, predicted {want:.4}"
        );
    }
    // The docs' figures for d = 4.
    for (ratio, want) in [(0.25, 0.0024), (0.5, 0.024), (1.0, 0.16)] {
        let p = predicted(4, 1 << 20, (ratio * f64::from(1 << 20)) as u64);
        assert!((p - want).abs() < 0.1 * want, "H = {ratio} w: {p}");
    }
}

#[test]
fn light_keys_sharing_cells_never_refuse_each_other() {
    // A cell keeps the largest TAT of its keys, not their sum: one row of one cell,
    // a hundred keys at their burst of 1,000 one second apart, all admitted.
    let limiter = sketched(1, 1, 0);
    for key in 0..100 {
        assert!(limiter.check_key(&key).is_ok(), "key {key}");
    }
}

#[test]
fn a_key_moving_from_the_sketch_to_the_table_keeps_its_spent_cells() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::builder(Quota::per_second(1).burst(2).unwrap())
        .max_keys(1)
        .shards(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    limiter.check_key(&"resident").unwrap(); // the table is full until 1 s
    limiter.check_key(&"newcomer").unwrap(); // decided by the default sketch
    limiter.check_key(&"newcomer").unwrap();
    let refused = limiter.check_key(&"newcomer").unwrap_err();
    assert_eq!(
        (refused.reason(), refused.retry_after()),
        (Reason::RateLimited, Some(Duration::from_secs(1)))
    );
    clock.advance(Duration::from_secs(1));
    // "resident" is evictable now: "newcomer" takes its place, as spent as it was
    // (two cells at 0 s, one replenished since), exactly like a bucket of its own.
    assert_eq!(limiter.check_key(&"newcomer").unwrap().remaining(), 0);
    assert_eq!(limiter.len(), 1);
    assert_eq!(
        limiter.check_key(&"newcomer").unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn the_sketch_is_the_default_and_sized_from_max_keys() {
    let quota = Quota::per_second(1).build().unwrap();
    let limiter = KeyedRateLimiter::<u64>::builder(quota)
        .max_keys(1_000)
        .build()
        .unwrap();
    // 4 rows of 4 x 1,024 cells of 8 bytes.
    assert!(format!("{limiter:?}").contains("spill_bytes: 131072"));
    let rejecting = KeyedRateLimiter::<u64>::builder(quota)
        .max_keys(1_000)
        .when_full(WhenFull::Reject)
        .build()
        .unwrap();
    assert_eq!(limiter.max_bytes() - rejecting.max_bytes(), 131_072);
    // 100 bytes in 3 rows: 4 cells a row (a power of two, not above 100 / 8 / 3).
    let odd = KeyedRateLimiter::<u64>::builder(quota)
        .when_full(WhenFull::Sketch {
            bytes: 100,
            rows: 3,
        })
        .build()
        .unwrap();
    assert!(format!("{odd:?}").contains("spill_bytes: 96"), "{odd:?}");
}

#[test]
fn bad_sketch_sizes_are_config_errors_naming_the_field() {
    let quota = Quota::per_second(1).build().unwrap();
    let build = |policy| {
        KeyedRateLimiter::<u64>::builder(quota)
            .when_full(policy)
            .build()
            .unwrap_err()
    };
    let err: ConfigError = build(WhenFull::Sketch {
        bytes: 1024,
        rows: 0,
    });
    assert_eq!(
        (err.field(), err.rule()),
        ("when_full.rows", "must be between 1 and 16, got 0")
    );
    assert_eq!(
        build(WhenFull::Sketch {
            bytes: 1024,
            rows: 17
        })
        .field(),
        "when_full.rows"
    );
    let err = build(WhenFull::sketch(31));
    assert_eq!(
        (err.field(), err.rule()),
        (
            "when_full.bytes",
            "must be at least 8 per row (32 for 4 rows), got 31"
        )
    );
}
