//! An HTTP/1 keep-alive client of the load: back-to-back requests on one connection,
//! every fourth one streamed, a new connection at once whenever the old one is closed
//! or a request refused.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{chunks, Fate, Run, CHUNK};

type Sender = SendRequest<Empty<Bytes>>;

pub(crate) async fn client(run: Run, c: u64) {
    let mut sender: Option<Sender> = None;
    for seq in 0u64.. {
        if run.is_gone() {
            return;
        }
        let fate = attempt(&run, &mut sender, c, seq).await;
        run.tally.count(fate);
        if !matches!(fate, Fate::Complete { .. }) {
            sender = None; // reconnect at once
        }
    }
}

async fn attempt(run: &Run, sender: &mut Option<Sender>, c: u64, seq: u64) -> Fate {
    if let Some(s) = sender.as_mut() {
        // A connection the server closed (after `Connection: close`) is not reused.
        if s.ready().await.is_err() {
            *sender = None;
        }
    }
    if sender.is_none() {
        let Ok(stream) = TcpStream::connect(run.addr).await else {
            return Fate::Refused; // connect refused: nothing was sent
        };
        let Ok((s, conn)) = handshake(TokioIo::new(stream)).await else {
            return Fate::Refused; // no IO happens in an HTTP/1 handshake
        };
        tokio::spawn(conn);
        *sender = Some(s);
    }
    let s = sender.as_mut().expect("connected above");
    let streamed = (seq + c) % 4 == 3;
    let (path, expected) = if streamed {
        let n = chunks(c, seq);
        (format!("/slow/{n}"), CHUNK * n as usize)
    } else {
        (String::from("/fast"), CHUNK)
    };
    let request = http::Request::get(format!("http://{}{path}", run.addr))
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let response = match s.send_request(request).await {
        Ok(response) => response,
        // hyper never wrote the request: the connection closed first.
        Err(error) if error.is_canceled() => return Fate::Refused,
        Err(_) => return Fate::Lost,
    };
    let status = response.status();
    let close = response
        .headers()
        .get(http::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let Ok(body) = response.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Fate::Lost;
    };
    if close {
        *sender = None;
    }
    match status.as_u16() {
        200 if body.len() == expected => Fate::Complete { stream: streamed },
        503 => Fate::Refused,
        _ => Fate::Lost,
    }
}
