//! What a whole server stack costs per request, in one criterion group: the bare
//! handler, a hand-written floor doing the least any five-layer stack must (count in
//! flight, one GCRA compare-and-swap, read a breaker state, arm nothing), tollgate's
//! `ServerStack` with its five layers (drain, deadline, rate limit, shaping, breaker,
//! per-try timeout), and the same set composed from the peers (tower
//! `ConcurrencyLimit`, governor in a minimal layer, tower-resilience's breaker, tower
//! `Timeout`). Every quota is far above the request rate: nothing is refused.
//! `tollgate_peers_four_layers` is tollgate's stack with only the layers the peers have
//! (drain, rate limit, breaker, per-try timeout), to compare like with like.
//!
//! `cargo bench --bench stack`; the HTTP throughput against bare axum is
//! `cargo bench --bench http_load`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::future::{ready, Either, Ready};
use futures::FutureExt;
use http::{Request, Response};
use tollgate::prelude::*;
use tollgate_core::BoxError;
use tower::{service_fn, Layer, Service, ServiceBuilder};

/// Far above any rate reached here: one per nanosecond, a second's burst.
const CELLS: u32 = 1_000_000_000;

fn handler() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = Ready<Result<Response<Body>, Infallible>>,
> + Clone {
    service_fn(|_: Request<Body>| ready(Ok::<_, Infallible>(Response::new(Body::empty()))))
}

/// Drives one request through `svc`; every service here is ready and answers at once.
fn call<S: Service<Request<Body>>>(svc: &mut S) -> Option<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => svc.call(Request::new(Body::empty())).now_or_never(),
        Poll::Ready(Err(e)) => Some(Err(e)),
        Poll::Pending => None,
    }
}

fn tollgate_stack() -> ServerStack {
    tollgate_workspace::bench_server_stack(KeySource::global())
}

/// tollgate's stack with the peers' four layers only: the drain (in flight, as
/// `ConcurrencyLimit`), the rate limit, the breaker and the per-try timeout.
fn tollgate_four_layers() -> ServerStack {
    let quota = Quota::with_period(CELLS, Duration::from_secs(1))
        .build()
        .expect("a valid quota");
    let (stack, _) = ServerStack::builder()
        .rate_limit(
            KeyedRateLimiter::builder(quota).build().expect("valid"),
            KeySource::global(),
        )
        .breaker(Breaker::builder().build().expect("valid"))
        .timeout(TimeoutPolicy::per_try(Duration::from_secs(2)).expect("valid"))
        .build()
        .expect("an aligned stack");
    stack
}

// ===== the peers: governor in a minimal layer =====

#[derive(Clone)]
struct Governed<S> {
    inner: S,
    limiter: Arc<governor::DefaultDirectRateLimiter>,
}

impl<S, Req> Service<Req> for Governed<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        Either<Ready<Result<S::Response, BoxError>>, futures::future::ErrInto<S::Future, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        use futures::TryFutureExt;
        match self.limiter.check() {
            Ok(()) => Either::Right(self.inner.call(req).err_into()),
            Err(_) => Either::Left(ready(Err("rate limited".into()))),
        }
    }
}

fn peers<S>(
    inner: S,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let quota = governor::Quota::per_second(std::num::NonZeroU32::new(CELLS).expect("non-zero"));
    let limiter = Arc::new(governor::RateLimiter::direct(quota));
    let breaker = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(10)
        .build()
        .expect("a valid breaker");
    let governed = Governed {
        inner: breaker.layer(tower::timeout::Timeout::new(inner, Duration::from_secs(2))),
        limiter,
    };
    ServiceBuilder::new()
        .concurrency_limit(1_000_000)
        .service(governed)
}

// ===== the floor =====

/// The least a drain + rate limit + breaker stack does per request, written by hand.
#[derive(Clone)]
struct Floor<S> {
    inner: S,
    in_flight: Arc<AtomicU64>,
    tat: Arc<AtomicU64>,
    open: Arc<AtomicBool>,
    clock: SystemClock,
}

impl<S: Service<Request<Body>>> Service<Request<Body>> for Floor<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> S::Future {
        // Relaxed: a bench counter; the floor's only job is to cost what it must.
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now().as_nanos();
        // Relaxed: the floor bounds cost, not correctness.
        let tat = self.tat.load(Ordering::Relaxed);
        let _ =
            self.tat
                .compare_exchange(tat, tat.max(now) + 1, Ordering::Relaxed, Ordering::Relaxed);
        // Relaxed: read for its cost only.
        let _ = black_box(self.open.load(Ordering::Relaxed));
        let future = self.inner.call(req);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        future
    }
}

fn server_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _guard = rt.enter();
    let mut group = c.benchmark_group("server_stack");

    let mut bare = handler();
    group.bench_function("bare_handler", |b| b.iter(|| black_box(call(&mut bare))));

    let mut floor = Floor {
        inner: handler(),
        in_flight: Arc::default(),
        tat: Arc::default(),
        open: Arc::default(),
        clock: SystemClock::new(),
    };
    group.bench_function("hand_written_floor", |b| {
        b.iter(|| black_box(call(&mut floor)))
    });

    let mut ours = tollgate_stack().layer(handler());
    group.bench_function("tollgate_server_stack", |b| {
        b.iter(|| black_box(call(&mut ours)))
    });

    let mut theirs = peers(handler());
    group.bench_function("peers_composed", |b| {
        b.iter(|| black_box(call(&mut theirs)))
    });

    let mut four = tollgate_four_layers().layer(handler());
    group.bench_function("tollgate_peers_four_layers", |b| {
        b.iter(|| black_box(call(&mut four)))
    });

    // As axum serves a route: a clone of the service per request. tollgate's stack
    // composes its live layers (one reload-safe load) in the clone's `poll_ready`.
    group.bench_function("tollgate_server_stack_cloned_per_request", |b| {
        b.iter(|| black_box(call(&mut ours.clone())))
    });
    group.bench_function("peers_composed_cloned_per_request", |b| {
        b.iter(|| black_box(call(&mut theirs.clone())))
    });

    group.finish();
}

criterion_group!(benches, server_stack);
criterion_main!(benches);
