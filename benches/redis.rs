//! Shared-quota decisions on a real redis-server over loopback: throughput and latency
//! percentiles for 1, 8 and 64 concurrent callers, for the exact and leased Redis
//! limiters, the local keyed limiter, and the floor of any Redis limiter, a plain
//! `INCR` + `EXPIRE` fixed-window round trip (pipelined), all in one run.
//!
//! `cargo bench -p tollgate-workspace --bench redis` (set `TOLLGATE_BENCH_SECS` for
//! longer runs; 2 s per cell by default). The server and the callers share the
//! machine's cores: for stable tails, pin them apart (see BENCHMARKS.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tollgate_bucket::KeyedRateLimiter;
use tollgate_core::Quota;
use tollgate_redis::RedisRateLimiter;
use tollgate_workspace::redis_server::RedisServer;

/// One measured cell: every caller loops for `run`, recording each decision's latency.
async fn measure<F, Fut>(callers: usize, run: Duration, decide: F) -> (f64, Duration, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let decide = decide.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = caller as u64 * 1_000_000_000;
            while start.elapsed() < run {
                let t = Instant::now();
                decide(i).await;
                latencies.push(t.elapsed());
                i += 1;
                // As a request handler does between requests: without it, a caller
                // whose decisions never wait would hold the only worker, so that the
                // callers ran one after another and a lease's refill (a spawned task)
                // would not run until the lease ran out.
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    )
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("TOLLGATE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 0.05 } else { 2.0 });
    let run = Duration::from_secs_f64(secs);
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let conn = ConnectionManager::new(client).await.unwrap();
        // Large enough that every decision is admitted: the cost of deciding, not of
        // refusing (a refused key is short-circuited locally).
        let quota = Quota::per_second(1_000_000_000).burst(1_000_000).unwrap();
        let exact = RedisRateLimiter::builder(quota, conn.clone())
            .prefix("bench-exact")
            .unwrap()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        // Leased: a round trip about every k/2 decisions of a key (the refill ahead),
        // so k sets how much of the time goes to Redis.
        let leased = |k: u32| {
            RedisRateLimiter::builder(quota, conn.clone())
                .prefix(format!("bench-leased-{k}"))
                .unwrap()
                .lease(k)
                .unwrap()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap()
        };
        let (leased_64, leased_1024) = (leased(64), leased(1024));
        let local = Arc::new(KeyedRateLimiter::<u64>::builder(quota).build().unwrap());
        println!("| callers | limiter | decisions/s | p50 | p99 |");
        println!("|---:|---|---:|---:|---:|");
        for callers in [1, 8, 64] {
            let keys = 64u64;
            let floor_conn = conn.clone();
            let floor = measure(callers, run, move |i| {
                let mut conn = floor_conn.clone();
                async move {
                    let key = format!("bench-floor:{}", i % keys);
                    let _: (i64, i64) = redis::pipe()
                        .incr(&key, 1)
                        .expire(&key, 60)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
            })
            .await;
            let l = exact.clone();
            let exact_cell = measure(callers, run, move |i| {
                let decided = l.check_key(&(i % keys));
                async move {
                    assert!(decided.await.is_ok());
                }
            })
            .await;
            let mut leased_cells = Vec::new();
            for leased in [&leased_64, &leased_1024] {
                let l = leased.clone();
                leased_cells.push(
                    measure(callers, run, move |i| {
                        let decided = l.check_key(&(i % keys));
                        async move {
                            assert!(decided.await.is_ok());
                        }
                    })
                    .await,
                );
            }
            let l = Arc::clone(&local);
            let local_cell = measure(callers, run, move |i| {
                let decided = l.check_key(&(i % keys)).is_ok();
                async move {
                    assert!(decided);
                }
            })
            .await;
            for (name, (rate, p50, p99)) in [
                ("INCR+EXPIRE floor", floor),
                ("tollgate-redis exact", exact_cell),
                ("tollgate-redis leased (k = 64)", leased_cells[0]),
                ("tollgate-redis leased (k = 1024)", leased_cells[1]),
                ("local KeyedRateLimiter", local_cell),
            ] {
                println!("| {callers} | {name} | {rate:.0} | {p50:?} | {p99:?} |");
            }
        }
        let s = exact.snapshot();
        assert_eq!(s.failures, 0, "{s:?}");
    });
}
