//! The HTTP and gRPC face of the leaky-bucket shaper (`tollgate-leaky`): reading what
//! a server says about its capacity.
//!
//! - [`HttpFeedback`] reads server pushback from responses, for
//!   `tollgate_leaky::ShapeLayer::feedback`: `429`/`503` with `Retry-After` (seconds or
//!   an HTTP-date), the IETF `RateLimit` headers saying the remaining quota is 0, and
//!   gRPC `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` (in the headers of a
//!   trailers-only response, or in the trailers of a normal one, read as the body
//!   ends by a [`TrailerFeedback`] on the shared
//!   [`WatchedBody`](crate::body::WatchedBody)). A gRPC call whose trailers say `OK`
//!   counts as accepted, so adaptive throttling sheds nothing while the server
//!   accepts. Malformed values are ignored, never a panic.
//! - A server shaper is the same `ShapeLayer` refusing with [`AsResponse`](crate::AsResponse):
//!   requests wait their turn, and refused ones are answered `429` + `Retry-After` (or a
//!   gRPC `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms`), with the inner service's
//!   error type (`Infallible` on axum). Around a tonic `Channel`, `AsStatus` (feature
//!   `tonic`) makes a refusal the call's `tonic::Status`.
//!
//! A client listening to the server:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tollgate_core::ConfigError> {
//! use std::time::Duration;
//! use tollgate_core::{Quota, TokioClock};
//! use tollgate_http::shape::HttpFeedback;
//! use tollgate_leaky::{ShapeLayer, Shaper};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(TokioClock::new()).build()?;
//! // A remote that answers "429, come back in 2 seconds".
//! let remote = service_fn(|_: ()| async {
//!     let response = http::Response::builder().status(429).header("retry-after", "2").body(())?;
//!     Ok::<_, http::Error>(response)
//! });
//! let layer = ShapeLayer::new(shaper).feedback(HttpFeedback);
//! assert_eq!(layer.layer(remote).oneshot(()).await.unwrap().status(), 429);
//! assert_eq!(layer.snapshot().paused_for, Duration::from_secs(2));
//! # Ok(()) }
//! ```
//!
//! A server smoothing its load:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tollgate_core::ConfigError> {
//! use tollgate_core::{Quota, TokioClock};
//! use tollgate_http::AsResponse;
//! use tollgate_leaky::{ShapeLayer, Shaper};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! let shaper = Shaper::builder(Quota::per_second(10).burst(1)?)
//!     .max_queue(1)
//!     .clock(TokioClock::new())
//!     .build()?;
//! let handler = service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let mut server = ShapeLayer::new(shaper).refuse_with(AsResponse::new()).layer(handler);
//!
//! let first = server.ready().await.unwrap().call(http::Request::new(()));
//! let second = server.ready().await.unwrap().call(http::Request::new(()));
//! let third = server.ready().await.unwrap().call(http::Request::new(()));
//! let refused = third.await.unwrap(); // Infallible: the refusal is a response
//! assert_eq!(refused.status(), 429);
//! assert_eq!(refused.headers()["retry-after"], "1");
//! assert_eq!(first.await.unwrap().status(), 200);
//! assert_eq!(second.await.unwrap().status(), 200);
//! # Ok(()) }
//! ```

mod feedback;
#[cfg(test)]
mod tests;
mod trailers;

pub use feedback::{signal_from_headers, signal_from_trailers, HttpFeedback};
pub use trailers::TrailerFeedback;
