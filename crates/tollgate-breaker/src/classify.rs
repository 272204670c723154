//! Deciding what a finished call counts as, and when.

use std::any::Any;

use tollgate_core::{BoxError, Clock, Reason, Rejection};

use crate::{Outcome, Permit};

/// Decides what a finished call counts as, and when: once the inner service has
/// answered, it records the call's [`Permit`] with its [`Outcome`] at once, or moves
/// the permit into the response so that the verdict comes later. This is what
/// [`BreakerLayer::classifier`](crate::BreakerLayer::classifier) takes.
///
/// - Every `Fn(&Result<Response, Error>) -> Outcome` closure is a classifier that
///   decides at once and leaves the response as it is, and so is [`DefaultClassifier`].
/// - A classifier whose verdict is at the end of the response, such as
///   `tollgate_http::breaker::GrpcClassifier` (the `grpc-status` in the trailers of a
///   stream), wraps the response so that it carries the permit and records when the
///   stream ends.
///
/// The permit is a drop guard either way: a response dropped before its verdict counts
/// as a cancelled call, and a half-open probe permit goes back.
///
/// ```
/// use tollgate_breaker::{Breaker, Classifier, Outcome, State};
///
/// // Count only server errors; a "not found" is the caller's problem.
/// let classify = |result: &Result<u16, std::io::Error>| match result {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// };
/// let breaker = Breaker::builder().no_failure_rate().consecutive_failures(1).build()?;
/// assert_eq!(classify.classify(Ok(404), breaker.try_acquire()?).unwrap(), 404);
/// assert_eq!(breaker.state(), State::Closed);
/// classify.classify(Ok(503), breaker.try_acquire()?).unwrap();
/// assert_eq!(breaker.state(), State::Open);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A verdict that comes later:
///
/// ```
/// use tollgate_breaker::{Breaker, Classifier, Outcome, Permit, State};
/// use tollgate_core::Clock;
///
/// // A job service answers with a job id; whether the job worked is known later.
/// #[derive(Clone)]
/// struct WhenDone;
///
/// struct Job<C: Clock> {
///     id: u32,
///     permit: Permit<C>,
/// }
///
/// impl<C: Clock> Job<C> {
///     fn finish(self, ok: bool) {
///         self.permit.record(if ok { Outcome::Success } else { Outcome::Failure });
///     }
/// }
///
/// impl<E, C: Clock> Classifier<u32, E, C> for WhenDone {
///     type Response = Job<C>;
///
///     fn classify(&self, result: Result<u32, E>, permit: Permit<C>) -> Result<Job<C>, E> {
///         match result {
///             Ok(id) => Ok(Job { id, permit }),
///             Err(e) => {
///                 permit.record(Outcome::Failure);
///                 Err(e)
///             }
///         }
///     }
/// }
///
/// let breaker = Breaker::builder().no_failure_rate().consecutive_failures(1).build()?;
/// let job = Classifier::<u32, (), _>::classify(&WhenDone, Ok(7), breaker.try_acquire()?).unwrap();
/// assert_eq!((job.id, breaker.state()), (7, State::Closed), "no verdict yet");
/// job.finish(false);
/// assert_eq!(breaker.state(), State::Open);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Classifier<Res, E, C>: Clone {
    /// What the service answers: `Res` itself, or `Res` carrying the permit.
    type Response;

    /// Records `permit` with the outcome of `result`, or moves it into the response.
    fn classify(&self, result: Result<Res, E>, permit: Permit<C>) -> Result<Self::Response, E>;
}

impl<F, Res, E, C> Classifier<Res, E, C> for F
where
    F: Fn(&Result<Res, E>) -> Outcome + Clone,
    C: Clock,
{
    type Response = Res;

    #[inline]
    fn classify(&self, result: Result<Res, E>, permit: Permit<C>) -> Result<Res, E> {
        permit.record(self(&result));
        result
    }
}

/// Every `Ok` is a success; an `Err` is a failure, or a [`Outcome::Timeout`] (failure
/// and slow) when it is a timeout (see [`is_timeout`]). The response is left as it is.
///
/// ```
/// use tollgate_breaker::{DefaultClassifier, Outcome};
/// use tollgate_core::BoxError;
///
/// let ok: Result<(), BoxError> = Ok(());
/// assert_eq!(DefaultClassifier.outcome(&ok), Outcome::Success);
/// let timeout: Result<(), BoxError> = Err(Box::new(tower::timeout::error::Elapsed::new()));
/// assert_eq!(DefaultClassifier.outcome(&timeout), Outcome::Timeout);
/// let failed: Result<(), BoxError> = Err("connection refused".into());
/// assert_eq!(DefaultClassifier.outcome(&failed), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl DefaultClassifier {
    /// What `result` counts as.
    #[inline]
    pub fn outcome<Res, E: 'static>(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => error_outcome(e),
        }
    }
}

impl<Res, E: 'static, C: Clock> Classifier<Res, E, C> for DefaultClassifier {
    type Response = Res;

    #[inline]
    fn classify(&self, result: Result<Res, E>, permit: Permit<C>) -> Result<Res, E> {
        permit.record(self.outcome(&result));
        result
    }
}

/// What an error of the inner service counts as: a [`Outcome::Timeout`] when it is a
/// timeout (see [`is_timeout`]), a failure otherwise.
///
/// ```
/// use tollgate_breaker::{error_outcome, Outcome};
///
/// assert_eq!(error_outcome(&tower::timeout::error::Elapsed::new()), Outcome::Timeout);
/// assert_eq!(error_outcome(&std::io::Error::other("reset")), Outcome::Failure);
/// ```
#[inline]
pub fn error_outcome<E: 'static>(error: &E) -> Outcome {
    if is_timeout(error) {
        Outcome::Timeout
    } else {
        Outcome::Failure
    }
}

/// Whether an error is a timeout: tower's or tokio's `Elapsed`, or a tollgate
/// [`Rejection`] for an exceeded deadline, directly or inside a `BoxError`.
///
/// ```
/// use tollgate_core::{BoxError, DeadlineKind, Reason, Rejection};
///
/// let per_try: BoxError = Box::new(Rejection::new(Reason::DeadlineExceeded(DeadlineKind::PerTry)));
/// assert!(tollgate_breaker::is_timeout(&per_try));
/// assert!(!tollgate_breaker::is_timeout(&std::io::Error::other("reset")));
/// ```
pub fn is_timeout<E: 'static>(error: &E) -> bool {
    let any = error as &dyn Any;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        return is_timeout_error(boxed.as_ref());
    }
    any.is::<tower::timeout::error::Elapsed>()
        || any.is::<tokio::time::error::Elapsed>()
        || any
            .downcast_ref::<Rejection>()
            .is_some_and(|r| matches!(r.reason(), Reason::DeadlineExceeded(_)))
}

fn is_timeout_error(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error.is::<tower::timeout::error::Elapsed>()
        || error.is::<tokio::time::error::Elapsed>()
        || error
            .downcast_ref::<Rejection>()
            .is_some_and(|r| matches!(r.reason(), Reason::DeadlineExceeded(_)))
}
