//! One quota shared by several instances on Redis: exact and leased modes, and what
//! happens when Redis goes away.
//!
//! ```sh
//! cargo run --example redis_limits                         # starts its own redis-server
//! cargo run --example redis_limits -- redis://127.0.0.1:6379/   # or uses yours
//! ```
//!
//! Three "instances" (three limiters, each with its own connection, as three processes
//! would have) hammer one API key whose quota is 100 per second, burst 20, for two
//! seconds; together they admit about 220, not 660. Then the same in leased mode, and a
//! Redis outage under each failure policy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tollgate_core::Quota;
use tollgate_redis::{OnFailure, RedisRateLimiter};
use tollgate_workspace::redis_server::RedisServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let own = match std::env::args().nth(1) {
        Some(_) => None,
        None => Some(RedisServer::start()),
    };
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| own.as_ref().expect("started above").url());
    let quota = Quota::per_second(100).burst(20)?;
    println!("quota: 100/s, burst 20, shared by 3 instances, for 2 s");

    for (mode, lease) in [("exact", 1), ("leased, k = 10", 10)] {
        let mut instances = Vec::new();
        for _ in 0..3 {
            let conn = ConnectionManager::new(redis::Client::open(url.as_str())?).await?;
            instances.push(
                RedisRateLimiter::builder(quota, conn)
                    .prefix(format!("example-{}", lease))?
                    .lease(lease)?
                    .build()?,
            );
        }
        let admitted = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for limiter in &instances {
            for _ in 0..4 {
                let (limiter, admitted) = (limiter.clone(), Arc::clone(&admitted));
                tasks.push(tokio::spawn(async move {
                    while start.elapsed() < Duration::from_secs(2) {
                        if limiter.check_key("customer-42").await.is_ok() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
        for task in tasks {
            task.await?;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let trips: u64 = instances.iter().map(|l| l.snapshot().round_trips).sum();
        // Leased: + N x k, the cells each instance may hold when the window opens.
        let held = if lease > 1 {
            3.0 * f64::from(lease)
        } else {
            0.0
        };
        let bound = 20.0 + 100.0 * elapsed + held;
        println!(
            "{mode:>15}: {} admitted (bound {bound:.0}), {trips} round trips",
            admitted.load(Ordering::Relaxed)
        );
    }

    if let Some(mut server) = own {
        println!("redis-server killed: each policy decides without it");
        let mut limiters = Vec::new();
        for policy in [
            OnFailure::Open,
            OnFailure::Closed,
            OnFailure::Local { instances: 3 },
        ] {
            let conn = ConnectionManager::new(redis::Client::open(url.as_str())?).await?;
            let limiter = RedisRateLimiter::builder(quota, conn)
                .timeout(Duration::from_millis(100))
                .on_failure(policy)?
                .build()?;
            limiters.push((policy, limiter));
        }
        server.kill();
        for (policy, limiter) in &limiters {
            let mut admitted = 0;
            for _ in 0..20 {
                admitted += u32::from(limiter.check_key("customer-42").await.is_ok());
            }
            let s = limiter.snapshot();
            println!(
                "{:>26}: {admitted} of 20 admitted, mode {:?}",
                format!("{policy:?}"),
                s.mode
            );
        }
    }
    Ok(())
}
