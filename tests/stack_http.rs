//! The full server stack on an axum router and the full client stack around a
//! hyper-util client, over loopback: each layer's behaviour asserted through the
//! composed stack, with exact counts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate::breaker::State;
use tollgate::prelude::*;
use tollgate::Config;
use tower::{Layer, ServiceExt};

const SERVER: &str = r#"
[server.drain]
propagation_delay = "100ms"
deadline = "5s"

[server.deadline]
max = "2s"

[server.rate_limit]
key = "header:x-api-key"
per_key = { count = 1, period = "1h", burst = 3 }
tiers.gold = { keys = ["gold"], count = 1, period = "1h", burst = 5 }
routes."/search" = { count = 1, period = "1h", burst = 1 }

[server.breaker]
consecutive_failures = 3
open_wait = "60s"

[server.timeout]
per_try = "300ms"
"#;

fn app(stack: &ServerStack) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/search", get(|| async { "found" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                "late"
            }),
        )
        .layer(stack.clone())
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

type Hyper = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn hyper() -> Hyper {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get_with(
    client: &Hyper,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_server_layer_answers_through_the_composed_stack() {
    let config = Config::from_toml(SERVER).unwrap();
    let (stack, warnings) = ServerStack::from_config(&config.server).unwrap();
    assert!(warnings.is_empty(), "{warnings}");
    let addr = serve(app(&stack)).await;
    let client = hyper();
    let status = |r: &http::Response<_>| r.status().as_u16();

    // Rate limit, per key: a burst of 3, then 429 with Retry-After and the policy.
    for _ in 0..3 {
        assert_eq!(
            status(&get_with(&client, addr, "/ok", &[("x-api-key", "a")]).await),
            200
        );
    }
    let refused = get_with(&client, addr, "/ok", &[("x-api-key", "a")]).await;
    assert_eq!(status(&refused), 429);
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 3000
    );
    assert!(refused.headers().contains_key("ratelimit-policy"));
    // A tier key gets its own quota: 5.
    for _ in 0..5 {
        assert_eq!(
            status(&get_with(&client, addr, "/ok", &[("x-api-key", "gold")]).await),
            200
        );
    }
    assert_eq!(
        status(&get_with(&client, addr, "/ok", &[("x-api-key", "gold")]).await),
        429
    );
    // A route with a quota of its own: one per key there, the key's other bucket intact.
    assert_eq!(
        status(&get_with(&client, addr, "/search", &[("x-api-key", "b")]).await),
        200
    );
    assert_eq!(
        status(&get_with(&client, addr, "/search", &[("x-api-key", "b")]).await),
        429
    );
    assert_eq!(
        status(&get_with(&client, addr, "/ok", &[("x-api-key", "b")]).await),
        200
    );
    // No key: 400.
    assert_eq!(status(&get_with(&client, addr, "/ok", &[]).await), 400);
    let rl = stack.snapshot().rate_limit.unwrap();
    assert_eq!((rl.admitted, rl.rejected), (10, 3));

    // The caller's budget (100 ms) fires before the 300 ms per-try timeout: 504, and
    // the per-try layer says the inherited deadline fired.
    let late = get_with(
        &client,
        addr,
        "/slow",
        &[("x-api-key", "c"), ("request-timeout", "100")],
    )
    .await;
    assert_eq!(status(&late), 504);
    let timeout = stack.snapshot().timeout.unwrap();
    assert_eq!((timeout.fired.inherited, timeout.fired.per_try), (1, 0));
    // Without a budget sent, the per-try timeout fires.
    assert_eq!(
        status(&get_with(&client, addr, "/slow", &[("x-api-key", "c")]).await),
        504
    );
    assert_eq!(stack.snapshot().timeout.unwrap().fired.per_try, 1);
    // The deadline layer is outside the rate limit: every request so far ran under it.
    assert_eq!(stack.snapshot().deadline.unwrap().admitted, 16);

    // Breaker: two timeouts so far; a success resets the count, three 500s open it.
    assert_eq!(
        status(&get_with(&client, addr, "/ok", &[("x-api-key", "c")]).await),
        200
    );
    for key in ["d", "d", "e"] {
        assert_eq!(
            status(&get_with(&client, addr, "/fail", &[("x-api-key", key)]).await),
            500
        );
    }
    let open = get_with(&client, addr, "/ok", &[("x-api-key", "e")]).await;
    assert_eq!(status(&open), 503);
    assert!(open.headers().contains_key("retry-after"));
    let breaker = stack.snapshot().breaker.unwrap();
    assert_eq!((breaker.state, breaker.rejected), (State::Open, 1));
    // The drain counted every request that reached the stack, none in flight.
    let drain = stack.snapshot().drain;
    assert_eq!((drain.admitted, drain.in_flight), (21, 0));
}

#[tokio::test]
async fn a_drain_through_the_stack_loses_nothing() {
    let config = Config::from_toml(SERVER).unwrap();
    let (stack, _) = ServerStack::from_config(&config.server).unwrap();
    let drain = stack.drain().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/work",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                "done"
            }),
        )
        .layer(stack.clone());
    let server = tokio::spawn(std::future::IntoFuture::into_future(
        axum::serve(listener, app).with_graceful_shutdown(drain.done()),
    ));
    let client = hyper();
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { get_with(&client, addr, "/work", &[("x-api-key", "a")]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let driver = tokio::spawn(drain.clone().run_until(async {}));
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "done"
    );
    let report = driver.await.unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(
        (report.finished(), report.cut(), report.refused()),
        (1, 0, 0)
    );
    assert_eq!(stack.snapshot().drain.in_flight, 0);
}

#[derive(Clone, Default)]
struct Upstream {
    hits: Arc<AtomicU32>,
    fail: Arc<AtomicU32>,
}

async fn upstream() -> (Upstream, String) {
    let up = Upstream::default();
    let state = up.clone();
    let app = Router::new().route(
        "/",
        get(move |headers: http::HeaderMap| {
            let up = state.clone();
            async move {
                up.hits.fetch_add(1, Ordering::SeqCst);
                let sent = headers
                    .get("request-timeout")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                if up.fail.load(Ordering::SeqCst) == 1 {
                    (StatusCode::INTERNAL_SERVER_ERROR, sent)
                } else {
                    (StatusCode::OK, sent)
                }
            }
        }),
    );
    let addr = serve(app).await;
    (up, format!("http://{addr}/"))
}

#[tokio::test]
async fn every_client_layer_acts_through_the_composed_stack() {
    let (up, url) = upstream().await;
    let config = Config::from_toml(
        r#"
        [client.upstream]
        deadline = "3s"
        per_try = "1s"
        breaker = { consecutive_failures = 2, open_wait = "60s" }
        rate_limit = { count = 1, period = "1h", burst = 4 }
        "#,
    )
    .unwrap();
    let (stack, _) = ClientStack::from_config(&config.client["upstream"]).unwrap();
    let client = stack.layer(hyper());
    let call = || {
        let req = http::Request::get(&url)
            .body(Empty::<Bytes>::new())
            .unwrap();
        client.clone().oneshot(req)
    };

    // The budget travels: the per-try bound (1 s) is what the upstream is told.
    let response = call().await.unwrap();
    assert_eq!(response.status(), 200);
    let sent: u64 = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
    .parse()
    .unwrap();
    assert!(sent <= 1000 && sent > 900, "{sent}");

    // Breaker: two 500s open it; the next call fails fast, the upstream not called.
    up.fail.store(1, Ordering::SeqCst);
    for _ in 0..2 {
        assert_eq!(call().await.unwrap().status(), 500);
    }
    let refused = call().await.unwrap_err();
    assert_eq!(
        refused.downcast_ref::<Rejection>().unwrap().reason(),
        Reason::CircuitOpen
    );
    assert_eq!(up.hits.load(Ordering::SeqCst), 3);

    // Rate limit: the quota (4) is spent by calls that reached the limiter; a reset
    // breaker lets the fourth through, the fifth is refused locally.
    up.fail.store(0, Ordering::SeqCst);
    stack_breaker_reset(&stack);
    assert_eq!(call().await.unwrap().status(), 200);
    let limited = call().await.unwrap_err();
    assert_eq!(
        limited.downcast_ref::<Rejection>().unwrap().reason(),
        Reason::RateLimited
    );
    assert_eq!(up.hits.load(Ordering::SeqCst), 4);
    let snapshot = stack.snapshot();
    assert_eq!(snapshot.rate_limit.unwrap().rejected, 1);
    assert_eq!(snapshot.deadline.unwrap().admitted, 6);
}

/// Operators reset a breaker through a reload that keeps nothing but the quota: the
/// breaker section changes, so it starts afresh (closed); the quota's state is kept.
fn stack_breaker_reset(stack: &ClientStack) {
    let config = Config::from_toml(
        r#"
        [client.upstream]
        deadline = "3s"
        per_try = "1s"
        breaker = { consecutive_failures = 3, open_wait = "60s" }
        rate_limit = { count = 1, period = "1h", burst = 4 }
        "#,
    )
    .unwrap();
    stack.reload(&config.client["upstream"]).unwrap();
    assert_eq!(stack.snapshot().breaker.unwrap().state, State::Closed);
}
