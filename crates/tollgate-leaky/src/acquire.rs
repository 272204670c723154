//! The async face of the shaper: wait for a turn on a tokio timer armed from the
//! shaper's own clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_core::{timer, Clock, Rejection};

use crate::shaper::{Admit, Shaper};
use crate::waiter::{Turn, Waiter};

impl<C: Clock> Shaper<C> {
    /// Waits for a turn for `weight` units. Admission is decided now, so a refusal is
    /// known before the first poll; dropping the future gives its turn to the next
    /// waiter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), tollgate_core::ConfigError> {
    /// use std::time::Duration;
    /// use tollgate_core::{Clock, Quota, TokioClock};
    /// use tollgate_leaky::Shaper;
    ///
    /// let clock = TokioClock::new();
    /// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(clock.clone()).build()?;
    /// let start = clock.now();
    /// for _ in 0..3 {
    ///     shaper.acquire(1).await.unwrap();
    /// }
    /// assert_eq!(clock.now() - start, Duration::from_millis(200));
    /// # Ok(()) }
    /// ```
    pub fn acquire(&self, weight: u32) -> Acquire<C> {
        let (turn, rejection) = match self.admit(weight) {
            Ok(Admit::Now) => (None, None),
            Ok(Admit::Wait(waiter)) => (Some(Queued::new(waiter)), None),
            Err(rejection) => (None, Some(rejection)),
        };
        Acquire { turn, rejection }
    }
}

pin_project! {
    /// The future of [`Shaper::acquire`]: resolves when the request is released, or at
    /// once with the [`Rejection`] that refused it.
    #[derive(Debug)]
    pub struct Acquire<C> {
        #[pin]
        turn: Option<Queued<C>>,
        rejection: Option<Rejection>,
    }
}

impl<C: Clock> Future for Acquire<C> {
    type Output = Result<(), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(rejection) = this.rejection.take() {
            return Poll::Ready(Err(rejection));
        }
        match this.turn.as_pin_mut() {
            Some(turn) => turn.poll(cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}

pin_project! {
    /// A queued request waiting for its turn: polls the [`Waiter`] and sleeps, as the
    /// head, until its release instant. Resolves once released; dropping it hands the
    /// turn on.
    #[derive(Debug)]
    pub(crate) struct Queued<C> {
        waiter: Waiter<C>,
        // Created only when the request must sleep, then reset in place.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<C> Queued<C> {
    pub(crate) fn new(waiter: Waiter<C>) -> Self {
        Self {
            waiter,
            sleep: None,
        }
    }
}

impl<C: Clock> Future for Queued<C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            let now = this.waiter.shaper().clock().now();
            match this.waiter.poll_turn(now, cx.waker()) {
                Turn::Released => return Poll::Ready(()),
                Turn::Queued => return Poll::Pending,
                Turn::At(at) => {
                    // The one clock: the timer is armed from the shaper's timeline.
                    let deadline = timer::instant(this.waiter.shaper().clock(), now, at);
                    match this.sleep.as_mut().as_pin_mut() {
                        Some(sleep) => sleep.reset(deadline),
                        None => this.sleep.set(Some(tokio::time::sleep_until(deadline))),
                    }
                    let sleep = this.sleep.as_mut().as_pin_mut().expect("set above");
                    ready!(sleep.poll(cx));
                }
            }
        }
    }
}
