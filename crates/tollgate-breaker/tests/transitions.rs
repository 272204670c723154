//! Exact tests of every transition and policy on a manual clock.
#![cfg(not(loom))]

use std::time::Duration;

use tollgate_breaker::{Breaker, BreakerBuilder, Outcome, Permit, State, TransitionReason, Window};
use tollgate_core::{Clock, ManualClock, Reason};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(builder: BreakerBuilder) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (builder.clock(clock.clone()).build().unwrap(), clock)
}

fn call(b: &Breaker<ManualClock>, outcome: Outcome) {
    b.try_acquire()
        .unwrap_or_else(|r| panic!("refused at {:?}: {r}", b.clock().now()))
        .record(outcome);
}

fn retry_after(b: &Breaker<ManualClock>) -> Option<Duration> {
    let r = b.try_acquire().expect_err("should be refused");
    assert_eq!(r.reason(), Reason::CircuitOpen);
    r.retry_after()
}

fn consecutive(n: u32) -> BreakerBuilder {
    Breaker::builder()
        .no_failure_rate()
        .consecutive_failures(n)
        .open_wait(ms(1000))
        .backoff(2.0, ms(5000))
        .half_open(1, 1)
}

#[test]
fn consecutive_failures_open_and_a_success_resets_the_run() {
    let (b, _) = breaker(consecutive(3));
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    call(&b, Outcome::Success);
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 2);
    call(&b, Outcome::Timeout);
    assert_eq!(b.state(), State::Open);
    let t = *b.subscribe().borrow();
    assert_eq!(t.reason, TransitionReason::ConsecutiveFailures { count: 3 });
    assert_eq!(t.open_for, ms(1000));
}

#[test]
fn failure_rate_waits_for_minimum_calls_then_opens() {
    let (b, _) = breaker(
        Breaker::builder()
            .failure_rate(50.0)
            .window(Window::Count(4))
            .minimum_calls(3),
    );
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    // 100% failures but only 2 calls: not judged.
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Success);
    // Judged only on a failure: 2/3 is over 50% but a success does not open.
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    match b.subscribe().borrow().reason {
        TransitionReason::FailureRate { rate, calls } => assert_eq!((rate, calls), (75.0, 4)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn count_window_forgets_the_oldest_call() {
    let (b, _) = breaker(
        Breaker::builder()
            .failure_rate(60.0)
            .window(Window::Count(5))
            .minimum_calls(5),
    );
    for outcome in [
        Outcome::Failure,
        Outcome::Failure,
        Outcome::Success,
        Outcome::Success,
    ] {
        call(&b, outcome);
    }
    // F F S S F: 60% -> would open; make it F F S S S first, then roll.
    call(&b, Outcome::Success);
    assert_eq!(b.snapshot().failures, 2);
    // The window rolls: the first F leaves, a new F enters: F S S S F = 40%.
    call(&b, Outcome::Failure);
    let s = b.snapshot();
    assert_eq!((s.calls, s.failures, s.state), (5, 2, State::Closed));
    // S S S F F = 40% after the second F leaves and a new F enters.
    call(&b, Outcome::Failure);
    assert_eq!(b.snapshot().failures, 2);
    // S S F F F = 60%: opens.
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn time_window_rolls_over_by_bucket() {
    let (b, clock) = breaker(
        Breaker::builder()
            .failure_rate(50.0)
            .window(Window::Time {
                length: ms(1000),
                buckets: 4,
            })
            .minimum_calls(4),
    );
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    clock.advance(ms(1000));
    // The three failures have left the window.
    assert_eq!(b.snapshot().calls, 0);
    call(&b, Outcome::Success);
    call(&b, Outcome::Success);
    clock.advance(ms(250));
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Closed, "3 calls < minimum 4");
    call(&b, Outcome::Failure);
    // 2 of 4 in the window: 50%.
    assert_eq!(b.state(), State::Open);
}

#[test]
fn slow_calls_open_on_their_rate_and_timeouts_are_slow() {
    let (b, clock) = breaker(
        Breaker::builder()
            .no_failure_rate()
            .slow_calls(ms(100), 50.0)
            .window(Window::Count(10))
            .minimum_calls(4),
    );
    for delay in [10, 100, 20, 30] {
        let p = b.try_acquire().unwrap();
        clock.advance(ms(delay));
        p.record(Outcome::Success);
    }
    let s = b.snapshot();
    assert_eq!((s.calls, s.slow_calls, s.state), (4, 1, State::Closed));
    call(&b, Outcome::Timeout);
    let s = b.snapshot();
    assert_eq!((s.slow_calls, s.failures, s.state), (2, 1, State::Closed));
    let p = b.try_acquire().unwrap();
    clock.advance(ms(150));
    p.record(Outcome::Success);
    // 3 slow of 6 calls: 50%.
    assert_eq!(b.state(), State::Open);
    assert!(matches!(
        b.subscribe().borrow().reason,
        TransitionReason::SlowCallRate { rate, calls: 6 } if rate == 50.0
    ));
}

#[test]
fn open_rejects_with_the_time_left_then_half_opens() {
    let (b, clock) = breaker(consecutive(1).name("db"));
    call(&b, Outcome::Failure);
    assert_eq!(retry_after(&b), Some(ms(1000)));
    clock.advance(ms(400));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.name(), Some("db"));
    assert_eq!(r.retry_after(), Some(ms(600)));
    assert_eq!(b.snapshot().retry_after, Some(ms(600)));
    clock.advance(ms(600));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    assert_eq!(b.state(), State::HalfOpen);
    // One probe at once: the next caller is refused without a retry time.
    assert_eq!(retry_after(&b), None);
    probe.record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn half_open_admits_k_probes_and_closes_after_s_successes() {
    let (b, clock) = breaker(consecutive(1).half_open(2, 3));
    call(&b, Outcome::Failure);
    clock.advance(ms(1000));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "K = 2");
    p1.record(Outcome::Success);
    let s = b.snapshot();
    assert_eq!((s.probes_in_flight, s.probe_successes), (1, 1));
    let p3 = b.try_acquire().unwrap();
    p2.record(Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen);
    p3.record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.subscribe().borrow().reason,
        TransitionReason::ProbesSucceeded { successes: 3 }
    );
}

#[test]
fn backoff_grows_on_reopens_and_resets_after_a_close() {
    let (b, clock) = breaker(consecutive(1));
    call(&b, Outcome::Failure);
    for expected in [1000, 2000, 4000, 5000, 5000] {
        assert_eq!(retry_after(&b), Some(ms(expected)));
        clock.advance(ms(expected));
        b.try_acquire().unwrap().record(Outcome::Failure);
        assert_eq!(b.subscribe().borrow().reason, TransitionReason::ProbeFailed);
    }
    assert_eq!(retry_after(&b), Some(ms(5000)));
    clock.advance(ms(5000));
    b.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(
        retry_after(&b),
        Some(ms(1000)),
        "the wait is back at its base"
    );
}

#[test]
fn jitter_stays_in_bounds_and_is_reproducible_with_a_seed() {
    let waits = |seed| {
        let (b, clock) = breaker(consecutive(1).jitter(0.5).jitter_seed(seed));
        call(&b, Outcome::Failure);
        let mut waits = Vec::new();
        for k in 0..6u32 {
            let wait = retry_after(&b).unwrap();
            let full = b.config().open_wait_for(k);
            assert!(wait <= full && wait > full / 2, "{wait:?} vs {full:?}");
            waits.push(wait);
            clock.advance(wait);
            b.try_acquire().unwrap().record(Outcome::Failure);
        }
        waits
    };
    assert_eq!(waits(7), waits(7));
    assert_ne!(waits(7), waits(8));
}

#[test]
fn forced_open_and_disabled_are_held_until_reset() {
    let (b, clock) = breaker(consecutive(1));
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(retry_after(&b), None);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(retry_after(&b), None, "forced open never half-opens");
    b.disable();
    for _ in 0..5 {
        call(&b, Outcome::Failure);
    }
    let s = b.snapshot();
    assert_eq!((s.state, s.calls, s.failures), (State::Disabled, 5, 5));
    b.reset();
    let s = b.snapshot();
    assert_eq!((s.state, s.calls, s.transitions), (State::Closed, 0, 3));
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn outcomes_of_older_generations_are_ignored() {
    // Regression guard for the generation check: a call admitted before the breaker
    // opened must not count after it, nor close a half-open breaker.
    let (b, clock) = breaker(consecutive(1).half_open(1, 1));
    let slow = b.try_acquire().unwrap();
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    clock.advance(ms(1000));
    let probe = b.try_acquire().unwrap();
    slow.record(Outcome::Success);
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "the stale success did not close it"
    );
    let stale_closed = {
        probe.record(Outcome::Success);
        b.try_acquire().unwrap()
    };
    b.force_open();
    b.reset();
    stale_closed.record(Outcome::Failure);
    assert_eq!(b.snapshot().calls, 0, "the stale failure was not recorded");
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_cancelled_or_ignored_probe_returns_its_permit() {
    let (b, clock) = breaker(consecutive(1).half_open(1, 1));
    call(&b, Outcome::Failure);
    clock.advance(ms(1000));
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot().probes_in_flight, 0);
    b.try_acquire().unwrap().record(Outcome::Ignored);
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    // A cancelled closed call counts as nothing.
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot().calls, 0);
}

#[test]
fn snapshot_and_watch_report_every_transition() {
    let (b, clock) = breaker(consecutive(2));
    let mut rx = b.subscribe();
    assert!(!rx.has_changed().unwrap());
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    assert!(rx.has_changed().unwrap());
    let t = *rx.borrow_and_update();
    assert_eq!(
        (t.from, t.to, t.at),
        (State::Closed, State::Open, clock.now())
    );
    clock.advance(ms(1500));
    let s = b.snapshot();
    assert_eq!(
        (s.time_in_state, s.retry_after),
        (ms(1500), Some(Duration::ZERO))
    );
    assert_eq!((s.calls, s.failures, s.failure_rate), (2, 2, 100.0));
    assert_eq!((s.admitted, s.rejected), (2, 0));
    let probe = b.try_acquire().unwrap();
    assert_eq!(rx.borrow_and_update().to, State::HalfOpen);
    probe.record(Outcome::Failure);
    assert_eq!(rx.borrow_and_update().to, State::Open);
    assert!(b.try_acquire().is_err());
    let s = b.snapshot();
    assert_eq!((s.transitions, s.admitted, s.rejected), (3, 3, 1));
}

#[test]
fn a_probe_slow_under_the_slow_policy_reopens() {
    let (b, clock) = breaker(
        consecutive(1)
            .slow_calls(ms(100), 100.0)
            .window(Window::Count(10))
            .minimum_calls(10),
    );
    call(&b, Outcome::Failure);
    clock.advance(ms(1000));
    let probe = b.try_acquire().unwrap();
    clock.advance(ms(200));
    probe.record(Outcome::Success);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.subscribe().borrow().reason, TransitionReason::ProbeSlow);
}

#[test]
fn transitions_and_rejections_are_traced_with_their_figures() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let (b, _) = breaker(consecutive(3).name("db"));
        for _ in 0..3 {
            call(&b, Outcome::Failure);
        }
        assert!(b.try_acquire().is_err());
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let transition = out
        .lines()
        .find(|l| l.contains("circuit breaker transition"))
        .unwrap_or_else(|| panic!("no transition event in {out}"));
    for field in [
        "tollgate::breaker",
        "breaker=db",
        "from=closed",
        "to=open",
        "reason=3 consecutive failures",
        "failures=3",
        "consecutive_failures=3",
        "open_for_ms=1000",
    ] {
        assert!(
            transition.contains(field),
            "{field} missing in {transition}"
        );
    }
    let rejected = out
        .lines()
        .find(|l| l.contains("call rejected"))
        .expect("a rejection event");
    assert!(rejected.contains("retry_after_ms=1000"), "{rejected}");
}

// ===== regressions pinned by mutation testing (issue 17) =====

#[test]
fn a_fast_probe_under_the_slow_policy_closes() {
    // Catches `record_probe`'s `slow && slow_call_rate.is_some()` -> `||`: every probe slow.
    let (b, clock) = breaker(
        consecutive(1)
            .slow_calls(ms(100), 100.0)
            .window(Window::Count(10))
            .minimum_calls(10),
    );
    call(&b, Outcome::Failure);
    clock.advance(ms(1000));
    let probe = b.try_acquire().unwrap();
    clock.advance(ms(99));
    probe.record(Outcome::Success);
    assert_eq!(b.state(), State::Closed, "a 99 ms probe is not slow");
    assert_eq!(
        b.subscribe().borrow().reason,
        TransitionReason::ProbesSucceeded { successes: 1 }
    );
}

/// Opens `b` (consecutive(1), K = `probes`), half-opens it, admits `probes` probes,
/// fails the last one and half-opens again with one new probe: returns the probes
/// still held from the first half-open period and the new period's probe.
fn two_half_open_periods(
    b: &Breaker<ManualClock>,
    clock: &ManualClock,
    probes: usize,
) -> (Vec<Permit<ManualClock>>, Permit<ManualClock>) {
    call(b, Outcome::Failure);
    clock.advance(ms(1000));
    let mut stale: Vec<_> = (0..probes).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "K = {probes}");
    stale.pop().unwrap().record(Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    clock.advance(ms(2000));
    let fresh = b.try_acquire().unwrap();
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 1, 0)
    );
    (stale, fresh)
}

#[test]
fn a_probe_of_an_older_half_open_period_does_not_count_in_the_next() {
    // Catches `record_probe`'s generation check `||` -> `&&`: an older period's probe counted.
    let (b, clock) = breaker(consecutive(1).half_open(3, 2));
    let (stale, fresh) = two_half_open_periods(&b, &clock, 3);
    let [stale_ok, stale_bad]: [_; 2] = stale.try_into().unwrap();
    stale_ok.record(Outcome::Success);
    let s = b.snapshot();
    assert_eq!(
        (s.probes_in_flight, s.probe_successes),
        (1, 0),
        "the stale success neither freed a permit nor counted"
    );
    stale_bad.record(Outcome::Failure);
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "the stale failure did not reopen"
    );
    // The new period still needs its own 2 successes.
    fresh.record(Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(
        b.subscribe().borrow().reason,
        TransitionReason::ProbesSucceeded { successes: 2 }
    );
}

#[test]
fn a_cancelled_probe_of_an_older_period_leaves_the_next_period_alone() {
    // Catches both `||` -> `&&` in `cancel_probe`'s checks: a stale cancel freed a new permit.
    let (b, clock) = breaker(consecutive(1).half_open(2, 1));
    let (stale, _fresh) = two_half_open_periods(&b, &clock, 2);
    drop(stale);
    assert_eq!(
        b.snapshot().probes_in_flight,
        1,
        "the stale cancel changed nothing"
    );
    let _second = b.try_acquire().unwrap();
    assert!(
        b.try_acquire().is_err(),
        "K = 2: the new period's probe is still counted"
    );
}

/// What a [`HookClock`] runs at its next reading.
type Hook = Box<dyn FnOnce() + Send>;

/// A manual clock that runs a hook once, at its next reading: a deterministic stand-in
/// for another thread acting between a recorder's judgment and its transition lock.
#[derive(Clone, Default)]
struct HookClock {
    inner: ManualClock,
    hook: std::sync::Arc<std::sync::Mutex<Option<Hook>>>,
}

impl std::fmt::Debug for HookClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookClock")
            .field("now", &self.inner.now())
            .finish()
    }
}

impl Clock for HookClock {
    fn now(&self) -> tollgate_core::Timestamp {
        // Taken before it runs, so the hook's own clock readings are plain ones.
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.now()
    }
}

#[test]
fn a_trip_judged_before_a_reset_does_not_open_the_reset_breaker() {
    // Catches `record_closed`'s re-check under the lock `&&` -> `||`: a stale trip opened a new period.
    let clock = HookClock::default();
    let b = consecutive(1).clock(clock.clone()).build().unwrap();
    let permit = b.try_acquire().unwrap();
    let operator = b.clone();
    // A count window and no slow-call policy: the only clock reading of the recording
    // is the trip's, after the judgment and before the lock.
    *clock.hook.lock().unwrap() = Some(Box::new(move || {
        operator.force_open();
        operator.reset();
    }));
    permit.record(Outcome::Failure);
    assert!(clock.hook.lock().unwrap().is_none(), "the hook ran");
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.transitions),
        (State::Closed, 2),
        "forced open and reset only: the stale trip did not open"
    );
    // The reset breaker still opens on its own failure.
    b.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.subscribe().borrow().reason,
        TransitionReason::ConsecutiveFailures { count: 1 }
    );
}

#[test]
fn jitter_varies_across_breakers_and_opens_within_its_bounds() {
    // Catches a jitter generator or seed replaced by a constant: unseeded breakers opened
    // together would probe together, and one breaker's waits would shrink by one fraction.
    let first_wait = || {
        let (b, _) = breaker(consecutive(1).jitter(0.5));
        call(&b, Outcome::Failure);
        let wait = retry_after(&b).unwrap();
        assert!(
            wait > ms(500) && wait <= ms(1000),
            "{wait:?} not in (500 ms, 1 s]"
        );
        wait
    };
    let mut waits: Vec<_> = (0..8).map(|_| first_wait()).collect();
    waits.sort();
    waits.dedup();
    assert!(
        waits.len() >= 4,
        "8 unseeded breakers opened at once drew {waits:?}"
    );

    let (b, clock) = breaker(consecutive(1).jitter(0.5).jitter_seed(7));
    call(&b, Outcome::Failure);
    let mut fractions = Vec::new();
    for k in 0..6u32 {
        let wait = retry_after(&b).unwrap();
        let full = b.config().open_wait_for(k);
        assert!(wait > full / 2 && wait <= full, "{wait:?} vs {full:?}");
        fractions.push(wait.as_nanos() * 1_000_000 / full.as_nanos());
        clock.advance(wait);
        b.try_acquire().unwrap().record(Outcome::Failure);
    }
    fractions.sort();
    fractions.dedup();
    assert!(
        fractions.len() >= 4,
        "6 opens of one breaker shortened by {fractions:?} ppm"
    );
}
