//! Picking a request's key, for keyed limiters and breakers.

/// Picks the key a keyed layer decides a request by (a client address, an API key, a
/// host): one shape for every keyed layer in tollgate.
///
/// Implemented by every `Fn(&Req) -> Option<K>` closure, and by `tollgate-http`'s
/// extractors (`PeerIp`, `HeaderKey`, `PathKey`, `ForwardedIp`). `None` means the request
/// has no key; each layer documents what it does then.
///
/// ```
/// use tollgate_core::KeyFn;
///
/// let by_user = |request: &(&'static str, u32)| Some(request.0);
/// assert_eq!(by_user.key(&("alice", 7)), Some("alice"));
///
/// fn key_of<Req, F: KeyFn<Req>>(f: &F, request: &Req) -> Option<F::Key> {
///     f.key(request)
/// }
/// assert_eq!(key_of(&by_user, &("bob", 1)), Some("bob"));
/// ```
pub trait KeyFn<Req>: Clone {
    /// The key type.
    type Key;

    /// The key of `request`, or `None` if it has none.
    fn key(&self, request: &Req) -> Option<Self::Key>;
}

impl<Req, K, F> KeyFn<Req> for F
where
    F: Fn(&Req) -> Option<K> + Clone,
{
    type Key = K;

    #[inline]
    fn key(&self, request: &Req) -> Option<K> {
        self(request)
    }
}
