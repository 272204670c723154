//! Deadlines on HTTP and gRPC: the server layer that reads and enforces the caller's
//! budget, and the client layer that sends what is left.
//!
//! - [`ServerDeadlineLayer`] reads `grpc-timeout` and a configurable HTTP header
//!   (`request-timeout` in milliseconds by default), caps the budget at a server
//!   maximum, subtracts a safety margin, applies a default when none is sent, refuses
//!   budgets that are spent or below a minimum before the handler runs, and answers
//!   `504 Gateway Timeout` / `DEADLINE_EXCEEDED` when the handler outlives the
//!   deadline. The handler runs inside the deadline's task-local scope
//!   ([`tollgate_deadline::Deadline::current`]) and finds the
//!   [`Deadline`](tollgate_deadline::Deadline) in the request extensions.
//! - [`ClientDeadlineLayer`] computes, for each outgoing request, the remaining budget
//!   (the inherited deadline or its own total timeout, whichever is earlier), writes it
//!   minus a network margin as `grpc-timeout` (gRPC requests) or the HTTP header, and
//!   fails fast without sending when too little is left.
//!
//! Both layers count what they did ([`ServerSnapshot`], [`ClientSnapshot`]: one
//! relaxed counter per event, shared by every clone) and emit `tracing` events at
//! target `tollgate::deadline`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_http::deadline::{ClientDeadlineLayer, ServerDeadlineLayer};
//! use tower::{service_fn, BoxError, Layer, ServiceExt};
//!
//! // Hop B: echoes the budget it was sent.
//! let b = service_fn(|req: http::Request<()>| async move {
//!     let seen = req.headers().get("request-timeout").cloned();
//!     Ok::<_, BoxError>(http::Response::new(format!("{seen:?}")))
//! });
//! let client = ClientDeadlineLayer::builder()
//!     .margin(Duration::from_millis(10))
//!     .build()
//!     .unwrap()
//!     .layer(b);
//!
//! // Hop A: its caller sent 500 ms; A keeps a 20 ms margin and calls B at once.
//! let a = ServerDeadlineLayer::builder()
//!     .margin(Duration::from_millis(20))
//!     .build()
//!     .unwrap()
//!     .layer(service_fn(move |_req: http::Request<()>| {
//!         let client = client.clone();
//!         async move {
//!             let res = client.oneshot(http::Request::new(())).await.unwrap();
//!             Ok::<_, std::convert::Infallible>(res)
//!         }
//!     }));
//! let req = http::Request::builder().header("request-timeout", "500").body(()).unwrap();
//! let res = a.oneshot(req).await.unwrap();
//! assert_eq!(res.body(), "Some(\"470\")"); // 500 - 20 (A's margin) - 10 (network)
//! # }
//! ```

mod client;
mod future;
mod server;
mod stats;

pub use client::{ClientDeadline, ClientDeadlineLayer, ClientDeadlineLayerBuilder};
pub use future::{ClientFuture, ServerFuture};
pub use server::{OnMalformed, ServerDeadline, ServerDeadlineLayer, ServerDeadlineLayerBuilder};
pub use stats::{ClientSnapshot, ServerSnapshot};

/// The HTTP header both layers use by default: `request-timeout`, in milliseconds.
pub const DEFAULT_HEADER: &str = "request-timeout";

/// `grpc-timeout`, named once: a lookup by `HeaderName` skips parsing the name.
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
