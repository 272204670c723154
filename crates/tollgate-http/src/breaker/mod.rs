//! What a circuit breaker needs to know of HTTP and gRPC: which responses are failures.
//!
//! The breaker itself is `tollgate_breaker::BreakerLayer`, the same on every stack;
//! this module gives it classifiers, and the crate root gives it refusals:
//!
//! - [`HttpClassifier`] classifies by status (5xx failures, 504 a timeout, 429
//!   configurable); the response passes unchanged.
//! - [`GrpcClassifier`] classifies by `grpc-status`, in the headers of a trailers-only
//!   response or in the trailers at the end of a stream: then the response's body
//!   becomes a [`WatchedBody`](crate::body::WatchedBody) whose [`GrpcVerdict`] holds the
//!   call's permit and records the outcome when the stream ends.
//! - Refusals: by default an `Err(BoxError)` holding the
//!   [`Rejection`](tollgate_core::Rejection) (clients); with
//!   [`AsResponse`](crate::AsResponse), `503 Service Unavailable` with `Retry-After`
//!   (gRPC: a trailers-only `UNAVAILABLE` with `grpc-retry-pushback-ms`) and the error
//!   type kept (`Infallible` on axum and tonic servers); with `AsStatus` (feature
//!   `tonic`), a `tonic::Status` that a tonic client reports as `UNAVAILABLE` with the
//!   pushback.
//!
//! Errors from the inner service are failures, and timeouts (tower's or tokio's
//! `Elapsed`, a tollgate deadline rejection) count as failures and slow calls. A call
//! whose future or body is dropped before the end counts as neither.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use tollgate_breaker::{Breaker, BreakerLayer, State};
//! use tollgate_http::breaker::HttpClassifier;
//! use tollgate_http::AsResponse;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let breaker = Breaker::builder().name("catalog").no_failure_rate().consecutive_failures(1).build()?;
//! let upstream = service_fn(|_: Request<String>| async {
//!     Ok::<_, std::io::Error>(Response::builder().status(502).body(String::new()).unwrap())
//! });
//!
//! // Client side: the 502 opens the breaker; the next call is refused with the rejection.
//! let layer = BreakerLayer::new(breaker.clone()).classifier(HttpClassifier::new());
//! let client = ServiceBuilder::new().layer(layer).service(upstream);
//! let response = client.clone().oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
//! assert_eq!(breaker.state(), State::Open);
//! let err = client.oneshot(Request::new(String::new())).await.unwrap_err();
//! assert!(err.downcast_ref::<tollgate_core::Rejection>().is_some());
//!
//! // Server side: the same open breaker answers 503 with Retry-After.
//! let handler = service_fn(|_: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
//! });
//! let layer = BreakerLayer::new(breaker)
//!     .classifier(HttpClassifier::new())
//!     .refuse_with(AsResponse::new());
//! let server = ServiceBuilder::new().layer(layer).service(handler);
//! let response = server.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()["retry-after"], "5");
//! # Ok(())
//! # }
//! ```

mod classify;
mod watch;

pub use classify::{GrpcClassifier, HttpClassifier};
pub use watch::GrpcVerdict;
