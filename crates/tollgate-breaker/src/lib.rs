// The README is the first page of the docs (and its example a doc test); the crate
// docs below go on from it.
#![doc = include_str!("../README.md")]
//!
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
//! A circuit breaker for tower services: it stops calling a dependency that is
//! failing, lets a few careful probes through after a cool-down, and recovers.
//!
//! - **Policies**, combinable: failures in a row; the failure rate and the slow-call
//!   rate over a sliding [`Window`] of the last N calls or the last T seconds
//!   (bucketed), judged once the window holds a minimum number of calls. The rates are
//!   judged each time a failing or slow call is recorded: a breaker opens on a failure.
//! - **Open**: calls are refused with a [`Rejection`](tollgate_core::Rejection)
//!   ([`Reason::CircuitOpen`](tollgate_core::Reason::CircuitOpen)) carrying the time
//!   left and the breaker's name. The wait grows exponentially on consecutive re-opens
//!   (base, factor, cap, optional seeded jitter) and resets after a successful close.
//! - **Half-open**: at most K probes at once; S successes close the breaker, a failed
//!   (or, with the slow-call policy, slow) probe re-opens it. A probe's [`Permit`] is a
//!   drop guard: a cancelled call gives its permit back, so half-open never sticks.
//! - **Operators** can [`force_open`](Breaker::force_open), [`disable`](Breaker::disable)
//!   and [`reset`](Breaker::reset) at runtime.
//! - **Observable**: [`Breaker::snapshot`], a `tokio::sync::watch` receiver of
//!   [`Transition`]s ([`Breaker::subscribe`]), and a tracing event at target
//!   `tollgate::breaker` for every transition (fields `breaker`, `from`, `to`,
//!   `reason`, `calls`, `failures`, `slow_calls`, `consecutive_failures`, `open_for_ms`).
//!   The layer, its services and [`KeyedBreakers`] answer `snapshot()` too.
//! - **Tower**: [`BreakerLayer`] puts a breaker in front of a service (the decision is
//!   made in `call`, `poll_ready` passes through, a refused call answers at once
//!   without calling the inner service): one shared [`Breaker`]
//!   ([`BreakerLayer::new`]) or one per key in a bounded table of [`KeyedBreakers`]
//!   ([`BreakerLayer::keyed`]). A [`Classifier`] (a closure or [`DefaultClassifier`])
//!   says what counts as a failure, and timeouts from an inner timeout layer count as
//!   failures and slow calls; a classifier can also defer the verdict to the end of
//!   the response (a gRPC stream's trailers). What a refusal becomes is the layer's
//!   [`Refuse`](tollgate_core::Refuse): an `Err(BoxError)` holding the rejection by
//!   default. The HTTP and gRPC faces (status and trailer classifiers; refusals as
//!   `503` + `Retry-After`, `UNAVAILABLE` + pushback, or a `tonic::Status`) are in
//!   `tollgate_http`.
//! - **Built** one way: [`Breaker::builder`] and [`KeyedBreakers::builder`], the clock
//!   set with `.clock(c)`, every field validated with a
//!   [`ConfigError`](tollgate_core::ConfigError) naming it.
//!
//! The closed path is lock-free: admission is one atomic load (and one add to this
//! thread's stripe of the admitted count), and recording is a few atomic adds, or only
//! loads for a success while the count window holds nothing but successes (the healthy
//! state writes no breaker cache line that another thread writes). State, half-open
//! probe counters and a generation number share one atomic word; every transition is performed by exactly one caller and starts a new
//! generation, and outcomes of calls admitted in an older generation are ignored, so a
//! slow call admitted before the breaker opened cannot close it. `tests/loom.rs`
//! model-checks these protocols.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tollgate_breaker::{Breaker, Outcome, State, Window};
//! use tollgate_core::ManualClock;
//!
//! let clock = ManualClock::new();
//! let breaker = Breaker::builder()
//!     .name("payments")
//!     .failure_rate(50.0)
//!     .window(Window::Count(10))
//!     .minimum_calls(4)
//!     .open_wait(Duration::from_secs(2))
//!     .clock(clock.clone())
//!     .build()?;
//!
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Failure] {
//!     breaker.try_acquire()?.record(outcome);
//! }
//! // 2 failures out of 4 calls: 50%, the breaker opens.
//! assert_eq!(breaker.state(), State::Open);
//! let rejection = breaker.try_acquire().unwrap_err();
//! assert_eq!(rejection.retry_after(), Some(Duration::from_secs(2)));
//! let s = breaker.snapshot();
//! assert_eq!((s.admitted, s.rejected, s.failures), (4, 1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod breaker;
mod builder;
mod classify;
mod config;
mod future;
mod keyed;
mod layer;
mod metrics;
mod permit;
mod select;
mod service;
mod shared;
mod snapshot;
mod state;
mod transition;
mod window;

pub use breaker::Breaker;
pub use builder::BreakerBuilder;
pub use classify::{error_outcome, is_timeout, Classifier, DefaultClassifier};
pub use config::{BreakerConfig, Window};
pub use future::ResponseFuture;
pub use keyed::{KeyedBreakers, KeyedBreakersBuilder};
pub use layer::BreakerLayer;
pub use permit::{Outcome, Permit};
pub use select::{BreakerPerKey, SelectBreaker};
pub use service::CircuitBreaker;
pub use snapshot::{KeyedBreakersSnapshot, Snapshot};
pub use state::State;
pub use transition::{Transition, TransitionReason};
