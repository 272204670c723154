//! The HTTP face of the token bucket: key extractors and the IETF rate-limit headers.
//!
//! - Key extractors pick a request's bucket: [`PeerIp`] (the connection's peer),
//!   [`HeaderKey`] (an API key), [`PathKey`] (the route or path), [`ForwardedIp`] (the
//!   client reported by trusted reverse proxies only) and any closure (see
//!   [`KeyExtractor`]). A request without a key gets the configured [`MissingKey`]
//!   outcome.
//! - [`RateLimitHeaders`] writes `RateLimit-Policy` and `RateLimit`
//!   (draft-ietf-httpapi-ratelimit-headers) next to `Retry-After`.
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
