use std::sync::Arc;
use std::time::Duration;

use tollgate_bucket::{KeyedRateLimiter, RateLimiter};
use tollgate_core::Clock;
use tower_layer::Layer;

use super::service::{RateLimit, Shared};
use super::{DirectLimit, KeyedLimit, MissingKey, RateLimitHeaders};
use crate::DefaultResponder;

/// Rate limits an HTTP service with a token bucket, answering refused requests itself.
///
/// The decision is taken in `call` (the clock is read once per request), so the service
/// is always as ready as the service it wraps, is `Clone`, and its error type is the
/// inner service's: `Infallible` on an axum router, with no `HandleErrorLayer` or
/// `BufferLayer`.
///
/// - Reject mode (the default): a refused request is answered at once with
///   `429 Too Many Requests`, `Retry-After` and the IETF `RateLimit-Policy` /
///   `RateLimit` headers ([`RateLimitHeaders`]); gRPC requests get
///   `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms`. The response comes from a
///   [`RejectionResponder`](crate::RejectionResponder), [`DefaultResponder`] unless
///   [`responder`](RateLimitLayer::responder) says otherwise.
/// - Wait mode ([`max_wait`](RateLimitLayer::max_wait)): a request that would be
///   admitted within the maximum wait waits for its slot inside the response future
///   (with tokio's timer), then runs; one that would wait longer is refused at once.
///   Dropping the response future while it waits gives the slot back as
///   `tollgate-bucket`'s `Reservation` documents.
///
/// Keyed, on an axum router, by API key:
///
/// ```
/// use axum::{routing::get, Router};
/// use tollgate_bucket::{KeyedRateLimiter, Quota};
/// use tollgate_http::rate_limit::{HeaderKey, RateLimitLayer};
///
/// let limiter = KeyedRateLimiter::builder(Quota::per_second(50).burst(10)?)
///     .max_keys(100_000)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/api", get(|| async { "ok" }))
///     .layer(RateLimitLayer::keyed(limiter, HeaderKey::new("x-api-key")?));
/// # let _ = app;
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer<L, R = DefaultResponder> {
    limit: L,
    responder: R,
    headers: RateLimitHeaders,
    max_wait: Option<Duration>,
}

impl<C: Clock> RateLimitLayer<DirectLimit<C>> {
    /// One bucket for every request.
    ///
    /// ```
    /// use tollgate_bucket::{Quota, RateLimiter};
    /// use tollgate_http::rate_limit::RateLimitLayer;
    ///
    /// let layer = RateLimitLayer::direct(RateLimiter::new(Quota::per_second(1_000).build()?));
    /// # let _ = layer;
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn direct(limiter: RateLimiter<C>) -> Self {
        Self::from_limit(DirectLimit::new(limiter))
    }
}

impl<K, E, C: Clock> RateLimitLayer<KeyedLimit<K, E, C>> {
    /// One bucket per key, the key read from each request by `extractor` (see
    /// [`KeyExtractor`](super::KeyExtractor)). A request without a key is refused with
    /// `400 Bad Request` unless [`on_missing_key`](RateLimitLayer::on_missing_key) says
    /// otherwise.
    pub fn keyed(limiter: KeyedRateLimiter<K, C>, extractor: E) -> Self {
        Self::from_limit(KeyedLimit::new(limiter, extractor))
    }
}

impl<L> RateLimitLayer<L> {
    /// A layer over any [`Limit`](super::Limit), with the default responder and headers.
    pub fn from_limit(limit: L) -> Self {
        Self {
            limit,
            responder: DefaultResponder,
            headers: RateLimitHeaders::new(),
            max_wait: None,
        }
    }
}

impl<L, R> RateLimitLayer<L, R> {
    /// Wait mode: wait up to `max_wait` for a slot instead of refusing at once. Needs a
    /// tokio runtime with the timer enabled.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Which rate-limit headers responses carry (default: [`RateLimitHeaders::new`]).
    pub fn headers(mut self, headers: RateLimitHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Builds refusals with `responder` (a [`RejectionResponder`](crate::RejectionResponder),
    /// such as a closure). The rate-limit headers are added to its responses.
    pub fn responder<R2>(self, responder: R2) -> RateLimitLayer<L, R2> {
        RateLimitLayer {
            limit: self.limit,
            responder,
            headers: self.headers,
            max_wait: self.max_wait,
        }
    }

    /// The limit, to reach the limiter's `snapshot()`.
    pub fn limit(&self) -> &L {
        &self.limit
    }
}

impl<K, E, C: Clock, R> RateLimitLayer<KeyedLimit<K, E, C>, R> {
    /// What to do with a request whose key cannot be extracted (default:
    /// [`MissingKey::Reject`], `400 Bad Request`).
    pub fn on_missing_key(mut self, missing: MissingKey<K>) -> Self {
        self.limit.set_missing(missing);
        self
    }
}

impl<S, L: Clone, R: Clone> Layer<S> for RateLimitLayer<L, R> {
    type Service = RateLimit<S, L, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(
            inner,
            Arc::new(Shared {
                limit: self.limit.clone(),
                responder: self.responder.clone(),
                headers: self.headers.clone(),
                max_wait: self.max_wait,
            }),
        )
    }
}
