//! What a [`RateLimit`](crate::RateLimit) service tells an admitted response.

use std::convert::Infallible;

use tollgate_core::AsError;

use crate::outcome::Admitted;

/// What the refusal type of a [`RateLimitLayer`](crate::RateLimitLayer) writes on an
/// ADMITTED response, from the bucket's state: for HTTP, the `RateLimit-Policy` and
/// `RateLimit` headers (`tollgate_http::rate_limit::AdmittedHeaders`).
///
/// The layer calls [`note`](OnAdmitted::note) in `call` when it admits a request, keeps
/// the note in the response future, and hands it to [`annotate`](OnAdmitted::annotate)
/// with the inner service's response. [`AsError`], the default, notes nothing: its
/// `Note` is uninhabited, so the admitted path keeps no state and does no work for it.
///
/// Every refusal type a rate-limit layer takes implements it (a custom `Refuse` type
/// too, if only to write nothing, as `Quiet` below does):
///
/// ```
/// use std::convert::Infallible;
/// use tollgate_bucket::{Admitted, OnAdmitted, Quota};
/// use tollgate_core::Timestamp;
///
/// /// Appends the requests left to a `String` response.
/// #[derive(Clone)]
/// struct CountDown;
///
/// impl OnAdmitted<String> for CountDown {
///     type Note = u32;
///     fn note(&self, admitted: &Admitted, _name: Option<&str>) -> Option<u32> {
///         Some(admitted.remaining())
///     }
///     fn annotate(left: u32, response: &mut String) {
///         response.push_str(&format!(" ({left} left)"));
///     }
/// }
///
/// let quota = Quota::per_second(10).burst(3)?;
/// let now = Timestamp::ZERO;
/// let admitted = Admitted::from_tat(quota, now, now + quota.emission_interval());
/// let mut response = "ok".to_owned();
/// CountDown::annotate(CountDown.note(&admitted, None).unwrap(), &mut response);
/// assert_eq!(response, "ok (2 left)");
///
/// // Writing nothing:
/// #[derive(Clone)]
/// struct Quiet;
/// impl OnAdmitted<String> for Quiet {
///     type Note = Infallible;
///     fn note(&self, _: &Admitted, _: Option<&str>) -> Option<Infallible> { None }
///     fn annotate(note: Infallible, _: &mut String) { match note {} }
/// }
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub trait OnAdmitted<Res> {
    /// What the response future keeps until the response arrives.
    type Note;

    /// The note for a request admitted with `admitted` by the limiter named `name`, or
    /// `None` to write nothing.
    fn note(&self, admitted: &Admitted, name: Option<&str>) -> Option<Self::Note>;

    /// Writes `note` on the inner service's `response`.
    fn annotate(note: Self::Note, response: &mut Res);
}

impl<Res> OnAdmitted<Res> for AsError {
    type Note = Infallible;

    #[inline(always)]
    fn note(&self, _: &Admitted, _: Option<&str>) -> Option<Infallible> {
        None
    }

    #[inline(always)]
    fn annotate(note: Infallible, _: &mut Res) {
        match note {}
    }
}
