//! No layer allocates on an admitted request: each layer, its HTTP face, and the whole
//! server stack, driven through requests counted by a global allocator. Each case
//! runs the same requests through the bare handler and through the layer; the layer
//! may not add one allocation over a thousand requests. The one allocation a layer may
//! make is the one a user asks for: the server deadline's `Deadline` in the
//! request's extensions (`http` boxes every extension), on by default for axum's
//! `Extension<Deadline>` and left out with `TimeoutHeaders::without_extension`; the
//! cases that keep it allow exactly that one.
//!
//! The requests are as axum delivers them: the request carries an extension
//! (`ConnectInfo`) and the handler's response a `content-type` header, so a layer that
//! adds one more extension or header writes into storage the request or response
//! already has, as it does in a real server; a bare `Request::new` would charge the
//! first extension's map to the layer.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures::FutureExt;
use http::{header, HeaderValue, Request, Response};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tollgate_breaker::{Breaker, BreakerLayer};
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer, RateLimiter};
use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer, TimeoutLayer, TimeoutPolicy};
use tollgate_drain::{Drain, DrainLayer};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::rate_limit::{AdmittedHeaders, PeerIp};
use tollgate_http::AsResponse;
use tollgate_leaky::{ShapeLayer, Shaper};
use tower::{Layer, Service};

#[global_allocator]
static HEAP: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The counts are process-wide, so the cases run one after another in one test: no
/// other test of this binary builds its layers, and the harness reports no other test,
/// while a case counts.
#[test]
fn no_admitted_path_allocates_more_than_it_must() {
    the_direct_rate_limit_allocates_nothing();
    the_keyed_rate_limit_allocates_nothing();
    the_rate_limit_headers_on_admitted_responses_allocate_nothing();
    the_shaper_admitting_at_once_allocates_nothing();
    the_closed_breaker_allocates_nothing();
    the_server_deadline_without_its_extension_allocates_nothing();
    the_server_deadline_allocates_only_its_extension();
    the_timeout_allocates_nothing();
    the_drain_counting_until_the_body_ends_allocates_nothing();
    the_whole_server_stack_allocates_only_the_deadline_extension();
}

const REQUESTS: usize = 1_000;

/// Far above any rate reached here: nothing is refused.
fn quota() -> Quota {
    Quota::with_period(1_000_000_000, Duration::from_secs(1))
        .build()
        .expect("a valid quota")
}

#[derive(Clone, Copy)]
struct Handler;

impl Service<Request<Body>> for Handler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        ready(Ok(response))
    }
}

fn request() -> Request<Body> {
    let peer: SocketAddr = "192.0.2.1:50000".parse().expect("an address");
    let mut req = Request::new(Body::empty());
    req.extensions_mut().insert(ConnectInfo(peer));
    req.headers_mut()
        .insert("grpc-timeout", HeaderValue::from_static("5S"));
    req
}

/// One whole request: ready, call, the response future to completion, the response
/// (and its body) dropped. Returns whether the handler's answer came back.
fn one<S, B>(svc: &mut S) -> bool
where
    S: Service<Request<Body>, Response = Response<B>>,
{
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => return false,
    }
    let req = request();
    matches!(
        svc.call(req).now_or_never(),
        Some(Ok(response)) if response.headers().contains_key(header::CONTENT_TYPE)
    )
}

/// Allocations made by `REQUESTS` requests through `svc`, after as many to warm it
/// (lazily built state, the key's first bucket, thread-locals).
fn allocations<S, B>(mut svc: S) -> usize
where
    S: Service<Request<Body>, Response = Response<B>>,
{
    for _ in 0..REQUESTS {
        assert!(one(&mut svc), "warm-up: every request is admitted");
    }
    let region = Region::new(HEAP);
    let mut admitted = 0;
    for _ in 0..REQUESTS {
        admitted += usize::from(one(&mut svc));
    }
    let allocations = region.change().allocations;
    assert_eq!(admitted, REQUESTS, "every request is admitted");
    allocations
}

/// `layered` allocates no more than the bare handler over the same requests.
fn assert_no_allocation<S, B>(name: &str, layered: S)
where
    S: Service<Request<Body>, Response = Response<B>>,
{
    assert_allocations_per_request(name, layered, 0);
}

/// `layered` allocates at most `allowed` times per request more than the bare handler.
fn assert_allocations_per_request<S, B>(name: &str, layered: S, allowed: usize)
where
    S: Service<Request<Body>, Response = Response<B>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _guard = rt.enter();
    let bare = allocations(Handler);
    let layer = allocations(layered);
    assert!(
        layer <= bare + allowed * REQUESTS,
        "{name}: {layer} allocations for {REQUESTS} admitted requests, against {bare} for \
         the bare handler: {} per request, {allowed} allowed",
        (layer - bare) as f64 / REQUESTS as f64
    );
}

fn the_direct_rate_limit_allocates_nothing() {
    let layer = RateLimitLayer::new(RateLimiter::new(quota())).refuse_with(AsResponse::new());
    assert_no_allocation("RateLimitLayer direct", layer.layer(Handler));
}

fn the_keyed_rate_limit_allocates_nothing() {
    let limiter = KeyedRateLimiter::builder(quota()).build().expect("valid");
    let layer = RateLimitLayer::keyed(limiter, PeerIp::new()).refuse_with(AsResponse::new());
    assert_no_allocation("RateLimitLayer keyed by peer IP", layer.layer(Handler));
}

fn the_rate_limit_headers_on_admitted_responses_allocate_nothing() {
    let limiter = KeyedRateLimiter::builder(quota()).build().expect("valid");
    let layer = RateLimitLayer::keyed(limiter, PeerIp::new()).refuse_with(AdmittedHeaders::new());
    assert_no_allocation("RateLimitLayer with AdmittedHeaders", layer.layer(Handler));
}

fn the_shaper_admitting_at_once_allocates_nothing() {
    let shaper = Shaper::builder(quota()).build().expect("valid");
    let layer = ShapeLayer::new(shaper).refuse_with(AsResponse::new());
    assert_no_allocation("ShapeLayer", layer.layer(Handler));
}

fn the_closed_breaker_allocates_nothing() {
    let breaker = Breaker::builder().build().expect("valid");
    let layer = BreakerLayer::new(breaker).refuse_with(AsResponse::new());
    assert_no_allocation("BreakerLayer", layer.layer(Handler));
}

fn server_deadline(headers: TimeoutHeaders) -> ServerDeadlineLayer<TimeoutHeaders, AsResponse> {
    let policy = DeadlinePolicy::builder()
        .margin(Duration::from_millis(5))
        .build()
        .expect("valid");
    ServerDeadlineLayer::new(policy)
        .propagate(headers)
        .refuse_with(AsResponse::new())
}

fn the_server_deadline_without_its_extension_allocates_nothing() {
    let layer = server_deadline(TimeoutHeaders::new().without_extension());
    assert_no_allocation(
        "ServerDeadlineLayer without extension",
        layer.layer(Handler),
    );
}

fn the_server_deadline_allocates_only_its_extension() {
    let layer = server_deadline(TimeoutHeaders::new());
    assert_allocations_per_request("ServerDeadlineLayer", layer.layer(Handler), 1);
}

fn the_timeout_allocates_nothing() {
    let policy = TimeoutPolicy::total(Duration::from_secs(1)).expect("valid");
    let layer = TimeoutLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsResponse::new());
    assert_no_allocation("TimeoutLayer", layer.layer(Handler));
}

fn the_drain_counting_until_the_body_ends_allocates_nothing() {
    let drain = Drain::builder().build().expect("default timings");
    let layer = DrainLayer::new(drain.clone())
        .refuse_with(AsResponse::new())
        .track_with(UntilBodyEnd);
    assert_no_allocation("DrainLayer until the body ends", layer.layer(Handler));
    assert_eq!(drain.snapshot().in_flight, 0, "every request ended");
}

/// Every layer on, the deadline's extension kept (the stack hands handlers
/// `Extension<Deadline>`).
fn the_whole_server_stack_allocates_only_the_deadline_extension() {
    let stack = tollgate_workspace::bench_server_stack(tollgate::KeySource::peer_ip());
    assert_allocations_per_request("ServerStack", stack.layer(Handler), 1);
}
