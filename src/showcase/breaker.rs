//! Circuit breaker: a flaky upstream goes down and comes back. The client calls it
//! through `tollgate_breaker::BreakerLayer` with `tollgate_http`'s `HttpClassifier`; the report lists the breaker's
//! transitions with timestamps and how many calls it kept off the failing upstream.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_breaker::{Breaker, BreakerLayer, Window};
use tollgate_core::{Clock, Rejection};
use tollgate_http::breaker::HttpClassifier;
use tower::{ServiceBuilder, ServiceExt};

use serde::Serialize;

use crate::say;

/// The width of the chart's bins.
const BIN: Duration = Duration::from_millis(100);

/// What section 3 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerRun {
    /// When the upstream went down and came back, in ms from the section's start.
    pub outage_ms: (u64, u64),
    /// When the client stopped, in ms.
    pub end_ms: u64,
    /// Every transition: `(ms, from, to)`.
    pub transitions: Vec<(u64, String, String)>,
    /// The width of each bin, in milliseconds.
    pub bin_ms: u64,
    /// `(ok, failed, refused by the breaker)` per bin.
    pub bins: Vec<(u32, u32, u32)>,
    /// Calls the client made.
    pub calls: u32,
    /// Answered with a success.
    pub ok: u32,
    /// Failed (answered 5xx, or errored).
    pub failed: u32,
    /// Refused at once by the breaker.
    pub refused: u32,
    /// The state at the end.
    pub final_state: String,
}

#[derive(Clone, Default)]
struct Upstream {
    down: Arc<AtomicBool>,
    hits: Arc<AtomicU32>,
    hits_while_down: Arc<AtomicU32>,
}

async fn handler(AxumState(up): AxumState<Upstream>) -> StatusCode {
    up.hits.fetch_add(1, Ordering::Relaxed);
    if up.down.load(Ordering::Relaxed) {
        up.hits_while_down.fetch_add(1, Ordering::Relaxed);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

const CALL_EVERY: Duration = Duration::from_millis(5);
const DOWN_AT: Duration = Duration::from_millis(500);
const UP_AT: Duration = Duration::from_millis(2500);
const END_AT: Duration = Duration::from_millis(3500);

pub(crate) async fn run() -> BreakerRun {
    say!();
    say!("3. Circuit breaking (tollgate-breaker): the upstream fails from 0.5 s to 2.5 s,");
    say!("   one call every 5 ms");

    let upstream = Upstream::default();
    let app = Router::new()
        .route("/", get(handler))
        .with_state(upstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let breaker = Breaker::builder()
        .name("flaky-upstream")
        .consecutive_failures(5)
        .failure_rate(50.0)
        .window(Window::Time {
            length: Duration::from_secs(1),
            buckets: 10,
        })
        .minimum_calls(10)
        .open_wait(Duration::from_millis(200))
        .backoff(2.0, Duration::from_millis(800))
        .half_open(1, 3)
        .build()
        .expect("valid config");
    let start = Instant::now();
    // The breaker's clock at the section's start: transitions are timed from here.
    let zero = breaker.clock().now();
    let events: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();

    // Record every transition as it happens.
    let mut transitions = breaker.subscribe();
    let log = Arc::clone(&events);
    let recorded: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    let moves = Arc::clone(&recorded);
    let watcher = tokio::spawn(async move {
        while transitions.changed().await.is_ok() {
            let t = *transitions.borrow_and_update();
            let wait = if t.open_for.is_zero() {
                String::new()
            } else {
                format!(" (probe in {} ms)", t.open_for.as_millis())
            };
            let line = format!(
                "{:<9} -> {:<9}  {}{wait}",
                t.from.to_string(),
                t.to.to_string(),
                t.reason
            );
            let at = t.at - zero;
            moves.lock().expect("transitions").push((
                at.as_millis() as u64,
                t.from.to_string(),
                t.to.to_string(),
            ));
            log.lock().expect("log").push((at, line));
        }
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()).classifier(HttpClassifier::new()))
        .timeout(Duration::from_millis(500))
        .service(client);

    let (mut calls, mut refused, mut ok, mut failed) = (0u32, 0u32, 0u32, 0u32);
    let mut tick = tokio::time::interval(CALL_EVERY);
    let mut down = false;
    let mut outage = (0, 0);
    let mut bins: Vec<(u32, u32, u32)> = Vec::new();
    while start.elapsed() < END_AT {
        tick.tick().await;
        let now = start.elapsed();
        if !down && now >= DOWN_AT && now < UP_AT {
            down = true;
            upstream.down.store(true, Ordering::Relaxed);
            outage.0 = now.as_millis() as u64;
            events
                .lock()
                .expect("log")
                .push((now, "upstream goes down (500s)".into()));
        } else if down && now >= UP_AT {
            down = false;
            upstream.down.store(false, Ordering::Relaxed);
            outage.1 = now.as_millis() as u64;
            events
                .lock()
                .expect("log")
                .push((now, "upstream is back".into()));
        }
        calls += 1;
        let req = http::Request::get(&url)
            .body(Empty::new())
            .expect("request");
        let bin = (now.as_nanos() / BIN.as_nanos()) as usize;
        if bins.len() <= bin {
            bins.resize(bin + 1, (0, 0, 0));
        }
        match svc.clone().oneshot(req).await {
            Ok(response) => {
                let success = response.status().is_success();
                let _ = response.into_body().collect().await;
                if success {
                    ok += 1;
                    bins[bin].0 += 1;
                } else {
                    failed += 1;
                    bins[bin].1 += 1;
                }
            }
            Err(e) if e.is::<Rejection>() => {
                refused += 1;
                bins[bin].2 += 1;
            }
            Err(_) => {
                failed += 1;
                bins[bin].1 += 1;
            }
        }
    }
    let end_ms = start.elapsed().as_millis() as u64;
    watcher.abort();
    server.abort();

    let mut events = events.lock().expect("log").clone();
    events.sort_by_key(|(at, _)| *at);
    for (at, what) in &events {
        say!("  t = {:>5.2} s  {what}", at.as_secs_f64());
    }
    let snapshot = breaker.snapshot();
    let down_calls = ((UP_AT - DOWN_AT).as_millis() / CALL_EVERY.as_millis()) as u32;
    say!();
    say!("  calls made by the client          {calls:>5}");
    say!("  answered by the upstream: ok      {ok:>5}");
    say!("  answered by the upstream: failed  {failed:>5}");
    say!("  refused at once by the breaker    {refused:>5}   <- calls saved the upstream");
    say!(
        "  upstream hit while down           {:>5}   (of about {down_calls} calls made in that time)",
        upstream.hits_while_down.load(Ordering::Relaxed)
    );
    say!(
        "  admitted / refused by the breaker {:>5} / {}",
        snapshot.admitted,
        snapshot.rejected
    );
    say!(
        "  final state                       {:>5}   after {} transitions",
        snapshot.state.to_string(),
        snapshot.transitions
    );
    let transitions = recorded.lock().expect("transitions").clone();
    BreakerRun {
        outage_ms: outage,
        end_ms,
        transitions,
        bin_ms: BIN.as_millis() as u64,
        bins,
        calls,
        ok,
        failed,
        refused,
        final_state: snapshot.state.to_string(),
    }
}
