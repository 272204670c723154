//! What shaping costs: `tollgate-leaky` against the `leaky-bucket` crate's `acquire`
//! and governor's `until_ready`, side by side in each group, with the floor of an
//! admission: one GCRA check (`tollgate_workspace::floors::Gcra`).
//!
//! `cargo bench --bench shape -- --warm-up-time 1 --measurement-time 2`
//!
//! - `shape_admission_uncontended`: one request, empty queue, capacity available
//!   (every limiter is configured far above the rate the loop can reach). The async
//!   forms are polled once, as an executor would poll a ready future.
//! - `shape_queued_release`: the queued path of the core: admit behind others, then be
//!   released and wake the next (a manual clock, so only the work is measured).
//! - `shape_contended_2_threads`: two threads admitting through one shared limiter.
//! - Fairness under 2 threads: printed once, the share each of two threads got from a
//!   shaper that actually shapes.

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::{Clock, ManualClock, Quota};
use tollgate_leaky::{Admit, Shaper, Turn};
use tollgate_workspace::floors::Gcra;

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn tollgate_unbounded() -> Shaper {
    let quota = Quota::with_period(1, Duration::from_nanos(1))
        .burst(1_000_000)
        .expect("valid");
    Shaper::builder(quota).build().expect("valid")
}

fn leaky_bucket_unbounded() -> leaky_bucket::RateLimiter {
    leaky_bucket::RateLimiter::builder()
        .initial(usize::MAX / 2)
        .max(usize::MAX / 2)
        .refill(usize::MAX / 4)
        .interval(Duration::from_millis(1))
        .build()
}

fn governor_unbounded() -> governor::DefaultDirectRateLimiter {
    governor::RateLimiter::direct(governor::Quota::per_second(NonZeroU32::MAX))
}

fn admission_uncontended(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut group = c.benchmark_group(tollgate_workspace::bench_group(
        "shape_admission_uncontended",
    ));

    let floor = Gcra::new(1_000_000);
    group.bench_function("floor_one_gcra_check", |b| {
        b.iter(|| black_box(floor.check()))
    });
    let shaper = tollgate_unbounded();
    group.bench_function("tollgate_leaky_admit", |b| {
        b.iter(|| black_box(matches!(shaper.admit(1), Ok(Admit::Now))))
    });
    group.bench_function("tollgate_leaky_acquire", |b| {
        b.iter(|| black_box(poll_once(shaper.acquire(1)).is_ready()))
    });
    let bucket = leaky_bucket_unbounded();
    group.bench_function("leaky_bucket_acquire_one", |b| {
        b.iter(|| black_box(poll_once(bucket.acquire_one()).is_ready()))
    });
    let governor = governor_unbounded();
    group.bench_function("governor_until_ready", |b| {
        b.iter(|| black_box(poll_once(governor.until_ready()).is_ready()))
    });
    group.finish();
}

fn queued_release(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("shape_queued_release"));
    let clock = ManualClock::new();
    let quota = Quota::with_period(1, Duration::from_micros(1))
        .burst(1)
        .expect("valid");
    let shaper = Shaper::builder(quota)
        .max_queue(1 << 20)
        .clock(clock.clone())
        .build()
        .expect("valid");
    let waker = Waker::noop();
    // Keep one waiter ahead so every measured request really queues.
    group.bench_function("tollgate_leaky_admit_queue_release", |b| {
        b.iter(|| {
            let Ok(Admit::Wait(mut head)) = shaper.admit_at(1, clock.now()) else {
                // The first iteration (or one after an idle gap) goes at once.
                return;
            };
            let Ok(Admit::Wait(mut next)) = shaper.admit_at(1, clock.now()) else {
                unreachable!("behind a waiting head")
            };
            assert!(matches!(next.poll_turn(clock.now(), waker), Turn::Queued));
            clock.advance(Duration::from_micros(1));
            assert_eq!(head.poll_turn(clock.now(), waker), Turn::Released);
            clock.advance(Duration::from_micros(1));
            assert_eq!(next.poll_turn(clock.now(), waker), Turn::Released);
            black_box(());
        })
    });
    group.finish();
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("shape_contended_2_threads"));
    fn two_threads(iters: u64, admit: impl Fn() + Send + Sync) -> Duration {
        let per_thread = iters / 2 + 1;
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        admit();
                    }
                });
            }
        });
        start.elapsed()
    }
    let floor = Gcra::new(1_000_000);
    group.bench_function("floor_one_gcra_check", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(floor.check());
            })
        })
    });
    let shaper = tollgate_unbounded();
    group.bench_function("tollgate_leaky_admit", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(matches!(shaper.admit(1), Ok(Admit::Now)));
            })
        })
    });
    let rt = runtime();
    let handle = rt.handle().clone();
    let bucket = leaky_bucket_unbounded();
    group.bench_function("leaky_bucket_acquire_one", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let _guard = handle.enter();
                black_box(poll_once(bucket.acquire_one()).is_ready());
            })
        })
    });
    let governor = governor_unbounded();
    group.bench_function("governor_until_ready", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(poll_once(governor.until_ready()).is_ready());
            })
        })
    });
    group.finish();
}

/// Two threads, each on its own runtime, acquire from one shaper at 20 000/s for
/// 200 ms. FIFO shaping should split the releases evenly.
fn fairness(_: &mut Criterion) {
    let quota = Quota::per_second(20_000).burst(16).expect("valid");
    let shaper = Shaper::builder(quota).max_queue(64).build().expect("valid");
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let threads: Vec<_> = counts
        .iter()
        .map(|count| {
            let (shaper, stop, count) = (shaper.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                runtime().block_on(async move {
                    // Relaxed: a stop flag and counters read after `join`.
                    while !stop.load(Ordering::Relaxed) {
                        if shaper.acquire(1).await.is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("thread");
    }
    let a = counts[0].load(Ordering::Relaxed);
    let b = counts[1].load(Ordering::Relaxed);
    println!(
        "shape_fairness_2_threads: thread A {a}, thread B {b} releases in 200 ms at 20000/s (share A {:.3})",
        a as f64 / (a + b).max(1) as f64
    );
}

criterion_group!(
    benches,
    admission_uncontended,
    queued_release,
    contended,
    fairness
);
criterion_main!(benches);
