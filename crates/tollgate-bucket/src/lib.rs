// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! Token bucket rate limiting for tower, on GCRA: one atomic per bucket, no background
//! task, no mutex on the hot path.
//!
//! - [`Quota`]: a validated rate (`count` per `period`) and burst (from `tollgate-core`).
//! - [`RateLimiter`]: one bucket for every caller, built with [`RateLimiter::builder`].
//!   [`check`](RateLimiter::check) admits or says exactly how long to wait;
//!   [`check_n`](RateLimiter::check_n) weighs a request;
//!   [`reserve_at`](RateLimiter::reserve_at) books a slot up to a maximum wait, as a
//!   [`Reservation`] that gives the slot back if dropped.
//! - [`KeyedRateLimiter`]: a bucket per key with bounded memory, per-key quotas, and a
//!   [`WhenFull`] policy that never over-admits: by default, keys that do not fit the
//!   table are decided against a fixed-size sketch, so a flood of fresh keys can
//!   neither exhaust memory nor lock other new keys out.
//! - [`RateLimitLayer`]: either limiter as a tower layer that decides in `call`, so the
//!   service is `Clone`, always as ready as its inner service, and needs no `Buffer`.
//!   Direct ([`RateLimitLayer::new`]) or keyed ([`RateLimitLayer::keyed`], with any
//!   [`tollgate_core::KeyFn`]); reject or wait mode
//!   ([`max_wait`](RateLimitLayer::max_wait)); refusals as errors by default, or as
//!   whatever [`refuse_with`](RateLimitLayer::refuse_with) plugs in (the HTTP face's
//!   responses, a `tonic::Status`).
//! - [`Decide`] and [`Limiter`]: what the layer decides through, answered at once by the
//!   local limiters and later by a remote one.
//! - [`Snapshot`]: the counters of a limiter, layer or service.
//!
//! Every rejection is a [`tollgate_core::Rejection`] carrying its reason, retry-after,
//! policy and the limiter's name, logged as a `tracing` event at target
//! `tollgate::bucket` (fields `reason`, `retry_after_ms`, `quota_count`,
//! `quota_period_ms`, `burst`, and `key` when [`KeyedBuilder::trace_keys`] allows it).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimiter};
//! use tollgate_core::{ManualClock, Reason};
//!
//! let clock = ManualClock::new();
//! let quota = Quota::per_second(10).burst(2)?; // 2 at once, then one per 100 ms
//!
//! let limiter = RateLimiter::builder(quota).clock(clock.clone()).build()?;
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_ok());
//! let refused = limiter.check().unwrap_err();
//! assert_eq!(refused.reason(), Reason::RateLimited);
//! assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
//!
//! let per_client = KeyedRateLimiter::builder(quota)
//!     .max_keys(10_000)
//!     .clock(clock.clone())
//!     .build()?;
//! assert_eq!(per_client.check_key_n(&"10.0.0.1", 2)?.remaining(), 0);
//! assert!(per_client.check_key(&"10.0.0.2").is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admitted;
mod decide;
mod direct;
mod future;
mod gcra;
mod key;
mod keyed;
mod layer;
mod metrics;
mod outcome;
mod service;
mod sketch;
mod trace;

pub use admitted::OnAdmitted;
pub use decide::{Decide, Decision, Later, Limiter};
pub use direct::{Builder, RateLimiter};
pub use future::ResponseFuture;
pub use key::{MissingKey, Unkeyed, WithMissingKey};
pub use keyed::{KeyedBuilder, KeyedRateLimiter, WhenFull};
pub use layer::RateLimitLayer;
pub use outcome::{Admitted, Reservation, Snapshot};
pub use service::RateLimit;
pub use tollgate_core::{Quota, QuotaBuilder};
