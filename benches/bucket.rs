//! tollgate-bucket against its peers, side by side in each group so every figure is a
//! ratio: governor's direct and keyed limiters, and, as tower layers around a trivial
//! `service_fn`, tower's `RateLimit`, governor in a minimal layer, and tower_governor.
//! Quotas are large enough that every request is admitted: only overhead is measured.
//! Each group has its floor (`tollgate_workspace::floors`): one GCRA check; as a layer,
//! that check in the least layer. The keyed groups' floor is a flat array of atomics
//! indexed by the key; they add 10M
//! keys offered to a table of 1M, and the cost with the table full against with room.
//!
//! `cargo bench --bench bucket -- --warm-up-time 1 --measurement-time 2`

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::future::Either;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer, RateLimiter, WhenFull};
use tollgate_workspace::floors::{FlatKeyed, Gcra, RateLimitFloor};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

/// Counts heap bytes, to report what each keyed limiter holds (an atomic add per
/// allocation; the measured checks allocate nothing).
#[global_allocator]
static HEAP: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Burst of a million cells, one more per nanosecond: nothing is ever refused.
const BURST: u32 = 1_000_000;

fn tollgate_quota() -> Quota {
    Quota::with_period(1, Duration::from_nanos(1))
        .burst(BURST)
        .expect("valid quota")
}

fn governor_quota() -> governor::Quota {
    governor::Quota::with_period(Duration::from_nanos(1))
        .expect("valid quota")
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero"))
}

/// Runs `op` `iters` times on each of `threads` threads started together; returns the
/// wall time, so a figure is the time for `threads` concurrent operations.
fn contended<F: Fn(u64) + Sync>(threads: usize, iters: u64, op: F) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, barrier) = (&op, &barrier);
            s.spawn(move || {
                barrier.wait();
                let offset = t as u64 * 7_919;
                for i in 0..iters {
                    op(i.wrapping_add(offset));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Joined when the scope ends.
        start
    })
    .elapsed()
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("bucket_direct"));
    let tollgate = RateLimiter::new(tollgate_quota());
    let governor = DefaultDirectRateLimiter::direct(governor_quota());
    let floor = Gcra::new(u64::from(BURST));
    group.bench_function("floor/1_thread", |b| b.iter(|| black_box(floor.check())));
    group.bench_function("floor/2_threads", |b| {
        b.iter_custom(|iters| {
            contended(2, iters, |_| {
                black_box(floor.check());
            })
        })
    });
    group.bench_function("tollgate/1_thread", |b| {
        b.iter(|| black_box(tollgate.check().is_ok()))
    });
    group.bench_function("governor/1_thread", |b| {
        b.iter(|| black_box(governor.check().is_ok()))
    });
    group.bench_function("tollgate/2_threads", |b| {
        b.iter_custom(|iters| {
            contended(2, iters, |_| {
                black_box(tollgate.check().is_ok());
            })
        })
    });
    group.bench_function("governor/2_threads", |b| {
        b.iter_custom(|iters| {
            contended(2, iters, |_| {
                black_box(governor.check().is_ok());
            })
        })
    });
    group.finish();
}

/// A pseudo-random walk over `0..keys` (an LCG step), so lookups miss the cache as a
/// real key population would.
#[inline]
fn key_at(i: u64, keys: u64) -> u64 {
    i.wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
        % keys
}

/// Heap bytes held now (the counting allocator of this binary).
fn held() -> usize {
    let stats = HEAP.stats();
    stats.bytes_allocated - stats.bytes_deallocated
}

/// One keyed check with 1k, 1M and 10M distinct keys offered (a random walk over
/// them, each seen once before measuring), on 1 and 2 threads: tollgate with a table
/// of 1M keys (so at 10M most keys are decided by the default sketch), governor's
/// keyed limiter (which keeps every key), and the flat array floor. The heap each one
/// holds after seeing every key is printed to stderr.
fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("bucket_keyed"));
    for (keys, label) in [
        (1_000u64, "1k_keys"),
        (1_000_000, "1M_keys"),
        (10_000_000, "10M_keys"),
    ] {
        let before = held();
        let tollgate = KeyedRateLimiter::builder(tollgate_quota())
            .max_keys(1_000_000)
            .build()
            .expect("valid");
        for key in 0..keys {
            let _ = tollgate.check_key(&key);
        }
        let tollgate_bytes = held() - before;
        let before = held();
        let governor = DefaultKeyedRateLimiter::<u64>::keyed(governor_quota());
        for key in 0..keys {
            let _ = governor.check_key(&key);
        }
        let governor_bytes = held() - before;
        let floor = FlatKeyed::new(keys, u64::from(BURST));
        eprintln!(
            "bucket_keyed/{label}: heap after every key: tollgate {:.1} MiB (bound {:.1} MiB, {} keys tracked), \
             governor {:.1} MiB, floor {:.1} MiB",
            tollgate_bytes as f64 / MIB,
            tollgate.max_bytes() as f64 / MIB,
            tollgate.len(),
            governor_bytes as f64 / MIB,
            (keys * 8) as f64 / MIB,
        );
        group.bench_function(BenchmarkId::new("tollgate/1_thread", label), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(tollgate.check_key(&key_at(i, keys)).is_ok())
            })
        });
        group.bench_function(BenchmarkId::new("governor/1_thread", label), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(governor.check_key(&key_at(i, keys)).is_ok())
            })
        });
        group.bench_function(BenchmarkId::new("floor/1_thread", label), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(floor.check(key_at(i, keys)))
            })
        });
        group.bench_function(BenchmarkId::new("tollgate/2_threads", label), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, |i| {
                    black_box(tollgate.check_key(&key_at(i, keys)).is_ok());
                })
            })
        });
        group.bench_function(BenchmarkId::new("governor/2_threads", label), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, |i| {
                    black_box(governor.check_key(&key_at(i, keys)).is_ok());
                })
            })
        });
        group.bench_function(BenchmarkId::new("floor/2_threads", label), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, |i| {
                    black_box(floor.check(key_at(i, keys)));
                })
            })
        });
    }
    group.finish();
}

const MIB: f64 = (1 << 20) as f64;

/// The cost of a decision with the table full of active keys against the cost with
/// room, for 1k keys offered: the full table's new keys are decided by the sketch (or
/// refused by `Reject`) under the shard's read lock. One cell an hour, bursts of a
/// million: a key stays active an hour after one check, and none is refused here.
fn keyed_full(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("bucket_keyed_full"));
    let quota = Quota::per_hour(1).burst(BURST).expect("valid quota");
    let keys = 1_000u64;
    let with_room = KeyedRateLimiter::builder(quota)
        .max_keys(2 * keys as usize)
        .build()
        .expect("valid");
    let full = |policy: WhenFull| {
        let limiter = KeyedRateLimiter::builder(quota)
            .max_keys(keys as usize)
            .when_full(policy)
            .build()
            .expect("valid");
        // Residents on other keys fill every shard.
        let mut resident = u64::MAX;
        while limiter.len() < keys as usize && resident > u64::MAX - 100 * keys {
            let _ = limiter.check_key(&resident);
            resident -= 1;
        }
        limiter
    };
    let sketched = full(WhenFull::sketch(32 * 1024));
    let rejecting = full(WhenFull::Reject);
    for key in 0..keys {
        let _ = with_room.check_key(&key);
        let _ = sketched.check_key(&key);
    }
    let cases = [
        ("table_with_room", &with_room),
        ("table_full_sketch", &sketched),
        ("table_full_reject", &rejecting),
    ];
    for (name, limiter) in cases {
        group.bench_function(BenchmarkId::new(name, "1_thread"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(limiter.check_key(&key_at(i, keys)).is_ok())
            })
        });
        group.bench_function(BenchmarkId::new(name, "2_threads"), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, |i| {
                    black_box(limiter.check_key(&key_at(i, keys)).is_ok());
                })
            })
        });
    }
    group.finish();
}

// ===== layers =====

type Request = http::Request<()>;
type Response = http::Response<axum::body::Body>;

fn trivial() -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = Ready<Result<Response, Infallible>>,
> + Clone {
    service_fn(|_: Request| {
        ready(Ok::<_, Infallible>(
            Response::new(axum::body::Body::empty()),
        ))
    })
}

/// governor in the smallest layer one could write by hand.
#[derive(Clone)]
struct GovernorLimit<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl<S: Service<Request>> Service<Request> for GovernorLimit<S>
where
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<
        futures::future::MapErr<S::Future, fn(S::Error) -> BoxError>,
        Ready<Result<S::Response, BoxError>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use futures::TryFutureExt;
        match self.limiter.check() {
            Ok(()) => Either::Left(self.inner.call(req).map_err(Into::into as fn(_) -> _)),
            Err(not_until) => Either::Right(ready(Err(not_until.to_string().into()))),
        }
    }
}

/// Drives `service` through `iters` ready-then-call rounds on a current-thread runtime.
fn drive<S>(rt: &tokio::runtime::Runtime, mut service: S, iters: u64) -> Duration
where
    S: Service<Request, Response = Response>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async move {
        let start = Instant::now();
        for _ in 0..iters {
            let ready = service.ready().await.expect("ready");
            black_box(ready.call(Request::new(())).await.expect("admitted"));
        }
        start.elapsed()
    })
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("bucket_layer"));

    group.bench_function("bare_service_fn", |b| {
        b.iter_custom(|iters| drive(&rt, trivial(), iters))
    });
    let floor = RateLimitFloor::direct(trivial(), u64::from(BURST));
    group.bench_function("floor_layer", |b| {
        b.iter_custom(|iters| drive(&rt, floor.clone(), iters))
    });
    let tollgate = RateLimitLayer::new(RateLimiter::new(tollgate_quota())).layer(trivial());
    group.bench_function("tollgate_RateLimitLayer", |b| {
        b.iter_custom(|iters| drive(&rt, tollgate.clone(), iters))
    });
    group.bench_function("tower_RateLimit", |b| {
        b.iter_custom(|iters| {
            // Not Clone: one per sample. A rate no run can exhaust.
            let service = tower::limit::RateLimitLayer::new(u64::MAX, Duration::from_secs(3600))
                .layer(trivial());
            drive(&rt, service, iters)
        })
    });
    let governor = GovernorLimit {
        inner: trivial(),
        limiter: Arc::new(DefaultDirectRateLimiter::direct(governor_quota())),
    };
    group.bench_function("governor_minimal_layer", |b| {
        b.iter_custom(|iters| drive(&rt, governor.clone(), iters))
    });
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(BURST)
        .key_extractor(tower_governor::key_extractor::GlobalKeyExtractor)
        .finish()
        .expect("valid config");
    let tower_governor = tower_governor::GovernorLayer::new(config).layer(trivial());
    group.bench_function("tower_governor", |b| {
        b.iter_custom(|iters| drive(&rt, tower_governor.clone(), iters))
    });
    group.finish();
}

criterion_group!(benches, direct, keyed, keyed_full, layer);
criterion_main!(benches);
