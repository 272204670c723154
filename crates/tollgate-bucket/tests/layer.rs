//! The tower layer under paused tokio time: reject mode, wait mode, cancellation, keys.

use std::time::Duration;

use tokio_test::{assert_pending, assert_ready_ok, task};
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer, RateLimiter};
use tollgate_core::{Reason, Rejection, TokioClock};
use tower::BoxError;
use tower_test::{assert_request_eq, mock};

const MS: Duration = Duration::from_millis(1);

fn direct(count: u32, burst: u32) -> RateLimiter<TokioClock> {
    RateLimiter::builder(Quota::per_second(count).burst(burst).unwrap())
        .clock(TokioClock::new())
        .build()
        .unwrap()
}

fn rejection(err: BoxError) -> Rejection {
    err.downcast_ref::<Rejection>()
        .expect("a tollgate rejection")
        .clone()
}

#[tokio::test(start_paused = true)]
async fn reject_mode_admits_the_burst_then_rejects_at_once() {
    let layer = RateLimitLayer::new(direct(2, 2));
    let (mut service, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    for i in 0..2 {
        assert_ready_ok!(service.poll_ready());
        let response = task::spawn(service.call(i));
        assert_request_eq!(handle, i).send_response(i * 10);
        assert_eq!(response.await.unwrap(), i * 10);
    }
    assert_ready_ok!(service.poll_ready());
    let mut refused = task::spawn(service.call(2));
    let err = match refused.poll() {
        std::task::Poll::Ready(result) => result.unwrap_err(),
        std::task::Poll::Pending => panic!("a rejection is immediate"),
    };
    let rejection = rejection(err);
    assert_eq!(rejection.reason(), Reason::RateLimited);
    assert_eq!(rejection.retry_after(), Some(500 * MS));
    // The inner service never saw the rejected request.
    assert!(handle.poll_request().is_pending());

    tokio::time::advance(500 * MS).await;
    assert_ready_ok!(service.poll_ready());
    let response = service.call(3);
    assert_request_eq!(handle, 3).send_response(30);
    assert_eq!(response.await.unwrap(), 30);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through() {
    let layer = RateLimitLayer::new(direct(1, 1));
    let (mut service, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert!(service.is_woken());
    assert_ready_ok!(service.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn wait_mode_calls_the_inner_service_after_the_exact_wait() {
    let layer = RateLimitLayer::new(direct(2, 1)).max_wait(Duration::from_secs(1));
    let (mut service, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(service.poll_ready());
    let first = service.call(1);
    assert_request_eq!(handle, 1).send_response(1);
    assert_eq!(first.await.unwrap(), 1);

    assert_ready_ok!(service.poll_ready());
    let mut second = task::spawn(service.call(2));
    assert_pending!(second.poll());
    tokio::time::advance(499 * MS).await;
    assert_pending!(second.poll());
    assert!(handle.poll_request().is_pending(), "called before its slot");
    tokio::time::advance(MS).await;
    assert_pending!(second.poll()); // the call is made; the response is pending
    assert_request_eq!(handle, 2).send_response(2);
    assert_eq!(second.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn wait_mode_rejects_at_once_when_the_wait_is_too_long() {
    let layer = RateLimitLayer::new(direct(1, 1)).max_wait(300 * MS);
    let (mut service, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    assert_ready_ok!(service.poll_ready());
    let first = service.call(1);
    assert_request_eq!(handle, 1).send_response(1);
    first.await.unwrap();

    assert_ready_ok!(service.poll_ready());
    let started = tokio::time::Instant::now();
    let rejection = rejection(service.call(2).await.unwrap_err());
    assert_eq!(started.elapsed(), Duration::ZERO, "decided without waiting");
    assert_eq!(rejection.reason(), Reason::WaitTooLong);
    assert_eq!(rejection.retry_after(), Some(700 * MS));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_gives_its_slot_back() {
    let limiter = direct(10, 1);
    let layer = RateLimitLayer::new(limiter.clone()).max_wait(Duration::from_secs(1));
    let (mut service, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    assert_ready_ok!(service.poll_ready());
    let first = service.call(1);
    assert_request_eq!(handle, 1).send_response(1);
    first.await.unwrap();

    // A waiter for the slot at 100 ms is cancelled before its time.
    assert_ready_ok!(service.poll_ready());
    let mut waiter = task::spawn(service.call(2));
    assert_pending!(waiter.poll());
    tokio::time::advance(50 * MS).await;
    drop(waiter);
    assert!(
        handle.poll_request().is_pending(),
        "a cancelled waiter never calls"
    );

    // Its slot is free again: the next request gets the 100 ms slot, not 200 ms.
    let reservation = limiter
        .reserve_at(1, tollgate_core::Clock::now(limiter.clock()), Duration::MAX)
        .unwrap();
    assert_eq!(reservation.wait(), 50 * MS);
    assert_eq!(limiter.snapshot().rejected, 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_layer_isolates_keys_and_refuses_missing_keys() {
    let limiter = KeyedRateLimiter::builder(Quota::per_second(1).build().unwrap())
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let layer = RateLimitLayer::keyed(limiter.clone(), |req: &(Option<&'static str>, u32)| req.0);
    let (mut service, mut handle) = mock::spawn_layer::<(Option<&str>, u32), u32, _>(layer);

    for (key, i) in [("alice", 1), ("bob", 2)] {
        assert_ready_ok!(service.poll_ready());
        let response = service.call((Some(key), i));
        assert_request_eq!(handle, (Some(key), i)).send_response(i);
        assert_eq!(response.await.unwrap(), i);
    }
    assert_ready_ok!(service.poll_ready());
    let refused = rejection(service.call((Some("alice"), 3)).await.unwrap_err());
    assert_eq!(refused.reason(), Reason::RateLimited);
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));

    assert_ready_ok!(service.poll_ready());
    let missing = rejection(service.call((None, 4)).await.unwrap_err());
    assert_eq!(missing.reason(), Reason::MissingKey);
    assert_eq!(limiter.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn keyed_wait_mode_waits_per_key() {
    let limiter = KeyedRateLimiter::builder(Quota::per_second(10).burst(1).unwrap())
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let layer = RateLimitLayer::keyed(limiter, |req: &(u8, u32)| Some(req.0))
        .max_wait(Duration::from_secs(1));
    let (mut service, mut handle) = mock::spawn_layer::<(u8, u32), u32, _>(layer);
    assert_ready_ok!(service.poll_ready());
    let first = service.call((1, 1));
    assert_request_eq!(handle, (1, 1)).send_response(1);
    first.await.unwrap();

    assert_ready_ok!(service.poll_ready());
    let mut waiting = task::spawn(service.call((1, 2)));
    assert_pending!(waiting.poll());
    // Another key is not held up.
    assert_ready_ok!(service.poll_ready());
    let other = service.call((2, 3));
    assert_request_eq!(handle, (2, 3)).send_response(3);
    other.await.unwrap();

    tokio::time::advance(100 * MS).await;
    assert_pending!(waiting.poll());
    assert_request_eq!(handle, (1, 2)).send_response(2);
    assert_eq!(waiting.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_limiter_and_inner_errors_pass_through() {
    use tower::{service_fn, Layer, ServiceExt};

    let layer = RateLimitLayer::new(direct(1, 1));
    let failing = service_fn(|_: u32| async { Err::<u32, _>("inner failure") });
    let service = layer.clone().layer(failing);
    let clone = service.clone();
    let err = service.oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "inner failure");
    assert!(err.downcast_ref::<Rejection>().is_none());
    let err = clone.oneshot(2).await.unwrap_err();
    assert_eq!(rejection(err).reason(), Reason::RateLimited);
    assert!(format!("{layer:?}").contains("RateLimitLayer"));
}
