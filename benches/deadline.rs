//! What a deadline costs: the server deadline layer and the client propagation layer
//! around a trivial service, side by side with `tower::timeout::Timeout`; and the cost
//! of reading and writing a budget on the wire; the floor of a timeout layer is one
//! read of tokio's clock (`tollgate_workspace::floors::TimeoutFloor`). The trivial service answers on the
//! first poll, so no variant registers a timer: tower's `Timeout` builds its `Sleep` in
//! `call` and never polls it, the tollgate layers build none (they arm lazily).
//!
//! `cargo bench --bench deadline`

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt;
use http::{HeaderValue, Request, Response};
use tollgate_core::TokioClock;
use tollgate_deadline::{
    Deadline, DeadlinePolicy, ServerDeadlineLayer, TimeoutLayer, TimeoutPolicy,
};
use tollgate_http::deadline::{
    format_grpc_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit, TimeoutHeaders,
};
use tollgate_http::AsResponse;
use tollgate_workspace::floors::TimeoutFloor;
use tower::{Layer, Service};

/// The trivial inner service: answers at once.
#[derive(Clone, Copy)]
struct Trivial;

impl Service<Request<()>> for Trivial {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

fn request(header: Option<(&'static str, &'static str)>) -> Request<()> {
    let mut req = Request::new(());
    if let Some((name, value)) = header {
        req.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    req
}

/// One call, driven to completion (the trivial service is ready at once).
fn call<S: Service<Request<()>>>(svc: &mut S, req: Request<()>) {
    black_box(svc.call(req).now_or_never());
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("deadline_layer"));

    // Every variant builds the same kind of request: one header, as a gRPC call with
    // a deadline carries.
    const GRPC: Option<(&str, &str)> = Some(("grpc-timeout", "1S"));
    let mut bare = Trivial;
    group.bench_function("no_layer", |b| b.iter(|| call(&mut bare, request(GRPC))));

    let mut tower_timeout =
        tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(Trivial);
    group.bench_function("tower_Timeout", |b| {
        b.iter(|| call(&mut tower_timeout, request(GRPC)))
    });

    let mut floor = TimeoutFloor::new(Trivial, Duration::from_secs(1));
    group.bench_function("floor_timeout", |b| {
        b.iter(|| call(&mut floor, request(GRPC)))
    });

    let mut total =
        TimeoutLayer::new(TimeoutPolicy::total(Duration::from_secs(1)).unwrap()).layer(Trivial);
    group.bench_function("tollgate_TimeoutLayer_total", |b| {
        b.iter(|| call(&mut total, request(GRPC)))
    });

    let policy = DeadlinePolicy::builder()
        .margin(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut server = ServerDeadlineLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsResponse::new())
        .layer(Trivial);
    group.bench_function("tollgate_server_grpc_timeout", |b| {
        b.iter(|| call(&mut server, request(GRPC)))
    });
    group.bench_function("tollgate_server_http_header", |b| {
        b.iter(|| call(&mut server, request(Some(("request-timeout", "1000")))))
    });

    let policy = TimeoutPolicy::builder()
        .total(Duration::from_secs(1))
        .margin(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut client = TimeoutLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .layer(Trivial);
    group.bench_function("tollgate_client_total", |b| {
        b.iter(|| {
            call(
                &mut client,
                request(Some(("content-type", "application/grpc"))),
            )
        })
    });
    let deadline = Deadline::from_now(&TokioClock::new(), Duration::from_secs(3600));
    group.bench_function("tollgate_client_inherited", |b| {
        b.iter(|| {
            deadline
                .scope(async {
                    call(
                        &mut client,
                        request(Some(("content-type", "application/grpc"))),
                    )
                })
                .now_or_never()
        })
    });
    group.finish();
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("deadline_wire"));
    group.bench_function("parse_grpc_timeout", |b| {
        b.iter(|| parse_grpc_timeout(black_box(b"1500000u")))
    });
    group.bench_function("format_grpc_timeout", |b| {
        b.iter(|| format_grpc_timeout(black_box(Duration::from_millis(1500))))
    });
    group.bench_function("parse_http_timeout", |b| {
        b.iter(|| parse_http_timeout(black_box(b"1500"), HeaderUnit::Millis))
    });
    // The naive way, for scale: UTF-8 check and `str::parse`.
    group.bench_function("std_str_parse_u64", |b| {
        b.iter(|| {
            std::str::from_utf8(black_box(b"1500"))
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        })
    });
    group.finish();
}

criterion_group!(benches, layers, wire);
criterion_main!(benches);
