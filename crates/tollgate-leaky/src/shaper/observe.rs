//! A shaper's side of server feedback: what a [`Verdict`](crate::Verdict) reaches,
//! whatever the shaper's clock.

use tollgate_core::sync::MutexGuard;
use tollgate_core::{Clock, Timestamp};

use super::{Inner, Shaper, State, TARGET};
use crate::feedback::{Observe, Share, Signal};

impl<C> Inner<C> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every update is a
        // few arithmetic steps), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn pause_until(&self, until: Timestamp, now: Timestamp) {
        let config = &self.config;
        let cap = now + config.max_pause;
        let until = until.min(cap).as_nanos();
        let mut state = self.lock();
        // The bucket is empty at `until`: one unit is available then, the next one
        // interval later.
        let slack = u64::from(config.burst - 1).saturating_mul(config.interval);
        self.schedule.push_back(until.saturating_add(slack));
        state.paused_until = state.paused_until.max(until);
        tracing::info!(target: TARGET, pause_ns = until.saturating_sub(now.as_nanos()), queued = state.queue.len(), "paused by server feedback");
    }

    pub(super) fn observe_at(&self, signal: Signal, now: Timestamp) {
        match signal {
            Signal::Accepted => {
                let mut state = self.lock();
                if let Some(adaptive) = state.adaptive.as_mut() {
                    adaptive.accept(now);
                }
            }
            Signal::Throttled { retry_after } => {
                if let Some(after) = retry_after {
                    self.pause_until(now + after, now);
                }
            }
            Signal::Exhausted { reset } => {
                self.observe_at(Signal::Accepted, now);
                self.pause_until(now + reset, now);
            }
            Signal::Ignored => {}
        }
    }
}

impl<C: Clock> Inner<C> {
    pub(super) fn observe(&self, signal: Signal) {
        let worth_a_clock_read = match signal {
            Signal::Ignored => false,
            Signal::Accepted => self.config.adaptive,
            Signal::Throttled { retry_after } => retry_after.is_some(),
            Signal::Exhausted { .. } => true,
        };
        if worth_a_clock_read {
            self.observe_at(signal, self.clock.now());
        }
    }
}

#[cfg(not(loom))]
impl<C: Clock> Observe for Inner<C> {
    fn observe(&self, signal: Signal) {
        Inner::observe(self, signal);
    }
}

// loom's `Arc` does not coerce to a trait object: under loom, a verdict keeps a clone.
#[cfg(loom)]
impl<C: Clock> Observe for Shaper<C> {
    fn observe(&self, signal: Signal) {
        self.inner.observe(signal);
    }
}

impl<C: Clock> Share for Shaper<C> {
    fn observe(&self, signal: Signal) {
        self.inner.observe(signal);
    }

    fn shared(&self) -> std::sync::Arc<dyn Observe> {
        // Free: the shaper's own reference count.
        #[cfg(not(loom))]
        return self.inner.clone();
        #[cfg(loom)]
        return std::sync::Arc::new(self.clone());
    }
}
