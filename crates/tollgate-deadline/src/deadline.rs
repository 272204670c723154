//! The [`Deadline`] value, budget arithmetic, and the task-local scope that lets
//! outgoing calls inherit the deadline of the request being served.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tollgate_core::DeadlineKind;

/// The point in time after which an answer is no longer useful.
///
/// A `Deadline` is a monotonic instant on tokio's clock (`tokio::time::Instant`), not a
/// duration: a duration goes stale the moment it is read, an instant does not. tokio's
/// clock was chosen over a [`tollgate_core::Clock`] timestamp because a deadline is
/// compared across layers and tasks that share no clock value, is handed to
/// `tokio::time::sleep_until` to fire, and must stay exact under `tokio::time::pause`:
/// one process-wide timeline that tokio's timers also use gives all three with no
/// conversion.
///
/// Arithmetic saturates: a budget larger than the clock can hold is "far in the future",
/// and the remaining time of a passed deadline is zero.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tollgate_deadline::Deadline;
///
/// let now = Instant::now();
/// let deadline = Deadline::after(now, Duration::from_millis(800));
/// assert_eq!(deadline.remaining(now), Duration::from_millis(800));
/// // What to send downstream: the remaining budget minus a margin for the network.
/// assert_eq!(deadline.budget(now, Duration::from_millis(50)), Duration::from_millis(750));
///
/// tokio::time::advance(Duration::from_secs(1)).await;
/// assert!(deadline.is_expired(Instant::now()));
/// assert_eq!(deadline.remaining(Instant::now()), Duration::ZERO);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

/// About 30 years: where a budget that does not fit the clock is placed (tokio's
/// own "far future").
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Deadline {
    /// The deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self { at: instant }
    }

    /// The deadline `budget` after `now` (far in the future if that overflows the clock).
    pub fn after(now: Instant, budget: Duration) -> Self {
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + FAR_FUTURE.min(budget));
        Self { at }
    }

    /// The deadline `budget` from tokio's now. Prefer [`Deadline::after`] with a `now`
    /// read once per request.
    pub fn from_now(budget: Duration) -> Self {
        Self::after(Instant::now(), budget)
    }

    /// The instant it fires, for `tokio::time::sleep_until`.
    pub fn instant(self) -> Instant {
        self.at
    }

    /// Time left at `now`; zero once passed.
    pub fn remaining(self, now: Instant) -> Duration {
        self.at.saturating_duration_since(now)
    }

    /// Time left at `now` minus `margin` (for network time or cleanup); zero if the
    /// margin does not fit.
    pub fn budget(self, now: Instant, margin: Duration) -> Duration {
        self.remaining(now).saturating_sub(margin)
    }

    /// Whether the deadline has passed at `now` (a deadline equal to `now` has).
    pub fn is_expired(self, now: Instant) -> bool {
        self.at <= now
    }

    /// The earlier of this deadline and `other`, when there is one.
    pub fn tighten(self, other: Option<Deadline>) -> Self {
        other.map_or(self, |o| self.min(o))
    }

    /// The deadline of the request being served on this task, if any (see
    /// [`Deadline::scope`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tollgate_deadline::Deadline;
    ///
    /// assert_eq!(Deadline::current(), None);
    /// let deadline = Deadline::from_now(Duration::from_secs(1));
    /// deadline.scope(async move {
    ///     assert_eq!(Deadline::current(), Some(deadline));
    /// }).await;
    /// # }
    /// ```
    pub fn current() -> Option<Deadline> {
        current_with_kind().map(|(d, _)| d)
    }

    /// Runs `future` with this deadline as the task's current deadline, as an
    /// [`DeadlineKind::Inherited`] deadline. A scope never extends the deadline around
    /// it: inside an existing scope the earlier of the two wins.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        scope_with_kind(self, DeadlineKind::Inherited, future)
    }
}

type Current = Option<(Deadline, DeadlineKind)>;

std::thread_local! {
    // The deadline of the scope running on this thread: set while a `Scoped` future is
    // polled (or a scoped `call` runs) and restored on the way out, the protocol of
    // `tokio::task_local!`. A `Cell` of a `Copy` value with a const initialiser has no
    // borrow flag, no lazy initialisation and no destructor: entering a scope is two
    // plain thread-local moves.
    static CURRENT: Cell<Current> = const { Cell::new(None) };
}

/// Sets the current deadline until dropped, then restores the previous one (also when
/// the code inside panics).
struct Enter {
    prev: Current,
}

impl Enter {
    #[inline]
    fn new(value: Current) -> Self {
        Self {
            prev: CURRENT.replace(value),
        }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        CURRENT.set(self.prev);
    }
}

pin_project! {
    /// A future running inside a deadline scope: see [`Deadline::scope`] and [`carry`].
    ///
    /// Every poll of the inner future, and its drop, sees the scope's deadline through
    /// [`Deadline::current`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tollgate_deadline::{Deadline, Scoped};
    ///
    /// let d = Deadline::from_now(Duration::from_secs(1));
    /// let fut: Scoped<_> = d.scope(async { Deadline::current() });
    /// assert_eq!(fut.await, Some(d));
    /// # }
    /// ```
    pub struct Scoped<F> {
        value: Current,
        // `None` once the inner future has finished (it is dropped inside the scope).
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                let _in = Enter::new(*this.value);
                this.future.set(None);
            }
        }
    }
}

impl<F> Scoped<F> {
    fn new(value: Current, future: F) -> Self {
        Self {
            value,
            future: Some(future),
        }
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("deadline", &self.value)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _in = Enter::new(*this.value);
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`Scoped` polled after completion");
        };
        let out = future.poll(cx);
        if out.is_ready() {
            this.future.set(None);
        }
        out
    }
}

/// The current deadline and which kind set it, if any.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_deadline::{current_with_kind, Deadline};
///
/// let d = Deadline::from_now(Duration::from_secs(1));
/// d.scope(async move {
///     assert_eq!(current_with_kind(), Some((d, DeadlineKind::Inherited)));
/// }).await;
/// # }
/// ```
pub fn current_with_kind() -> Option<(Deadline, DeadlineKind)> {
    CURRENT.get()
}

/// Runs `future` with `deadline` of `kind` as the task's deadline, unless the current
/// one is earlier (then the current one, with its kind, stays). The current deadline is
/// read when the scope is created, as tower services do in `call`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_deadline::{current_with_kind, scope_with_kind, Deadline};
///
/// let outer = Deadline::from_now(Duration::from_secs(1));
/// let inner = Deadline::from_now(Duration::from_secs(5));
/// outer.scope(async move {
///     scope_with_kind(inner, DeadlineKind::Total, async move {
///         // The later deadline does not extend the inherited one.
///         assert_eq!(current_with_kind(), Some((outer, DeadlineKind::Inherited)));
///     }).await
/// }).await;
/// # }
/// ```
pub fn scope_with_kind<F: Future>(deadline: Deadline, kind: DeadlineKind, future: F) -> Scoped<F> {
    Scoped::new(Some(tightest(deadline, kind)), future)
}

fn tightest(deadline: Deadline, kind: DeadlineKind) -> (Deadline, DeadlineKind) {
    match current_with_kind() {
        Some((current, current_kind)) if current <= deadline => (current, current_kind),
        _ => (deadline, kind),
    }
}

/// Like [`scope_with_kind`], but `call` itself (a service's synchronous `call`, which
/// may already start outgoing work) also runs inside the scope. This is what the
/// tollgate layers use around their inner service.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_deadline::{scoped_call, Deadline};
///
/// let d = Deadline::from_now(Duration::from_secs(1));
/// let seen_in_call = std::cell::Cell::new(None);
/// let fut = scoped_call(d, DeadlineKind::Total, || {
///     seen_in_call.set(Deadline::current());
///     async { Deadline::current() }
/// });
/// assert_eq!(seen_in_call.get(), Some(d));
/// assert_eq!(fut.await, Some(d));
/// # }
/// ```
pub fn scoped_call<F: Future>(
    deadline: Deadline,
    kind: DeadlineKind,
    call: impl FnOnce() -> F,
) -> Scoped<F> {
    let value = Some(tightest(deadline, kind));
    let future = {
        let _in = Enter::new(value);
        call()
    };
    Scoped::new(value, future)
}

/// Carries the current deadline (if any) into `future`, for work handed to another
/// task: task-locals are not inherited by `tokio::spawn`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_deadline::{carry, Deadline};
///
/// let d = Deadline::from_now(Duration::from_secs(1));
/// d.scope(async move {
///     let plain = tokio::spawn(async { Deadline::current() });
///     let carried = tokio::spawn(carry(async { Deadline::current() }));
///     assert_eq!(plain.await.unwrap(), None);
///     assert_eq!(carried.await.unwrap(), Some(d));
/// }).await;
/// # }
/// ```
pub fn carry<F: Future>(future: F) -> Scoped<F> {
    Scoped::new(current_with_kind(), future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_arithmetic_saturates() {
        let now = Instant::now();
        let d = Deadline::after(now, Duration::from_millis(100));
        assert_eq!(
            d.budget(now, Duration::from_millis(30)),
            Duration::from_millis(70)
        );
        assert_eq!(d.budget(now, Duration::from_secs(1)), Duration::ZERO);
        assert!(!d.is_expired(now));
        assert!(d.is_expired(now + Duration::from_millis(100)));
        assert_eq!(d.remaining(now + Duration::from_secs(9)), Duration::ZERO);
        // A budget beyond the clock is far in the future, not a panic.
        let far = Deadline::after(now, Duration::MAX);
        assert_eq!(far.remaining(now), FAR_FUTURE);
        let early = Deadline::after(now, Duration::from_millis(5));
        assert_eq!(d.tighten(Some(early)), early);
        assert_eq!(d.tighten(None), d);
    }

    #[tokio::test(start_paused = true)]
    async fn nested_scopes_keep_the_earliest_and_its_kind() {
        let now = Instant::now();
        let long = Deadline::after(now, Duration::from_secs(10));
        let short = Deadline::after(now, Duration::from_secs(2));
        long.scope(async move {
            scope_with_kind(short, DeadlineKind::Total, async move {
                assert_eq!(current_with_kind(), Some((short, DeadlineKind::Total)));
            })
            .await
        })
        .await;
        assert_eq!(Deadline::current(), None);
    }

    /// Seen by a value's destructor: the deadline current while it drops.
    struct SeeOnDrop(std::rc::Rc<Cell<Current>>);

    impl Drop for SeeOnDrop {
        fn drop(&mut self) {
            self.0.set(current_with_kind());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unfinished_future_drops_inside_its_scope() {
        let d = Deadline::from_now(Duration::from_secs(1));
        let seen = std::rc::Rc::new(Cell::new(None));
        let guard = SeeOnDrop(seen.clone());
        let fut = d.scope(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        drop(fut);
        assert_eq!(seen.get(), Some((d, DeadlineKind::Inherited)));
        assert_eq!(Deadline::current(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_inside_a_scope_restores_the_outer_deadline() {
        let d = Deadline::from_now(Duration::from_secs(1));
        let caught = std::panic::catch_unwind(|| {
            scoped_call(d, DeadlineKind::Total, || -> std::future::Ready<()> {
                panic!("inside the scope")
            })
        });
        assert!(caught.is_err());
        assert_eq!(Deadline::current(), None);
    }
}
