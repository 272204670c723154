//! End to end over loopback: a real axum upstream that can fail or slow down, a hyper
//! client behind the breaker. The breaker runs on a manual clock, so its open wait is
//! crossed by advancing time, not by sleeping; the server counts every request it sees.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_breaker::{Breaker, BreakerLayer, State, TransitionReason};
use tollgate_core::{BoxError, ManualClock, Reason, Rejection};
use tollgate_http::breaker::HttpClassifier;
use tollgate_http::AsResponse;
use tower::{ServiceBuilder, ServiceExt};

const OK: u8 = 0;
const FAIL: u8 = 1;
const SLOW: u8 = 2;

#[derive(Clone, Default)]
struct Upstream {
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicU32>,
}

async fn handler(AxumState(up): AxumState<Upstream>) -> StatusCode {
    up.hits.fetch_add(1, Ordering::SeqCst);
    match up.mode.load(Ordering::SeqCst) {
        FAIL => StatusCode::INTERNAL_SERVER_ERROR,
        SLOW => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            StatusCode::OK
        }
        _ => StatusCode::OK,
    }
}

async fn start_upstream() -> (Upstream, String) {
    let upstream = Upstream::default();
    let app = Router::new()
        .route("/", get(handler))
        .with_state(upstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (upstream, url)
}

#[tokio::test]
async fn closed_open_half_open_closed_and_nothing_reaches_the_upstream_while_open() {
    let (upstream, url) = start_upstream().await;
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .name("upstream")
        .consecutive_failures(3)
        .failure_rate(50.0)
        .minimum_calls(4)
        .open_wait(Duration::from_secs(10))
        .half_open(1, 2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut transitions = breaker.subscribe();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()).classifier(HttpClassifier::new()))
        // A per-try timeout inside the breaker: its expiry is a slow failure.
        .timeout(Duration::from_millis(200))
        .service(client);
    let call = || {
        let svc = svc.clone();
        let req = http::Request::get(&url).body(Empty::new()).unwrap();
        async move {
            let response = svc.oneshot(req).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, BoxError>(status)
        }
    };
    let hits = || upstream.hits.load(Ordering::SeqCst);

    // Closed and healthy.
    for _ in 0..3 {
        assert_eq!(call().await.unwrap(), StatusCode::OK);
    }
    assert_eq!((breaker.state(), hits()), (State::Closed, 3));

    // The upstream slows down: each call times out, which counts as a failure.
    upstream.mode.store(SLOW, Ordering::SeqCst);
    let err = call().await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    assert_eq!(breaker.snapshot().slow_calls, 1);

    // Then it fails outright: three failures in a row open the breaker.
    upstream.mode.store(FAIL, Ordering::SeqCst);
    assert_eq!(call().await.unwrap(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(call().await.unwrap(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(hits(), 6);
    let opened = *transitions.borrow_and_update();
    assert_eq!((opened.from, opened.to), (State::Closed, State::Open));
    assert_eq!(
        opened.reason,
        TransitionReason::ConsecutiveFailures { count: 3 }
    );

    // Open: every call is refused at once and none reaches the upstream.
    for _ in 0..20 {
        let err = call().await.unwrap_err();
        let rejection = err
            .downcast_ref::<Rejection>()
            .expect("refused by the breaker");
        assert_eq!(rejection.reason(), Reason::CircuitOpen);
        assert!(rejection.retry_after().unwrap() <= Duration::from_secs(10));
    }
    assert_eq!(hits(), 6, "no request reached the upstream while open");

    // The upstream recovers; after the open wait the breaker probes.
    upstream.mode.store(OK, Ordering::SeqCst);
    clock.advance(Duration::from_secs(10));
    assert_eq!(call().await.unwrap(), StatusCode::OK);
    assert_eq!(transitions.borrow_and_update().to, State::HalfOpen);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one of two probes succeeded"
    );
    assert_eq!(call().await.unwrap(), StatusCode::OK);
    assert_eq!(breaker.state(), State::Closed);
    let closed = *transitions.borrow_and_update();
    assert_eq!(
        closed.reason,
        TransitionReason::ProbesSucceeded { successes: 2 }
    );
    assert_eq!(hits(), 8);
    let s = breaker.snapshot();
    assert_eq!((s.transitions, s.admitted, s.rejected), (3, 8, 20));
}

#[tokio::test]
async fn an_axum_router_behind_the_server_layer_answers_503_with_retry_after() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .name("handlers")
        .no_failure_rate()
        .consecutive_failures(2)
        .open_wait(Duration::from_millis(2500))
        .clock(clock.clone())
        .build()
        .unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new()
        .route(
            "/",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::BAD_GATEWAY }
            }),
        )
        .layer(
            BreakerLayer::new(breaker.clone())
                .classifier(HttpClassifier::new())
                .refuse_with(AsResponse::new()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = || client.get(url.parse().unwrap());
    assert_eq!(get().await.unwrap().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(get().await.unwrap().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(breaker.state(), State::Open);
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "3", "2.5 s rounded up");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the handler was not called while open"
    );
}
