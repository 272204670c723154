// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! The ground every tollgate crate stands on: time, the loom sync shim, and the
//! vocabulary shared by all layers.
//!
//! - [`Clock`] is how every algorithm reads time. [`SystemClock`] is the fast
//!   monotonic clock for production, [`ManualClock`] is advanced by hand in tests, and
//!   `TokioClock` (feature `tokio`) follows tokio's clock so that tests under
//!   `tokio::time::pause` are exact.
//! - [`sync`] re-exports `Arc`, the atomics and the locks from `std`, or from `loom` when
//!   built with `--cfg loom`, so that every atomic protocol can be model-checked.
//! - [`Rejection`] is the value every layer refuses a request with: why ([`Reason`]) and,
//!   where known, the time after which a retry can succeed.
//! - [`Quota`] is a validated rate (`count` per `period`) and burst: every layer that
//!   takes a rate takes a `Quota`.
//! - [`ConfigError`] is what every builder returns for a value it refuses, naming the
//!   field and the rule.
//! - [`Refuse`] and [`Refusal`] say what a layer's refusal becomes: by default
//!   ([`AsError`]) an `Err(BoxError)` holding the rejection; with `tollgate-http`'s
//!   responders, an HTTP response or a gRPC status.
//! - [`BoxError`] is tower's boxed error, the one error type of every client-side layer.
//! - [`KeyFn`] picks a request's key for every keyed layer; [`KeyBytes`] writes a key
//!   out for a store shared across processes.
//! - [`SplitMix64`] draws jitter and shedding decisions.
//! - [`StripedCounter`] counts for snapshots without a locked instruction on the hot
//!   path.
//! - `metrics` (feature `metrics`): the admission counters every layer records through
//!   the `metrics` facade, and the `layer` label.
//! - `timer` (feature `tokio`) arms a tokio timer from a [`Timestamp`], the one place
//!   where a clock's timeline meets tokio's.
//!
//! Nothing here knows HTTP.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tollgate_core::{Clock, ManualClock, Reason, Rejection};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_millis(250));
//! assert_eq!(clock.now() - start, Duration::from_millis(250));
//!
//! let rejected = Rejection::new(Reason::RateLimited).with_retry_after(Duration::from_secs(2));
//! assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)));
//! assert_eq!(rejected.to_string(), "rate limited, retry after 2s");
//! ```

mod clock;
mod config;
mod counter;
mod key;
#[cfg(feature = "metrics")]
pub mod metrics;
mod quota;
mod random;
mod refuse;
mod rejection;
pub mod sync;
#[cfg(feature = "tokio")]
pub mod timer;

/// tower's boxed error: what every client-side tollgate layer fails with.
pub use tower::BoxError;

#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{saturating_nanos, Clock, ManualClock, SystemClock, Timestamp};
pub use config::ConfigError;
pub use counter::StripedCounter;
pub use key::{KeyBytes, KeyFn};
pub use quota::{Quota, QuotaBuilder};
pub use random::SplitMix64;
pub use refuse::{AsError, Refusal, Refuse};
pub use rejection::{DeadlineKind, Policy, Reason, Rejection};
