//! Circuit breakers for HTTP and gRPC, over `tollgate-breaker`.
//!
//! - [`BreakerLayer`] wraps a client (hyper, tonic's `Channel`, anything serving
//!   `http::Request`): responses are classified by status with [`HttpClassifier`]
//!   (5xx failures, 429 configurable) or by `grpc-status` with [`GrpcClassifier`],
//!   also when the status comes in the trailers of a streaming response: the body is
//!   wrapped ([`ClassifiedBody`]) and records the outcome when the stream ends. An open
//!   breaker fails the call at once with the typed
//!   [`Rejection`](tollgate_core::Rejection) inside the `BoxError` (or a
//!   `tonic::Status` with feature `tonic`).
//! - [`ServerBreakerLayer`] wraps a server's handlers: an open breaker answers
//!   `503 Service Unavailable` with `Retry-After` (gRPC: `UNAVAILABLE` with
//!   `grpc-retry-pushback-ms`), and the error type stays `Infallible`, as axum wants.
//!
//! Errors from the inner service are failures, and timeouts (tower's or tokio's
//! `Elapsed`, a tollgate deadline rejection) count as failures and slow calls. A call
//! whose future or body is dropped before the end counts as neither.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use tollgate_breaker::{Breaker, BreakerConfig, State};
//! use tollgate_http::breaker::{BreakerLayer, ServerBreakerLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let config = BreakerConfig::builder().name("catalog").no_failure_rate().consecutive_failures(1).build()?;
//! let breaker = Breaker::new(config);
//! let upstream = service_fn(|_: Request<String>| async {
//!     Ok::<_, std::io::Error>(Response::builder().status(502).body(String::new()).unwrap())
//! });
//!
//! // Client side: the 502 opens the breaker; the next call is refused with the rejection.
//! let client = ServiceBuilder::new().layer(BreakerLayer::new(breaker.clone())).service(upstream);
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
//! let server = ServiceBuilder::new().layer(ServerBreakerLayer::new(breaker)).service(handler);
//! let response = server.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()["retry-after"], "5");
//! # Ok(())
//! # }
//! ```

mod body;
mod classify;
mod future;
mod service;

pub use body::ClassifiedBody;
pub use classify::{GrpcClassifier, HttpClassifier, ResponseClassifier};
pub use future::ResponseFuture;
pub use service::{
    BoxError, BreakerLayer, BreakerService, ServerBreakerLayer, ServerBreakerService,
};
