//! Per-request cost of the drain's in-flight accounting around a trivial service,
//! against the bare service and tower's `ConcurrencyLimit` (the closest peer: it
//! also counts requests in flight, with a semaphore permit), and the floor: one add and
//! one subtract per request (`tollgate_workspace::floors::InFlightFloor`).
//!
//! Each iteration is one whole request: `poll_ready`, `call`, poll the response
//! future to completion, drop the response (which ends the request).
//!
//! `cargo bench --bench drain`

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use tollgate_drain::{Drain, DrainLayer};
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::AsResponse;
use tollgate_workspace::floors::InFlightFloor;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service};

/// The trivial service: answers at once with an empty body.
#[derive(Clone, Copy)]
struct Trivial;

impl Service<Request<()>> for Trivial {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(String::new())))
    }
}

/// One request through `svc`, start to end.
#[inline(always)]
fn one_request<S>(svc: &mut S, cx: &mut Context<'_>)
where
    S: Service<Request<()>>,
    S::Future: Future<Output = Result<S::Response, S::Error>>,
{
    assert!(svc.poll_ready(cx).is_ready());
    let future = pin!(svc.call(Request::new(())));
    match future.poll(cx) {
        Poll::Ready(response) => drop(black_box(response.is_ok())),
        Poll::Pending => unreachable!("the trivial service is ready at once"),
    }
}

fn per_request(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("drain_per_request"));
    let mut cx = Context::from_waker(Waker::noop());
    let drain = Drain::builder().build().expect("default timings");

    let mut bare = Trivial;
    group.bench_function("bare", |b| b.iter(|| one_request(&mut bare, &mut cx)));

    let mut floor = InFlightFloor::new(Trivial);
    group.bench_function("floor_in_flight", |b| {
        b.iter(|| one_request(&mut floor, &mut cx))
    });

    // The default layer: `AsError`, counted until the response (the former `InFlight`
    // counted until the body ended; that is the HTTP row below).
    let mut in_flight = DrainLayer::new(drain.clone()).layer(Trivial);
    group.bench_function("tollgate_DrainLayer", |b| {
        b.iter(|| one_request(&mut in_flight, &mut cx))
    });

    // The HTTP face plugged in: 503 refusals, counted until the body ends.
    let mut http_face = DrainLayer::new(drain.clone())
        .refuse_with(AsResponse::new())
        .track_with(UntilBodyEnd)
        .layer(Trivial);
    group.bench_function("tollgate_DrainLayer_http", |b| {
        b.iter(|| one_request(&mut http_face, &mut cx))
    });

    let mut limit = ConcurrencyLimitLayer::new(1 << 20).layer(Trivial);
    group.bench_function("tower_ConcurrencyLimit", |b| {
        b.iter(|| one_request(&mut limit, &mut cx))
    });
    group.finish();
    assert_eq!(drain.snapshot().in_flight, 0, "every request ended");
}

criterion_group!(benches, per_request);
criterion_main!(benches);
