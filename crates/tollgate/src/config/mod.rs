//! The config file: TOML, every key known (an unknown key is an error), every bad value
//! an error naming its key path and the rule, durations written as people write them.
//!
//! ```toml
//! [server.drain]
//! propagation_delay = "5s"   # readiness off, still serving, while load balancers notice
//! deadline = "30s"           # then in-flight requests are cut
//!
//! [server.deadline]          # the budget callers send, capped
//! max = "10s"
//! default_budget = "5s"
//! margin = "20ms"
//!
//! [server.rate_limit]
//! key = "header:x-api-key"   # "global", "peer_ip", "forwarded_ip", "header:<name>"
//! on_missing_key = "reject"  # or "shared": keyless requests share one bucket
//! per_key = { count = 50, period = "1s", burst = 10 }
//! tiers.gold = { keys = ["k-gold-1"], count = 500, burst = 100 }
//! routes."/search" = { count = 5, burst = 1 }   # per key, on that path
//!
//! [server.shape]
//! count = 200
//! burst = 20
//! max_wait = "200ms"
//!
//! [server.breaker]
//! failure_rate = 50.0
//! window = "30s"             # or a number of calls: window = 100
//! minimum_calls = 20
//! open_wait = "5s"
//!
//! [server.timeout]
//! per_try = "2s"
//!
//! [client.payments]          # one table per upstream
//! deadline = "3s"
//! per_try = "1s"
//! breaker = { failure_rate = 50.0 }
//! shape = { count = 10, burst = 2, max_wait = "2s" }
//! ```
//!
//! [`Config::from_toml`] and [`Config::from_file`] read and validate a file;
//! [`Config::check`] runs the timeout checker over every stack it describes. The
//! `tollgate_check` binary of the workspace does both from the command line.

mod build;
mod human;
mod sections;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tollgate_core::SystemClock;
use tollgate_deadline::checker::Report;

pub use sections::{
    BackoffSection, BreakerSection, ClientConfig, DeadlineSection, DrainSection, HalfOpenSection,
    OnMissingKey, QuotaSection, RateLimitSection, ServerConfig, ShapeSection, SlowCallsSection,
    TierSection, TimeoutSection, WindowSpec,
};

use crate::error::ConfigFileError;

/// A whole config file: the server stack and one client stack per upstream.
///
/// ```
/// let config = tollgate::Config::from_toml(r#"
///     [server.rate_limit]
///     key = "peer_ip"
///     per_key = { count = 50, burst = 10 }
///     [client.payments]
///     deadline = "3s"
/// "#)?;
/// assert!(config.server.rate_limit.is_some());
/// assert!(config.client.contains_key("payments"));
///
/// let err = tollgate::Config::from_toml("[server.rate_limt]").unwrap_err();
/// assert!(err.to_string().starts_with("server.rate_limt: unknown field `rate_limt`"), "{err}");
/// # Ok::<(), tollgate::ConfigFileError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The server stack (`[server]`).
    #[serde(default)]
    pub server: ServerConfig,
    /// One client stack per upstream (`[client.<name>]`).
    #[serde(default)]
    pub client: BTreeMap<String, ClientConfig>,
}

impl Config {
    /// Reads and validates a config from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigFileError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigFileError::new("", e.to_string().trim_end().to_owned()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = e.into_inner().message().trim_end().to_owned();
            ConfigFileError::new(path, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigFileError::new("", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_toml(&text)
    }

    /// Checks every value (each section built once, then dropped).
    fn validate(&self) -> Result<(), ConfigFileError> {
        let clock = SystemClock::new();
        self.server.build("server", &clock)?;
        for (name, client) in &self.client {
            client.build(&format!("client.{name}"), &clock)?;
        }
        Ok(())
    }

    /// The timeout checker's report for the server stack and for each client stack,
    /// named `server` and `client.<name>`: what building them would refuse (errors) or
    /// warn about.
    ///
    /// ```
    /// let config = tollgate::Config::from_toml(r#"
    ///     [client.api]
    ///     deadline = "1s"
    ///     per_try = "2s"
    /// "#)?;
    /// let reports = config.check();
    /// assert_eq!(reports[1].0, "client.api");
    /// assert!(reports[1].1.has_errors()); // a 2 s try cannot fit a 1 s deadline
    /// # Ok::<(), tollgate::ConfigFileError>(())
    /// ```
    pub fn check(&self) -> Vec<(String, Report)> {
        let clock = SystemClock::new();
        let mut reports = Vec::new();
        if let Ok(parts) = self.server.build("server", &clock) {
            reports.push(("server".to_owned(), parts.report()));
        }
        for (name, client) in &self.client {
            if let Ok(parts) = client.build(&format!("client.{name}"), &clock) {
                reports.push((format!("client.{name}"), parts.report()));
            }
        }
        reports
    }
}

impl std::str::FromStr for Config {
    type Err = ConfigFileError;

    fn from_str(text: &str) -> Result<Self, ConfigFileError> {
        Self::from_toml(text)
    }
}
