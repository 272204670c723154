//! Leak-proof across the stacks: a full server stack and a full client stack under
//! load, each request cancelled at a random point (before its first poll, while queued
//! in the shaper or waiting for its rate-limit slot, while the handler runs, mid-body),
//! then every snapshot must be idle: nothing in flight, no probe permit held, the
//! shaper's queue empty, and the breaker able to close again. Paused tokio time: the
//! runs are exact and fast.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use proptest::prelude::*;
use tollgate::breaker::State;
use tollgate::prelude::*;
use tollgate::stack::{ClientStackBuilder, ServerStackBuilder};
use tower::{service_fn, Layer, Service, ServiceExt};

/// Where a request is cancelled.
#[derive(Debug, Clone, Copy)]
enum Cancel {
    /// Never: it runs to the end of its body.
    Never,
    /// The response future is dropped before its first poll.
    BeforeFirstPoll,
    /// After this many milliseconds: queued, waiting, or in the handler.
    After(u64),
    /// After the first frame of the body.
    MidBody,
}

fn cancel() -> impl Strategy<Value = Cancel> {
    prop_oneof![
        Just(Cancel::Never),
        Just(Cancel::BeforeFirstPoll),
        (0u64..600).prop_map(Cancel::After),
        Just(Cancel::MidBody),
    ]
}

/// What the handler does: answer, fail (500), or work for a while.
fn work() -> impl Strategy<Value = (bool, u64)> {
    (prop::bool::weighted(0.3), 0u64..300)
}

/// The handler: after `delay` ms, a 500 or a body of three frames 10 ms apart.
async fn handle(req: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    let fail = req.uri().path() == "/fail";
    let delay: u64 = req.uri().query().and_then(|q| q.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if fail {
        let mut response = http::Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(response);
    }
    let frames = futures::stream::unfold(0, |i| async move {
        if i == 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(b"x")), i + 1))
    });
    Ok(http::Response::new(Body::from_stream(frames)))
}

fn request(fail: bool, delay: u64) -> http::Request<Body> {
    let path = if fail { "/fail" } else { "/ok" };
    http::Request::get(format!("{path}?{delay}"))
        .body(Body::empty())
        .unwrap()
}

/// Runs one request through `svc`, cancelled as `cancel` says.
async fn run<S, B>(mut svc: S, req: http::Request<Body>, cancel: Cancel)
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    B: hyper::body::Body,
{
    let Ok(ready) = svc.ready().await else { return };
    let future = ready.call(req);
    match cancel {
        Cancel::BeforeFirstPoll => drop(future),
        Cancel::After(ms) => {
            let _ = tokio::time::timeout(Duration::from_millis(ms), async {
                if let Ok(response) = future.await {
                    let _ = response.into_body().collect().await;
                }
            })
            .await;
        }
        Cancel::Never | Cancel::MidBody => {
            if let Ok(response) = future.await {
                let mut body = std::pin::pin!(response.into_body());
                let _ = body.frame().await;
                if matches!(cancel, Cancel::Never) {
                    while body.frame().await.is_some() {}
                }
            }
        }
    }
}

fn server_stack() -> tollgate::ServerStack<tollgate::stack::Http, TokioClock> {
    let clock = TokioClock::new();
    let (stack, _) = ServerStackBuilder::new(clock.clone())
        .drain(Drain::builder().clock(clock.clone()).build().unwrap())
        .deadline(
            DeadlinePolicy::builder()
                .max(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .rate_limit(
            KeyedRateLimiter::builder(Quota::per_second(20).burst(2).unwrap())
                .clock(clock.clone())
                .build()
                .unwrap(),
            KeySource::global(),
        )
        .rate_limit_wait(Duration::from_secs(1))
        .shape(
            Shaper::builder(Quota::per_second(10).burst(1).unwrap())
                .max_wait(Duration::from_secs(5))
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
        .breaker(
            Breaker::builder()
                .consecutive_failures(2)
                .open_wait(Duration::from_millis(200))
                .half_open(2, 1)
                .clock(clock)
                .build()
                .unwrap(),
        )
        .timeout(TimeoutPolicy::per_try(Duration::from_secs(2)).unwrap())
        .build()
        .unwrap();
    stack
}

fn client_stack() -> tollgate::ClientStack<tollgate::stack::Http, TokioClock> {
    let clock = TokioClock::new();
    let (stack, _) = ClientStackBuilder::new(clock.clone())
        .deadline(Duration::from_secs(5))
        .breaker(
            Breaker::builder()
                .consecutive_failures(2)
                .open_wait(Duration::from_millis(200))
                .half_open(2, 1)
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
        .shape(
            Shaper::builder(Quota::per_second(10).burst(1).unwrap())
                .max_wait(Duration::from_secs(5))
                .clock(clock)
                .build()
                .unwrap(),
        )
        .per_try(Duration::from_secs(2))
        .build()
        .unwrap();
    stack
}

/// After the load, once the breaker's open wait has passed: one success closes it.
async fn closes_again<S, B>(svc: S)
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = svc.oneshot(request(false, 0)).await.unwrap();
    response.into_body().collect().await.unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_cancelled_request_releases_every_permit_of_the_server_stack(
        load in prop::collection::vec((work(), cancel(), 0u64..100), 4..16)
    ) {
        runtime().block_on(async {
            let stack = server_stack();
            let svc = stack.layer(service_fn(handle));
            let mut tasks = Vec::new();
            for ((fail, delay), cancel, start) in load {
                let svc = svc.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(start)).await;
                    run(svc, request(fail, delay), cancel).await;
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let s = stack.snapshot();
            assert_eq!(s.drain.in_flight, 0, "{s:?}");
            let shape = s.shape.unwrap();
            assert_eq!((shape.queued, shape.queued_units), (0, 0), "{s:?}");
            assert_eq!(s.breaker.unwrap().probes_in_flight, 0, "{s:?}");
            closes_again(svc).await;
            let s = stack.snapshot();
            assert_eq!(s.breaker.unwrap().state, State::Closed, "{s:?}");
            assert_eq!(s.drain.in_flight, 0, "{s:?}");
        });
    }

    #[test]
    fn a_cancelled_call_releases_every_permit_of_the_client_stack(
        load in prop::collection::vec((work(), cancel(), 0u64..100), 4..16)
    ) {
        runtime().block_on(async {
            let stack = client_stack();
            let svc = stack.layer(service_fn(handle));
            let mut tasks = Vec::new();
            for ((fail, delay), cancel, start) in load {
                let svc = svc.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(start)).await;
                    run(svc, request(fail, delay), cancel).await;
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let s = stack.snapshot();
            let shape = s.shape.unwrap();
            assert_eq!((shape.queued, shape.queued_units), (0, 0), "{s:?}");
            assert_eq!(s.breaker.unwrap().probes_in_flight, 0, "{s:?}");
            closes_again(svc).await;
            assert_eq!(stack.snapshot().breaker.unwrap().state, State::Closed);
        });
    }
}
