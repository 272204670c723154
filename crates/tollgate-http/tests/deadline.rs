//! Exact paused-time tests of the HTTP/gRPC deadline layers, hop by hop in process.

#![cfg(feature = "deadline")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::time::Instant;
use tollgate_core::{Clock, DeadlineKind, Reason, Rejection, Timestamp, TokioClock};
use tollgate_deadline::{
    Deadline, DeadlinePolicy, DeadlinePolicyBuilder, OnMalformed, ServerDeadlineLayer,
    TimeoutLayer, TimeoutPolicy, TimeoutPolicyBuilder,
};
use tollgate_http::deadline::{HeaderUnit, TimeoutHeaders};
use tollgate_http::AsResponse;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

/// Now on the layers' default clock, which follows tokio's paused time.
fn now() -> Timestamp {
    TokioClock::new().now()
}

/// The HTTP server layer: budgets read from the headers, refusals as responses.
fn server(policy: DeadlinePolicyBuilder) -> ServerDeadlineLayer<TimeoutHeaders, AsResponse> {
    server_with(policy, TimeoutHeaders::new())
}

fn server_with(
    policy: DeadlinePolicyBuilder,
    headers: TimeoutHeaders,
) -> ServerDeadlineLayer<TimeoutHeaders, AsResponse> {
    ServerDeadlineLayer::new(policy.build().unwrap())
        .propagate(headers)
        .refuse_with(AsResponse::new())
}

/// The HTTP client layer: the budget written on the headers, refusals as errors.
fn client(policy: TimeoutPolicyBuilder) -> TimeoutLayer<TimeoutHeaders> {
    TimeoutLayer::new(policy.build().unwrap()).propagate(TimeoutHeaders::new())
}

type Seen = Arc<Mutex<Vec<(Option<Duration>, Option<Duration>)>>>;

/// A handler that records (remaining in scope, remaining in extensions), then works `work`.
fn handler(
    work: Duration,
    seen: Seen,
) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(move |req: Request<()>| {
        let now = now();
        let scoped = Deadline::current().map(|d| d.remaining(now));
        let ext = req.extensions().get::<Deadline>().map(|d| d.remaining(now));
        seen.lock().unwrap().push((scoped, ext));
        async move {
            tokio::time::sleep(work).await;
            Ok(Response::new("done".to_owned()))
        }
    })
}

fn req(headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder();
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

const GRPC: (&str, &str) = ("content-type", "application/grpc");

#[tokio::test(start_paused = true)]
async fn sent_budget_is_capped_reduced_by_the_margin_and_scoped() {
    let seen = Seen::default();
    let layer = server(
        DeadlinePolicy::builder()
            .max(Duration::from_secs(2))
            .margin(Duration::from_millis(50)),
    );
    let svc = layer.layer(handler(Duration::ZERO, seen.clone()));
    let ms = |n| Some(Duration::from_millis(n));
    svc.clone()
        .oneshot(req(&[("grpc-timeout", "1S")]))
        .await
        .unwrap();
    svc.clone()
        .oneshot(req(&[("grpc-timeout", "9S")]))
        .await
        .unwrap();
    // Both headers: the smaller wins.
    svc.clone()
        .oneshot(req(&[("grpc-timeout", "1S"), ("request-timeout", "300")]))
        .await
        .unwrap();
    // No header and no default: unbounded.
    svc.oneshot(req(&[])).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (ms(950), ms(950)),
            (ms(2000), ms(2000)),
            (ms(250), ms(250)),
            (None, None)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn default_applies_when_nothing_is_sent_and_seconds_header_is_read() {
    let seen = Seen::default();
    let svc = server_with(
        DeadlinePolicy::builder().default_budget(Duration::from_millis(700)),
        TimeoutHeaders::new()
            .header("x-timeout", HeaderUnit::Seconds)
            .unwrap(),
    )
    .layer(handler(Duration::ZERO, seen.clone()));
    svc.clone().oneshot(req(&[])).await.unwrap();
    svc.oneshot(req(&[("x-timeout", "3")])).await.unwrap();
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(
        *seen.lock().unwrap(),
        [(ms(700), ms(700)), (ms(3000), ms(3000))]
    );
}

#[tokio::test(start_paused = true)]
async fn handler_outliving_the_deadline_is_cut_off_at_its_instant() {
    let t0 = Instant::now();
    let svc =
        server(DeadlinePolicy::builder()).layer(handler(Duration::from_secs(10), Seen::default()));
    let res = svc
        .clone()
        .oneshot(req(&[("request-timeout", "400")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(t0.elapsed(), Duration::from_millis(400));
    let res = svc
        .clone()
        .oneshot(req(&[GRPC, ("grpc-timeout", "100m")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "4");
    assert_eq!(t0.elapsed(), Duration::from_millis(500));
    let stats = svc.snapshot();
    assert_eq!((stats.admitted, stats.cut_off), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn spent_or_too_small_budgets_are_refused_before_the_handler() {
    let seen = Seen::default();
    let svc = server(
        DeadlinePolicy::builder()
            .margin(Duration::from_millis(10))
            .min(Duration::from_millis(5)),
    )
    .layer(handler(Duration::ZERO, seen.clone()));
    for sent in ["0m", "10m", "14m"] {
        let res = svc
            .clone()
            .oneshot(req(&[("grpc-timeout", sent)]))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT, "{sent}");
    }
    assert!(seen.lock().unwrap().is_empty(), "the handler ran");
    let res = svc
        .clone()
        .oneshot(req(&[("grpc-timeout", "15m")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let stats = svc.snapshot();
    assert_eq!((stats.spent, stats.admitted, stats.cut_off), (3, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn malformed_values_are_refused_or_ignored_by_configuration() {
    let seen = Seen::default();
    let strict_layer = server(DeadlinePolicy::builder());
    let strict = strict_layer.layer(handler(Duration::ZERO, seen.clone()));
    let res = strict
        .clone()
        .oneshot(req(&[("grpc-timeout", "123456789S")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = strict
        .clone()
        .oneshot(req(&[("request-timeout", "1.5")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = strict
        .oneshot(req(&[GRPC, ("grpc-timeout", "5x")]))
        .await
        .unwrap();
    assert_eq!(res.headers()["grpc-status"], "3");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(strict_layer.snapshot().malformed, 3);
    assert_eq!(strict_layer.snapshot().rejected, 3);

    let lenient = server(
        DeadlinePolicy::builder()
            .default_budget(Duration::from_secs(1))
            .on_malformed(OnMalformed::Ignore),
    )
    .layer(handler(Duration::ZERO, seen.clone()));
    let res = lenient
        .oneshot(req(&[("grpc-timeout", "-1S")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let one_s = Some(Duration::from_secs(1));
    assert_eq!(*seen.lock().unwrap(), [(one_s, one_s)]);
}

/// Hop B for the client tests: records the request headers it got.
fn recorder(
    headers: Arc<Mutex<Vec<http::HeaderMap>>>,
) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(move |req: Request<()>| {
        headers.lock().unwrap().push(req.headers().clone());
        async { Ok(Response::new(String::new())) }
    })
}

fn kind_of(err: &BoxError) -> DeadlineKind {
    match err.downcast_ref::<Rejection>().map(Rejection::reason) {
        Some(Reason::DeadlineExceeded(kind)) => kind,
        other => panic!("not a deadline rejection: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn budget_shrinks_across_two_hops() {
    let t0 = Instant::now();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let client = client(TimeoutPolicy::builder().margin(Duration::from_millis(10)))
        .layer(recorder(sent.clone()));
    let a = server(DeadlinePolicy::builder().margin(Duration::from_millis(20))).layer(service_fn(
        move |_: Request<()>| {
            let client = client.clone();
            async move {
                // A works 300 ms, then calls B over gRPC and over plain HTTP.
                tokio::time::sleep(Duration::from_millis(300)).await;
                client.clone().oneshot(req(&[GRPC])).await.unwrap();
                client.oneshot(req(&[])).await.unwrap();
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        },
    ));
    a.oneshot(req(&[("grpc-timeout", "1S")])).await.unwrap();
    let sent = sent.lock().unwrap();
    // 1000 sent - 20 (A's margin) - 300 (A's work) - 10 (network margin) = 670 ms.
    assert_eq!(sent[0]["grpc-timeout"], "670000u");
    assert_eq!(sent[1]["request-timeout"], "670");
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn client_fails_fast_without_sending_and_names_the_deadline() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let client = client(
        TimeoutPolicy::builder()
            .total(Duration::from_secs(1))
            .margin(Duration::from_millis(10))
            .min(Duration::from_millis(5)),
    )
    .layer(recorder(sent.clone()));
    // Inherited 14 ms: 4 ms would be sent, below the 5 ms minimum.
    let err = Deadline::after(now(), Duration::from_millis(14))
        .scope(client.clone().oneshot(req(&[])))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Inherited);
    assert!(sent.lock().unwrap().is_empty(), "sent with a spent budget");
    // Inherited later than the client's own total: the total wins and is sent.
    Deadline::after(now(), Duration::from_secs(5))
        .scope(client.clone().oneshot(req(&[])))
        .await
        .unwrap();
    assert_eq!(sent.lock().unwrap()[0]["request-timeout"], "990");
    // A smaller grpc-timeout already on the request stays.
    client
        .clone()
        .oneshot(req(&[GRPC, ("grpc-timeout", "20m")]))
        .await
        .unwrap();
    assert_eq!(sent.lock().unwrap()[1]["grpc-timeout"], "20m");
    let stats = client.snapshot();
    assert_eq!((stats.rejected, stats.admitted, stats.cut_off), (1, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn client_cuts_off_a_slow_call_at_its_total() {
    let t0 = Instant::now();
    let slow = service_fn(|_: Request<()>| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, Infallible>(Response::new(()))
    });
    let client = client(TimeoutPolicy::builder().total(Duration::from_millis(250))).layer(slow);
    let err = client.oneshot(req(&[])).await.unwrap_err();
    assert_eq!(kind_of(&err), DeadlineKind::Total);
    assert_eq!(t0.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn client_reads_a_deadline_attached_to_the_request_when_no_scope_is_current() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let client = client(TimeoutPolicy::builder()).layer(recorder(sent.clone()));
    let mut request = req(&[]);
    request
        .extensions_mut()
        .insert(Deadline::after(now(), Duration::from_millis(120)));
    client.clone().oneshot(request).await.unwrap();
    // Neither a scope nor an attached deadline: nothing is sent.
    client.clone().oneshot(req(&[])).await.unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(sent[0]["request-timeout"], "120");
    assert!(sent[1].get("request-timeout").is_none());
    let stats = client.snapshot();
    assert_eq!((stats.admitted, stats.unbounded), (2, 1));
}
