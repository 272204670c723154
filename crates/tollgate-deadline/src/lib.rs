// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! One deadline through the stack and over the wire, and a checker that finds
//! misaligned timeouts before production does.
//!
//! - [`Deadline`] is an instant on a [`tollgate_core::Clock`]. While a request is
//!   served it lives in a task-local scope ([`Deadline::scope`]), so calls made by the
//!   handler inherit it without plumbing; [`carry`] takes it into spawned tasks (see
//!   [the scope's docs](scope_with_kind) and "Spawned tasks" below).
//! - [`ServerDeadlineLayer`] runs each request under the budget its caller sent, as
//!   decided by a [`DeadlinePolicy`] (margin, default, maximum, minimum).
//! - [`TimeoutLayer`] bounds a call by the earlier of the inherited deadline and a
//!   [`TimeoutPolicy`]'s own total or per-try timeout, and sends what is left on.
//! - Both read and write budgets on requests through a [`Propagate`] ([`Local`] by
//!   default; `tollgate_http::deadline::TimeoutHeaders` for `grpc-timeout` and
//!   `Request-Timeout`), and refuse through a [`tollgate_core::Refuse`] ([`AsError`]
//!   by default; `tollgate_http::AsResponse` on servers, `tollgate_http::AsStatus` on
//!   tonic clients). They share one [`ResponseFuture`].
//! - [`DeadlineRetry`] is a `tower::retry` policy that never starts a try the
//!   remaining budget cannot cover.
//! - `checker` (feature `checker`) finds misaligned timeouts along a chain of hops,
//!   from code or from a TOML timeout plan.
//!
//! Refusals are [`Rejection`]s with
//! [`Reason::DeadlineExceeded`] naming which
//! deadline fired ([`DeadlineKind`]), or
//! [`Reason::MalformedHeader`] for a sent budget
//! that could not be read.
//!
//! Deadlines are read on the policies' clock, a `TokioClock` by default: tokio's
//! timeline, which also arms the timers, so `tokio::time::pause` tests are exact. Every
//! clock of a kind shares one origin; keep every deadline layer of a process on one
//! kind of clock.
//!
//! # Example
//!
//! Put the total outside the retry layer and the per-try inside it:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_core::{DeadlineKind, Reason, Rejection};
//! use tollgate_deadline::{TimeoutLayer, TimeoutPolicy};
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! let (total, per_try) =
//!     TimeoutPolicy::pair(Duration::from_secs(2), Duration::from_millis(500)).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(total))
//!     .layer(TimeoutLayer::new(per_try))
//!     .service(service_fn(|_: ()| async {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, BoxError>("late")
//!     }));
//! let err = svc.oneshot(()).await.unwrap_err();
//! let rejection = err.downcast_ref::<Rejection>().unwrap();
//! assert_eq!(rejection.reason(), Reason::DeadlineExceeded(DeadlineKind::PerTry));
//! # }
//! ```
//!
//! A server scopes its handler in the caller's deadline; the handler's outgoing calls
//! see what is left:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_core::{Clock, TokioClock};
//! use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer, Deadline};
//! use tower::{service_fn, BoxError, Layer, ServiceExt};
//!
//! let policy = DeadlinePolicy::builder().default_budget(Duration::from_secs(1)).build().unwrap();
//! let svc = ServerDeadlineLayer::new(policy).layer(service_fn(|_: ()| async {
//!     tokio::time::sleep(Duration::from_millis(300)).await;
//!     let now = TokioClock::new().now();
//!     Ok::<_, BoxError>(Deadline::current().unwrap().budget(now, Duration::from_millis(20)))
//! }));
//! assert_eq!(svc.oneshot(()).await.unwrap(), Duration::from_millis(680));
//! # }
//! ```
//!
//! # Spawned tasks
//!
//! `tokio::spawn` does not inherit the scope: wrap the spawned future in [`carry`]
//! (`tokio::spawn(carry(work))`), or pass [`Deadline::current`] along and
//! [`Deadline::scope`] the new task with it.
//!
//! [`AsError`]: tollgate_core::AsError

#[cfg(feature = "checker")]
pub mod checker;
mod deadline;
mod deadline_policy;
mod future;
mod layer;
mod metrics;
mod propagate;
mod retry;
mod scope;
mod service;
// `pub` inside, and re-exported only under `cfg(loom)`, for the loom models.
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod stats;
mod timeout_policy;

pub use deadline::Deadline;
pub use deadline_policy::{DeadlinePolicy, DeadlinePolicyBuilder, OnMalformed};
pub use future::ResponseFuture;
pub use layer::{ServerDeadlineLayer, TimeoutLayer};
pub use propagate::{Local, Propagate};
pub use retry::{Backoff, DeadlineRetry, DeadlineRetryBuilder};
pub use scope::{carry, current_with_kind, scope_with_kind, Scoped};
pub use service::{ServerDeadline, Timeout};
#[cfg(loom)]
#[doc(hidden)]
pub use stats::Counters;
pub use stats::{DeadlineSnapshot, Fired, TimeoutSnapshot};
pub use timeout_policy::{TimeoutPolicy, TimeoutPolicyBuilder};

use tollgate_core::{DeadlineKind, Reason, Rejection};

/// The rejection for a deadline of `kind` that fired.
fn exceeded(kind: DeadlineKind) -> Rejection {
    Rejection::new(Reason::DeadlineExceeded(kind))
}
