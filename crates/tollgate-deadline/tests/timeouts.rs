//! Exact paused-time tests of the timeout layers and the retry policy: each deadline
//! fires at its instant and says which one it was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tollgate_core::{Clock, DeadlineKind, Reason, Rejection, Timestamp, TokioClock};
use tollgate_deadline::{carry, Deadline, DeadlineRetry, TimeoutLayer, TimeoutPolicy};
use tower::retry::RetryLayer;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

/// Now on the layers' default clock, which follows tokio's paused time.
fn now() -> Timestamp {
    TokioClock::new().now()
}

fn kind_of(err: &BoxError) -> DeadlineKind {
    match err.downcast_ref::<Rejection>().map(Rejection::reason) {
        Some(Reason::DeadlineExceeded(kind)) => kind,
        other => panic!("not a deadline rejection: {other:?} ({err})"),
    }
}

/// A service that takes `delay` and records when each call started (ms since `t0`).
fn slow(
    t0: Instant,
    delay: Duration,
) -> (
    impl Service<(), Response = (), Error = BoxError, Future = impl Send> + Clone,
    Arc<Mutex<Vec<u128>>>,
) {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let seen = starts.clone();
    let svc = service_fn(move |()| {
        seen.lock().unwrap().push(t0.elapsed().as_millis());
        async move {
            tokio::time::sleep(delay).await;
            Ok::<_, BoxError>(())
        }
    });
    (svc, starts)
}

#[tokio::test(start_paused = true)]
async fn per_try_fires_at_its_instant() {
    let t0 = Instant::now();
    let (inner, _) = slow(t0, Duration::from_secs(5));
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::per_try(Duration::from_millis(250)).unwrap(),
        ))
        .service(inner);
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::PerTry);
    assert_eq!(t0.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn total_fires_first_when_it_is_earlier_and_is_named_total() {
    let t0 = Instant::now();
    let (inner, _) = slow(t0, Duration::from_secs(5));
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::total(Duration::from_millis(100)).unwrap(),
        ))
        // A per-try longer than what the total leaves: the total's instant wins, and
        // the error says total even if the per-try future notices first.
        .layer(TimeoutLayer::new(
            TimeoutPolicy::per_try(Duration::from_millis(400)).unwrap(),
        ))
        .service(inner);
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Total);
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn inherited_deadline_bounds_the_layers_and_is_named_inherited() {
    let t0 = Instant::now();
    let (inner, _) = slow(t0, Duration::from_secs(5));
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::total(Duration::from_secs(2)).unwrap(),
        ))
        .service(inner);
    let deadline = Deadline::after(now(), Duration::from_millis(30));
    let err = deadline
        .scope(async move { svc.oneshot(()).await })
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Inherited);
    assert_eq!(t0.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn spent_budget_fails_fast_without_calling() {
    let t0 = Instant::now();
    let (inner, starts) = slow(t0, Duration::ZERO);
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::per_try(Duration::from_secs(1)).unwrap(),
        ))
        .service(inner);
    let deadline = Deadline::after(now(), Duration::from_millis(10));
    tokio::time::advance(Duration::from_millis(10)).await;
    let err = deadline
        .scope(async move { svc.oneshot(()).await })
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Inherited);
    assert!(
        starts.lock().unwrap().is_empty(),
        "the inner service was called"
    );
}

#[tokio::test(start_paused = true)]
async fn pair_checks_per_try_against_total() {
    let err = TimeoutPolicy::pair(Duration::from_secs(1), Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.field(), "per_try");
    assert!(TimeoutPolicy::pair(Duration::from_secs(1), Duration::from_secs(1)).is_ok());
    assert_eq!(
        TimeoutPolicy::total(Duration::ZERO).unwrap_err().field(),
        "total"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_budget_cannot_cover_another_try() {
    let t0 = Instant::now();
    // Every try hangs until its 300 ms per-try timeout; backoff is 50, 100, 200 ms.
    let (inner, starts) = slow(t0, Duration::from_secs(60));
    let policy = DeadlineRetry::builder()
        .max_retries(10)
        .per_try(Duration::from_millis(300))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::total(Duration::from_millis(1200)).unwrap(),
        ))
        .layer(RetryLayer::new(policy))
        .layer(TimeoutLayer::new(
            TimeoutPolicy::per_try(Duration::from_millis(300)).unwrap(),
        ))
        .service(inner);
    let err = svc.oneshot(()).await.unwrap_err();
    // Try 1: 0..300; backoff 50 -> try 2: 350..650; backoff 100 -> try 3: 750..1050.
    // At 1050 a retry would need 200 + 300 ms, ending at 1550 > 1200: none starts, and
    // the last per-try error is returned at 1050, not at the total's 1200.
    assert_eq!(*starts.lock().unwrap(), [0, 350, 750]);
    assert_eq!(kind_of(&err), DeadlineKind::PerTry);
    assert_eq!(t0.elapsed(), Duration::from_millis(1050));
}

#[tokio::test(start_paused = true)]
async fn retry_budget_ratio_limits_retries() {
    let t0 = Instant::now();
    let failing = service_fn(|()| async { Err::<(), BoxError>("down".into()) });
    // No floor and 50%: two first calls earn one retry.
    let policy = DeadlineRetry::builder()
        .max_retries(3)
        .per_try(Duration::from_millis(10))
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .budget(Duration::from_secs(10), 0, 0.5)
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(failing.map_request(move |()| {
            *counted.lock().unwrap() += 1;
        }));
    for _ in 0..2 {
        assert!(svc.clone().oneshot(()).await.is_err());
    }
    // 2 first calls, and the second one's deposit pays for exactly one retry.
    assert_eq!(*calls.lock().unwrap(), 3);
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn carry_takes_the_deadline_into_spawned_tasks() {
    let t0 = Instant::now();
    let deadline = Deadline::after(now(), Duration::from_millis(40));
    let (inner, _) = slow(t0, Duration::from_secs(1));
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(
            TimeoutPolicy::total(Duration::from_secs(5)).unwrap(),
        ))
        .service(inner);
    let err = deadline
        .scope(async move { tokio::spawn(carry(svc.oneshot(()))).await })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Inherited);
    assert_eq!(t0.elapsed(), Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn snapshot_counts_outcomes_by_the_deadline_that_fired() {
    let t0 = Instant::now();
    let (inner, _) = slow(t0, Duration::from_secs(5));
    let layer = TimeoutLayer::new(TimeoutPolicy::total(Duration::from_millis(100)).unwrap());
    let svc = ServiceBuilder::new().layer(layer.clone()).service(inner);
    // Cut off by its own total.
    assert!(svc.clone().oneshot(()).await.is_err());
    // Failed fast: the inherited deadline is spent.
    let spent = Deadline::after(now(), Duration::ZERO);
    assert!(spent.scope(svc.clone().oneshot(())).await.is_err());
    // Cut off by the inherited deadline, earlier than the total.
    let early = Deadline::after(now(), Duration::from_millis(20));
    assert!(early.scope(svc.clone().oneshot(())).await.is_err());
    let s = layer.snapshot();
    assert_eq!(
        (s.admitted, s.rejected, s.cut_off, s.unbounded),
        (2, 1, 2, 0)
    );
    assert_eq!(
        (s.fired.total, s.fired.inherited, s.fired.per_try),
        (1, 2, 0)
    );
    assert_eq!(svc.snapshot(), s);
}

#[tokio::test(start_paused = true)]
async fn a_layer_on_another_clock_arms_its_timer_for_the_time_left() {
    // Regression: timers are armed through `tollgate_core::timer`, which converts a
    // deadline on any clock into a tokio instant; a manual clock that never moves
    // still fires after the remaining time of tokio's.
    let t0 = Instant::now();
    let clock = tollgate_core::ManualClock::new();
    let (inner, _) = slow(t0, Duration::from_secs(5));
    let policy = TimeoutPolicy::builder()
        .per_try(Duration::from_millis(70))
        .clock(clock)
        .build()
        .unwrap();
    let err = TimeoutLayer::new(policy)
        .layer(inner)
        .oneshot(())
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::PerTry);
    assert_eq!(t0.elapsed(), Duration::from_millis(70));
}

/// A clock that counts its reads.
#[derive(Debug, Clone, Default)]
struct CountingClock(Arc<std::sync::atomic::AtomicUsize>);

impl CountingClock {
    fn reads(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Clock for CountingClock {
    fn now(&self) -> Timestamp {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_nanos(1_000_000)
    }
}

/// Sends one request with no deadline through a server deadline built from `policy`
/// on a counting clock: the clock reads it took, and the policy's snapshot after it.
async fn clock_reads_of_one_request(
    policy: tollgate_deadline::DeadlinePolicyBuilder,
) -> (usize, tollgate_deadline::DeadlineSnapshot) {
    let clock = CountingClock::default();
    let layer =
        tollgate_deadline::ServerDeadlineLayer::new(policy.clock(clock.clone()).build().unwrap());
    let before = clock.reads();
    layer
        .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }))
        .oneshot(())
        .await
        .unwrap();
    (clock.reads() - before, layer.snapshot())
}

#[tokio::test]
async fn a_server_deadline_reads_the_clock_only_for_a_request_it_bounds() {
    use tollgate_deadline::DeadlinePolicy;

    // No deadline sent and none by default: unbounded, and no clock read.
    let (reads, snapshot) =
        clock_reads_of_one_request(DeadlinePolicy::builder().max(Duration::from_secs(10))).await;
    assert_eq!(reads, 0);
    assert_eq!(snapshot.unbounded, 1);

    // A default budget bounds it: one read, to place the deadline.
    let (reads, snapshot) = clock_reads_of_one_request(
        DeadlinePolicy::builder().default_budget(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(reads, 1);
    assert_eq!(snapshot.admitted, 1);
}
