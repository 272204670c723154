//! A live dashboard of the application's tollgate layers (feature `dashboard`): one
//! self-contained HTML page at `/tollgate` (no external script, style or font: it works
//! with no network) fed by a server-sent event stream of every registered layer's
//! snapshot, once per second, at `/tollgate/events`; the same JSON at
//! `/tollgate/snapshot`; and `/metrics` in the Prometheus text format when the
//! application installed `metrics-exporter-prometheus` and hands its handle over.
//!
//! The page shows, per layer, the rates of admitted and rejected requests, a breaker's
//! state as a coloured badge with its timeline, a shaper's queue and wait, in-flight
//! requests and the drain's phase.
//!
//! Wiring it into an axum application takes two lines:
//!
//! ```
//! use axum::{routing::get, Router};
//! use tollgate_bucket::{Quota, RateLimiter};
//! use tollgate_http::dashboard::Dashboard;
//!
//! let limiter = RateLimiter::new(Quota::per_second(100).build()?);
//! let dashboard = Dashboard::new().source("api", limiter.clone());
//! let app: Router = Router::new()
//!     .route("/api", get(|| async { "ok" }))
//!     .merge(dashboard.router());
//! # let _ = app;
//! # Ok::<(), tollgate_core::ConfigError>(())
//! ```
//!
//! With Prometheus (the recorder installed before the layers are built, so that their
//! handles register with it):
//!
//! ```
//! use metrics_exporter_prometheus::PrometheusBuilder;
//! use tollgate_http::dashboard::Dashboard;
//!
//! let handle = PrometheusBuilder::new().install_recorder()?;
//! let dashboard = Dashboard::new().prometheus(handle);
//! # let _ = dashboard;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod source;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use metrics_exporter_prometheus::PrometheusHandle;

pub use source::{Sample, Source};

/// The page, with its script and style inline.
const PAGE: &str = include_str!("page.html");

/// The layers a dashboard shows, and the Prometheus handle it serves; cheap to clone.
/// See the [module docs](self).
#[derive(Clone)]
pub struct Dashboard {
    sources: Vec<(Arc<str>, Arc<dyn Source>)>,
    prometheus: Option<PrometheusHandle>,
    period: Duration,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Dashboard {
    /// A dashboard showing no layer yet, sampling once per second.
    pub fn new() -> Self {
        Self {
            sources: Vec::new(),
            prometheus: None,
            period: Duration::from_secs(1),
        }
    }

    /// Shows `source` (a limiter, shaper, breaker, policy, drain, or a closure
    /// returning a [`Sample`]) under `name`, after the sources added before.
    pub fn source(mut self, name: impl Into<Arc<str>>, source: impl Source) -> Self {
        self.sources.push((name.into(), Arc::new(source)));
        self
    }

    /// Serves `/metrics` from this handle of the installed Prometheus recorder.
    pub fn prometheus(mut self, handle: PrometheusHandle) -> Self {
        self.prometheus = Some(handle);
        self
    }

    /// Every source's sample now, as the JSON object each event carries:
    /// `{"sources":[{"name":..,"kind":..,"state":..,"figures":[{"name":..,"value":..,"counter":..}]}]}`.
    ///
    /// ```
    /// use tollgate_http::dashboard::{Dashboard, Sample};
    ///
    /// let json = Dashboard::new().source("a", || Sample::new("k").counter("n", 1)).json();
    /// assert_eq!(
    ///     json,
    ///     r#"{"sources":[{"name":"a","kind":"k","figures":[{"name":"n","value":1,"counter":true}]}]}"#
    /// );
    /// ```
    pub fn json(&self) -> String {
        let mut out = String::from("{\"sources\":[");
        for (i, (name, source)) in self.sources.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            source.sample().write_json(name, &mut out);
        }
        out.push_str("]}");
        out
    }

    /// The routes: `/tollgate` (the page), `/tollgate/events` (the stream),
    /// `/tollgate/snapshot` (one JSON sample), and `/metrics` when a Prometheus handle
    /// was given. Merge it into the application's router.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let events = self.clone();
        let snapshot = self.clone();
        let router = Router::new()
            .route("/tollgate", get(|| async { Html(PAGE) }))
            .route(
                "/tollgate/events",
                get(move || async move { events.events() }),
            )
            .route(
                "/tollgate/snapshot",
                get(move || async move {
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        snapshot.json(),
                    )
                }),
            );
        match &self.prometheus {
            Some(handle) => {
                let handle = handle.clone();
                router.route(
                    "/metrics",
                    get(move || async move {
                        (
                            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                            handle.render(),
                        )
                    }),
                )
            }
            None => router,
        }
    }

    /// The event stream: a sample at once, then one per period.
    fn events(self) -> impl IntoResponse {
        let ticks = tokio::time::interval(self.period);
        let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
            Box::pin(stream::unfold(
                (self, ticks),
                |(dashboard, mut ticks)| async move {
                    ticks.tick().await;
                    let event = Event::default().event("sample").data(dashboard.json());
                    Some((Ok(event), (dashboard, ticks)))
                },
            ));
        Sse::new(stream).keep_alive(KeepAlive::default())
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|(n, _)| &**n).collect();
        f.debug_struct("Dashboard")
            .field("sources", &names)
            .field("prometheus", &self.prometheus.is_some())
            .field("period", &self.period)
            .finish()
    }
}
