use std::future::Future;

use tollgate_drain::Drain;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Makes the gRPC health service follow `drain`: each of `services` (and the server as
/// a whole, `""`) is `SERVING` now and `NOT_SERVING` from the moment the drain is
/// announced. Spawn the returned future next to the server.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder().build()?;
/// let (reporter, health_service) = tonic_health::server::health_reporter();
/// tokio::spawn(tollgate_http::drain::health_follows(
///     drain.clone(),
///     reporter,
///     ["tollgate.echo.Echo"],
/// ));
/// // tonic::transport::Server::builder()
/// //     .layer(tollgate_drain::DrainLayer::new(drain.clone())
/// //         .refuse_with(tollgate_http::AsResponse::new())
/// //         .track_with(tollgate_http::drain::UntilBodyEnd))
/// //     .add_service(health_service)
/// //     .add_service(my_service)
/// //     .serve_with_shutdown(addr, drain.done());
/// # let _ = health_service;
/// # Ok(()) }
/// ```
pub fn health_follows<I, N>(
    drain: Drain,
    reporter: HealthReporter,
    services: I,
) -> impl Future<Output = ()> + Send + 'static
where
    I: IntoIterator<Item = N>,
    N: Into<String>,
{
    let mut names: Vec<String> = services.into_iter().map(Into::into).collect();
    names.push(String::new());
    let announced = drain.announced();
    async move {
        for name in &names {
            reporter
                .set_service_status(name.as_str(), ServingStatus::Serving)
                .await;
        }
        announced.await;
        for name in &names {
            reporter
                .set_service_status(name.as_str(), ServingStatus::NotServing)
                .await;
        }
    }
}
