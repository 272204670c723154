//! The HTTP and gRPC face of the leaky-bucket shaper (`tollgate-leaky`).
//!
//! - [`HttpFeedback`] reads server pushback from responses, for
//!   `tollgate_leaky::ShapeLayer::feedback`: `429`/`503` with `Retry-After` (seconds or
//!   an HTTP-date), the IETF `RateLimit` headers saying the remaining quota is 0, and
//!   gRPC `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` (in the headers of a
//!   trailers-only response, or in trailers through [`observe_trailers`]).
//!   Malformed values are ignored, never a panic.
//! - [`ServerShapeLayer`] smooths load on a server (axum router, tonic service) instead
//!   of rejecting it: requests wait their turn, and refused ones are answered with
//!   `429` + `Retry-After` (or a gRPC status) by a [`RejectionResponder`](crate::RejectionResponder).
//!   Its error type is `Infallible`, as axum requires.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_core::TokioClock;
//! use tollgate_http::shape::HttpFeedback;
//! use tollgate_leaky::{ShapeLayer, Shaper};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! let shaper = Shaper::builder().per_second(10).build_with_clock(TokioClock::new()).unwrap();
//! // A remote that answers "429, come back in 2 seconds".
//! let remote = service_fn(|_: ()| async {
//!     let response = http::Response::builder().status(429).header("retry-after", "2").body(())?;
//!     Ok::<_, http::Error>(response)
//! });
//! let client = ShapeLayer::new(shaper.clone()).feedback(HttpFeedback).layer(remote);
//! assert_eq!(client.oneshot(()).await.unwrap().status(), 429);
//! assert_eq!(shaper.snapshot().paused_for, Duration::from_secs(2));
//! # }
//! ```

mod feedback;
mod server;
mod trailers;

pub use feedback::{signal_from_headers, signal_from_trailers, HttpFeedback};
pub use server::{ServerShape, ServerShapeFuture, ServerShapeLayer};
pub use trailers::{observe_trailers, TrailerFeedback};
