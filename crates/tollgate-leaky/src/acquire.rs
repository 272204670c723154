//! The async face of the shaper: wait for a turn on tokio's timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tollgate_core::{Clock, Rejection};

use crate::shaper::{Admit, Shaper, Turn, Waiter};

impl<C: Clock> Shaper<C> {
    /// Waits for a turn for `weight` units. Admission is decided now, so a refusal is
    /// known before the first poll; dropping the future gives its turn to the next
    /// waiter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tollgate_core::TokioClock;
    /// use tollgate_leaky::Shaper;
    ///
    /// let shaper = Shaper::builder()
    ///     .per_second(10)
    ///     .build_with_clock(TokioClock::new())
    ///     .unwrap();
    /// let start = tokio::time::Instant::now();
    /// for _ in 0..3 {
    ///     shaper.acquire(1).await.unwrap();
    /// }
    /// assert_eq!(start.elapsed(), Duration::from_millis(200));
    /// # }
    /// ```
    pub fn acquire(&self, weight: u32) -> Acquire<C> {
        Acquire::new(self.admit(weight))
    }
}

pin_project! {
    /// The future of [`Shaper::acquire`]: resolves when the request is released, or at
    /// once with the [`Rejection`] that refused it.
    #[derive(Debug)]
    pub struct Acquire<C> {
        waiter: Option<Waiter<C>>,
        rejection: Option<Rejection>,
        // Created only when the request must sleep, then reset in place.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<C> Acquire<C> {
    pub(crate) fn new(admission: Result<Admit<C>, Rejection>) -> Self {
        let (waiter, rejection) = match admission {
            Ok(Admit::Now) => (None, None),
            Ok(Admit::Wait(waiter)) => (Some(waiter), None),
            Err(rejection) => (None, Some(rejection)),
        };
        Self {
            waiter,
            rejection,
            sleep: None,
        }
    }
}

impl<C: Clock> Future for Acquire<C> {
    type Output = Result<(), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(rejection) = this.rejection.take() {
            return Poll::Ready(Err(rejection));
        }
        let Some(waiter) = this.waiter.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            let now = waiter.shaper().clock().now();
            match waiter.poll_turn(now, cx.waker()) {
                Turn::Released => {
                    *this.waiter = None;
                    return Poll::Ready(Ok(()));
                }
                Turn::Queued => return Poll::Pending,
                Turn::At(at) => {
                    // Both clocks run at the same pace: sleep for the remaining time.
                    let deadline = Instant::now() + (at - now);
                    match this.sleep.as_mut().as_pin_mut() {
                        Some(sleep) => sleep.reset(deadline),
                        None => this.sleep.set(Some(tokio::time::sleep_until(deadline))),
                    }
                    let sleep = this.sleep.as_mut().as_pin_mut().expect("set above");
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}
