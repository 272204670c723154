//! How long a request counts: what carries its [`RequestGuard`] once the inner service
//! has answered.

use crate::RequestGuard;

/// Decides, once per request, how its [`RequestGuard`] travels with the response, so
/// the request counts in flight until the response has really ended.
///
/// A [`DrainLayer`](crate::DrainLayer) is generic over one `Track`, as it is over one
/// [`Refuse`](tollgate_core::Refuse): it calls [`prepare`](Track::prepare) with each
/// request, and hands the [`Tracking`] the response and the guard. [`UntilResponse`],
/// the default, ends the request when the response is produced. The HTTP face
/// (`tollgate_http::drain::UntilBodyEnd`) moves the guard into the response body, so an
/// HTTP request counts until its body has been sent, and a stream still running at the
/// deadline is cut at a frame boundary.
///
/// ```
/// use std::convert::Infallible;
/// use tollgate_drain::{Drain, DrainLayer, RequestGuard, Track, Tracking};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// /// A response that is consumed later: its request counts until it is dropped.
/// struct Pending(String, Option<RequestGuard>);
///
/// #[derive(Clone)]
/// struct UntilDropped;
///
/// impl<Req> Track<Req> for UntilDropped {
///     type Tracking = UntilDropped;
///     fn prepare(&self, _: &Req) -> UntilDropped {
///         UntilDropped
///     }
/// }
///
/// impl Tracking<String> for UntilDropped {
///     type Response = Pending;
///     fn track(self, response: String, guard: RequestGuard) -> Pending {
///         Pending(response, Some(guard))
///     }
///     fn refused(self, response: String) -> Pending {
///         Pending(response, None)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate_core::BoxError> {
/// let drain = Drain::builder().build()?;
/// let svc = DrainLayer::new(drain.clone())
///     .track_with(UntilDropped)
///     .layer(service_fn(|name: &'static str| async move {
///         Ok::<_, Infallible>(format!("hello {name}"))
///     }));
/// let response = svc.oneshot("you").await?;
/// assert_eq!((response.0.as_str(), drain.snapshot().in_flight), ("hello you", 1));
/// drop(response);
/// assert_eq!(drain.snapshot().in_flight, 0);
/// # Ok(()) }
/// ```
pub trait Track<Req>: Clone {
    /// What is kept of one request to carry its guard (for HTTP, its version and
    /// protocol).
    type Tracking;

    /// Reads what tracking `request` needs.
    fn prepare(&self, request: &Req) -> Self::Tracking;
}

/// One request's tracking, made by [`Track::prepare`]: turns the inner service's
/// response into the layer's, carrying the guard.
///
/// See [`Track`] for an example.
pub trait Tracking<Res> {
    /// The response type of the layer's service.
    type Response;

    /// The response of an admitted request, which keeps it counted in flight for as
    /// long as `guard` lives.
    fn track(self, response: Res, guard: RequestGuard) -> Self::Response;

    /// A refusal of the drain (made by the layer's [`Refuse`](tollgate_core::Refuse)):
    /// no request is counted.
    fn refused(self, response: Res) -> Self::Response;
}

/// The default [`Track`]: a request counts until the inner service has answered; the
/// response passes through unchanged.
///
/// For a response that is only a value (a client call's result, a whole message) that
/// is the end of the request. Responses that stream (HTTP bodies, gRPC streams) need
/// a `Track` that moves the guard into the stream: `tollgate_http::drain::UntilBodyEnd`.
///
/// See the [crate docs](crate) for an example.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UntilResponse;

impl<Req> Track<Req> for UntilResponse {
    type Tracking = UntilResponse;

    #[inline]
    fn prepare(&self, _: &Req) -> UntilResponse {
        UntilResponse
    }
}

impl<Res> Tracking<Res> for UntilResponse {
    type Response = Res;

    #[inline]
    fn track(self, response: Res, guard: RequestGuard) -> Res {
        drop(guard);
        response
    }

    #[inline]
    fn refused(self, response: Res) -> Res {
        response
    }
}
