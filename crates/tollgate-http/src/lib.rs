// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! The HTTP and gRPC faces of tollgate.
//!
//! The algorithm crates know nothing of HTTP: they refuse requests with a
//! [`Rejection`](tollgate_core::Rejection). This crate turns rejections into the
//! responses clients understand, with one mapping shared by every layer:
//!
//! | reason | HTTP | gRPC |
//! |---|---|---|
//! | rate limited, wait too long, queue full, throttled, key table full, over capacity | `429 Too Many Requests` | `RESOURCE_EXHAUSTED` |
//! | missing key, malformed header | `400 Bad Request` | `INVALID_ARGUMENT` |
//! | circuit open, draining, rate-limit store unavailable | `503 Service Unavailable` | `UNAVAILABLE` |
//! | deadline exceeded | `504 Gateway Timeout` | `DEADLINE_EXCEEDED` |
//!
//! A rejection with a retry time carries `Retry-After` (whole seconds, rounded up, never
//! `0` when a wait is needed) on HTTP and `grpc-retry-pushback-ms` on gRPC.
//!
//! Every tollgate layer is generic over what a refusal becomes (`tollgate_core::Refuse`).
//! Plug [`AsResponse`] into a layer to answer refusals as responses (the layer keeps
//! its inner service's error type: `Infallible` on axum), or `AsStatus` (feature
//! `tonic`) around a tonic client so refusals surface as the call's `tonic::Status`.
//!
//! Features: `bucket`, `leaky`, `breaker`, `deadline`, `drain` (one per algorithm: its
//! module here), `axum` (axum's `ConnectInfo` and `MatchedPath` keys, serving helpers),
//! `tonic` (`tonic::Status` refusals), `tonic-health` (the health service follows a
//! drain, and `drain::serve_grpc`). With `drain`, the listener that stops accepting at
//! closing and the hyper-util connection loop; with `drain` and `axum`, axum's
//! `Listener` and the one-call `drain::serve`. //! `dashboard` (a live page of the layers' snapshots and `/metrics`: the `dashboard`
//! module). The defaults are the five algorithms. Every metric and tracing event is
//! listed in [`observability`].
//!
//! ```
//! use std::time::Duration;
//! use http::StatusCode;
//! use tollgate_core::{Reason, Rejection};
//! use tollgate_http::{DefaultResponder, Protocol, RejectionResponder};
//!
//! let rejection = Rejection::new(Reason::RateLimited).with_retry_after(Duration::from_millis(1200));
//! let response: http::Response<String> = DefaultResponder.respond(&rejection, Protocol::Http);
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(response.headers()["retry-after"], "2");
//!
//! let grpc: http::Response<String> = DefaultResponder.respond(&rejection, Protocol::Grpc);
//! assert_eq!(grpc.status(), StatusCode::OK);
//! assert_eq!(grpc.headers()["grpc-status"], "8");
//! assert_eq!(grpc.headers()["grpc-retry-pushback-ms"], "1200");
//! ```

pub mod body;
#[cfg(feature = "breaker")]
pub mod breaker;
#[cfg(feature = "dashboard")]
pub mod dashboard;
#[cfg(feature = "deadline")]
pub mod deadline;
#[cfg(feature = "drain")]
pub mod drain;
pub mod grpc;
#[cfg(any(feature = "bucket", feature = "deadline"))]
mod header_value;
#[doc = include_str!("../docs/observability.md")]
pub mod observability {}
#[cfg(feature = "bucket")]
pub mod rate_limit;
mod rejection;
#[cfg(feature = "leaky")]
pub mod shape;

pub use rejection::{
    grpc_code, retry_after_seconds, status_code, AsResponse, DefaultResponder, Protocol,
    RejectionResponder, ResponseRefusal,
};
#[cfg(feature = "tonic")]
pub use rejection::{to_status, AsStatus};
