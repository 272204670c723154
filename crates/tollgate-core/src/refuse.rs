//! What a layer's refusal becomes: an error by default, or a response when a face
//! plugs in a responder.

use crate::{BoxError, Rejection};

/// Decides, once per refused request, what the refusal becomes.
///
/// Every tollgate layer is generic over one `Refuse`. [`AsError`], the default, fails
/// the call with the [`Rejection`] inside a [`BoxError`] (for clients and custom tower
/// stacks). The HTTP face of `tollgate-http` plugs in a responder whose refusal is an
/// HTTP response (429, 503, 504, 400) or a gRPC status, keeping the inner service's
/// error type (`Infallible` on an axum router).
///
/// A layer calls [`prepare`](Refuse::prepare) only on a path that may refuse, while it
/// still holds the request, so the common admitted path pays nothing.
///
/// ```
/// use std::convert::Infallible;
/// use tollgate_core::{Reason, Refuse, Refusal, Rejection};
///
/// // A responder for a service of `String` requests and responses.
/// #[derive(Clone)]
/// struct Apologise;
///
/// struct ApologyFor(usize);
///
/// impl Refuse<String> for Apologise {
///     type Refusal = ApologyFor;
///     fn prepare(&self, request: &String) -> ApologyFor {
///         ApologyFor(request.len())
///     }
/// }
///
/// impl Refusal<String, Infallible> for ApologyFor {
///     type Error = Infallible;
///     fn refuse(self, rejection: Rejection) -> Result<String, Infallible> {
///         Ok(format!("sorry, {rejection} ({} bytes)", self.0))
///     }
///     fn error(error: Infallible) -> Infallible {
///         error
///     }
/// }
///
/// let refusal = Apologise.prepare(&"hello".to_string());
/// let answer = refusal.refuse(Rejection::new(Reason::Draining));
/// assert_eq!(answer.unwrap(), "sorry, server is draining (5 bytes)");
/// ```
pub trait Refuse<Req>: Clone {
    /// What the responder keeps of one request to answer it (for HTTP, its protocol).
    type Refusal;

    /// Reads what a refusal of `request` needs.
    fn prepare(&self, request: &Req) -> Self::Refusal;
}

/// One request's refusal, made by [`Refuse::prepare`]: turns a [`Rejection`] into the
/// layer's output, and the inner service's error `E` into the layer's error.
///
/// See [`Refuse`] for an example.
pub trait Refusal<Res, E> {
    /// The error type of the layer's service.
    type Error;

    /// The layer's output for a refused request.
    fn refuse(self, rejection: Rejection) -> Result<Res, Self::Error>;

    /// The inner service's error, as the layer's error.
    fn error(error: E) -> Self::Error;
}

/// The default refusal: `Err(BoxError)` holding the [`Rejection`], and the inner error
/// boxed too, as tower's layers do. Callers downcast to read the reason:
///
/// ```
/// use tollgate_core::{AsError, BoxError, Reason, Refuse, Refusal, Rejection};
///
/// let refused: Result<(), BoxError> =
///     Refusal::<(), BoxError>::refuse(AsError.prepare(&()), Rejection::new(Reason::QueueFull));
/// let err = refused.unwrap_err();
/// assert_eq!(err.downcast_ref::<Rejection>().unwrap().reason(), Reason::QueueFull);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsError;

impl<Req> Refuse<Req> for AsError {
    type Refusal = AsError;

    #[inline]
    fn prepare(&self, _: &Req) -> AsError {
        AsError
    }
}

impl<Res, E: Into<BoxError>> Refusal<Res, E> for AsError {
    type Error = BoxError;

    #[inline]
    fn refuse(self, rejection: Rejection) -> Result<Res, BoxError> {
        Err(Box::new(rejection))
    }

    #[inline]
    fn error(error: E) -> BoxError {
        error.into()
    }
}
