//! Deciding what a finished call counts as.

use std::any::Any;

use tollgate_core::{Reason, Rejection};
use tower::BoxError;

use crate::Outcome;

/// Decides whether a finished call succeeded, failed or timed out.
///
/// Implemented by [`DefaultClassifier`] and by every
/// `Fn(&Result<Response, Error>) -> Outcome` closure:
///
/// ```
/// use tollgate_breaker::{Classifier, Outcome};
///
/// // Count only server errors; a "not found" is the caller's problem.
/// let classify = |result: &Result<u16, std::io::Error>| match result {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// };
/// assert_eq!(classify.classify(&Ok(503)), Outcome::Failure);
/// assert_eq!(classify.classify(&Ok(404)), Outcome::Success);
/// ```
pub trait Classifier<Res, E>: Clone + Send + Sync + 'static {
    /// What `result` counts as.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome + Clone + Send + Sync + 'static,
{
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// Every `Ok` is a success; an `Err` is a failure, or a [`Outcome::Timeout`] (failure
/// and slow) when it is a timeout (see [`is_timeout`]).
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::{Classifier, DefaultClassifier, Outcome};
/// use tower::BoxError;
///
/// let ok: Result<(), BoxError> = Ok(());
/// assert_eq!(DefaultClassifier.classify(&ok), Outcome::Success);
/// let timeout: Result<(), BoxError> = Err(Box::new(tower::timeout::error::Elapsed::new()));
/// assert_eq!(DefaultClassifier.classify(&timeout), Outcome::Timeout);
/// let failed: Result<(), BoxError> = Err("connection refused".into());
/// assert_eq!(DefaultClassifier.classify(&failed), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<Res, E: 'static> Classifier<Res, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if is_timeout(e) => Outcome::Timeout,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Whether an error is a timeout: tower's or tokio's `Elapsed`, or a tollgate
/// [`Rejection`] for an exceeded deadline, directly or inside a `BoxError`.
///
/// ```
/// use tollgate_core::{DeadlineKind, Reason, Rejection};
/// use tower::BoxError;
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
