//! Exact tests of the shaper core on a manual clock.

mod common;

use std::time::Duration;

use common::{at_ms, counting_waker, ms, Sim};
use tollgate_core::{Clock, ManualClock, Quota, Reason, Timestamp};
use tollgate_leaky::{Admit, Shaper, ShaperBuilder, Signal, Turn, Waiter};

/// One unit every 100 ms, released back to back up to `burst` after an idle period.
fn every_100ms_burst(burst: u32) -> ShaperBuilder {
    Shaper::builder(Quota::with_period(1, ms(100)).burst(burst).unwrap())
}

fn every_100ms() -> ShaperBuilder {
    every_100ms_burst(1)
}

#[test]
fn releases_exactly_on_schedule() {
    let mut sim = Sim::new(every_100ms());
    for _ in 0..5 {
        sim.admit(1).unwrap();
    }
    sim.run_to_end();
    let expected: Vec<_> = (0..5).map(|i| (i, at_ms(100 * i as u64))).collect();
    assert_eq!(sim.releases(), expected);
    let snap = sim.shaper.snapshot();
    assert_eq!((snap.admitted, snap.queued, snap.rejected), (5, 0, 0));
}

#[test]
fn burst_goes_at_once_then_the_interval_holds() {
    let mut sim = Sim::new(every_100ms_burst(3));
    for _ in 0..6 {
        sim.admit(1).unwrap();
    }
    sim.run_to_end();
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        times,
        [0, 0, 0, 100, 200, 300].map(at_ms).to_vec(),
        "three at once, then one per interval"
    );
    // After an idle period the burst is back.
    sim.run_until(at_ms(1000));
    for _ in 0..3 {
        sim.admit(1).unwrap();
    }
    assert_eq!(sim.shaper.snapshot().queued, 0);
}

#[test]
fn fifo_under_interleaved_arrivals() {
    let mut sim = Sim::new(every_100ms_burst(2));
    let mut expected = Vec::new();
    for round in 0..5u64 {
        for _ in 0..3 {
            expected.push(sim.admit(1).unwrap());
        }
        // Arrive again in the middle of the schedule.
        sim.run_until(at_ms(round * 130 + 130));
    }
    sim.run_to_end();
    let order: Vec<_> = sim.releases().into_iter().map(|(i, _)| i).collect();
    assert_eq!(order, expected);
    // Never closer than the interval beyond the burst of 2.
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    for w in times.windows(3) {
        assert!(w[2] - w[0] >= ms(100), "{w:?}");
    }
}

#[test]
fn max_wait_refusal_is_immediate_with_exact_retry() {
    let mut sim = Sim::new(every_100ms().max_wait(ms(250)));
    for _ in 0..3 {
        sim.admit(1).unwrap(); // released at 0, 100, 200
    }
    sim.run_until(at_ms(10));
    let r = sim.admit(1).unwrap_err(); // would go at 300: a 290 ms wait
    assert_eq!(r.reason(), Reason::WaitTooLong);
    assert_eq!(r.retry_after(), Some(ms(40)));
    // Retrying exactly then fits.
    sim.run_until(at_ms(50));
    sim.admit(1).unwrap();
    assert_eq!(sim.shaper.snapshot().rejected, 1);
    sim.run_to_end();
    assert_eq!(sim.releases().last().unwrap().1, at_ms(300));
}

#[test]
fn queue_full_refusal_is_immediate_with_time_until_the_head_leaves() {
    let mut sim = Sim::new(every_100ms().max_queue(2));
    sim.admit(1).unwrap(); // now
    sim.admit(1).unwrap(); // queued, at 100
    sim.admit(1).unwrap(); // queued, at 200
    sim.run_until(at_ms(30));
    let r = sim.admit(1).unwrap_err();
    assert_eq!(r.reason(), Reason::QueueFull);
    assert_eq!(r.retry_after(), Some(ms(70)));
    sim.run_until(at_ms(100));
    assert!(sim.admit(1).is_ok(), "room once the head left");
}

#[test]
fn weighted_requests_take_their_units() {
    let mut sim = Sim::new(every_100ms_burst(4));
    sim.admit(4).unwrap(); // the whole burst at once
    sim.admit(2).unwrap(); // needs two units: at 200
    sim.admit(1).unwrap(); // at 300
    let r = sim.admit(5).unwrap_err();
    assert_eq!(r.reason(), Reason::OverCapacity);
    assert_eq!(r.retry_after(), None);
    // Weight zero is free.
    let free = sim.admit(0).unwrap();
    assert_eq!(sim.slots[free].released_at, Some(Timestamp::ZERO));
    sim.run_to_end();
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    assert_eq!(times, [0, 0, 200, 300].map(at_ms).to_vec());
}

#[test]
fn server_pushback_delays_the_next_release_by_exactly_what_it_said() {
    let mut sim = Sim::new(every_100ms_burst(2));
    for _ in 0..4 {
        sim.admit(1).unwrap(); // 0, 0, 100, 200 without feedback
    }
    sim.run_until(at_ms(50));
    // A 429 with Retry-After: 1 arrives at 50 ms.
    sim.shaper.observe_at(
        Signal::Throttled {
            retry_after: Some(Duration::from_secs(1)),
        },
        sim.now(),
    );
    assert_eq!(sim.shaper.snapshot().paused_for, ms(1000));
    sim.run_to_end();
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    // Resumes at 1050 ms exactly, one interval apart, no burst.
    assert_eq!(times, [0, 0, 1050, 1150].map(at_ms).to_vec());
}

#[test]
fn pushback_is_capped_and_never_shortens() {
    let mut sim = Sim::new(every_100ms().max_pause(Duration::from_secs(5)));
    sim.shaper.pause_until(at_ms(60_000), sim.now());
    assert_eq!(sim.shaper.snapshot().paused_for, Duration::from_secs(5));
    sim.shaper.pause_until(at_ms(10), sim.now());
    assert_eq!(sim.shaper.snapshot().paused_for, Duration::from_secs(5));
    assert_eq!(sim.shaper.snapshot().current_wait, Duration::from_secs(5));
    let i = sim.admit(1).unwrap();
    sim.run_to_end();
    assert_eq!(sim.slots[i].released_at, Some(at_ms(5000)));
}

#[test]
fn a_cancelled_head_hands_its_turn_to_the_next() {
    let mut sim = Sim::new(every_100ms());
    sim.admit(1).unwrap();
    let head = sim.admit(1).unwrap();
    let next = sim.admit(1).unwrap();
    sim.run_until(at_ms(50));
    sim.cancel(head);
    sim.run_to_end();
    assert_eq!(sim.slots[next].released_at, Some(at_ms(100)));
    assert_eq!(
        sim.slots[next].wakes(),
        1,
        "woken once, when it became the head"
    );
    assert_eq!(sim.shaper.snapshot().cancelled, 1);
}

#[test]
fn a_cancelled_middle_waiter_moves_the_rest_earlier() {
    let mut sim = Sim::new(every_100ms());
    for _ in 0..4 {
        sim.admit(1).unwrap(); // 0, 100, 200, 300
    }
    sim.cancel(2);
    sim.run_to_end();
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    assert_eq!(times, [0, 100, 200].map(at_ms).to_vec());
    // The next free slot is one interval after the last release, not two.
    assert_eq!(sim.shaper.snapshot().current_wait, ms(100));
}

/// Half of the waiters cancel at random moments: the released rate still matches the
/// configuration, and every waiter is woken exactly once per promotion, never twice,
/// never zero times.
#[test]
fn random_cancellation_loses_no_capacity_and_no_wake_up() {
    let mut sim = Sim::new(
        every_100ms()
            .max_queue(1000)
            .max_wait(Duration::from_secs(100)),
    );
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..200 {
        sim.admit(1).unwrap();
    }
    let mut to_cancel: Vec<usize> = (1..200).filter(|_| next() % 2 == 0).collect();
    let cancelled = to_cancel.len();
    assert!((80..120).contains(&cancelled), "{cancelled}");
    // Cancel them at random times, in random order, while the queue drains.
    let mut t = 0;
    while !to_cancel.is_empty() {
        t += next() % 30;
        sim.run_until(at_ms(t));
        let pick = (next() as usize) % to_cancel.len();
        sim.cancel(to_cancel.swap_remove(pick));
    }
    sim.run_to_end();
    let releases = sim.releases();
    let released = releases.len();
    assert_eq!(
        released + sim.slots.iter().filter(|s| s.cancelled).count(),
        200
    );
    // No slot left unused while someone waited: releases are exactly one interval apart.
    for (k, (_, t)) in releases.iter().enumerate() {
        assert_eq!(*t, at_ms(100 * k as u64), "release {k}");
    }
    // FIFO among the survivors.
    assert!(releases.windows(2).all(|w| w[0].0 < w[1].0));
    for (i, slot) in sim.slots.iter().enumerate() {
        let expected = usize::from(slot.saw_queued && slot.released_at.is_some());
        if slot.cancelled {
            assert!(slot.wakes() <= 1, "waiter {i} woken {} times", slot.wakes());
        } else {
            assert_eq!(slot.wakes(), expected, "waiter {i}");
        }
    }
    let snap = sim.shaper.snapshot();
    assert_eq!(snap.admitted as usize, released);
    assert_eq!(
        snap.cancelled as usize,
        sim.slots.iter().filter(|s| s.cancelled).count()
    );
}

#[test]
fn builder_names_the_field_it_refuses() {
    // A rate is a validated `Quota`: its own rules name its fields.
    let quotas = [
        (Quota::per_second(0).build(), "count"),
        (Quota::with_period(1, Duration::ZERO).build(), "period"),
        (Quota::with_period(1, ms(100)).burst(0), "burst"),
    ];
    for (quota, field) in quotas {
        let err = quota.unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
    let slow = Quota::with_period(1, Duration::from_secs(7200))
        .burst(1)
        .unwrap();
    let cases = [
        (Shaper::builder(slow), "quota"),
        (every_100ms().max_queue(0), "max_queue"),
        (every_100ms().max_wait(Duration::MAX), "max_wait"),
        (every_100ms().max_pause(Duration::ZERO), "max_pause"),
        (every_100ms().max_pause(Duration::MAX), "max_pause"),
        (every_100ms().adaptive(f64::NAN, ms(1)), "adaptive.k"),
        (every_100ms().adaptive(0.5, ms(1)), "adaptive.k"),
        (
            every_100ms().adaptive(2.0, Duration::ZERO),
            "adaptive.window",
        ),
        (
            every_100ms().adaptive(2.0, Duration::from_secs(86_401)),
            "adaptive.window",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
    // The limits themselves are accepted.
    let hourly = Quota::with_period(1, Duration::from_secs(3600))
        .burst(1)
        .unwrap();
    assert!(Shaper::builder(hourly)
        .max_wait(Duration::from_secs(86_400))
        .max_pause(Duration::from_secs(86_400))
        .build()
        .is_ok());
}

#[test]
fn adaptive_throttling_sheds_with_the_sre_probability() {
    // Draws of 0.5: shed exactly when p > 0.5.
    let mut sim = Sim::new(
        every_100ms_burst(100)
            .adaptive(2.0, Duration::from_secs(10))
            .random(|| 0.5),
    );
    // The backend refuses everything: p = n / (n + 1) after n refused requests.
    sim.admit(1).unwrap(); // p = 0
    sim.shaper
        .observe_at(Signal::Throttled { retry_after: None }, sim.now());
    sim.admit(1).unwrap(); // p = 1/2: not above the draw
    let r = sim.admit(1).unwrap_err(); // p = 2/3
    assert_eq!(r.reason(), Reason::Throttled);
    // Accepted calls bring it back: 3 requests, 2 accepts -> p = 0.
    sim.shaper.observe_at(Signal::Accepted, sim.now());
    sim.shaper.observe_at(Signal::Accepted, sim.now());
    sim.admit(1).unwrap();
    // Adaptive throttling is off by default: nothing is shed.
    let mut plain = Sim::new(every_100ms_burst(100));
    for _ in 0..50 {
        plain
            .shaper
            .observe_at(Signal::Throttled { retry_after: None }, plain.now());
        plain.admit(1).unwrap();
    }
}

#[test]
fn snapshot_reports_the_current_wait() {
    let mut sim = Sim::new(every_100ms());
    for _ in 0..3 {
        sim.admit(1).unwrap();
    }
    sim.run_until(at_ms(20));
    let snap = sim.shaper.snapshot();
    assert_eq!(snap.queued, 2);
    assert_eq!(snap.queued_units, 2);
    assert_eq!(snap.current_wait, ms(280));
    assert_eq!(snap.admitted, 1);
}

#[test]
fn pause_for_reads_the_shapers_clock_and_resumes_exactly() {
    let mut sim = Sim::new(every_100ms_burst(2));
    for _ in 0..4 {
        sim.admit(1).unwrap(); // 0, 0, 100, 200 without a pause
    }
    sim.run_until(at_ms(50));
    // The server said 429 + Retry-After: 1 at 50 ms on the shaper's own clock.
    sim.shaper.pause_for(Duration::from_secs(1));
    assert_eq!(sim.shaper.snapshot().paused_for, ms(1000));
    assert_eq!(sim.shaper.snapshot().current_wait, ms(1200));
    sim.run_until(at_ms(450));
    assert_eq!(sim.shaper.snapshot().paused_for, ms(600));
    assert_eq!(sim.releases().len(), 2, "nothing released during the pause");
    sim.run_to_end();
    let times: Vec<_> = sim.releases().into_iter().map(|(_, t)| t).collect();
    // Resumes at 1050 ms exactly, one interval apart, no burst.
    assert_eq!(times, [0, 0, 1050, 1150].map(at_ms).to_vec());
    assert_eq!(sim.shaper.snapshot().paused_for, Duration::ZERO);
    // A shorter pause later never shortens a longer one in force.
    sim.run_until(at_ms(2000));
    sim.shaper.pause_for(ms(500));
    sim.shaper.pause_for(ms(100));
    assert_eq!(sim.shaper.snapshot().paused_for, ms(500));
    let i = sim.admit(1).unwrap();
    sim.run_to_end();
    assert_eq!(sim.slots[i].released_at, Some(at_ms(2500)));
}

/// A clock that counts its reads, to pin when the shaper reads it.
#[derive(Debug, Clone, Default)]
struct CountingClock {
    inner: tollgate_core::ManualClock,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tollgate_core::Clock for CountingClock {
    fn now(&self) -> Timestamp {
        // Relaxed: a test counter read on the same thread.
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.now()
    }
}

impl CountingClock {
    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn observe_reads_the_clock_only_for_signals_that_change_something() {
    let clock = CountingClock::default();
    let plain = every_100ms().clock(clock.clone()).build().unwrap();
    plain.observe(Signal::Accepted);
    plain.observe(Signal::Ignored);
    plain.observe(Signal::Throttled { retry_after: None });
    assert_eq!(clock.reads(), 0, "nothing to apply: no clock read");
    plain.observe(Signal::Throttled {
        retry_after: Some(ms(300)),
    });
    assert_eq!(clock.reads(), 1);
    assert_eq!(plain.snapshot_at(Timestamp::ZERO).paused_for, ms(300));

    // With adaptive throttling on, accepted calls are counted at `now`.
    let clock = CountingClock::default();
    let adaptive = every_100ms_burst(100)
        .adaptive(2.0, Duration::from_secs(10))
        .random(|| 0.5)
        .clock(clock.clone())
        .build()
        .unwrap();
    adaptive.observe(Signal::Accepted);
    assert_eq!(clock.reads(), 1);
    // 3 requests, 1 accept: p = (3 - 2) / 4 = 0.25, below the draw: admitted. Without
    // the accept, p would be 3 / 4 and the third request shed.
    for _ in 0..3 {
        assert!(adaptive.admit(1).is_ok());
    }
}

#[test]
fn an_exhausted_quota_pauses_until_its_reset_and_counts_as_accepted() {
    let mut sim = Sim::new(
        every_100ms_burst(10)
            .adaptive(2.0, Duration::from_secs(10))
            .random(|| 0.5),
    );
    sim.admit(1).unwrap();
    sim.shaper.observe_at(
        Signal::Exhausted {
            reset: Duration::from_secs(3),
        },
        sim.now(),
    );
    assert_eq!(sim.shaper.snapshot().paused_for, Duration::from_secs(3));
    // 1 request, 1 accept: p = 0 for the next two.
    let a = sim.admit(1).unwrap();
    sim.admit(1).unwrap();
    sim.run_to_end();
    assert_eq!(sim.slots[a].released_at, Some(at_ms(3000)));
}

#[test]
fn adaptive_throttling_draws_from_the_shared_generator_by_default() {
    let mut sim = Sim::new(every_100ms_burst(1000).adaptive(2.0, Duration::from_secs(10)));
    // The backend accepts nothing: after n requests p = n / (n + 1), so almost all are
    // shed (about ln 200 ≈ 6 get through on average), but never the first, at p = 0.
    let mut shed = 0;
    for i in 0..200 {
        match sim.admit(1) {
            Ok(_) => {}
            Err(r) => {
                assert_ne!(i, 0, "p = 0 sheds nothing");
                assert_eq!(r.reason(), Reason::Throttled);
                shed += 1;
            }
        }
    }
    assert!((150..200).contains(&shed), "{shed} shed");
    assert_eq!(sim.shaper.snapshot().rejected, shed);
}

fn queued(shaper: &Shaper<ManualClock>, now: Timestamp) -> Waiter<ManualClock> {
    match shaper.admit_at(1, now) {
        Ok(Admit::Wait(w)) => w,
        other => panic!("expected to queue, got {other:?}"),
    }
}

/// A queued waiter re-polled with a new waker (its task moved, or its future was
/// polled from another context) must be woken through the new one when it becomes the
/// head, whether the head ahead of it is released or cancelled.
// Catches `register`'s `will_wake` guard forced to true (waiter.rs): the first waker
// is kept, the new one never registered, and the task that now owns the future is
// never woken: a lost wake-up.
#[test]
fn a_repoll_with_a_new_waker_is_woken_not_the_old_one() {
    for cancel_head in [false, true] {
        let clock = ManualClock::new();
        let shaper = every_100ms().clock(clock.clone()).build().unwrap();
        assert!(matches!(shaper.admit_at(1, clock.now()), Ok(Admit::Now)));
        let mut head = queued(&shaper, clock.now());
        let mut next = queued(&shaper, clock.now());
        let (old, old_wakes) = counting_waker();
        let (new, new_wakes) = counting_waker();
        assert_eq!(next.poll_turn(clock.now(), &old), Turn::Queued);
        assert_eq!(next.poll_turn(clock.now(), &new), Turn::Queued);
        // The same waker again is kept, and still woken once.
        assert_eq!(next.poll_turn(clock.now(), &new), Turn::Queued);
        clock.advance(ms(100));
        if cancel_head {
            drop(head);
        } else {
            assert_eq!(
                head.poll_turn(clock.now(), std::task::Waker::noop()),
                Turn::Released
            );
        }
        assert_eq!(
            (old_wakes.count(), new_wakes.count()),
            (0, 1),
            "(old, new) wakes, head cancelled: {cancel_head}"
        );
        // Its turn: the next slot when the head went, the head's own when it left unused.
        let expected = if cancel_head {
            Turn::Released
        } else {
            Turn::At(at_ms(200))
        };
        assert_eq!(next.poll_turn(clock.now(), &new), expected);
    }
}

/// The debug form shows the configuration a reader needs: quota, queue bound, wait
/// bound.
// Catches `<Shaper as Debug>::fmt` replaced by `Ok(())` (an empty debug string).
#[test]
fn debug_shows_the_quota_and_the_bounds() {
    let shaper = every_100ms()
        .max_queue(7)
        .max_wait(ms(250))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert_eq!(
        format!("{shaper:?}"),
        "Shaper { quota: Quota { count: 1, period: 100ms, burst: 1, emission_interval: 100ms }, max_queue: 7, max_wait: 250ms, .. }"
    );
}

/// A waiter's debug form shows its place and whether it was released.
// Catches `<Waiter as Debug>::fmt` replaced by `Ok(())` (an empty debug string).
#[test]
fn waiter_debug_shows_its_id_weight_and_release() {
    let clock = ManualClock::new();
    let shaper = every_100ms_burst(2).clock(clock.clone()).build().unwrap();
    assert!(matches!(shaper.admit_at(2, clock.now()), Ok(Admit::Now)));
    let mut waiter = match shaper.admit_at(2, clock.now()) {
        Ok(Admit::Wait(w)) => w,
        other => panic!("expected to queue, got {other:?}"),
    };
    assert_eq!(
        format!("{waiter:?}"),
        "Waiter { id: 0, weight: 2, done: false }"
    );
    clock.advance(ms(200));
    assert_eq!(
        waiter.poll_turn(clock.now(), std::task::Waker::noop()),
        Turn::Released
    );
    assert_eq!(
        format!("{waiter:?}"),
        "Waiter { id: 0, weight: 2, done: true }"
    );
}
