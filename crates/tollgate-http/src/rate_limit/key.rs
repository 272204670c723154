use std::fmt::Debug;
use std::hash::Hash;

use http::Request;

/// How a keyed rate limit picks the bucket of a request: one bucket per distinct key.
///
/// Implemented by the extractors of this module ([`PeerIp`](super::PeerIp),
/// [`HeaderKey`](super::HeaderKey), [`PathKey`](super::PathKey),
/// [`ForwardedIp`](super::ForwardedIp)) and by any closure
/// `Fn(&http::Request<B>) -> Option<K>`:
///
/// ```
/// use tollgate_http::rate_limit::KeyExtractor;
///
/// // One bucket per tenant, read from the first path segment: `/t/{tenant}/...`.
/// let tenant = |req: &http::Request<()>| {
///     let mut segments = req.uri().path().split('/').skip(1);
///     match (segments.next(), segments.next()) {
///         (Some("t"), Some(tenant)) if !tenant.is_empty() => Some(tenant.to_owned()),
///         _ => None,
///     }
/// };
/// let req = http::Request::get("/t/acme/orders").body(()).unwrap();
/// assert_eq!(tenant.extract(&req), Some("acme".to_owned()));
/// assert_eq!(tenant.extract(&http::Request::get("/health").body(()).unwrap()), None);
/// ```
///
/// `None` means the request carries no usable key; what happens to it then is the
/// layer's [`MissingKey`] setting. An extractor never panics on what a client sends.
pub trait KeyExtractor<B>: Clone + Send + Sync + 'static {
    /// The key. `Debug` so rejections can name it in traces when allowed.
    type Key: Hash + Eq + Clone + Debug + Send + Sync + 'static;

    /// The key of `request`, or `None` when it has none.
    fn extract(&self, request: &Request<B>) -> Option<Self::Key>;
}

impl<F, B, K> KeyExtractor<B> for F
where
    F: Fn(&Request<B>) -> Option<K> + Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Debug + Send + Sync + 'static,
{
    type Key = K;

    fn extract(&self, request: &Request<B>) -> Option<K> {
        self(request)
    }
}

/// What a keyed rate limit does with a request whose key cannot be extracted.
///
/// ```
/// use tollgate_http::rate_limit::MissingKey;
///
/// // The default: refuse with `400 Bad Request` (`Reason::MissingKey`).
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
