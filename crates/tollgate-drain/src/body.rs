use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::guard::Cut;
use crate::RequestGuard;

pin_project! {
    /// A response body that keeps its request counted in flight until the body ends
    /// (or is dropped), and ends it cleanly if the drain cuts it at the deadline.
    ///
    /// On a cut the body stops at a frame boundary: it sends its cut trailers if it
    /// has any (gRPC responses get `grpc-status: 14` this way on the HTTP face), then
    /// ends. A chunked HTTP/1 or HTTP/2 response thus ends cleanly, never with a reset.
    ///
    /// ```
    /// use http_body::Body;
    /// use tollgate_drain::{Drain, DrainBody};
    ///
    /// let drain = Drain::builder().build()?;
    /// let body = DrainBody::new(String::from("hi"), drain.enter().unwrap());
    /// assert_eq!(body.size_hint().exact(), Some(2));
    /// assert_eq!(drain.snapshot().in_flight, 1);
    /// drop(body);
    /// assert_eq!(drain.snapshot().in_flight, 0);
    ///
    /// // A body that was never counted (a refusal) passes through untouched.
    /// let plain = DrainBody::unguarded(String::from("refused"));
    /// assert_eq!(plain.size_hint().exact(), Some(7));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    #[derive(Debug)]
    pub struct DrainBody<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
        cut: Cut,
        was_cut: bool,
        cut_trailers: Option<fn() -> HeaderMap>,
    }
}

impl<B> DrainBody<B> {
    /// Wraps `inner`, holding `guard` until it ends.
    #[inline]
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
            cut: Cut::default(),
            was_cut: false,
            cut_trailers: None,
        }
    }

    /// Wraps a body no request guard is attached to (a refusal, for example).
    pub fn unguarded(inner: B) -> Self {
        Self {
            inner,
            guard: None,
            cut: Cut::default(),
            was_cut: false,
            cut_trailers: None,
        }
    }

    /// Trailers to send if the body is cut (for gRPC: the status that says why),
    /// made only if it is.
    pub fn with_cut_trailers(mut self, trailers: fn() -> HeaderMap) -> Self {
        self.cut_trailers = Some(trailers);
        self
    }

    /// `true` if the drain cut this body at its deadline.
    pub fn was_cut(&self) -> bool {
        self.was_cut
    }

    /// The guard of the request this body ends, while it is in flight.
    pub fn guard(&self) -> Option<&RequestGuard> {
        self.guard.as_ref()
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body> Body for DrainBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.was_cut {
            return Poll::Ready(
                this.cut_trailers
                    .take()
                    .map(|make| Ok(Frame::trailers(make()))),
            );
        }
        let frame = this.inner.poll_frame(cx);
        let Some(guard) = this.guard.as_ref() else {
            return frame;
        };
        match frame {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                // The body ended (or failed): the request is over.
                this.guard.take();
                frame
            }
            Poll::Ready(Some(Ok(_))) => frame,
            Poll::Pending => {
                if this.cut.poll_cut(guard, cx).is_pending() {
                    return Poll::Pending;
                }
                // Cut at the deadline: stop at this frame boundary.
                this.guard.take();
                *this.was_cut = true;
                Poll::Ready(
                    this.cut_trailers
                        .take()
                        .map(|make| Ok(Frame::trailers(make()))),
                )
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.was_cut {
            self.cut_trailers.is_none()
        } else {
            self.inner.is_end_stream()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.was_cut {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}
