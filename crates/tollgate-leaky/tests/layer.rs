//! The tower layer on tokio's paused clock: exact instants, FIFO, cancellation, and
//! server feedback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_ok};
use tollgate_core::{Quota, Reason, Rejection, TokioClock};
use tollgate_leaky::{ShapeLayer, Shaper, ShaperBuilder, Signal};
use tower::{service_fn, Layer, Service, ServiceExt};

/// `per_second`, strictly one per interval (a burst of 1).
fn quota(per_second: u32, burst: u32) -> ShaperBuilder {
    Shaper::builder(Quota::per_second(per_second).burst(burst).unwrap())
}

fn shaper(per_second: u32) -> Shaper<TokioClock> {
    quota(per_second, 1)
        .max_queue(100)
        .max_wait(Duration::from_secs(5))
        .clock(TokioClock::new())
        .build()
        .unwrap()
}

type Log = Arc<Mutex<Vec<(u32, Duration)>>>;

/// An inner service that records when each request reached it.
fn recorder() -> (
    impl Service<u32, Response = u32, Error = std::convert::Infallible, Future = impl Send> + Clone,
    Log,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let log = seen.clone();
    let svc = service_fn(move |x: u32| {
        log.lock().unwrap().push((x, start.elapsed()));
        async move { Ok(x) }
    });
    (svc, seen)
}

#[tokio::test(start_paused = true)]
async fn requests_reach_the_service_exactly_on_schedule_in_fifo_order() {
    let (inner, seen) = recorder();
    let svc = ShapeLayer::new(shaper(10)).layer(inner);
    let mut tasks = Vec::new();
    for i in 0..10u32 {
        // Interleave arrivals: two every 150 ms.
        if i % 2 == 0 && i > 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        tasks.push(tokio::spawn(svc.clone().oneshot(i)));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let order: Vec<_> = seen.iter().map(|(x, _)| *x).collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    let times: Vec<_> = seen.iter().map(|(_, t)| t.as_millis()).collect();
    // Arrivals at 0,0,150,150,300,300,...: the queue never empties after the first,
    // so releases are one interval apart.
    assert_eq!(times, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
}

#[tokio::test(start_paused = true)]
async fn refusals_are_immediate_and_typed() {
    let shaper = quota(10, 1)
        .max_wait(Duration::from_millis(150))
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let (inner, seen) = recorder();
    let mut svc = ShapeLayer::new(shaper).layer(inner);
    let first = svc.ready().await.unwrap().call(1);
    let second = svc.ready().await.unwrap().call(2);
    let third = svc.ready().await.unwrap().call(3);
    let start = Instant::now();
    let err = third.await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "refused without waiting");
    let rejection = err.downcast_ref::<Rejection>().unwrap();
    assert_eq!(rejection.reason(), Reason::WaitTooLong);
    assert_eq!(rejection.retry_after(), Some(Duration::from_millis(50)));
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(second.await.unwrap(), 2);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the refused request never reached it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_its_slot_to_the_next() {
    let (inner, seen) = recorder();
    let mut svc = ShapeLayer::new(shaper(10)).layer(inner);
    svc.ready().await.unwrap().call(0).await.unwrap();
    let mut gives_up = tokio_test::task::spawn(svc.ready().await.unwrap().call(1));
    let mut next = tokio_test::task::spawn(svc.ready().await.unwrap().call(2));
    assert_pending!(gives_up.poll());
    assert_pending!(next.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    drop(gives_up);
    assert!(next.is_woken(), "the new head is woken to arm its timer");
    assert_pending!(next.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    assert!(next.is_woken());
    assert_eq!(assert_ready_ok!(next.poll()), 2);
    let times: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(x, t)| (*x, t.as_millis()))
        .collect();
    assert_eq!(times, [(0, 0), (2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through_to_the_inner_service() {
    let (mut inner, mut handle) =
        tower_test::mock::spawn_layer::<u32, u32, _>(ShapeLayer::new(shaper(10)));
    handle.allow(0);
    assert_pending!(inner.poll_ready());
    handle.allow(1);
    assert_ready_ok!(inner.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn server_pushback_pauses_the_next_release_exactly() {
    let (inner, seen) = recorder();
    // The inner service's response 1 says "429, retry after 2 s".
    let feedback = |x: &u32| match x {
        1 => Signal::Throttled {
            retry_after: Some(Duration::from_secs(2)),
        },
        _ => Signal::Accepted,
    };
    let svc = ShapeLayer::new(shaper(10)).feedback(feedback).layer(inner);
    let mut tasks = Vec::new();
    for i in 0..4u32 {
        tasks.push(tokio::spawn(svc.clone().oneshot(i)));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let times: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(x, t)| (*x, t.as_millis()))
        .collect();
    // 1 was answered at 100 ms; the next release waits until 2100 ms, then the interval.
    assert_eq!(times, [(0, 0), (1, 100), (2, 2100), (3, 2200)]);
}

#[tokio::test(start_paused = true)]
async fn acquire_sleeps_to_the_exact_instant() {
    let shaper = shaper(4);
    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..4 {
        shaper.acquire(1).await.unwrap();
        at.push(start.elapsed().as_millis());
    }
    assert_eq!(at, [0, 250, 500, 750]);
    assert_eq!(shaper.snapshot().admitted, 4);
}

#[tokio::test(start_paused = true)]
async fn adaptive_throttling_sheds_locally_while_the_server_refuses() {
    let shaper = quota(1000, 1000)
        .adaptive(2.0, Duration::from_secs(10))
        .random(|| 0.5)
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let (inner, seen) = recorder();
    // The server refuses every call, without saying for how long.
    let refuse_all = |_: &u32| Signal::Throttled { retry_after: None };
    let svc = ShapeLayer::new(shaper.clone())
        .feedback(refuse_all)
        .layer(inner);
    let mut shed = 0;
    for i in 0..100 {
        match svc.clone().oneshot(i).await {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(
                    e.downcast_ref::<Rejection>().unwrap().reason(),
                    Reason::Throttled
                );
                shed += 1;
            }
        }
    }
    // p = n / (n + 1) > 0.5 from the third call on: only two reach the server.
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(shed, 98);
    assert_eq!(shaper.snapshot().rejected, 98);
}

#[tokio::test(start_paused = true)]
async fn weighted_requests_take_their_units_in_the_layer() {
    let shaper = quota(10, 3).clock(TokioClock::new()).build().unwrap();
    let (inner, seen) = recorder();
    // Request x costs x units.
    let svc = ShapeLayer::new(shaper).weigh(|x: &u32| *x).layer(inner);
    let mut tasks = Vec::new();
    for x in [3u32, 2, 1] {
        tasks.push(tokio::spawn(svc.clone().oneshot(x)));
        tokio::task::yield_now().await;
    }
    let too_heavy = svc.clone().oneshot(4).await.unwrap_err();
    assert_eq!(
        too_heavy.downcast_ref::<Rejection>().unwrap().reason(),
        Reason::OverCapacity
    );
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let times: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(x, t)| (*x, t.as_millis()))
        .collect();
    // The whole burst, then two units (200 ms), then one more (300 ms).
    assert_eq!(times, [(3, 0), (2, 200), (1, 300)]);
}

/// A responder for `u32` requests: a refusal becomes the response `0`, so the layer
/// keeps the inner service's error type (as `tollgate_http::AsResponse` does on axum).
#[derive(Clone)]
struct AnswerZero;

struct ZeroFor(u32);

impl tollgate_core::Refuse<u32> for AnswerZero {
    type Refusal = ZeroFor;
    fn prepare(&self, request: &u32) -> ZeroFor {
        ZeroFor(*request)
    }
}

impl tollgate_core::Refusal<u32, std::convert::Infallible> for ZeroFor {
    type Error = std::convert::Infallible;
    fn refuse(self, rejection: Rejection) -> Result<u32, std::convert::Infallible> {
        assert_eq!(rejection.reason(), Reason::QueueFull, "request {}", self.0);
        Ok(0)
    }
    fn error(error: std::convert::Infallible) -> std::convert::Infallible {
        error
    }
}

#[tokio::test(start_paused = true)]
async fn refuse_with_answers_refusals_in_kind_and_waiting_requests_still_wait() {
    let shaper = quota(10, 1)
        .max_queue(1)
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let (inner, seen) = recorder();
    let layer = ShapeLayer::new(shaper).refuse_with(AnswerZero);
    let mut svc = layer.layer(inner);
    let first = svc.ready().await.unwrap().call(1);
    let second = svc.ready().await.unwrap().call(2);
    // The queue holds one: the third is answered at once, never reaching the service.
    let third: Result<u32, std::convert::Infallible> = svc.ready().await.unwrap().call(3).await;
    assert_eq!(third.unwrap(), 0);
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(second.await.unwrap(), 2);
    let times: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(x, t)| (*x, t.as_millis()))
        .collect();
    assert_eq!(times, [(1, 0), (2, 100)]);
    // The layer and the service read the same shaper.
    let (from_layer, from_service) = (layer.snapshot(), svc.snapshot());
    assert_eq!(from_layer, from_service);
    assert_eq!(
        (from_layer.admitted, from_layer.rejected, from_layer.queued),
        (2, 1, 0)
    );
}
