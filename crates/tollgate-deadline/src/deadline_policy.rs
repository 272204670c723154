//! The server side's budget policy: what the caller sent, less a margin, capped at a
//! maximum, a default when nothing was sent, and a minimum below which the handler is
//! not worth starting.

use std::fmt;
use std::time::Duration;

use tollgate_core::sync::Arc;
use tollgate_core::{Clock, ConfigError, DeadlineKind, Reason, Rejection, Timestamp, TokioClock};

use crate::stats::{Counters, DeadlineSnapshot, ADMITTED, MALFORMED, SPENT, UNBOUNDED};
use crate::{exceeded, Deadline};

/// What the server side does with a sent budget it cannot read (a malformed or
/// oversized timeout header).
///
/// ```
/// use tollgate_deadline::OnMalformed;
/// assert_eq!(OnMalformed::default(), OnMalformed::Reject);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMalformed {
    /// Refuse the request before the handler runs, with [`Reason::MalformedHeader`]
    /// (`400 Bad Request` / `INVALID_ARGUMENT` through `tollgate_http`'s responder).
    #[default]
    Reject,
    /// Treat the request as if it sent no budget (the default budget applies).
    Ignore,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    max: Option<Duration>,
    margin: Duration,
    default: Option<Duration>,
    min: Duration,
    on_malformed: OnMalformed,
}

/// The budget policy of the server side: turns the budget a caller sent into the
/// deadline its handler runs under. The core of a
/// [`ServerDeadlineLayer`](crate::ServerDeadlineLayer); see the crate docs.
///
/// Cloning is cheap and shares the counters ([`DeadlinePolicy::snapshot`]).
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Clock, ManualClock};
/// use tollgate_deadline::{DeadlinePolicy, OnMalformed};
///
/// let clock = ManualClock::new();
/// let policy = DeadlinePolicy::builder()
///     .max(Duration::from_secs(5))
///     .default_budget(Duration::from_secs(2))
///     .margin(Duration::from_millis(20))
///     .min(Duration::from_millis(5))
///     .on_malformed(OnMalformed::Ignore)
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// let now = clock.now();
/// // 1 s sent, 20 ms kept for the answer's way back.
/// let deadline = policy.admit(now, Ok::<_, &str>(Some(Duration::from_secs(1)))).unwrap().unwrap();
/// assert_eq!(deadline.remaining(now), Duration::from_millis(980));
/// // Nothing sent: the default.
/// let deadline = policy.admit(now, Ok::<_, &str>(None)).unwrap().unwrap();
/// assert_eq!(deadline.remaining(now), Duration::from_secs(2));
/// // 24 ms sent leaves 4 ms, below the 5 ms minimum: refused.
/// assert!(policy.admit(now, Ok::<_, &str>(Some(Duration::from_millis(24)))).is_err());
/// assert_eq!((policy.snapshot().admitted, policy.snapshot().spent), (2, 1));
/// ```
#[derive(Debug, Clone)]
pub struct DeadlinePolicy<C = TokioClock> {
    config: Config,
    clock: C,
    counters: Arc<Counters>,
}

/// Builds a [`DeadlinePolicy`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::DeadlinePolicy;
///
/// let err = DeadlinePolicy::builder()
///     .max(Duration::from_secs(1))
///     .default_budget(Duration::from_secs(2))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "default_budget");
/// ```
#[derive(Debug, Clone)]
pub struct DeadlinePolicyBuilder<C = TokioClock> {
    config: Config,
    clock: C,
}

impl DeadlinePolicy {
    /// A builder: no maximum, no default, no margin, minimum 1 ms, malformed budgets
    /// refused, on a [`TokioClock`].
    pub fn builder() -> DeadlinePolicyBuilder {
        DeadlinePolicyBuilder {
            config: Config {
                max: None,
                margin: Duration::ZERO,
                default: None,
                min: Duration::from_millis(1),
                on_malformed: OnMalformed::Reject,
            },
            clock: TokioClock::new(),
        }
    }
}

impl<C> DeadlinePolicyBuilder<C> {
    /// Caps every budget (sent or default) at `max`.
    pub fn max(mut self, max: Duration) -> Self {
        self.config.max = Some(max);
        self
    }

    /// Subtracts `margin` from budgets sent by callers: the time the answer needs to
    /// travel back.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.config.margin = margin;
        self
    }

    /// The budget of requests that send none (otherwise they run unbounded).
    pub fn default_budget(mut self, budget: Duration) -> Self {
        self.config.default = Some(budget);
        self
    }

    /// Refuses requests with less than `min` left before the handler runs.
    pub fn min(mut self, min: Duration) -> Self {
        self.config.min = min;
        self
    }

    /// What to do with a sent budget that cannot be read.
    pub fn on_malformed(mut self, on: OnMalformed) -> Self {
        self.config.on_malformed = on;
        self
    }

    /// The clock deadlines are read on (a [`TokioClock`] by default). Every deadline
    /// layer of a process should use the same kind of clock: see [`Deadline`].
    pub fn clock<C2: Clock>(self, clock: C2) -> DeadlinePolicyBuilder<C2> {
        DeadlinePolicyBuilder {
            config: self.config,
            clock,
        }
    }

    /// Validates and builds the policy.
    pub fn build(self) -> Result<DeadlinePolicy<C>, ConfigError> {
        let c = &self.config;
        if let Some(max) = c.max {
            if max.is_zero() {
                return Err(ConfigError::new("max", "must be greater than zero"));
            }
            if c.default.is_some_and(|d| d > max) {
                return Err(ConfigError::new("default_budget", "must not exceed `max`"));
            }
            if c.min > max {
                return Err(ConfigError::new("min", "must not exceed `max`"));
            }
        }
        if c.default.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "default_budget",
                "must be greater than zero",
            ));
        }
        Ok(DeadlinePolicy {
            config: self.config,
            clock: self.clock,
            counters: Arc::new(Counters::new("deadline")),
        })
    }
}

impl<C> DeadlinePolicy<C> {
    /// The cap on every budget, if any: the longest a request may run under this
    /// policy (read by the stack builders' timeout check).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_deadline::DeadlinePolicy;
    ///
    /// let policy = DeadlinePolicy::builder().max(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(policy.max(), Some(Duration::from_secs(5)));
    /// assert_eq!(policy.default_budget(), None);
    /// ```
    pub fn max(&self) -> Option<Duration> {
        self.config.max
    }

    /// The budget of requests that send none, if any.
    pub fn default_budget(&self) -> Option<Duration> {
        self.config.default
    }

    /// What the policy decided so far, across every clone, layer and service.
    pub fn snapshot(&self) -> DeadlineSnapshot {
        self.counters.deadline_snapshot()
    }

    /// The clock deadlines are read on.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Decides, at `now`, for a request that sent `sent` (`Err` when it could not be
    /// read): `Ok(Some(deadline))` to run the handler under, `Ok(None)` to run it
    /// unbounded, or the rejection to refuse it with. Counts the decision.
    pub fn admit<E: fmt::Display>(
        &self,
        now: Timestamp,
        sent: Result<Option<Duration>, E>,
    ) -> Result<Option<Deadline>, Rejection> {
        self.admit_with(|| now, sent)
    }

    /// [`admit`](Self::admit), reading `now` only for a request that gets a deadline:
    /// one that runs unbounded or is refused as malformed costs no clock read.
    pub(crate) fn admit_with<E: fmt::Display>(
        &self,
        now: impl FnOnce() -> Timestamp,
        sent: Result<Option<Duration>, E>,
    ) -> Result<Option<Deadline>, Rejection> {
        let c = &self.config;
        let sent = match sent {
            Ok(sent) => sent,
            Err(err) if c.on_malformed == OnMalformed::Reject => {
                tracing::debug!(target: "tollgate::deadline", error = %err, "malformed timeout refused");
                self.counters.bump(MALFORMED);
                return Err(Rejection::new(Reason::MalformedHeader).with_name("timeout header"));
            }
            Err(_) => None,
        };
        let budget = match sent {
            Some(sent) => sent.saturating_sub(c.margin),
            None => match c.default {
                Some(default) => default,
                None => {
                    // Unbounded: admitted, with no budget to record.
                    self.counters.bump(ADMITTED);
                    self.counters.bump(UNBOUNDED);
                    return Ok(None);
                }
            },
        };
        let budget = c.max.map_or(budget, |max| budget.min(max));
        if budget.is_zero() || budget < c.min {
            tracing::debug!(
                target: "tollgate::deadline",
                budget_us = budget.as_micros() as u64,
                "budget spent before the handler"
            );
            self.counters.fired(SPENT, DeadlineKind::Inherited);
            return Err(exceeded(DeadlineKind::Inherited));
        }
        self.counters.admitted(budget);
        Ok(Some(Deadline::after(now(), budget)))
    }
}
