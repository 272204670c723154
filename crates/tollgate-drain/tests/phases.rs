//! Exact tests of every phase transition and of the report, under paused tokio time,
//! with the drain reading a `TokioClock`.

use std::time::Duration;

use tollgate_core::{Clock, Timestamp, TokioClock};
use tollgate_drain::{Drain, Phase};

fn drain(propagation_ms: u64, deadline_ms: u64) -> Drain {
    Drain::builder()
        .propagation_delay(Duration::from_millis(propagation_ms))
        .deadline(Duration::from_millis(deadline_ms))
        .clock(TokioClock::new())
        .build()
        .unwrap()
}

/// The test's own reading of the drain's clock.
#[derive(Clone, Copy)]
struct Started(Timestamp);

impl Started {
    fn now() -> Self {
        Started(TokioClock::new().now())
    }

    fn elapsed(self) -> Duration {
        TokioClock::new().now() - self.0
    }
}

/// Records every phase the drain announces, with its time since `t0`.
fn record(drain: &Drain, t0: Started) -> tokio::task::JoinHandle<Vec<(Phase, Duration)>> {
    let mut rx = drain.subscribe();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            let phase = *rx.borrow_and_update();
            seen.push((phase, t0.elapsed()));
            if phase == Phase::Done {
                break;
            }
        }
        seen
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn idle_drain_moves_through_every_phase_at_exact_instants() {
    let t0 = Started::now();
    let drain = drain(2_000, 10_000);
    // A watch shows the latest phase: closing and done coincide here, so each is
    // awaited on its own.
    let at = |phase| {
        let reached = drain.reached(phase);
        tokio::spawn(async move {
            reached.await;
            t0.elapsed()
        })
    };
    let (announced, closing, done) = (at(Phase::Announced), at(Phase::Closing), at(Phase::Done));
    let report = drain.clone().run_until(tokio::time::sleep(ms(1_000))).await;
    assert_eq!(announced.await.unwrap(), ms(1_000));
    assert_eq!(closing.await.unwrap(), ms(3_000));
    assert_eq!(done.await.unwrap(), ms(3_000));
    assert_eq!(report.closing_after(), ms(2_000));
    assert_eq!(report.done_after(), ms(2_000));
    assert_eq!(report.longest_remaining(), Duration::ZERO);
    assert_eq!(
        (
            report.in_flight_at_trigger(),
            report.finished(),
            report.cut()
        ),
        (0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn announced_still_serves_closing_refuses_and_done_waits_for_the_last_request() {
    let t0 = Started::now();
    let drain = drain(1_000, 10_000);
    let phases = record(&drain, t0);
    let before = drain.enter().unwrap();
    let driver = tokio::spawn(drain.clone().run());
    drain.start();

    drain.announced().await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!drain.phase().is_ready());
    let during_announce = drain.enter().expect("served during the propagation delay");
    assert_eq!(drain.snapshot().in_flight, 2);

    drain.closing().await;
    assert_eq!(t0.elapsed(), ms(1_000));
    assert_eq!(drain.snapshot().admitted, 2);
    let refused = drain.enter().unwrap_err();
    assert_eq!(refused.reason(), tollgate_core::Reason::Draining);

    tokio::time::sleep(ms(500)).await;
    drop(during_announce);
    let snapshot = drain.snapshot();
    assert_eq!(
        (
            snapshot.state,
            snapshot.in_flight,
            snapshot.finished,
            snapshot.rejected,
            snapshot.admitted
        ),
        (Phase::Closing, 1, 1, 1, 2)
    );
    tokio::time::sleep(ms(2_000)).await;
    drop(before); // t = 3.5 s

    let report = driver.await.unwrap();
    assert_eq!(
        phases.await.unwrap(),
        [
            (Phase::Announced, ms(0)),
            (Phase::Closing, ms(1_000)),
            (Phase::Done, ms(3_500)),
        ]
    );
    assert_eq!(report.in_flight_at_trigger(), 1);
    assert_eq!(
        (report.finished(), report.cut(), report.refused()),
        (2, 0, 1)
    );
    assert_eq!(report.longest_remaining(), ms(2_500));
    assert!(report.is_clean());
    assert_eq!(drain.report(), Some(report));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_what_is_still_in_flight_and_reports_it() {
    let t0 = Started::now();
    let drain = drain(1_000, 4_000);
    let finishes = drain.enter().unwrap();
    let stuck = [drain.enter().unwrap(), drain.enter().unwrap()];
    drain.start();
    let driver = tokio::spawn(drain.clone().run());
    tokio::time::sleep(ms(2_000)).await;
    drop(finishes);

    let report = driver.await.unwrap();
    assert_eq!(t0.elapsed(), ms(4_000));
    assert_eq!((report.finished(), report.cut()), (1, 2));
    assert_eq!(report.done_after(), ms(4_000));
    assert_eq!(report.longest_remaining(), ms(3_000));
    assert!(!report.is_clean());
    assert!(stuck.iter().all(|g| g.is_cut()));

    // Cut requests leave later without changing the report or the snapshot's counts.
    drop(stuck);
    let snapshot = drain.snapshot();
    assert_eq!(
        (
            snapshot.state,
            snapshot.in_flight,
            snapshot.finished,
            snapshot.cut
        ),
        (Phase::Done, 0, 1, 2)
    );
    assert!(drain.enter().is_err());
}

#[tokio::test(start_paused = true)]
async fn propagation_delay_equal_to_deadline_cuts_at_closing() {
    let drain = drain(1_000, 1_000);
    let _stuck = drain.enter().unwrap();
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(
        (report.closing_after(), report.done_after()),
        (ms(1_000), ms(1_000))
    );
    assert_eq!(report.cut(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_second_driver_waits_for_the_first_ones_report() {
    let drain = drain(100, 1_000);
    drain.start(); // before any driver: the trigger is kept
    let first = tokio::spawn(drain.clone().run());
    let second = tokio::spawn(drain.clone().run_until(std::future::pending()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first, second);
    assert_eq!(first.done_after(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn the_programmatic_trigger_and_the_user_future_are_alternatives() {
    let t0 = Started::now();
    let drain = drain(0, 1_000);
    let driver = tokio::spawn(drain.clone().run_until(tokio::time::sleep(ms(60_000))));
    tokio::time::sleep(ms(250)).await;
    drain.start();
    let report = driver.await.unwrap();
    assert_eq!(t0.elapsed(), ms(250));
    assert_eq!(report.done_after(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn snapshot_counts_only_what_finished_after_the_trigger() {
    let drain = drain(1_000, 5_000);
    drop(drain.enter().unwrap()); // before the trigger: not part of the drain
    let a = drain.enter().unwrap();
    assert_eq!(drain.snapshot().finished, 0);
    let driver = tokio::spawn(drain.clone().run());
    drain.start();
    drain.announced().await;
    drop(a);
    assert_eq!(drain.snapshot().finished, 1);
    let report = driver.await.unwrap();
    assert_eq!((report.in_flight_at_trigger(), report.finished()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn the_report_reads_the_drains_clock_not_tokios() {
    let clock = tollgate_core::ManualClock::new();
    let drain = Drain::builder()
        .propagation_delay(ms(1_000))
        .deadline(ms(60_000))
        .clock(clock.clone())
        .build()
        .unwrap();
    let request = drain.enter().unwrap();
    let driver = tokio::spawn(drain.clone().run());
    drain.start();
    drain.announced().await;
    clock.advance(ms(1_000));
    // The propagation timer was armed from the manual clock's reading, on tokio's time.
    drain.closing().await;
    clock.advance(ms(2_000)); // tokio's time does not move
    drop(request);
    let report = driver.await.unwrap();
    assert_eq!(
        (report.closing_after(), report.done_after()),
        (ms(1_000), ms(3_000))
    );
}
