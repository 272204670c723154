use std::time::Duration;

use tollgate_core::sync::Arc;

use http::header::{Entry, HeaderName, HeaderValue};
use http::Request;
use tokio::time::Instant;
use tollgate_core::{ConfigError, DeadlineKind};
use tollgate_deadline::{
    current_with_kind, format_grpc_timeout, format_http_timeout, parse_grpc_timeout, scoped_call,
    Deadline, HeaderUnit,
};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ClientFuture;
use super::stats::{ClientSnapshot, Counters, FAILED_FAST, SENT, UNBOUNDED};
use super::{DEFAULT_HEADER, GRPC_TIMEOUT};
use crate::Protocol;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct ClientConfig {
    total: Option<Duration>,
    margin: Duration,
    min: Duration,
    header: Option<(HeaderName, HeaderUnit)>,
}

/// Sends the remaining budget with every request. See the [module docs](super).
///
/// gRPC requests (by `content-type`) carry `grpc-timeout`; other requests carry the
/// HTTP header (`request-timeout` in milliseconds by default). The call is also cut off
/// locally at the deadline, with a [`Rejection`](tollgate_core::Rejection) inside the
/// `BoxError` saying which deadline fired.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::HeaderUnit;
/// use tollgate_http::deadline::ClientDeadlineLayer;
///
/// let layer = ClientDeadlineLayer::builder()
///     .total(Duration::from_secs(2))
///     .margin(Duration::from_millis(10))
///     .min(Duration::from_millis(5))
///     .header("x-timeout", HeaderUnit::Seconds)
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct ClientDeadlineLayer {
    config: ClientConfig,
    counters: Arc<Counters>,
}

/// Builds a [`ClientDeadlineLayer`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::ClientDeadlineLayer;
///
/// let err = ClientDeadlineLayer::builder().total(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "total");
/// ```
#[derive(Debug, Clone)]
pub struct ClientDeadlineLayerBuilder {
    config: ClientConfig,
    header: Option<(String, HeaderUnit)>,
}

impl ClientDeadlineLayer {
    /// A builder: no total of its own (only the inherited deadline), no margin,
    /// minimum 1 ms, the `request-timeout` header in milliseconds.
    pub fn builder() -> ClientDeadlineLayerBuilder {
        ClientDeadlineLayerBuilder {
            config: ClientConfig {
                total: None,
                margin: Duration::ZERO,
                min: Duration::from_millis(1),
                header: None,
            },
            header: Some((DEFAULT_HEADER.to_owned(), HeaderUnit::Millis)),
        }
    }
}

impl ClientDeadlineLayerBuilder {
    /// This client's own total timeout; the earlier of it and the inherited deadline
    /// wins.
    pub fn total(mut self, total: Duration) -> Self {
        self.config.total = Some(total);
        self
    }

    /// Subtracted from the budget sent: the time the request needs to get there.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.config.margin = margin;
        self
    }

    /// Fails fast, without sending, when less than `min` would be sent.
    pub fn min(mut self, min: Duration) -> Self {
        self.config.min = min;
        self
    }

    /// The plain HTTP header to write on non-gRPC requests, and its unit.
    pub fn header(mut self, name: &str, unit: HeaderUnit) -> Self {
        self.header = Some((name.to_owned(), unit));
        self
    }

    /// Writes no header on non-gRPC requests (the deadline is still enforced locally).
    pub fn no_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// Validates and builds the layer.
    pub fn build(mut self) -> Result<ClientDeadlineLayer, ConfigError> {
        if self.config.total.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new("total", "must be greater than zero"));
        }
        if let Some(total) = self.config.total {
            if self.config.margin >= total {
                return Err(ConfigError::new("margin", "must be below `total`"));
            }
        }
        if let Some((name, unit)) = self.header.take() {
            let name = HeaderName::try_from(name)
                .map_err(|_| ConfigError::new("header", "must be a valid header name"))?;
            self.config.header = Some((name, unit));
        }
        Ok(ClientDeadlineLayer {
            config: self.config,
            counters: Arc::default(),
        })
    }
}

impl<S> Layer<S> for ClientDeadlineLayer {
    type Service = ClientDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientDeadline {
            inner,
            config: self.config.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// The service of a [`ClientDeadlineLayer`]. See the [module docs](super).
///
/// ```
/// use tollgate_http::deadline::ClientDeadlineLayer;
/// use tower::{service_fn, Layer};
///
/// let svc = ClientDeadlineLayer::builder().build().unwrap().layer(service_fn(
///     |_: http::Request<()>| async { Ok::<_, tower::BoxError>(http::Response::new(())) },
/// ));
/// let _inner = svc.into_inner();
/// ```
#[derive(Debug, Clone)]
pub struct ClientDeadline<S> {
    inner: S,
    config: ClientConfig,
    counters: Arc<Counters>,
}

impl<S> ClientDeadline<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// What the layer did so far, across every service it built.
    pub fn snapshot(&self) -> ClientSnapshot {
        self.counters.client_snapshot()
    }
}

impl ClientDeadlineLayer {
    /// What the layer did so far, across every service it built.
    pub fn snapshot(&self) -> ClientSnapshot {
        self.counters.client_snapshot()
    }
}

impl<S, B> Service<Request<B>> for ClientDeadline<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let now = Instant::now();
        let inherited = current_with_kind().or_else(|| {
            req.extensions()
                .get::<Deadline>()
                .map(|d| (*d, DeadlineKind::Inherited))
        });
        let own = self.config.total.map(|t| Deadline::after(now, t));
        let (deadline, kind) = match (inherited, own) {
            (Some((i, kind)), Some(o)) if i <= o => (i, kind),
            (_, Some(o)) => (o, DeadlineKind::Total),
            (Some(inherited), None) => inherited,
            (None, None) => {
                self.counters.bump(UNBOUNDED);
                return ClientFuture::unbounded(self.inner.call(req));
            }
        };
        let budget = deadline.budget(now, self.config.margin);
        if budget.is_zero() || budget < self.config.min {
            tracing::debug!(
                target: "tollgate::deadline",
                kind = ?kind,
                budget_us = budget.as_micros() as u64,
                "not sent: the remaining budget is below the minimum"
            );
            self.counters.bump(FAILED_FAST);
            return ClientFuture::spent(kind);
        }
        write_budget(&mut req, budget, self.config.header.as_ref());
        let inner = scoped_call(deadline, kind, || self.inner.call(req));
        self.counters.bump(SENT);
        ClientFuture::running(inner, deadline, kind, self.counters.clone())
    }
}

fn write_budget<B>(
    req: &mut Request<B>,
    budget: Duration,
    header: Option<&(HeaderName, HeaderUnit)>,
) {
    if Protocol::of(req) == Protocol::Grpc {
        // One lookup for both the check and the write.
        let entry = req.headers_mut().entry(GRPC_TIMEOUT);
        // A smaller timeout the caller set on the request (tonic's `set_timeout`) stays.
        if let Entry::Occupied(set) = &entry {
            if parse_grpc_timeout(set.get().as_bytes()).is_ok_and(|set| set <= budget) {
                return;
            }
        }
        if let Ok(text) = format_grpc_timeout(budget) {
            if let Ok(value) = HeaderValue::from_bytes(text.as_bytes()) {
                match entry {
                    Entry::Occupied(mut set) => {
                        set.insert(value);
                    }
                    Entry::Vacant(unset) => {
                        unset.insert(value);
                    }
                }
            }
        }
    } else if let Some((name, unit)) = header {
        let text = format_http_timeout(budget, *unit);
        if let Ok(value) = HeaderValue::from_bytes(text.as_bytes()) {
            req.headers_mut().insert(name.clone(), value);
        }
    }
}
