//! Half-open: entering it, its probe permits, and their outcomes.

use std::time::Duration;

use tollgate_core::sync::{spin_loop, Ordering};
use tollgate_core::{Clock, Timestamp};

use super::Shared;
use crate::state::{Word, CLOSED, HALF_OPEN};
use crate::transition::TransitionReason;
use crate::State;

impl<C: Clock> Shared<C> {
    /// Open -> half-open by the first caller after the wait; that caller is a probe.
    pub(crate) fn enter_half_open(&self, seen: Word, now: Timestamp) -> bool {
        let _control = self.lock();
        let next = seen.next(HALF_OPEN).with_probes(1, 0);
        if !self.publish(seen, next, now) {
            return false;
        }
        self.announce(
            State::Open,
            State::HalfOpen,
            TransitionReason::OpenWaitElapsed,
            now,
            Duration::ZERO,
        );
        true
    }

    /// Records the outcome of a probe admitted in `generation`.
    pub(crate) fn record_probe(&self, generation: u32, failure: bool, slow: bool, now: Timestamp) {
        let mut control = self.lock();
        let slow = slow && self.config.slow_call_rate.is_some();
        loop {
            // Relaxed: under the lock only probe counters change concurrently, and the
            // compare-exchange below catches that.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() != generation || current.state_code() != HALF_OPEN {
                return; // a probe of an older half-open period
            }
            if failure || slow {
                let reason = if failure {
                    TransitionReason::ProbeFailed
                } else {
                    TransitionReason::ProbeSlow
                };
                self.open(&mut control, current, reason, now);
                return;
            }
            let successes = current.successes() + 1;
            if successes >= self.config.half_open_successes {
                self.window.reset(now);
                // Relaxed: published by the Release below.
                self.consecutive.store(0, Ordering::Relaxed);
                if self.publish(current, current.next(CLOSED), now) {
                    control.reopens = 0;
                    self.announce(
                        current.state(),
                        State::Closed,
                        TransitionReason::ProbesSucceeded { successes },
                        now,
                        Duration::ZERO,
                    );
                    return;
                }
            } else {
                let next = current.with_probes(current.in_flight().saturating_sub(1), successes);
                // Relaxed: the probe counters publish no other data.
                if self
                    .word
                    .compare_exchange(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
            spin_loop();
        }
    }
}

impl<C> Shared<C> {
    /// Returns the permit of a probe whose call was cancelled (or ignored).
    pub(crate) fn cancel_probe(&self, generation: u32) {
        loop {
            // Relaxed: only the probe counter of this generation is touched.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() != generation
                || current.state_code() != HALF_OPEN
                || current.in_flight() == 0
            {
                return;
            }
            let next = current.with_probes(current.in_flight() - 1, current.successes());
            // Relaxed: as above; a failed exchange reloads.
            if self
                .word
                .compare_exchange(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            spin_loop();
        }
    }
}
