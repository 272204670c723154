//! tollgate_http::drain with hyper-util's connection builder and `GracefulShutdown`,
//! over HTTP/2 on loopback: a stream in flight completes, a new request on the same
//! connection gets a 503 once closing, and the connection ends with a GOAWAY (the
//! client's connection closes without error) when the drain is done.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tollgate_drain::{Drain, DrainLayer};
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::AsResponse;
use tower::{service_fn, Layer, ServiceExt};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handler(request: Request<hyper::body::Incoming>) -> Result<Response<BoxBody>, Infallible> {
    if request.uri().path() != "/long" {
        return Ok(Response::new(
            Full::new(Bytes::from_static(b"short")).boxed(),
        ));
    }
    let chunks = futures::stream::unfold(0, |i| async move {
        if i == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"chunk"))),
            i + 1,
        ))
    });
    Ok(Response::new(BodyExt::boxed(StreamBody::new(chunks))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_completes_then_goaway_with_hyper_util_graceful_shutdown() {
    let drain = Drain::builder()
        .propagation_delay(Duration::from_millis(100))
        .deadline(Duration::from_millis(1_000))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = DrainLayer::new(drain.clone())
        .refuse_with(AsResponse::new())
        .track_with(UntilBodyEnd)
        .layer(service_fn(handler));

    let server = {
        let drain = drain.clone();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let graceful = GracefulShutdown::new();
            let done = drain.done();
            tokio::pin!(done);
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (stream, _) = accepted.unwrap();
                        let svc = svc.clone();
                        let hyper_svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
                        let conn = builder.serve_connection(TokioIo::new(stream), hyper_svc).into_owned();
                        tokio::spawn(graceful.watch(conn));
                    }
                    () = &mut done => break,
                }
            }
            graceful.shutdown().await;
        })
    };

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    let long = sender.send_request(get("/long")).await.unwrap();
    assert_eq!(long.status(), 200);
    let long_body = tokio::spawn(long.into_body().collect());

    let driver = tokio::spawn(drain.clone().run());
    drain.start();
    let served = sender.send_request(get("/short")).await.unwrap();
    assert_eq!(served.status(), 200, "served during the propagation delay");
    assert!(
        served.headers().get("connection").is_none(),
        "no connection header on HTTP/2"
    );

    drain.closing().await;
    let refused = sender.send_request(get("/short")).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("connection").is_none());

    let body = long_body.await.unwrap().unwrap().to_bytes();
    assert_eq!(body, "chunk".repeat(6).as_bytes());
    let report = driver.await.unwrap();
    assert!(report.is_clean(), "{report}");
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the server stops after the drain")
        .unwrap();
    // GOAWAY: the client's connection ends without an error.
    conn.await.unwrap().expect("a graceful close");
}
