//! Client-side throttling to a third-party quota with a breaker per host: one client
//! stack per upstream host, each shaped to that host's quota (pausing when it answers
//! `429` + `Retry-After`), with its own breaker. A local axum server stands in for the
//! third party: it allows 5 requests per second and answers 429 past that.
//!
//! ```sh
//! cargo run --example hyper_client -- --calls 12
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate::prelude::*;
use tower::{Layer, ServiceExt};

#[derive(Parser)]
struct Args {
    /// How many calls to make.
    #[arg(long, default_value_t = 12)]
    calls: u32,
}

/// The "third party": 5 per second, a `429` with `Retry-After` beyond.
async fn third_party() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let limiter = RateLimiter::new(Quota::per_second(5).burst(1)?);
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter).refuse_with(AsResponse::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let url = third_party().await?;
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    // One stack per host: its own quota, its own breaker.
    let mut per_host = HashMap::new();
    let host = url
        .parse::<http::Uri>()?
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stack, _warnings) = ClientStack::builder()
        .deadline(Duration::from_secs(5))
        .breaker(
            Breaker::builder()
                .name("third-party")
                .consecutive_failures(5)
                .build()?,
        )
        // A little under the quota: network jitter must not bring two calls closer
        // than the third party's interval.
        .shape(
            Shaper::builder(Quota::per_second(4).burst(1)?)
                .max_wait(Duration::from_secs(3))
                .build()?,
        )
        .per_try(Duration::from_secs(1))
        .build()?;
    per_host.insert(host.clone(), stack);

    let start = Instant::now();
    let mut statuses = HashMap::<u16, u32>::new();
    let mut calls = Vec::new();
    for _ in 0..args.calls {
        let client = per_host[&host].layer(hyper.clone());
        let request = http::Request::get(&url).body(Empty::<Bytes>::new())?;
        calls.push(tokio::spawn(client.oneshot(request)));
    }
    for call in calls {
        match call.await? {
            Ok(response) => *statuses.entry(response.status().as_u16()).or_default() += 1,
            Err(e) => println!("refused locally: {e}"),
        }
    }
    println!(
        "{} calls in {:.1?}: {statuses:?} (no 429: the shaper kept to the quota)",
        args.calls,
        start.elapsed()
    );
    println!("{:?}", per_host[&host].snapshot().shape);
    Ok(())
}
