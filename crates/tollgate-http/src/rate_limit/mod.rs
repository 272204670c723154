//! The HTTP face of the token bucket: key extractors, and the IETF rate-limit headers.
//!
//! The layer is `tollgate_bucket::RateLimitLayer`; this module adds only what HTTP knows:
//!
//! - Key extractors pick a request's bucket, as `tollgate_core::KeyFn`s for
//!   `RateLimitLayer::keyed`: [`PeerIp`] (the connection's peer), [`HeaderKey`] (an API
//!   key), [`PathKey`] (the route or path), [`ForwardedIp`] (the client reported by
//!   trusted reverse proxies only), or any closure `Fn(&http::Request<B>) -> Option<K>`.
//!   A request without a key is refused with `400 Bad Request` (`Reason::MissingKey`)
//!   unless `RateLimitLayer::on_missing_key` charges it to a shared bucket.
//! - Refusals: plug [`AsResponse`](crate::AsResponse) into the layer
//!   (`.refuse_with(AsResponse::new())`) and refused requests are answered `429 Too Many
//!   Requests` with `Retry-After`, `RateLimit-Policy` and `RateLimit` (gRPC requests get
//!   `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms`), while the layer keeps its inner
//!   service's error type: `Infallible` on an axum router, no `HandleErrorLayer`.
//!   [`DefaultResponder`](crate::DefaultResponder) writes the `RateLimit` headers for
//!   every refusal that carries a `Policy` (see [`insert_rejected`]), named by the
//!   limiter's name (`name` on its builder), `"default"` when it has none.
//! - [`AdmittedHeaders`] wraps a refusal type to write the same headers on admitted
//!   responses too.
//!
//! The headers follow draft-ietf-httpapi-ratelimit-headers-11, in their structured-field
//! form:
//!
//! ```text
//! RateLimit-Policy: "default";q=100;w=60
//! RateLimit: "default";r=0;t=3
//! ```
//!
//! - `RateLimit-Policy` names the policy and gives its quota `q` (requests) per window
//!   `w` (seconds). The token bucket's rate is stated exactly when its period is whole
//!   seconds; otherwise it is restated over the period rounded up to whole seconds,
//!   with the quota rounded down, so the header never promises more than is granted
//!   (5 per 100 ms is `q=50;w=1`). The burst is not part of the draft's vocabulary.
//! - `RateLimit` gives the requests `r` admissible right now and `t`, the seconds until
//!   the bucket is full again (on an admitted response) or until a retry can succeed
//!   (on a rejection, where `r=0` and `t` equals `Retry-After`). Seconds round up.
//!   Values above the structured-field maximum are clamped to it.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer};
//! use tollgate_http::rate_limit::{AdmittedHeaders, PeerIp};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // 50 requests per second per client address, bursts of 10, at most 100k clients.
//! let limiter = KeyedRateLimiter::builder(Quota::per_second(50).burst(10)?)
//!     .name("per-ip")
//!     .max_keys(100_000)
//!     .build()?;
//! let app = Router::new()
//!     .route("/api", get(|| async { "ok" }))
//!     .layer(
//!         RateLimitLayer::keyed(limiter, PeerIp::new())
//!             .refuse_with(AdmittedHeaders::new()) // 429s, and headers on every response
//!             .max_wait(Duration::from_millis(200)), // smooth short bursts instead of 429
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // `PeerIp` reads the peer address that `ConnectInfo` records (feature `axum`).
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Refused on a plain tower stack, answered as a response:
//!
//! ```
//! use std::convert::Infallible;
//! use tollgate_bucket::{Quota, RateLimitLayer, RateLimiter};
//! use tollgate_http::AsResponse;
//! use tower::{Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limiter = RateLimiter::new(Quota::per_hour(1).build()?);
//! let handler = tower::service_fn(|_: http::Request<()>| async {
//!     Ok::<_, Infallible>(http::Response::new(String::from("hello")))
//! });
//! let mut svc = RateLimitLayer::new(limiter).refuse_with(AsResponse::new()).layer(handler);
//! let first = svc.ready().await?.call(http::Request::new(())).await?;
//! assert_eq!(first.status(), 200);
//! let second = svc.ready().await?.call(http::Request::new(())).await?;
//! assert_eq!(second.status(), 429);
//! assert_eq!(second.headers()["retry-after"], "3600");
//! assert_eq!(second.headers()["ratelimit-policy"], "\"default\";q=1;w=3600");
//! assert_eq!(second.headers()["ratelimit"], "\"default\";r=0;t=3600");
//! # Ok(())
//! # }
//! ```
//!
//! Extractors on their own:
//!
//! ```
//! use std::net::SocketAddr;
//! use tollgate_core::KeyFn;
//! use tollgate_http::rate_limit::{ClientAddr, HeaderKey, PeerIp};
//!
//! let mut req = http::Request::get("/").header("x-api-key", "k1").body(()).unwrap();
//! req.extensions_mut().insert(ClientAddr("192.0.2.1:5000".parse::<SocketAddr>().unwrap()));
//! assert_eq!(HeaderKey::new("x-api-key")?.key(&req).unwrap(), "k1");
//! assert_eq!(PeerIp::new().key(&req), Some("192.0.2.1".parse().unwrap()));
//! # Ok::<(), tollgate_core::ConfigError>(())
//! ```

mod admitted;
mod forwarded;
mod header_key;
mod headers;
mod ip;
mod path_key;
mod peer;

pub use admitted::{AdmittedHeaders, HeaderNote};
pub use forwarded::{ForwardedHeader, ForwardedIp};
pub use header_key::{HeaderKey, HeaderValueKey};
pub use headers::{
    insert_admitted, insert_rejected, limit_value, policy_value, RATELIMIT, RATELIMIT_POLICY,
};
pub use path_key::PathKey;
pub use peer::{peer_addr, ClientAddr, PeerIp};
