use tollgate_core::AsError;
use tower_layer::Layer;

use crate::{Drain, Drained, Snapshot, UntilResponse};

/// Counts every request in flight in a [`Drain`] until its response has ended, and
/// refuses new ones once the drain is closing. See [`Drained`].
///
/// Two choices, each a type parameter with a default:
/// - what a refusal becomes, `R`: by default ([`AsError`]) an `Err(BoxError)` holding
///   a [`Rejection`](tollgate_core::Rejection) of reason `Draining`; with
///   `tollgate_http::AsResponse`, a `503` (gRPC: `UNAVAILABLE`), the inner service's
///   error type kept (`Infallible` on axum). Set it with
///   [`refuse_with`](DrainLayer::refuse_with).
/// - how long a request counts, `T`: by default ([`UntilResponse`]) until the inner
///   service answers; with `tollgate_http::drain::UntilBodyEnd`, until the HTTP body
///   has been sent. Set it with [`track_with`](DrainLayer::track_with).
///
/// Cheap to clone; every clone counts in the same drain.
///
/// ```
/// use std::convert::Infallible;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tollgate_drain::{Drain, DrainLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate_core::BoxError> {
/// let drain = Drain::builder().build()?;
/// let layer = DrainLayer::new(drain.clone());
/// let svc = layer.layer(service_fn(|name: &'static str| async move {
///     Ok::<_, Infallible>(format!("hello {name}"))
/// }));
/// assert_eq!(svc.oneshot("you").await?, "hello you");
/// let snapshot = layer.snapshot();
/// assert_eq!((snapshot.admitted, snapshot.in_flight), (1, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DrainLayer<R = AsError, T = UntilResponse> {
    drain: Drain,
    refuse: R,
    track: T,
}

impl DrainLayer {
    /// Accounts requests in `drain`, refusing with [`AsError`] and counting each until
    /// its response ([`UntilResponse`]).
    pub fn new(drain: Drain) -> Self {
        Self {
            drain,
            refuse: AsError,
            track: UntilResponse,
        }
    }
}

impl<R, T> DrainLayer<R, T> {
    /// Refusals become what `refuse` makes of them (see
    /// [`Refuse`](tollgate_core::Refuse)).
    pub fn refuse_with<R2>(self, refuse: R2) -> DrainLayer<R2, T> {
        DrainLayer {
            drain: self.drain,
            refuse,
            track: self.track,
        }
    }

    /// Requests count until `track` says they ended (see [`Track`](crate::Track)).
    pub fn track_with<T2>(self, track: T2) -> DrainLayer<R, T2> {
        DrainLayer {
            drain: self.drain,
            refuse: self.refuse,
            track,
        }
    }

    /// The drain requests are counted in.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The drain's phase and counters; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.drain.snapshot()
    }
}

impl<S, R: Clone, T: Clone> Layer<S> for DrainLayer<R, T> {
    type Service = Drained<S, R, T>;

    fn layer(&self, inner: S) -> Drained<S, R, T> {
        Drained::new(
            inner,
            self.drain.clone(),
            self.refuse.clone(),
            self.track.clone(),
        )
    }
}
