//! How a [`RateLimit`](crate::RateLimit) service asks its limiter: [`Limiter`] and
//! [`Decide`], which a local limiter answers at once and a remote one (a shared store)
//! answers later.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::time::Duration;

use tollgate_core::{Clock, Rejection, Timestamp};

use crate::direct::RateLimiter;
use crate::keyed::KeyedRateLimiter;
use crate::outcome::{Admitted, Reservation, Snapshot};

/// What every limiter behind a [`RateLimitLayer`](crate::RateLimitLayer) tells about
/// itself, whatever its keys: its clock, its policy name and its counters.
///
/// See [`Decide`] for an example.
pub trait Limiter {
    /// The clock the limiter decides on.
    type Clock: Clock;

    /// The clock the layer reads `now` from, once per request, and arms wait-mode timers
    /// on.
    fn clock(&self) -> &Self::Clock;

    /// The policy name its rejections carry, stated in the HTTP face's `RateLimit`
    /// headers (`"default"` when none).
    fn name(&self) -> Option<&str> {
        None
    }

    /// The counters so far.
    fn snapshot(&self) -> Snapshot;
}

/// Decides one request with key `K` (`()` for a direct limiter): the trait a
/// [`RateLimit`](crate::RateLimit) service decides through.
///
/// A local limiter ([`RateLimiter`], [`KeyedRateLimiter`]) answers at once with
/// [`Decision::Admit`], [`Decision::Wait`] or [`Decision::Reject`]: no allocation, no
/// future, the decision inlined into the service's `call`. A limiter whose buckets live
/// elsewhere (a shared store reached over the network) answers [`Decision::Later`] with
/// the future of its answer; the service parks the request until that future resolves
/// (that path allocates one box, which a network round trip dwarfs).
///
/// With `max_wait` `None` (reject mode) the answer is `Admit` or `Reject`; with
/// `Some(max)` (wait mode) it is `Wait` with a reservation at most `max` away (possibly
/// ready at once), or `Reject`.
///
/// A toy remote limiter, whose answer comes from another task over a channel:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use tollgate_bucket::{Admitted, Decide, Decision, Limiter, Quota, RateLimitLayer, Snapshot};
/// use tollgate_core::{Clock, ManualClock, Reason, Rejection, Timestamp};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// /// Admits `left` requests in all; the "store" answers from a spawned task.
/// #[derive(Clone)]
/// struct Remote {
///     left: Arc<Mutex<u32>>,
///     quota: Quota,
///     clock: ManualClock,
/// }
///
/// impl Limiter for Remote {
///     type Clock = ManualClock;
///     fn clock(&self) -> &ManualClock {
///         &self.clock
///     }
///     fn snapshot(&self) -> Snapshot {
///         Snapshot::default()
///     }
/// }
///
/// impl Decide<String> for Remote {
///     fn decide(&self, _key: &String, now: Timestamp, _max_wait: Option<Duration>) -> Decision {
///         let (left, quota) = (self.left.clone(), self.quota);
///         let answer = tokio::spawn(async move {
///             let mut left = left.lock().unwrap();
///             if *left == 0 {
///                 return Decision::Reject(Rejection::new(Reason::RateLimited));
///             }
///             *left -= 1;
///             Decision::Admit(Admitted::from_tat(quota, now, now + quota.emission_interval()))
///         });
///         Decision::Later(Box::pin(async move { answer.await.expect("the store answers") }))
///     }
/// }
///
/// let remote = Remote {
///     left: Arc::new(Mutex::new(1)),
///     quota: Quota::per_second(10).build()?,
///     clock: ManualClock::new(),
/// };
/// let layer = RateLimitLayer::keyed(remote, |user: &String| Some(user.clone()));
/// let service = layer.layer(service_fn(|user: String| async move {
///     Ok::<_, tower::BoxError>(format!("hello {user}"))
/// }));
/// assert_eq!(service.clone().oneshot("ada".to_string()).await?, "hello ada");
/// let refused = service.oneshot("ada".to_string()).await.unwrap_err();
/// assert_eq!(refused.downcast_ref::<Rejection>().unwrap().reason(), Reason::RateLimited);
/// # Ok(())
/// # }
/// ```
pub trait Decide<K>: Limiter {
    /// Decides a request with `key` at `now` (read once from [`Limiter::clock`]),
    /// waiting at most `max_wait` for a slot (wait mode) or not at all (`None`).
    fn decide(&self, key: &K, now: Timestamp, max_wait: Option<Duration>) -> Decision;
}

/// A limiter's answer for one request; see [`Decide`].
#[must_use = "a Decision holds a reservation or an admission that the caller acts on"]
pub enum Decision {
    /// Admitted now (reject mode).
    Admit(Admitted),
    /// Admitted at the reservation's time (wait mode). Dropping the reservation
    /// uncommitted gives the slot back, as [`Reservation`] documents.
    Wait(Reservation),
    /// Refused.
    Reject(Rejection),
    /// The answer of a remote limiter, still to come.
    Later(Later),
}

/// The answer of a remote limiter still to come: see [`Decide`].
pub type Later = Pin<Box<dyn Future<Output = Decision> + Send>>;

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Admit(admitted) => f.debug_tuple("Admit").field(admitted).finish(),
            Decision::Wait(reservation) => f.debug_tuple("Wait").field(reservation).finish(),
            Decision::Reject(rejection) => f.debug_tuple("Reject").field(rejection).finish(),
            Decision::Later(_) => f.write_str("Later"),
        }
    }
}

// ===== the local limiters: answered at once =====

impl<C: Clock> Limiter for RateLimiter<C> {
    type Clock = C;

    #[inline]
    fn clock(&self) -> &C {
        RateLimiter::clock(self)
    }

    fn name(&self) -> Option<&str> {
        RateLimiter::name(self)
    }

    fn snapshot(&self) -> Snapshot {
        RateLimiter::snapshot(self)
    }
}

impl<C: Clock> Decide<()> for RateLimiter<C> {
    #[inline]
    fn decide(&self, _: &(), now: Timestamp, max_wait: Option<Duration>) -> Decision {
        // The limiter traces its own rejections (target `tollgate::bucket`).
        let decision = match max_wait {
            None => self.check_at(1, now).map(Decision::Admit),
            Some(max) => self.reserve_at(1, now, max).map(Decision::Wait),
        };
        decision.unwrap_or_else(Decision::Reject)
    }
}

impl<K, C> Limiter for KeyedRateLimiter<K, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
{
    type Clock = C;

    #[inline]
    fn clock(&self) -> &C {
        KeyedRateLimiter::clock(self)
    }

    fn name(&self) -> Option<&str> {
        KeyedRateLimiter::name(self)
    }

    fn snapshot(&self) -> Snapshot {
        KeyedRateLimiter::snapshot(self)
    }
}

impl<K, C> Decide<K> for KeyedRateLimiter<K, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
{
    #[inline]
    fn decide(&self, key: &K, now: Timestamp, max_wait: Option<Duration>) -> Decision {
        // The limiter traces its own rejections, with the key if its builder's
        // `trace_keys` allowed it.
        let decision = match max_wait {
            None => self.check_key_at(key, 1, now).map(Decision::Admit),
            Some(max) => self.reserve_key_at(key, 1, now, max).map(Decision::Wait),
        };
        decision.unwrap_or_else(Decision::Reject)
    }
}
