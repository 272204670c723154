//! Arming tokio timers from a [`Timestamp`]: the one place where a clock's timeline
//! meets tokio's.

use tokio::time::{Instant, Sleep};

use crate::{Clock, Timestamp};

/// A tokio sleep that ends when `clock` reaches `at`, given that it reads `now`.
///
/// Layers read `now` once per request from their [`Clock`]; this turns a later instant
/// on that clock into a tokio timer without reading the clock again. On a
/// [`TokioClock`](crate::TokioClock) the timer is exact (its timeline is tokio's, so
/// paused-time tests see every instant); on other clocks the timer is armed for the
/// remaining duration from tokio's now.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::{timer, Clock, TokioClock};
///
/// let clock = TokioClock::new();
/// let now = clock.now();
/// timer::sleep_until(&clock, now, now + Duration::from_millis(300)).await;
/// assert_eq!(clock.now() - now, Duration::from_millis(300));
/// # }
/// ```
pub fn sleep_until<C: Clock>(clock: &C, now: Timestamp, at: Timestamp) -> Sleep {
    tokio::time::sleep_until(instant(clock, now, at))
}

/// The tokio instant at which `clock` reaches `at`, given that it reads `now`; see
/// [`sleep_until`].
pub fn instant<C: Clock>(clock: &C, now: Timestamp, at: Timestamp) -> Instant {
    match clock.tokio_origin() {
        Some(origin) => origin + (at - Timestamp::ZERO),
        None => Instant::now() + (at - now),
    }
}
