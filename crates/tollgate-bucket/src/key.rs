//! The keys of a [`RateLimitLayer`](crate::RateLimitLayer): none for a direct limiter,
//! and what a keyed one does with a request that has no key.

use tollgate_core::KeyFn;

/// The key function of a direct [`RateLimitLayer`](crate::RateLimitLayer): every
/// request has the one key `()`, so every request shares the limiter's one bucket.
///
/// [`RateLimitLayer::new`](crate::RateLimitLayer::new) sets it; a keyed layer takes any
/// [`KeyFn`] instead. (It is a type of its own, not `()`, because `()` cannot implement
/// `tollgate_core`'s `KeyFn` outside that crate.)
///
/// ```
/// use tollgate_bucket::Unkeyed;
/// use tollgate_core::KeyFn;
///
/// assert_eq!(Unkeyed.key(&"any request"), Some(()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unkeyed;

impl<Req> KeyFn<Req> for Unkeyed {
    type Key = ();

    #[inline]
    fn key(&self, _: &Req) -> Option<()> {
        Some(())
    }
}

/// What a keyed [`RateLimitLayer`](crate::RateLimitLayer) does with a request whose key
/// function finds no key; set with
/// [`on_missing_key`](crate::RateLimitLayer::on_missing_key).
///
/// ```
/// use tollgate_bucket::MissingKey;
///
/// // The default: refuse with `Reason::MissingKey` (400 / INVALID_ARGUMENT on HTTP).
/// assert_eq!(MissingKey::<String>::default(), MissingKey::Reject);
/// // Or charge every keyless request to one shared bucket.
/// let shared = MissingKey::Bucket("anonymous".to_owned());
/// # let _ = shared;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MissingKey<K> {
    /// Refuse the request with [`Reason::MissingKey`](tollgate_core::Reason::MissingKey):
    /// `400 Bad Request` on HTTP, `INVALID_ARGUMENT` on gRPC. The default.
    #[default]
    Reject,
    /// Charge the request to the bucket of this key, shared by every keyless request.
    /// Choose a value no real request can produce, or keyless requests share a real
    /// client's bucket.
    Bucket(K),
}

/// A key function and what to do when it finds no key: made by
/// [`RateLimitLayer::on_missing_key`](crate::RateLimitLayer::on_missing_key).
///
/// ```
/// use tollgate_bucket::{MissingKey, WithMissingKey};
/// use tollgate_core::KeyFn;
///
/// let user = |req: &Option<&'static str>| *req;
/// let lenient = WithMissingKey::new(user, MissingKey::Bucket("anonymous"));
/// assert_eq!(lenient.key(&Some("ada")), Some("ada"));
/// assert_eq!(lenient.key(&None), Some("anonymous"));
/// assert_eq!(WithMissingKey::new(user, MissingKey::Reject).key(&None), None);
/// ```
#[derive(Debug, Clone)]
pub struct WithMissingKey<F, K> {
    key: F,
    missing: MissingKey<K>,
}

impl<F, K> WithMissingKey<F, K> {
    /// `key`, with `missing` for requests it finds no key in.
    pub fn new(key: F, missing: MissingKey<K>) -> Self {
        Self { key, missing }
    }

    /// The key function.
    pub fn inner(&self) -> &F {
        &self.key
    }
}

impl<Req, F, K> KeyFn<Req> for WithMissingKey<F, K>
where
    F: KeyFn<Req, Key = K>,
    K: Clone,
{
    type Key = K;

    #[inline]
    fn key(&self, request: &Req) -> Option<K> {
        match self.key.key(request) {
            Some(key) => Some(key),
            None => match &self.missing {
                MissingKey::Reject => None,
                MissingKey::Bucket(key) => Some(key.clone()),
            },
        }
    }
}
