//! Zero lost on a deploy, counted from the client's side (src/drain_load/): the server
//! is the `drain_server` process, it gets a real SIGTERM mid-load, and 16 clients that
//! reconnect at once after every refusal count every request as complete, refused or
//! lost, until the process has exited.
//!
//! Each face runs `DRAIN_LOAD_RUNS` consecutive runs (2 by default, to keep CI short;
//! each run is about 1.5 s). The ten-run proof:
//!
//! ```text
//! DRAIN_LOAD_RUNS=10 cargo test --release --test drain_load -- --nocapture
//! ```
//!
//! Plain `axum::serve(..).with_graceful_shutdown(..)` runs the same load after each
//! run of the axum face, printed beside it, not asserted.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tollgate_workspace::drain_load::{run, sigterm, Face, Outcome, Plan};

const SERVER: &str = env!("CARGO_BIN_EXE_drain_server");

/// The runs share two cores: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn runs() -> usize {
    std::env::var("DRAIN_LOAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// `runs()` consecutive runs of `face`, each followed by one of `beside` (not
/// asserted) when given.
async fn runs_of(face: Face, beside: Option<Face>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for i in 1..=runs() {
        let outcome = run(Path::new(SERVER), &[], face, Plan::default()).await;
        println!("{:<14} run {i:>2}: {outcome}", face.arg());
        println!("{:<14}         {}", "", outcome.report);
        outcomes.push(outcome);
        if let Some(other) = beside {
            let o = run(Path::new(SERVER), &[], other, Plan::default()).await;
            println!(
                "{:<14} run {i:>2}: {o}  (beside, not asserted)",
                other.arg()
            );
        }
    }
    outcomes
}

fn assert_drained(face: Face, outcomes: &[Outcome]) {
    for (i, o) in outcomes.iter().enumerate() {
        let run = i + 1;
        assert_eq!(o.lost, 0, "{face:?} run {run} lost requests: {o}");
        assert!(o.clean_exit, "{face:?} run {run}: no clean exit: {o}");
        assert!(
            o.report.starts_with("report "),
            "{face:?} run {run}: no report"
        );
        // The load overlapped the drain: streams completed, and refusals came.
        assert!(
            o.complete_streams > 0 && o.refused > 0,
            "{face:?} run {run}: {o}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_over_http1_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let outcomes = runs_of(Face::Axum, Some(Face::Plain)).await;
    assert_drained(Face::Axum, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_with_the_drain_listener_wired_by_hand_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let outcomes = runs_of(Face::AxumListener, None).await;
    assert_drained(Face::AxumListener, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_over_http2_loses_nothing_and_sends_goaway_at_closing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let outcomes = runs_of(Face::Hyper, None).await;
    assert_drained(Face::Hyper, &outcomes);
    for o in &outcomes {
        // A GOAWAY that arrives while a stream is still in flight came before the
        // drain was done: at closing.
        assert!(o.goaway_mid_stream > 0, "no GOAWAY at closing: {o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_with_streaming_rpcs_in_flight_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let outcomes = runs_of(Face::Tonic, None).await;
    assert_drained(Face::Tonic, &outcomes);
    for o in &outcomes {
        assert!(o.goaway_mid_stream > 0, "no GOAWAY while streaming: {o}");
    }
}

/// Regression: `terminate()` installed its handler only when the driver first ran, so
/// a SIGTERM right after the server started listening killed it undrained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_right_after_listening_is_drained_not_fatal() {
    let _one = ONE_AT_A_TIME.lock().await;
    for face in [Face::Axum, Face::AxumListener, Face::Hyper, Face::Tonic] {
        let mut child = tokio::process::Command::new(SERVER)
            .args([face.arg(), "0", "1000"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next_line().await.unwrap().unwrap();
        assert!(first.starts_with("listening "), "{first}");
        sigterm(child.id().unwrap());
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("the server drains and exits")
            .unwrap();
        assert!(status.success(), "{face:?}: {status}");
        let last = lines.next_line().await.unwrap().unwrap_or_default();
        assert!(last.starts_with("report "), "{face:?}: {last}");
        println!("{face:?}: {last}");
    }
}
