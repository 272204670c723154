//! The tollgate dashboard under a bounded synthetic load: a rate-limited `/api`, a
//! breaker around a dependency that fails half the time, a shaped third-party call,
//! all counted by a drain, with `/metrics` from the Prometheus recorder.
//!
//! `cargo run --example dashboard -- [seconds]` (default 30), then open the printed
//! address. It stops by itself when the load ends.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tollgate_workspace::dashboard_demo;

#[tokio::main]
async fn main() {
    let seconds: u64 = match std::env::args().nth(1) {
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: dashboard [seconds, a whole number above 0]");
                std::process::exit(2);
            }
        },
        None => 30,
    };
    // Installed before the layers are built, so that their handles register with it.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other recorder is installed");
    let demo = dashboard_demo::start(Some(prometheus)).await;
    println!("dashboard: http://{}/tollgate", demo.addr);
    println!("metrics:   http://{}/metrics", demo.addr);
    println!("load: {seconds} s of synthetic requests, then the program ends");
    let sent = dashboard_demo::load(demo.addr, Duration::from_secs(seconds)).await;
    println!(
        "sent {} requests; {} answered 200",
        sent.requests.load(std::sync::atomic::Ordering::Relaxed),
        sent.ok.load(std::sync::atomic::Ordering::Relaxed)
    );
}
