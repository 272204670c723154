//! Recording the outcome of a call admitted closed (or disabled), and judging the
//! window.

use tollgate_core::sync::Ordering;
use tollgate_core::{Clock, Timestamp};

use super::Shared;
use crate::state::{Word, CLOSED, DISABLED};
use crate::transition::{percent, TransitionReason};
use crate::window::Counts;

impl<C: Clock> Shared<C> {
    /// Records the outcome of a call admitted closed in `generation`.
    #[inline]
    pub(crate) fn record_closed(
        &self,
        generation: u32,
        failure: bool,
        slow: bool,
        now: Option<Timestamp>,
    ) {
        // Acquire: see `Breaker::try_acquire`.
        let word = Word(self.word.load(Ordering::Acquire));
        if word.generation() != generation || !word.admits_all() {
            return; // admitted in an older generation
        }
        let mut trip = None;
        if failure {
            // Relaxed: a lone counter. A success racing a failure may reset it after the
            // failure's add, which is a legitimate order of the two calls.
            let count = self
                .consecutive
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            if self
                .config
                .consecutive_failures
                .is_some_and(|limit| count >= limit)
            {
                trip = Some(TransitionReason::ConsecutiveFailures { count });
            }
        } else if self.consecutive.load(Ordering::Relaxed) != 0 {
            // Relaxed: as above; loading first keeps the success path free of writes.
            self.consecutive.store(0, Ordering::Relaxed);
        }
        let counts = self
            .window
            .record(failure, slow, now.unwrap_or(Timestamp::ZERO));
        if word.state_code() == DISABLED {
            return;
        }
        if trip.is_none() && (failure || slow) {
            trip = counts.and_then(|c| self.judge(c));
        }
        if let Some(reason) = trip {
            let now = now.unwrap_or_else(|| self.clock.now());
            let mut control = self.lock();
            // Relaxed: under the lock no other generation change can happen.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() == generation && current.state_code() == CLOSED {
                self.open(&mut control, current, reason, now);
            }
        }
    }

    fn judge(&self, counts: Counts) -> Option<TransitionReason> {
        if counts.calls < u64::from(self.config.minimum_calls) {
            return None;
        }
        let failure_rate = percent(counts.failures, counts.calls);
        if self.config.failure_rate.is_some_and(|t| failure_rate >= t) {
            return Some(TransitionReason::FailureRate {
                rate: failure_rate,
                calls: counts.calls,
            });
        }
        let slow_rate = percent(counts.slow, counts.calls);
        if self.config.slow_call_rate.is_some_and(|t| slow_rate >= t) {
            return Some(TransitionReason::SlowCallRate {
                rate: slow_rate,
                calls: counts.calls,
            });
        }
        None
    }
}
