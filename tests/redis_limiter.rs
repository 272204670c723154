//! tollgate-redis against a real redis-server on loopback: the same decisions as the
//! local limiter, the shared bound across instances (exact and leased, threads and
//! processes, one Redis and a cluster), faults, and bad input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use redis::aio::ConnectionManager;
use tollgate_bucket::KeyedRateLimiter;
use tollgate_core::{ManualClock, Quota, Reason};
use tollgate_redis::{Mode, OnFailure, RedisRateLimiter};
use tollgate_workspace::redis_server::{RedisCluster, RedisServer};

/// A timeout no loaded CI machine reaches unless Redis is really gone: the tests that
/// are not about failures must never fail over (a failover decides locally).
const PATIENT: Duration = Duration::from_secs(2);

async fn connect(server: &RedisServer) -> ConnectionManager {
    let client = redis::Client::open(server.url()).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(200)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(50));
    ConnectionManager::new_with_config(client, config)
        .await
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ===== the same decisions as the local limiter =====

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For random quotas and request sequences at controlled times, the Redis limiter
    /// (on the caller's clock) and the local keyed GCRA admit the same requests with the
    /// same retry-after and the same figures.
    #[test]
    fn redis_and_local_limiters_decide_identically(
        count in 1u32..50,
        period_ms in 1u64..5_000,
        burst in 1u32..8,
        steps in prop::collection::vec((0u64..400, 0usize..3, 0u32..4), 1..60),
    ) {
        let server = shared_server();
        runtime().block_on(async {
            let quota = Quota::with_period(count, Duration::from_millis(period_ms)).burst(burst).unwrap();
            let clock = ManualClock::new();
            clock.advance(Duration::from_secs(1));
            let prefix = format!("diff{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let remote = RedisRateLimiter::builder(quota, connect(server).await).timeout(PATIENT)
                .clock(clock.clone())
                .client_time()
                .prefix(prefix).unwrap()
                .build().unwrap();
            let local = KeyedRateLimiter::builder(quota).clock(clock.clone()).build().unwrap();
            for (i, (advance_ms, key, n)) in steps.into_iter().enumerate() {
                clock.advance(Duration::from_millis(advance_ms));
                let key = ["a", "b", "c"][key];
                let r = remote.check_key_n(key, n).await;
                let l = local.check_key_n(&key, n);
                match (&r, &l) {
                    (Ok(r), Ok(l)) => {
                        prop_assert_eq!(r.remaining(), l.remaining(), "step {}", i);
                        prop_assert_eq!(r.reset(), l.reset(), "step {}", i);
                    }
                    (Err(r), Err(l)) => {
                        prop_assert_eq!(r.reason(), l.reason(), "step {}", i);
                        prop_assert_eq!(r.retry_after(), l.retry_after(), "step {}", i);
                    }
                    _ => prop_assert!(false, "step {}: redis {:?}, local {:?}", i, r, l),
                }
            }
            Ok(())
        })?;
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One server for the property test's many cases.
fn shared_server() -> &'static RedisServer {
    static SERVER: std::sync::OnceLock<RedisServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

// ===== many instances, one quota =====

/// Runs `instances` limiters (each its own connection) against one key at full speed
/// for `run`, and returns (admitted, elapsed).
async fn hammer(
    limiters: Vec<
        RedisRateLimiter<impl redis::aio::ConnectionLike + Clone + Send + Sync + 'static>,
    >,
    run: Duration,
) -> (u64, Duration) {
    let admitted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for limiter in limiters {
        for _ in 0..4 {
            let limiter = limiter.clone();
            let admitted = Arc::clone(&admitted);
            tasks.push(tokio::spawn(async move {
                while start.elapsed() < run {
                    if limiter.check_key("shared").await.is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    (admitted.load(Ordering::Relaxed), start.elapsed())
}

/// The shared bound, for `admitted` cells over `elapsed`: `burst + rate x elapsed`
/// (+ `extra`), with one cell of slack for the time between the first decision and the
/// start of the clock here.
fn assert_within_bound(admitted: u64, elapsed: Duration, quota: Quota, extra: u64) {
    let rate = f64::from(quota.count()) / quota.period().as_secs_f64();
    let bound = f64::from(quota.burst()) + rate * elapsed.as_secs_f64() + extra as f64 + 1.0;
    let floor = 0.95 * (f64::from(quota.burst()) + rate * elapsed.as_secs_f64());
    assert!(
        (admitted as f64) <= bound,
        "{admitted} admitted over {elapsed:?}: more than the bound {bound:.1}"
    );
    assert!(
        (admitted as f64) >= floor.min(bound - extra as f64 - 1.0) * 0.95,
        "{admitted} admitted over {elapsed:?}: under 95% of {floor:.1}"
    );
}

#[test]
fn four_instances_in_exact_mode_admit_the_quota_once() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(200).burst(20).unwrap();
        let mut limiters = Vec::new();
        for _ in 0..4 {
            limiters.push(
                RedisRateLimiter::builder(quota, connect(&server).await)
                    .timeout(PATIENT)
                    .build()
                    .unwrap(),
            );
        }
        let (admitted, elapsed) = hammer(limiters.clone(), Duration::from_millis(1500)).await;
        assert_within_bound(admitted, elapsed, quota, 0);
        assert!(limiters.iter().all(|l| l.snapshot().failures == 0));
        let s = limiters[0].snapshot();
        assert_eq!(s.mode, Mode::Redis);
        assert!(
            s.local > 0,
            "refused keys are short-circuited locally: {s:?}"
        );
    });
}

#[test]
fn four_instances_in_leased_mode_stay_within_the_lease_bound() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(200).burst(20).unwrap();
        let k = 5;
        let mut limiters = Vec::new();
        for _ in 0..4 {
            limiters.push(
                RedisRateLimiter::builder(quota, connect(&server).await)
                    .timeout(PATIENT)
                    .lease(k)
                    .unwrap()
                    .build()
                    .unwrap(),
            );
        }
        let (admitted, elapsed) = hammer(limiters.clone(), Duration::from_millis(1500)).await;
        assert_within_bound(admitted, elapsed, quota, 4 * u64::from(k));
        assert!(limiters.iter().all(|l| l.snapshot().failures == 0));
    });
}

/// A connection that counts the scripts answered on the wire (an integer, or a pair of
/// them), so a test can wait until every round trip the limiter started is over.
#[derive(Clone)]
struct Counted {
    inner: ConnectionManager,
    answered: Arc<AtomicU64>,
}

impl redis::aio::ConnectionLike for Counted {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let reply = self.inner.req_packed_command(cmd).await;
            if matches!(&reply, Ok(redis::Value::Int(_)))
                || matches!(&reply, Ok(redis::Value::Array(v)) if v.len() == 2)
            {
                self.answered.fetch_add(1, Ordering::SeqCst);
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.inner.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

#[test]
fn a_lease_is_refilled_ahead_so_only_the_first_admission_waits_for_redis() {
    let server = RedisServer::start();
    runtime().block_on(async {
        // 50 cells, and no new one within the test: Redis has exactly 50 to give.
        let quota = Quota::per_hour(1).burst(50).unwrap();
        let answered = Arc::new(AtomicU64::new(0));
        let conn = Counted {
            inner: connect(&server).await,
            answered: Arc::clone(&answered),
        };
        let limiter = RedisRateLimiter::builder(quota, conn)
            .timeout(PATIENT)
            .lease(10)
            .unwrap()
            .lease_ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        // After each admission, until every round trip started is answered: a caller
        // slower than the round trip.
        let settle = || async {
            let started = Instant::now();
            while answered.load(Ordering::SeqCst) < limiter.snapshot().round_trips {
                assert!(started.elapsed() < PATIENT, "a round trip never ended");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        for i in 0..50 {
            assert!(limiter.check_key("k").await.is_ok(), "request {i}");
            settle().await;
        }
        // The first takes 10 (1 spent, 9 leased); each time 5 are left, one refill of 5
        // in the background, 8 in all: 50 cells from Redis, each admitted, none wasted.
        let s = limiter.snapshot();
        assert_eq!((s.admitted, s.round_trips, s.local), (50, 9, 49), "{s:?}");
        // The burst is spent, and the TAT Redis reported says so: refused locally, with
        // no round trip.
        assert!(limiter.check_key("k").await.is_err());
        assert!(limiter.check_key("k").await.is_err());
        let s = limiter.snapshot();
        assert_eq!((s.round_trips, s.local), (9, 51));
    });
}

#[test]
fn a_caller_outrunning_the_refill_gets_every_cell_of_the_quota() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_hour(1).burst(200).unwrap();
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(PATIENT)
            .lease(10)
            .unwrap()
            .lease_ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        // Four callers at full speed: round trips overlap refills, yet no cell taken
        // from Redis is dropped for want of room in the lease.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0u32;
                for _ in 0..100 {
                    admitted += u32::from(limiter.check_key("k").await.is_ok());
                }
                admitted
            }));
        }
        let mut admitted = 0;
        for task in tasks {
            admitted += task.await.unwrap();
        }
        assert_eq!(admitted, 200, "{:?}", limiter.snapshot());
    });
}

#[test]
fn a_redis_cluster_shares_each_key_across_instances() {
    let cluster = RedisCluster::start(3);
    runtime().block_on(async {
        // Slow enough that no key expires before the test counts them.
        let quota = Quota::per_minute(60).burst(10).unwrap();
        let mut limiters = Vec::new();
        for _ in 0..3 {
            let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
            let conn = client.get_async_connection().await.unwrap();
            limiters.push(
                RedisRateLimiter::builder(quota, conn)
                    .timeout(PATIENT)
                    .build()
                    .unwrap(),
            );
        }
        // The cluster answers every node's slots before the test starts.
        for limiter in &limiters {
            assert!(limiter.check_key("warm-up").await.is_ok());
            assert_eq!(limiter.snapshot().failures, 0, "{:?}", limiter.snapshot());
        }
        // Keys spread over the shards: each is still one bucket across instances.
        for key in ["alpha", "beta", "gamma", "delta"] {
            let mut admitted = 0;
            for round in 0..5 {
                let limiter = &limiters[round % 3];
                for _ in 0..10 {
                    admitted += u32::from(limiter.check_key(key).await.is_ok());
                }
            }
            assert!(
                (10..=12).contains(&admitted),
                "{key}: {admitted} admitted, burst 10"
            );
        }
        let keys: usize = cluster
            .nodes()
            .iter()
            .map(|n| n.cli(&["dbsize"]).trim().parse::<usize>().unwrap())
            .sum();
        assert_eq!(keys, 5, "one Redis key per limiter key");
        assert!(
            cluster
                .nodes()
                .iter()
                .filter(|n| n.cli(&["dbsize"]).trim() != "0")
                .count()
                >= 2,
            "the hash tags spread keys over shards"
        );
        // Three instances hammering one key for a bounded time, exact and leased: the
        // same shared bound as on one Redis.
        let quota = Quota::per_second(200).burst(20).unwrap();
        for (prefix, k) in [("hammer-exact", 1), ("hammer-leased", 5)] {
            let mut limiters = Vec::new();
            for _ in 0..3 {
                let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
                let conn = client.get_async_connection().await.unwrap();
                limiters.push(
                    RedisRateLimiter::builder(quota, conn)
                        .timeout(PATIENT)
                        .prefix(prefix)
                        .unwrap()
                        .lease(k)
                        .unwrap()
                        .build()
                        .unwrap(),
                );
            }
            let (admitted, elapsed) = hammer(limiters.clone(), Duration::from_millis(1000)).await;
            let held = if k > 1 { 3 * u64::from(k) } else { 0 };
            assert_within_bound(admitted, elapsed, quota, held);
            assert!(limiters.iter().all(|l| l.snapshot().failures == 0));
        }
    });
}

/// The child side of the separate-processes test: hammers the key, prints the count.
#[test]
fn child_process_hammer() {
    let Ok(url) = std::env::var("TOLLGATE_REDIS_CHILD_URL") else {
        return; // only runs as a child of the test below
    };
    runtime().block_on(async {
        let client = redis::Client::open(url).unwrap();
        let conn = ConnectionManager::new(client).await.unwrap();
        let quota = Quota::per_second(200).burst(20).unwrap();
        let limiter = RedisRateLimiter::builder(quota, conn)
            .timeout(PATIENT)
            .build()
            .unwrap();
        let run_ms: u64 = std::env::var("TOLLGATE_REDIS_CHILD_MS")
            .unwrap()
            .parse()
            .unwrap();
        let (admitted, _) = hammer(vec![limiter], Duration::from_millis(run_ms)).await;
        println!("ADMITTED {admitted}");
    });
}

#[test]
fn three_processes_share_one_quota() {
    let server = RedisServer::start();
    let quota = Quota::per_second(200).burst(20).unwrap();
    let start = Instant::now();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "child_process_hammer",
                    "--exact",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("TOLLGATE_REDIS_CHILD_URL", server.url())
                .env("TOLLGATE_REDIS_CHILD_MS", "1500")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let admitted: u64 = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            let count = text
                .split("ADMITTED ")
                .nth(1)
                .unwrap_or_else(|| panic!("{text}"));
            count
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    // The children start at slightly different times: the window is from the first
    // spawn to the last exit, which only loosens the upper bound's elapsed.
    assert_within_bound(admitted, start.elapsed(), quota, 0);
}

// ===== faults =====

#[test]
fn a_killed_redis_fails_over_by_policy_and_recovers_after_restart() {
    let mut server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(10).burst(2).unwrap();
        let make = |conn: ConnectionManager, policy| {
            RedisRateLimiter::builder(quota, conn)
                .timeout(PATIENT)
                .timeout(Duration::from_millis(100))
                .retry_after_failure(Duration::from_millis(200))
                .on_failure(policy)
                .unwrap()
                .build()
                .unwrap()
        };
        let open = make(connect(&server).await, OnFailure::Open);
        let closed = make(connect(&server).await, OnFailure::Closed);
        let local = make(connect(&server).await, OnFailure::Local { instances: 2 });
        assert!(open.check_key("k1").await.is_ok());

        server.kill();
        let started = Instant::now();
        for _ in 0..5 {
            assert!(open.check_key("k2").await.is_ok(), "fail open admits");
        }
        let refused = closed.check_key("k3").await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
        assert!(refused.retry_after().is_some());
        // Local at quota / 2: burst 1, so one admitted, then refused as rate limited.
        assert!(local.check_key("k4").await.is_ok());
        assert_eq!(
            local.check_key("k4").await.unwrap_err().reason(),
            Reason::RateLimited
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no caller waits past the timeout: {:?}",
            started.elapsed()
        );
        let s = open.snapshot();
        assert_eq!(s.mode, Mode::Failover(OnFailure::Open));
        assert_eq!(s.failovers, 1);
        assert!(s.failures >= 1);

        server.restart();
        // Within a few retry intervals (each lets one round trip through; the manager
        // reconnects in the background), Redis decides again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let _ = closed.check_key("k5").await;
            if closed.snapshot().mode == Mode::Redis {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never recovered: {:?}",
                closed.snapshot()
            );
        }
        assert!(closed.check_key("k6").await.is_ok());
        assert_eq!(closed.snapshot().recoveries, 1);
    });
}

#[test]
fn a_stalled_redis_triggers_the_policy_within_the_timeout() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(10).burst(2).unwrap();
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(Duration::from_millis(150))
            .on_failure(OnFailure::Closed)
            .unwrap()
            .build()
            .unwrap();
        assert!(limiter.check_key("k").await.is_ok());
        server.freeze();
        let started = Instant::now();
        let refused = limiter.check_key("k").await.unwrap_err();
        let took = started.elapsed();
        server.thaw();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
        assert!(
            took >= Duration::from_millis(140) && took < Duration::from_millis(600),
            "decided in {took:?}, timeout 150 ms"
        );
        // Many callers at once while down: none waits, none queues.
        let started = Instant::now();
        let all = futures::future::join_all((0..100).map(|_| limiter.check_key("k"))).await;
        assert!(all.iter().all(|r| r.is_err()));
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    });
}

// ===== bad input =====

#[test]
fn arbitrary_and_very_long_keys_are_stored_bounded_and_distinct() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_hour(1).build().unwrap();
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(PATIENT)
            .prefix("bad")
            .unwrap()
            .build()
            .unwrap();
        let keys: Vec<Vec<u8>> = vec![
            b"}{".to_vec(),
            b"%7D%7B".to_vec(),
            vec![0, 255, b'\n', b' '],
            vec![b'x'; 100_000],
            {
                let mut v = vec![b'x'; 100_000];
                v[99_999] = b'y';
                v
            },
        ];
        for key in &keys {
            assert!(
                limiter.check_key(key).await.is_ok(),
                "first use of each key"
            );
        }
        for key in &keys {
            assert!(
                limiter.check_key(key).await.is_err(),
                "each is its own bucket"
            );
        }
        let stored = server.cli(&["--scan", "--pattern", "bad:*"]);
        let stored: Vec<&str> = stored.lines().collect();
        assert_eq!(stored.len(), keys.len(), "{stored:?}");
        assert!(
            stored.iter().all(|k| k.len() <= "bad:{}".len() + 128),
            "{stored:?}"
        );
    });
}

#[test]
fn quotas_at_the_arithmetic_limits_build_or_name_the_problem() {
    let server = RedisServer::start();
    runtime().block_on(async {
        // The fastest quota: one cell per nanosecond (rounded up to a microsecond on
        // Redis time), with the largest burst.
        let fastest = Quota::with_period(1_000_000_000, Duration::from_secs(1))
            .burst(u32::MAX)
            .unwrap();
        let limiter = RedisRateLimiter::builder(fastest, connect(&server).await)
            .timeout(PATIENT)
            .build()
            .unwrap();
        let admitted = limiter.check_key_n("fast", u32::MAX).await.unwrap();
        assert_eq!(admitted.remaining(), 0);
        // Beyond what Lua's doubles hold exactly (a bucket of over 35 years): refused
        // at build time, naming the setting.
        let ages = Quota::with_period(1, Duration::from_secs(40 * 365 * 86_400))
            .build()
            .unwrap();
        let err = RedisRateLimiter::builder(ages, connect(&server).await)
            .timeout(PATIENT)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "quota");
        // The slowest that fits: one per 30 years.
        let slow = Quota::with_period(1, Duration::from_secs(30 * 365 * 86_400))
            .build()
            .unwrap();
        let limiter = RedisRateLimiter::builder(slow, connect(&server).await)
            .timeout(PATIENT)
            .build()
            .unwrap();
        assert!(limiter.check_key("slow").await.is_ok());
        let refused = limiter.check_key("slow").await.unwrap_err();
        assert!(refused.retry_after().unwrap() > Duration::from_secs(29 * 365 * 86_400));
        // Over the burst: waiting cannot help, and no round trip is made.
        let before = limiter.snapshot().round_trips;
        assert_eq!(
            limiter.check_key_n("slow", 2).await.unwrap_err().reason(),
            Reason::OverCapacity
        );
        assert_eq!(limiter.snapshot().round_trips, before);
    });
}

#[test]
fn a_key_holding_the_wrong_type_is_a_failure_not_a_panic() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(10).burst(2).unwrap();
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(PATIENT)
            .prefix("wt")
            .unwrap()
            .on_failure(OnFailure::Closed)
            .unwrap()
            .build()
            .unwrap();
        server.cli(&["rpush", "wt:{list}", "a"]);
        let refused = limiter.check_key("list").await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
        assert_eq!(limiter.snapshot().failures, 1);
    });
}

#[tokio::test]
async fn a_server_answering_the_wrong_shape_is_a_failure_not_a_panic() {
    // A fake Redis that answers every command with a one-element array.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // One reply per command line starting with '*'.
                    let commands = buf[..n].iter().filter(|&&b| b == b'*').count().max(1);
                    for _ in 0..commands {
                        let _ = socket.write_all(b"*1\r\n:5\r\n").await;
                    }
                }
            });
        }
    });
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let quota = Quota::per_second(10).burst(2).unwrap();
    let limiter = RedisRateLimiter::builder(quota, conn)
        .timeout(PATIENT)
        .timeout(Duration::from_millis(200))
        .on_failure(OnFailure::Open)
        .unwrap()
        .build()
        .unwrap();
    assert!(limiter.check_key("k").await.is_ok(), "fail open admits");
    let s = limiter.snapshot();
    assert_eq!((s.failures, s.failovers), (1, 1));
}

#[test]
fn idle_keys_expire_on_redis() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let quota = Quota::per_second(10).burst(2).unwrap(); // full again 200 ms after use
        let limiter = RedisRateLimiter::builder(quota, connect(&server).await)
            .timeout(PATIENT)
            .prefix("ttl")
            .unwrap()
            .build()
            .unwrap();
        limiter.check_key("k").await.unwrap();
        let ttl: i64 = server.cli(&["pttl", "ttl:{k}"]).trim().parse().unwrap();
        assert!(
            (1..=100).contains(&ttl),
            "expires when the TAT passes: {ttl} ms"
        );
    });
}
