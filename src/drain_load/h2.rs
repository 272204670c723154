//! An HTTP/2 client of the load (plain HTTP or gRPC), on the `h2` crate so that it sees
//! exactly what the server said: two lanes share one connection, one streaming
//! (`/slow/{n}`, or the streaming RPC), one with short requests (`/fast`, or the unary
//! RPC). When a GOAWAY arrives, the short lane notices at its next stream and records
//! whether the streaming lane still had a stream in flight: a GOAWAY at closing, not
//! at the end of the drain.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use prost::Message;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{chunks, Fate, Run, CHUNK};
use crate::echo::{EchoReply, EchoRequest};

/// One connection shared by a client's two lanes.
struct Conn {
    send: SendRequest<Bytes>,
    /// Streaming-lane streams in flight on it.
    streaming: AtomicU64,
    /// Its GOAWAY was counted.
    goaway: AtomicBool,
}

type Slot = Arc<Mutex<Option<Arc<Conn>>>>;

pub(crate) async fn client(run: Run, c: u64, grpc: bool) {
    let slot = Slot::default();
    tokio::join!(
        lane(run.clone(), slot.clone(), c, grpc, true),
        lane(run, slot, c, grpc, false),
    );
}

async fn lane(run: Run, slot: Slot, c: u64, grpc: bool, streaming: bool) {
    for seq in 0u64.. {
        if run.is_gone() {
            return;
        }
        let conn = {
            let mut slot = slot.lock().await;
            match &*slot {
                Some(conn) => conn.clone(),
                None => match connect(&run).await {
                    Some(conn) => slot.insert(conn).clone(),
                    None => {
                        run.tally.count(Fate::Refused); // connect refused
                        continue;
                    }
                },
            }
        };
        let fate = attempt(&run, &conn, c, seq, grpc, streaming).await;
        if let Some(fate) = fate {
            run.tally.count(fate);
        }
        if !matches!(fate, Some(Fate::Complete { .. })) {
            // This connection is done with (GOAWAY, refusal, error): a new one at once.
            let mut slot = slot.lock().await;
            if slot.as_ref().is_some_and(|held| Arc::ptr_eq(held, &conn)) {
                *slot = None;
            }
        }
    }
}

async fn connect(run: &Run) -> Option<Arc<Conn>> {
    let stream = TcpStream::connect(run.addr).await.ok()?;
    let (send, connection) = h2::client::handshake(stream).await.ok()?;
    tokio::spawn(connection);
    Some(Arc::new(Conn {
        send,
        streaming: AtomicU64::new(0),
        goaway: AtomicBool::new(false),
    }))
}

/// One request; `None` when none was made: the connection had a GOAWAY, or closed.
async fn attempt(
    run: &Run,
    conn: &Conn,
    c: u64,
    seq: u64,
    grpc: bool,
    streaming: bool,
) -> Option<Fate> {
    let mut send = match conn.send.clone().ready().await {
        Ok(send) => send,
        Err(error) => {
            saw_goaway(run, conn, &error);
            return None;
        }
    };
    let n = if streaming { chunks(c, seq) } else { 1 };
    let (request, body) = request(run, grpc, streaming, n);
    // Relaxed: a count read by the other lane of this task, at its next GOAWAY.
    conn.streaming
        .fetch_add(u64::from(streaming), Ordering::Relaxed);
    let fate = async {
        let (response, mut stream) = match send.send_request(request, false) {
            Ok(sent) => sent,
            Err(error) => {
                // Refused before anything was written.
                saw_goaway(run, conn, &error);
                return Some(Fate::Refused);
            }
        };
        if stream.send_data(body, true).is_err() {
            return Some(Fate::Lost);
        }
        let response = match response.await {
            Ok(response) => response,
            Err(error) => return Some(refused_or_lost(&error)),
        };
        Some(read(response, grpc, streaming, n).await)
    }
    .await;
    conn.streaming
        .fetch_sub(u64::from(streaming), Ordering::Relaxed);
    fate
}

fn saw_goaway(run: &Run, conn: &Conn, error: &h2::Error) {
    // Relaxed: counted once per connection, by whichever lane sees it first.
    if error.is_go_away() && !conn.goaway.swap(true, Ordering::Relaxed) {
        run.tally.goaway(conn.streaming.load(Ordering::Relaxed) > 0);
    }
}

/// A stream the server did not process (beyond GOAWAY's last stream id, or
/// `REFUSED_STREAM`) was refused; any other failure lost the request.
fn refused_or_lost(error: &h2::Error) -> Fate {
    let unprocessed =
        (error.is_go_away() && error.is_remote()) || error.reason() == Some(Reason::REFUSED_STREAM);
    if unprocessed {
        Fate::Refused
    } else {
        Fate::Lost
    }
}

fn request(run: &Run, grpc: bool, streaming: bool, n: u64) -> (http::Request<()>, Bytes) {
    let (path, body) = if grpc {
        let call = EchoRequest {
            message: String::from("x"),
            delay_ms: if streaming { 20 } else { 0 },
            chunks: n as u32,
        };
        let mut frame = BytesMut::new();
        frame.put_u8(0);
        frame.put_u32(call.encoded_len() as u32);
        call.encode(&mut frame).expect("a buffer grows");
        let method = if streaming { "Stream" } else { "Unary" };
        (format!("/tollgate.echo.Echo/{method}"), frame.freeze())
    } else if streaming {
        (format!("/slow/{n}"), Bytes::new())
    } else {
        (String::from("/fast"), Bytes::new())
    };
    let mut builder = http::Request::builder().uri(format!("http://{}{path}", run.addr));
    builder = if grpc {
        builder
            .method("POST")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
    } else {
        builder.method("GET")
    };
    (builder.body(()).expect("a valid request"), body)
}

async fn read(response: http::Response<RecvStream>, grpc: bool, streaming: bool, n: u64) -> Fate {
    let (head, mut body) = response.into_parts();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return Fate::Lost;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let Ok(trailers) = body.trailers().await else {
        return Fate::Lost;
    };
    if !grpc {
        let expected = CHUNK * n as usize;
        return match head.status.as_u16() {
            200 if data.len() == expected => Fate::Complete { stream: streaming },
            503 => Fate::Refused,
            _ => Fate::Lost,
        };
    }
    // Trailers-only (a refusal) puts the status in the headers.
    let status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| head.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok()?.parse::<u8>().ok());
    match status {
        Some(0) if messages(data.freeze()) == Some(n) => Fate::Complete { stream: streaming },
        Some(14) => Fate::Refused, // UNAVAILABLE: the drain refused the call
        _ => Fate::Lost,
    }
}

/// The number of well-formed reply messages in a gRPC body.
fn messages(mut data: Bytes) -> Option<u64> {
    let mut count = 0;
    while data.has_remaining() {
        if data.remaining() < 5 {
            return None;
        }
        let _compressed = data.get_u8();
        let len = data.get_u32() as usize;
        if data.remaining() < len {
            return None;
        }
        EchoReply::decode(data.split_to(len)).ok()?;
        count += 1;
    }
    Some(count)
}
