//! One response body wrapper for every layer that must see a response to its end: its
//! trailers (a gRPC status), how it ended, and, for the drain, a cut at a deadline.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// How a [`WatchedBody`] ended, as its watcher is told once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// The stream ended: every frame, trailers included, was delivered.
    Complete,
    /// The inner body failed with an error.
    Failed,
    /// The watcher cut the stream at a frame boundary ([`BodyWatch::poll_cut`]).
    Cut,
    /// The body was dropped before its end (the client went away).
    Dropped,
}

/// What a layer learns from a response body; plugged into a [`WatchedBody`].
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, StreamBody};
/// use http_body::Frame;
/// use tollgate_http::body::{BodyEnd, BodyWatch, WatchedBody};
///
/// struct Report(std::sync::mpsc::Sender<(Option<u8>, BodyEnd)>, Option<u8>);
///
/// impl BodyWatch for Report {
///     fn trailers(&mut self, trailers: &http::HeaderMap) {
///         self.1 = tollgate_http::grpc::status(trailers);
///     }
///     fn end(self, end: BodyEnd) {
///         self.0.send((self.1, end)).unwrap();
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// let frames = vec![Ok::<_, Infallible>(Frame::data(Bytes::from("x"))), Ok(Frame::trailers(trailers))];
/// let (tx, rx) = std::sync::mpsc::channel();
/// let body = WatchedBody::new(StreamBody::new(futures::stream::iter(frames)), Report(tx, None));
/// body.collect().await.unwrap();
/// assert_eq!(rx.recv().unwrap(), (Some(14), BodyEnd::Complete));
/// # }
/// ```
pub trait BodyWatch {
    /// Called with each trailers frame, before it is passed on.
    fn trailers(&mut self, trailers: &HeaderMap) {
        let _ = trailers;
    }

    /// Polled whenever the inner body is pending. `Ready` cuts the stream at this frame
    /// boundary; `Ready(Some(trailers))` sends them as the last frame. Never ready by
    /// default.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<Option<HeaderMap>> {
        let _ = cx;
        Poll::Pending
    }

    /// Called once, when the body ends in any way (dropped included).
    fn end(self, end: BodyEnd);
}

pin_project! {
    /// A response body that tells its [`BodyWatch`] what it sees; see there.
    ///
    /// Frames pass through unchanged; only a cut changes the stream.
    pub struct WatchedBody<B, W: BodyWatch> {
        #[pin]
        inner: B,
        watch: Option<W>,
        // Set when cut: the trailers still to send, if any.
        cut: Option<Option<HeaderMap>>,
    }

    impl<B, W: BodyWatch> PinnedDrop for WatchedBody<B, W> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(watch) = this.project().watch.take() {
                watch.end(BodyEnd::Dropped);
            }
        }
    }
}

impl<B, W: BodyWatch> WatchedBody<B, W> {
    /// Wraps `inner`, telling `watch` what passes.
    #[inline]
    pub fn new(inner: B, watch: W) -> Self {
        Self {
            inner,
            watch: Some(watch),
            cut: None,
        }
    }

    /// Wraps `inner` with nobody watching (a response that needs no accounting).
    #[inline]
    pub fn unwatched(inner: B) -> Self {
        Self {
            inner,
            watch: None,
            cut: None,
        }
    }

    /// Whether the watcher cut the stream.
    pub fn was_cut(&self) -> bool {
        self.cut.is_some()
    }

    /// The watcher, until the body ends.
    pub fn watch(&self) -> Option<&W> {
        self.watch.as_ref()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body, W: BodyWatch> Body for WatchedBody<B, W> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Some(trailers) = this.cut.as_mut() {
            return Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        let frame = this.inner.poll_frame(cx);
        let Some(watch) = this.watch.as_mut() else {
            return frame;
        };
        let end = match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    watch.trailers(trailers);
                }
                None
            }
            Poll::Ready(Some(Err(_))) => Some(BodyEnd::Failed),
            Poll::Ready(None) => Some(BodyEnd::Complete),
            Poll::Pending => match watch.poll_cut(cx) {
                Poll::Pending => None,
                Poll::Ready(trailers) => {
                    *this.cut = Some(trailers);
                    Some(BodyEnd::Cut)
                }
            },
        };
        if let Some(end) = end {
            if let Some(watch) = this.watch.take() {
                watch.end(end);
            }
        }
        match this.cut.as_mut() {
            Some(trailers) => Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t)))),
            None => frame,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.cut {
            Some(trailers) => trailers.is_none(),
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut.is_some() {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

impl<B: Default, W: BodyWatch> Default for WatchedBody<B, W> {
    fn default() -> Self {
        Self::unwatched(B::default())
    }
}

impl<B, W: BodyWatch> fmt::Debug for WatchedBody<B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedBody")
            .field("watched", &self.watch.is_some())
            .field("cut", &self.cut.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    type Seen = Arc<Mutex<Vec<String>>>;

    /// Records what it is told; cuts (with trailers when `cut_with` is set) once `cut` is.
    struct Recorder {
        seen: Seen,
        cut: bool,
        cut_with: Option<HeaderMap>,
    }

    impl Recorder {
        fn new(seen: &Seen) -> Self {
            Self {
                seen: Arc::clone(seen),
                cut: false,
                cut_with: None,
            }
        }
    }

    impl BodyWatch for Recorder {
        fn trailers(&mut self, trailers: &HeaderMap) {
            let status = crate::grpc::status(trailers);
            self.seen
                .lock()
                .unwrap()
                .push(format!("trailers {status:?}"));
        }

        fn poll_cut(&mut self, _: &mut Context<'_>) -> Poll<Option<HeaderMap>> {
            if self.cut {
                Poll::Ready(self.cut_with.take())
            } else {
                Poll::Pending
            }
        }

        fn end(self, end: BodyEnd) {
            self.seen.lock().unwrap().push(format!("end {end:?}"));
        }
    }

    type Item = Result<Frame<Bytes>, &'static str>;

    fn frames(items: Vec<Item>) -> StreamBody<futures::stream::Iter<std::vec::IntoIter<Item>>> {
        StreamBody::new(futures::stream::iter(items))
    }

    fn seen(log: &Seen) -> Vec<String> {
        log.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn trailers_then_complete_are_told_once_each_in_order() {
        let log = Seen::default();
        let mut trailers = HeaderMap::new();
        trailers.insert(
            crate::grpc::STATUS,
            crate::grpc::code_value(crate::grpc::OK),
        );
        let body = WatchedBody::new(
            frames(vec![
                Ok(Frame::data(Bytes::from("a"))),
                Ok(Frame::trailers(trailers)),
            ]),
            Recorder::new(&log),
        );
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().map(|t| t.len()), Some(1));
        assert_eq!(seen(&log), ["trailers Some(0)", "end Complete"]);
    }

    #[tokio::test]
    async fn an_error_ends_the_body_as_failed() {
        let log = Seen::default();
        let body = WatchedBody::new(frames(vec![Err("reset")]), Recorder::new(&log));
        assert!(body.collect().await.is_err());
        assert_eq!(seen(&log), ["end Failed"]);
    }

    #[tokio::test]
    async fn a_body_dropped_early_is_told_dropped() {
        let log = Seen::default();
        let mut body = WatchedBody::new(
            frames(vec![
                Ok(Frame::data(Bytes::from("a"))),
                Ok(Frame::data(Bytes::from("b"))),
            ]),
            Recorder::new(&log),
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        assert!(seen(&log).is_empty());
        drop(body);
        assert_eq!(seen(&log), ["end Dropped"]);
    }

    #[tokio::test]
    async fn a_cut_ends_a_pending_stream_with_its_trailers() {
        let log = Seen::default();
        let mut watch = Recorder::new(&log);
        watch.cut = true;
        let mut cut = HeaderMap::new();
        cut.insert(
            crate::grpc::STATUS,
            crate::grpc::code_value(crate::grpc::UNAVAILABLE),
        );
        watch.cut_with = Some(cut);
        let pending =
            StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Infallible>>());
        let body = WatchedBody::new(pending, watch);
        let collected = body.collect().await.unwrap();
        assert_eq!(
            crate::grpc::status(collected.trailers().unwrap()),
            Some(crate::grpc::UNAVAILABLE)
        );
        assert_eq!(seen(&log), ["end Cut"]);
    }

    #[tokio::test]
    async fn a_cut_without_trailers_just_ends_the_stream() {
        let log = Seen::default();
        let mut watch = Recorder::new(&log);
        watch.cut = true;
        let pending =
            StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Infallible>>());
        let mut body = WatchedBody::new(pending, watch);
        assert!(body.frame().await.is_none());
        assert!(body.was_cut());
        assert!(body.is_end_stream());
        assert_eq!(seen(&log), ["end Cut"]);
    }

    #[test]
    fn unwatched_passes_through() {
        let body: WatchedBody<http_body_util::Empty<Bytes>, Recorder> = WatchedBody::default();
        assert!(body.watch().is_none());
        assert!(body.is_end_stream());
    }
}
