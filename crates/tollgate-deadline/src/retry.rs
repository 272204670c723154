//! A deadline-aware retry policy for `tower::retry`.
//!
//! [`DeadlineRetry`] retries failed calls (any error except a spent inherited or total
//! deadline, which no retry can cure) up to a maximum, with exponential backoff, and
//! never starts an attempt the remaining budget cannot cover: a retry is started only
//! when `now + backoff + per_try <= deadline`, where the deadline is the task's current
//! one (set by the server deadline layer or a total [`TimeoutLayer`](crate::TimeoutLayer)
//! outside the retry layer). Retries also draw from a shared retry budget (tower's
//! `TpsBudget`): at most `ratio` retries per first call over a sliding window, plus a
//! small floor per second, so a failing dependency is not hammered by retry storms.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use tollgate_deadline::{DeadlineRetry, TimeoutLayer, TimeoutPolicy};
//! use tower::{retry::RetryLayer, service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! let policy = DeadlineRetry::builder()
//!     .max_retries(10)
//!     .per_try(Duration::from_millis(300))
//!     .backoff(Duration::from_millis(100), Duration::from_millis(100))
//!     .build()
//!     .unwrap();
//! let calls = Rc::new(Cell::new(0));
//! let counted = calls.clone();
//! let svc = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(TimeoutPolicy::total(Duration::from_secs(1)).unwrap()))
//!     .layer(RetryLayer::new(policy))
//!     .service(service_fn(move |_: ()| {
//!         counted.set(counted.get() + 1);
//!         async { Err::<(), BoxError>("unavailable".into()) }
//!     }));
//! assert!(svc.oneshot(()).await.is_err());
//! // Each try fails at once and retries wait 100 ms: tries start at 0, 100, ..., 700 ms.
//! // At 700 ms, 100 ms of backoff plus a 300 ms try would end past the 1 s budget.
//! assert_eq!(calls.get(), 8);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_core::{
    timer, Clock, ConfigError, DeadlineKind, Reason, Rejection, Timestamp, TokioClock,
};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::Policy;
use tower::BoxError;

use crate::scope::current_with_kind;

/// The retry policy. See the module docs.
///
/// Cloning is cheap and shares the retry budget.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::DeadlineRetry;
///
/// let policy = DeadlineRetry::builder().per_try(Duration::from_millis(200)).build().unwrap();
/// assert_eq!(policy.max_retries(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineRetry<C = TokioClock> {
    max_retries: u32,
    per_try: Duration,
    base: Duration,
    max_backoff: Duration,
    budget: Arc<TpsBudget>,
    clock: C,
    /// Retries made for the current request (the policy is cloned per request).
    attempts: u32,
}

/// Builds a [`DeadlineRetry`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::DeadlineRetry;
///
/// let err = DeadlineRetry::builder().per_try(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "per_try");
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineRetryBuilder<C = TokioClock> {
    max_retries: u32,
    per_try: Duration,
    base: Duration,
    max_backoff: Duration,
    ttl: Duration,
    min_per_sec: u32,
    ratio: f32,
    clock: C,
}

impl DeadlineRetry {
    /// A builder with 2 retries, a 1 s per-try estimate, 50 ms..1 s backoff, and a
    /// retry budget of 20% over 10 s with a floor of 10 retries per second, on a
    /// [`TokioClock`].
    pub fn builder() -> DeadlineRetryBuilder {
        DeadlineRetryBuilder {
            max_retries: 2,
            per_try: Duration::from_secs(1),
            base: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
            clock: TokioClock::new(),
        }
    }
}

impl<C> DeadlineRetry<C> {
    /// The most retries after the first try.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff before retry number `retry` (0-based): `base * 2^retry`, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_backoff)
    }

    /// Whether a retry whose backoff starts at `now` fits before `deadline`.
    fn fits(&self, now: Timestamp, backoff: Duration, deadline: Timestamp) -> bool {
        now.checked_add(backoff.saturating_add(self.per_try))
            .is_some_and(|end| end <= deadline)
    }
}

impl<C> DeadlineRetryBuilder<C> {
    /// The most retries after the first try (0 disables retries).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// How long one try may take: the per-try timeout. No retry starts unless this,
    /// plus the backoff, fits in the remaining budget.
    pub fn per_try(mut self, per_try: Duration) -> Self {
        self.per_try = per_try;
        self
    }

    /// Exponential backoff from `base`, doubling per retry, capped at `max`.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base = base;
        self.max_backoff = max;
        self
    }

    /// The retry budget: `ratio` retries per first call over a `ttl` window (1..=60 s),
    /// plus `min_per_sec` retries per second regardless.
    pub fn budget(mut self, ttl: Duration, min_per_sec: u32, ratio: f32) -> Self {
        self.ttl = ttl;
        self.min_per_sec = min_per_sec;
        self.ratio = ratio;
        self
    }

    /// The clock the remaining budget is read on (a [`TokioClock`] by default): the
    /// same kind as the layers' that set the deadline (see [`Deadline`](crate::Deadline)).
    pub fn clock<C2: Clock>(self, clock: C2) -> DeadlineRetryBuilder<C2> {
        DeadlineRetryBuilder {
            max_retries: self.max_retries,
            per_try: self.per_try,
            base: self.base,
            max_backoff: self.max_backoff,
            ttl: self.ttl,
            min_per_sec: self.min_per_sec,
            ratio: self.ratio,
            clock,
        }
    }

    /// Validates and builds the policy.
    pub fn build(self) -> Result<DeadlineRetry<C>, ConfigError> {
        if self.per_try.is_zero() {
            return Err(ConfigError::new("per_try", "must be greater than zero"));
        }
        if self.base > self.max_backoff {
            return Err(ConfigError::new("backoff", "base must not exceed max"));
        }
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "budget",
                "ttl must be between 1 s and 60 s",
            ));
        }
        if !(0.0..=1000.0).contains(&self.ratio) {
            return Err(ConfigError::new(
                "budget",
                "ratio must be between 0 and 1000",
            ));
        }
        if self.min_per_sec >= i32::MAX as u32 {
            return Err(ConfigError::new(
                "budget",
                "min_per_sec must be below i32::MAX",
            ));
        }
        Ok(DeadlineRetry {
            max_retries: self.max_retries,
            per_try: self.per_try,
            base: self.base,
            max_backoff: self.max_backoff,
            budget: Arc::new(TpsBudget::new(self.ttl, self.min_per_sec, self.ratio)),
            clock: self.clock,
            attempts: 0,
        })
    }
}

/// Whether no retry can cure `err`: a spent inherited or total deadline.
fn is_final(err: &BoxError) -> bool {
    err.downcast_ref::<Rejection>().is_some_and(|r| {
        matches!(
            r.reason(),
            Reason::DeadlineExceeded(DeadlineKind::Inherited | DeadlineKind::Total)
        )
    })
}

impl<Req: Clone, Res, C: Clock> Policy<Req, Res, BoxError> for DeadlineRetry<C> {
    type Future = Backoff;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, BoxError>) -> Option<Backoff> {
        let err = match result {
            Ok(_) => {
                if self.attempts == 0 {
                    self.budget.deposit();
                }
                return None;
            }
            Err(err) => err,
        };
        if self.attempts == 0 {
            // A first try counts towards the budget whatever its outcome.
            self.budget.deposit();
        }
        if is_final(err) || self.attempts >= self.max_retries {
            return None;
        }
        let backoff = self.backoff(self.attempts);
        let now = self.clock.now();
        if let Some((deadline, kind)) = current_with_kind() {
            if !self.fits(now, backoff, deadline.timestamp()) {
                tracing::debug!(
                    target: "tollgate::deadline",
                    kind = ?kind,
                    remaining_ms = deadline.remaining(now).as_millis() as u64,
                    "retry skipped: the budget cannot cover another try"
                );
                return None;
            }
        }
        if !self.budget.withdraw() {
            tracing::debug!(target: "tollgate::deadline", "retry skipped: retry budget spent");
            return None;
        }
        self.attempts += 1;
        Some(Backoff {
            sleep: timer::sleep_until(&self.clock, now, now + backoff),
        })
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

pin_project! {
    /// The wait before a retry of [`DeadlineRetry`].
    #[derive(Debug)]
    pub struct Backoff {
        #[pin]
        sleep: Sleep,
    }
}

impl Future for Backoff {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}
