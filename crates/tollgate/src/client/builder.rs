//! Building a client stack from values or from a config section.

use std::marker::PhantomData;
use std::time::Duration;

use tollgate_breaker::{Breaker, BreakerLayer};
use tollgate_bucket::{RateLimitLayer, RateLimiter};
use tollgate_core::{Clock, SystemClock};
use tollgate_deadline::checker::check;
use tollgate_deadline::{TimeoutLayer, TimeoutPolicy};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::shape::HttpFeedback;
use tollgate_leaky::{ShapeLayer, Shaper};

use super::layers::ClientLayers;
use super::ClientStack;
use crate::config::ClientConfig;
use crate::error::{judge, ConfigFileError, StackError, Warnings};
use crate::face::{Face, Http};
use crate::plan;

/// Builds a [`ClientStack`]: give the layers you want, in any order; the stack puts
/// them in its own. Start from [`ClientStack::builder`] (HTTP, system clock) or
/// [`ClientStackBuilder::new`] with another clock; [`grpc`](Self::grpc) for tonic.
///
/// ```
/// use std::time::Duration;
/// use tollgate::prelude::*;
///
/// // A 2 s try cannot fit a 1 s deadline: the checker refuses the stack.
/// let err = ClientStack::builder()
///     .deadline(Duration::from_secs(1))
///     .per_try(Duration::from_secs(2))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, StackError::Misaligned(_)));
/// ```
#[must_use = "a ClientStackBuilder does nothing until `build` is called"]
pub struct ClientStackBuilder<F: Face = Http, C = SystemClock> {
    clock: C,
    deadline: Option<Duration>,
    per_try: Option<Duration>,
    breaker: Option<Breaker<C>>,
    rate_limit: Option<RateLimiter<C>>,
    shape: Option<Shaper<C>>,
    config: Option<ClientConfig>,
    face: PhantomData<F>,
}

impl<F: Face, C: Clock> ClientStackBuilder<F, C> {
    /// An empty builder whose layers made from a config read `clock` (deadlines are
    /// always on tokio's clock).
    pub fn new(clock: C) -> Self {
        Self {
            clock,
            deadline: None,
            per_try: None,
            breaker: None,
            rate_limit: None,
            shape: None,
            config: None,
            face: PhantomData,
        }
    }

    /// The total budget of a call (the earlier of this and the deadline inherited
    /// from the request being served), sent on as `grpc-timeout` / `Request-Timeout`.
    pub fn deadline(mut self, total: Duration) -> Self {
        self.deadline = Some(total);
        self
    }

    /// Stops calling a failing upstream.
    pub fn breaker(mut self, breaker: Breaker<C>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// A strict quota: calls over it are refused at once.
    pub fn rate_limit(mut self, limiter: RateLimiter<C>) -> Self {
        self.rate_limit = Some(limiter);
        self
    }

    /// A shaped quota: calls wait their turn, and the upstream's `Retry-After` pauses
    /// releases.
    pub fn shape(mut self, shaper: Shaper<C>) -> Self {
        self.shape = Some(shaper);
        self
    }

    /// Bounds each try.
    pub fn per_try(mut self, per_try: Duration) -> Self {
        self.per_try = Some(per_try);
        self
    }

    /// For a tonic `Channel`: the breaker reads `grpc-status`, refusals are statuses.
    #[cfg(feature = "tonic")]
    pub fn grpc(self) -> ClientStackBuilder<crate::face::Grpc, C> {
        ClientStackBuilder {
            clock: self.clock,
            deadline: self.deadline,
            per_try: self.per_try,
            breaker: self.breaker,
            rate_limit: self.rate_limit,
            shape: self.shape,
            config: self.config,
            face: PhantomData,
        }
    }

    /// Every layer a `[client.<name>]` section describes (replacing those given so
    /// far); errors name the key under `client`.
    pub fn config(self, config: &ClientConfig) -> Result<Self, ConfigFileError> {
        self.config_at(config, "client")
    }

    /// As [`config`](Self::config), errors named under `path` (`client.payments`).
    pub fn config_at(mut self, config: &ClientConfig, path: &str) -> Result<Self, ConfigFileError> {
        let parts = config.build(path, &self.clock)?;
        self.deadline = parts.deadline.as_ref().and_then(TimeoutPolicy::timeout);
        self.per_try = parts.per_try.as_ref().and_then(TimeoutPolicy::timeout);
        self.breaker = parts.breaker;
        self.rate_limit = parts.rate_limit;
        self.shape = parts.shape;
        self.config = Some(config.clone());
        Ok(self)
    }

    /// Checks the timeouts and builds the stack: a misaligned stack is an error with
    /// the checker's report, and its warnings come back.
    pub fn build(self) -> Result<(ClientStack<F, C>, Warnings), StackError> {
        let clock = self.clock.clone();
        let (layers, warnings) = self.layers(0, None)?;
        Ok((ClientStack::assemble(layers, clock), warnings))
    }

    pub(crate) fn layers(
        self,
        generation: u64,
        previous: Option<&ClientLayers<F, C>>,
    ) -> Result<(ClientLayers<F, C>, Warnings), StackError> {
        let warnings = judge(check(&plan::client(
            self.deadline,
            self.breaker.as_ref(),
            self.per_try,
        )))?;
        let timeout = |d: Option<Duration>, make: fn(Duration) -> Result<TimeoutPolicy, _>, key| {
            d.map(|d| {
                make(d)
                    .map(|p| {
                        TimeoutLayer::new(p)
                            .propagate(TimeoutHeaders::new())
                            .refuse_with(F::ClientRefuse::default())
                    })
                    .map_err(|e: tollgate_core::ConfigError| {
                        StackError::Invalid(ConfigFileError::new(key, e.rule()))
                    })
            })
            .transpose()
        };
        let breaker_on = self.breaker.is_some();
        let breaker = match self.breaker {
            Some(breaker) => breaker,
            None => crate::server::disabled_breaker(self.clock.clone())?,
        };
        let fresh = ClientLayers {
            generation,
            deadline: timeout(self.deadline, TimeoutPolicy::total, "deadline")?,
            breaker: BreakerLayer::new(breaker)
                .classifier(F::classifier())
                .refuse_with(F::ClientRefuse::default()),
            breaker_on,
            rate_limit: self
                .rate_limit
                .map(|l| RateLimitLayer::new(l).refuse_with(F::ClientRefuse::default())),
            shape: self.shape.map(|s| {
                ShapeLayer::new(s)
                    .feedback(HttpFeedback)
                    .refuse_with(F::ClientRefuse::default())
            }),
            per_try: timeout(self.per_try, TimeoutPolicy::per_try, "per_try")?,
            config: self.config,
        };
        Ok(match previous {
            Some(old) => (fresh.keeping(old), warnings),
            None => (fresh, warnings),
        })
    }
}

impl<F: Face, C> std::fmt::Debug for ClientStackBuilder<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStackBuilder")
            .field("deadline", &self.deadline)
            .field("per_try", &self.per_try)
            .field("breaker", &self.breaker.is_some())
            .field("rate_limit", &self.rate_limit.is_some())
            .field("shape", &self.shape.is_some())
            .finish_non_exhaustive()
    }
}
