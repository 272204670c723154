//! The shaper with the HTTP face's refusals and feedback, on tokio's paused clock.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_core::{Quota, TokioClock};
use tollgate_leaky::{ShapeLayer, Shaper};
use tower::{service_fn, Layer, Service, ServiceExt};

use super::TrailerFeedback;
use crate::body::WatchedBody;
use crate::{grpc, AsResponse};

fn handler(
) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(|_: Request<()>| async { Ok(Response::new(String::from("ok"))) })
}

fn ten_per_second() -> tollgate_leaky::ShaperBuilder {
    Shaper::builder(Quota::per_second(10).burst(1).unwrap())
}

#[tokio::test(start_paused = true)]
async fn grpc_requests_are_refused_with_a_status_and_pushback() {
    let shaper = ten_per_second()
        .max_wait(Duration::from_millis(50))
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let mut server = ShapeLayer::new(shaper)
        .refuse_with(AsResponse::new())
        .layer(handler());
    let grpc = || {
        Request::builder()
            .header(http::header::CONTENT_TYPE, grpc::CONTENT_TYPE)
            .body(())
            .unwrap()
    };
    let first = server.ready().await.unwrap().call(grpc());
    let refused = server.ready().await.unwrap().call(grpc()).await.unwrap();
    assert_eq!(refused.status(), 200, "trailers-only");
    assert_eq!(
        grpc::status(refused.headers()),
        Some(grpc::RESOURCE_EXHAUSTED)
    );
    // Would wait 100 ms with 50 ms allowed: fits 50 ms later.
    assert_eq!(refused.headers()[grpc::RETRY_PUSHBACK_MS], "50");
    assert_eq!(first.await.unwrap().body(), "ok");
}

#[tokio::test(start_paused = true)]
async fn admitted_requests_wait_their_turn() {
    let clock = TokioClock::new();
    let shaper = ten_per_second().clock(clock.clone()).build().unwrap();
    let server = ShapeLayer::new(shaper)
        .refuse_with(AsResponse::new())
        .layer(handler());
    let start = tollgate_core::Clock::now(&clock);
    for _ in 0..3 {
        let response = server.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        tollgate_core::Clock::now(&clock) - start,
        Duration::from_millis(200)
    );
}

#[tokio::test(start_paused = true)]
async fn trailers_feed_the_shaper_once_and_other_endings_say_nothing() {
    let shaper = ten_per_second().clock(TokioClock::new()).build().unwrap();
    let observe_trailers = |response: Response<_>, shaper: &Shaper<TokioClock>| {
        let watch = TrailerFeedback::new(shaper.verdict().defer());
        response.map(|body| WatchedBody::new(body, watch))
    };
    let with_trailers = |code: u8, pushback: u64| {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(grpc::STATUS, grpc::code_value(code));
        trailers.insert(grpc::RETRY_PUSHBACK_MS, pushback.into());
        Full::new(bytes::Bytes::from_static(b"reply"))
            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) })
    };
    // An OK status in the trailers: no pause.
    let ok = observe_trailers(Response::new(with_trailers(grpc::OK, 900)), &shaper);
    ok.into_body().collect().await.unwrap();
    assert_eq!(shaper.snapshot().paused_for, Duration::ZERO);
    // A body dropped before its trailers: nothing either.
    let dropped = observe_trailers(
        Response::new(with_trailers(grpc::RESOURCE_EXHAUSTED, 900)),
        &shaper,
    );
    drop(dropped);
    assert_eq!(shaper.snapshot().paused_for, Duration::ZERO);
    // RESOURCE_EXHAUSTED with a pushback: paused for exactly that long.
    let pushed = observe_trailers(
        Response::new(with_trailers(grpc::RESOURCE_EXHAUSTED, 700)),
        &shaper,
    );
    let collected = pushed.into_body().collect().await.unwrap();
    assert_eq!(shaper.snapshot().paused_for, Duration::from_millis(700));
    // The frames pass through unchanged.
    assert_eq!(
        grpc::status(collected.trailers().unwrap()),
        Some(grpc::RESOURCE_EXHAUSTED)
    );
}
