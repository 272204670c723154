//! Showcase: a deploy in the middle of load, the server a separate process that
//! receives a real SIGTERM, counted from the clients' side: tollgate's drain next to
//! plain `axum::serve(..).with_graceful_shutdown(..)`.

use std::path::Path;

use crate::drain_load::{self, Face, Outcome, Plan};
use crate::say;

use serde::Serialize;

/// What section 5 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DrainRun {
    /// When SIGTERM was sent, in ms after the server listened.
    pub sigterm_after_ms: u64,
    /// The propagation delay.
    pub propagation_delay_ms: u64,
    /// With tollgate-drain.
    pub drained: ShutdownRun,
    /// With plain graceful shutdown.
    pub plain: ShutdownRun,
}

/// One deploy of section 5; times in ms from SIGTERM.
#[derive(Debug, Clone, Serialize)]
pub struct ShutdownRun {
    /// Served completely, as the client counts it.
    pub served: u64,
    /// Refused cleanly: a 503, or a connection refused or closed before the request
    /// was written.
    pub refused: u64,
    /// Sent and never wholly answered.
    pub lost: u64,
    /// When the server exited.
    pub exit_ms: u64,
    /// Whether it had to be killed (it did not exit by itself within the bound).
    pub killed: bool,
    /// The drain's phases `(closing, done)`, with tollgate-drain only.
    pub phases_ms: Option<(u64, u64)>,
}

impl From<&Outcome> for ShutdownRun {
    fn from(o: &Outcome) -> Self {
        ShutdownRun {
            served: o.complete,
            refused: o.refused,
            lost: o.lost,
            exit_ms: o.exit_after.as_millis() as u64,
            killed: !o.clean_exit,
            phases_ms: phases(&o.report),
        }
    }
}

/// `(closing, done)` in ms from SIGTERM, read from the drain report the server printed
/// (`DrainReport`'s `Display`: "... closing after 100.2ms, done after 180ms").
fn phases(report: &str) -> Option<(u64, u64)> {
    let after = |label: &str| {
        let rest = report.split(label).nth(1)?;
        let value = rest.split(',').next()?.trim();
        // `Duration`'s `Debug`: "512µs", "100.2ms", "1.5s".
        let (number, per_ms) = [
            ("µs", 0.001),
            ("ns", 0.000_001),
            ("ms", 1.0),
            ("s", 1_000.0),
        ]
        .iter()
        .find_map(|(unit, per_ms)| Some((value.strip_suffix(unit)?, *per_ms)))?;
        Some((number.parse::<f64>().ok()? * per_ms) as u64)
    };
    Some((after("closing after ")?, after("done after ")?))
}

/// Section 5: the server is `server` run with `server_args` (the showcase itself, or the
/// root package's `drain_server`), a separate process that receives a real SIGTERM.
pub(crate) async fn run(server: &Path, server_args: &[&str]) -> DrainRun {
    let plan = Plan::default();
    say!();
    say!("5. Draining (tollgate-drain): a deploy under load on 127.0.0.1");
    say!(
        "  {} clients, short and streamed requests back to back, reconnecting at once after every refusal",
        plan.clients
    );
    say!(
        "  SIGTERM {} ms after the server listens; propagation delay {} ms",
        plan.sigterm_after.as_millis(),
        plan.propagation.as_millis()
    );
    let drained = drain_load::run(server, server_args, Face::Axum, plan).await;
    let plain = drain_load::run(server, server_args, Face::Plain, plan).await;
    let drained_run = ShutdownRun::from(&drained);
    if let Some((closing, done)) = drained_run.phases_ms {
        say!("  phases (tollgate-drain, from SIGTERM):");
        say!(
            "    {:>6} ms  announced   readiness answers 503, requests still served",
            0
        );
        say!("    {closing:>6} ms  closing     the listener stops accepting, new requests get 503 + Connection: close");
        say!("    {done:>6} ms  done        {}", drained.report);
    }
    say!(
        "  {:<16} {:>7} {:>8} {:>9} {:>14}",
        "",
        "served",
        "refused",
        "",
        "exit"
    );
    row("tollgate-drain", &drained);
    row("plain graceful", &plain);
    say!("  counted from the clients' side: lost = a request sent and never wholly answered");
    DrainRun {
        sigterm_after_ms: plan.sigterm_after.as_millis() as u64,
        propagation_delay_ms: plan.propagation.as_millis() as u64,
        drained: drained_run,
        plain: ShutdownRun::from(&plain),
    }
}

fn row(name: &str, o: &Outcome) {
    let exit = format!(
        "{} ms{}",
        o.exit_after.as_millis(),
        if o.clean_exit { "" } else { " killed" }
    );
    say!(
        "  {:<16} {:>7} {:>8} {:>9} {:>14}",
        name,
        o.complete,
        o.refused,
        format!("lost: {}", o.lost),
        exit
    );
}
