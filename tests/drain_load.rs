//! The load test that matters: 16 keep-alive clients stream short and long (streamed)
//! requests at a real axum server over loopback, two more hold server-sent-events
//! streams open, and a deploy starts mid-run.
//!
//! With `tollgate_http::drain`, every request the server accepted completes with its
//! full body, every refusal is a clean 503 (or a connection refused / closed before
//! any work), and the server exits within the grace period. The same load against
//! plain `axum::serve(..).with_graceful_shutdown(..)` is run as a comparison, and
//! what it loses is printed (not asserted: it depends on timing).
//!
//! Bounded: each run lasts at most `deploy_at + load_after_deploy` (1.6 s), the server
//! at most `deploy_at + grace` (1.3 s); the whole file takes about 3.5 s.

use tollgate_workspace::drain_load::{run_load, LoadPlan, Shutdown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_under_load_loses_nothing_with_the_drain() {
    let plan = LoadPlan::default();
    let drained = run_load(Shutdown::Drained, plan).await;
    let plain = run_load(Shutdown::PlainGraceful, plan).await;
    println!(
        "16 keep-alive clients, deploy after {:?}, grace {:?}",
        plan.deploy_at, plan.grace
    );
    println!("drained:        {drained}");
    println!("plain graceful: {plain}");
    println!(
        "client errors:  drained {}, plain graceful {}",
        drained.client_errors(),
        plain.client_errors()
    );
    let report = drained.report.expect("the drain reports");
    println!("drain report:   {report}");

    assert_eq!(
        drained.lost, 0,
        "accepted requests without a full response: {drained}"
    );
    assert!(!drained.killed, "the drained server was killed: {drained}");
    assert!(
        drained.server_exit <= plan.grace,
        "the drained server exited after the grace period: {drained}"
    );
    assert!(report.is_clean(), "requests cut: {report}");
    // The load really overlapped the deploy: long bodies finished during the drain,
    // and the closing phase refused requests.
    assert!(
        drained.ok_long > 0 && report.finished() > 0,
        "{drained} / {report}"
    );
    assert!(
        drained.refused_503 > 0,
        "nothing reached the closing phase: {drained}"
    );
}
