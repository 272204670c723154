//! HTTP throughput on loopback: bare axum against the same router behind tollgate's
//! full server stack, driven by a bounded load generator of our own (hyper clients on
//! keep-alive connections, a fixed number of concurrent requesters, a fixed duration).
//!
//! `cargo bench --bench http_load` prints, per variant, the requests per second and the
//! p50 and p99 latencies of each run, then the medians over the runs and the ratio of
//! the stacked to the bare throughput (target: at least 0.95). Knobs, by environment:
//! `TOLLGATE_LOAD_SECS` (default 5), `TOLLGATE_LOAD_RUNS` (default 5),
//! `TOLLGATE_LOAD_CONCURRENCY` (default 64).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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
    p50: Duration,
    p99: Duration,
}

/// `concurrency` requesters for `secs` seconds against `addr`; every latency kept.
async fn drive(addr: SocketAddr, concurrency: u64, secs: u64) -> Run {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/").parse().expect("a uri");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, uri) = (client.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let start = Instant::now();
                let response = client.get(uri.clone()).await.expect("a response");
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.expect("a body");
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a requester"));
    }
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Run {
        rps: all.len() as f64 / secs as f64,
        p50: at(0.50),
        p99: at(0.99),
    }
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let route = || Router::new().route("/", get(|| async { "ok" }));
        let bare = serve(route()).await;
        let full = serve(route().layer(stacked())).await;
        let mut medians = Vec::new();
        for (name, addr) in [("bare_axum", bare), ("tollgate_full_stack", full)] {
            let mut rps = Vec::new();
            let (mut p50, mut p99) = (Vec::new(), Vec::new());
            for run in 0..runs {
                let r = drive(addr, concurrency, secs).await;
                println!(
                    "{name} run {run}: {:.0} req/s, p50 {:?}, p99 {:?}",
                    r.rps, r.p50, r.p99
                );
                rps.push(r.rps);
                p50.push(r.p50.as_secs_f64());
                p99.push(r.p99.as_secs_f64());
            }
            let m = median(rps);
            println!(
                "{name} median: {m:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                median(p50) * 1e3,
                median(p99) * 1e3
            );
            medians.push(m);
        }
        println!("ratio tollgate/bare: {:.3}", medians[1] / medians[0]);
    });
}
