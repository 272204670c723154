//! What a circuit breaker costs per call: tollgate's layer against tower-resilience's
//! circuit breaker and failsafe's, with the bare service and the floor of a breaker
//! layer (`tollgate_workspace::floors::BreakerFloor`: one load, one add); the open-path
//! rejection; and two threads recording outcomes at once.
//!
//! `cargo bench --bench breaker`

use std::hint::black_box;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt;
use tollgate_breaker::{Breaker, BreakerLayer, Outcome};
use tollgate_workspace::floors::BreakerFloor;
use tower::{service_fn, Layer, Service};

/// One call: readiness with a no-op waker, then the future polled once (every
/// service here answers at once).
#[inline]
fn call<S: Service<u64>>(svc: &mut S, x: u64) -> Option<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => svc.call(x).now_or_never(),
        Poll::Ready(Err(e)) => Some(Err(e)),
        Poll::Pending => None,
    }
}

fn trivial() -> impl Service<
    u64,
    Response = u64,
    Error = std::io::Error,
    Future = futures::future::Ready<Result<u64, std::io::Error>>,
> + Clone {
    service_fn(|x: u64| futures::future::ready(Ok::<_, std::io::Error>(x)))
}

fn tollgate_layer() -> BreakerLayer {
    BreakerLayer::new(Breaker::builder().build().expect("the defaults are valid"))
}

fn closed_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("breaker_closed"));

    let mut bare = trivial();
    group.bench_function("bare_service", |b| {
        b.iter(|| black_box(call(&mut bare, black_box(1))))
    });

    let mut floor = BreakerFloor::new(trivial());
    group.bench_function("floor_layer", |b| {
        b.iter(|| black_box(call(&mut floor, black_box(1))))
    });

    let mut ours = tollgate_layer().layer(trivial());
    group.bench_function("tollgate_layer", |b| {
        b.iter(|| black_box(call(&mut ours, black_box(1))))
    });

    let resilience = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(10)
        .build()
        .unwrap();
    let mut theirs = resilience.layer(trivial());
    group.bench_function("tower_resilience_layer", |b| {
        b.iter(|| black_box(call(&mut theirs, black_box(1))))
    });

    // failsafe has no tower layer: its synchronous call is the cheapest way to use it,
    // so it is compared with tollgate's synchronous permit (acquire + record).
    use failsafe::CircuitBreaker as _;
    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe_call", |b| {
        b.iter(|| black_box(failsafe.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    let breaker = Breaker::builder().build().expect("the defaults are valid");
    group.bench_function("tollgate_permit", |b| {
        b.iter(|| breaker.try_acquire().map(|p| p.record(Outcome::Success)))
    });
    group.finish();
}

fn open_path(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("breaker_open"));
    let mut closed = tollgate_layer().layer(trivial());
    group.bench_function("tollgate_layer_closed", |b| {
        b.iter(|| black_box(call(&mut closed, black_box(1))))
    });
    let layer = tollgate_layer();
    layer.breaker().force_open();
    let mut open = layer.layer(trivial());
    group.bench_function("tollgate_layer_rejected", |b| {
        b.iter(|| black_box(call(&mut open, black_box(1))))
    });
    let breaker = Breaker::builder().build().expect("the defaults are valid");
    breaker.force_open();
    group.bench_function("tollgate_permit_rejected", |b| {
        b.iter(|| black_box(breaker.try_acquire().is_err()))
    });
    group.finish();
}

/// Per-call cost when `threads` threads call through clones of `svc` at once.
fn per_call<S: Service<u64> + Clone + Send>(svc: &S, threads: usize, iters: u64) -> Duration {
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..threads {
            let mut svc = svc.clone();
            scope.spawn(move || {
                for i in 0..iters {
                    black_box(call(&mut svc, i));
                }
            });
        }
    });
    start.elapsed()
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("breaker_threads"));
    // Wall time per call of each thread: equal figures mean perfect scaling.
    let floor = BreakerFloor::new(trivial());
    let ours = tollgate_layer().layer(trivial());
    for threads in [1, 2] {
        group.bench_function(format!("floor_layer_{threads}_thread"), |b| {
            b.iter_custom(|n| per_call(&floor, threads, n))
        });
        group.bench_function(format!("tollgate_layer_{threads}_thread"), |b| {
            b.iter_custom(|n| per_call(&ours, threads, n))
        });
    }
    group.finish();
}

criterion_group!(benches, closed_path, open_path, two_threads);
criterion_main!(benches);
