//! Which breaker decides a request: one shared [`Breaker`], or one per key
//! ([`BreakerPerKey`]).

use std::fmt;
use std::hash::Hash;

use tollgate_core::{Clock, KeyFn, Rejection, SystemClock};

use crate::{Breaker, KeyedBreakers, Permit};

/// Picks the breaker a request goes through and asks it for a permit: what a
/// [`BreakerLayer`](crate::BreakerLayer) is generic over.
///
/// Implemented by [`Breaker`] (every request through one breaker) and by
/// [`BreakerPerKey`] (made by [`BreakerLayer::keyed`](crate::BreakerLayer::keyed)).
///
/// ```
/// use tollgate_breaker::{Breaker, SelectBreaker};
///
/// let breaker = Breaker::builder().build()?;
/// let permit = SelectBreaker::<&str>::acquire(&breaker, &"any request")?;
/// assert!(!permit.is_probe());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SelectBreaker<Req> {
    /// The clock of the breakers.
    type Clock: Clock;

    /// A permit for `request` from its breaker, or the breaker's refusal.
    fn acquire(&self, request: &Req) -> Result<Permit<Self::Clock>, Rejection>;
}

impl<Req, C: Clock> SelectBreaker<Req> for Breaker<C> {
    type Clock = C;

    #[inline]
    fn acquire(&self, _: &Req) -> Result<Permit<C>, Rejection> {
        self.try_acquire()
    }
}

/// One breaker per key of the request, from a table of [`KeyedBreakers`]: made by
/// [`BreakerLayer::keyed`](crate::BreakerLayer::keyed), see there for an example.
///
/// A request whose key function answers `None` is refused with
/// [`Reason::MissingKey`](tollgate_core::Reason::MissingKey), without calling the inner
/// service.
#[derive(Clone)]
pub struct BreakerPerKey<K, F, C = SystemClock> {
    pub(crate) breakers: KeyedBreakers<K, C>,
    key: F,
}

impl<K, F, C> BreakerPerKey<K, F, C> {
    pub(crate) fn new(breakers: KeyedBreakers<K, C>, key: F) -> Self {
        BreakerPerKey { breakers, key }
    }

    /// The table of breakers.
    pub fn breakers(&self) -> &KeyedBreakers<K, C> {
        &self.breakers
    }
}

impl<K, F, C> fmt::Debug for BreakerPerKey<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPerKey")
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl<Req, K, F, C> SelectBreaker<Req> for BreakerPerKey<K, F, C>
where
    F: KeyFn<Req, Key = K>,
    K: Hash + Eq + Clone + fmt::Display,
    C: Clock,
{
    type Clock = C;

    #[inline]
    fn acquire(&self, request: &Req) -> Result<Permit<C>, Rejection> {
        match self.key.key(request) {
            Some(key) => self.breakers.get(&key)?.try_acquire(),
            None => Err(self.breakers.missing_key()),
        }
    }
}
