//! End to end over loopback: an axum server keyed by `ForwardedIp`, and a client that
//! plays the reverse proxy and reports a client rotating through its IPv6 `/64`. The
//! limiter runs on a `ManualClock` that never moves, so the counts are exact.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer};
use tollgate_core::ManualClock;
use tollgate_http::rate_limit::ForwardedIp;
use tollgate_http::AsResponse;

/// Every request is answered well inside this, or the test fails.
const BOUND: Duration = Duration::from_secs(20);

/// One HTTP/1.1 request on its own connection; the response's status code.
async fn status(addr: SocketAddr, forwarded_for: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api HTTP/1.1\r\nhost: tollgate.test\r\nx-forwarded-for: {forwarded_for}\r\n\
         connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let head = String::from_utf8_lossy(&response);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn rotating_forwarded_ipv6_addresses_within_one_64_share_one_bucket() {
    tokio::time::timeout(BOUND, async {
        let limiter = KeyedRateLimiter::builder(Quota::per_hour(3).build().unwrap())
            .max_keys(1_000)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        // The test client is the trusted proxy on loopback; `ForwardedIp` keys IPv6
        // clients by their /64 by default.
        let layer = RateLimitLayer::keyed(
            limiter.clone(),
            ForwardedIp::trusting(["127.0.0.1"]).unwrap(),
        )
        .refuse_with(AsResponse::new());
        let app = Router::new()
            .route("/api", get(|| async { "ok" }))
            .layer(layer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });

        // Ten requests, each from a fresh interface identifier in 2001:db8:1:2::/64.
        let mut statuses = Vec::new();
        for i in 1..=10u32 {
            let rotated = format!("2001:db8:1:2:{i:x}:{:x}::{i:x}", (i * 7919) & 0xffff);
            statuses.push(status(addr, &rotated).await);
        }
        assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
        assert_eq!(limiter.len(), 1, "one bucket for the whole /64");
        // The next /64 is another client, with its own bucket.
        assert_eq!(status(addr, "2001:db8:1:3::1").await, 200);
        assert_eq!(limiter.len(), 2);
    })
    .await
    .expect("test finished in time");
}
