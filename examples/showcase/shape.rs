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

const QUOTA_PER_SECOND: u32 = 50;
const CALLS: usize = 100;

/// The stand-in API's own limiter: a GCRA allowing a jitter of two intervals.
struct Api {
    interval: Duration,
    tat: Mutex<Option<Instant>>,
    refused: AtomicUsize,
}

async fn endpoint(State(api): State<Arc<Api>>) -> StatusCode {
    let now = Instant::now();
    let mut tat = api.tat.lock().unwrap();
    let current = tat.unwrap_or(now).max(now);
    if current > now + api.interval * 2 {
        // Relaxed: a counter read after the calls complete.
        api.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::TOO_MANY_REQUESTS;
    }
    *tat = Some(current + api.interval);
    StatusCode::OK
}

async fn start_api() -> (String, Arc<Api>) {
    let api = Arc::new(Api {
        interval: Duration::from_secs(1) / QUOTA_PER_SECOND,
        tat: Mutex::new(None),
        refused: AtomicUsize::new(0),
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

pub(crate) async fn run() {
    println!();
    println!(
        "2. Shaping (tollgate-leaky): {CALLS} calls to an API allowing {QUOTA_PER_SECOND} req/s"
    );
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

    println!(
        "  {:<10} {:>6} {:>6} {:>10} {:>12}",
        "client", "200s", "429s", "elapsed", "rate"
    );
    println!(
        "  {:<10} {:>6} {:>6} {:>8.0}ms {:>12}",
        "unshaped",
        CALLS - unshaped.0,
        unshaped.0,
        unshaped.1.as_secs_f64() * 1000.0,
        "-"
    );
    println!(
        "  {:<10} {:>6} {:>6} {:>8.0}ms {:>8.1}/s   (quota {QUOTA_PER_SECOND}/s)",
        "shaped",
        ok,
        refused,
        elapsed.as_secs_f64() * 1000.0,
        rate
    );
    let snap = layer.snapshot();
    println!(
        "  shaper: admitted {}, rejected {}, queued {}",
        snap.admitted, snap.rejected, snap.queued
    );
}
