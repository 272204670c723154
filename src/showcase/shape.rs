//! Shaping: a client calls a third-party API that allows 50 requests per second and
//! answers 429 beyond that. Unshaped, a burst is mostly refused; behind
//! `tollgate_leaky::ShapeLayer` every call gets through at the quota's pace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_core::Quota;
use tollgate_http::shape::HttpFeedback;
use tollgate_leaky::{ShapeLayer, Shaper};
use tower::{Layer, ServiceExt};

use serde::Serialize;

use crate::say;

/// The width of the chart's bins.
const BIN: Duration = Duration::from_millis(50);

/// What section 2 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeRun {
    /// The third party's quota, per second.
    pub quota_per_second: u32,
    /// Calls each client makes.
    pub calls: usize,
    /// The width of each bin, in milliseconds.
    pub bin_ms: u64,
    /// Every call at once.
    pub unshaped: ClientRun,
    /// The same burst behind the shaper.
    pub shaped: ClientRun,
}

/// One client of section 2, as its third party saw it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRun {
    /// 200s the client got.
    pub ok: usize,
    /// 429s the API answered.
    pub refused: usize,
    /// From the first call to the last answer, in milliseconds.
    pub elapsed_ms: u64,
    /// `(200s, 429s)` the API answered per bin of [`ShapeRun::bin_ms`].
    pub bins: Vec<(u32, u32)>,
}

const QUOTA_PER_SECOND: u32 = 50;
const CALLS: usize = 100;

/// The stand-in API's own limiter: a GCRA allowing a jitter of two intervals.
struct Api {
    interval: Duration,
    tat: Mutex<Option<Instant>>,
    refused: AtomicUsize,
    /// When the API started, and `(200s, 429s)` per [`BIN`] since.
    started: Instant,
    bins: Mutex<Vec<(u32, u32)>>,
}

impl Api {
    fn record(&self, now: Instant, ok: bool) {
        let bin = (now.duration_since(self.started).as_nanos() / BIN.as_nanos()) as usize;
        let mut bins = self.bins.lock().expect("bins");
        if bins.len() <= bin {
            bins.resize(bin + 1, (0, 0));
        }
        if ok {
            bins[bin].0 += 1;
        } else {
            bins[bin].1 += 1;
        }
    }
}

async fn endpoint(State(api): State<Arc<Api>>) -> StatusCode {
    let now = Instant::now();
    let mut tat = api.tat.lock().unwrap();
    let current = tat.unwrap_or(now).max(now);
    if current > now + api.interval * 2 {
        // Relaxed: a counter read after the calls complete.
        api.refused.fetch_add(1, Ordering::Relaxed);
        api.record(now, false);
        return StatusCode::TOO_MANY_REQUESTS;
    }
    *tat = Some(current + api.interval);
    api.record(now, true);
    StatusCode::OK
}

async fn start_api() -> (String, Arc<Api>) {
    let api = Arc::new(Api {
        interval: Duration::from_secs(1) / QUOTA_PER_SECOND,
        tat: Mutex::new(None),
        refused: AtomicUsize::new(0),
        started: Instant::now(),
        bins: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new()
        .route("/", get(endpoint))
        .with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/"), api)
}

fn request(uri: &str) -> http::Request<Empty<bytes::Bytes>> {
    http::Request::get(uri)
        .body(Empty::new())
        .expect("valid request")
}

pub(crate) async fn run() -> ShapeRun {
    say!();
    say!("2. Shaping (tollgate-leaky): {CALLS} calls to an API allowing {QUOTA_PER_SECOND} req/s");
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();

    // Unshaped: every call at once.
    let (uri, api) = start_api().await;
    let start = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(client.clone().oneshot(request(&uri))))
        .collect();
    for call in calls {
        let _ = call.await;
    }
    let unshaped = (api.refused.load(Ordering::Relaxed), start.elapsed());
    let unshaped_bins = api.bins.lock().expect("bins").clone();

    // Shaped: the same burst through the shaper, listening to 429 + Retry-After.
    let (uri, api) = start_api().await;
    let quota = Quota::per_second(QUOTA_PER_SECOND)
        .burst(2)
        .expect("valid quota");
    let shaper = Shaper::builder(quota)
        .max_queue(CALLS)
        .max_wait(Duration::from_secs(5))
        .build()
        .expect("valid shaper");
    let layer = ShapeLayer::new(shaper).feedback(HttpFeedback);
    let shaped = layer.layer(client);
    let start = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(shaped.clone().oneshot(request(&uri))))
        .collect();
    let mut ok = 0;
    for call in calls {
        if matches!(call.await, Ok(Ok(r)) if r.status() == StatusCode::OK) {
            ok += 1;
        }
    }
    let elapsed = start.elapsed();
    let refused = api.refused.load(Ordering::Relaxed);
    // The first two go together (the burst of 2), then one per interval.
    let rate = (CALLS - 2) as f64 / elapsed.as_secs_f64();

    say!(
        "  {:<10} {:>6} {:>6} {:>10} {:>12}",
        "client",
        "200s",
        "429s",
        "elapsed",
        "rate"
    );
    say!(
        "  {:<10} {:>6} {:>6} {:>8.0}ms {:>12}",
        "unshaped",
        CALLS - unshaped.0,
        unshaped.0,
        unshaped.1.as_secs_f64() * 1000.0,
        "-"
    );
    say!(
        "  {:<10} {:>6} {:>6} {:>8.0}ms {:>8.1}/s   (quota {QUOTA_PER_SECOND}/s)",
        "shaped",
        ok,
        refused,
        elapsed.as_secs_f64() * 1000.0,
        rate
    );
    let snap = layer.snapshot();
    say!(
        "  shaper: admitted {}, rejected {}, queued {}",
        snap.admitted,
        snap.rejected,
        snap.queued
    );
    let shaped_bins = api.bins.lock().expect("bins").clone();
    ShapeRun {
        quota_per_second: QUOTA_PER_SECOND,
        calls: CALLS,
        bin_ms: BIN.as_millis() as u64,
        unshaped: ClientRun {
            ok: CALLS - unshaped.0,
            refused: unshaped.0,
            elapsed_ms: unshaped.1.as_millis() as u64,
            bins: unshaped_bins,
        },
        shaped: ClientRun {
            ok,
            refused,
            elapsed_ms: elapsed.as_millis() as u64,
            bins: shaped_bins,
        },
    }
}
