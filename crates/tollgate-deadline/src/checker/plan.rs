//! The description of a request path: a chain of hops and the timeouts each has,
//! buildable in code or read from a TOML timeout plan.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// What a hop is, for the report and for the keep-alive rules.
///
/// ```
/// use tollgate_deadline::checker::Role;
/// assert_eq!(Role::Proxy.to_string(), "proxy");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The caller at the front (browser, mobile app, another service's client).
    Client,
    /// A load balancer, proxy or gateway.
    Proxy,
    /// An application server.
    Server,
    /// A database or other leaf dependency.
    Database,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Proxy => "proxy",
            Role::Server => "server",
            Role::Database => "database",
        })
    }
}

/// One hop of a request path and its timeouts. Every timeout is optional: a rule
/// whose values are missing is not checked.
///
/// The timeouts of a hop are those it applies when it calls the next hop (`connect`,
/// `request`, `per_try`, `pool_idle`) and those it applies as a server
/// (`keep_alive`, `drain_grace`, `grpc_max`).
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::checker::{Hop, Role};
///
/// let app = Hop::new("app", Role::Server)
///     .request(Duration::from_secs(4))
///     .per_try(Duration::from_secs(1), 2, Duration::from_millis(100))
///     .keep_alive(Duration::from_secs(75));
/// assert_eq!(app.name, "app");
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The hop's name in the report.
    pub name: String,
    /// What it is.
    pub role: Role,
    /// Connect timeout towards the next hop.
    #[serde(default, deserialize_with = "human")]
    pub connect: Option<Duration>,
    /// Request (total) timeout: how long this hop waits for the next one, retries
    /// included. For a server, the longest it lets a request run.
    #[serde(default, deserialize_with = "human")]
    pub request: Option<Duration>,
    /// Per-try timeout towards the next hop.
    #[serde(default, deserialize_with = "human")]
    pub per_try: Option<Duration>,
    /// Retries after the first try.
    #[serde(default)]
    pub retries: u32,
    /// Wait before each retry.
    #[serde(default, deserialize_with = "human")]
    pub backoff: Option<Duration>,
    /// As a server: how long an idle kept-alive connection stays open.
    #[serde(default, deserialize_with = "human")]
    pub keep_alive: Option<Duration>,
    /// As a client of the next hop: how long an idle pooled connection is kept.
    #[serde(default, deserialize_with = "human")]
    pub pool_idle: Option<Duration>,
    /// As a server: how long shutdown waits for requests in flight.
    #[serde(default, deserialize_with = "human")]
    pub drain_grace: Option<Duration>,
    /// As a server: how long until the hops in front stop routing to it once it
    /// reports not ready (health check interval x threshold, endpoint propagation).
    #[serde(default, deserialize_with = "human")]
    pub readiness_delay: Option<Duration>,
    /// Circuit breaker towards the next hop: how long it stays open.
    #[serde(default, deserialize_with = "human")]
    pub breaker_open: Option<Duration>,
    /// Circuit breaker towards the next hop: its measurement window.
    #[serde(default, deserialize_with = "human")]
    pub breaker_window: Option<Duration>,
    /// As a gRPC server: the cap it puts on incoming deadlines.
    #[serde(default, deserialize_with = "human")]
    pub grpc_max: Option<Duration>,
}

impl Hop {
    /// A hop with no timeouts yet.
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
            connect: None,
            request: None,
            per_try: None,
            retries: 0,
            backoff: None,
            keep_alive: None,
            pool_idle: None,
            drain_grace: None,
            readiness_delay: None,
            breaker_open: None,
            breaker_window: None,
            grpc_max: None,
        }
    }

    /// Sets the connect timeout.
    pub fn connect(mut self, d: Duration) -> Self {
        self.connect = Some(d);
        self
    }

    /// Sets the request (total) timeout.
    pub fn request(mut self, d: Duration) -> Self {
        self.request = Some(d);
        self
    }

    /// Sets the per-try timeout, the retries after the first try, and the backoff.
    pub fn per_try(mut self, per_try: Duration, retries: u32, backoff: Duration) -> Self {
        self.per_try = Some(per_try);
        self.retries = retries;
        self.backoff = Some(backoff);
        self
    }

    /// Sets the server keep-alive idle timeout.
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = Some(d);
        self
    }

    /// Sets the client pool idle timeout.
    pub fn pool_idle(mut self, d: Duration) -> Self {
        self.pool_idle = Some(d);
        self
    }

    /// Sets the drain grace and the readiness propagation delay.
    pub fn drain(mut self, grace: Duration, readiness_delay: Duration) -> Self {
        self.drain_grace = Some(grace);
        self.readiness_delay = Some(readiness_delay);
        self
    }

    /// Sets the breaker's open wait and window.
    pub fn breaker(mut self, open: Duration, window: Duration) -> Self {
        self.breaker_open = Some(open);
        self.breaker_window = Some(window);
        self
    }

    /// Sets the gRPC deadline cap.
    pub fn grpc_max(mut self, d: Duration) -> Self {
        self.grpc_max = Some(d);
        self
    }

    /// The longest this hop can wait for the next one: the request timeout, or what
    /// its tries and backoffs add up to when smaller or when no request timeout is set.
    pub fn longest_wait(&self) -> Option<Duration> {
        match (self.request, self.tries_total()) {
            (Some(r), Some(t)) => Some(r.min(t)),
            (r, t) => r.or(t),
        }
    }

    /// `(retries + 1) x per_try + retries x backoff`, when a per-try timeout is set.
    pub fn tries_total(&self) -> Option<Duration> {
        let per_try = self.per_try?;
        let tries = per_try.saturating_mul(self.retries.saturating_add(1));
        let waits = self
            .backoff
            .unwrap_or_default()
            .saturating_mul(self.retries);
        Some(tries.saturating_add(waits))
    }
}

/// A request path, outermost hop first, and the margin each inner hop must leave.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::checker::Plan;
///
/// let plan = Plan::from_toml(r#"
///     margin = "100ms"
///     [[hop]]
///     name = "client"
///     role = "client"
///     request = "5s"
///     [[hop]]
///     name = "app"
///     role = "server"
///     request = "4s"
/// "#).unwrap();
/// assert_eq!(plan.hops.len(), 2);
/// assert_eq!(plan.margin, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// What each inner timeout must leave below the outer one (network, queueing).
    #[serde(default = "default_margin", deserialize_with = "human_required")]
    pub margin: Duration,
    /// The hops, outermost (the client) first.
    #[serde(rename = "hop", default)]
    pub hops: Vec<Hop>,
}

fn default_margin() -> Duration {
    Duration::from_millis(100)
}

impl Plan {
    /// A plan with the default 100 ms margin.
    pub fn new(hops: Vec<Hop>) -> Self {
        Self {
            margin: default_margin(),
            hops,
        }
    }

    /// Reads a plan from TOML. Durations are human: `"5s"`, `"250ms"`, `"1m 30s"`.
    pub fn from_toml(text: &str) -> Result<Self, PlanError> {
        toml::from_str(text).map_err(|e| PlanError(e.to_string()))
    }
}

/// A timeout plan that could not be read, with the parser's explanation.
///
/// ```
/// let err = tollgate_deadline::checker::Plan::from_toml("margin = \"soon\"").unwrap_err();
/// assert!(err.to_string().contains("soon"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid timeout plan: {}", self.0)
    }
}

impl std::error::Error for PlanError {}

fn parse_human<E: serde::de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text).map_err(|e| {
        E::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"5s\" or \"250ms\""
        ))
    })
}

fn human<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_human(&text).map(Some)
}

fn human_required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_human(&text)
}
