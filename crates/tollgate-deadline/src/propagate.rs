//! How a deadline travels on a request: read from an incoming one by the server layer,
//! written to an outgoing one by the client layer.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use crate::Deadline;

/// Reads and writes a budget on requests of type `Req`.
///
/// The layers of this crate know no protocol: a [`ServerDeadlineLayer`] asks its
/// `Propagate` for the budget the caller sent, a [`TimeoutLayer`] asks it to write the
/// budget it sends on. [`Local`], the default, carries nothing (the deadline is kept in
/// process); `tollgate_http::deadline::TimeoutHeaders` reads and writes `grpc-timeout`
/// and a plain HTTP header such as `Request-Timeout` on `http::Request`s.
///
/// [`ServerDeadlineLayer`]: crate::ServerDeadlineLayer
/// [`TimeoutLayer`]: crate::TimeoutLayer
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::Propagate;
///
/// /// Requests that carry their budget in milliseconds, as a field.
/// struct Job { budget_ms: Option<u64> }
///
/// #[derive(Clone)]
/// struct JobBudget;
///
/// impl Propagate<Job> for JobBudget {
///     type Error = std::convert::Infallible;
///     fn read(&self, job: &Job) -> Result<Option<Duration>, Self::Error> {
///         Ok(job.budget_ms.map(Duration::from_millis))
///     }
///     fn write(&self, job: &mut Job, budget: Duration) {
///         job.budget_ms = Some(budget.as_millis() as u64);
///     }
/// }
///
/// let mut job = Job { budget_ms: None };
/// JobBudget.write(&mut job, Duration::from_millis(250));
/// assert_eq!(JobBudget.read(&job).unwrap(), Some(Duration::from_millis(250)));
/// ```
pub trait Propagate<Req>: Clone {
    /// Why a sent budget could not be read (a malformed header, say).
    type Error: fmt::Display;

    /// The budget the caller sent with `request`: `Ok(None)` when it sent none.
    fn read(&self, request: &Req) -> Result<Option<Duration>, Self::Error>;

    /// Writes `budget`, what is left for the callee, on an outgoing `request`.
    fn write(&self, request: &mut Req, budget: Duration);

    /// Hands the deadline to the handler on the request itself (the server layer calls
    /// it before the handler runs), for code that runs outside the deadline's scope.
    /// Nothing by default.
    #[inline]
    fn attach(&self, request: &mut Req, deadline: Deadline) {
        let _ = (request, deadline);
    }

    /// A deadline attached to an outgoing `request` (see [`Propagate::attach`]), used by
    /// the client layer when no deadline scope is current. None by default.
    #[inline]
    fn attached(&self, request: &Req) -> Option<Deadline> {
        let _ = request;
        None
    }
}

/// Carries no deadline on requests: the server layer enforces only its default budget,
/// the client layer only its own timeout and the inherited scope.
///
/// ```
/// use tollgate_deadline::{Local, Propagate};
/// assert_eq!(Local.read(&()).unwrap(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Local;

impl<Req> Propagate<Req> for Local {
    type Error = Infallible;

    #[inline]
    fn read(&self, _: &Req) -> Result<Option<Duration>, Infallible> {
        Ok(None)
    }

    #[inline]
    fn write(&self, _: &mut Req, _: Duration) {}
}
