//! Showcase: a deploy in the middle of load, drained by tollgate-drain, next to the same
//! deploy with plain `axum::serve(..).with_graceful_shutdown(..)`.

use crate::drain_load::{run_load, LoadOutcome, LoadPlan, Shutdown};
use crate::say;

use serde::Serialize;

/// What section 5 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DrainRun {
    /// The load's timing: SIGTERM, propagation delay, grace, in ms from the load's start.
    pub deploy_at_ms: u64,
    /// The propagation delay.
    pub propagation_delay_ms: u64,
    /// The grace period.
    pub grace_ms: u64,
    /// With tollgate-drain.
    pub drained: ShutdownRun,
    /// With plain graceful shutdown.
    pub plain: ShutdownRun,
}

/// One deploy of section 5; times in ms from SIGTERM.
#[derive(Debug, Clone, Serialize)]
pub struct ShutdownRun {
    /// Served completely.
    pub served: u64,
    /// Refused with a 503 before any work.
    pub refused_503: u64,
    /// Refused at connect or closed before work.
    pub refused_early: u64,
    /// Started by the server, never fully received.
    pub lost: u64,
    /// When the server exited.
    pub exit_ms: u64,
    /// Whether it was killed at the grace period's end.
    pub killed: bool,
    /// The drain's phases `(closing, done)`, with tollgate-drain only.
    pub phases_ms: Option<(u64, u64)>,
}

impl From<&LoadOutcome> for ShutdownRun {
    fn from(o: &LoadOutcome) -> Self {
        ShutdownRun {
            served: o.ok,
            refused_503: o.refused_503,
            refused_early: o.refused_connect + o.closed_before_work,
            lost: o.lost,
            exit_ms: o.server_exit.as_millis() as u64,
            killed: o.killed,
            phases_ms: o.report.as_ref().map(|r| {
                (
                    r.closing_after().as_millis() as u64,
                    r.done_after().as_millis() as u64,
                )
            }),
        }
    }
}

pub(crate) async fn run() -> DrainRun {
    let plan = LoadPlan::default();
    say!();
    say!("5. Draining (tollgate-drain): a deploy under load on 127.0.0.1");
    say!(
        "  {} keep-alive clients (short requests, and 100-300 ms streamed bodies) + {} event streams",
        plan.clients, plan.streams
    );
    say!(
        "  SIGTERM after {} ms; propagation delay {} ms; grace period {} ms",
        plan.deploy_at.as_millis(),
        plan.propagation_delay.as_millis(),
        plan.grace.as_millis()
    );
    let drained = run_load(Shutdown::Drained, plan).await;
    let plain = run_load(Shutdown::PlainGraceful, plan).await;

    if let Some(report) = &drained.report {
        say!("  phases (tollgate-drain, from SIGTERM):");
        say!(
            "    {:>6} ms  announced   readiness answers 503, requests still served",
            0
        );
        say!(
            "    {:>6} ms  closing     new requests get 503 + Connection: close, streams told to finish",
            report.closing_after().as_millis()
        );
        say!(
            "    {:>6} ms  done        {} finished during the drain, {} cut, {} refused",
            report.done_after().as_millis(),
            report.finished(),
            report.cut(),
            report.refused()
        );
    }
    say!(
        "  {:<16} {:>7} {:>7} {:>20} {:>8} {:>14}",
        "",
        "served",
        "503",
        "refused/closed early",
        "lost",
        "exit"
    );
    row("tollgate-drain", &drained);
    row("plain graceful", &plain);
    say!("  lost = the server started the request, the client never got all of it");
    DrainRun {
        deploy_at_ms: plan.deploy_at.as_millis() as u64,
        propagation_delay_ms: plan.propagation_delay.as_millis() as u64,
        grace_ms: plan.grace.as_millis() as u64,
        drained: ShutdownRun::from(&drained),
        plain: ShutdownRun::from(&plain),
    }
}

fn row(name: &str, o: &LoadOutcome) {
    let exit = format!(
        "{} ms{}",
        o.server_exit.as_millis(),
        if o.killed { " killed" } else { "" }
    );
    say!(
        "  {:<16} {:>7} {:>7} {:>20} {:>8} {:>14}",
        name,
        o.ok,
        o.refused_503,
        o.refused_connect + o.closed_before_work,
        format!("lost: {}", o.lost),
        exit
    );
}
