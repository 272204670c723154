//! What most programs name: `use tollgate::prelude::*;`.
//!
//! ```
//! use tollgate::prelude::*;
//! let quota = Quota::per_second(10).burst(2)?;
//! assert_eq!(quota.burst(), 2);
//! # Ok::<(), tollgate::core::ConfigError>(())
//! ```

pub use tollgate_core::{
    BoxError, Clock, ConfigError, Quota, Reason, Rejection, SystemClock, TokioClock,
};

#[cfg(feature = "breaker")]
pub use tollgate_breaker::{Breaker, BreakerLayer, State, Window};
#[cfg(feature = "bucket")]
pub use tollgate_bucket::{KeyedRateLimiter, RateLimitLayer, RateLimiter};
#[cfg(feature = "deadline")]
pub use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer, TimeoutLayer, TimeoutPolicy};
#[cfg(feature = "drain")]
pub use tollgate_drain::{Drain, DrainLayer};
#[cfg(feature = "http")]
pub use tollgate_http::AsResponse;
#[cfg(feature = "tonic")]
pub use tollgate_http::AsStatus;
#[cfg(feature = "leaky")]
pub use tollgate_leaky::{ShapeLayer, Shaper};

#[cfg(feature = "stack")]
pub use crate::{ClientStack, Config, KeySource, ServerStack, StackError};
