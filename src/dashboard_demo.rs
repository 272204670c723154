//! A small application serving the tollgate dashboard, and a bounded synthetic load to
//! drive it: shared by `examples/dashboard.rs` and `tests/dashboard_chromium.rs`.
//!
//! `/api` is rate limited (a token bucket named `api`), `/upstream` calls a dependency
//! that fails for the first half of every 4 s behind a breaker named `upstream`,
//! `/shaped` waits its turn in a shaper named `third-party`, and a drain counts every
//! request in flight.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::task::JoinHandle;
use tollgate_breaker::{Breaker, Outcome, Window};
use tollgate_bucket::{Quota, RateLimitLayer, RateLimiter};
use tollgate_drain::{Drain, DrainLayer};
use tollgate_http::dashboard::Dashboard;
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::AsResponse;
use tollgate_leaky::Shaper;

/// The running application: its address and the cores the dashboard shows.
#[derive(Debug)]
pub struct Demo {
    /// Where it listens, on loopback.
    pub addr: SocketAddr,
    /// `/api`'s limiter.
    pub limiter: RateLimiter,
    /// `/upstream`'s breaker.
    pub breaker: Breaker,
    /// `/shaped`'s shaper.
    pub shaper: Shaper,
    /// Counts every request.
    pub drain: Drain,
    /// What `/tollgate` shows.
    pub dashboard: Dashboard,
    server: JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the application on an ephemeral loopback port, with `/metrics` when a
/// Prometheus handle is given.
pub async fn start(prometheus: Option<PrometheusHandle>) -> Demo {
    let limiter = RateLimiter::builder(Quota::per_second(20).burst(5).expect("a valid quota"))
        .name("api")
        .build()
        .expect("a valid limiter");
    let breaker = Breaker::builder()
        .name("upstream")
        .consecutive_failures(3)
        .window(Window::Count(20))
        .minimum_calls(5)
        .open_wait(Duration::from_millis(500))
        .half_open(1, 2)
        .build()
        .expect("a valid breaker");
    let shaper = Shaper::builder(Quota::per_second(10).build().expect("a valid quota"))
        .name("third-party")
        .max_queue(20)
        .max_wait(Duration::from_secs(1))
        .build()
        .expect("a valid shaper");
    let drain = Drain::builder().build().expect("a valid drain");

    let mut dashboard = Dashboard::new()
        .source("api", limiter.clone())
        .source("upstream", breaker.clone())
        .source("third-party", shaper.clone())
        .source("drain", drain.clone());
    if let Some(handle) = prometheus {
        dashboard = dashboard.prometheus(handle);
    }

    let born = Instant::now();
    let upstream = {
        let breaker = breaker.clone();
        move || async move {
            let Ok(permit) = breaker.try_acquire() else {
                return StatusCode::SERVICE_UNAVAILABLE;
            };
            // The dependency is down for the first 2 s of every 4 s.
            if born.elapsed().as_millis() % 4_000 < 2_000 {
                permit.record(Outcome::Failure);
                StatusCode::BAD_GATEWAY
            } else {
                permit.record(Outcome::Success);
                StatusCode::OK
            }
        }
    };
    let shaped = {
        let shaper = shaper.clone();
        move || async move {
            match shaper.acquire(1).await {
                Ok(()) => StatusCode::OK,
                Err(_) => StatusCode::TOO_MANY_REQUESTS,
            }
        }
    };
    let api = Router::new()
        .route("/api", get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter.clone()).refuse_with(AsResponse::new()));
    let app = Router::new()
        .merge(api)
        .route("/upstream", get(upstream))
        .route("/shaped", get(shaped))
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
        )
        .merge(dashboard.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Demo {
        addr,
        limiter,
        breaker,
        shaper,
        drain,
        dashboard,
        server,
    }
}

/// What a load sent and how it was answered.
#[derive(Debug, Default)]
pub struct Sent {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Answered `200`.
    pub ok: AtomicU64,
}

/// Sends 40 requests per second to `/api`, 20 to `/upstream` and 15 to `/shaped` for
/// `run`, then stops.
pub async fn load(addr: SocketAddr, run: Duration) -> Arc<Sent> {
    let sent = Arc::new(Sent::default());
    let paths = [("/api", 40), ("/upstream", 20), ("/shaped", 15)];
    let tasks: Vec<_> = paths
        .into_iter()
        .map(|(path, pace)| tokio::spawn(drive(addr, path, pace, run, sent.clone())))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    sent
}

async fn drive(addr: SocketAddr, path: &'static str, pace: u32, run: Duration, sent: Arc<Sent>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / pace);
    let total = (run.as_secs_f64() * f64::from(pace)) as u64;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..total {
        ticks.tick().await;
        let (client, sent) = (client.clone(), sent.clone());
        calls.spawn(async move {
            let req = http::Request::get(format!("http://{addr}{path}"))
                .body(Empty::new())
                .expect("a valid request");
            sent.requests.fetch_add(1, Ordering::Relaxed);
            if let Ok(res) = client.request(req).await {
                if res.status() == StatusCode::OK {
                    sent.ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while calls.join_next().await.is_some() {}
}
