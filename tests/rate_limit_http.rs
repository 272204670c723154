//! End to end over loopback: a real axum server with the keyed rate limit, a real hyper
//! client. The limiter runs on a `ManualClock` that only the test moves, so every count
//! is exact however slow the machine is.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::future::join_all;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer};
use tollgate_core::ManualClock;
use tollgate_http::rate_limit::{AdmittedHeaders, ForwardedIp, HeaderKey};
use tollgate_http::AsResponse;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Every test finishes well inside this, or fails.
const BOUND: Duration = Duration::from_secs(20);

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One response, reduced to what the tests check.
#[derive(Debug)]
struct Seen {
    status: StatusCode,
    retry_after: Option<String>,
    policy: Option<String>,
    limit: Option<String>,
}

async fn get_with(client: &HttpClient, addr: SocketAddr, headers: &[(&str, &str)]) -> Seen {
    let mut req = Request::get(format!("http://{addr}/api"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Seen {
        status: resp.status(),
        retry_after: header("retry-after"),
        policy: header("ratelimit-policy"),
        limit: header("ratelimit"),
    }
}

/// `n` concurrent requests carrying `headers`.
async fn burst(
    client: &HttpClient,
    addr: SocketAddr,
    n: usize,
    headers: &[(&str, &str)],
) -> Vec<Seen> {
    join_all((0..n).map(|_| get_with(client, addr, headers))).await
}

fn count(seen: &[Seen], status: StatusCode) -> usize {
    seen.iter().filter(|s| s.status == status).count()
}

#[tokio::test]
async fn keyed_by_api_key_exact_counts_headers_and_isolation() {
    tokio::time::timeout(BOUND, async {
        let clock = ManualClock::new();
        // 10 per second, burst 5: one cell every 100 ms.
        let limiter = KeyedRateLimiter::builder(Quota::per_second(10).burst(5).unwrap())
            .name("per-key")
            .max_keys(1_000)
            .clock(clock.clone())
            .build()
            .unwrap();
        let layer = RateLimitLayer::keyed(limiter.clone(), HeaderKey::new("x-api-key").unwrap())
            .refuse_with(AdmittedHeaders::new());
        let addr = serve(
            Router::new()
                .route("/api", get(|| async { "ok" }))
                .layer(layer),
        )
        .await;
        let client = client();

        // Key A bursts 12: exactly the burst of 5 gets through.
        let a = burst(&client, addr, 12, &[("x-api-key", "key-a")]).await;
        assert_eq!(count(&a, StatusCode::OK), 5, "{a:#?}");
        assert_eq!(count(&a, StatusCode::TOO_MANY_REQUESTS), 7, "{a:#?}");
        // Admitted responses count down what is left: r = 4, 3, 2, 1, 0 in some order,
        // and the bucket is full again within a second (t=1, rounded up).
        let mut left: Vec<String> = a
            .iter()
            .filter(|s| s.status == StatusCode::OK)
            .map(|s| s.limit.clone().unwrap())
            .collect();
        left.sort();
        let want: Vec<String> = (0..5).map(|r| format!("\"per-key\";r={r};t=1")).collect();
        assert_eq!(left, want);
        for s in &a {
            assert_eq!(s.policy.as_deref(), Some("\"per-key\";q=10;w=1"));
            if s.status == StatusCode::TOO_MANY_REQUESTS {
                // The next cell is 100 ms away: rounded up to one second.
                assert_eq!(s.retry_after.as_deref(), Some("1"));
                assert_eq!(s.limit.as_deref(), Some("\"per-key\";r=0;t=1"));
            } else {
                assert_eq!(s.retry_after, None);
            }
        }

        // Key B is untouched by A's flood.
        let b = burst(&client, addr, 7, &[("x-api-key", "key-b")]).await;
        assert_eq!(count(&b, StatusCode::OK), 5, "{b:#?}");
        assert_eq!(count(&b, StatusCode::TOO_MANY_REQUESTS), 2, "{b:#?}");

        // 250 ms later each key has earned exactly two cells.
        clock.advance(Duration::from_millis(250));
        let a = burst(&client, addr, 4, &[("x-api-key", "key-a")]).await;
        let b = burst(&client, addr, 4, &[("x-api-key", "key-b")]).await;
        assert_eq!(
            (count(&a, StatusCode::OK), count(&b, StatusCode::OK)),
            (2, 2)
        );

        // No key: 400, and no bucket is made for it.
        let none = burst(&client, addr, 3, &[]).await;
        assert_eq!(count(&none, StatusCode::BAD_REQUEST), 3, "{none:#?}");
        assert_eq!(limiter.len(), 2);
        let snap = limiter.snapshot();
        assert_eq!((snap.admitted, snap.rejected, snap.keys), (14, 13, 2));
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn spoofed_x_forwarded_for_neither_picks_a_bucket_nor_grows_the_table() {
    tokio::time::timeout(BOUND, async {
        let clock = ManualClock::new();
        let limiter = KeyedRateLimiter::builder(Quota::per_minute(3).build().unwrap())
            .max_keys(64)
            .shards(1) // the bound holds per shard: one shard makes it exact
            .clock(clock.clone())
            .build()
            .unwrap();
        // Only the load balancer's network is trusted; the test client (127.0.0.1) is
        // an ordinary internet client.
        let layer = RateLimitLayer::keyed(
            limiter.clone(),
            ForwardedIp::trusting(["10.0.0.0/8"]).unwrap(),
        )
        .refuse_with(AsResponse::new());
        let addr = serve(
            Router::new()
                .route("/api", get(|| async { "ok" }))
                .layer(layer),
        )
        .await;
        let client = client();

        let mut statuses = Vec::new();
        for i in 0..40 {
            let spoof = format!("198.51.{}.{}, 10.0.0.1", i / 250, i % 250);
            let seen = get_with(&client, addr, &[("x-forwarded-for", &spoof)]).await;
            statuses.push(seen.status);
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(
            ok, 3,
            "a fresh address per request bought no fresh bucket: {statuses:?}"
        );
        assert_eq!(limiter.len(), 1, "every request was keyed by the real peer");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_reported_client_is_the_key() {
    tokio::time::timeout(BOUND, async {
        let clock = ManualClock::new();
        let limiter = KeyedRateLimiter::builder(Quota::per_minute(2).build().unwrap())
            .max_keys(64)
            .shards(1) // the bound holds per shard: one shard makes it exact
            .clock(clock.clone())
            .build()
            .unwrap();
        // The test client plays the reverse proxy.
        let layer = RateLimitLayer::keyed(
            limiter.clone(),
            ForwardedIp::trusting(["127.0.0.1"]).unwrap(),
        )
        .refuse_with(AsResponse::new());
        let addr = serve(
            Router::new()
                .route("/api", get(|| async { "ok" }))
                .layer(layer),
        )
        .await;
        let client = client();

        // Client 198.51.100.7 writes whatever it likes on the left; the proxy appends
        // the address it saw. Only that address counts.
        let mut ok_7 = 0;
        for i in 0..10 {
            let xff = format!("203.0.113.{i}, 198.51.100.7");
            ok_7 += usize::from(
                get_with(&client, addr, &[("x-forwarded-for", &xff)])
                    .await
                    .status
                    == StatusCode::OK,
            );
        }
        let other = burst(&client, addr, 4, &[("x-forwarded-for", "198.51.100.8")]).await;
        assert_eq!(ok_7, 2);
        assert_eq!(count(&other, StatusCode::OK), 2, "{other:#?}");
        assert_eq!(limiter.len(), 2);
    })
    .await
    .expect("test finished in time");
}
