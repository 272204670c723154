//! The HTTP and gRPC face of `tollgate-drain`: graceful draining for axum, hyper and
//! tonic servers (and tonic clients).
//!
//! The layer is `tollgate_drain`'s one [`DrainLayer`](tollgate_drain::DrainLayer),
//! with two pieces of protocol knowledge plugged in:
//! - [`AsResponse`](crate::AsResponse) as its refusal: once the drain is closing, a new
//!   request gets `503 Service Unavailable` (gRPC: `UNAVAILABLE`) and the layer keeps
//!   the inner service's error type (`Infallible` on axum and tonic servers). Around a
//!   tonic client, `AsStatus` (feature `tonic`) makes refusals the call's
//!   `UNAVAILABLE` status instead.
//! - [`UntilBodyEnd`] as its tracking: each request counts in flight until its
//!   response body has been sent; from the moment the drain is announced every HTTP/1
//!   response carries `Connection: close` (refusals included), so the connection is
//!   closed after it and the client reconnects through the load balancer. HTTP/2
//!   connections get a GOAWAY from hyper's graceful shutdown when
//!   [`Drain::done`](tollgate_drain::Drain::done) is passed to the server. At the
//!   deadline, bodies still streaming end cleanly (gRPC streams with
//!   `grpc-status: 14`).
//!
//! Besides the layer:
//! - [`Readiness`] is the readiness probe: `200` while serving, `503` from the moment
//!   the drain is announced, so the load balancer stops sending during the
//!   propagation delay.
//! - `health_follows` (feature `tonic-health`) turns the gRPC health service to
//!   `NOT_SERVING` when the drain is announced.
//!
//! # axum
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tollgate_drain::{Drain, DrainLayer};
//! use tollgate_http::drain::{Readiness, UntilBodyEnd};
//! use tollgate_http::AsResponse;
//!
//! let drain = Drain::builder()
//!     .propagation_delay(Duration::from_secs(5))
//!     .deadline(Duration::from_secs(30))
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(
//!         DrainLayer::new(drain.clone())
//!             .refuse_with(AsResponse::new()) // 503 once closing
//!             .track_with(UntilBodyEnd),      // counted until the body is sent
//!     )
//!     .route_service("/ready", Readiness::new(drain.clone()));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = tokio::spawn(
//!     std::future::IntoFuture::into_future(axum::serve(listener, app).with_graceful_shutdown(drain.done())),
//! );
//! // In production: `drain.clone().run_until(tollgate_drain::terminate())`.
//! drain.start();
//! let report = drain.clone().run().await;
//! server.await??;
//! assert!(report.is_clean());
//! # Ok(()) }
//! ```

#[cfg(feature = "axum")]
mod axum_serve;
mod conn;
#[cfg(feature = "tonic-health")]
mod grpc_serve;
#[cfg(feature = "tonic-health")]
mod health;
mod listener;
mod readiness;
#[cfg(feature = "tonic")]
mod refuse;
mod serve;
#[cfg(test)]
mod tests;
#[cfg(feature = "tonic")]
mod tonic;
mod track;

#[cfg(feature = "axum")]
pub use axum_serve::{serve, Serve};
pub use conn::DrainIo;
#[cfg(feature = "tonic-health")]
pub use grpc_serve::{serve_grpc, ServeGrpc};
#[cfg(feature = "tonic-health")]
pub use health::health_follows;
pub use listener::DrainListener;
pub use readiness::Readiness;
pub use serve::{connection_builder, serve_connections};
pub use track::{BodyTracking, DrainWatch, UntilBodyEnd};
