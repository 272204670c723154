//! HTTP throughput on loopback: bare axum against the same router behind tollgate's
//! full server stack, driven by wrk, a real load generator, with the server and the
//! load on separate CPUs: this process (the server, one tokio worker) pinned to CPU 1,
//! wrk (one thread, 64 keep-alive connections) to CPU 0, so the figures measure the
//! code rather than the scheduler's time slice.
//!
//! `cargo bench --bench http_load` prints, per variant, the requests per second and
//! wrk's p50 and p99 latencies of each run, then the medians over the runs and the
//! ratio of the stacked to the bare throughput (target: at least 0.95). It needs `wrk`
//! and `taskset` (`apt-get install wrk util-linux`). Knobs, by environment:
//! `TOLLGATE_LOAD_SECS` (default 5), `TOLLGATE_LOAD_RUNS` (default 5),
//! `TOLLGATE_LOAD_CONCURRENCY` (default 64).

use std::net::SocketAddr;
use std::process::Command;

use axum::routing::get;
use axum::Router;
use tollgate::prelude::*;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stacked() -> ServerStack {
    tollgate_workspace::bench_server_stack(KeySource::peer_ip())
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    addr
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One wrk run of `secs` seconds with `connections` connections against `addr`.
fn drive(addr: SocketAddr, connections: u64, secs: u64) -> Run {
    let out = Command::new("taskset")
        .args(["-c", "0", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk and taskset are installed (apt-get install wrk util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "every request is answered 200: {text}"
    );
    let field = |line_start: &str| -> &str {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no `{line_start}` in wrk's output: {text}"))
            .trim()
    };
    Run {
        rps: field("Requests/sec:").parse().expect("a rate"),
        p50_ms: millis(field("50%")),
        p99_ms: millis(field("99%")),
    }
}

/// wrk's latency (`812.00us`, `1.23ms`, `2.00s`) in milliseconds.
fn millis(latency: &str) -> f64 {
    let (number, scale) = if let Some(n) = latency.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = latency.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = latency.strip_suffix('s') {
        (n, 1e3)
    } else {
        panic!("a latency: {latency}")
    };
    number.parse::<f64>().expect("a number") * scale
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only
    // when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (secs, runs, concurrency) = (
        knob("TOLLGATE_LOAD_SECS", 5),
        knob("TOLLGATE_LOAD_RUNS", 5),
        knob("TOLLGATE_LOAD_CONCURRENCY", 64),
    );
    // This process is the server: every thread it starts from here on runs on CPU 1.
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .output()
        .expect("taskset is installed (apt-get install util-linux)");
    assert!(pinned.status.success(), "taskset: {pinned:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let route = || Router::new().route("/", get(|| async { "ok" }));
    let (bare, full) =
        rt.block_on(async { (serve(route()).await, serve(route().layer(stacked())).await) });
    // The server runs on its own thread (pinned with the process) while wrk loads it.
    let server = std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));
    let mut medians = Vec::new();
    for (name, addr) in [("bare_axum", bare), ("tollgate_full_stack", full)] {
        let (mut rps, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let r = drive(addr, concurrency, secs);
            println!(
                "{name} run {run}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                r.rps, r.p50_ms, r.p99_ms
            );
            rps.push(r.rps);
            p50.push(r.p50_ms);
            p99.push(r.p99_ms);
        }
        let m = median(rps);
        println!(
            "{name} median: {m:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
            median(p50),
            median(p99)
        );
        medians.push(m);
    }
    println!("ratio tollgate/bare: {:.3}", medians[1] / medians[0]);
    drop(server);
}
