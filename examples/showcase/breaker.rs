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
use tollgate_core::{Rejection, Timestamp};
use tollgate_http::breaker::HttpClassifier;
use tower::{ServiceBuilder, ServiceExt};

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

pub(crate) async fn run() {
    println!();
    println!("3. Circuit breaking (tollgate-breaker): the upstream fails from 0.5 s to 2.5 s,");
    println!("   one call every 5 ms");

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
    let events: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();

    // Record every transition as it happens.
    let mut transitions = breaker.subscribe();
    let log = Arc::clone(&events);
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
            log.lock()
                .expect("log")
                .push((t.at - Timestamp::ZERO, line));
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
    while start.elapsed() < END_AT {
        tick.tick().await;
        let now = start.elapsed();
        if !down && now >= DOWN_AT && now < UP_AT {
            down = true;
            upstream.down.store(true, Ordering::Relaxed);
            events
                .lock()
                .expect("log")
                .push((now, "upstream goes down (500s)".into()));
        } else if down && now >= UP_AT {
            down = false;
            upstream.down.store(false, Ordering::Relaxed);
            events
                .lock()
                .expect("log")
                .push((now, "upstream is back".into()));
        }
        calls += 1;
        let req = http::Request::get(&url)
            .body(Empty::new())
            .expect("request");
        match svc.clone().oneshot(req).await {
            Ok(response) => {
                let success = response.status().is_success();
                let _ = response.into_body().collect().await;
                if success {
                    ok += 1
                } else {
                    failed += 1
                }
            }
            Err(e) if e.is::<Rejection>() => refused += 1,
            Err(_) => failed += 1,
        }
    }
    watcher.abort();
    server.abort();

    let mut events = events.lock().expect("log").clone();
    events.sort_by_key(|(at, _)| *at);
    for (at, what) in &events {
        println!("  t = {:>5.2} s  {what}", at.as_secs_f64());
    }
    let snapshot = breaker.snapshot();
    let down_calls = ((UP_AT - DOWN_AT).as_millis() / CALL_EVERY.as_millis()) as u32;
    println!();
    println!("  calls made by the client          {calls:>5}");
    println!("  answered by the upstream: ok      {ok:>5}");
    println!("  answered by the upstream: failed  {failed:>5}");
    println!("  refused at once by the breaker    {refused:>5}   <- calls saved the upstream");
    println!(
        "  upstream hit while down           {:>5}   (of about {down_calls} calls made in that time)",
        upstream.hits_while_down.load(Ordering::Relaxed)
    );
    println!(
        "  admitted / refused by the breaker {:>5} / {}",
        snapshot.admitted, snapshot.rejected
    );
    println!(
        "  final state                       {:>5}   after {} transitions",
        snapshot.state.to_string(),
        snapshot.transitions
    );
}
