//! The HTTP and gRPC faces of the breaker: classification by status and by trailers,
//! the server's 503, the client's typed rejection and tonic status.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tollgate_breaker::{Breaker, BreakerLayer, State};
use tollgate_core::{ManualClock, Reason, Rejection};
use tollgate_http::breaker::{GrpcClassifier, HttpClassifier};
use tollgate_http::{grpc, AsResponse};
use tower::{service_fn, ServiceBuilder, ServiceExt};

fn breaker(failures: u32) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .name("upstream")
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(Duration::from_millis(1500))
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    (breaker, clock)
}

fn status(code: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn http_statuses_are_classified_and_429_is_configurable() {
    let (b, _) = breaker(2);
    let upstream = service_fn(|req: Request<()>| async move {
        let code: u16 = req.uri().path()[1..].parse().unwrap();
        Ok::<_, Infallible>(status(code))
    });
    let call = |layer: BreakerLayer<Breaker<ManualClock>, HttpClassifier>, code: u16| {
        let svc = ServiceBuilder::new().layer(layer).service(upstream);
        async move {
            let req = Request::get(format!("/{code}")).body(()).unwrap();
            svc.oneshot(req).await
        }
    };
    let layer = BreakerLayer::new(b.clone()).classifier(HttpClassifier::new());
    for code in [404, 500, 429, 503, 200] {
        call(layer.clone(), code).await.unwrap();
    }
    assert_eq!(b.snapshot().failures, 2);
    assert_eq!(b.state(), State::Closed, "the 429 broke the run of 5xx");
    let strict = layer.classifier(HttpClassifier::new().failing_on_429(true));
    call(strict.clone(), 429).await.unwrap();
    call(strict.clone(), 502).await.unwrap();
    assert_eq!(b.state(), State::Open);
    let err = call(strict, 200).await.unwrap_err();
    let r = err.downcast_ref::<Rejection>().expect("a rejection");
    assert_eq!(
        (r.reason(), r.name()),
        (Reason::CircuitOpen, Some("upstream"))
    );
}

type Frames = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// A streaming gRPC response: headers say nothing, the trailers carry the status.
fn grpc_stream(code: &'static str) -> Response<StreamBody<Frames>> {
    let mut trailers = HeaderMap::new();
    trailers.insert(grpc::STATUS, HeaderValue::from_static(code));
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"message"))),
        Ok(Frame::trailers(trailers)),
    ];
    Response::builder()
        .header(http::header::CONTENT_TYPE, grpc::CONTENT_TYPE)
        .body(StreamBody::new(futures::stream::iter(frames)))
        .unwrap()
}

#[tokio::test]
async fn grpc_status_in_trailers_is_classified_when_the_stream_ends() {
    let (b, clock) = breaker(1);
    let svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(b.clone()).classifier(GrpcClassifier::new()))
        .service(service_fn(|req: Request<()>| async move {
            let code = if req.uri().path() == "/fail" {
                "14"
            } else {
                "0"
            };
            Ok::<_, Infallible>(grpc_stream(code))
        }));
    let ok = svc
        .clone()
        .oneshot(Request::get("/ok").body(()).unwrap())
        .await
        .unwrap();
    ok.into_body().collect().await.unwrap();
    let failing = svc
        .clone()
        .oneshot(Request::get("/fail").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        b.state(),
        State::Closed,
        "nothing is known before the trailers"
    );
    let collected = failing.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()[grpc::STATUS], "14");
    assert_eq!(b.state(), State::Open);

    // Half-open: a probe whose body is dropped before its trailers gives its permit back.
    clock.advance(Duration::from_millis(1500));
    let probe = svc
        .clone()
        .oneshot(Request::get("/ok").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(b.snapshot().probes_in_flight, 1);
    drop(probe);
    assert_eq!(b.snapshot().probes_in_flight, 0);
    let probe = svc
        .oneshot(Request::get("/ok").body(()).unwrap())
        .await
        .unwrap();
    probe.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn grpc_codes_are_configurable() {
    use tollgate_breaker::Outcome;
    let mut headers = HeaderMap::new();
    let c = GrpcClassifier::new();
    for (code, outcome) in [
        ("0", Outcome::Success),
        ("4", Outcome::Timeout),
        ("8", Outcome::Failure),
        ("13", Outcome::Failure),
        ("14", Outcome::Failure),
        ("3", Outcome::Success),
    ] {
        headers.insert(grpc::STATUS, HeaderValue::from_static(code));
        assert_eq!(
            c.classify_head(StatusCode::OK, &headers),
            Some(outcome),
            "code {code}"
        );
    }
    let c = c.with_code(13, false).with_code(2, true);
    headers.insert(grpc::STATUS, HeaderValue::from_static("13"));
    assert_eq!(c.classify_trailers(Some(&headers)), Outcome::Success);
    headers.insert(grpc::STATUS, HeaderValue::from_static("2"));
    assert_eq!(c.classify_trailers(Some(&headers)), Outcome::Failure);
    assert_eq!(
        c.classify_trailers(None),
        Outcome::Failure,
        "no status at all"
    );
    assert_eq!(
        c.classify_head(StatusCode::BAD_GATEWAY, &HeaderMap::new()),
        Some(Outcome::Failure)
    );
    // A malformed status in the headers decides too: a failure, not a wait for trailers.
    headers.insert(grpc::STATUS, HeaderValue::from_static("x"));
    assert_eq!(
        c.classify_head(StatusCode::OK, &headers),
        Some(Outcome::Failure)
    );
}

#[tokio::test]
async fn the_server_layer_answers_503_with_retry_after_and_grpc_in_kind() {
    let (b, clock) = breaker(1);
    let svc = ServiceBuilder::new()
        .layer(
            BreakerLayer::new(b.clone())
                .classifier(HttpClassifier::new())
                .refuse_with(AsResponse::new()),
        )
        .service(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(status(500))
        }));
    let first = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    clock.advance(Duration::from_millis(200));
    let refused = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "2", "1.3 s rounded up");
    let request = Request::builder()
        .header(http::header::CONTENT_TYPE, grpc::CONTENT_TYPE)
        .body(())
        .unwrap();
    let refused = svc.oneshot(request).await.unwrap();
    assert_eq!(refused.status(), StatusCode::OK);
    assert_eq!(refused.headers()[grpc::STATUS], "14");
    assert_eq!(refused.headers()[grpc::RETRY_PUSHBACK_MS], "1300");
}

#[cfg(feature = "tonic")]
#[tokio::test]
async fn tonic_clients_get_unavailable_with_pushback() {
    let (b, _) = breaker(1);
    b.try_acquire()
        .unwrap()
        .record(tollgate_breaker::Outcome::Failure);
    let svc = ServiceBuilder::new()
        .layer(
            BreakerLayer::new(b)
                .classifier(GrpcClassifier::new())
                .refuse_with(tollgate_http::AsStatus),
        )
        .service(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(grpc_stream("0"))
        }));
    let err = svc.oneshot(Request::new(())).await.unwrap_err();
    let status = err.downcast_ref::<tonic::Status>().expect("a tonic status");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        status.metadata().get(grpc::RETRY_PUSHBACK_MS_KEY).unwrap(),
        "1500"
    );
}

#[tokio::test]
async fn a_grpc_stream_that_fails_or_ends_without_a_status_is_a_failure() {
    type Broken = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;
    let (b, _) = breaker(2);
    let svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(b.clone()).classifier(GrpcClassifier::new()))
        .service(service_fn(|req: Request<()>| async move {
            let mut frames = vec![Ok(Frame::data(Bytes::from_static(b"message")))];
            if req.uri().path() == "/error" {
                frames.push(Err(std::io::Error::other("reset")));
            }
            let body: StreamBody<Broken> = StreamBody::new(futures::stream::iter(frames));
            Ok::<_, Infallible>(
                Response::builder()
                    .header(http::header::CONTENT_TYPE, grpc::CONTENT_TYPE)
                    .body(body)
                    .unwrap(),
            )
        }));
    let response = svc
        .clone()
        .oneshot(Request::get("/error").body(()).unwrap())
        .await
        .unwrap();
    assert!(response.into_body().collect().await.is_err());
    assert_eq!((b.snapshot().failures, b.state()), (1, State::Closed));
    let response = svc
        .oneshot(Request::get("/no-trailers").body(()).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Open, "no status at the end: a failure");
}
