//! [`RedisRateLimiter`]: the keyed GCRA decided by Redis.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Script, Value};
use tollgate_bucket::{Admitted, Decide, Decision, KeyedRateLimiter, Limiter};
use tollgate_core::saturating_nanos as nanos;
use tollgate_core::sync::{AtomicU64, Ordering};
use tollgate_core::{
    timer, Clock, KeyBytes, Policy, Quota, Reason, Rejection, StripedCounter, SystemClock,
    Timestamp,
};

use crate::failure::{Health, Mode, Observed, OnFailure};
use crate::key::{redis_key, with_local_key, LocalKey};
use crate::local::{Cells, Local, LocalTable};
use crate::metrics::{Event, Metrics};
use crate::script::Reply;
use crate::{RedisBuilder, Snapshot};

/// A keyed token bucket (GCRA) whose state lives in Redis, so that every instance of a
/// service shares one quota per key.
///
/// It makes the same decisions as [`tollgate_bucket::KeyedRateLimiter`] (the same
/// [`Quota`], the same [`Rejection`] with an exact retry-after), one atomic Lua script per
/// round trip. Build it with [`RedisRateLimiter::builder`]; see the crate docs for the
/// modes (exact, leased), the failure policy and the bounds each keeps.
///
/// Clones share the connection, the local table and the counters.
pub struct RedisRateLimiter<Conn, C = SystemClock> {
    inner: Arc<Inner<Conn, C>>,
}

pub(crate) struct Inner<Conn, C> {
    pub(crate) conn: Conn,
    pub(crate) script: Script,
    pub(crate) quota: Quota,
    pub(crate) units: Units,
    /// The quota as the script's unit rounds it.
    pub(crate) cells: Cells,
    pub(crate) prefix: String,
    pub(crate) max_key_len: usize,
    pub(crate) timeout: Duration,
    pub(crate) lease: u32,
    pub(crate) lease_ttl: Duration,
    pub(crate) on_failure: OnFailure,
    pub(crate) fallback: Option<KeyedRateLimiter<Vec<u8>, C>>,
    pub(crate) retry_after_failure: Duration,
    pub(crate) clock: C,
    pub(crate) local: LocalTable,
    pub(crate) health: Health,
    pub(crate) counters: Counters,
}

/// The script's time unit and the conversions to and from nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    /// The emission interval in script units.
    pub(crate) interval: u64,
    /// Script units per nanosecond divisor: 1 (nanoseconds) or 1,000 (microseconds).
    pub(crate) nanos_per_unit: u64,
    /// Whether the script reads Redis `TIME` (else the caller sends its clock's now).
    pub(crate) server_time: bool,
}

impl Units {
    fn to_duration(self, units: u64) -> Duration {
        Duration::from_nanos(units.saturating_mul(self.nanos_per_unit))
    }

    /// Whole units in `d`, rounded down (a maximum wait never grows).
    fn units_in(self, d: Duration) -> u64 {
        nanos(d) / self.nanos_per_unit
    }

    fn per_ms(self) -> u64 {
        1_000_000 / self.nanos_per_unit
    }

    /// The quota's interval and capacity as the script rounds them.
    pub(crate) fn cells(self, quota: Quota) -> Cells {
        let interval = self.to_duration(self.interval);
        Cells {
            interval,
            capacity: interval * quota.burst(),
        }
    }
}

/// The snapshot's counters, and the same figures on the `metrics` facade. A local
/// decision is one add to a striped counter (admitted or rejected, locally): no locked
/// instruction, and no cache line two cores write.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// `[admitted, rejected]` by Redis (or its failure policy), then by this instance.
    decisions: [[StripedCounter; 2]; 2],
    /// One per [`Event`] but [`Event::Local`], which `decisions` counts.
    events: [AtomicU64; Event::COUNT],
    metrics: Metrics,
}

/// Who took a decision.
#[derive(Debug, Clone, Copy)]
enum By {
    Redis = 0,
    Instance = 1,
}

impl Counters {
    fn decided<T>(&self, decision: &Result<T, Rejection>, by: By) {
        self.decisions[by as usize][usize::from(decision.is_err())].add(1);
        let reason = decision.as_ref().map(|_| ()).map_err(Rejection::reason);
        self.metrics.decided(reason);
        if let By::Instance = by {
            self.metrics.event(Event::Local);
        }
    }

    /// Decisions admitted (`rejected` false) or refused, by `by`.
    fn get_decided(&self, by: By, rejected: bool) -> u64 {
        self.decisions[by as usize][usize::from(rejected)].sum()
    }

    fn event(&self, event: Event) {
        // Relaxed: independent statistics, read only by `snapshot`.
        self.events[event as usize].fetch_add(1, Ordering::Relaxed);
        self.metrics.event(event);
    }

    fn get(&self, event: Event) -> u64 {
        // Relaxed: see `event`.
        self.events[event as usize].load(Ordering::Relaxed)
    }
}

impl<Conn> RedisRateLimiter<Conn> {
    /// A builder for a limiter at `quota` on `connection`: a
    /// `redis::aio::ConnectionManager` for one Redis, a
    /// `redis::cluster_async::ClusterConnection` for a Redis Cluster, or any other
    /// multiplexed, cloneable connection. Clones of the connection share its socket, so
    /// concurrent decisions are pipelined.
    pub fn builder(quota: Quota, connection: Conn) -> RedisBuilder<Conn> {
        RedisBuilder::new(quota, connection)
    }
}

impl<Conn, C> RedisRateLimiter<Conn, C>
where
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    pub(crate) fn from_inner(inner: Inner<Conn, C>) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Decides one request of `key`: see [`check_key_n`](Self::check_key_n).
    pub fn check_key<K: KeyBytes + ?Sized>(
        &self,
        key: &K,
    ) -> impl Future<Output = Result<Admitted, Rejection>> + Send + 'static {
        self.check_key_n(key, 1)
    }

    /// Decides a request of `n` cells of `key`.
    ///
    /// The clock is read once, here. A key that Redis refused is refused locally until
    /// its retry time, and a leased key spends its lease, both here and without a round
    /// trip; the call that spends half a lease starts its refill in the background, so
    /// that the next calls find cells. A request over the burst is
    /// [`Reason::OverCapacity`] at once. Otherwise one script runs on Redis, bounded by
    /// the limiter's timeout; a failure or a timeout is decided by the [`OnFailure`]
    /// policy. The future owns what it needs: it can be spawned or moved into a
    /// response future. It must run on a tokio runtime (the timeout and the refill).
    pub fn check_key_n<K: KeyBytes + ?Sized>(
        &self,
        key: &K,
        n: u32,
    ) -> impl Future<Output = Result<Admitted, Rejection>> + Send + 'static {
        let now = self.inner.clock.now();
        self.decide_at(key, n, now, None)
    }

    /// The decision of `n` cells of `key` at `now`, waiting up to `max_wait` for them
    /// (wait mode: Redis reserves the cells at once and the future resolves when they
    /// are due; a future dropped while it waits does not give them back).
    fn decide_at<K: KeyBytes + ?Sized>(
        &self,
        key: &K,
        n: u32,
        now: Timestamp,
        max_wait: Option<Duration>,
    ) -> impl Future<Output = Result<Admitted, Rejection>> + Send + 'static {
        let slack = max_wait.unwrap_or_default();
        self.begin(key, n, now, slack).finish(n, now, slack)
    }

    /// What the local table decides, decided now, with no allocation; the rest is for
    /// [`Next::finish`], which then carries the key.
    fn begin<K: KeyBytes + ?Sized>(
        &self,
        key: &K,
        n: u32,
        now: Timestamp,
        slack: Duration,
    ) -> Next<Conn, C> {
        with_local_key(key, self.inner.max_key_len, |key| {
            self.decide_locally(key, n, now, slack)
        })
    }

    /// Decides, counted, what this instance can without Redis: a request over the burst,
    /// a key known to be limited, a cell of a lease (starting its refill when it spends
    /// half of it). The rest is for Redis. `key` is in its local form (see
    /// `with_local_key`), as everywhere in this file; a round trip makes its Redis key.
    #[inline]
    fn decide_locally(
        &self,
        key: LocalKey<'_>,
        n: u32,
        now: Timestamp,
        slack: Duration,
    ) -> Next<Conn, C> {
        let inner = &*self.inner;
        // A request that may wait takes only its own cells: a lease is for cells due now.
        let lease = slack.is_zero() && n > 0;
        let (decision, refill) = if n > inner.quota.burst() {
            let policy = inner.quota.policy();
            (
                Err(Rejection::new(Reason::OverCapacity).with_policy(policy)),
                0,
            )
        } else {
            match inner.local.decide(key, n, inner.cells, now, lease) {
                Local::Limited { wait } if wait > slack => {
                    (Err(refused(wait, slack, inner.quota.policy())), 0)
                }
                Local::Spent { reset, refill } => (Ok(inner.admitted(now, reset)), refill),
                Local::Limited { .. } => return self.ask(key, n),
                Local::Ask { take } => return self.ask(key, take),
            }
        };
        inner.counters.decided(&decision, By::Instance);
        if refill == 0 {
            return Next::Done(decision);
        }
        match inner.health.observe(now) {
            Observed::TryRedis { seen } => {
                inner.counters.event(Event::RoundTrip);
                Next::Refill {
                    decision,
                    inner: Arc::clone(&self.inner),
                    key: key.to_tagged(),
                    cells: refill,
                    seen,
                }
            }
            Observed::Down { .. } => {
                inner.local.lease_ended(key, now);
                Next::Done(decision)
            }
        }
    }

    fn ask(&self, key: LocalKey<'_>, take: u32) -> Next<Conn, C> {
        Next::Ask {
            inner: Arc::clone(&self.inner),
            key: key.to_tagged(),
            take,
        }
    }

    /// The quota every key is measured against.
    pub fn quota(&self) -> Quota {
        self.inner.quota
    }

    /// The limiter's clock (local state and failover timing).
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// Counters and the mode in force.
    pub fn snapshot(&self) -> Snapshot {
        let inner = &*self.inner;
        let c = &inner.counters;
        let mode = if inner.health.is_down(inner.clock.now()) {
            Mode::Failover(inner.on_failure)
        } else {
            Mode::Redis
        };
        Snapshot {
            admitted: c.get_decided(By::Redis, false) + c.get_decided(By::Instance, false),
            rejected: c.get_decided(By::Redis, true) + c.get_decided(By::Instance, true),
            round_trips: c.get(Event::RoundTrip),
            local: c.get_decided(By::Instance, false) + c.get_decided(By::Instance, true),
            failures: c.get(Event::Failure),
            failovers: c.get(Event::Failover),
            recoveries: c.get(Event::Recovery),
            keys: inner.local.len(),
            mode,
        }
    }
}

impl<Conn, C> Inner<Conn, C>
where
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    /// The decision Redis takes for `n` to `take` cells (or the failure policy, when it
    /// cannot), counted, and how long an admitted request still waits (wait mode). More
    /// than `n`: this round trip tops the lease up, and ends that top-up.
    async fn ask(
        &self,
        key: LocalKey<'_>,
        n: u32,
        take: u32,
        now: Timestamp,
        slack: Duration,
    ) -> Result<(Admitted, Duration), Rejection> {
        let decision = match self.health.observe(now) {
            Observed::TryRedis { seen } => {
                self.counters.event(Event::RoundTrip);
                match self.round_trip(key, n, take, now, slack, seen).await {
                    Ok(reply) => self.apply(key, n, n, reply, now, slack),
                    Err(()) => self
                        .failover(key, n, now, self.retry_after_failure)
                        .map(|a| (a, Duration::ZERO)),
                }
            }
            Observed::Down { for_ } => self
                .failover(key, n, now, for_)
                .map(|a| (a, Duration::ZERO)),
        };
        if take > n {
            self.local.lease_ended(key, now);
        }
        self.counters.decided(&decision, By::Redis);
        decision
    }

    /// Tops `key`'s lease up by up to `cells` cells, started at `now` (and counted) by
    /// the decision that spent half of it: the next decisions spend the new cells with
    /// no round trip in between.
    async fn refill(self: Arc<Self>, key: Vec<u8>, cells: u32, now: Timestamp, seen: u64) {
        let key = LocalKey::from_tagged(&key);
        if let Ok(reply) = self
            .round_trip(key, 1, cells, now, Duration::ZERO, seen)
            .await
        {
            // Every cell granted goes to the lease: no request spends one here.
            let _ = self.apply(key, 1, 0, reply, now, Duration::ZERO);
        }
        self.local.lease_ended(key, now);
    }

    fn admitted(&self, now: Timestamp, reset: Duration) -> Admitted {
        Admitted::from_tat(self.quota, now, now + reset)
    }

    /// One run of the script, taking `n` to `take` cells, bounded by the timeout; a
    /// failure is counted and recorded against Redis's health (`seen`: its state
    /// before the round trip), which may start a failover.
    async fn round_trip(
        &self,
        key: LocalKey<'_>,
        n: u32,
        take: u32,
        now: Timestamp,
        slack: Duration,
        seen: u64,
    ) -> Result<Reply, ()> {
        match self.run_script(key, n, take, now, slack).await {
            Ok(reply) => {
                if self.health.succeeded(seen) {
                    self.counters.event(Event::Recovery);
                    tracing::info!(target: "tollgate::redis", "redis answers again: deciding on redis");
                }
                Ok(reply)
            }
            Err(error) => {
                self.counters.event(Event::Failure);
                if self.health.failed(now, self.retry_after_failure) {
                    self.counters.event(Event::Failover);
                    tracing::warn!(
                        target: "tollgate::redis",
                        %error,
                        policy = ?self.on_failure,
                        retry_after_ms = self.retry_after_failure.as_millis() as u64,
                        "redis failed: failing over"
                    );
                }
                Err(())
            }
        }
    }

    async fn run_script(
        &self,
        key: LocalKey<'_>,
        n: u32,
        take: u32,
        now: Timestamp,
        slack: Duration,
    ) -> Result<Reply, RoundTripError> {
        let units = self.units;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(redis_key(&self.prefix, key, self.max_key_len))
            .arg(units.interval)
            .arg(self.quota.burst())
            .arg(n)
            .arg(take);
        if units.server_time {
            invocation.arg("server");
        } else {
            invocation.arg(now.as_nanos());
        }
        invocation.arg(units.per_ms()).arg(units.units_in(slack));
        let mut conn = self.conn.clone();
        let deadline = timer::instant(&self.clock, now, now + self.timeout);
        match tokio::time::timeout_at(deadline, invocation.invoke_async::<Value>(&mut conn)).await {
            Err(_) => Err(RoundTripError::Timeout(self.timeout)),
            Ok(Err(error)) => Err(RoundTripError::Redis(error)),
            Ok(Ok(reply)) => Reply::parse(&reply, take).ok_or(RoundTripError::Reply(reply)),
        }
    }

    /// Turns Redis's answer into the decision, and remembers what it can: the admission
    /// and its wait (past a full bucket, in wait mode), or the refusal.
    ///
    /// `n` is the request the script decided; `spent` how many of the cells granted a
    /// request spends (the rest go to the lease).
    fn apply(
        &self,
        key: LocalKey<'_>,
        n: u32,
        spent: u32,
        reply: Reply,
        now: Timestamp,
        slack: Duration,
    ) -> Result<(Admitted, Duration), Rejection> {
        let units = self.units;
        let cells = self.cells;
        match reply {
            Reply::Granted {
                cells: granted,
                reset,
            } => {
                let reset = units.to_duration(reset);
                self.local.saw(key, now + reset, now);
                if granted > spent {
                    let expires = now + self.lease_ttl;
                    self.local.lease(key, granted - spent, expires, now);
                }
                let wait = reset.saturating_sub(cells.capacity);
                Ok((self.admitted(now + wait, reset - wait), wait))
            }
            Reply::Refused { wait } => {
                // The time until `n` cells fit in a full bucket, and Redis's TAT:
                // TAT = now + capacity + that time - n x interval.
                let wait = units.to_duration(wait) + slack;
                let fits = (now + cells.capacity + wait).as_nanos();
                let tat = fits.saturating_sub(nanos(cells.interval * n));
                self.local.saw(key, Timestamp::from_nanos(tat), now);
                Err(refused(wait, slack, self.quota.policy()))
            }
        }
    }

    /// The decision while Redis is down, for `down_for` more.
    fn failover(
        &self,
        key: LocalKey<'_>,
        n: u32,
        now: Timestamp,
        down_for: Duration,
    ) -> Result<Admitted, Rejection> {
        match (&self.on_failure, &self.fallback) {
            (OnFailure::Open, _) => Ok(self.admitted(now, Duration::ZERO)),
            (OnFailure::Local { .. }, Some(local)) => local.check_key_at(&key.to_tagged(), n, now),
            (OnFailure::Closed, _) | (OnFailure::Local { .. }, None) => {
                Err(Rejection::new(Reason::StoreUnavailable)
                    .with_retry_after(down_for)
                    .with_policy(self.quota.policy()))
            }
        }
    }
}

/// The refusal of a request whose cells fit in a full bucket `wait` from now: rate
/// limited in reject mode; in wait mode (`slack` > 0), a wait too long, by how much.
#[cold]
fn refused(wait: Duration, slack: Duration, policy: Policy) -> Rejection {
    let rejection = if slack.is_zero() {
        Rejection::new(Reason::RateLimited).with_retry_after(wait)
    } else {
        Rejection::new(Reason::WaitTooLong).with_retry_after(wait - slack)
    };
    rejection.with_policy(policy)
}

// ===== behind a RateLimitLayer =====

impl<Conn, C> Limiter for RedisRateLimiter<Conn, C>
where
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    type Clock = C;

    fn clock(&self) -> &C {
        &self.inner.clock
    }

    fn snapshot(&self) -> tollgate_bucket::Snapshot {
        let s = RedisRateLimiter::snapshot(self);
        let mut snapshot = tollgate_bucket::Snapshot::default();
        snapshot.admitted = s.admitted;
        snapshot.rejected = s.rejected;
        snapshot.keys = s.keys;
        snapshot
    }
}

/// The same limiter behind the same [`RateLimitLayer`](tollgate_bucket::RateLimitLayer)
/// and HTTP face as the local one: a decision taken locally (a leased cell, a key known
/// to be limited) is immediate; one that needs Redis is [`Decision::Later`] (one boxed
/// future, which the round trip dwarfs).
impl<K, Conn, C> Decide<K> for RedisRateLimiter<Conn, C>
where
    K: KeyBytes,
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    fn decide(&self, key: &K, now: Timestamp, max_wait: Option<Duration>) -> Decision {
        let slack = max_wait.unwrap_or_default();
        let decided = match self.begin(key, 1, now, slack) {
            Next::Done(Ok(admitted)) => return Decision::Admit(admitted),
            Next::Done(Err(rejection)) => return Decision::Reject(rejection),
            next => next.remote(1, now, slack),
        };
        Decision::Later(Box::pin(async move {
            match decided.await {
                Ok(admitted) => Decision::Admit(admitted),
                Err(rejection) => Decision::Reject(rejection),
            }
        }))
    }
}

/// What a call does once the local table has had its say.
enum Next<Conn, C> {
    /// Decided locally.
    Done(Result<Admitted, Rejection>),
    /// Decided locally, from a lease half spent: the call tops it up by `cells` (a
    /// round trip already counted; `seen`: Redis's health before it).
    Refill {
        decision: Result<Admitted, Rejection>,
        inner: Arc<Inner<Conn, C>>,
        key: Vec<u8>,
        cells: u32,
        seen: u64,
    },
    /// Redis decides, granting up to `take` cells.
    Ask {
        inner: Arc<Inner<Conn, C>>,
        key: Vec<u8>,
        take: u32,
    },
}

impl<Conn, C> Next<Conn, C>
where
    Conn: ConnectionLike + Clone + Send + Sync + 'static,
    C: Clock,
{
    /// The decision as a future: ready when taken locally; else [`remote`](Self::remote),
    /// boxed (a round trip's state is large, and it waits for the network anyway).
    fn finish(self, n: u32, now: Timestamp, slack: Duration) -> Answer {
        match self {
            Next::Done(decision) => Answer::Ready(Some(decision)),
            next => Answer::Remote(Box::pin(next.remote(n, now, slack))),
        }
    }

    /// The decision: as taken locally (starting the lease's refill), or by Redis, and
    /// then its wait (wait mode).
    async fn remote(self, n: u32, now: Timestamp, slack: Duration) -> Result<Admitted, Rejection> {
        let (inner, key, take) = match self {
            Next::Done(decision) => return decision,
            Next::Refill {
                decision,
                inner,
                key,
                cells,
                seen,
            } => {
                tokio::spawn(inner.refill(key, cells, now, seen));
                return decision;
            }
            Next::Ask { inner, key, take } => (inner, key, take),
        };
        match inner
            .ask(LocalKey::from_tagged(&key), n, take, now, slack)
            .await
        {
            Ok((admitted, wait)) if !wait.is_zero() => {
                timer::sleep_until(&inner.clock, now, now + wait).await;
                Ok(admitted)
            }
            other => other.map(|(admitted, _)| admitted),
        }
    }
}

/// What `check_key` returns: a decision taken locally, or the round trip that takes it.
enum Answer {
    Ready(Option<Result<Admitted, Rejection>>),
    Remote(Pin<Box<dyn Future<Output = Result<Admitted, Rejection>> + Send>>),
}

impl Future for Answer {
    type Output = Result<Admitted, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answer::Ready(decision) => {
                Poll::Ready(decision.take().expect("polled after it completed"))
            }
            Answer::Remote(future) => future.as_mut().poll(cx),
        }
    }
}

/// Why a round trip gave no decision.
#[derive(Debug)]
enum RoundTripError {
    Timeout(Duration),
    Redis(redis::RedisError),
    Reply(Value),
}

impl fmt::Display for RoundTripError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoundTripError::Timeout(after) => write!(f, "no answer within {after:?}"),
            RoundTripError::Redis(error) => write!(f, "{error}"),
            RoundTripError::Reply(reply) => write!(f, "unexpected reply {reply:?}"),
        }
    }
}

impl<Conn, C> Clone for RedisRateLimiter<Conn, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Conn, C: fmt::Debug> fmt::Debug for RedisRateLimiter<Conn, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisRateLimiter")
            .field("quota", &inner.quota)
            .field("prefix", &inner.prefix)
            .field("lease", &inner.lease)
            .field("timeout", &inner.timeout)
            .field("on_failure", &inner.on_failure)
            .finish_non_exhaustive()
    }
}
