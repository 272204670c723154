//! tonic: the listener as the incoming stream of `serve_with_incoming_shutdown`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::{DrainIo, DrainListener};

/// tonic's incoming stream: the connections the listener accepts; it ends when the
/// drain has closed the listener, and tonic's server then sends GOAWAY to every
/// connection and waits for their streams. Pass it to
/// `Server::serve_with_incoming_shutdown(.., listener, drain.done())`.
///
/// See the [module docs](super) for an example.
impl Stream for DrainListener {
    type Item = io::Result<DrainIo>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_accept(cx)
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
