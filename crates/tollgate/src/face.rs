//! What the stacks speak: plain HTTP (axum, hyper) or gRPC (tonic).

use tollgate_core::AsError;
#[cfg(feature = "tonic")]
use tollgate_http::breaker::GrpcClassifier;
use tollgate_http::breaker::HttpClassifier;

/// The protocol a stack serves or calls, choosing how its breaker classifies responses
/// and how its client-side refusals surface. [`Http`] is the default; [`Grpc`] (feature
/// `tonic`) is for tonic servers and channels.
///
/// ```
/// use tollgate::stack::{Face, Http};
/// let _classifier = Http::classifier(); // 5xx are failures
/// ```
pub trait Face: Clone + Send + Sync + 'static {
    /// How the breaker judges a response.
    type Classifier: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What a client stack's refusal becomes.
    type ClientRefuse: Clone + Default + std::fmt::Debug + Send + Sync + 'static;

    /// The classifier every breaker of the stack uses.
    fn classifier() -> Self::Classifier;
}

/// Plain HTTP: 5xx responses are failures ([`HttpClassifier`]); a client stack's
/// refusal is an `Err(BoxError)` holding the `Rejection`.
///
/// See [`Face`] for an example.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

impl Face for Http {
    type Classifier = HttpClassifier;
    type ClientRefuse = AsError;

    fn classifier() -> HttpClassifier {
        HttpClassifier::new()
    }
}

/// gRPC: `grpc-status` decides, in the head or the trailers ([`GrpcClassifier`]); a
/// client stack's refusal is the call's `tonic::Status` (`AsStatus`).
///
/// ```
/// use tollgate::stack::{Face, Grpc};
/// let _classifier = Grpc::classifier(); // UNAVAILABLE, INTERNAL, ... are failures
/// ```
#[cfg(feature = "tonic")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Grpc;

#[cfg(feature = "tonic")]
impl Face for Grpc {
    type Classifier = GrpcClassifier;
    type ClientRefuse = tollgate_http::AsStatus;

    fn classifier() -> GrpcClassifier {
        GrpcClassifier::new()
    }
}
