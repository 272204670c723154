//! The keyed limiter's bound, whatever the table size, the policy for keys that do not
//! fit, and how requests of tracked and untracked keys interleave: no key is admitted
//! more than `burst + floor(T / interval)` cells in any window of length `T`, the
//! bound of a bucket of its own (see `tests/proptest.rs`).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
use tollgate_core::{ManualClock, Timestamp};

/// A quota of one cell per `interval` ns, bursts of `burst`.
fn quota(interval: u64, burst: u32) -> Quota {
    Quota::with_period(1, Duration::from_nanos(interval))
        .burst(burst)
        .unwrap()
}

/// What a request does: check `n` cells of `key` after `gap` ns, or sweep.
#[derive(Debug, Clone)]
enum Step {
    Check { gap: u64, key: u8, n: u32 },
    Sweep,
}

fn policy() -> impl Strategy<Value = WhenFull> {
    prop_oneof![
        Just(WhenFull::Reject),
        Just(WhenFull::SharedOverflowBucket),
        (1u32..5, 1usize..64).prop_map(|(rows, cells)| WhenFull::Sketch {
            bytes: cells * 8 * rows as usize,
            rows,
        }),
    ]
}

/// Two quotas (keys with an odd number get the second), a table of 1 to 8 keys in 1
/// to 4 shards for up to 24 keys, a policy, and a run of steps.
#[allow(clippy::type_complexity)]
fn scenario() -> impl Strategy<Value = ((u64, u32), (u64, u32), usize, usize, WhenFull, Vec<Step>)>
{
    let q = (1u64..1_000_000, 1u32..6);
    (q.clone(), q, 1usize..9, 1usize..5, policy(), 1u8..25).prop_flat_map(
        |(a, b, max_keys, shards, policy, keys)| {
            // Mostly short gaps: a key must still be spent when it moves between the
            // table and the policy for the move to matter.
            let shortest = a.0.min(b.0);
            let longest = a.0.max(b.0) * 8;
            let gap = prop_oneof![
                3 => Just(0u64),
                6 => 0..shortest,
                1 => 0..longest,
            ];
            let step = prop_oneof![
                20 => (gap, 0..keys, 1u32..4)
                    .prop_map(|(gap, key, n)| Step::Check { gap, key, n }),
                1 => Just(Step::Sweep),
            ];
            let run = prop::collection::vec(step, 1..200);
            (
                Just(a),
                Just(b),
                Just(max_keys),
                Just(shards),
                Just(policy),
                run,
            )
        },
    )
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Kept in the repository: every case that ever failed is replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/keyed_proptest.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_key_gets_more_than_burst_plus_elapsed_intervals_under_any_policy(
        (a, b, max_keys, shards, policy, run) in scenario()
    ) {
        let clock = ManualClock::new();
        // The shared overflow bucket holds every key to the default quota, whatever
        // `quota_for` says (see `WhenFull`): then both quotas are the default.
        let b = if policy == WhenFull::SharedOverflowBucket { a } else { b };
        let odd = quota(b.0, b.1);
        let limiter = KeyedRateLimiter::builder(quota(a.0, a.1))
            .max_keys(max_keys)
            .shards(shards)
            .when_full(policy)
            .quota_for(move |key: &u8| (key % 2 == 1).then_some(odd))
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut admitted: Vec<Vec<(u64, u64)>> = vec![Vec::new(); 25];
        let mut now = 0u64;
        for step in run {
            match step {
                Step::Sweep => {
                    limiter.sweep();
                }
                Step::Check { gap, key, n } => {
                    now += gap;
                    clock.set(Timestamp::from_nanos(now));
                    if limiter.check_key_at(&key, n, Timestamp::from_nanos(now)).is_ok() {
                        admitted[usize::from(key)].push((now, u64::from(n)));
                    }
                }
            }
            prop_assert!(limiter.len() <= max_keys);
        }
        for (key, times) in admitted.iter().enumerate() {
            let (interval, burst) = if key % 2 == 1 { b } else { a };
            for (i, &(start, _)) in times.iter().enumerate() {
                let mut cells = 0;
                for &(end, n) in &times[i..] {
                    cells += n;
                    let bound = u64::from(burst) + (end - start) / interval;
                    prop_assert!(
                        cells <= bound,
                        "key {key}: {cells} cells in [{start}, {end}] ns, bound {bound}"
                    );
                }
            }
        }
    }
}
