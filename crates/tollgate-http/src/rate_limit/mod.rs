//! The HTTP face of the token bucket: [`RateLimitLayer`], its key extractors and the
//! IETF rate-limit headers.
//!
//! - [`RateLimitLayer`] puts a `tollgate-bucket` limiter (direct, or keyed with a key
//!   extractor) in front of an HTTP service. It decides in `call`, answers refusals
//!   itself (`429` with `Retry-After`, `RateLimit-Policy` and `RateLimit`; gRPC
//!   `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms`) and keeps the inner service's
//!   error type, so it stacks on an axum router as is. Reject mode by default; wait
//!   mode with [`RateLimitLayer::max_wait`].
//! - Key extractors pick a request's bucket: [`PeerIp`] (the connection's peer),
//!   [`HeaderKey`] (an API key), [`PathKey`] (the route or path), [`ForwardedIp`] (the
//!   client reported by trusted reverse proxies only) and any closure (see
//!   [`KeyExtractor`]). A request without a key gets the configured [`MissingKey`]
//!   outcome: `400 Bad Request` by default, or a shared default bucket.
//! - [`RateLimitHeaders`] writes `RateLimit-Policy` and `RateLimit`
//!   (draft-ietf-httpapi-ratelimit-headers-11): on refusals by default, on admitted
//!   responses when asked.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tollgate_bucket::{KeyedRateLimiter, Quota};
//! use tollgate_http::rate_limit::{PeerIp, RateLimitHeaders, RateLimitLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // 50 requests per second per client address, bursts of 10, at most 100k clients.
//! let limiter = KeyedRateLimiter::builder(Quota::per_second(50).burst(10)?)
//!     .max_keys(100_000)
//!     .build()?;
//! let app = Router::new()
//!     .route("/api", get(|| async { "ok" }))
//!     .layer(
//!         RateLimitLayer::keyed(limiter, PeerIp::new())
//!             .headers(RateLimitHeaders::new().policy_name("per-ip")?.on_admitted(true))
//!             .max_wait(Duration::from_millis(200)), // smooth short bursts instead of 429
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // `PeerIp` reads the peer address that `ConnectInfo` records.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Extractors on their own:
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::extract::ConnectInfo;
//! use tollgate_http::rate_limit::{HeaderKey, KeyExtractor, PeerIp};
//!
//! let mut req = http::Request::get("/").header("x-api-key", "k1").body(()).unwrap();
//! req.extensions_mut().insert(ConnectInfo("192.0.2.1:5000".parse::<SocketAddr>().unwrap()));
//! assert_eq!(HeaderKey::new("x-api-key")?.extract(&req).unwrap(), "k1");
//! assert_eq!(PeerIp::new().extract(&req), Some("192.0.2.1".parse().unwrap()));
//! # Ok::<(), tollgate_core::ConfigError>(())
//! ```

mod forwarded;
mod future;
mod header_key;
mod headers;
mod ip;
mod key;
mod layer;
mod limit;
mod path_key;
mod peer;
mod service;

pub use forwarded::{ForwardedHeader, ForwardedIp};
pub use future::ResponseFuture;
pub use header_key::HeaderKey;
pub use headers::{RateLimitHeaders, RATELIMIT, RATELIMIT_POLICY};
pub use key::{KeyExtractor, MissingKey};
pub use layer::RateLimitLayer;
pub use limit::{Decision, DirectLimit, KeyedLimit, Limit};
pub use path_key::PathKey;
pub use peer::{peer_addr, ClientAddr, PeerIp};
pub use service::RateLimit;
