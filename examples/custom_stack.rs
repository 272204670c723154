//! Single layers by hand, with `tower::ServiceBuilder`: when the fixed order of
//! `ServerStack` is not what you need (here a rate limit outside a drain, and a
//! breaker with a custom classifier), compose the layers yourself. Every layer still
//! refuses through `AsResponse`, so the service stays `Infallible`.
//!
//! ```sh
//! cargo run --example custom_stack
//! ```

use std::convert::Infallible;
use std::time::Duration;

use tollgate::breaker::Outcome;
use tollgate::http::drain::UntilBodyEnd;
use tollgate::prelude::*;
use tower::{service_fn, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limiter = RateLimiter::new(Quota::per_second(2).burst(3)?);
    let drain = Drain::builder().build()?;
    let breaker = Breaker::builder().consecutive_failures(2).build()?;
    // Only 503s open this breaker.
    let only_503 = |result: &Result<http::Response<String>, Infallible>| match result {
        Ok(r) if r.status() == 503 => Outcome::Failure,
        _ => Outcome::Success,
    };
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter).refuse_with(AsResponse::new()))
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
        )
        .layer(
            BreakerLayer::new(breaker.clone())
                .classifier(only_503)
                .refuse_with(AsResponse::new()),
        )
        .layer(
            TimeoutLayer::new(TimeoutPolicy::per_try(Duration::from_millis(100))?)
                .refuse_with(AsResponse::new()),
        )
        .service(service_fn(|req: http::Request<String>| async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok::<_, Infallible>(http::Response::new(String::from("hello")))
        }));
    for path in ["/", "/slow", "/", "/"] {
        let response = svc
            .clone()
            .oneshot(http::Request::get(path).body(String::new())?)
            .await?;
        println!("GET {path}: {}", response.status()); // 200, 504, 200, 429
    }
    println!(
        "breaker: {:?}, drain in flight: {}",
        breaker.state(),
        drain.snapshot().in_flight
    );
    Ok(())
}
