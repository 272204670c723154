//! Deadlines on HTTP and gRPC: the wire formats of a budget (`grpc-timeout`,
//! `Request-Timeout`) and [`TimeoutHeaders`], which plugs them into
//! `tollgate_deadline`'s layers.
//!
//! The layers, their policies and their one response future are in
//! `tollgate_deadline`: [`ServerDeadlineLayer`](tollgate_deadline::ServerDeadlineLayer)
//! reads the caller's budget, caps it at a maximum, subtracts a safety margin, applies
//! a default when none is sent, refuses budgets that are spent, below a minimum or
//! malformed before the handler runs, and cuts the handler off at the deadline;
//! [`TimeoutLayer`](tollgate_deadline::TimeoutLayer) sends the remaining budget (the
//! inherited deadline or its own timeout, whichever is earlier) minus a network
//! margin, and fails fast without sending when too little is left. With
//! [`AsResponse`](crate::AsResponse) their refusals are `504 Gateway Timeout` /
//! `DEADLINE_EXCEEDED` and `400 Bad Request` / `INVALID_ARGUMENT`; with `AsStatus`
//! (feature `tonic`) a tonic client sees `DEADLINE_EXCEEDED`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer, TimeoutLayer, TimeoutPolicy};
//! use tollgate_http::{deadline::TimeoutHeaders, AsResponse};
//! use tower::{service_fn, BoxError, Layer, ServiceExt};
//!
//! // Hop B: echoes the budget it was sent.
//! let b = service_fn(|req: http::Request<()>| async move {
//!     let seen = req.headers().get("request-timeout").cloned();
//!     Ok::<_, BoxError>(http::Response::new(format!("{seen:?}")))
//! });
//! let policy = TimeoutPolicy::builder().margin(Duration::from_millis(10)).build().unwrap();
//! let client = TimeoutLayer::new(policy).propagate(TimeoutHeaders::new()).layer(b);
//!
//! // Hop A: its caller sent 500 ms; A keeps a 20 ms margin and calls B at once.
//! let policy = DeadlinePolicy::builder().margin(Duration::from_millis(20)).build().unwrap();
//! let a = ServerDeadlineLayer::new(policy)
//!     .propagate(TimeoutHeaders::new())
//!     .refuse_with(AsResponse::new())
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

mod headers;
pub mod wire;

pub use headers::TimeoutHeaders;
pub use wire::{
    format_grpc_timeout, format_http_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit,
    TimeoutText, WireError,
};

/// The HTTP header [`TimeoutHeaders`] uses by default: `request-timeout`, in
/// milliseconds.
pub const DEFAULT_HEADER: &str = "request-timeout";
