//! Building a server stack from values or from a config section.

use std::marker::PhantomData;

use std::time::Duration;

use tollgate_breaker::{Breaker, BreakerLayer};
use tollgate_bucket::{MissingKey, RateLimitLayer};
use tollgate_core::{Clock, SystemClock};
use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer, TimeoutLayer, TimeoutPolicy};
use tollgate_drain::Drain;
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::AsResponse;
use tollgate_leaky::{ShapeLayer, Shaper};

use super::layers::{Limiter, ServerLayers};
use super::ServerStack;
use crate::config::ServerConfig;
use crate::error::judge;
use crate::error::{ConfigFileError, StackError, Warnings};
use crate::face::{Face, Http};
use crate::key::{KeySource, RequestKey};
use crate::plan;
use tollgate_deadline::checker::check;

/// Builds a [`ServerStack`]: give the layers you want, in any order; the stack puts
/// them in its own. Start from [`ServerStack::builder`] (HTTP, system clock) or
/// [`ServerStackBuilder::new`] with another clock; [`grpc`](Self::grpc) for tonic.
///
/// ```
/// use std::time::Duration;
/// use tollgate::prelude::*;
///
/// let (stack, _warnings) = ServerStack::builder()
///     .drain(Drain::builder().propagation_delay(Duration::from_secs(5)).build()?)
///     .deadline(DeadlinePolicy::builder().max(Duration::from_secs(10)).build()?)
///     .rate_limit(KeyedRateLimiter::builder(Quota::per_second(100).burst(20)?).build()?, KeySource::peer_ip())
///     .shape(Shaper::builder(Quota::per_second(500).burst(50)?).max_wait(Duration::from_millis(200)).build()?)
///     .breaker(Breaker::builder().failure_rate(50.0).build()?)
///     .timeout(TimeoutPolicy::per_try(Duration::from_secs(2))?)
///     .build()?;
/// # let _ = stack;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a ServerStackBuilder does nothing until `build` is called"]
pub struct ServerStackBuilder<F: Face = Http, C = SystemClock> {
    clock: C,
    drain: Option<Drain>,
    keep_drain: bool,
    deadline: Option<DeadlinePolicy>,
    rate_limit: Option<(Limiter<C>, KeySource)>,
    missing_key: MissingKey<RequestKey>,
    rate_limit_wait: Option<Duration>,
    shape: Option<Shaper<C>>,
    breaker: Option<Breaker<C>>,
    timeout: Option<TimeoutPolicy>,
    config: Option<ServerConfig>,
    face: PhantomData<F>,
}

impl<F: Face, C: Clock> ServerStackBuilder<F, C> {
    /// An empty builder whose layers made from a config read `clock` (deadlines are
    /// always on tokio's clock, as every deadline layer of a process must share one).
    pub fn new(clock: C) -> Self {
        Self {
            clock,
            drain: None,
            keep_drain: false,
            deadline: None,
            rate_limit: None,
            missing_key: MissingKey::Reject,
            rate_limit_wait: None,
            shape: None,
            breaker: None,
            timeout: None,
            config: None,
            face: PhantomData,
        }
    }

    /// The drain (default: `Drain::builder().build()`, 5 s propagation, 30 s deadline).
    pub fn drain(mut self, drain: Drain) -> Self {
        self.drain = Some(drain);
        self
    }

    /// A reload's builder: the running drain stays, whatever the config says.
    pub(crate) fn keep_drain(mut self, drain: Drain) -> Self {
        self.drain = Some(drain);
        self.keep_drain = true;
        self
    }

    /// Runs each request under the budget its caller sent (`grpc-timeout`,
    /// `Request-Timeout`), as `policy` decides; `504` when it is spent.
    pub fn deadline(mut self, policy: DeadlinePolicy) -> Self {
        self.deadline = Some(policy);
        self
    }

    /// Rate limits by `key`, `429` with `Retry-After` and the `RateLimit` headers over
    /// the quota. Per-key tiers are the limiter's `quota_for`.
    pub fn rate_limit(mut self, limiter: Limiter<C>, key: KeySource) -> Self {
        self.rate_limit = Some((limiter, key));
        self
    }

    /// What a request without a key gets (default: `400`, [`MissingKey::Reject`]).
    pub fn missing_key(mut self, missing: MissingKey<RequestKey>) -> Self {
        self.missing_key = missing;
        self
    }

    /// Wait mode: a request over the quota waits up to `max` for its slot.
    pub fn rate_limit_wait(mut self, max: Duration) -> Self {
        self.rate_limit_wait = Some(max);
        self
    }

    /// Smooths the load through a FIFO released at the shaper's rate.
    pub fn shape(mut self, shaper: Shaper<C>) -> Self {
        self.shape = Some(shaper);
        self
    }

    /// Stops calling the handler while it fails: `503` with `Retry-After` while open.
    pub fn breaker(mut self, breaker: Breaker<C>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Bounds the handler's own run (`504` past it), inside the breaker.
    pub fn timeout(mut self, policy: TimeoutPolicy) -> Self {
        self.timeout = Some(policy);
        self
    }

    /// For a tonic server: the breaker reads `grpc-status`.
    #[cfg(feature = "tonic")]
    pub fn grpc(self) -> ServerStackBuilder<crate::face::Grpc, C> {
        ServerStackBuilder {
            clock: self.clock,
            drain: self.drain,
            keep_drain: self.keep_drain,
            deadline: self.deadline,
            rate_limit: self.rate_limit,
            missing_key: self.missing_key,
            rate_limit_wait: self.rate_limit_wait,
            shape: self.shape,
            breaker: self.breaker,
            timeout: self.timeout,
            config: self.config,
            face: PhantomData,
        }
    }

    /// Every layer a config file's `[server]` section describes (replacing those given
    /// so far); a bad value is an error naming its key path.
    pub fn config(mut self, config: &ServerConfig) -> Result<Self, ConfigFileError> {
        let parts = config.build("server", &self.clock)?;
        if !self.keep_drain {
            self.drain = parts.drain;
        }
        self.deadline = parts.deadline;
        self.rate_limit = parts.rate_limit;
        self.missing_key = parts.missing_key;
        self.rate_limit_wait = parts.rate_limit_wait;
        self.shape = parts.shape;
        self.breaker = parts.breaker;
        self.timeout = parts.timeout;
        self.config = Some(config.clone());
        Ok(self)
    }

    /// Checks the timeouts and builds the stack: a misaligned stack is an error with
    /// the checker's report, and its warnings come back.
    pub fn build(self) -> Result<(ServerStack<F, C>, Warnings), StackError> {
        let clock = self.clock.clone();
        let drain = self
            .drain
            .clone()
            .unwrap_or_else(|| super::default_drain(clock.clone()));
        let (layers, warnings) = self.layers(&drain, 0, None)?;
        Ok((ServerStack::assemble(drain, layers, clock), warnings))
    }

    /// The layers inside the drain, checked. A section equal to the one `previous`
    /// was built from keeps `previous`'s layer, and its state.
    pub(crate) fn layers(
        self,
        drain: &Drain,
        generation: u64,
        previous: Option<&ServerLayers<F, C>>,
    ) -> Result<(ServerLayers<F, C>, Warnings), StackError> {
        let deadline = self
            .deadline
            .as_ref()
            .and_then(|p| p.max().or(p.default_budget()));
        let warnings = judge(check(&plan::server(
            drain,
            deadline,
            self.breaker.as_ref(),
            self.timeout.as_ref().and_then(TimeoutPolicy::timeout),
        )))?;
        let r = AsResponse::new();
        let wait = self.rate_limit_wait;
        let missing = self.missing_key.clone();
        let fresh = ServerLayers {
            generation,
            deadline: self.deadline.map(|policy| {
                ServerDeadlineLayer::new(policy)
                    .propagate(TimeoutHeaders::new())
                    .refuse_with(r)
            }),
            rate_limit: self.rate_limit.map(|(limiter, key)| {
                let layer = RateLimitLayer::keyed(limiter, key).on_missing_key(missing);
                let layer = match wait {
                    Some(max) => layer.max_wait(max),
                    None => layer,
                };
                layer.refuse_with(r)
            }),
            shape: self
                .shape
                .map(|shaper| ShapeLayer::new(shaper).refuse_with(r)),
            breaker_on: self.breaker.is_some(),
            breaker: BreakerLayer::new(match self.breaker {
                Some(breaker) => breaker,
                None => disabled_breaker(self.clock.clone())?,
            })
            .classifier(F::classifier())
            .refuse_with(r),
            timeout: self.timeout.map(|p| TimeoutLayer::new(p).refuse_with(r)),
            config: self.config,
        };
        let layers = match previous {
            Some(old) => fresh.keeping(old),
            None => fresh,
        };
        Ok((layers, warnings))
    }
}

/// The breaker of a stack that has none: always there so the stack's type does not
/// depend on it, switched off so it never refuses.
pub(crate) fn disabled_breaker<C: Clock>(clock: C) -> Result<Breaker<C>, StackError> {
    let breaker = Breaker::builder()
        .name("disabled")
        .clock(clock)
        .build()
        .map_err(|e| ConfigFileError::under("breaker", &e))?;
    breaker.disable();
    Ok(breaker)
}

impl<F: Face, C> std::fmt::Debug for ServerStackBuilder<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStackBuilder")
            .field("drain", &self.drain.is_some())
            .field("deadline", &self.deadline.is_some())
            .field("rate_limit", &self.rate_limit.is_some())
            .field("shape", &self.shape.is_some())
            .field("breaker", &self.breaker.is_some())
            .field("timeout", &self.timeout.is_some())
            .finish_non_exhaustive()
    }
}
