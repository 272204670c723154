//! Rate limiting: an axum server with a keyed token bucket (one bucket per API key),
//! driven for two seconds by clients sending at different paces.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer};
use tollgate_http::rate_limit::HeaderKey;
use tollgate_http::AsResponse;

/// Per key: 20 requests per second, bursts of up to 5.
const RATE: u32 = 20;
const BURST: u32 = 5;
/// How long each client sends.
const RUN: Duration = Duration::from_secs(2);

/// (API key, requests per second it sends).
const CLIENTS: [(&str, u32); 4] = [("greedy", 100), ("eager", 40), ("steady", 20), ("calm", 5)];

pub(crate) async fn run() {
    println!();
    println!("1. Rate limiting (tollgate-bucket + tollgate-http)");
    println!("   axum on loopback, keyed by `x-api-key`: {RATE}/s per key, burst {BURST};");
    println!(
        "   {} clients send for {:.0?} at their own pace; refusals are 429 + Retry-After.",
        CLIENTS.len(),
        RUN
    );

    let quota = Quota::per_second(RATE).burst(BURST).expect("a valid quota");
    let limiter = KeyedRateLimiter::builder(quota)
        .max_keys(1_000)
        .build()
        .expect("a valid limiter");
    let layer = RateLimitLayer::keyed(
        limiter.clone(),
        HeaderKey::new("x-api-key").expect("a valid header name"),
    )
    .refuse_with(AsResponse::new());
    let app = Router::new()
        .route("/api", get(|| async { "ok" }))
        .layer(layer);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let started = Instant::now();
    let runs = CLIENTS.map(|(key, pace)| tokio::spawn(drive(addr, key, pace)));
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    server.abort();

    println!();
    println!(
        "   {:<8} {:>6} {:>5} {:>9} {:>9} {:>11} {:>8} {:>13}",
        "key", "pace/s", "sent", "admitted", "rejected", "admitted/s", "quota/s", "quota allows"
    );
    for r in &reports {
        let secs = r.elapsed.as_secs_f64();
        // GCRA's promise: over any span T, at most burst + rate x T.
        let allowed = f64::from(BURST) + f64::from(RATE) * secs;
        println!(
            "   {:<8} {:>6} {:>5} {:>9} {:>9} {:>11.1} {:>8} {:>13.0}",
            r.key,
            r.pace,
            r.sent,
            r.admitted,
            r.rejected,
            r.admitted as f64 / secs,
            RATE,
            allowed.floor()
        );
    }
    let snap = limiter.snapshot();
    println!();
    println!(
        "   limiter: {} admitted, {} rejected, {} keys tracked; {:.1?} in all.",
        snap.admitted, snap.rejected, snap.keys, elapsed
    );
    println!(
        "   Clients at or under the quota lose nothing; faster ones are held to about \
         {RATE}/s plus the first burst of {BURST}."
    );
}

struct Report {
    key: &'static str,
    pace: u32,
    sent: u64,
    admitted: u64,
    rejected: u64,
    elapsed: Duration,
}

/// Sends `pace` requests per second for [`RUN`], counting 200s and 429s.
async fn drive(addr: SocketAddr, key: &'static str, pace: u32) -> Report {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / pace);
    let total = u64::from(pace) * RUN.as_secs();
    let started = Instant::now();
    let (mut admitted, mut rejected) = (0, 0);
    for _ in 0..total {
        ticks.tick().await;
        let req = http::Request::get(format!("http://{addr}/api"))
            .header("x-api-key", key)
            .body(Empty::new())
            .expect("a valid request");
        match client.request(req).await.map(|r| r.status()) {
            Ok(StatusCode::OK) => admitted += 1,
            Ok(StatusCode::TOO_MANY_REQUESTS) => rejected += 1,
            other => panic!("unexpected answer for {key}: {other:?}"),
        }
    }
    Report {
        key,
        pace,
        sent: total,
        admitted,
        rejected,
        elapsed: started.elapsed(),
    }
}
