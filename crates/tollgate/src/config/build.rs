//! The layers each section of a config file builds, every error named by its key path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tollgate_breaker::{Breaker, Window};
use tollgate_bucket::{KeyedRateLimiter, MissingKey, RateLimiter};
use tollgate_core::{Clock, ConfigError, Quota};
use tollgate_deadline::checker::Report;
use tollgate_deadline::{DeadlinePolicy, TimeoutPolicy};
use tollgate_drain::Drain;
use tollgate_leaky::Shaper;

use super::sections::{
    BreakerSection, ClientConfig, DeadlineSection, DrainSection, OnMissingKey, QuotaSection,
    RateLimitSection, ServerConfig, ShapeSection, WindowSpec,
};
use crate::error::{join, ConfigFileError};
use crate::key::{ClientKey, KeySource, RequestKey};
use crate::plan;

/// A server stack's limiter, its key, and what keyless requests get.
type KeyedLimit<C> = (
    KeyedRateLimiter<RequestKey, C>,
    KeySource,
    MissingKey<RequestKey>,
);

fn under<T>(prefix: &str, result: Result<T, ConfigError>) -> Result<T, ConfigFileError> {
    result.map_err(|e| ConfigFileError::under(prefix, &e))
}

impl QuotaSection {
    fn quota(&self, path: &str) -> Result<Quota, ConfigFileError> {
        quota(path, self.count, self.period, self.burst)
    }
}

fn quota(
    path: &str,
    count: u32,
    period: Duration,
    burst: Option<u32>,
) -> Result<Quota, ConfigFileError> {
    let builder = Quota::with_period(count, period);
    under(
        path,
        match burst {
            Some(burst) => builder.burst(burst),
            None => builder.build(),
        },
    )
}

/// The cores a `[server]` section makes.
pub(crate) struct ServerParts<C> {
    pub(crate) drain: Option<Drain>,
    pub(crate) deadline: Option<DeadlinePolicy>,
    pub(crate) rate_limit: Option<(KeyedRateLimiter<RequestKey, C>, KeySource)>,
    pub(crate) missing_key: MissingKey<RequestKey>,
    pub(crate) rate_limit_wait: Option<Duration>,
    pub(crate) shape: Option<Shaper<C>>,
    pub(crate) breaker: Option<Breaker<C>>,
    pub(crate) timeout: Option<TimeoutPolicy>,
}

impl<C: Clock> ServerParts<C> {
    /// The checker's whole report on these values.
    pub(crate) fn report(&self) -> Report {
        let drain = self
            .drain
            .clone()
            .unwrap_or_else(|| crate::server::default_drain(tollgate_core::SystemClock::new()));
        tollgate_deadline::checker::check(&plan::server(
            &drain,
            self.deadline
                .as_ref()
                .and_then(|p| p.max().or(p.default_budget())),
            self.breaker.as_ref(),
            self.timeout.as_ref().and_then(TimeoutPolicy::timeout),
        ))
    }
}

/// The cores a `[client.<name>]` section makes.
pub(crate) struct ClientParts<C> {
    pub(crate) deadline: Option<TimeoutPolicy>,
    pub(crate) per_try: Option<TimeoutPolicy>,
    pub(crate) breaker: Option<Breaker<C>>,
    pub(crate) rate_limit: Option<RateLimiter<C>>,
    pub(crate) shape: Option<Shaper<C>>,
}

impl<C: Clock> ClientParts<C> {
    /// The checker's whole report on these values.
    pub(crate) fn report(&self) -> Report {
        tollgate_deadline::checker::check(&plan::client(
            self.deadline.as_ref().and_then(TimeoutPolicy::timeout),
            self.breaker.as_ref(),
            self.per_try.as_ref().and_then(TimeoutPolicy::timeout),
        ))
    }
}

impl ServerConfig {
    pub(crate) fn build<C: Clock>(
        &self,
        path: &str,
        clock: &C,
    ) -> Result<ServerParts<C>, ConfigFileError> {
        let (rate_limit, missing_key, rate_limit_wait) = match &self.rate_limit {
            Some(section) => {
                let (limiter, key, missing) = section.build(&join(path, "rate_limit"), clock)?;
                (Some((limiter, key)), missing, section.max_wait)
            }
            None => (None, MissingKey::Reject, None),
        };
        Ok(ServerParts {
            drain: self
                .drain
                .as_ref()
                .map(|d| d.build(&join(path, "drain"), clock))
                .transpose()?,
            deadline: self
                .deadline
                .as_ref()
                .map(|d| d.build(&join(path, "deadline")))
                .transpose()?,
            rate_limit,
            missing_key,
            rate_limit_wait,
            shape: self
                .shape
                .as_ref()
                .map(|s| s.build(&join(path, "shape"), clock))
                .transpose()?,
            breaker: self
                .breaker
                .as_ref()
                .map(|b| b.build(&join(path, "breaker"), clock))
                .transpose()?,
            timeout: self
                .timeout
                .as_ref()
                .map(|t| under(&join(path, "timeout"), TimeoutPolicy::per_try(t.per_try)))
                .transpose()?,
        })
    }
}

impl ClientConfig {
    pub(crate) fn build<C: Clock>(
        &self,
        path: &str,
        clock: &C,
    ) -> Result<ClientParts<C>, ConfigFileError> {
        let timeout =
            |key: &str,
             d: Option<Duration>,
             make: fn(Duration) -> Result<TimeoutPolicy, ConfigError>| {
                d.map(|d| make(d).map_err(|e| ConfigFileError::new(join(path, key), e.rule())))
                    .transpose()
            };
        Ok(ClientParts {
            deadline: timeout("deadline", self.deadline, TimeoutPolicy::total)?,
            per_try: timeout("per_try", self.per_try, TimeoutPolicy::per_try)?,
            breaker: self
                .breaker
                .as_ref()
                .map(|b| b.build(&join(path, "breaker"), clock))
                .transpose()?,
            rate_limit: self
                .rate_limit
                .as_ref()
                .map(|q| {
                    let path = join(path, "rate_limit");
                    let quota = q.quota(&path)?;
                    under(
                        &path,
                        RateLimiter::builder(quota).clock(clock.clone()).build(),
                    )
                })
                .transpose()?,
            shape: self
                .shape
                .as_ref()
                .map(|s| s.build(&join(path, "shape"), clock))
                .transpose()?,
        })
    }
}

impl DrainSection {
    fn build<C: Clock>(&self, path: &str, clock: &C) -> Result<Drain, ConfigFileError> {
        let mut builder = Drain::builder().clock(clock.clone());
        if let Some(delay) = self.propagation_delay {
            builder = builder.propagation_delay(delay);
        }
        if let Some(deadline) = self.deadline {
            builder = builder.deadline(deadline);
        }
        under(path, builder.build())
    }
}

impl DeadlineSection {
    fn build(&self, path: &str) -> Result<DeadlinePolicy, ConfigFileError> {
        let mut builder = DeadlinePolicy::builder();
        if let Some(max) = self.max {
            builder = builder.max(max);
        }
        if let Some(default) = self.default_budget {
            builder = builder.default_budget(default);
        }
        if let Some(margin) = self.margin {
            builder = builder.margin(margin);
        }
        if let Some(min) = self.min {
            builder = builder.min(min);
        }
        under(path, builder.build())
    }
}

impl RateLimitSection {
    fn key_source(&self, path: &str) -> Result<KeySource, ConfigFileError> {
        let key_path = join(path, "key");
        let source = match self.key.as_str() {
            "global" => KeySource::global(),
            "peer_ip" => KeySource::peer_ip(),
            "forwarded_ip" if self.trusted_proxies.is_empty() => {
                return Err(ConfigFileError::new(
                    join(path, "trusted_proxies"),
                    "must name at least one proxy for `key = \"forwarded_ip\"`",
                ))
            }
            "forwarded_ip" => under(path, KeySource::forwarded_ip(&self.trusted_proxies))?,
            other => match other.strip_prefix("header:") {
                Some(name) => KeySource::header(name)
                    .map_err(|e| ConfigFileError::new(key_path.clone(), e.rule()))?,
                None => {
                    return Err(ConfigFileError::new(
                        key_path,
                        format!("`{other}`: must be \"global\", \"peer_ip\", \"forwarded_ip\" or \"header:<name>\""),
                    ))
                }
            },
        };
        Ok(source.routes(self.routes.keys()))
    }

    fn build<C: Clock>(&self, path: &str, clock: &C) -> Result<KeyedLimit<C>, ConfigFileError> {
        let key = self.key_source(path)?;
        let default = self.per_key.quota(&join(path, "per_key"))?;
        let mut tiers: HashMap<ClientKey, (Quota, &str)> = HashMap::new();
        for (name, tier) in &self.tiers {
            let tier_path = join(path, &format!("tiers.{name}"));
            let quota = quota(&tier_path, tier.count, tier.period, tier.burst)?;
            for text in &tier.keys {
                let client = key
                    .parse_client(text)
                    .map_err(|rule| ConfigFileError::new(join(&tier_path, "keys"), rule))?;
                if let Some((_, other)) = tiers.insert(client, (quota, name)) {
                    return Err(ConfigFileError::new(
                        join(&tier_path, "keys"),
                        format!("`{text}` is also in tier `{other}`"),
                    ));
                }
            }
        }
        let tiers: HashMap<ClientKey, Quota> =
            tiers.into_iter().map(|(k, (q, _))| (k, q)).collect();
        let mut routes: HashMap<Arc<str>, Quota> = HashMap::new();
        for (route, q) in &self.routes {
            let route_path = join(path, &format!("routes.\"{route}\""));
            if !route.starts_with('/') {
                return Err(ConfigFileError::new(
                    route_path,
                    "a route must start with `/`",
                ));
            }
            routes.insert(Arc::from(route.as_str()), q.quota(&route_path)?);
        }
        let mut builder = KeyedRateLimiter::builder(default).clock(clock.clone());
        if !tiers.is_empty() || !routes.is_empty() {
            builder = builder.quota_for(move |key: &RequestKey| match key.route() {
                Some(route) => routes.get(route).copied(),
                None => tiers.get(key.client()).copied(),
            });
        }
        if let Some(max) = self.max_keys {
            builder = builder.max_keys(max);
        }
        if let Some(name) = &self.name {
            builder = builder.name(name.as_str());
        }
        let limiter = under(path, builder.build())?;
        let missing = match self.on_missing_key {
            OnMissingKey::Reject => MissingKey::Reject,
            OnMissingKey::Shared => MissingKey::Bucket(RequestKey::missing()),
        };
        Ok((limiter, key, missing))
    }
}

impl ShapeSection {
    fn build<C: Clock>(&self, path: &str, clock: &C) -> Result<Shaper<C>, ConfigFileError> {
        let quota = quota(path, self.count, self.period, self.burst)?;
        let mut builder = Shaper::builder(quota).clock(clock.clone());
        if let Some(max) = self.max_queue {
            builder = builder.max_queue(max);
        }
        if let Some(max) = self.max_wait {
            builder = builder.max_wait(max);
        }
        if let Some(name) = &self.name {
            builder = builder.name(name.as_str());
        }
        under(path, builder.build())
    }
}

impl BreakerSection {
    fn build<C: Clock>(&self, path: &str, clock: &C) -> Result<Breaker<C>, ConfigFileError> {
        let mut b = Breaker::builder().clock(clock.clone());
        if let Some(name) = &self.name {
            b = b.name(name.as_str());
        }
        if let Some(n) = self.consecutive_failures {
            b = b.consecutive_failures(n);
        }
        if let Some(rate) = self.failure_rate {
            b = b.failure_rate(rate);
        }
        if let Some(slow) = &self.slow_calls {
            b = b.slow_calls(slow.duration, slow.rate);
        }
        match (self.window, self.window_buckets) {
            (Some(WindowSpec::Calls(n)), None) => b = b.window(Window::Count(n)),
            (Some(WindowSpec::Length(length)), buckets) => {
                b = b.window(Window::Time {
                    length,
                    buckets: buckets.unwrap_or(10),
                })
            }
            (_, Some(_)) => {
                return Err(ConfigFileError::new(
                    join(path, "window_buckets"),
                    "needs a time window (`window = \"30s\"`)",
                ))
            }
            (None, None) => {}
        }
        if let Some(n) = self.minimum_calls {
            b = b.minimum_calls(n);
        }
        if let Some(wait) = self.open_wait {
            b = b.open_wait(wait);
        }
        if let Some(backoff) = &self.backoff {
            b = b.backoff(backoff.factor, backoff.max);
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        if let Some(h) = &self.half_open {
            b = b.half_open(h.probes, h.successes);
        }
        b.build().map_err(|e| {
            let key = match e.field() {
                "slow_call_duration" => "slow_calls.duration",
                "slow_call_rate" => "slow_calls.rate",
                field => field,
            };
            ConfigFileError::new(join(path, key), e.rule())
        })
    }
}
