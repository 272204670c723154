//! Graceful draining for tower servers: no request lost on a deploy.
//!
//! On a deploy the orchestrator sends SIGTERM, and removes the server from the load
//! balancer a little later. A [`Drain`] walks the server through that window:
//!
//! 1. [`Phase::Serving`]: requests are counted in flight until their response body
//!    has been sent or dropped ([`InFlightLayer`], [`RequestGuard`], [`DrainBody`]).
//! 2. Triggered ([`terminate`] for SIGTERM / Ctrl-C, any future, or
//!    [`Drain::start`]): [`Phase::Announced`]. Readiness turns to not ready, but new
//!    requests are still served for the *propagation delay*, while load balancers stop
//!    sending.
//! 3. [`Phase::Closing`]: new requests are refused (the HTTP face answers `503` with
//!    `Connection: close`); long-lived streams are told to finish
//!    ([`Drain::closing`]); the drain waits for what is in flight, up to the
//!    *deadline*.
//! 4. [`Phase::Done`]: nothing is in flight, or the deadline cut what was (bodies end
//!    cleanly at a frame boundary). [`Drain::done`] resolves: hand it to the server's
//!    graceful shutdown. The driver returns a [`Report`].
//!
//! Every move is traced at target `tollgate::drain`; [`Drain::snapshot`] gives the
//! counters for metrics. The in-flight count and the completion wake-up are one atomic
//! word ([`Tracker`]), model-checked with loom.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower::BoxError> {
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tollgate_drain::{Drain, InFlightLayer, Phase};
//!
//! let drain = Drain::builder()
//!     .propagation_delay(Duration::from_secs(5))
//!     .deadline(Duration::from_secs(30))
//!     .build()?;
//! let svc = ServiceBuilder::new()
//!     .layer(InFlightLayer::new(drain.clone()))
//!     .service(service_fn(|_: http::Request<()>| async {
//!         Ok::<_, Infallible>(http::Response::new(String::from("ok")))
//!     }));
//!
//! // In a server: `drain.clone().run_until(tollgate_drain::terminate())`, and
//! // `axum::serve(..).with_graceful_shutdown(drain.done())`.
//! let driver = tokio::spawn(drain.clone().run());
//! let in_flight = svc.clone().oneshot(http::Request::new(())).await?;
//! drain.start();
//!
//! drain.closing().await; // 5 s later
//! let refused = svc.oneshot(http::Request::new(())).await.unwrap_err();
//! assert_eq!(refused.to_string(), "server is draining");
//!
//! drop(in_flight); // the body was sent
//! let report = driver.await?;
//! assert_eq!(drain.phase(), Phase::Done);
//! assert_eq!((report.finished(), report.cut(), report.refused()), (1, 0, 1));
//! # Ok(()) }
//! ```

mod body;
mod config;
mod drain;
mod future;
mod guard;
mod layer;
mod report;
mod service;
// tokio has no signals under loom; the models do not need them.
#[cfg(not(loom))]
mod signal;
mod tracker;

pub use body::DrainBody;
pub use config::{DrainBuilder, DrainConfig};
pub use drain::Drain;
pub use future::ResponseFuture;
pub use guard::RequestGuard;
pub use layer::InFlightLayer;
pub use report::{Phase, Report, Snapshot};
pub use service::InFlight;
#[cfg(not(loom))]
pub use signal::terminate;
pub use tracker::{Tracker, Word};

/// The error type of tower stacks: [`InFlight`] refuses with a
/// [`Rejection`](tollgate_core::Rejection) inside one.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
