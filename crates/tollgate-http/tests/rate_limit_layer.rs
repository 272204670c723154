//! The rate-limit layer under tower-test mocks and paused tokio time: exact decisions,
//! readiness pass-through, wait mode and its cancellation, and the responses.

use std::convert::Infallible;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::{Request, Response, StatusCode};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tollgate_bucket::{KeyedRateLimiter, MissingKey, Quota, RateLimitLayer, RateLimiter};
use tollgate_core::{Clock, ManualClock, Rejection, TokioClock};
use tollgate_http::rate_limit::{insert_rejected, AdmittedHeaders, HeaderKey};
use tollgate_http::{AsResponse, DefaultResponder, Protocol, RejectionResponder};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

type Req = Request<()>;
type Resp = Response<String>;

fn ok() -> Resp {
    Response::new("ok".to_owned())
}

fn direct<C: Clock>(count: u32, burst: u32, clock: C) -> RateLimiter<C> {
    RateLimiter::builder(Quota::per_second(count).burst(burst).unwrap())
        .clock(clock)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn reject_mode_decides_in_call_and_never_reaches_the_inner_service() {
    let layer =
        RateLimitLayer::new(direct(10, 2, TokioClock::new())).refuse_with(AsResponse::new());
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Resp, _>(layer);

    for _ in 0..2 {
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(Request::new(()));
        let (_, send) = handle.next_request().await.expect("forwarded");
        send.send_response(ok());
        assert_eq!(fut.await.unwrap().status(), StatusCode::OK);
    }
    assert_ready_ok!(svc.poll_ready());
    let refused = svc.call(Request::new(())).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"default\";q=10;w=1"
    );
    assert_eq!(refused.headers()["ratelimit"], "\"default\";r=0;t=1");
    assert!(
        handle.poll_request().is_pending(),
        "the refusal never reached the inner service"
    );

    // 100 ms later exactly one cell is back.
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(Request::new(()));
    handle.next_request().await.unwrap().1.send_response(ok());
    assert_eq!(fut.await.unwrap().status(), StatusCode::OK);
    assert_ready_ok!(svc.poll_ready());
    let refused = svc.call(Request::new(())).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through_to_the_inner_service() {
    let layer =
        RateLimitLayer::new(direct(10, 1, TokioClock::new())).refuse_with(AsResponse::new());
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Resp, _>(layer);
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready_ok!(svc.poll_ready());
    // The bucket being empty never makes the service unready: axum sees it ready.
    let _first = svc.call(Request::new(()));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn wait_mode_waits_inside_the_future_up_to_the_maximum() {
    // One cell every 100 ms, burst 1; wait at most 250 ms.
    let layer = RateLimitLayer::new(direct(10, 1, TokioClock::new()))
        .refuse_with(AsResponse::new())
        .max_wait(Duration::from_millis(250));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Resp, _>(layer);
    handle.allow(10);

    assert_ready_ok!(svc.poll_ready());
    let mut first = tokio_test::task::spawn(svc.call(Request::new(())));
    handle.next_request().await.unwrap().1.send_response(ok());
    assert_eq!(
        assert_ready!(first.poll()).unwrap().status(),
        StatusCode::OK
    );

    assert_ready_ok!(svc.poll_ready());
    let mut second = tokio_test::task::spawn(svc.call(Request::new(())));
    assert_ready_ok!(svc.poll_ready());
    let mut third = tokio_test::task::spawn(svc.call(Request::new(())));
    assert_pending!(second.poll());
    assert_pending!(third.poll());
    assert!(
        handle.poll_request().is_pending(),
        "nobody runs before their slot"
    );

    // The fourth would wait 300 ms: refused at once, told to come back when it fits.
    assert_ready_ok!(svc.poll_ready());
    let refused = svc.call(Request::new(())).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");

    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(second.is_woken());
    assert_pending!(second.poll());
    handle.next_request().await.unwrap().1.send_response(ok());
    assert_eq!(
        assert_ready!(second.poll()).unwrap().status(),
        StatusCode::OK
    );
    assert_pending!(third.poll());

    tokio::time::advance(Duration::from_millis(100)).await;
    assert_pending!(third.poll());
    handle.next_request().await.unwrap().1.send_response(ok());
    assert_eq!(
        assert_ready!(third.poll()).unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_gives_its_slot_back() {
    let clock = TokioClock::new();
    let limiter = direct(10, 1, clock.clone());
    let layer = RateLimitLayer::new(limiter.clone())
        .refuse_with(AsResponse::new())
        .max_wait(Duration::from_secs(1));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Resp, _>(layer);
    handle.allow(10);

    assert_ready_ok!(svc.poll_ready());
    let first = svc.call(Request::new(()));
    handle.next_request().await.unwrap().1.send_response(ok());
    first.await.unwrap();

    // A waiter for the slot at +100 ms gives up at +50 ms.
    assert_ready_ok!(svc.poll_ready());
    let mut quitter = tokio_test::task::spawn(svc.call(Request::new(())));
    assert_pending!(quitter.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    drop(quitter);

    // The slot at +100 ms is free again: the next waiter gets it, 50 ms away.
    assert_ready_ok!(svc.poll_ready());
    let mut next = tokio_test::task::spawn(svc.call(Request::new(())));
    assert_pending!(next.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_pending!(next.poll());
    handle.next_request().await.unwrap().1.send_response(ok());
    assert_eq!(assert_ready!(next.poll()).unwrap().status(), StatusCode::OK);
    // Had the quitter kept its slot, the bucket would be empty until +200 ms.
    let now = limiter.clock().now();
    assert!(limiter.check_at(1, now).is_err());
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(limiter.check_at(1, limiter.clock().now()).is_ok());
}

#[tokio::test]
async fn grpc_requests_get_resource_exhausted_with_pushback() {
    let clock = ManualClock::new();
    let svc = tower::service_fn(|_: Req| async { Ok::<_, Infallible>(ok()) });
    let mut svc = RateLimitLayer::new(direct(4, 1, clock))
        .refuse_with(AsResponse::new())
        .layer(svc);
    let grpc = || {
        Request::post("/pkg.Service/Method")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    };
    assert_eq!(
        svc.ready()
            .await
            .unwrap()
            .call(grpc())
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = svc.ready().await.unwrap().call(grpc()).await.unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::OK,
        "trailers-only gRPC response"
    );
    assert_eq!(refused.headers()["grpc-status"], "8");
    assert_eq!(refused.headers()["grpc-retry-pushback-ms"], "250");
    assert!(refused.headers().get("ratelimit").is_none());
}

#[tokio::test]
async fn admitted_responses_carry_the_headers_when_asked() {
    let clock = ManualClock::new();
    let svc = tower::service_fn(|_: Req| async { Ok::<_, Infallible>(ok()) });
    let limiter = RateLimiter::builder(Quota::per_second(2).burst(2).unwrap())
        .name("api")
        .clock(clock)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(limiter).refuse_with(AdmittedHeaders::new());
    let mut svc = layer.layer(svc);
    let resp = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(resp.headers()["ratelimit-policy"], "\"api\";q=2;w=1");
    assert_eq!(resp.headers()["ratelimit"], "\"api\";r=1;t=1");
    assert_eq!(resp.body(), "ok");

    // A responder that leaves the headers out: the layer adds nothing of its own.
    let bare = |rejection: &Rejection, protocol: Protocol| {
        let mut response: Resp = DefaultResponder.respond(rejection, protocol);
        response.headers_mut().remove("ratelimit-policy");
        response.headers_mut().remove("ratelimit");
        response
    };
    let mut quiet = RateLimitLayer::new(direct(2, 2, ManualClock::new()))
        .refuse_with(AsResponse::with(bare))
        .layer(tower::service_fn(|_: Req| async {
            Ok::<_, Infallible>(ok())
        }));
    for _ in 0..2 {
        let resp = quiet
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap();
        assert!(resp.headers().get("ratelimit").is_none());
    }
    let refused = quiet
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.headers().get("ratelimit-policy").is_none());
}

#[tokio::test]
async fn a_custom_responder_builds_the_refusal_and_may_add_the_headers() {
    let custom = |rejection: &Rejection, _: Protocol| {
        let mut response = Response::builder()
            .status(tollgate_http::status_code(rejection.reason()))
            .body(format!("slow down: {rejection}"))
            .unwrap();
        insert_rejected(response.headers_mut(), rejection);
        response
    };
    let svc = tower::service_fn(|_: Req| async { Ok::<_, Infallible>(ok()) });
    let mut svc = RateLimitLayer::new(direct(1, 1, ManualClock::new()))
        .refuse_with(AsResponse::with(custom))
        .layer(svc);
    svc.ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    let refused = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(
        refused.body().starts_with("slow down: rate limited"),
        "{}",
        refused.body()
    );
    assert_eq!(refused.headers()["ratelimit"], "\"default\";r=0;t=1");
}

fn keyed(
    clock: ManualClock,
) -> KeyedRateLimiter<tollgate_http::rate_limit::HeaderValueKey, ManualClock> {
    KeyedRateLimiter::builder(Quota::per_minute(1).build().unwrap())
        .max_keys(16)
        .shards(1) // the bound holds per shard: one shard makes it exact
        .clock(clock)
        .build()
        .unwrap()
}

#[tokio::test]
async fn missing_keys_are_refused_or_share_the_default_bucket() {
    let with_key = |k: &str| Request::get("/").header("x-api-key", k).body(()).unwrap();
    let handler = tower::service_fn(|_: Req| async { Ok::<_, Infallible>(ok()) });

    let limiter = keyed(ManualClock::new());
    let mut strict = RateLimitLayer::keyed(limiter.clone(), HeaderKey::new("x-api-key").unwrap())
        .refuse_with(AsResponse::new())
        .layer(handler);
    let resp = strict
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(limiter.is_empty(), "a keyless request makes no bucket");
    let resp = strict
        .ready()
        .await
        .unwrap()
        .call(with_key("a"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let limiter = keyed(ManualClock::new());
    let anonymous = http::HeaderValue::from_static("anonymous").into();
    let mut lenient = RateLimitLayer::keyed(limiter.clone(), HeaderKey::new("x-api-key").unwrap())
        .on_missing_key(MissingKey::Bucket(anonymous))
        .refuse_with(AsResponse::new())
        .layer(handler);
    let statuses = [
        lenient
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap()
            .status(),
        lenient
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap()
            .status(),
        lenient
            .ready()
            .await
            .unwrap()
            .call(with_key("a"))
            .await
            .unwrap()
            .status(),
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK
        ]
    );
    assert_eq!(limiter.len(), 2);
}

// `PathKey::route` reads axum's `MatchedPath`: feature `axum`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn on_an_axum_router_matched_routes_share_a_bucket_and_errors_are_infallible() {
    let limiter = KeyedRateLimiter::builder(Quota::per_minute(2).build().unwrap())
        .max_keys(16)
        .shards(1) // the bound holds per shard: one shard makes it exact
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "up" }))
        .layer(
            RateLimitLayer::keyed(limiter.clone(), tollgate_http::rate_limit::PathKey::route())
                .refuse_with(AsResponse::new()),
        );
    let get_status = |path: &'static str| {
        let app = app.clone();
        async move {
            let resp: Result<_, Infallible> = app
                .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
                .await;
            resp.unwrap().status()
        }
    };
    assert_eq!(get_status("/users/1").await, 200);
    assert_eq!(get_status("/users/2").await, 200);
    assert_eq!(
        get_status("/users/3").await,
        429,
        "one bucket for the route template"
    );
    assert_eq!(get_status("/health").await, 200);
    // Unrouted paths have no matched route: no key, refused with 400.
    assert_eq!(get_status("/nowhere").await, 400);
    assert_eq!(limiter.len(), 2);
}

#[tokio::test]
async fn a_closure_picks_the_bucket() {
    use axum::body::Body;
    let limiter = KeyedRateLimiter::builder(Quota::per_minute(1).build().unwrap())
        .max_keys(16)
        .shards(1) // the bound holds per shard: one shard makes it exact
        .clock(ManualClock::new())
        .build()
        .unwrap();
    // One bucket per tenant, from the first path segment.
    let tenant = |req: &Request<Body>| {
        req.uri()
            .path()
            .split('/')
            .nth(1)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let app = Router::new()
        .route("/{tenant}/orders", get(|| async { "orders" }))
        .layer(RateLimitLayer::keyed(limiter.clone(), tenant).refuse_with(AsResponse::new()));
    let mut statuses = Vec::new();
    for path in ["/acme/orders", "/acme/orders", "/globex/orders"] {
        let req = Request::get(path).body(Body::empty()).unwrap();
        statuses.push(app.clone().oneshot(req).await.unwrap().status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK
        ]
    );
    assert_eq!(limiter.len(), 2);
}
