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
//!   closed after it and the client reconnects through the load balancer. At the
//!   deadline, bodies still streaming end cleanly (gRPC streams with
//!   `grpc-status: 14`).
//!
//! Besides the layer:
//! - [`Readiness`] is the readiness probe: `200` while serving, `503` from the moment
//!   the drain is announced, so the load balancer stops sending during the
//!   propagation delay.
//! - `health_follows` (feature `tonic-health`) turns the gRPC health service to
//!   `NOT_SERVING` when the drain is announced.
//! - [`DrainListener`] stops accepting when the drain is closing, so that a client's
//!   connect is refused at the TCP level instead of handed a connection to be refused
//!   on, and without resetting a connection the kernel had already completed (whose
//!   client has usually sent its request).
//! - [`serve_connections`] serves hyper-util connections from a [`DrainListener`]:
//!   GOAWAY to every HTTP/2 connection the moment the drain is closing, HTTP/1
//!   connections closed after a response, never under a request.
//!
//! # The whole drain in one call
//!
//! [`serve`] (feature `axum`) and `serve_grpc` (feature `tonic-health`) wire the
//! trigger (SIGTERM and Ctrl-C, installed by the call itself), the layer, the
//! readiness probe outside it, the listener and the graceful shutdown, in the only
//! order that loses nothing, and return the drain's report:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tollgate_drain::Drain;
//!
//! let drain = Drain::builder()
//!     .propagation_delay(Duration::from_secs(5))
//!     .deadline(Duration::from_secs(30))
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = tollgate_http::drain::serve(listener, app, drain.clone()); // `/ready` too
//! # drain.start(); // in production: SIGTERM
//! let report = server.await?;
//! assert!(report.is_clean());
//! # Ok(()) }
//! ```
//!
//! # By hand
//!
//! With axum, see [`Serve`]; with tonic, [`DrainListener`] is the incoming stream
//! (`serve_with_incoming_shutdown(listener, drain.done())`); with hyper-util:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::convert::Infallible;
//! use tollgate_drain::{Drain, DrainLayer};
//! use tollgate_http::drain::{connection_builder, serve_connections, DrainListener, UntilBodyEnd};
//! use tollgate_http::AsResponse;
//! use tower::{service_fn, Layer};
//!
//! let drain = Drain::builder().build()?;
//! let sigterm = tollgate_drain::terminate(); // installed before the first request
//! let service = DrainLayer::new(drain.clone())
//!     .refuse_with(AsResponse::new())
//!     .track_with(UntilBodyEnd)
//!     .layer(service_fn(|_: http::Request<hyper::body::Incoming>| async {
//!         Ok::<_, Infallible>(http::Response::new(String::from("hello")))
//!     }));
//! let listener = DrainListener::bind("127.0.0.1:0", drain.clone()).await?;
//! let driver = tokio::spawn(drain.clone().run_until(sigterm));
//! # drain.start();
//! serve_connections(listener, connection_builder(), service).await?;
//! assert!(driver.await?.is_clean());
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
