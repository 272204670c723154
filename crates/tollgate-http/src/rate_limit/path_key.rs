use std::sync::Arc;

use axum::extract::MatchedPath;
use http::Request;

use super::KeyExtractor;

/// Keys requests by route: axum's matched route template, or the raw request path.
///
/// [`PathKey::route`] reads axum's `MatchedPath` (`/users/{id}`), so every user page
/// shares one bucket and the table holds one key per route. A request that matched no
/// route (the fallback) has no key. [`PathKey::uri`] keys by the path as sent
/// (`/users/42`), which a client chooses freely: bound the key table.
///
/// ```
/// use tollgate_http::rate_limit::{KeyExtractor, PathKey};
///
/// let req = http::Request::get("/users/42?x=1").body(()).unwrap();
/// assert_eq!(PathKey::uri().extract(&req).as_deref(), Some("/users/42"));
/// assert_eq!(PathKey::route().extract(&req), None); // not routed by axum
/// ```
///
/// With axum, layer the limiter with `Router::layer` (or `route_layer`) so it runs
/// after routing and sees the matched route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathKey {
    matched: bool,
}

impl PathKey {
    /// Keys by axum's matched route template.
    pub const fn route() -> Self {
        Self { matched: true }
    }

    /// Keys by the request's URI path (without the query).
    pub const fn uri() -> Self {
        Self { matched: false }
    }
}

impl<B> KeyExtractor<B> for PathKey {
    type Key = Arc<str>;

    fn extract(&self, request: &Request<B>) -> Option<Arc<str>> {
        if self.matched {
            request
                .extensions()
                .get::<MatchedPath>()
                .map(|route| Arc::from(route.as_str()))
        } else {
            Some(Arc::from(request.uri().path()))
        }
    }
}
