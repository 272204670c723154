//! Showcase: a deploy in the middle of load, the server a separate process that
//! receives a real SIGTERM, counted from the clients' side: tollgate's drain next to
//! plain `axum::serve(..).with_graceful_shutdown(..)`.

use tollgate_workspace::drain_load::{run, Face, Plan};

/// The argument that makes the showcase run as the drain's server process.
pub(crate) const SERVER_FLAG: &str = "--drain-server";

pub(crate) async fn run_section() {
    let plan = Plan::default();
    let me = std::env::current_exe().expect("the showcase's own path");
    println!();
    println!("5. Draining (tollgate-drain): a deploy under load on 127.0.0.1");
    println!(
        "  {} clients, short and streamed requests back to back, reconnecting at once after every refusal",
        plan.clients
    );
    println!(
        "  SIGTERM {} ms after the server listens; propagation delay {} ms",
        plan.sigterm_after.as_millis(),
        plan.propagation.as_millis()
    );
    for (name, face) in [
        ("axum, HTTP/1 (serve)", Face::Axum),
        ("hyper-util, HTTP/2", Face::Hyper),
        ("tonic, streaming", Face::Tonic),
        ("plain axum::serve", Face::Plain),
    ] {
        let outcome = run(&me, &[SERVER_FLAG], face, plan).await;
        println!("  {name:<22} {outcome}");
    }
    println!("  lost = the request was written and no complete answer came back");
}
