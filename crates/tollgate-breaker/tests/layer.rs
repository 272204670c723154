//! The tower layer: readiness, decision in `call`, classification, cancellation,
//! timeouts, shared state, keyed breakers.
#![cfg(not(loom))]

use std::time::Duration;

use tokio_test::{assert_pending, assert_ready_ok, task};
use tollgate_breaker::{
    Breaker, BreakerConfig, CircuitBreakerLayer, KeyedBreakers, KeyedCircuitBreakerLayer, Outcome,
    State,
};
use tollgate_core::{ManualClock, Reason, Rejection, TokioClock};
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};
use tower_test::mock;

fn consecutive(n: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .name("upstream")
        .no_failure_rate()
        .consecutive_failures(n)
        .open_wait(Duration::from_secs(1))
        .half_open(1, 1)
        .build()
        .unwrap()
}

fn rejection(err: &BoxError) -> &Rejection {
    err.downcast_ref::<Rejection>()
        .unwrap_or_else(|| panic!("not a rejection: {err}"))
}

#[tokio::test]
async fn poll_ready_passes_through_and_an_open_breaker_never_calls_inner() {
    let breaker = Breaker::with_clock(consecutive(1), ManualClock::new());
    let layer = CircuitBreakerLayer::from_breaker(breaker.clone());
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let response = task::spawn(svc.call(1));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, 1);
    send.send_error(std::io::Error::other("boom"));
    assert!(response.await.is_err());
    assert_eq!(breaker.state(), State::Open);

    // Open: rejected at once, and the inner service sees nothing.
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(2).await.unwrap_err();
    let r = rejection(&err);
    assert_eq!(
        (r.reason(), r.name()),
        (Reason::CircuitOpen, Some("upstream"))
    );
    assert_eq!(r.retry_after(), Some(Duration::from_secs(1)));
    assert!(
        handle.poll_request().is_pending(),
        "no request reached the inner service"
    );
}

#[tokio::test]
async fn clones_share_one_breaker() {
    let layer = CircuitBreakerLayer::new(consecutive(2));
    let failing = tower::service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("x")) });
    let a = layer.layer(failing);
    let b = a.clone();
    let _ = a.oneshot(()).await;
    let _ = b.clone().oneshot(()).await;
    assert_eq!(layer.breaker().state(), State::Open);
    let err = b.oneshot(()).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitOpen);
}

#[tokio::test]
async fn a_cancelled_call_counts_as_neither_and_returns_a_probe_permit() {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock(consecutive(1), clock.clone());
    let (mut svc, mut handle) =
        mock::spawn_layer::<(), (), _>(CircuitBreakerLayer::from_breaker(breaker.clone()));
    handle.allow(10);

    // Closed: a dropped call is not recorded.
    assert_ready_ok!(svc.poll_ready());
    drop(svc.call(()));
    assert_eq!(breaker.snapshot().calls, 0);

    breaker.try_acquire().unwrap().record(Outcome::Failure);
    clock.advance(Duration::from_secs(1));
    assert_ready_ok!(svc.poll_ready());
    let probe = svc.call(());
    assert_eq!(breaker.snapshot().probes_in_flight, 1);
    drop(probe);
    assert_eq!(
        breaker.snapshot().probes_in_flight,
        0,
        "the permit came back"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn an_inner_timeout_counts_as_failure_and_slow() {
    let breaker = Breaker::with_clock(
        BreakerConfig::builder()
            .no_failure_rate()
            .slow_calls(Duration::from_secs(10), 100.0)
            .minimum_calls(2)
            .build()
            .unwrap(),
        TokioClock::new(),
    );
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::from_breaker(breaker.clone()))
        .timeout(Duration::from_millis(100))
        .service(tower::service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, BoxError>(())
        }));
    let err = svc.clone().oneshot(()).await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>());
    let s = breaker.snapshot();
    assert_eq!((s.calls, s.failures, s.slow_calls), (1, 1, 1));
    let _ = svc.oneshot(()).await;
    assert_eq!(breaker.state(), State::Open, "2 slow calls of 2: 100%");
}

#[tokio::test]
async fn keyed_breakers_are_independent_and_bounded() {
    let clock = ManualClock::new();
    let table =
        KeyedBreakers::with_clock(consecutive(1), 2, Duration::from_secs(60), clock.clone())
            .unwrap();
    let svc = ServiceBuilder::new()
        .layer(KeyedCircuitBreakerLayer::new(
            table.clone(),
            |req: &(&'static str, bool)| req.0,
        ))
        .service(tower::service_fn(
            |(_, ok): (&'static str, bool)| async move {
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::other("down"))
                }
            },
        ));
    let _ = svc.clone().oneshot(("a", false)).await;
    let err = svc.clone().oneshot(("a", true)).await.unwrap_err();
    assert_eq!(rejection(&err).name(), Some("upstream/a"));
    svc.clone().oneshot(("b", true)).await.unwrap();
    // Full: "c" evicts the closed "b", never the open "a".
    clock.advance(Duration::from_secs(1));
    svc.clone().oneshot(("c", true)).await.unwrap();
    assert_eq!(table.len(), 2);
    assert_eq!(table.get(&"a").unwrap().state(), State::Open);
    // "a" open and "c" busy: a new key evicts "c"; with two open breakers the table refuses.
    let _ = svc.clone().oneshot(("d", false)).await;
    let err = svc.clone().oneshot(("e", true)).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::KeyTableFull);
    // Idle closed breakers are swept.
    table.get(&"a").unwrap().reset();
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        table.sweep(),
        1,
        "the reset 'a' is idle and closed; 'd' is open"
    );
    assert_eq!(table.len(), 1);
}
