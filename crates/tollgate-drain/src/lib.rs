// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! Graceful draining for tower servers: no request lost on a deploy.
//!
//! On a deploy the orchestrator sends SIGTERM, and removes the server from the load
//! balancer a little later. A [`Drain`] walks the server through that window:
//!
//! 1. [`Phase::Serving`]: requests are counted in flight until their response has
//!    ended ([`DrainLayer`], [`RequestGuard`]; [`Track`] decides when that is: on
//!    HTTP, `tollgate_http::drain::UntilBodyEnd` waits until the body has been sent).
//! 2. Triggered ([`terminate`] for SIGTERM / Ctrl-C, its handlers installed when it
//!    is called, so before the first request; any future; or [`Drain::start`]):
//!    [`Phase::Announced`]. Readiness turns to not ready, but new
//!    requests are still served for the *propagation delay*, while load balancers stop
//!    sending.
//! 3. [`Phase::Closing`]: the server stops accepting connections
//!    ([`Phase::accepts_connections`]; `tollgate_http::drain::DrainListener` closes
//!    the listener without resetting a queued connection, and HTTP/2 connections get
//!    GOAWAY); new requests are refused (with `Err(BoxError)` holding a
//!    [`Rejection`](tollgate_core::Rejection) by default; with `tollgate_http::AsResponse`,
//!    `503` and `Connection: close`); long-lived streams are told to finish
//!    ([`Drain::closing`]); the drain waits for what is in flight, up to the
//!    *deadline*.
//! 4. [`Phase::Done`]: nothing is in flight, or the deadline cut what was (bodies end
//!    cleanly at a frame boundary). [`Drain::done`] resolves: the server's graceful
//!    shutdown ends what is left. The driver returns a [`DrainReport`].
//!
//! `tollgate_http::drain::serve` (axum) and `serve_grpc` (tonic) wire all of it in one
//! call.
//!
//! Every move is traced at target `tollgate::drain`; [`Drain::snapshot`] gives the
//! counters for metrics, as do the layer and the service. The phase moves read the
//! time from the builder's [`clock`](DrainBuilder::clock). The in-flight count and the
//! completion wake-up are one atomic word, model-checked with loom.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tollgate_core::BoxError> {
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tollgate_core::{Reason, Rejection, TokioClock};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tollgate_drain::{Drain, DrainLayer, Phase};
//!
//! let drain = Drain::builder()
//!     .propagation_delay(Duration::from_secs(5))
//!     .deadline(Duration::from_secs(30))
//!     .clock(TokioClock::new()) // paused tokio time in this example
//!     .build()?;
//! let svc = ServiceBuilder::new()
//!     .layer(DrainLayer::new(drain.clone()))
//!     .service(service_fn(|name: &'static str| async move {
//!         Ok::<_, Infallible>(format!("hello {name}"))
//!     }));
//!
//! // In a server: `tollgate_http::drain::serve(listener, app, drain)`, or by hand
//! // `drain.clone().run_until(tollgate_drain::terminate())` next to the server.
//! let driver = tokio::spawn(drain.clone().run());
//! let in_flight = drain.enter()?; // a request that is still running
//! drain.start();
//! drain.announced().await; // readiness says not ready; requests are still served
//! assert_eq!(svc.clone().oneshot("announced").await?, "hello announced");
//!
//! drain.closing().await; // 5 s later
//! let refused = svc.clone().oneshot("closing").await.unwrap_err();
//! assert_eq!(refused.downcast_ref::<Rejection>().unwrap().reason(), Reason::Draining);
//!
//! drop(in_flight); // it ended
//! let report = driver.await?;
//! assert_eq!(drain.phase(), Phase::Done);
//! assert_eq!((report.finished(), report.cut(), report.refused()), (2, 0, 1));
//! assert_eq!(svc.snapshot().rejected, 1);
//! # Ok(()) }
//! ```

mod clock;
mod config;
mod drain;
mod future;
mod guard;
mod layer;
mod metrics;
mod report;
mod service;
// tokio has no signals under loom; the models do not need them.
#[cfg(not(loom))]
mod signal;
mod track;
// `pub` inside, and re-exported only under `cfg(loom)`, for the loom models.
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod tracker;

pub use config::{DrainBuilder, DrainConfig};
pub use drain::Drain;
pub use future::ResponseFuture;
pub use guard::RequestGuard;
pub use layer::DrainLayer;
pub use report::{DrainReport, Phase, Snapshot};
pub use service::Drained;
#[cfg(not(loom))]
pub use signal::terminate;
pub use track::{Track, Tracking, UntilResponse};
#[cfg(loom)]
#[doc(hidden)]
pub use tracker::{Tracker, Word};
