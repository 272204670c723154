//! A flood of fresh keys against a keyed limiter, per `WhenFull` policy, with governor's
//! keyed limiter beside them: 1,000,000 distinct attacker keys (10x the table's
//! 100,000) each send a few requests, while 100 legitimate keys send at their quota.
//! Measures, on a manual clock, the share of the legitimate keys' requests admitted and
//! the heap the limiter holds (through a counting global allocator; this binary holds
//! one test so that nothing else allocates meanwhile).
//!
//! `cargo test --test key_flood -- --nocapture` prints the figures.

use std::alloc::System;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::RateLimiter as Governor;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
use tollgate_core::{ManualClock, Timestamp};

#[global_allocator]
static HEAP: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes held now.
fn held() -> usize {
    let stats = HEAP.stats();
    stats.bytes_allocated - stats.bytes_deallocated
}

const TABLE: usize = 100_000;
const ATTACKERS: u64 = 1_000_000;
const LEGIT: u64 = 100;
/// Requests per attacker key: a few, enough to spend its burst of 3.
const PER_ATTACKER: u32 = 3;
/// 5 s of traffic in 10 ms steps: 2,000 fresh attacker keys a step, 200,000 a
/// second. Each stays active 3 s, so 600,000 want a slot of the 100,000 at any time:
/// every slot that frees up is taken by an attacker before a legitimate key asks.
/// About 200,000 attacker keys are heavy (spent in the last second) at any time.
const STEPS: u64 = 500;
const STEP: Duration = Duration::from_millis(10);

/// What one run measured.
struct Figures {
    legit_admitted: u64,
    legit_sent: u64,
    peak_bytes: usize,
}

/// Drives the flood through `check` (key, instant: admitted?) and reports; `check`
/// is called at `steps` instants, legitimate key `i` once a second at phase `i`.
fn flood(mut check: impl FnMut(u64, Duration) -> bool) -> Figures {
    let base = held();
    let mut figures = Figures {
        legit_admitted: 0,
        legit_sent: 0,
        peak_bytes: 0,
    };
    let per_step = ATTACKERS / STEPS;
    for step in 0..STEPS {
        let now = STEP * step as u32;
        for i in 0..per_step {
            let attacker = LEGIT + step * per_step + i;
            for _ in 0..PER_ATTACKER {
                check(attacker, now);
            }
        }
        // One legitimate request a second per key, spread over the second.
        for key in (0..LEGIT).filter(|key| step % 100 == key % 100) {
            figures.legit_sent += 1;
            figures.legit_admitted += u64::from(check(key, now));
        }
        if step % 10 == 0 {
            figures.peak_bytes = figures.peak_bytes.max(held().saturating_sub(base));
        }
    }
    figures.peak_bytes = figures.peak_bytes.max(held().saturating_sub(base));
    figures
}

fn quota() -> Quota {
    Quota::per_second(1).burst(3).unwrap()
}

/// The run for `policy` (the default when `None`), and the limiter's bound.
fn tollgate(policy: Option<WhenFull>) -> (Figures, usize) {
    let clock = ManualClock::new();
    let start = held();
    let builder = KeyedRateLimiter::builder(quota())
        .max_keys(TABLE)
        .clock(clock.clone());
    let builder = match policy {
        Some(policy) => builder.when_full(policy),
        None => builder,
    };
    let limiter = builder.build().unwrap();
    let built = held() - start;
    let mut figures = flood(|key, now| {
        let now = Timestamp::ZERO + now;
        clock.set(now);
        limiter.check_key_at(&key, 1, now).is_ok()
    });
    figures.peak_bytes += built;
    let bound = limiter.max_bytes();
    (figures, bound)
}

fn governor() -> Figures {
    let clock = FakeRelativeClock::default();
    let start = held();
    let quota = governor::Quota::per_second(NonZeroU32::new(1).unwrap())
        .allow_burst(NonZeroU32::new(3).unwrap());
    let limiter: Governor<
        u64,
        DefaultKeyedStateStore<u64>,
        FakeRelativeClock,
        NoOpMiddleware<governor::nanos::Nanos>,
    > = Governor::new(quota, DefaultKeyedStateStore::default(), clock.clone());
    let built = held() - start;
    let mut elapsed = Duration::ZERO;
    let mut figures = flood(|key, now| {
        clock.advance(now - elapsed);
        elapsed = now;
        limiter.check_key(&key).is_ok()
    });
    figures.peak_bytes += built;
    figures
}

fn share(f: &Figures) -> f64 {
    100.0 * f.legit_admitted as f64 / f.legit_sent as f64
}

#[test]
fn a_million_key_flood_neither_exhausts_memory_nor_locks_legitimate_keys_out() {
    let runs = [
        ("Sketch, default (4 x 524,288 cells, 16 MiB)", None),
        (
            "Sketch, 4 MiB (4 x 131,072 cells)",
            Some(WhenFull::sketch(4 << 20)),
        ),
        ("Reject", Some(WhenFull::Reject)),
        ("SharedOverflowBucket", Some(WhenFull::SharedOverflowBucket)),
    ];
    println!(
        "{ATTACKERS} attacker keys x {PER_ATTACKER} requests over {} s, table of {TABLE} keys, \
         {LEGIT} legitimate keys at their quota (1/s, burst 3)",
        STEPS * STEP.as_millis() as u64 / 1000
    );
    println!("| policy | legitimate admitted | peak heap | bound (max_bytes) |");
    println!("|---|---|---|---|");
    let mut sketch_share = 0.0;
    for (name, policy) in runs {
        let (figures, bound) = tollgate(policy);
        println!(
            "| {name} | {:.1}% ({}/{}) | {:.1} MiB | {:.1} MiB |",
            share(&figures),
            figures.legit_admitted,
            figures.legit_sent,
            figures.peak_bytes as f64 / (1 << 20) as f64,
            bound as f64 / (1 << 20) as f64,
        );
        assert!(
            figures.peak_bytes <= bound,
            "{name}: {} bytes held, bound {bound}",
            figures.peak_bytes
        );
        if policy.is_none() {
            sketch_share = share(&figures);
        }
    }
    let governor = governor();
    println!(
        "| governor keyed (no bound) | {:.1}% ({}/{}) | {:.1} MiB | none |",
        share(&governor),
        governor.legit_admitted,
        governor.legit_sent,
        governor.peak_bytes as f64 / (1 << 20) as f64,
    );
    // The default: 200,000 heavy keys in 524,288 cells a row, a predicted false-refusal
    // rate of (1 - e^(-0.38))^4 = 1%.
    assert!(
        sketch_share >= 95.0,
        "the default sketch kept only {sketch_share:.1}% of the legitimate admissions"
    );
}
