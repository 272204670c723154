//! [`RedisBuilder`]: every setting of a [`RedisRateLimiter`], validated.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionLike;
use tollgate_bucket::KeyedRateLimiter;
use tollgate_core::{Clock, ConfigError, Quota, SystemClock};

use crate::failure::{Health, OnFailure};
use crate::limiter::{Counters, Inner, Units};
use crate::local::LocalTable;
use crate::{script, RedisRateLimiter};

/// Integers above this lose precision in Lua's doubles; the script's values must stay
/// under it with room for `now`.
const LUA_EXACT: u64 = 1 << 52;

/// Builds a [`RedisRateLimiter`]; made by [`RedisRateLimiter::builder`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate_core::Quota;
/// use tollgate_redis::{OnFailure, RedisRateLimiter};
///
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let limiter = RedisRateLimiter::builder(Quota::per_minute(100).build()?, connection)
///     .prefix("api")?
///     .timeout(Duration::from_millis(200))
///     .lease(10)?                                   // up to 10 cells per round trip
///     .on_failure(OnFailure::Local { instances: 20 })?
///     .build()?;
/// let decision = limiter.check_key("customer-42").await;
/// # let _ = decision; Ok(()) }
/// ```
pub struct RedisBuilder<Conn, C = SystemClock> {
    quota: Quota,
    conn: Conn,
    clock: C,
    server_time: bool,
    prefix: String,
    max_key_len: usize,
    timeout: Duration,
    lease: u32,
    lease_ttl: Duration,
    on_failure: OnFailure,
    retry_after_failure: Duration,
    max_local_keys: usize,
}

impl<Conn> RedisBuilder<Conn> {
    pub(crate) fn new(quota: Quota, conn: Conn) -> Self {
        Self {
            quota,
            conn,
            clock: SystemClock::new(),
            server_time: true,
            prefix: "tollgate".into(),
            max_key_len: 128,
            timeout: Duration::from_millis(250),
            lease: 1,
            lease_ttl: Duration::from_secs(1),
            on_failure: OnFailure::default(),
            retry_after_failure: Duration::from_secs(1),
            max_local_keys: 10_000,
        }
    }
}

impl<Conn, C> RedisBuilder<Conn, C> {
    /// The local clock: for the local table, lease expiry and failover timing (default
    /// [`SystemClock`]). Decisions still read Redis `TIME` unless
    /// [`client_time`](Self::client_time) says otherwise.
    pub fn clock<C2: Clock>(self, clock: C2) -> RedisBuilder<Conn, C2> {
        RedisBuilder {
            quota: self.quota,
            conn: self.conn,
            clock,
            server_time: self.server_time,
            prefix: self.prefix,
            max_key_len: self.max_key_len,
            timeout: self.timeout,
            lease: self.lease,
            lease_ttl: self.lease_ttl,
            on_failure: self.on_failure,
            retry_after_failure: self.retry_after_failure,
            max_local_keys: self.max_local_keys,
        }
    }

    /// Decide on this instance's clock (nanoseconds) instead of Redis `TIME`
    /// (microseconds). Exact against the local limiter to the nanosecond, which the
    /// differential tests use; in production, server time keeps instances with skewed
    /// clocks exact, so leave it off. The clock's timeline must stay under 2^52 ns
    /// (52 days).
    pub fn client_time(mut self) -> Self {
        self.server_time = false;
        self
    }

    /// The prefix of every Redis key (default `tollgate`): `prefix:{key}`. Non-empty,
    /// printable ASCII without braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Result<Self, ConfigError> {
        let prefix = prefix.into();
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b'{' && b != b'}')
        {
            return Err(ConfigError::new(
                "prefix",
                "must be non-empty printable ASCII without braces",
            ));
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// Escaped keys longer than this many bytes are stored under their SHA-1 instead
    /// (default 128; at least 40).
    pub fn max_key_len(mut self, len: usize) -> Result<Self, ConfigError> {
        if len < 40 {
            return Err(ConfigError::new("max_key_len", "must be at least 40"));
        }
        self.max_key_len = len;
        Ok(self)
    }

    /// How long a decision may wait for Redis before the failure policy decides
    /// (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Leased mode: each round trip takes up to `cells` cells of the key's quota
    /// (at least the request's), and this instance spends the rest locally within
    /// [`lease_ttl`](Self::lease_ttl), topping the lease up in the background once half
    /// of it is spent. 1 (the default) is exact mode. N instances then admit at most
    /// `burst + rate x T + N x cells` in any window of length T. At most the burst.
    pub fn lease(mut self, cells: u32) -> Result<Self, ConfigError> {
        if cells == 0 || cells > self.quota.burst() {
            return Err(ConfigError::new(
                "lease",
                "must be between 1 and the quota's burst",
            ));
        }
        self.lease = cells;
        Ok(self)
    }

    /// How long leased cells stay spendable (default 1 s); unspent cells are lost
    /// (under-admission, never over).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// What to decide while Redis fails (default `OnFailure::Local { instances: 1 }`).
    pub fn on_failure(mut self, policy: OnFailure) -> Result<Self, ConfigError> {
        if let OnFailure::Local { instances: 0 } = policy {
            return Err(ConfigError::new(
                "on_failure.instances",
                "must be at least 1",
            ));
        }
        self.on_failure = policy;
        Ok(self)
    }

    /// After a failure, how long to decide by the policy before trying Redis again
    /// (default 1 s).
    pub fn retry_after_failure(mut self, after: Duration) -> Self {
        self.retry_after_failure = after;
        self
    }

    /// How many keys this instance remembers (limited-until and leases; default 10,000;
    /// at least 1). Forgetting only costs round trips.
    pub fn max_local_keys(mut self, n: usize) -> Result<Self, ConfigError> {
        if n == 0 {
            return Err(ConfigError::new("max_local_keys", "must be at least 1"));
        }
        self.max_local_keys = n;
        Ok(self)
    }
}

impl<Conn, C> RedisBuilder<Conn, C>
where
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    /// The limiter, or the setting that cannot work.
    pub fn build(self) -> Result<RedisRateLimiter<Conn, C>, ConfigError> {
        let units = self.units()?;
        let fallback = match self.on_failure {
            OnFailure::Local { instances } => Some(self.fallback(instances)?),
            _ => None,
        };
        Ok(RedisRateLimiter::from_inner(Inner {
            conn: self.conn,
            script: script::gcra(),
            quota: self.quota,
            units,
            cells: units.cells(self.quota),
            prefix: self.prefix,
            max_key_len: self.max_key_len,
            timeout: self.timeout,
            lease: self.lease,
            lease_ttl: self.lease_ttl,
            on_failure: self.on_failure,
            fallback,
            retry_after_failure: self.retry_after_failure,
            local: LocalTable::new(self.max_local_keys, self.lease, self.timeout),
            health: Health::default(),
            counters: Counters::default(),
            clock: self.clock,
        }))
    }

    /// The script's unit: microseconds on server time, with the interval rounded UP
    /// to a whole one (never admitting more than the quota); nanoseconds on client time.
    fn units(&self) -> Result<Units, ConfigError> {
        let nanos_per_unit = if self.server_time { 1_000 } else { 1 };
        let interval = self.quota.interval_nanos().div_ceil(nanos_per_unit);
        let capacity = interval.checked_mul(u64::from(self.quota.burst()));
        // Room for `now`: microseconds since 1970 are about 2^51 today.
        let room = if self.server_time {
            LUA_EXACT / 4
        } else {
            LUA_EXACT / 2
        };
        if capacity.is_none_or(|c| c >= room) {
            return Err(ConfigError::new(
                "quota",
                "burst x interval is too large for Redis's Lua numbers (at most 2^50 us)",
            ));
        }
        Ok(Units {
            interval,
            nanos_per_unit,
            server_time: self.server_time,
        })
    }

    /// The local limiter of the failover: the rate divided exactly by `instances` (the
    /// period multiplied), the burst divided and rounded down, at least 1.
    fn fallback(&self, instances: u32) -> Result<KeyedRateLimiter<Vec<u8>, C>, ConfigError> {
        let period = self.quota.period().checked_mul(instances).ok_or_else(|| {
            ConfigError::new("on_failure.instances", "too many for the quota's period")
        })?;
        let burst = (self.quota.burst() / instances).max(1);
        let quota = Quota::with_period(self.quota.count(), period).burst(burst)?;
        KeyedRateLimiter::builder(quota)
            .max_keys(self.max_local_keys)
            .clock(self.clock.clone())
            .build()
    }
}

impl<Conn, C: fmt::Debug> fmt::Debug for RedisBuilder<Conn, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("quota", &self.quota)
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("timeout", &self.timeout)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}
