use std::time::Duration;

use tollgate_core::sync::Arc;

use http::header::HeaderName;
use http::{HeaderMap, Request, Response};
use tokio::time::Instant;
use tollgate_core::{ConfigError, DeadlineKind, Reason, Rejection};
use tollgate_deadline::{
    exceeded, parse_grpc_timeout, parse_http_timeout, scoped_call, Deadline, HeaderUnit, WireError,
};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ServerFuture;
use super::stats::{
    Counters, ServerSnapshot, ADMITTED, REFUSED_MALFORMED, REFUSED_SPENT, UNBOUNDED,
};
use super::{DEFAULT_HEADER, GRPC_TIMEOUT};
use crate::{DefaultResponder, Protocol, RejectionResponder};

/// What the server layer does with a malformed or oversized timeout header.
///
/// ```
/// use tollgate_http::deadline::OnMalformed;
/// assert_eq!(OnMalformed::default(), OnMalformed::Reject);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMalformed {
    /// Answer `400 Bad Request` / `INVALID_ARGUMENT` before the handler runs.
    #[default]
    Reject,
    /// Treat the request as if it sent no budget (the server default applies).
    Ignore,
}

#[derive(Debug, Clone)]
struct ServerConfig {
    max: Option<Duration>,
    margin: Duration,
    default: Option<Duration>,
    min: Duration,
    header: Option<(HeaderName, HeaderUnit)>,
    on_malformed: OnMalformed,
}

/// Reads the caller's budget and enforces it. See the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::HeaderUnit;
/// use tollgate_http::deadline::{OnMalformed, ServerDeadlineLayer};
///
/// let layer = ServerDeadlineLayer::builder()
///     .max(Duration::from_secs(5))
///     .default_budget(Duration::from_secs(2))
///     .margin(Duration::from_millis(20))
///     .min(Duration::from_millis(5))
///     .header("x-timeout", HeaderUnit::Seconds)
///     .on_malformed(OnMalformed::Ignore)
///     .build()
///     .unwrap();
/// # let _ = layer;
/// assert!(ServerDeadlineLayer::builder().max(Duration::ZERO).build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ServerDeadlineLayer<R = DefaultResponder> {
    config: ServerConfig,
    responder: R,
    counters: Arc<Counters>,
}

/// Builds a [`ServerDeadlineLayer`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::ServerDeadlineLayer;
///
/// let err = ServerDeadlineLayer::builder()
///     .max(Duration::from_secs(1))
///     .default_budget(Duration::from_secs(2))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "default_budget");
/// ```
#[derive(Debug, Clone)]
pub struct ServerDeadlineLayerBuilder {
    config: ServerConfig,
    header: Option<(String, HeaderUnit)>,
}

impl ServerDeadlineLayer {
    /// A builder: no maximum, no default, no margin, minimum 1 ms, the `request-timeout`
    /// header in milliseconds, malformed values refused.
    pub fn builder() -> ServerDeadlineLayerBuilder {
        ServerDeadlineLayerBuilder {
            config: ServerConfig {
                max: None,
                margin: Duration::ZERO,
                default: None,
                min: Duration::from_millis(1),
                header: None,
                on_malformed: OnMalformed::Reject,
            },
            header: Some((DEFAULT_HEADER.to_owned(), HeaderUnit::Millis)),
        }
    }
}

impl<R> ServerDeadlineLayer<R> {
    /// Uses `responder` for the 504 / `DEADLINE_EXCEEDED` responses, and for the 400 /
    /// `INVALID_ARGUMENT` answer to a malformed timeout ([`Reason::MalformedHeader`]).
    pub fn responder<R2>(self, responder: R2) -> ServerDeadlineLayer<R2> {
        ServerDeadlineLayer {
            config: self.config,
            responder,
            counters: self.counters,
        }
    }

    /// What the layer did so far, across every service it built.
    pub fn snapshot(&self) -> ServerSnapshot {
        self.counters.server_snapshot()
    }
}

impl ServerDeadlineLayerBuilder {
    /// Caps every budget (sent or default) at `max`.
    pub fn max(mut self, max: Duration) -> Self {
        self.config.max = Some(max);
        self
    }

    /// Subtracts `margin` from budgets sent by callers: the time the answer needs to
    /// travel back.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.config.margin = margin;
        self
    }

    /// The budget of requests that send none (otherwise they run unbounded).
    pub fn default_budget(mut self, budget: Duration) -> Self {
        self.config.default = Some(budget);
        self
    }

    /// Refuses requests with less than `min` left before the handler runs.
    pub fn min(mut self, min: Duration) -> Self {
        self.config.min = min;
        self
    }

    /// The plain HTTP header to read, and its unit (`request-timeout` in ms by default).
    pub fn header(mut self, name: &str, unit: HeaderUnit) -> Self {
        self.header = Some((name.to_owned(), unit));
        self
    }

    /// Reads `grpc-timeout` only.
    pub fn no_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// What to do with a malformed or oversized timeout value.
    pub fn on_malformed(mut self, on: OnMalformed) -> Self {
        self.config.on_malformed = on;
        self
    }

    /// Validates and builds the layer.
    pub fn build(mut self) -> Result<ServerDeadlineLayer, ConfigError> {
        if let Some(max) = self.config.max {
            if max.is_zero() {
                return Err(ConfigError::new("max", "must be greater than zero"));
            }
            if self.config.default.is_some_and(|d| d > max) {
                return Err(ConfigError::new("default_budget", "must not exceed `max`"));
            }
            if self.config.min > max {
                return Err(ConfigError::new("min", "must not exceed `max`"));
            }
        }
        if self.config.default.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "default_budget",
                "must be greater than zero",
            ));
        }
        if let Some((name, unit)) = self.header.take() {
            let name = HeaderName::try_from(name)
                .map_err(|_| ConfigError::new("header", "must be a valid header name"))?;
            self.config.header = Some((name, unit));
        }
        Ok(ServerDeadlineLayer {
            config: self.config,
            responder: DefaultResponder,
            counters: Arc::default(),
        })
    }
}

impl<S, R: Clone> Layer<S> for ServerDeadlineLayer<R> {
    type Service = ServerDeadline<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerDeadline {
            inner,
            config: self.config.clone(),
            responder: self.responder.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// The service of a [`ServerDeadlineLayer`]. See the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::ServerDeadlineLayer;
/// use tower::{service_fn, Layer};
///
/// let svc = ServerDeadlineLayer::builder().build().unwrap().layer(service_fn(
///     |_: http::Request<()>| async { Ok::<_, std::convert::Infallible>(http::Response::new(())) },
/// ));
/// let _inner = svc.get_ref();
/// ```
#[derive(Debug, Clone)]
pub struct ServerDeadline<S, R = DefaultResponder> {
    inner: S,
    config: ServerConfig,
    responder: R,
    counters: Arc<Counters>,
}

impl<S, R> ServerDeadline<S, R> {
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
    pub fn snapshot(&self) -> ServerSnapshot {
        self.counters.server_snapshot()
    }
}

impl ServerConfig {
    /// The budget the caller sent: the smaller of `grpc-timeout` and the HTTP header.
    fn sent(&self, headers: &HeaderMap) -> Result<Option<Duration>, WireError> {
        let mut sent = None;
        if let Some(v) = headers.get(&GRPC_TIMEOUT) {
            sent = Some(parse_grpc_timeout(v.as_bytes())?);
        }
        if let Some((name, unit)) = &self.header {
            if let Some(v) = headers.get(name) {
                let b = parse_http_timeout(v.as_bytes(), *unit)?;
                sent = Some(sent.map_or(b, |s: Duration| s.min(b)));
            }
        }
        Ok(sent)
    }

    fn budget(&self, sent: Option<Duration>) -> Option<Duration> {
        let budget = match sent {
            Some(sent) => sent.saturating_sub(self.margin),
            None => self.default?,
        };
        Some(self.max.map_or(budget, |max| budget.min(max)))
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for ServerDeadline<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponder<ResBody>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future, R, ResBody>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let now = Instant::now();
        let protocol = Protocol::of(&req);
        let sent = match self.config.sent(req.headers()) {
            Ok(sent) => sent,
            Err(err) if self.config.on_malformed == OnMalformed::Reject => {
                tracing::debug!(target: "tollgate::deadline", error = %err, "malformed timeout refused");
                self.counters.bump(REFUSED_MALFORMED);
                let rejection = Rejection::new(Reason::MalformedHeader).with_name("timeout header");
                return ServerFuture::done(self.responder.respond(&rejection, protocol));
            }
            Err(_) => None,
        };
        let Some(budget) = self.config.budget(sent) else {
            self.counters.bump(UNBOUNDED);
            return ServerFuture::unbounded(self.inner.call(req));
        };
        if budget.is_zero() || budget < self.config.min {
            tracing::debug!(
                target: "tollgate::deadline",
                budget_us = budget.as_micros() as u64,
                "budget spent before the handler"
            );
            self.counters.bump(REFUSED_SPENT);
            let rejection = exceeded(DeadlineKind::Inherited);
            return ServerFuture::done(self.responder.respond(&rejection, protocol));
        }
        let deadline = Deadline::after(now, budget);
        req.extensions_mut().insert(deadline);
        let inner = scoped_call(deadline, DeadlineKind::Inherited, || self.inner.call(req));
        self.counters.bump(ADMITTED);
        ServerFuture::running(
            inner,
            deadline,
            self.responder.clone(),
            protocol,
            self.counters.clone(),
        )
    }
}
