//! The benchmarks' floors: for each layer, the least code that does its job as a tower
//! layer, measured in the same group as tollgate and its peers so that every figure is
//! also a ratio to what the job costs at minimum (BENCHMARKS.md).
//!
//! None of these is usable middleware: no configuration, no observability, a bare
//! refusal, and shared state leaked to `'static` so that a request holds a plain
//! reference where a real layer must count a reference to state it can free. Each
//! reads the same clock tollgate does (the TSC through [`SystemClock`], or tokio's).
//!
//! ```
//! use tollgate_workspace::floors::Gcra;
//!
//! let gcra = Gcra::new(1_000);
//! assert!(gcra.check() && gcra.check());
//! ```

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::Either;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tollgate_core::{Clock, SystemClock};
use tower::{BoxError, Service};

/// The floor of a token bucket: a GCRA over one theoretical arrival time (TAT), one
/// cell a nanosecond; one clock read and one compare-exchange per check.
///
/// ```
/// use tollgate_workspace::floors::Gcra;
///
/// assert!(Gcra::new(1_000).check());
/// assert!(!Gcra::new(0).check(), "a bucket of no cells admits nothing");
/// ```
#[derive(Debug)]
pub struct Gcra {
    keyed: FlatKeyed,
}

impl Gcra {
    /// A bucket of `burst` cells.
    pub fn new(burst: u64) -> Self {
        Self {
            keyed: FlatKeyed::new(1, burst),
        }
    }

    /// Takes one cell if the bucket has one.
    #[inline]
    pub fn check(&self) -> bool {
        self.keyed.check(0)
    }
}

/// The floor of a keyed token bucket: a flat array of TATs indexed by the key. No
/// hashing, no table, no bound on memory: what a keyed check costs before any of the
/// work that makes it safe against a flood of keys.
///
/// ```
/// use tollgate_workspace::floors::FlatKeyed;
///
/// let keyed = FlatKeyed::new(8, 1_000);
/// assert!(keyed.check(3) && keyed.check(4));
/// assert!(!FlatKeyed::new(8, 0).check(3), "buckets of no cells admit nothing");
/// ```
#[derive(Debug)]
pub struct FlatKeyed {
    cells: Box<[AtomicU64]>,
    burst: u64,
    clock: SystemClock,
}

impl FlatKeyed {
    /// `keys` buckets of `burst` cells each.
    pub fn new(keys: u64, burst: u64) -> Self {
        Self {
            cells: (0..keys).map(|_| AtomicU64::new(0)).collect(),
            burst,
            clock: SystemClock::new(),
        }
    }

    /// Takes one cell from the bucket of `key` (`key < keys`) if it has one.
    #[inline]
    pub fn check(&self, key: u64) -> bool {
        let now = self.clock.now().as_nanos();
        let cell = &self.cells[key as usize];
        // Relaxed: as in tollgate's GCRA, the TAT publishes nothing else.
        let tat = cell.load(Ordering::Relaxed);
        let next = tat.max(now) + 1;
        next <= now + self.burst
            && cell
                .compare_exchange(tat, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The floor of a rate-limit layer on HTTP: the key of the request, one check of a
/// [`FlatKeyed`], then the inner service or a bare 429.
///
/// ```
/// use tollgate_workspace::floors::RateLimitFloor;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let admitting = RateLimitFloor::direct(handler.clone(), 1_000);
/// assert_eq!(admitting.oneshot(http::Request::new(())).await.unwrap().status(), 200);
/// let refusing = RateLimitFloor::direct(handler, 0);
/// assert_eq!(refusing.oneshot(http::Request::new(())).await.unwrap().status(), 429);
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimitFloor<S, K> {
    inner: S,
    buckets: &'static FlatKeyed,
    key: K,
}

impl<S: Clone, K: Clone> Clone for RateLimitFloor<S, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            buckets: self.buckets,
            key: self.key.clone(),
        }
    }
}

impl<S> RateLimitFloor<S, ()> {
    /// One bucket for every request.
    pub fn direct(inner: S, burst: u64) -> Self {
        Self::keyed(inner, 1, burst, ())
    }
}

impl<S, K> RateLimitFloor<S, K> {
    /// `keys` buckets; `key` maps a request to one of them (`key(req) < keys`).
    pub fn keyed(inner: S, keys: u64, burst: u64, key: K) -> Self {
        Self {
            inner,
            buckets: Box::leak(Box::new(FlatKeyed::new(keys, burst))),
            key,
        }
    }
}

/// How [`RateLimitFloor`] picks a request's bucket.
pub trait FloorKey<B> {
    /// The bucket of `req`.
    fn key(&self, req: &Request<B>) -> u64;
}

impl<B> FloorKey<B> for () {
    #[inline]
    fn key(&self, _: &Request<B>) -> u64 {
        0
    }
}

impl<B, F: Fn(&Request<B>) -> u64> FloorKey<B> for F {
    #[inline]
    fn key(&self, req: &Request<B>) -> u64 {
        self(req)
    }
}

impl<S, K, B, ResB> Service<Request<B>> for RateLimitFloor<S, K>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    K: FloorKey<B>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResB>, S::Error>>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.buckets.check(self.key.key(&req)) {
            Either::Left(self.inner.call(req))
        } else {
            let mut refused = Response::new(ResB::default());
            *refused.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Either::Right(ready(Ok(refused)))
        }
    }
}

/// The floor of a closed circuit breaker: one acquire load of the state in `call`, one
/// relaxed add to the outcome count when the response completes.
///
/// ```
/// use tollgate_workspace::floors::BreakerFloor;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = BreakerFloor::new(tower::service_fn(|x: u64| async move {
///     Ok::<_, std::convert::Infallible>(x)
/// }));
/// assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
/// assert_eq!(svc.calls(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BreakerFloor<S> {
    inner: S,
    state: &'static BreakerCells,
}

#[derive(Debug, Default)]
struct BreakerCells {
    open: AtomicBool,
    calls: AtomicU64,
}

impl<S> BreakerFloor<S> {
    /// A closed breaker around `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: Box::leak(Box::default()),
        }
    }

    /// The outcomes recorded so far.
    pub fn calls(&self) -> u64 {
        // Relaxed: a count read after the calls completed.
        self.state.calls.load(Ordering::Relaxed)
    }
}

impl<S, Req> Service<Req> for BreakerFloor<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<Recorded<S::Future>, Ready<Result<S::Response, BoxError>>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if self.state.open.load(Ordering::Acquire) {
            return Either::Right(ready(Err("circuit open".into())));
        }
        Either::Left(Recorded {
            inner: self.inner.call(req),
            calls: &self.state.calls,
        })
    }
}

pin_project! {
    /// [`BreakerFloor`]'s response future: counts the outcome when the inner one
    /// completes.
    #[derive(Debug)]
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        calls: &'static AtomicU64,
    }
}

impl<F, T, E: Into<BoxError>> Future for Recorded<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        // Relaxed: an outcome count, as a breaker's window keeps one.
        this.calls.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(output.map_err(Into::into))
    }
}

/// The floor of in-flight accounting: one add when a request enters, one subtract when
/// its response future is dropped (tollgate's `DrainLayer` by default counts a request
/// until its response, as this does).
///
/// ```
/// use tollgate_workspace::floors::InFlightFloor;
/// # use tower::{Service, ServiceExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut svc = InFlightFloor::new(tower::service_fn(|x: u64| async move {
///     Ok::<_, std::convert::Infallible>(x)
/// }));
/// let response = svc.ready().await.unwrap().call(1);
/// assert_eq!(svc.in_flight(), 1);
/// assert_eq!(response.await.unwrap(), 1);
/// assert_eq!(svc.in_flight(), 0);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InFlightFloor<S> {
    inner: S,
    count: &'static AtomicUsize,
}

impl<S> InFlightFloor<S> {
    /// Counts the requests in flight through `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            count: Box::leak(Box::default()),
        }
    }

    /// The requests in flight now.
    pub fn in_flight(&self) -> usize {
        // Relaxed: a count read by the one thread that drives the requests.
        self.count.load(Ordering::Relaxed)
    }
}

impl<S, Req> Service<Req> for InFlightFloor<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InFlight<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // Relaxed: entering publishes nothing; the drain reads the count with Acquire.
        self.count.fetch_add(1, Ordering::Relaxed);
        InFlight {
            inner: self.inner.call(req),
            leave: Leave(self.count),
        }
    }
}

pin_project! {
    /// [`InFlightFloor`]'s response future: the request is in flight until it is
    /// dropped.
    #[derive(Debug)]
    pub struct InFlight<F> {
        #[pin]
        inner: F,
        leave: Leave,
    }
}

impl<F: Future> Future for InFlight<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

#[derive(Debug)]
struct Leave(&'static AtomicUsize);

impl Drop for Leave {
    #[inline]
    fn drop(&mut self) {
        // Release: what the request did happens before a drain sees the count fall.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// The floor of a timeout layer: the deadline from one read of tokio's clock in
/// `call`; a timer armed only if the inner future is not ready at its first poll.
///
/// ```
/// use std::time::Duration;
/// use tollgate_workspace::floors::TimeoutFloor;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = tower::service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(2)).await;
///     Ok::<_, std::convert::Infallible>(())
/// });
/// let svc = TimeoutFloor::new(slow, Duration::from_secs(1));
/// assert!(svc.oneshot(()).await.is_err(), "cut at one second");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutFloor<S> {
    inner: S,
    timeout: Duration,
}

impl<S> TimeoutFloor<S> {
    /// Cuts each call through `inner` after `timeout`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S, Req> Service<Req> for TimeoutFloor<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Timed<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        Timed {
            inner: self.inner.call(req),
            deadline: tokio::time::Instant::now() + self.timeout,
            timer: None,
        }
    }
}

pin_project! {
    /// [`TimeoutFloor`]'s response future: the timer is armed at the first poll that
    /// finds the inner future pending (then it is boxed, as on that path only).
    #[derive(Debug)]
    pub struct Timed<F> {
        #[pin]
        inner: F,
        deadline: tokio::time::Instant,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F, T, E: Into<BoxError>> Future for Timed<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output.map_err(Into::into));
        }
        let deadline = *this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        std::task::ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err("timed out".into()))
    }
}

/// The floor of writing the `RateLimit` headers on a response: two inserts of custom
/// names into the response's `HeaderMap`, with values made before the request (a real
/// layer must also format the remaining count and the reset per request). What any
/// layer that writes two headers pays on `http`'s header map.
///
/// ```
/// use tollgate_workspace::floors::HeadersFloor;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let response = HeadersFloor::new(handler).oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.headers()["ratelimit"], "\"default\";r=9;t=1");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HeadersFloor<S> {
    inner: S,
}

impl<S> HeadersFloor<S> {
    /// `inner`'s responses, with the two headers.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, Req, ResB> Service<Req> for HeadersFloor<S>
where
    S: Service<Req, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = futures::future::MapOk<S::Future, fn(Response<ResB>) -> Response<ResB>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        futures::TryFutureExt::map_ok(self.inner.call(req), |mut response| {
            insert_headers(response.headers_mut());
            response
        })
    }
}

/// What [`HeadersFloor`] writes on each response: two custom-named headers, with values
/// made beforehand.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// tollgate_workspace::floors::insert_headers(&mut headers);
/// assert_eq!(headers["ratelimit-policy"], "\"default\";q=10;w=1");
/// ```
#[inline]
pub fn insert_headers(headers: &mut http::HeaderMap) {
    headers.insert(
        http::header::HeaderName::from_static("ratelimit-policy"),
        http::HeaderValue::from_static("\"default\";q=10;w=1"),
    );
    headers.insert(
        http::header::HeaderName::from_static("ratelimit"),
        http::HeaderValue::from_static("\"default\";r=9;t=1"),
    );
}
