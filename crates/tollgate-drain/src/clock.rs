//! The drain's clock, type-erased: a drain reads it only at its phase moves (three
//! times in its life), so a trait object costs nothing measurable and keeps `Drain`
//! free of a clock parameter that every readiness probe and layer would repeat.

use std::fmt;

use tokio::time::Sleep;
use tollgate_core::{timer, Clock, Timestamp};

pub(crate) trait DrainClock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;

    /// A tokio timer for `at` on this clock, which read `now` (see
    /// [`tollgate_core::timer::sleep_until`]).
    fn sleep_until(&self, now: Timestamp, at: Timestamp) -> Sleep;
}

impl<C: Clock> DrainClock for C {
    #[inline]
    fn now(&self) -> Timestamp {
        Clock::now(self)
    }

    fn sleep_until(&self, now: Timestamp, at: Timestamp) -> Sleep {
        timer::sleep_until(self, now, at)
    }
}
