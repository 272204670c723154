//! The client side's budget policy: the earlier of the inherited deadline and this
//! client's own total or per-try timeout, less a network margin, and a minimum below
//! which the call is not worth sending.

use std::time::Duration;

use tollgate_core::sync::Arc;
use tollgate_core::{Clock, ConfigError, DeadlineKind, Rejection, Timestamp, TokioClock};

use crate::stats::{Counters, TimeoutSnapshot, ADMITTED, SPENT, UNBOUNDED};
use crate::{exceeded, Deadline};

#[derive(Debug, Clone, Copy)]
struct Config {
    own: Option<(Duration, DeadlineKind)>,
    margin: Duration,
    min: Duration,
}

/// The budget policy of the client side, the core of a
/// [`TimeoutLayer`](crate::TimeoutLayer): a total or per-try timeout of its own (or
/// none), bounded by the inherited deadline, with a network margin and a minimum.
///
/// Cloning is cheap and shares the counters ([`TimeoutPolicy::snapshot`]).
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_deadline::TimeoutPolicy;
///
/// let policy = TimeoutPolicy::total(Duration::from_secs(3)).unwrap();
/// assert_eq!(policy.kind(), Some(DeadlineKind::Total));
/// assert!(TimeoutPolicy::per_try(Duration::ZERO).is_err());
///
/// let sender = TimeoutPolicy::builder()
///     .total(Duration::from_secs(2))
///     .margin(Duration::from_millis(10))
///     .min(Duration::from_millis(5))
///     .build()
///     .unwrap();
/// assert_eq!(sender.timeout(), Some(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutPolicy<C = TokioClock> {
    config: Config,
    clock: C,
    counters: Arc<Counters>,
}

/// Builds a [`TimeoutPolicy`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::TimeoutPolicy;
///
/// let err = TimeoutPolicy::builder().total(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "total");
/// let err = TimeoutPolicy::builder()
///     .total(Duration::from_millis(10))
///     .margin(Duration::from_millis(10))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "margin");
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutPolicyBuilder<C = TokioClock> {
    total: Option<Duration>,
    per_try: Option<Duration>,
    margin: Duration,
    min: Duration,
    clock: C,
}

/// What a call is sent under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub(crate) deadline: Deadline,
    pub(crate) kind: DeadlineKind,
    /// What to send on: the remaining time less the margin.
    pub(crate) budget: Duration,
}

impl TimeoutPolicy {
    /// A builder: no timeout of its own (only the inherited deadline bounds the call),
    /// no margin, no minimum (only a spent budget fails fast), on a [`TokioClock`].
    pub fn builder() -> TimeoutPolicyBuilder {
        TimeoutPolicyBuilder {
            total: None,
            per_try: None,
            margin: Duration::ZERO,
            min: Duration::ZERO,
            clock: TokioClock::new(),
        }
    }

    /// A total timeout across all tries (place its layer outside the retry layer).
    pub fn total(timeout: Duration) -> Result<Self, ConfigError> {
        Self::builder().total(timeout).build()
    }

    /// A per-try timeout (place its layer inside the retry layer).
    pub fn per_try(timeout: Duration) -> Result<Self, ConfigError> {
        Self::builder().per_try(timeout).build()
    }

    /// A total and a per-try timeout, checking per-try <= total.
    pub fn pair(total: Duration, per_try: Duration) -> Result<(Self, Self), ConfigError> {
        if per_try > total {
            return Err(ConfigError::new(
                "per_try",
                format!("must not exceed the total timeout ({per_try:?} > {total:?})"),
            ));
        }
        Ok((Self::total(total)?, Self::per_try(per_try)?))
    }
}

impl<C> TimeoutPolicyBuilder<C> {
    /// This client's total timeout across all tries; the earlier of it and the
    /// inherited deadline wins.
    pub fn total(mut self, total: Duration) -> Self {
        self.total = Some(total);
        self
    }

    /// This client's timeout for one try; the earlier of it and the inherited (or
    /// total) deadline wins.
    pub fn per_try(mut self, per_try: Duration) -> Self {
        self.per_try = Some(per_try);
        self
    }

    /// Subtracted from the budget sent on: the time the request needs to get there.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Fails fast, without calling, when less than `min` would be sent.
    pub fn min(mut self, min: Duration) -> Self {
        self.min = min;
        self
    }

    /// The clock deadlines are read on (a [`TokioClock`] by default). Every deadline
    /// layer of a process should use the same kind of clock: see [`Deadline`].
    pub fn clock<C2: Clock>(self, clock: C2) -> TimeoutPolicyBuilder<C2> {
        TimeoutPolicyBuilder {
            total: self.total,
            per_try: self.per_try,
            margin: self.margin,
            min: self.min,
            clock,
        }
    }

    /// Validates and builds the policy.
    pub fn build(self) -> Result<TimeoutPolicy<C>, ConfigError> {
        let own = match (self.total, self.per_try) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "per_try",
                    "set either `total` or `per_try` on one policy (use `TimeoutPolicy::pair` for both)",
                ))
            }
            (Some(t), None) => Some((t, "total", DeadlineKind::Total)),
            (None, Some(t)) => Some((t, "per_try", DeadlineKind::PerTry)),
            (None, None) => None,
        };
        if let Some((timeout, field, _)) = own {
            if timeout.is_zero() {
                return Err(ConfigError::new(field, "must be greater than zero"));
            }
            if self.margin >= timeout {
                return Err(ConfigError::new(
                    "margin",
                    format!("must be below `{field}`"),
                ));
            }
        }
        let layer = crate::metrics::timeout_layer(own.map(|(_, _, kind)| kind));
        Ok(TimeoutPolicy {
            config: Config {
                own: own.map(|(t, _, kind)| (t, kind)),
                margin: self.margin,
                min: self.min,
            },
            clock: self.clock,
            counters: Arc::new(Counters::new(layer)),
        })
    }
}

impl<C> TimeoutPolicy<C> {
    /// Which deadline this policy's own timeout is, if it has one.
    pub fn kind(&self) -> Option<DeadlineKind> {
        self.config.own.map(|(_, kind)| kind)
    }

    /// Its own timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        self.config.own.map(|(t, _)| t)
    }

    /// What the policy decided so far, across every clone, layer and service.
    pub fn snapshot(&self) -> TimeoutSnapshot {
        self.counters.timeout_snapshot()
    }

    /// The clock deadlines are read on.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Decides, at `now`, under the `inherited` deadline: `Ok(Some(bound))` to call,
    /// `Ok(None)` to call unbounded, or the rejection to fail fast with. Counts it.
    pub(crate) fn admit(
        &self,
        now: Timestamp,
        inherited: Option<(Deadline, DeadlineKind)>,
    ) -> Result<Option<Bound>, Rejection> {
        let own = self
            .config
            .own
            .map(|(t, kind)| (Deadline::after(now, t), kind));
        let (deadline, kind) = match (inherited, own) {
            (Some((i, kind)), Some((o, _))) if i <= o => (i, kind),
            (_, Some(own)) => own,
            (Some(inherited), None) => inherited,
            (None, None) => {
                self.counters.bump(ADMITTED);
                self.counters.bump(UNBOUNDED);
                return Ok(None);
            }
        };
        let budget = deadline.budget(now, self.config.margin);
        if budget.is_zero() || budget < self.config.min {
            tracing::debug!(
                target: "tollgate::deadline",
                kind = ?kind,
                budget_us = budget.as_micros() as u64,
                "not called: the remaining budget is spent or below the minimum"
            );
            self.counters.fired(SPENT, kind);
            return Err(exceeded(kind));
        }
        self.counters.admitted(budget);
        Ok(Some(Bound {
            deadline,
            kind,
            budget,
        }))
    }
}
