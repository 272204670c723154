//! One deadline through the stack and over the wire, and a checker that finds
//! misaligned timeouts before production does.
//!
//! - [`Deadline`] is a monotonic instant. While a request is served it lives in a
//!   task-local scope ([`Deadline::scope`]), so calls made by the handler inherit it
//!   without plumbing; [`carry`] takes it into spawned tasks.
//! - [`parse_grpc_timeout`], [`format_grpc_timeout`], [`parse_http_timeout`] and
//!   [`format_http_timeout`] read and write budgets on the wire (see [`wire`]).
//! - [`TimeoutLayer`] enforces a total or per-try timeout, bounded by the inherited
//!   deadline; [`DeadlineRetry`] is a `tower::retry` policy that never starts a try the
//!   remaining budget cannot cover.
//! - [`checker`] finds misaligned timeouts along a chain of hops, from code or from a
//!   TOML timeout plan.
//!
//! The HTTP and gRPC server and client layers are in `tollgate_http::deadline`.
//!
//! Errors are [`tollgate_core::Rejection`]s with
//! [`Reason::DeadlineExceeded`](tollgate_core::Reason::DeadlineExceeded) naming which
//! deadline fired ([`DeadlineKind`](tollgate_core::DeadlineKind)).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use tollgate_deadline::{format_grpc_timeout, Deadline};
//!
//! // A server read "1S" from `grpc-timeout` and scoped the handler in it.
//! let deadline = Deadline::from_now(Duration::from_secs(1));
//! deadline.scope(async {
//!     tokio::time::sleep(Duration::from_millis(300)).await;
//!     // A call made now sends what is left, minus 20 ms for the network.
//!     let left = Deadline::current().unwrap().budget(Instant::now(), Duration::from_millis(20));
//!     assert_eq!(format_grpc_timeout(left).unwrap().as_str(), "680000u");
//! }).await;
//! # }
//! ```

pub mod checker;
mod deadline;
mod retry;
mod timeout;
pub mod wire;

pub use deadline::{carry, current_with_kind, scope_with_kind, scoped_call, Deadline, Scoped};
pub use retry::{Backoff, DeadlineRetry, DeadlineRetryBuilder};
pub use timeout::{exceeded, ResponseFuture, Timeout, TimeoutLayer};
pub use wire::{
    format_grpc_timeout, format_http_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit,
    TimeoutText, WireError,
};
