//! Opening, operator transitions, and publishing a new generation.

use std::time::Duration;

use tollgate_core::sync::{spin_loop, Ordering};
use tollgate_core::{Clock, Timestamp};

use super::{Control, Shared};
use crate::state::{Word, CLOSED, OPEN};
use crate::transition::{Transition, TransitionReason};
use crate::State;

impl<C: Clock> Shared<C> {
    /// Opens from `current` (closed or half-open), under the lock.
    pub(super) fn open(
        &self,
        control: &mut Control,
        current: Word,
        reason: TransitionReason,
        now: Timestamp,
    ) {
        let mut wait = self.config.open_wait_for(control.reopens);
        if self.config.jitter > 0.0 {
            let unit = control.rng.next_unit();
            wait = wait.mul_f64(1.0 - self.config.jitter * unit);
        }
        // Relaxed: published by the Release in `publish`.
        self.open_until
            .store((now + wait).as_nanos(), Ordering::Relaxed);
        loop {
            // Relaxed: under the lock only probe counters change concurrently.
            let word = Word(self.word.load(Ordering::Relaxed));
            if word.generation() != current.generation() {
                return;
            }
            if self.publish(word, current.next(OPEN), now) {
                break;
            }
            spin_loop();
        }
        control.reopens = control.reopens.saturating_add(1);
        self.announce(current.state(), State::Open, reason, now, wait);
    }

    /// An operator transition to `state`.
    pub(crate) fn operator(&self, state: u64, reason: TransitionReason, now: Timestamp) {
        let mut control = self.lock();
        loop {
            // Relaxed: under the lock only probe counters change concurrently.
            let current = Word(self.word.load(Ordering::Relaxed));
            if state == CLOSED {
                self.window.reset(now);
                // Relaxed: published by the Release in `publish`.
                self.consecutive.store(0, Ordering::Relaxed);
                control.reopens = 0;
            }
            if self.publish(current, current.next(state), now) {
                let to = current.next(state).state();
                self.announce(current.state(), to, reason, now, Duration::ZERO);
                return;
            }
            spin_loop();
        }
    }

    /// Replaces `from` with `to`; true if this caller did it.
    pub(super) fn publish(&self, from: Word, to: Word, now: Timestamp) -> bool {
        // Release: publishes the side data written before (open_until, the window
        // reset); Acquire on failure is not needed, callers reload.
        let done = self
            .word
            .compare_exchange(from.0, to.0, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        if done {
            // Relaxed: a figure for snapshots, written only by the transition's owner
            // (under the lock), so a caller that lost the exchange cannot overwrite it.
            self.since.store(now.as_nanos(), Ordering::Relaxed);
        }
        done
    }

    pub(super) fn announce(
        &self,
        from: State,
        to: State,
        reason: TransitionReason,
        at: Timestamp,
        open_for: Duration,
    ) {
        // Relaxed: a counter for metrics.
        self.transitions.fetch_add(1, Ordering::Relaxed);
        self.metrics.transition(from, to);
        let counts = self.window.counts(at);
        tracing::info!(
            target: "tollgate::breaker",
            breaker = %self.config.name,
            from = %from,
            to = %to,
            reason = %reason,
            calls = counts.calls,
            failures = counts.failures,
            slow_calls = counts.slow,
            // Relaxed: a figure for the event.
            consecutive_failures = self.consecutive.load(Ordering::Relaxed),
            open_for_ms = open_for.as_millis() as u64,
            "circuit breaker transition"
        );
        self.watch.send_replace(Transition {
            from,
            to,
            reason,
            at,
            open_for,
        });
    }
}
