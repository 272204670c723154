use std::sync::Arc;

use http::Request;
use tollgate_core::KeyFn;

/// Keys requests by route: axum's matched route template, or the raw request path.
///
/// [`PathKey::route`] (feature `axum`) reads axum's `MatchedPath` (`/users/{id}`), so
/// every user page
/// shares one bucket and the table holds one key per route. A request that matched no
/// route (the fallback) has no key. [`PathKey::uri`] keys by the path as sent
/// (`/users/42`), which a client chooses freely: bound the key table.
///
/// ```
/// use tollgate_core::KeyFn;
/// use tollgate_http::rate_limit::PathKey;
///
/// let req = http::Request::get("/users/42?x=1").body(()).unwrap();
/// assert_eq!(PathKey::uri().key(&req).as_deref(), Some("/users/42"));
/// ```
///
/// With axum, layer the limiter with `Router::layer` (or `route_layer`) so it runs
/// after routing and sees the matched route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathKey {
    matched: bool,
}

impl PathKey {
    /// Keys by axum's matched route template (a request axum did not route has no key).
    ///
    /// ```
    /// use tollgate_core::KeyFn;
    /// use tollgate_http::rate_limit::PathKey;
    ///
    /// let req = http::Request::get("/users/42").body(()).unwrap();
    /// assert_eq!(PathKey::route().key(&req), None); // not routed by axum
    /// ```
    #[cfg(feature = "axum")]
    pub const fn route() -> Self {
        Self { matched: true }
    }

    /// Keys by the request's URI path (without the query).
    pub const fn uri() -> Self {
        Self { matched: false }
    }
}

impl<B> KeyFn<Request<B>> for PathKey {
    type Key = Arc<str>;

    fn key(&self, request: &Request<B>) -> Option<Arc<str>> {
        #[cfg(feature = "axum")]
        if self.matched {
            return request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|route| Arc::from(route.as_str()));
        }
        Some(Arc::from(request.uri().path()))
    }
}
