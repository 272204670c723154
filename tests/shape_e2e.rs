//! The leaky-bucket shaper end to end over loopback: a hyper client behind
//! `tollgate_leaky::ShapeLayer` calls a real axum server that stands in for a
//! third-party API enforcing its quota with 429s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_core::Quota;
use tollgate_http::shape::HttpFeedback;
use tollgate_leaky::{ShapeLayer, Shaper};
use tower::{Layer, ServiceExt};

/// The stand-in API's quota: a GCRA of its own (no tollgate code), `interval` apart
/// with a small tolerance for network jitter.
struct ApiQuota {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<Option<Instant>>,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    arrivals: Mutex<Vec<(Instant, u16)>>,
    /// Answer 429 + `Retry-After: 1` to this request number (1-based), once.
    refuse_nth: Option<usize>,
}

impl ApiQuota {
    fn new(per_second: u32, burst: u32, refuse_nth: Option<usize>) -> Arc<Self> {
        let interval = Duration::from_secs(1) / per_second;
        Arc::new(Self {
            interval,
            tolerance: interval * (burst - 1),
            tat: Mutex::new(None),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            arrivals: Mutex::new(Vec::new()),
            refuse_nth,
        })
    }

    fn check(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut tat = self.tat.lock().unwrap();
        let current = tat.unwrap_or(now).max(now);
        if current > now + self.tolerance {
            return Err(current - now - self.tolerance);
        }
        *tat = Some(current + self.interval);
        Ok(())
    }
}

async fn api(State(quota): State<Arc<ApiQuota>>) -> (StatusCode, HeaderMap, &'static str) {
    let n = {
        let mut arrivals = quota.arrivals.lock().unwrap();
        arrivals.push((Instant::now(), 0));
        arrivals.len()
    };
    let mut headers = HeaderMap::new();
    let status = if quota.refuse_nth == Some(n) {
        headers.insert("retry-after", "1".parse().unwrap());
        StatusCode::TOO_MANY_REQUESTS
    } else {
        match quota.check() {
            Ok(()) => StatusCode::OK,
            Err(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                headers.insert("retry-after", secs.into());
                StatusCode::TOO_MANY_REQUESTS
            }
        }
    };
    let counter = if status == StatusCode::OK {
        &quota.accepted
    } else {
        &quota.refused
    };
    // Relaxed: test counters, read after every call has completed.
    counter.fetch_add(1, Ordering::Relaxed);
    quota.arrivals.lock().unwrap()[n - 1].1 = status.as_u16();
    (status, headers, "ok")
}

async fn serve(quota: Arc<ApiQuota>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/", get(api)).with_state(quota);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

fn request(uri: &str) -> http::Request<Empty<bytes::Bytes>> {
    http::Request::get(uri).body(Empty::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaped_client_gets_no_429_and_keeps_the_schedule() {
    // 200 calls against 200 req/s: one second of schedule, scaled from 10 req/s x 20 s.
    const CALLS: usize = 200;
    let quota = ApiQuota::new(200, 4, None);
    let uri = serve(quota.clone()).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();

    // The control: unshaped, the same burst is refused.
    let control = ApiQuota::new(200, 4, None);
    let control_uri = serve(control.clone()).await;
    let burst: Vec<_> = (0..50)
        .map(|_| tokio::spawn(client.clone().oneshot(request(&control_uri))))
        .collect();
    for call in burst {
        call.await.unwrap().unwrap();
    }
    assert!(
        control.refused.load(Ordering::Relaxed) > 0,
        "the stand-in enforces its quota"
    );

    // A burst of 2 absorbs tokio's 1 ms timer ticks (see the crate docs).
    let shaper = Shaper::builder(Quota::per_second(200).burst(2).unwrap())
        .max_queue(CALLS)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let shaped = ShapeLayer::new(shaper).feedback(HttpFeedback).layer(client);
    let start = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(shaped.clone().oneshot(request(&uri))))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    let elapsed = start.elapsed();

    assert_eq!(quota.refused.load(Ordering::Relaxed), 0, "zero 429s");
    assert_eq!(quota.accepted.load(Ordering::Relaxed), CALLS);
    // Two at once, then one every 5 ms: the last is released at 990 ms.
    let schedule = Duration::from_millis(5) * (CALLS as u32 - 2);
    let arrivals = quota.arrivals.lock().unwrap();
    let span = arrivals.last().unwrap().0 - arrivals[0].0;
    println!("schedule {schedule:?}, arrivals spanned {span:?}, all answered in {elapsed:?}");
    assert!(
        span >= schedule - Duration::from_millis(5),
        "{span:?} is faster than the schedule"
    );
    assert!(
        span <= schedule.mul_f64(1.05),
        "{span:?} is more than 5% over the {schedule:?} schedule"
    );
    // Plus the last call's round trip.
    assert!(elapsed <= schedule.mul_f64(1.10), "{elapsed:?}");
    assert_eq!(shaped.snapshot().admitted, CALLS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_backs_off_exactly_as_the_server_says() {
    // 20 req/s; the 5th call is answered 429 + Retry-After: 1.
    let quota = ApiQuota::new(20, 2, Some(5));
    let uri = serve(quota.clone()).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let shaper = Shaper::builder(Quota::per_second(20).burst(1).unwrap())
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let shaped = ShapeLayer::new(shaper).feedback(HttpFeedback).layer(client);
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(shaped.clone().oneshot(request(&uri))))
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap().unwrap().status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1);

    let arrivals = quota.arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 10);
    assert_eq!(arrivals[4].1, 429);
    let gap = arrivals[5].0 - arrivals[4].0;
    // The pause starts when the client reads the 429, so the gap is the server's
    // second plus one round trip, never less.
    assert!(gap >= Duration::from_secs(1), "backed off only {gap:?}");
    assert!(
        gap <= Duration::from_millis(1060),
        "backed off {gap:?}, longer than told"
    );
    // Then the configured pace again, with no burst after the pause.
    for w in arrivals[5..].windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_millis(45),
            "{:?}",
            w[1].0 - w[0].0
        );
    }
    assert_eq!(quota.refused.load(Ordering::Relaxed), 1);
}
