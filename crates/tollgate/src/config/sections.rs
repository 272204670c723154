//! The sections of a config file, and the layers each one builds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer};
use tollgate_breaker::{Breaker, Window};
use tollgate_bucket::{KeyedRateLimiter, MissingKey, RateLimiter};
use tollgate_core::{Clock, ConfigError, Quota};
use tollgate_deadline::checker::Report;
use tollgate_deadline::{DeadlinePolicy, TimeoutPolicy};
use tollgate_drain::Drain;
use tollgate_leaky::Shaper;

use super::human;
use crate::error::{join, ConfigFileError};
use crate::key::{ClientKey, KeySource, RequestKey};
use crate::plan;

fn one_second() -> Duration {
    Duration::from_secs(1)
}

fn under<T>(prefix: &str, result: Result<T, ConfigError>) -> Result<T, ConfigFileError> {
    result.map_err(|e| ConfigFileError::under(prefix, &e))
}

/// A rate: `count` per `period` (default `"1s"`), bursts of `burst` (default: `count`).
///
/// ```
/// let config = tollgate::Config::from_toml("[client.api]\nrate_limit = { count = 10, period = \"1m\" }")?;
/// let quota = config.client["api"].rate_limit.as_ref().unwrap();
/// assert_eq!((quota.count, quota.period.as_secs()), (10, 60));
/// # Ok::<(), tollgate::ConfigFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QuotaSection {
    /// Requests per period.
    pub count: u32,
    /// The period.
    #[serde(default = "one_second", deserialize_with = "human::required")]
    pub period: Duration,
    /// At most this many at once.
    #[serde(default)]
    pub burst: Option<u32>,
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

/// `[server.drain]`: the timings of a deploy (defaults: 5 s, 30 s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DrainSection {
    /// How long requests are still served after the drain is announced.
    #[serde(default, deserialize_with = "human::optional")]
    pub propagation_delay: Option<Duration>,
    /// How long after the trigger requests still in flight are cut.
    #[serde(default, deserialize_with = "human::optional")]
    pub deadline: Option<Duration>,
}

/// `[server.deadline]`: what budget a request runs under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeadlineSection {
    /// The cap on every budget.
    #[serde(default, deserialize_with = "human::optional")]
    pub max: Option<Duration>,
    /// The budget of requests that send none.
    #[serde(default, deserialize_with = "human::optional")]
    pub default_budget: Option<Duration>,
    /// Kept from sent budgets for the answer's way back.
    #[serde(default, deserialize_with = "human::optional")]
    pub margin: Option<Duration>,
    /// Requests with less left are refused before the handler runs.
    #[serde(default, deserialize_with = "human::optional")]
    pub min: Option<Duration>,
}

/// What a request without a rate-limit key gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnMissingKey {
    /// `400 Bad Request`.
    #[default]
    Reject,
    /// One bucket shared by every keyless request.
    Shared,
}

/// A tier of keys with a quota of their own (`tiers.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TierSection {
    /// The keys in the tier, written as the key source reads them.
    pub keys: Vec<String>,
    /// Requests per period.
    pub count: u32,
    /// The period.
    #[serde(default = "one_second", deserialize_with = "human::required")]
    pub period: Duration,
    /// At most this many at once.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `[server.rate_limit]`: a bucket per key, per-key tiers, per-route quotas.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitSection {
    /// `"global"`, `"peer_ip"`, `"forwarded_ip"` (with `trusted_proxies`), or
    /// `"header:<name>"`.
    pub key: String,
    /// The proxies trusted to report the client, for `forwarded_ip`.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// What a request without a key gets.
    #[serde(default)]
    pub on_missing_key: OnMissingKey,
    /// The quota of each key.
    pub per_key: QuotaSection,
    /// Keys with a quota of their own.
    #[serde(default)]
    pub tiers: BTreeMap<String, TierSection>,
    /// Paths with a quota of their own, per key, on that path.
    #[serde(default)]
    pub routes: BTreeMap<String, QuotaSection>,
    /// The most keys tracked at once.
    #[serde(default)]
    pub max_keys: Option<usize>,
    /// Wait mode: wait up to this long for a slot instead of a `429`.
    #[serde(default, deserialize_with = "human::optional")]
    pub max_wait: Option<Duration>,
    /// The policy's name in the `RateLimit` headers.
    #[serde(default)]
    pub name: Option<String>,
}

/// `[server.shape]` or a client's `shape`: a FIFO released at a constant rate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShapeSection {
    /// Releases per period.
    pub count: u32,
    /// The period.
    #[serde(default = "one_second", deserialize_with = "human::required")]
    pub period: Duration,
    /// At most this many released at once.
    #[serde(default)]
    pub burst: Option<u32>,
    /// The most requests waiting at once.
    #[serde(default)]
    pub max_queue: Option<usize>,
    /// The longest a request may wait (refused at once beyond).
    #[serde(default, deserialize_with = "human::optional")]
    pub max_wait: Option<Duration>,
    /// The shaper's name in rejections.
    #[serde(default)]
    pub name: Option<String>,
}

/// A breaker's window: a number of calls (`window = 100`) or a length of time
/// (`window = "30s"`, in `window_buckets` buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowSpec {
    /// The last `n` calls.
    Calls(u32),
    /// The calls of the last length of time.
    Length(Duration),
}

impl<'de> Deserialize<'de> for WindowSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = WindowSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of calls (100) or a duration (\"30s\")")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<WindowSpec, E> {
                u32::try_from(n)
                    .map(WindowSpec::Calls)
                    .map_err(|_| E::custom(format!("{n} calls: must be in 0..=4294967295")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<WindowSpec, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(-1))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<WindowSpec, E> {
                human::required(de::value::StrDeserializer::<E>::new(text)).map(WindowSpec::Length)
            }
        }
        d.deserialize_any(V)
    }
}

/// A breaker's slow-call policy: calls slower than `duration` are slow; `rate` percent
/// of them opens it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlowCallsSection {
    /// What counts as slow.
    #[serde(deserialize_with = "human::required")]
    pub duration: Duration,
    /// The percentage of slow calls that opens the breaker.
    pub rate: f64,
}

/// How a breaker's open wait grows on consecutive re-opens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackoffSection {
    /// The factor per re-open.
    pub factor: f64,
    /// The cap.
    #[serde(deserialize_with = "human::required")]
    pub max: Duration,
}

/// How a half-open breaker probes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HalfOpenSection {
    /// Probes at once.
    pub probes: u32,
    /// Successes that close it.
    pub successes: u32,
}

/// `[server.breaker]` or a client's `breaker` (defaults as `Breaker::builder()`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerSection {
    /// The breaker's name in rejections and events.
    #[serde(default)]
    pub name: Option<String>,
    /// Opens after this many failures in a row.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// Opens at this failure percentage over the window.
    #[serde(default)]
    pub failure_rate: Option<f64>,
    /// Opens on too many slow calls.
    #[serde(default)]
    pub slow_calls: Option<SlowCallsSection>,
    /// The measurement window.
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// Buckets of a time window (default 10).
    #[serde(default)]
    pub window_buckets: Option<u32>,
    /// Calls in the window before the rates are judged.
    #[serde(default)]
    pub minimum_calls: Option<u32>,
    /// How long it stays open the first time.
    #[serde(default, deserialize_with = "human::optional")]
    pub open_wait: Option<Duration>,
    /// How the open wait grows.
    #[serde(default)]
    pub backoff: Option<BackoffSection>,
    /// Random spread of the open wait, in [0, 1).
    #[serde(default)]
    pub jitter: Option<f64>,
    /// Half-open probing.
    #[serde(default)]
    pub half_open: Option<HalfOpenSection>,
}

/// `[server.timeout]`: the handler's own bound.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimeoutSection {
    /// The longest the handler may run.
    #[serde(deserialize_with = "human::required")]
    pub per_try: Duration,
}

/// `[server]`: every layer of the server stack; a section left out is a layer left out
/// (the drain is always there).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The drain's timings.
    #[serde(default)]
    pub drain: Option<DrainSection>,
    /// The incoming deadline.
    #[serde(default)]
    pub deadline: Option<DeadlineSection>,
    /// The rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSection>,
    /// The shaper.
    #[serde(default)]
    pub shape: Option<ShapeSection>,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: Option<BreakerSection>,
    /// The per-try timeout.
    #[serde(default)]
    pub timeout: Option<TimeoutSection>,
}

/// `[client.<name>]`: a client stack towards one upstream.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The total budget of a call, sent on as `grpc-timeout` / `Request-Timeout`.
    #[serde(default, deserialize_with = "human::optional")]
    pub deadline: Option<Duration>,
    /// The bound of each try.
    #[serde(default, deserialize_with = "human::optional")]
    pub per_try: Option<Duration>,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: Option<BreakerSection>,
    /// A strict quota: calls over it are refused at once.
    #[serde(default)]
    pub rate_limit: Option<QuotaSection>,
    /// A shaped quota: calls wait their turn.
    #[serde(default)]
    pub shape: Option<ShapeSection>,
}

// ===== building =====

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

    fn build<C: Clock>(
        &self,
        path: &str,
        clock: &C,
    ) -> Result<
        (
            KeyedRateLimiter<RequestKey, C>,
            KeySource,
            MissingKey<RequestKey>,
        ),
        ConfigFileError,
    > {
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
