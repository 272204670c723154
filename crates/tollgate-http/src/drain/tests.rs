//! The drain with the HTTP face plugged in (`AsResponse`, `UntilBodyEnd`): a request
//! counts until its body ends or is dropped; the deadline cuts streams cleanly (gRPC
//! with `UNAVAILABLE` trailers); refusals and cuts are answered by the responder;
//! HTTP/1 responses carry `Connection: close` once the drain is announced. Paused
//! tokio time throughout.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Version};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tollgate_core::TokioClock;
use tollgate_drain::{Drain, DrainLayer, Phase, RequestGuard};
use tower::{service_fn, Layer, Service, ServiceExt};

use super::UntilBodyEnd;
use crate::{grpc, AsResponse};

fn drain(propagation_ms: u64, deadline_ms: u64) -> Drain {
    Drain::builder()
        .propagation_delay(Duration::from_millis(propagation_ms))
        .deadline(Duration::from_millis(deadline_ms))
        .clock(TokioClock::new())
        .build()
        .unwrap()
}

fn layer(drain: &Drain) -> DrainLayer<AsResponse, UntilBodyEnd> {
    DrainLayer::new(drain.clone())
        .refuse_with(AsResponse::new())
        .track_with(UntilBodyEnd)
}

/// Keeps a drain in closing: one request that never ends, and a driver.
async fn closing(drain: &Drain) -> RequestGuard {
    let held = drain.enter().unwrap();
    tokio::spawn(drain.clone().run());
    drain.start();
    drain.closing().await;
    held
}

fn grpc_request() -> Request<()> {
    Request::builder()
        .version(Version::HTTP_2)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .body(())
        .unwrap()
}

/// A server-sent-events-like body: one event every `every`, forever, or until the
/// drain closes when given one (the "told to finish" signal). The default (what a
/// refusal carries) is empty.
#[derive(Default)]
struct Ticks {
    interval: Option<tokio::time::Interval>,
    finish: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl Body for Ticks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(finish) = self.finish.as_mut() {
            if finish.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        let Some(interval) = self.interval.as_mut() else {
            return Poll::Ready(None);
        };
        interval
            .poll_tick(cx)
            .map(|_| Some(Ok(Frame::data(Bytes::from_static(b"data: tick\n\n")))))
    }
}

fn ticks(every_ms: u64, finish: Option<&Drain>) -> Ticks {
    Ticks {
        interval: Some(tokio::time::interval(Duration::from_millis(every_ms))),
        finish: finish.map(|d| Box::pin(d.closing()) as Pin<Box<_>>),
    }
}

/// Reads a body to its end: data frames, and the trailers if any.
async fn read<B: Body<Data = Bytes> + Unpin>(mut body: B) -> (usize, Option<HeaderMap>)
where
    B::Error: std::fmt::Debug,
{
    let (mut events, mut trailers) = (0, None);
    while let Some(frame) = body.frame().await {
        match frame.unwrap().into_data() {
            Ok(_) => events += 1,
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    assert!(body.is_end_stream());
    (events, trailers)
}

#[tokio::test(start_paused = true)]
async fn a_request_counts_until_its_body_is_fully_sent() {
    let drain = drain(0, 1_000);
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    }));
    let response = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(
        drain.snapshot().in_flight,
        1,
        "the handler returned, the body is not sent"
    );
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "hello");
    assert!(body.frame().await.is_none());
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn an_endless_grpc_stream_is_cut_cleanly_at_the_deadline_with_unavailable() {
    let drain = drain(100, 1_000);
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ticks(300, None)))
    }));
    let body = svc.oneshot(grpc_request()).await.unwrap().into_body();
    let reader = tokio::spawn(async move {
        let mut body = body;
        let read = read(&mut body).await;
        assert!(body.was_cut());
        read
    });
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!((report.finished(), report.cut()), (0, 1));
    let (events, trailers) = reader.await.unwrap();
    // Ticks at 0, 300, 600 and 900 ms; cut at 1 000 ms, between two events.
    assert_eq!(events, 4);
    let trailers = trailers.expect("cut trailers");
    assert_eq!(grpc::status(&trailers), Some(grpc::UNAVAILABLE));
    assert_eq!(trailers[grpc::MESSAGE], "server is draining");
    assert!(trailers.get(http::header::CONTENT_TYPE).is_none());
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn an_endless_http_stream_is_cut_at_a_frame_boundary_without_trailers() {
    let drain = drain(100, 1_000);
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ticks(300, None)))
    }));
    let body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    let reader = tokio::spawn(read(body));
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(report.cut(), 1);
    assert_eq!(reader.await.unwrap(), (4, None));
}

#[tokio::test(start_paused = true)]
async fn a_stream_told_to_finish_at_closing_finishes_instead_of_being_cut() {
    let drain = drain(500, 5_000);
    let d = drain.clone();
    let svc = layer(&drain).layer(service_fn(move |_: Request<()>| {
        let d = d.clone();
        async move { Ok::<_, Infallible>(Response::new(ticks(200, Some(&d)))) }
    }));
    let body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    let reader = tokio::spawn(body.collect());
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!((report.finished(), report.cut()), (1, 0));
    assert_eq!(report.done_after(), Duration::from_millis(500));
    let text = reader.await.unwrap().unwrap().to_bytes();
    assert_eq!(text.len(), 3 * b"data: tick\n\n".len()); // 0, 200, 400 ms
}

#[tokio::test(start_paused = true)]
async fn a_dropped_body_ends_its_request() {
    let drain = drain(0, 1_000);
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ticks(10, None)))
    }));
    let body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    assert!(body.watch().is_some_and(|w| !w.guard().is_cut()));
    assert_eq!(drain.phase(), Phase::Serving);
    assert_eq!(drain.snapshot().in_flight, 1);
    drop(body); // the client went away mid-stream
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn http1_responses_carry_connection_close_from_the_announce_on() {
    let drain = drain(1_000, 5_000);
    let mut svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("ok")))
    }));
    let serving = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert!(serving.headers().get("connection").is_none());
    tokio::spawn(drain.clone().run());
    drain.start();
    drain.announced().await;
    let announced = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(announced.status(), 200, "still served");
    assert_eq!(announced.headers()["connection"], "close");
    let http2 = Request::builder()
        .version(Version::HTTP_2)
        .body(())
        .unwrap();
    let announced_h2 = svc.oneshot(http2).await.unwrap();
    assert!(announced_h2.headers().get("connection").is_none());
}

#[tokio::test(start_paused = true)]
async fn refusals_are_503_with_connection_close_on_http1_only() {
    let drain = drain(0, 1_000);
    let _held = closing(&drain).await;
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("never")))
    }));
    let refused = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["connection"], "close");
    assert!(refused.body().watch().is_none(), "a refusal counts nothing");
    let http2 = Request::builder()
        .version(Version::HTTP_2)
        .body(())
        .unwrap();
    let refused_h2 = svc.oneshot(http2).await.unwrap();
    assert_eq!(refused_h2.status(), 503);
    assert!(refused_h2.headers().get("connection").is_none());
    assert_eq!(drain.snapshot().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn a_grpc_refusal_is_trailers_only_unavailable() {
    let drain = drain(0, 1_000);
    let _held = closing(&drain).await;
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("never")))
    }));
    let refused = svc.oneshot(grpc_request()).await.unwrap();
    assert_eq!(refused.status(), 200);
    assert_eq!(grpc::status(refused.headers()), Some(grpc::UNAVAILABLE));
    assert!(refused.headers().get(grpc::RETRY_PUSHBACK_MS).is_none());
    assert!(refused.headers().get("connection").is_none());
}

// Regression: the face used to downcast the drain crate's `BoxError` to find the
// rejection of a cut handler; the cut now goes through the responder directly.
#[tokio::test(start_paused = true)]
async fn a_handler_cut_at_the_deadline_is_answered_by_the_responder() {
    let drain = drain(100, 1_000);
    let svc = layer(&drain).layer(service_fn(|_: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let call = tokio::spawn(svc.oneshot(Request::new(())));
    tokio::task::yield_now().await;
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(report.cut(), 1);
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(drain.snapshot().in_flight, 0);
}
