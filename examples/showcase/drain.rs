//! Showcase: a deploy in the middle of load, drained by tollgate-drain, next to the same
//! deploy with plain `axum::serve(..).with_graceful_shutdown(..)`.

use tollgate_workspace::drain_load::{run_load, LoadOutcome, LoadPlan, Shutdown};

pub(crate) async fn run() {
    let plan = LoadPlan::default();
    println!();
    println!("5. Draining (tollgate-drain): a deploy under load on 127.0.0.1");
    println!(
        "  {} keep-alive clients (short requests, and 100-300 ms streamed bodies) + {} event streams",
        plan.clients, plan.streams
    );
    println!(
        "  SIGTERM after {} ms; propagation delay {} ms; grace period {} ms",
        plan.deploy_at.as_millis(),
        plan.propagation_delay.as_millis(),
        plan.grace.as_millis()
    );
    let drained = run_load(Shutdown::Drained, plan).await;
    let plain = run_load(Shutdown::PlainGraceful, plan).await;

    if let Some(report) = drained.report {
        println!("  phases (tollgate-drain, from SIGTERM):");
        println!(
            "    {:>6} ms  announced   readiness answers 503, requests still served",
            0
        );
        println!(
            "    {:>6} ms  closing     new requests get 503 + Connection: close, streams told to finish",
            report.closing_after().as_millis()
        );
        println!(
            "    {:>6} ms  done        {} finished during the drain, {} cut, {} refused",
            report.done_after().as_millis(),
            report.finished(),
            report.cut(),
            report.refused()
        );
    }
    println!(
        "  {:<16} {:>7} {:>7} {:>20} {:>8} {:>14}",
        "", "served", "503", "refused/closed early", "lost", "exit"
    );
    row("tollgate-drain", &drained);
    row("plain graceful", &plain);
    println!("  lost = the server started the request, the client never got all of it");
}

fn row(name: &str, o: &LoadOutcome) {
    let exit = format!(
        "{} ms{}",
        o.server_exit.as_millis(),
        if o.killed { " killed" } else { "" }
    );
    println!(
        "  {:<16} {:>7} {:>7} {:>20} {:>8} {:>14}",
        name,
        o.ok,
        o.refused_503,
        o.refused_connect + o.closed_before_work,
        format!("lost: {}", o.lost),
        exit
    );
}
