//! The shaper's quantitative promises, for any arrival sequence.

mod common;

use std::time::Duration;

use common::{ms, Sim};
use proptest::prelude::*;
use tollgate_leaky::Shaper;

#[derive(Debug, Clone)]
struct Arrival {
    gap_ms: u64,
    weight: u32,
    /// Cancel the waiter admitted this many arrivals ago, if it still waits.
    cancel_back: Option<usize>,
}

fn arrivals(burst: u32) -> impl Strategy<Value = Vec<Arrival>> {
    prop::collection::vec(
        (0u64..250, 1..=burst, prop::option::weighted(0.3, 1usize..6)).prop_map(
            |(gap_ms, weight, cancel_back)| Arrival {
                gap_ms,
                weight,
                cancel_back,
            },
        ),
        1..80,
    )
}

proptest! {
    #[test]
    fn releases_are_fifo_conformant_and_within_max_wait(
        (burst, arrivals) in (1u32..4).prop_flat_map(|b| (Just(b), arrivals(b))),
        interval_ms in 10u64..200,
        max_wait_ms in 0u64..2_000,
        max_queue in 1usize..20,
    ) {
        let interval = ms(interval_ms);
        let max_wait = ms(max_wait_ms);
        let mut sim = Sim::new(
            Shaper::builder(tollgate_core::Quota::with_period(1, interval).burst(burst).unwrap())
                .max_wait(max_wait)
                .max_queue(max_queue),
        );
        let mut admitted = Vec::new();
        let mut t = 0;
        for a in &arrivals {
            t += a.gap_ms;
            sim.run_until(common::at_ms(t));
            if let Ok(i) = sim.admit(a.weight) {
                admitted.push(i);
            }
            if let Some(back) = a.cancel_back {
                if back <= admitted.len() {
                    sim.cancel(admitted[admitted.len() - back]);
                }
            }
        }
        sim.run_to_end(); // panics on a lost wake-up

        let releases = sim.releases();
        // FIFO: released in admission order.
        prop_assert!(releases.windows(2).all(|w| w[0].0 < w[1].0), "{releases:?}");
        // Conformant to GCRA(interval, burst): never closer than the interval beyond
        // the burst.
        let mut tat = Duration::ZERO;
        for &(i, at) in &releases {
            let at = at - tollgate_core::Timestamp::ZERO;
            let weight = sim.slots[i].weight;
            tat = tat.max(at) + interval * weight;
            prop_assert!(tat - at <= interval * burst, "release {i} at {at:?} breaks the burst");
        }
        // Every admitted request is released within the maximum wait, or cancelled.
        for (i, slot) in sim.slots.iter().enumerate() {
            match slot.released_at {
                Some(at) => prop_assert!(at - slot.admitted_at <= max_wait, "waiter {i}"),
                None => prop_assert!(slot.cancelled, "waiter {i} neither released nor cancelled"),
            }
        }
    }
}
