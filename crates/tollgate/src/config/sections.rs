//! The sections of a config file: what each key means and its default.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer};

use super::human;

fn one_second() -> Duration {
    Duration::from_secs(1)
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
