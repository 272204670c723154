//! What the axum-facing rate limit costs per request: tollgate's `RateLimitLayer`
//! (direct, keyed by peer IP, keyed with the RateLimit headers on admitted responses)
//! against tower_governor's `GovernorLayer` (keyed by peer IP), the bare service, and
//! the floors (`tollgate_workspace::floors::RateLimitFloor`: one GCRA check, direct or
//! on a flat array indexed by the peer's IP; `HeadersFloor` around the keyed one: two
//! inserts of header values made beforehand).
//! Every quota is far above the request rate, so every request is admitted and only the
//! overhead is measured. A second group measures the headers alone: a response written
//! bare, with the floor's two inserts, and with tollgate's.
//!
//! `cargo bench --bench rate_limit_http`

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt;
use http::{Request, Response};
use tollgate_bucket::{Admitted, KeyedRateLimiter, OnAdmitted, Quota, RateLimitLayer, RateLimiter};
use tollgate_core::Timestamp;
use tollgate_http::rate_limit::{AdmittedHeaders, PeerIp};
use tollgate_http::AsResponse;
use tollgate_workspace::floors::{self, HeadersFloor, RateLimitFloor};
use tower::{Layer, Service, ServiceExt};
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::GovernorLayer;

/// Admits about one request per nanosecond with a one-second burst: never binding here.
const CELLS: u32 = 1_000_000_000;

fn request(peer: SocketAddr) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// Drives one request through `svc`; every service here is ready and answers at once.
fn call<S>(svc: &mut S, req: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    svc.ready()
        .now_or_never()
        .expect("always ready")
        .expect("infallible")
        .call(req)
        .now_or_never()
        .expect("answers at once")
        .expect("infallible")
}

/// The floor's key: the peer's IP from axum's `ConnectInfo`, folded onto 1,024 buckets.
fn peer_bucket(req: &Request<Body>) -> u64 {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(0, |peer| match peer.0.ip() {
            std::net::IpAddr::V4(ip) => u64::from(ip.to_bits()),
            std::net::IpAddr::V6(ip) => (ip.to_bits() >> 64) as u64,
        });
    ip.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54
}

/// Every variant must answer the handler's 200, or it measures a refusal.
fn admits<S>(name: &str, svc: &mut S, peer: SocketAddr)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    assert_eq!(call(svc, request(peer)).status(), 200, "{name} admits");
}

fn layer_overhead(c: &mut Criterion) {
    let peer: SocketAddr = "192.0.2.1:50000".parse().expect("an address");
    // As an axum handler answers (`"ok".into_response()`): with a `content-type`, so
    // the response's header map already has its storage, as in a real server, and the
    // RateLimit headers cost their own inserts, not the map's first allocation.
    let handler = tower::service_fn(|_: Request<Body>| async {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok::<_, Infallible>(response)
    });
    let quota = Quota::per_second(CELLS)
        .burst(CELLS)
        .expect("a valid quota");
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("rate_limit_http"));

    let mut bare = handler;
    admits("bare_service", &mut bare, peer);
    group.bench_function("bare_service", |b| {
        b.iter(|| black_box(call(&mut bare, request(peer))))
    });

    // The limiter's own share of the direct layer's cost: one clock read and one check.
    let alone = RateLimiter::new(quota);
    group.bench_function("tollgate_direct_check_only", |b| {
        b.iter(|| black_box(alone.check()))
    });

    let mut floor = RateLimitFloor::direct(handler, u64::from(CELLS));
    admits("floor_direct", &mut floor, peer);
    group.bench_function("floor_direct", |b| {
        b.iter(|| black_box(call(&mut floor, request(peer))))
    });
    let mut floor = RateLimitFloor::keyed(handler, 1_024, u64::from(CELLS), peer_bucket);
    admits("floor_keyed_peer_ip", &mut floor, peer);
    group.bench_function("floor_keyed_peer_ip", |b| {
        b.iter(|| black_box(call(&mut floor, request(peer))))
    });

    // The headers' floor: the keyed floor, plus two inserts of values made beforehand.
    let mut floor = HeadersFloor::new(RateLimitFloor::keyed(
        handler,
        1_024,
        u64::from(CELLS),
        peer_bucket,
    ));
    admits("floor_keyed_peer_ip_with_headers", &mut floor, peer);
    group.bench_function("floor_keyed_peer_ip_with_headers", |b| {
        b.iter(|| black_box(call(&mut floor, request(peer))))
    });

    let mut direct = RateLimitLayer::new(RateLimiter::new(quota))
        .refuse_with(AsResponse::new())
        .layer(handler);
    admits("tollgate_direct", &mut direct, peer);
    group.bench_function("tollgate_direct", |b| {
        b.iter(|| black_box(call(&mut direct, request(peer))))
    });

    let keyed_limiter = || {
        KeyedRateLimiter::builder(quota)
            .max_keys(1_024)
            .build()
            .expect("a valid limiter")
    };
    let mut keyed = RateLimitLayer::keyed(keyed_limiter(), PeerIp::new())
        .refuse_with(AsResponse::new())
        .layer(handler);
    admits("tollgate_keyed_peer_ip", &mut keyed, peer);
    group.bench_function("tollgate_keyed_peer_ip", |b| {
        b.iter(|| black_box(call(&mut keyed, request(peer))))
    });

    let mut with_headers = RateLimitLayer::keyed(keyed_limiter(), PeerIp::new())
        .refuse_with(AdmittedHeaders::new())
        .layer(handler);
    admits(
        "tollgate_keyed_peer_ip_with_headers",
        &mut with_headers,
        peer,
    );
    group.bench_function("tollgate_keyed_peer_ip_with_headers", |b| {
        b.iter(|| black_box(call(&mut with_headers, request(peer))))
    });

    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(CELLS)
        .finish()
        .expect("a valid governor config");
    let mut governor = GovernorLayer::new(Arc::new(config)).layer(handler);
    admits("tower_governor_peer_ip", &mut governor, peer);
    group.bench_function("tower_governor_peer_ip", |b| {
        b.iter(|| black_box(call(&mut governor, request(peer))))
    });

    group.finish();
}

/// The headers alone, without a request around them: an admitted response as an axum
/// handler makes it (with a `content-type`), built and dropped bare, with the floor's
/// two ready-made headers, and with tollgate's (`AdmittedHeaders`: the note taken at
/// admission, then written on the response).
fn headers_alone(c: &mut Criterion) {
    let quota = Quota::per_second(10).burst(10).expect("a valid quota");
    let now = Timestamp::ZERO;
    let admitted = Admitted::from_tat(quota, now, now + Duration::from_millis(100));
    let response = || {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    let mut group = c.benchmark_group(tollgate_workspace::bench_group("rate_limit_headers"));
    group.bench_function("response_only", |b| b.iter(|| black_box(response())));
    group.bench_function("floor_two_inserts", |b| {
        b.iter(|| {
            let mut response = response();
            floors::insert_headers(response.headers_mut());
            black_box(response)
        })
    });
    let headers = AdmittedHeaders::new();
    group.bench_function("tollgate_admitted_headers", |b| {
        b.iter(|| {
            let mut response = response();
            let note = OnAdmitted::<Response<Body>>::note(&headers, black_box(&admitted), None)
                .expect("headers are written");
            <AdmittedHeaders as OnAdmitted<Response<Body>>>::annotate(note, &mut response);
            black_box(response)
        })
    });
    group.finish();
}

criterion_group!(benches, layer_overhead, headers_alone);
criterion_main!(benches);
