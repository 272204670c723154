// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! One quota shared by many instances: the keyed token bucket (GCRA) of
//! `tollgate-bucket`, decided by Redis.
//!
//! Twenty instances behind a load balancer with twenty local buckets each admit the
//! whole quota. [`RedisRateLimiter`] keeps one theoretical arrival time per key in Redis
//! and makes the same decisions as the local keyed limiter: the same [`Quota`], the same
//! [`Rejection`](tollgate_core::Rejection) with an exact retry-after.
//!
//! # Modes, and the bound each keeps
//!
//! | mode | round trips | in any window of length T, all instances together admit at most |
//! |---|---|---|
//! | exact (default) | one per decision, except keys known to be limited | `burst + rate x T` |
//! | leased (`lease(k)`) | about two per `k` decisions per instance, made ahead: none waits while half a lease outlasts a round trip | `burst + rate x T + N x k` |
//!
//! **Exact.** Each decision is one Lua script (`EVALSHA`, reloaded on `NOSCRIPT`) that
//! reads Redis `TIME`, so instances with skewed clocks still decide on one clock, and
//! writes the new TAT with an expiry at the TAT: an idle key costs Redis nothing. The
//! time unit is Redis's, the microsecond; the emission interval is rounded up to a whole
//! one, so the limiter never admits more than the quota. Redis serialises scripts, so
//! the decisions are those of one GCRA bucket per key: the local limiter's bound.
//!
//! **Leased.** A round trip takes up to `k` cells at once (as many as fit, at least the
//! request's); the instance spends the rest locally. The decision that spends half of
//! a key's lease tops it up again in the background, so that a caller finds cells and
//! does not wait for Redis after its first decision, as long as `k / 2` cells last
//! longer than a round trip (choose `k` above twice the key's rate times the round
//! trip). Only one top-up of a key is on its way at a time, and it asks for no more
//! than the lease has room for, so no cell taken from Redis is dropped unspent (other
//! requests of the key meanwhile take their own cells only).
//!
//! Proof of the bound: every cell admitted was taken from Redis by one script run, and
//! the cells taken by script runs in a window of length T obey the GCRA bound
//! `burst + rate x T`. A cell admitted in the window was either taken in it, or taken
//! before it and still held at its start. An instance never holds more than `k`
//! unspent cells (what a round trip brings is capped at `k` held), so at most `N x k`
//! cells enter the window from before it. Unspent cells expire after `lease_ttl`
//! (under-admission, never over).
//!
//! **Local short-circuit.** Once Redis refused a key until `t`, this instance refuses
//! it locally until `t`, without a round trip (in both modes; it changes no decision:
//! the key could not have been admitted before `t`).
//!
//! # When Redis fails
//!
//! A Redis error, a reply of the wrong shape, or a decision slower than
//! [`timeout`](RedisBuilder::timeout) (default 250 ms) is decided by the
//! [`OnFailure`] policy (open, closed, or a local limiter at the quota divided by the
//! number of instances), with no further round trip for
//! [`retry_after_failure`](RedisBuilder::retry_after_failure); then the next request
//! tries Redis again, and its success ends the failover. No caller waits longer than the
//! timeout, and none queues behind a dead connection. [`Snapshot::mode`] says which way
//! decisions are taken now.
//!
//! # Keys
//!
//! Any key that writes itself as bytes ([`KeyBytes`](tollgate_core::KeyBytes): strings,
//! byte strings, integers, IP addresses, and the keys of `tollgate-http`'s extractors).
//! A key is stored as `prefix:{escaped}`: the braces make it a
//! Redis Cluster hash tag, the escaping (`%XX` for braces, `%`, `#`, and anything
//! outside printable ASCII) keeps keys distinct, and an escaped key longer than
//! [`max_key_len`](RedisBuilder::max_key_len) (default 128) is stored under `#` and its
//! SHA-1, which no escaped key can spell, so Redis memory per key is bounded.
//!
//! # Connections
//!
//! Any cloneable multiplexed `redis::aio::ConnectionLike`: a `ConnectionManager` for one
//! Redis (it reconnects by itself), a `cluster_async::ClusterConnection` for a Redis
//! Cluster. Every clone shares one socket, so concurrent decisions are pipelined.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tollgate_core::Quota;
//! use tollgate_redis::RedisRateLimiter;
//!
//! let client = redis::Client::open("redis://127.0.0.1:6379/")?;
//! let connection = redis::aio::ConnectionManager::new(client).await?;
//! let limiter = RedisRateLimiter::builder(Quota::per_minute(100).burst(10)?, connection)
//!     .prefix("api")?
//!     .build()?;
//! match limiter.check_key("customer-42").await {
//!     Ok(admitted) => println!("{} left", admitted.remaining()),
//!     Err(refused) => println!("retry after {:?}", refused.retry_after()),
//! }
//! # Ok(()) }
//! ```

#[cfg(not(loom))]
mod builder;
mod failure;
#[cfg(not(loom))]
mod key;
#[cfg(not(loom))]
mod limiter;
#[cfg(not(loom))]
mod local;
#[cfg(not(loom))]
mod metrics;
#[cfg(not(loom))]
mod script;

#[cfg(not(loom))]
pub use builder::RedisBuilder;
#[cfg(loom)]
#[doc(hidden)]
pub use failure::{Health, Observed};
pub use failure::{Mode, OnFailure};
#[cfg(not(loom))]
pub use limiter::RedisRateLimiter;
/// The Redis client this crate is built on, so an application makes its connections
/// with the same version.
#[cfg(not(loom))]
pub use redis;
pub use tollgate_core::Quota;

/// What a `RedisRateLimiter` has done, and how it decides now.
///
/// ```
/// use tollgate_redis::{Mode, Snapshot};
///
/// fn healthy(s: &Snapshot) -> bool {
///     s.mode == Mode::Redis && s.failures == 0
/// }
/// # let _ = healthy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests admitted.
    pub admitted: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Scripts run on Redis.
    pub round_trips: u64,
    /// Decisions taken with no round trip: a request over the burst, a key known to be
    /// limited, or a leased cell spent.
    pub local: u64,
    /// Round trips that failed or timed out.
    pub failures: u64,
    /// Times a failure started a failover.
    pub failovers: u64,
    /// Times a success ended one.
    pub recoveries: u64,
    /// Keys remembered locally.
    pub keys: usize,
    /// Which way decisions are taken now.
    pub mode: Mode,
}
