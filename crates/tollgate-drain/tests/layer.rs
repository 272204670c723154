//! The tower layer: a request counts until its body ends or is dropped; refusals
//! never reach the inner service; the deadline cuts pending handlers and streams
//! cleanly. Paused tokio time throughout.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tokio_test::{assert_pending, assert_ready};
use tollgate_core::{Reason, Rejection};
use tollgate_drain::{Drain, DrainBody, InFlightLayer, Phase};
use tower::{service_fn, Layer, ServiceExt};

fn drain(propagation_ms: u64, deadline_ms: u64) -> Drain {
    Drain::builder()
        .propagation_delay(Duration::from_millis(propagation_ms))
        .deadline(Duration::from_millis(deadline_ms))
        .build()
        .unwrap()
}

/// A server-sent-events-like body: one event every `every`, forever, or until the
/// drain closes when given one (the "told to finish" signal).
struct Ticks {
    interval: tokio::time::Interval,
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
        self.interval
            .poll_tick(cx)
            .map(|_| Some(Ok(Frame::data(Bytes::from_static(b"data: tick\n\n")))))
    }
}

fn ticks(every_ms: u64, finish: Option<&Drain>) -> Ticks {
    Ticks {
        interval: tokio::time::interval(Duration::from_millis(every_ms)),
        finish: finish.map(|d| Box::pin(d.closing()) as Pin<Box<_>>),
    }
}

fn rejection(error: tollgate_drain::BoxError) -> Rejection {
    *error.downcast::<Rejection>().expect("a tollgate rejection")
}

#[tokio::test(start_paused = true)]
async fn a_request_counts_until_its_body_is_fully_sent() {
    let drain = drain(0, 1_000);
    let svc = InFlightLayer::new(drain.clone()).layer(service_fn(|_: Request<()>| async {
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
async fn a_failing_handler_ends_its_request() {
    let drain = drain(0, 1_000);
    let svc = InFlightLayer::new(drain.clone()).layer(service_fn(|_: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
    }));
    let error = svc.oneshot(Request::new(())).await.unwrap_err();
    assert_eq!(error.to_string(), "boom");
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn closing_refuses_without_calling_the_inner_service() {
    let drain = drain(0, 1_000);
    let _held = drain.enter().unwrap(); // keeps the drain in closing
    tokio::spawn(drain.clone().run());
    drain.start();
    drain.closing().await;
    let (svc, mut handle) = tower_test::mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let svc = InFlightLayer::new(drain.clone()).layer(svc);
    handle.allow(1);
    let error = svc.oneshot(Request::new(())).await.unwrap_err();
    assert_eq!(rejection(error).reason(), Reason::Draining);
    assert!(
        handle.next_request().await.is_none(),
        "the inner service was called"
    );
    assert_eq!(drain.snapshot().refused, 1);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through() {
    let drain = drain(0, 1_000);
    let (mut svc, mut handle) =
        tower_test::mock::spawn_layer::<Request<()>, Response<Full<Bytes>>, _>(InFlightLayer::new(
            drain,
        ));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready!(svc.poll_ready()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_handler_that_never_answers() {
    let drain = drain(100, 1_000);
    let svc = InFlightLayer::new(drain.clone()).layer(service_fn(|_: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    }));
    let call = tokio::spawn(svc.oneshot(Request::new(())));
    tokio::task::yield_now().await;
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(report.cut(), 1);
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(rejection(error).reason(), Reason::Draining);
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn an_endless_stream_is_cut_cleanly_at_the_deadline() {
    let drain = drain(100, 1_000);
    let svc = InFlightLayer::new(drain.clone()).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ticks(300, None)))
    }));
    fn trailers() -> HeaderMap {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        trailers
    }
    let body = svc
        .oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body()
        .with_cut_trailers(trailers);
    let reader = tokio::spawn(async move {
        let mut body = body;
        let (mut events, mut got_trailers) = (0, None);
        while let Some(frame) = body.frame().await {
            match frame.unwrap().into_data() {
                Ok(_) => events += 1,
                Err(frame) => got_trailers = frame.into_trailers().ok(),
            }
        }
        assert!(body.was_cut() && body.is_end_stream());
        (events, got_trailers)
    });
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!((report.finished(), report.cut()), (0, 1));
    let (events, got_trailers) = reader.await.unwrap();
    // Ticks at 0, 300, 600 and 900 ms; cut at 1 000 ms, between two events.
    assert_eq!(events, 4);
    assert_eq!(got_trailers, Some(trailers()));
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_told_to_finish_at_closing_finishes_instead_of_being_cut() {
    let drain = drain(500, 5_000);
    let d = drain.clone();
    let svc = InFlightLayer::new(drain.clone()).layer(service_fn(move |_: Request<()>| {
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
    let body = DrainBody::new(ticks(10, None), drain.enter().unwrap());
    assert_eq!(drain.phase(), Phase::Serving);
    assert_eq!(drain.snapshot().in_flight, 1);
    drop(body); // the client went away mid-stream
    assert_eq!(drain.snapshot().in_flight, 0);
}
