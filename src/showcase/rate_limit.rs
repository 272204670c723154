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

use serde::Serialize;

use crate::say;

/// The width of the chart's bins.
const BIN: Duration = Duration::from_millis(100);

/// What section 1 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RateLimitRun {
    /// The quota per key, per second, and its burst.
    pub rate: u32,
    /// The burst of the quota.
    pub burst: u32,
    /// The width of each bin, in milliseconds.
    pub bin_ms: u64,
    /// One per API key.
    pub keys: Vec<KeyRun>,
    /// The limiter's own counts at the end.
    pub limiter_admitted: u64,
    /// The limiter's own refusals at the end.
    pub limiter_rejected: u64,
}

/// One client of section 1.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRun {
    /// Its API key.
    pub key: &'static str,
    /// Requests per second it sends.
    pub pace: u32,
    /// Requests sent.
    pub sent: u64,
    /// 200s.
    pub admitted: u64,
    /// 429s.
    pub rejected: u64,
    /// `(admitted, rejected)` per bin of [`RateLimitRun::bin_ms`] from the section's start.
    pub bins: Vec<(u32, u32)>,
}

/// Per key: 20 requests per second, bursts of up to 5.
const RATE: u32 = 20;
const BURST: u32 = 5;
/// How long each client sends.
const RUN: Duration = Duration::from_secs(2);

/// (API key, requests per second it sends).
const CLIENTS: [(&str, u32); 4] = [("greedy", 100), ("eager", 40), ("steady", 20), ("calm", 5)];

pub(crate) async fn run() -> RateLimitRun {
    say!();
    say!("1. Rate limiting (tollgate-bucket + tollgate-http)");
    say!("   axum on loopback, keyed by `x-api-key`: {RATE}/s per key, burst {BURST};");
    say!(
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
    let runs = CLIENTS.map(|(key, pace)| tokio::spawn(drive(addr, key, pace, started)));
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    server.abort();

    say!();
    say!(
        "   {:<8} {:>6} {:>5} {:>9} {:>9} {:>11} {:>8} {:>13}",
        "key",
        "pace/s",
        "sent",
        "admitted",
        "rejected",
        "admitted/s",
        "quota/s",
        "quota allows"
    );
    for r in &reports {
        let secs = r.elapsed.as_secs_f64();
        // GCRA's promise: over any span T, at most burst + rate x T.
        let allowed = f64::from(BURST) + f64::from(RATE) * secs;
        say!(
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
    say!();
    say!(
        "   limiter: {} admitted, {} rejected, {} keys tracked; {:.1?} in all.",
        snap.admitted,
        snap.rejected,
        snap.keys,
        elapsed
    );
    say!(
        "   Clients at or under the quota lose nothing; faster ones are held to about \
         {RATE}/s plus the first burst of {BURST}."
    );
    RateLimitRun {
        rate: RATE,
        burst: BURST,
        bin_ms: BIN.as_millis() as u64,
        keys: reports
            .into_iter()
            .map(|r| KeyRun {
                key: r.key,
                pace: r.pace,
                sent: r.sent,
                admitted: r.admitted,
                rejected: r.rejected,
                bins: r.bins,
            })
            .collect(),
        limiter_admitted: snap.admitted,
        limiter_rejected: snap.rejected,
    }
}

struct Report {
    key: &'static str,
    pace: u32,
    sent: u64,
    admitted: u64,
    rejected: u64,
    elapsed: Duration,
    bins: Vec<(u32, u32)>,
}

/// Sends `pace` requests per second for [`RUN`], counting 200s and 429s, and each per
/// [`BIN`] after `section` (the section's start).
async fn drive(addr: SocketAddr, key: &'static str, pace: u32, section: Instant) -> Report {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / pace);
    let total = u64::from(pace) * RUN.as_secs();
    let started = Instant::now();
    let (mut admitted, mut rejected) = (0, 0);
    let mut bins: Vec<(u32, u32)> = Vec::new();
    for _ in 0..total {
        ticks.tick().await;
        let req = http::Request::get(format!("http://{addr}/api"))
            .header("x-api-key", key)
            .body(Empty::new())
            .expect("a valid request");
        let answer = client.request(req).await.map(|r| r.status());
        let bin = (section.elapsed().as_nanos() / BIN.as_nanos()) as usize;
        if bins.len() <= bin {
            bins.resize(bin + 1, (0, 0));
        }
        match answer {
            Ok(StatusCode::OK) => {
                admitted += 1;
                bins[bin].0 += 1;
            }
            Ok(StatusCode::TOO_MANY_REQUESTS) => {
                rejected += 1;
                bins[bin].1 += 1;
            }
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
        bins,
    }
}
