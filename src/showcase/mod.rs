//! The scripted showcase scenario behind `cargo run --release --example showcase`: each
//! section starts real servers on loopback, drives a bounded load through one tollgate
//! layer, prints what happened and returns the series it recorded, which
//! [`report::write`] draws into a self-contained HTML page.

pub mod progress;
pub mod report;

mod breaker;
mod charts;
mod deadline;
mod drain;
mod rate_limit;
mod shape;

pub use breaker::BreakerRun;
pub use deadline::{DeadlineRun, HopRow};
pub use drain::{DrainRun, ShutdownRun};
pub use rate_limit::{KeyRun, RateLimitRun};
pub use shape::{ClientRun, ShapeRun};

use serde::Serialize;

/// Everything the scenario recorded, one field per section.
#[derive(Debug, Clone, Serialize)]
pub struct Showcase {
    /// 1. The keyed token bucket.
    pub rate_limit: RateLimitRun,
    /// 2. The shaper in front of a 50 req/s API.
    pub shape: ShapeRun,
    /// 3. The breaker around a failing upstream.
    pub breaker: BreakerRun,
    /// 4. One budget across two hops.
    pub deadline: DeadlineRun,
    /// 5. A deploy under load, drained and plain.
    pub drain: DrainRun,
    /// The text the sections printed.
    #[serde(skip)]
    pub text: String,
}

/// Runs the five sections in order, printing each and a progress line per phase. The
/// drain section runs `drain_server` with `server_args` as its server process (a real
/// process, so it receives a real SIGTERM): the root package's `drain_server` binary, or
/// a program that hands `server_args` on to `drain_load::server::run_server`.
///
/// ```no_run
/// # async fn demo() {
/// let server = std::path::Path::new("target/release/drain_server");
/// let showcase = tollgate_workspace::showcase::run(server, &[]).await;
/// assert!(showcase.drain.drained.lost == 0);
/// # }
/// ```
pub async fn run(drain_server: &std::path::Path, server_args: &[&str]) -> Showcase {
    progress::take_transcript();
    let rate_limit = progress::phase(1, "rate limiting", rate_limit::run()).await;
    let shape = progress::phase(2, "shaping", shape::run()).await;
    let breaker = progress::phase(3, "circuit breaking", breaker::run()).await;
    let deadline = progress::phase(4, "deadlines", deadline::run()).await;
    let drain = progress::phase(5, "draining", drain::run(drain_server, server_args)).await;
    Showcase {
        rate_limit,
        shape,
        breaker,
        deadline,
        drain,
        text: progress::take_transcript(),
    }
}
