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
//! - [`ConfigError`] is what every builder returns for a value it refuses, naming the
//!   field and the rule.
//!
//! Nothing here is async and nothing here knows HTTP.
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
mod rejection;
pub mod sync;

#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::ConfigError;
pub use rejection::{DeadlineKind, Policy, Reason, Rejection};
