//! The sliding windows the failure and slow-call rates are measured over.
//!
//! Both are lock-free for recorders; what concurrency can cost is documented on each.
//! A window is reset only by the transition to closed, under the breaker's transition
//! lock, before the new generation is published: recorders of the new generation see
//! the reset, and only a recorder of an older generation that was preempted between its
//! generation check and its write (across a whole open period) can land one outcome in
//! the new window.

use tollgate_core::Timestamp;

use crate::config::Window as WindowConfig;

mod count;
mod time;

pub(crate) use count::CountWindow;
pub(crate) use time::TimeWindow;

/// The calls, failures and slow calls a window holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(config: WindowConfig, now: Timestamp) -> Window {
        match config {
            WindowConfig::Count(n) => Window::Count(CountWindow::new(n)),
            WindowConfig::Time { length, buckets } => {
                Window::Time(TimeWindow::new(length.as_nanos() as u64, buckets, now))
            }
        }
    }

    /// Whether recording needs the time of the outcome.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }

    /// Records one outcome; returns the counts after it when they are cheap to know
    /// and consistent (`None` while a lapped count slot is mid-update).
    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool, now: Timestamp) -> Option<Counts> {
        match self {
            Window::Count(w) => w.record(failure, slow),
            Window::Time(w) => w.record(failure, slow, now),
        }
    }

    /// The counts now (may be mid-update under concurrent recording).
    pub(crate) fn counts(&self, now: Timestamp) -> Counts {
        match self {
            Window::Count(w) => w.counts().unwrap_or_default(),
            Window::Time(w) => w.counts(now),
        }
    }

    /// Empties the window. Called under the transition lock only.
    pub(crate) fn reset(&self, now: Timestamp) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(now),
        }
    }
}
