//! One accepted connection: its socket, the protocol its first bytes name, and its
//! place in the listener's count of open connections.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tollgate_drain::Drain;

/// The HTTP/2 connection preface (RFC 9113 §3.4): what a prior-knowledge HTTP/2 client
/// sends first. Anything else is HTTP/1.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of a connection, as its first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Nothing (or not enough) read yet.
    Unknown,
    Http1,
    Http2,
}

/// A connection's protocol, shared between its IO (which reads it) and the loop that
/// serves it (which decides how to end it).
/// Set once, by the first bytes: std's `OnceLock`, no protocol of our own.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProtocolCell(Arc<OnceLock<Protocol>>);

impl ProtocolCell {
    pub(crate) fn get(&self) -> Protocol {
        self.0.get().copied().unwrap_or(Protocol::Unknown)
    }

    fn set(&self, protocol: Protocol) {
        // Only the first verdict counts; a connection does not change protocol.
        let _ = self.0.set(protocol);
    }
}

/// How many connections a [`DrainListener`](super::DrainListener) has open, and how
/// many of them are HTTP/2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) open: usize,
    pub(crate) http2: usize,
}

/// The open connections of one listener (cheap to clone).
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry(Arc<watch::Sender<Counts>>);

impl Registry {
    pub(crate) fn open(&self, stream: TcpStream) -> DrainIo {
        self.0.send_modify(|c| c.open += 1);
        DrainIo {
            stream,
            matched: 0,
            protocol: ProtocolCell::default(),
            registry: self.clone(),
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        *self.0.borrow()
    }

    /// Resolves once the drain is done and every connection that is not HTTP/2 has
    /// closed, or `linger` after done, whichever is first. HTTP/2 connections end with
    /// GOAWAY, which tells the client what was processed; an HTTP/1 connection left
    /// open has no such message, so its client gets the time to send its next request
    /// (answered `503` + `Connection: close`) or to close it.
    pub(crate) fn settled(
        &self,
        drain: &Drain,
        linger: Duration,
    ) -> impl Future<Output = ()> + Send + 'static {
        let done = drain.done();
        let mut counts = self.0.subscribe();
        async move {
            done.await;
            let http1_closed = counts.wait_for(|c| c.open == c.http2);
            // Err: the sender is gone, so is every connection.
            let _ = tokio::time::timeout(linger, http1_closed).await;
        }
    }
}

/// A connection accepted by a [`DrainListener`](super::DrainListener): the TCP stream,
/// counted open until dropped, which reads the protocol from the first bytes the client
/// sends (the HTTP/2 preface or not) so that the server can end it the right way when
/// the drain is closing.
///
/// It is the `Io` of the listener under `axum::serve` and the item of its incoming
/// stream under tonic.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::io::AsyncWriteExt;
/// use tollgate_drain::Drain;
/// use tollgate_http::drain::DrainListener;
///
/// let drain = Drain::builder().build()?;
/// let mut listener = DrainListener::bind("127.0.0.1:0", drain).await?;
/// let mut client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
/// client.write_all(b"GET / HTTP/1.1\r\n\r\n").await?;
/// let (io, peer) = listener.accept().await.expect("serving")?;
/// assert_eq!((io.peer_addr()?, listener.open_connections()), (peer, 1));
/// drop(io);
/// assert_eq!(listener.open_connections(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DrainIo {
    stream: TcpStream,
    /// How many bytes of the HTTP/2 preface the client's first bytes matched.
    matched: usize,
    protocol: ProtocolCell,
    registry: Registry,
}

impl DrainIo {
    /// The TCP stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    pub(crate) fn protocol(&self) -> ProtocolCell {
        self.protocol.clone()
    }

    /// Reads the protocol from bytes just read.
    fn sniff(&mut self, read: &[u8]) {
        if read.is_empty() || self.matched == PREFACE.len() {
            return;
        }
        let want = &PREFACE[self.matched..];
        let n = want.len().min(read.len());
        if read[..n] != want[..n] {
            self.matched = PREFACE.len(); // decided
            self.protocol.set(Protocol::Http1);
            return;
        }
        self.matched += n;
        if self.matched == PREFACE.len() {
            self.protocol.set(Protocol::Http2);
            self.registry.0.send_modify(|c| c.http2 += 1);
        }
    }
}

impl Drop for DrainIo {
    fn drop(&mut self) {
        let http2 = self.protocol.get() == Protocol::Http2;
        self.registry.0.send_modify(|c| {
            c.open -= 1;
            c.http2 -= usize::from(http2);
        });
    }
}

impl AsyncRead for DrainIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if this.matched < PREFACE.len() {
            this.sniff(&buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for DrainIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (DrainIo, Registry) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        drop(client);
        let registry = Registry::default();
        (registry.open(accepted.unwrap().0), registry)
    }

    #[tokio::test]
    async fn the_preface_names_http2_in_any_split_and_anything_else_http1() {
        let (mut io, registry) = pair().await;
        io.sniff(&PREFACE[..3]);
        assert_eq!(io.protocol.get(), Protocol::Unknown);
        io.sniff(&PREFACE[3..]);
        assert_eq!(io.protocol.get(), Protocol::Http2);
        assert_eq!(registry.counts(), Counts { open: 1, http2: 1 });
        drop(io);
        assert_eq!(registry.counts(), Counts::default());

        for first in [&b"POST / HTTP/1.1\r\n"[..], b"PRI * HTTP/1.1", b"G"] {
            let (mut io, registry) = pair().await;
            io.sniff(first);
            assert_eq!(io.protocol.get(), Protocol::Http1, "{first:?}");
            io.sniff(PREFACE); // decided once
            assert_eq!(io.protocol.get(), Protocol::Http1);
            assert_eq!(registry.counts(), Counts { open: 1, http2: 0 });
        }
    }
}
