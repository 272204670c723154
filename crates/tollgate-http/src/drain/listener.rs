//! The listener that the drain stops: new connections until closing, none after, and
//! no connection the kernel completed left to be reset.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::time::Sleep;
use tollgate_drain::Drain;

use super::conn::{DrainIo, Registry};

/// A TCP listener that accepts connections while the drain accepts them
/// ([`Phase::accepts_connections`](tollgate_drain::Phase::accepts_connections)), and
/// stops listening once it is closing, so that a client's connect is refused at the
/// TCP level (before it sent anything) instead of being handed a connection whose
/// requests would all be refused.
///
/// Closing a listening socket resets every connection still in its accept queue, and
/// the client of such a connection has usually sent its request already: it is lost.
/// So when the drain is closing the listener first stops new handshakes (on Linux, a
/// socket filter drops new SYNs: a client retries its SYN and then meets the closed
/// port), keeps accepting for the `settle` time (default 100 ms: far longer than a
/// handshake already under way needs to complete), accepts what is queued, and only
/// then closes. Every connection it accepted is served (while closing: `503` +
/// `Connection: close`, or a GOAWAY). Elsewhere than Linux the settle time still
/// accepts what is queued, but a connection that completes in the instant of the
/// close can be reset.
///
/// Use it with [`serve_connections`](super::serve_connections) (hyper-util),
/// [`serve`](super::serve) (axum, the whole drain in one call), as axum's `Listener`
/// (`axum::serve(listener, app).with_graceful_shutdown(listener.shutdown_signal())`),
/// or as tonic's incoming stream (`serve_with_incoming_shutdown(listener, drain.done())`:
/// the stream ends when the listener closes, and tonic then sends GOAWAY to every
/// connection). See the [module docs](super).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate_drain::Drain;
/// use tollgate_http::drain::DrainListener;
///
/// let drain = Drain::builder().propagation_delay(Duration::ZERO).build()?;
/// let mut listener = DrainListener::bind("127.0.0.1:0", drain.clone())
///     .await?
///     .settle(Duration::from_millis(20));
/// let addr = listener.local_addr()?;
/// let _queued = tokio::net::TcpStream::connect(addr).await?; // completed by the kernel
///
/// tokio::spawn(drain.clone().run());
/// drain.start();
/// drain.closing().await;
/// // The queued connection is still accepted (and would be answered), then the
/// // listener closes...
/// assert!(listener.accept().await.expect("queued").is_ok());
/// assert!(listener.accept().await.is_none());
/// // ...and a new connect is refused.
/// assert!(tokio::net::TcpStream::connect(addr).await.is_err());
/// # Ok(()) }
/// ```
pub struct DrainListener {
    /// `None` once closed.
    listener: Option<TcpListener>,
    drain: Drain,
    closing: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Set when the drain is closing: when the listener closes.
    settling: Option<Pin<Box<Sleep>>>,
    settle: Duration,
    linger: Duration,
    registry: Registry,
}

impl DrainListener {
    /// Accepts from `listener` for `drain`.
    pub fn new(listener: TcpListener, drain: Drain) -> Self {
        Self {
            listener: Some(listener),
            closing: Box::pin(drain.closing()),
            drain,
            settling: None,
            settle: Duration::from_millis(100),
            linger: Duration::from_millis(500),
            registry: Registry::default(),
        }
    }

    /// Binds a TCP listener to `addr` for `drain`.
    pub async fn bind(addr: impl ToSocketAddrs, drain: Drain) -> io::Result<Self> {
        Ok(Self::new(TcpListener::bind(addr).await?, drain))
    }

    /// How long the listener keeps accepting once the drain is closing, new handshakes
    /// stopped, before it closes (default 100 ms). It must exceed the clients' round
    /// trip: a handshake under way when closing begins completes within one.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// How long, once the drain is done, an HTTP/1 connection left open (idle
    /// keep-alive, or nothing sent yet) is given for its client to send its next
    /// request (answered `503` + `Connection: close`) or to close it, before the server
    /// closes it (default 500 ms). An HTTP/1 client cannot know that the server is
    /// about to close an idle connection: this is the time it gets.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The local address (also once closed: where it listened).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the drain closed the listener",
            )),
        }
    }

    /// The drain the listener follows.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The linger time; see [`linger`](DrainListener::linger).
    pub fn linger_time(&self) -> Duration {
        self.linger
    }

    /// Connections accepted and still open.
    pub fn open_connections(&self) -> usize {
        self.registry.counts().open
    }

    /// `true` once the listener has closed.
    pub fn is_closed(&self) -> bool {
        self.listener.is_none()
    }

    /// The signal to pass to `axum::serve(..).with_graceful_shutdown(..)`: the drain is
    /// done, and every HTTP/1 connection has closed (each gets `Connection: close` on
    /// its next response) or the [`linger`](DrainListener::linger) time has passed.
    /// Passing `drain.done()` instead lets the graceful shutdown close an idle
    /// keep-alive connection at the moment its client sends a request on it.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        self.registry.settled(&self.drain, self.linger)
    }

    /// The next connection; `None` once the drain has closed the listener (then always
    /// `None`). An error is the accept's: the listener is still usable.
    pub async fn accept(&mut self) -> Option<io::Result<(DrainIo, SocketAddr)>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn begin_settling(&mut self) {
        if let Some(listener) = &self.listener {
            stop_handshakes(listener);
        }
        tracing::debug!(
            target: "tollgate::drain",
            settle_ms = u64::try_from(self.settle.as_millis()).unwrap_or(u64::MAX),
            "listener stops accepting"
        );
        self.settling = Some(Box::pin(tokio::time::sleep(self.settle)));
    }

    /// Ready once the drain is closing: new handshakes are stopped, and the listener,
    /// still settling, is moved into the returned one, which this one leaves closed.
    /// For a server that stops taking connections at closing (tonic, when its
    /// incoming stream ends): the returned listener is for
    /// `refuse_settling`.
    #[cfg(feature = "tonic")]
    pub(crate) fn poll_detach_at_closing(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self>> {
        if self.listener.is_none() {
            return Poll::Ready(None);
        }
        if self.settling.is_none() {
            if self.closing.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.begin_settling();
        }
        Poll::Ready(Some(Self {
            listener: self.listener.take(),
            drain: self.drain.clone(),
            closing: Box::pin(std::future::ready(())),
            settling: self.settling.take(),
            settle: self.settle,
            linger: self.linger,
            registry: self.registry.clone(),
        }))
    }

    /// Polls for the next connection; see [`accept`](DrainListener::accept).
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<(DrainIo, SocketAddr)>>> {
        if self.listener.is_none() {
            return Poll::Ready(None);
        }
        if self.settling.is_none() && self.closing.as_mut().poll(cx).is_ready() {
            self.begin_settling();
        }
        let Some(listener) = &self.listener else {
            return Poll::Ready(None);
        };
        match listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, addr))) => {
                return Poll::Ready(Some(Ok((self.registry.open(stream), addr))))
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
            Poll::Pending => {}
        }
        if let Some(settling) = &mut self.settling {
            if settling.as_mut().poll(cx).is_ready() {
                // The queue was just found empty, and no new handshake completes.
                self.listener = None;
                tracing::debug!(target: "tollgate::drain", "listener closed");
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }
}

/// Makes the kernel stop completing new handshakes on `listener`: a classic BPF socket
/// filter that drops every segment with SYN set and ACK clear. Segments of handshakes
/// already under way (their final ACK, data) still pass, and so do those of accepted
/// connections, which inherit the filter.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn stop_handshakes(listener: &TcpListener) {
    use socket2::{SockFilter, SockRef};
    // A TCP socket's filter sees the segment from its TCP header; byte 13 is the flags.
    const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SYN: u32 = 0x02;
    const ACK: u32 = 0x10;
    const DROP_NEW_SYNS: [SockFilter; 5] = [
        SockFilter::new(LDB_ABS, 0, 0, 13),
        SockFilter::new(AND_K, 0, 0, SYN | ACK),
        SockFilter::new(JEQ_K, 0, 1, SYN),
        SockFilter::new(RET_K, 0, 0, 0),
        SockFilter::new(RET_K, 0, 0, u32::MAX),
    ];
    if let Err(error) = SockRef::from(listener).attach_filter(&DROP_NEW_SYNS) {
        tracing::warn!(target: "tollgate::drain", %error, "cannot stop new handshakes before closing the listener");
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn stop_handshakes(_: &TcpListener) {}

impl fmt::Debug for DrainListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainListener")
            .field("listener", &self.listener)
            .field("settle", &self.settle)
            .field("linger", &self.linger)
            .field("settling", &self.settling.is_some())
            .field("connections", &self.registry.counts())
            .finish()
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// The race this listener exists for: a handshake completed by the kernel in the
    /// instant of the close is reset with the client's request in it. While settling,
    /// no handshake completes at all.
    #[tokio::test]
    async fn while_settling_no_new_handshake_completes_and_queued_ones_are_accepted() {
        let drain = Drain::builder()
            .propagation_delay(Duration::ZERO)
            .build()
            .unwrap();
        let mut listener = DrainListener::bind("127.0.0.1:0", drain.clone())
            .await
            .unwrap()
            .settle(Duration::from_secs(30));
        let addr = listener.local_addr().unwrap();
        let queued = tokio::net::TcpStream::connect(addr).await.unwrap();

        tokio::spawn(drain.clone().run());
        drain.start();
        drain.closing().await;
        // The first poll at closing stops new handshakes, and hands out the queued one.
        let (accepted, _) = listener.accept().await.unwrap().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), queued.local_addr().unwrap());
        // A new connect gets no SYN-ACK (its SYN is dropped; it would retry after 1 s).
        let late = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        assert!(late.is_err(), "a handshake completed while settling");
        assert!(!listener.is_closed());
    }
}
