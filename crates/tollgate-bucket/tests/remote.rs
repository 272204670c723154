//! A limiter that answers later (as a remote store would) drives the same layer as the
//! local ones: admit, wait, refuse, and what admitted responses are told.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tollgate_bucket::{
    Admitted, Decide, Decision, Limiter, MissingKey, OnAdmitted, Quota, RateLimitLayer,
    RateLimiter, Reservation, Snapshot,
};
use tollgate_core::{AsError, Clock, Reason, Refuse, Rejection, Timestamp, TokioClock};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_test::{assert_request_eq, mock};

const MS: Duration = Duration::from_millis(1);

/// A "remote" limiter whose answers the test hands out by hand, one per request.
#[derive(Clone)]
struct Scripted {
    clock: TokioClock,
    answers: Arc<Mutex<Vec<tokio::sync::oneshot::Receiver<Decision>>>>,
    seen: Arc<Mutex<Vec<Asked>>>,
}

/// What the limiter was asked: the key, `now` and the maximum wait.
type Asked = (String, Timestamp, Option<Duration>);

impl Scripted {
    fn new() -> Self {
        Self {
            clock: TokioClock::new(),
            answers: Arc::default(),
            seen: Arc::default(),
        }
    }

    /// Queues the next request's answer, to be sent through the returned sender.
    fn next_answer(&self) -> tokio::sync::oneshot::Sender<Decision> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.answers.lock().unwrap().push(rx);
        tx
    }
}

impl Limiter for Scripted {
    type Clock = TokioClock;

    fn clock(&self) -> &TokioClock {
        &self.clock
    }

    fn name(&self) -> Option<&str> {
        Some("remote")
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }
}

impl Decide<String> for Scripted {
    fn decide(&self, key: &String, now: Timestamp, max_wait: Option<Duration>) -> Decision {
        self.seen.lock().unwrap().push((key.clone(), now, max_wait));
        let answer = self.answers.lock().unwrap().remove(0);
        Decision::Later(Box::pin(async move { answer.await.expect("an answer") }))
    }
}

fn quota() -> Quota {
    Quota::per_second(10).burst(2).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_later_answer_admits_refuses_or_waits_exactly() {
    let remote = Scripted::new();
    let layer = RateLimitLayer::keyed(remote.clone(), |req: &(String, u32)| Some(req.0.clone()))
        .max_wait(Duration::from_secs(1));
    let (mut service, mut handle) = mock::spawn_layer::<(String, u32), u32, _>(layer);
    let now = remote.clock.now();

    // Admitted once the answer comes; not called before.
    let admit = remote.next_answer();
    assert_ready_ok!(service.poll_ready());
    let mut first = task::spawn(service.call(("a".into(), 1)));
    assert_pending!(first.poll());
    assert!(
        handle.poll_request().is_pending(),
        "called before the answer"
    );
    admit
        .send(Decision::Admit(Admitted::from_tat(
            quota(),
            now,
            now + 100 * MS,
        )))
        .unwrap();
    assert!(first.is_woken());
    assert_pending!(first.poll());
    assert_request_eq!(handle, ("a".into(), 1)).send_response(10);
    assert_eq!(assert_ready!(first.poll()).unwrap(), 10);

    // Refused: the rejection is the answer's, and the inner service never sees it.
    let refuse = remote.next_answer();
    assert_ready_ok!(service.poll_ready());
    let mut second = task::spawn(service.call(("a".into(), 2)));
    assert_pending!(second.poll());
    refuse
        .send(Decision::Reject(
            Rejection::new(Reason::RateLimited).with_retry_after(300 * MS),
        ))
        .unwrap();
    let err = assert_ready!(second.poll()).unwrap_err();
    let rejection = err.downcast_ref::<Rejection>().expect("a rejection");
    assert_eq!(rejection.retry_after(), Some(300 * MS));
    assert!(handle.poll_request().is_pending());

    // A reservation 250 ms out: called exactly then, on tokio's timeline.
    let wait = remote.next_answer();
    assert_ready_ok!(service.poll_ready());
    let mut third = task::spawn(service.call(("b".into(), 3)));
    assert_pending!(third.poll());
    let reservation = Reservation::kept(quota(), now, now + 450 * MS);
    assert_eq!(reservation.wait(), 250 * MS);
    wait.send(Decision::Wait(reservation)).unwrap();
    assert_pending!(third.poll());
    tokio::time::advance(249 * MS).await;
    assert_pending!(third.poll());
    assert!(handle.poll_request().is_pending(), "called before its slot");
    tokio::time::advance(MS).await;
    assert_pending!(third.poll());
    assert_request_eq!(handle, ("b".into(), 3)).send_response(30);
    assert_eq!(assert_ready!(third.poll()).unwrap(), 30);

    // The limiter saw each key once, with the instant read once per request.
    let seen = remote.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|(_, at, max)| *at == now && *max == Some(Duration::from_secs(1))));
    assert_eq!(seen[2].0, "b");
}

#[tokio::test(start_paused = true)]
async fn a_later_answer_may_be_another_later_answer() {
    let remote = Scripted::new();
    let outer = remote.next_answer();
    let layer = RateLimitLayer::keyed(remote.clone(), |req: &String| Some(req.clone()));
    let service = layer.layer(service_fn(|req: String| async move {
        Ok::<_, Infallible>(req.len())
    }));
    let mut call = task::spawn(service.oneshot("four".into()));
    assert_pending!(call.poll());
    let (tx, rx) = tokio::sync::oneshot::channel();
    outer
        .send(Decision::Later(Box::pin(async move { rx.await.unwrap() })))
        .unwrap();
    assert_pending!(call.poll());
    let now = remote.clock.now();
    tx.send(Decision::Admit(Admitted::from_tat(quota(), now, now)))
        .unwrap();
    assert_eq!(assert_ready!(call.poll()).unwrap(), 4);
}

/// Answers refusals as `Err(String)` and tells admitted `String` responses what is
/// left, with the limiter's name.
#[derive(Clone, Debug)]
struct Notes;

impl Refuse<String> for Notes {
    type Refusal = AsError;
    fn prepare(&self, _: &String) -> AsError {
        AsError
    }
}

impl OnAdmitted<String> for Notes {
    type Note = String;
    fn note(&self, admitted: &Admitted, name: Option<&str>) -> Option<String> {
        Some(format!(
            " [{}: {} left]",
            name.unwrap_or("default"),
            admitted.remaining()
        ))
    }
    fn annotate(note: String, response: &mut String) {
        response.push_str(&note);
    }
}

#[tokio::test(start_paused = true)]
async fn admitted_responses_are_told_what_is_left_locally_and_remotely() {
    let handler = service_fn(|req: String| async move { Ok::<_, Infallible>(req) });

    let local = RateLimiter::builder(quota())
        .name("local")
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(local).refuse_with(Notes);
    let mut service = layer.layer(handler);
    let first = service.ready().await.unwrap().call("hi".into()).await;
    assert_eq!(first.unwrap(), "hi [local: 1 left]");
    let second = service.ready().await.unwrap().call("hi".into()).await;
    assert_eq!(second.unwrap(), "hi [local: 0 left]");
    let refused = service.ready().await.unwrap().call("hi".into()).await;
    let err = refused.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejection>().unwrap().name(),
        Some("local")
    );
    assert_eq!(
        (layer.snapshot().admitted, service.snapshot().rejected),
        (2, 1)
    );

    // Wait mode: the note is the bucket's state at the slot.
    let waiting = RateLimiter::builder(Quota::per_second(10).burst(1).unwrap())
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let mut service = RateLimitLayer::new(waiting)
        .max_wait(Duration::from_secs(1))
        .refuse_with(Notes)
        .layer(handler);
    let first = service.ready().await.unwrap().call("a".into()).await;
    assert_eq!(first.unwrap(), "a [default: 0 left]");
    let second = service.ready().await.unwrap().call("b".into()).await;
    assert_eq!(second.unwrap(), "b [default: 0 left]");

    // Remote: the note is made once the answer comes, with the limiter's name.
    let remote = Scripted::new();
    let admit = remote.next_answer();
    let service = RateLimitLayer::keyed(remote.clone(), |req: &String| Some(req.clone()))
        .refuse_with(Notes)
        .layer(handler);
    let mut call = task::spawn(service.oneshot("r".into()));
    assert_pending!(call.poll());
    let now = remote.clock.now();
    admit
        .send(Decision::Admit(Admitted::from_tat(
            quota(),
            now,
            now + 100 * MS,
        )))
        .unwrap();
    assert_eq!(assert_ready!(call.poll()).unwrap(), "r [remote: 1 left]");
}

#[tokio::test(start_paused = true)]
async fn a_missing_key_is_refused_before_the_limiter_or_charged_to_a_shared_key() {
    let remote = Scripted::new();
    let handler =
        service_fn(
            |req: Option<String>| async move { Ok::<_, Infallible>(req.unwrap_or_default()) },
        );
    let strict =
        RateLimitLayer::keyed(remote.clone(), |req: &Option<String>| req.clone()).layer(handler);
    let err = strict.oneshot(None).await.unwrap_err();
    let rejection = err.downcast_ref::<Rejection>().unwrap();
    assert_eq!(rejection.reason(), Reason::MissingKey);
    assert!(
        remote.seen.lock().unwrap().is_empty(),
        "the limiter never saw it"
    );

    let admit = remote.next_answer();
    let lenient = RateLimitLayer::keyed(remote.clone(), |req: &Option<String>| req.clone())
        .on_missing_key(MissingKey::Bucket("anonymous".to_owned()))
        .layer(handler);
    let mut call = task::spawn(lenient.oneshot(None));
    assert_pending!(call.poll());
    let now = remote.clock.now();
    admit
        .send(Decision::Admit(Admitted::from_tat(quota(), now, now)))
        .unwrap();
    assert_eq!(assert_ready!(call.poll()).unwrap(), "");
    assert_eq!(remote.seen.lock().unwrap()[0].0, "anonymous");
}
