//! tonic: the listener as the incoming stream of `serve_with_incoming_shutdown`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::refuse::refuse_settling;
use super::{DrainIo, DrainListener};

/// tonic's incoming stream: the connections the listener accepts; it ends the moment
/// the drain is closing, and tonic's server then sends GOAWAY to every connection and
/// waits for their streams. The connections the listener still accepts while it
/// settles are answered by the drain's refusal (`UNAVAILABLE`, `503` +
/// `Connection: close`) on a task of their own, then it closes. Pass it to
/// `Server::serve_with_incoming_shutdown(.., listener, drain.done())`.
///
/// See the [module docs](super) for an example.
impl Stream for DrainListener {
    type Item = io::Result<DrainIo>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // At closing the stream ends, so that tonic sends GOAWAY to every connection
        // now; what the settle time still accepts is refused here, not reset.
        if let Poll::Ready(detached) = this.poll_detach_at_closing(cx) {
            if let Some(settling) = detached {
                tokio::spawn(refuse_settling(settling));
            }
            return Poll::Ready(None);
        }
        this.poll_accept(cx)
            .map(|accepted| accepted.map(|result| result.map(|(io, _)| io)))
    }
}

/// The same connect info as tonic's own TCP streams: `request.remote_addr()` works.
impl Connected for DrainIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.get_ref().connect_info()
    }
}
