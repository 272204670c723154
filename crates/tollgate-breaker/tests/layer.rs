//! The tower layer: readiness, decision in `call`, classification, cancellation,
//! timeouts, shared state, keyed breakers.
#![cfg(not(loom))]

use std::time::Duration;

use tokio_test::{assert_pending, assert_ready_ok, task};
use tollgate_breaker::{Breaker, BreakerBuilder, BreakerLayer, KeyedBreakers, Outcome, State};
use tollgate_core::{BoxError, ManualClock, Reason, Rejection, TokioClock};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_test::mock;

fn consecutive(n: u32) -> BreakerBuilder {
    Breaker::builder()
        .name("upstream")
        .no_failure_rate()
        .consecutive_failures(n)
        .open_wait(Duration::from_secs(1))
        .half_open(1, 1)
}

fn rejection(err: &BoxError) -> &Rejection {
    err.downcast_ref::<Rejection>()
        .unwrap_or_else(|| panic!("not a rejection: {err}"))
}

#[tokio::test]
async fn poll_ready_passes_through_and_an_open_breaker_never_calls_inner() {
    let breaker = consecutive(1).clock(ManualClock::new()).build().unwrap();
    let layer = BreakerLayer::new(breaker.clone());
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
    let s = svc.get_ref().snapshot();
    assert_eq!((s.admitted, s.rejected, s.state), (1, 1, State::Open));
}

#[tokio::test]
async fn clones_share_one_breaker() {
    let layer = BreakerLayer::new(consecutive(2).build().unwrap());
    let failing = tower::service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("x")) });
    let a = layer.layer(failing);
    let b = a.clone();
    let _ = a.oneshot(()).await;
    let _ = b.clone().oneshot(()).await;
    assert_eq!(layer.snapshot().state, State::Open);
    let err = b.oneshot(()).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitOpen);
    assert_eq!(
        (layer.snapshot().admitted, layer.snapshot().rejected),
        (2, 1)
    );
}

#[tokio::test]
async fn a_cancelled_call_counts_as_neither_and_returns_a_probe_permit() {
    let clock = ManualClock::new();
    let breaker = consecutive(1).clock(clock.clone()).build().unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<(), (), _>(BreakerLayer::new(breaker.clone()));
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
    let breaker = Breaker::builder()
        .no_failure_rate()
        .slow_calls(Duration::from_secs(10), 100.0)
        .minimum_calls(2)
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
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
    let table = KeyedBreakers::builder()
        .breaker(consecutive(1))
        .max_keys(2)
        .idle_after(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let layer = BreakerLayer::keyed(table.clone(), |req: &(&'static str, bool)| Some(req.0));
    let svc = ServiceBuilder::new()
        .layer(layer.clone())
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
    let s = layer.snapshot();
    assert_eq!((s.keys, s.open, s.evicted), (2, 2, 2));
    // a: 1 failure + 1 refusal; b: 1 (evicted); c: 1 (evicted); d: 1; e: refused by the table.
    assert_eq!((s.admitted, s.rejected), (4, 2));
    // Idle closed breakers are swept.
    table.get(&"a").unwrap().reset();
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        table.sweep(),
        1,
        "the reset 'a' is idle and closed; 'd' is open"
    );
    assert_eq!(table.len(), 1);
    assert_eq!(table.snapshot().evicted, 3);
}

#[tokio::test]
async fn a_keyed_request_without_a_key_is_refused_and_never_reaches_inner() {
    let table = KeyedBreakers::builder()
        .breaker(consecutive(1))
        .build()
        .unwrap();
    let layer = BreakerLayer::keyed(table, |host: &Option<&'static str>| *host);
    let (mut svc, mut handle) = mock::spawn_layer::<Option<&'static str>, (), _>(layer.clone());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(None).await.unwrap_err();
    let r = rejection(&err);
    assert_eq!(
        (r.reason(), r.name()),
        (Reason::MissingKey, Some("upstream"))
    );
    assert!(
        handle.poll_request().is_pending(),
        "the inner service saw nothing"
    );
    let s = layer.snapshot();
    assert_eq!((s.keys, s.admitted, s.rejected), (0, 0, 1));
}
