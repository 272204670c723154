//! The Redis limiter behind the same `RateLimitLayer` and HTTP face as the local one:
//! switching is a builder change. Two axum instances on loopback share one quota through
//! a real redis-server; wait mode matches the local limiter's reservations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_bucket::{Decide, Decision, KeyedRateLimiter, RateLimitLayer};
use tollgate_core::{ManualClock, Quota, Reason, Timestamp};
use tollgate_http::rate_limit::HeaderKey;
use tollgate_http::AsResponse;
use tollgate_redis::RedisRateLimiter;
use tollgate_workspace::redis_server::RedisServer;

/// A timeout no loaded CI machine reaches unless Redis is really gone: the tests that
/// are not about failures must never fail over (a failover decides locally).
const PATIENT: Duration = Duration::from_secs(2);

async fn connect(server: &RedisServer) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(server.url()).unwrap();
    redis::aio::ConnectionManager::new(client).await.unwrap()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_axum_instances_share_one_quota_per_api_key() {
    let server = RedisServer::start();
    let quota = Quota::per_hour(3).build().unwrap();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        // The only change from a local limiter: `RedisRateLimiter::builder` instead of
        // `KeyedRateLimiter::builder`.
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(PATIENT)
            .prefix("api")
            .unwrap()
            .build()
            .unwrap();
        let app = Router::new().route("/api", get(|| async { "ok" })).layer(
            RateLimitLayer::keyed(limiter, HeaderKey::new("x-api-key").unwrap())
                .refuse_with(AsResponse::new()),
        );
        addrs.push(serve(app).await);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |addr: SocketAddr, key: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut req = Request::get(format!("http://{addr}/api"));
            if let Some(key) = key {
                req = req.header("x-api-key", key);
            }
            let resp = tokio::time::timeout(
                Duration::from_secs(5),
                client.request(req.body(Empty::new()).unwrap()),
            )
            .await
            .expect("answered in time")
            .unwrap();
            (
                resp.status(),
                resp.headers().get("retry-after").cloned(),
                resp.headers().get("ratelimit-policy").cloned(),
            )
        }
    };
    // Alternate instances: the quota of 3 per key is shared, not 3 per instance.
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(get(addrs[i % 2], Some("alice")).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (status, retry_after, policy) = get(addrs[1], Some("alice")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!(
        (1_190..=1_200).contains(&retry),
        "a cell every 20 min: {retry}"
    );
    assert_eq!(policy.unwrap(), "\"default\";q=3;w=3600");
    // Another key has its own bucket; no key is a 400, as with the local limiter.
    assert_eq!(get(addrs[0], Some("bob")).await.0, StatusCode::OK);
    assert_eq!(get(addrs[0], None).await.0, StatusCode::BAD_REQUEST);
}

/// Wait mode through `Decide`: the same admissions, waits and refusals as the local
/// limiter's reservations, on the caller's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_mode_matches_the_local_limiter() {
    let server = RedisServer::start();
    let quota = Quota::per_second(50).burst(2).unwrap(); // a cell every 20 ms
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1));
    let remote = RedisRateLimiter::builder(quota, connect(&server).await)
        .timeout(PATIENT)
        .clock(clock.clone())
        .client_time()
        .prefix("wait")
        .unwrap()
        .build()
        .unwrap();
    let local = KeyedRateLimiter::builder(quota)
        .clock(clock.clone())
        .build()
        .unwrap();
    let max_wait = Duration::from_millis(50);
    let now: Timestamp = tollgate_core::Clock::now(&clock);
    for i in 0..6 {
        let key = "k".to_string();
        let expected = Decide::decide(&local, &key, now, Some(max_wait));
        let started = Instant::now();
        // A refusal Redis already made is known locally and immediate; the rest waits
        // for Redis.
        let got = match Decide::decide(&remote, &key, now, Some(max_wait)) {
            Decision::Later(later) => later.await,
            immediate => immediate,
        };
        let took = started.elapsed();
        match (expected, got) {
            (Decision::Wait(reservation), Decision::Admit(_)) => {
                // Redis reserved the same slot, and the future resolved once it was due.
                assert!(
                    took >= reservation.wait(),
                    "request {i}: {took:?} < {:?}",
                    reservation.wait()
                );
                reservation.commit();
            }
            (Decision::Reject(l), Decision::Reject(r)) => {
                assert_eq!(l.reason(), Reason::WaitTooLong, "request {i}");
                assert_eq!(
                    (r.reason(), r.retry_after()),
                    (l.reason(), l.retry_after()),
                    "request {i}"
                );
            }
            (expected, got) => panic!("request {i}: local {expected:?}, redis {got:?}"),
        }
    }
}
