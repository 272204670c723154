//! The tower layer: a request counts until its response ends (as its `Track` says);
//! refusals never reach the inner service and become what the layer's `Refuse`
//! makes of them; the deadline cuts pending handlers. Paused tokio time throughout.
//! The HTTP body tracking is tested in `tollgate-http` (`src/drain/tests.rs`).

use std::convert::Infallible;
use std::future::poll_fn;
use std::time::Duration;

use tokio_test::{assert_pending, assert_ready};
use tollgate_core::{BoxError, Reason, Refusal, Refuse, Rejection, TokioClock};
use tollgate_drain::{Drain, DrainLayer, RequestGuard, Track, Tracking};
use tower::{service_fn, Layer, Service, ServiceExt};

fn drain(propagation_ms: u64, deadline_ms: u64) -> Drain {
    Drain::builder()
        .propagation_delay(Duration::from_millis(propagation_ms))
        .deadline(Duration::from_millis(deadline_ms))
        .clock(TokioClock::new())
        .build()
        .unwrap()
}

fn rejection(error: BoxError) -> Rejection {
    *error.downcast::<Rejection>().expect("a tollgate rejection")
}

/// Keeps a drain in closing: one request that never ends, and a driver.
async fn closing(drain: &Drain) -> RequestGuard {
    let held = drain.enter().unwrap();
    tokio::spawn(drain.clone().run());
    drain.start();
    drain.closing().await;
    held
}

/// A response consumed later, as a stream is: it keeps its request in flight until it
/// is dropped, and can wait for the cut at the deadline.
struct Streaming {
    text: String,
    guard: Option<RequestGuard>,
}

impl Streaming {
    /// Resolves when the drain cuts this response.
    async fn cut(&mut self) {
        let guard = self.guard.as_mut().expect("admitted");
        poll_fn(|cx| guard.poll_cut(cx)).await;
    }
}

#[derive(Clone)]
struct UntilDropped;

impl<Req> Track<Req> for UntilDropped {
    type Tracking = UntilDropped;
    fn prepare(&self, _: &Req) -> UntilDropped {
        UntilDropped
    }
}

impl Tracking<String> for UntilDropped {
    type Response = Streaming;
    fn track(self, text: String, guard: RequestGuard) -> Streaming {
        Streaming {
            text,
            guard: Some(guard),
        }
    }
    fn refused(self, text: String) -> Streaming {
        Streaming { text, guard: None }
    }
}

fn hello() -> impl Service<&'static str, Response = String, Error = Infallible, Future: Send> + Clone
{
    service_fn(|name: &'static str| async move { Ok::<_, Infallible>(format!("hello {name}")) })
}

#[tokio::test(start_paused = true)]
async fn by_default_a_request_counts_until_its_response() {
    let drain = drain(0, 1_000);
    let svc = DrainLayer::new(drain.clone()).layer(service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, Infallible>("done")
    }));
    let call = tokio::spawn(svc.oneshot(()));
    tokio::task::yield_now().await;
    assert_eq!(drain.snapshot().in_flight, 1, "the handler is running");
    assert_eq!(call.await.unwrap().unwrap(), "done");
    let snapshot = drain.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.admitted), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_track_carries_the_guard_until_the_response_is_dropped() {
    let drain = drain(0, 1_000);
    let svc = DrainLayer::new(drain.clone())
        .track_with(UntilDropped)
        .layer(hello());
    let response = svc.oneshot("you").await.unwrap();
    assert_eq!(response.text, "hello you");
    assert_eq!(
        drain.snapshot().in_flight,
        1,
        "the handler returned, the response is not consumed"
    );
    drop(response);
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failing_handler_ends_its_request() {
    let drain = drain(0, 1_000);
    let svc = DrainLayer::new(drain.clone()).layer(service_fn(|_: ()| async {
        Err::<(), _>(std::io::Error::other("boom"))
    }));
    let error = svc.oneshot(()).await.unwrap_err();
    assert_eq!(error.to_string(), "boom");
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn closing_refuses_without_calling_the_inner_service() {
    let drain = drain(0, 1_000);
    let _held = closing(&drain).await;
    let (svc, mut handle) = tower_test::mock::pair::<(), ()>();
    let svc = DrainLayer::new(drain.clone()).layer(svc);
    handle.allow(1);
    let error = svc.oneshot(()).await.unwrap_err();
    assert_eq!(rejection(error).reason(), Reason::Draining);
    assert!(
        handle.next_request().await.is_none(),
        "the inner service was called"
    );
    assert_eq!(drain.snapshot().rejected, 1);
}

/// A refusal as a value: the layer keeps the inner service's error type.
#[derive(Clone)]
struct Apologise;

struct Apology(&'static str);

impl Refuse<&'static str> for Apologise {
    type Refusal = Apology;
    fn prepare(&self, name: &&'static str) -> Apology {
        Apology(name)
    }
}

impl Refusal<String, Infallible> for Apology {
    type Error = Infallible;
    fn refuse(self, rejection: Rejection) -> Result<String, Infallible> {
        Ok(format!("sorry {}, {rejection}", self.0))
    }
    fn error(error: Infallible) -> Infallible {
        error
    }
}

#[tokio::test(start_paused = true)]
async fn refuse_with_turns_the_refusal_into_a_response_through_the_tracking() {
    let drain = drain(0, 1_000);
    let layer = DrainLayer::new(drain.clone())
        .refuse_with(Apologise)
        .track_with(UntilDropped);
    let mut svc = layer.layer(hello());
    let served = svc.ready().await.unwrap().call("early").await.unwrap();
    assert!(served.guard.is_some());
    drop(served);
    let _held = closing(&drain).await;
    let refused: Streaming = svc.oneshot("late").await.unwrap();
    assert_eq!(refused.text, "sorry late, server is draining");
    assert!(refused.guard.is_none(), "a refusal counts no request");
    let snapshot = layer.snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through() {
    let drain = drain(0, 1_000);
    let (mut svc, mut handle) = tower_test::mock::spawn_layer::<(), (), _>(DrainLayer::new(drain));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready!(svc.poll_ready()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_handler_that_never_answers() {
    let drain = drain(100, 1_000);
    let svc = DrainLayer::new(drain.clone()).layer(service_fn(|_: ()| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(())
    }));
    let call = tokio::spawn(svc.oneshot(()));
    tokio::task::yield_now().await;
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(report.cut(), 1);
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(rejection(error).reason(), Reason::Draining);
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_response_still_running_at_the_deadline_is_told_it_is_cut() {
    let drain = drain(100, 1_000);
    let svc = DrainLayer::new(drain.clone())
        .track_with(UntilDropped)
        .layer(hello());
    let mut response = svc.oneshot("stream").await.unwrap();
    let start = TokioClock::new();
    let t0 = tollgate_core::Clock::now(&start);
    drain.start();
    let driver = tokio::spawn(drain.clone().run());
    response.cut().await;
    assert_eq!(
        tollgate_core::Clock::now(&start) - t0,
        Duration::from_millis(1_000)
    );
    drop(response);
    let report = driver.await.unwrap();
    assert_eq!((report.finished(), report.cut()), (0, 1));
    assert_eq!(drain.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn the_service_answers_the_same_snapshot_as_its_drain() {
    let drain = drain(0, 1_000);
    let svc = DrainLayer::new(drain.clone())
        .track_with(UntilDropped)
        .layer(hello());
    let response = svc.clone().oneshot("you").await.unwrap();
    assert_eq!(svc.snapshot(), drain.snapshot());
    assert_eq!(svc.snapshot().in_flight, 1);
    drop(response);
    assert_eq!(svc.drain().snapshot().in_flight, 0);
}
