use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use http::Request;
use tollgate_bucket::{Admitted, KeyedRateLimiter, RateLimiter, Reservation};
use tollgate_core::{Clock, Reason, Rejection, Timestamp};

use super::{KeyExtractor, MissingKey};

/// What a limiter decided for one request.
#[derive(Debug)]
pub enum Decision<C> {
    /// Admitted now.
    Admit(Admitted),
    /// Admitted once the reservation is ready (wait mode); dropping the reservation
    /// before committing it gives the slot back as `tollgate-bucket` documents.
    Wait(Reservation<C>),
    /// Refused.
    Reject(Rejection),
}

/// The limiter behind a [`RateLimitLayer`](super::RateLimitLayer): decides one request at
/// the instant `now`, read once from [`clock`](Limit::clock).
///
/// Implemented by [`DirectLimit`] (one bucket for every request) and [`KeyedLimit`]
/// (one bucket per key); the layer's constructors build them.
pub trait Limit<B>: Clone + Send + Sync + 'static {
    /// The limiter's clock.
    type Clock: Clock;

    /// The clock decisions are taken on.
    fn clock(&self) -> &Self::Clock;

    /// Decides `request` at `now`: reject mode when `max_wait` is `None`, else wait
    /// mode, waiting up to `max_wait`.
    fn decide(
        &self,
        request: &Request<B>,
        now: Timestamp,
        max_wait: Option<Duration>,
    ) -> Decision<Self::Clock>;
}

/// One bucket shared by every request: a [`RateLimiter`] as a [`Limit`].
///
/// ```
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_http::rate_limit::{DirectLimit, RateLimitLayer};
///
/// let layer: RateLimitLayer<DirectLimit> =
///     RateLimitLayer::direct(RateLimiter::new(Quota::per_second(100).build()?));
/// # let _ = layer;
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirectLimit<C = tollgate_core::SystemClock> {
    limiter: RateLimiter<C>,
}

impl<C: Clock> DirectLimit<C> {
    pub(crate) fn new(limiter: RateLimiter<C>) -> Self {
        Self { limiter }
    }

    /// The limiter, for its `snapshot()`.
    pub fn limiter(&self) -> &RateLimiter<C> {
        &self.limiter
    }
}

impl<B, C: Clock> Limit<B> for DirectLimit<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        self.limiter.clock()
    }

    fn decide(&self, _: &Request<B>, now: Timestamp, max_wait: Option<Duration>) -> Decision<C> {
        // The limiter traces its own rejections (target `tollgate::bucket`).
        let decision = match max_wait {
            None => self.limiter.check_at(1, now).map(Decision::Admit),
            Some(max) => self.limiter.reserve_at(1, now, max).map(Decision::Wait),
        };
        decision.unwrap_or_else(Decision::Reject)
    }
}

/// One bucket per key: a [`KeyedRateLimiter`] and a [`KeyExtractor`] as a [`Limit`].
///
/// See [`RateLimitLayer::keyed`](super::RateLimitLayer::keyed).
#[derive(Debug, Clone)]
pub struct KeyedLimit<K, E, C = tollgate_core::SystemClock> {
    limiter: KeyedRateLimiter<K, C>,
    extractor: E,
    missing: MissingKey<K>,
}

impl<K, E, C: Clock> KeyedLimit<K, E, C> {
    pub(crate) fn new(limiter: KeyedRateLimiter<K, C>, extractor: E) -> Self {
        Self {
            limiter,
            extractor,
            missing: MissingKey::Reject,
        }
    }

    pub(crate) fn set_missing(&mut self, missing: MissingKey<K>) {
        self.missing = missing;
    }

    /// The limiter, for its `snapshot()` and `sweep()`.
    pub fn limiter(&self) -> &KeyedRateLimiter<K, C> {
        &self.limiter
    }

    /// The key extractor.
    pub fn extractor(&self) -> &E {
        &self.extractor
    }
}

impl<B, K, E, C> Limit<B> for KeyedLimit<K, E, C>
where
    K: Hash + Eq + Clone + Debug + Send + Sync + 'static,
    E: KeyExtractor<B, Key = K>,
    C: Clock,
{
    type Clock = C;

    fn clock(&self) -> &C {
        self.limiter.clock()
    }

    fn decide(
        &self,
        request: &Request<B>,
        now: Timestamp,
        max_wait: Option<Duration>,
    ) -> Decision<C> {
        let extracted = self.extractor.extract(request);
        let key = match (&extracted, &self.missing) {
            (Some(key), _) | (None, MissingKey::Bucket(key)) => key,
            (None, MissingKey::Reject) => {
                // The limiter never sees this one: trace it as the limiter would.
                tracing::debug!(
                    target: "tollgate::bucket",
                    reason = %Reason::MissingKey,
                    "request rejected"
                );
                return Decision::Reject(Rejection::new(Reason::MissingKey));
            }
        };
        let decision = match max_wait {
            None => self.limiter.check_key_at(key, 1, now).map(Decision::Admit),
            Some(max) => self
                .limiter
                .reserve_key_at(key, 1, now, max)
                .map(Decision::Wait),
        };
        // The limiter traces its own rejections, with the key if its builder's
        // `trace_keys` allowed it.
        decision.unwrap_or_else(Decision::Reject)
    }
}
