// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! A leaky-bucket shaper for tower: requests wait in a bounded FIFO and are released at
//! a constant rate, so a client never bursts past a third-party quota (and slows down
//! further when the server says so), and a server smooths its load instead of
//! refusing it.
//!
//! - **Constant rate, strict FIFO.** One unit every emission interval of a
//!   [`Quota`](tollgate_core::Quota), with its burst; a later request is never released
//!   before an earlier one still waiting. Requests may weigh several units
//!   ([`Shaper::admit_at`], [`ShapeLayer::weigh`]).
//! - **Bounded, decided at admission.** A queue-length bound and a maximum wait: the
//!   release time of a request is known when it arrives, so one that would wait too
//!   long, or finds the queue full, is refused at once with the time after which it
//!   would fit ([`Reason::WaitTooLong`](tollgate_core::Reason::WaitTooLong),
//!   [`Reason::QueueFull`](tollgate_core::Reason::QueueFull)).
//! - **Cancellation-safe.** A waiter that is dropped leaves the queue and its successor
//!   inherits its turn: no capacity is lost, nobody is woken twice or never.
//! - **Listens to the server.** [`Shaper::pause_for`] stops releases for as long as the
//!   server said (`Retry-After`, `RateLimit`, `grpc-retry-pushback-ms`: parsed by
//!   `tollgate_http::shape::HttpFeedback` for [`ShapeLayer::feedback`]); optional
//!   client-side adaptive throttling sheds calls locally while the server refuses many
//!   of them ([`ShaperBuilder::adaptive`]).
//! - **One layer, client or server.** [`ShapeLayer`] refuses with an error by default;
//!   [`ShapeLayer::refuse_with`] plugs in `tollgate_http::AsResponse` (a `429` or a gRPC
//!   `RESOURCE_EXHAUSTED`, `Infallible` on axum) or `tollgate_http::AsStatus` (a
//!   `tonic::Status` for tonic clients).
//! - **Observable.** [`Shaper::snapshot`] (also on the layer and the service) and
//!   tracing events at target `tollgate::leaky`.
//!
//! The core ([`Shaper`], [`Waiter`]) is synchronous and takes time from a
//! [`Clock`](tollgate_core::Clock); [`Shaper::acquire`] and [`ShapeLayer`] wait on a
//! tokio timer armed from that clock's timestamps (`tollgate_core::timer`), so tests on
//! a `TokioClock` under `tokio::time::pause` are exact.
//!
//! # Timer resolution and bursts
//!
//! tokio's timer fires on millisecond ticks, so a release is late by up to a millisecond.
//! With a burst of 1 that lateness is never made up (doing so would release two
//! requests closer than the interval), so at high rates the achieved rate is a little
//! below the configured one. A burst of 2 absorbs it.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tollgate_core::ConfigError> {
//! use std::time::Duration;
//! use tollgate_core::{Quota, Rejection, Reason, TokioClock};
//! use tollgate_leaky::{ShapeLayer, Shaper};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! // A third-party API allows 10 calls per second: never wait more than 250 ms.
//! let shaper = Shaper::builder(Quota::per_second(10).burst(1)?)
//!     .max_wait(Duration::from_millis(250))
//!     .clock(TokioClock::new())
//!     .build()?;
//! let mut api = ShapeLayer::new(shaper.clone())
//!     .layer(service_fn(|_: ()| async { Ok::<_, std::convert::Infallible>("ok") }));
//!
//! // Four calls at once: admission is decided in `call`.
//! let mut calls = Vec::new();
//! for _ in 0..4 {
//!     calls.push(api.ready().await.unwrap().call(()));
//! }
//! let mut results = Vec::new();
//! for call in calls {
//!     results.push(call.await);
//! }
//! // Released at 0, 100 and 200 ms; the fourth would wait 300 ms and is refused at once.
//! assert!(results[..3].iter().all(|r| r.is_ok()));
//! let refused = results[3].as_ref().unwrap_err().downcast_ref::<Rejection>().unwrap();
//! assert_eq!(refused.reason(), Reason::WaitTooLong);
//! assert_eq!(refused.retry_after(), Some(Duration::from_millis(50)));
//! assert_eq!(api.snapshot().admitted, 3);
//! assert_eq!(shaper.snapshot().rejected, 1);
//! # Ok(()) }
//! ```

mod acquire;
mod adaptive;
mod builder;
mod feedback;
mod future;
mod layer;
mod metrics;
mod service;
mod shaper;
mod snapshot;
mod waiter;
mod weigh;

pub use acquire::Acquire;
pub use builder::ShaperBuilder;
pub use feedback::{DeferredVerdict, Feedback, NoFeedback, Signal, Verdict};
pub use future::ResponseFuture;
pub use layer::ShapeLayer;
pub use service::Shape;
pub use shaper::{Admit, Shaper};
pub use snapshot::Snapshot;
pub use waiter::{Turn, Waiter};
pub use weigh::{Unit, Weigh};
