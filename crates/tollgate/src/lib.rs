// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! tollgate keeps services alive under bursts, slow or failing dependencies,
//! misaligned timeouts and deploys: rate limiting, shaping, circuit breaking,
//! deadlines and draining for tower, axum, hyper and tonic, behind one dependency.
//!
//! # One layer
//!
//! Every algorithm is a tower layer that decides in `call`, is `Clone`, and answers
//! `snapshot()`. With the HTTP face's `AsResponse` its refusals are responses (`429`,
//! `503`, `504`), so an axum router keeps its `Infallible` error type:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use axum::{routing::get, Router};
//! use tollgate::prelude::*;
//! use tower::ServiceExt;
//!
//! let limiter = RateLimiter::new(Quota::per_hour(1).build()?);
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(RateLimitLayer::new(limiter).refuse_with(AsResponse::new()));
//! let get = || http::Request::get("/").body(axum::body::Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(get()).await?.status(), 200);
//! let refused = app.oneshot(get()).await?;
//! assert_eq!(refused.status(), 429);
//! assert_eq!(refused.headers()["retry-after"], "3600");
//! # Ok(()) }
//! ```
//!
//! # A full stack, in the right order
//!
//! The layers only help in one order (a breaker outside the rate limit counts
//! refusals as failures; a per-try timeout outside the breaker hides slow calls from
//! it). [`ServerStack`] and [`ClientStack`] fix the order, leave out what you do not
//! configure, check the timeouts with the alignment checker, and give one `Layer`:
//!
//! - server: drain -> deadline -> rate limit -> shaping -> breaker -> per-try timeout
//!   -> handler;
//! - client: deadline -> breaker -> rate limit / shaping -> per-try timeout ->
//!   transport.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tollgate::prelude::*;
//! use tower::ServiceExt;
//!
//! let (stack, warnings) = ServerStack::builder()
//!     .deadline(DeadlinePolicy::builder().max(Duration::from_secs(10)).build()?)
//!     .rate_limit(
//!         KeyedRateLimiter::builder(Quota::per_second(50).burst(10)?).build()?,
//!         KeySource::header("x-api-key")?,
//!     )
//!     .breaker(Breaker::builder().failure_rate(50.0).build()?)
//!     .timeout(TimeoutPolicy::per_try(Duration::from_secs(2))?)
//!     .build()?; // a misaligned stack fails here, with the checker's findings
//! for warning in warnings.findings() {
//!     eprintln!("{}: {}", warning.rule.name(), warning.problem);
//! }
//! let app: Router = Router::new().route("/api", get(|| async { "ok" })).layer(stack.clone());
//!
//! let req = http::Request::get("/api").body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(req).await?.status(), 400); // no API key
//! let req = http::Request::get("/api").header("x-api-key", "k1").body(axum::body::Body::empty())?;
//! assert_eq!(app.oneshot(req).await?.status(), 200);
//! assert_eq!(stack.snapshot().rate_limit.unwrap().admitted, 1);
//! // In a server: serve with `stack.drain().done()` as the graceful shutdown, and
//! // `stack.drain().clone().run_until(tollgate::drain::terminate())` on a task.
//! # Ok(()) }
//! ```
//!
//! # From a config file, reloaded while it runs
//!
//! Operators tune the values without a rebuild: [`Config`] reads TOML (durations as
//! `"5s"`), refuses unknown keys, and names the key path of every bad value.
//! [`ServerStack::reload`] swaps a new config in atomically (a request runs wholly
//! under one); [`watch_file`] reloads when the file changes.
//!
//! ```
//! let config = tollgate::Config::from_toml(r#"
//!     [server.rate_limit]
//!     key = "peer_ip"
//!     per_key = { count = 50, burst = 10 }
//!     tiers.internal = { keys = ["10.0.0.5"], count = 1000, burst = 100 }
//!
//!     [server.breaker]
//!     failure_rate = 50.0
//!     window = "30s"
//! "#)?;
//! let (stack, _warnings) = tollgate::ServerStack::from_config(&config.server)?;
//! # let _ = stack;
//!
//! let err = tollgate::Config::from_toml("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 5, burst = 0 }")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "server.rate_limit.per_key.burst: must be at least 1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! `stack` (default): the five algorithms (`bucket`, `leaky`, `breaker`, `deadline`,
//! `drain`, each re-exported as a module), the HTTP face (`http`), the stacks and the
//! config file. `axum` (axum's `ConnectInfo` and `MatchedPath` keys), `tonic` (gRPC
//! stacks, `tonic::Status` refusals, the health service following a drain), `hyper`
//! (the hyper-util integrations), `redis` (the shared quota, [`redis`]).

pub use tollgate_core as core;

#[cfg(feature = "breaker")]
pub use tollgate_breaker as breaker;
#[cfg(feature = "bucket")]
pub use tollgate_bucket as bucket;
#[cfg(feature = "deadline")]
pub use tollgate_deadline as deadline;
#[cfg(feature = "drain")]
pub use tollgate_drain as drain;
#[cfg(feature = "http")]
pub use tollgate_http as http;
#[cfg(feature = "leaky")]
pub use tollgate_leaky as leaky;
#[cfg(feature = "redis")]
pub use tollgate_redis as redis;

#[cfg(feature = "stack")]
mod client;
#[cfg(feature = "stack")]
pub mod config;
#[cfg(feature = "stack")]
mod error;
#[cfg(feature = "stack")]
mod face;
#[cfg(feature = "stack")]
mod key;
#[cfg(feature = "stack")]
mod optional;
#[cfg(feature = "stack")]
mod plan;
pub mod prelude;
#[cfg(feature = "stack")]
mod reload;
#[cfg(feature = "stack")]
mod server;
#[cfg(feature = "stack")]
mod watch;

#[cfg(feature = "stack")]
pub use client::ClientStack;
#[cfg(feature = "stack")]
pub use config::Config;
#[cfg(feature = "stack")]
pub use error::{ConfigFileError, StackError, Warnings};
#[cfg(feature = "stack")]
pub use key::{KeySource, RequestKey};
#[cfg(feature = "stack")]
pub use server::ServerStack;
#[cfg(feature = "stack")]
pub use watch::{watch_file, Reloaded};

/// The pieces of the stacks a user names rarely: builders, snapshots, the protocol a
/// stack speaks, and the service types the stacks make.
#[cfg(feature = "stack")]
pub mod stack {
    pub use crate::client::{
        ClientLayers, ClientSnapshot, ClientStackBuilder, Unshaped, UnshapedFuture,
    };
    #[cfg(feature = "tonic")]
    pub use crate::face::Grpc;
    pub use crate::face::{Face, Http};
    pub use crate::optional::{Optional, OptionalFuture};
    pub use crate::reload::{Compose, StackService};
    pub use crate::server::{ServerLayers, ServerSnapshot, ServerStackBuilder};
}
