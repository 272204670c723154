//! Model-based property test: random sequences of time advances, call starts, call
//! ends (with outcome and duration), cancellations and operator actions run against
//! the real breaker and against a small reference model written for obviousness, not
//! speed. Every decision, retry time, state and window count must match.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use tollgate_breaker::{Breaker, Outcome, Permit, State, Window};
use tollgate_core::{ManualClock, Timestamp};

#[derive(Debug, Clone)]
struct Params {
    consecutive: Option<u32>,
    failure_rate: f64,
    slow_rate: Option<f64>,
    window: u32,
    /// A time window of `window` buckets of this many ms, instead of a count window.
    bucket_ms: Option<u64>,
    minimum: u32,
    probes: u32,
    successes: u32,
}

const SLOW: Duration = Duration::from_millis(100);
const BASE: Duration = Duration::from_millis(1000);
const CAP: Duration = Duration::from_millis(4000);

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Start,
    End(usize, Outcome),
    Cancel(usize),
    ForceOpen,
    Disable,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..1500).prop_map(Op::Advance),
        6 => Just(Op::Start),
        6 => (0usize..8, prop_oneof![
            Just(Outcome::Success),
            Just(Outcome::Failure),
            Just(Outcome::Timeout),
            Just(Outcome::Ignored),
        ]).prop_map(|(i, o)| Op::End(i, o)),
        1 => (0usize..8).prop_map(Op::Cancel),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::Reset),
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::option::of(1u32..4),
        prop_oneof![Just(50.0), Just(34.0), Just(100.0)],
        prop::option::of(prop_oneof![Just(50.0), Just(80.0)]),
        1u32..6,
        1u32..6,
        (1u32..3, 1u32..3),
        prop::option::of(prop_oneof![Just(100u64), Just(250), Just(1000)]),
    )
        .prop_map(
            |(
                consecutive,
                failure_rate,
                slow_rate,
                window,
                minimum,
                (probes, successes),
                bucket_ms,
            )| Params {
                consecutive,
                failure_rate,
                slow_rate,
                window,
                bucket_ms,
                minimum: if bucket_ms.is_some() {
                    minimum
                } else {
                    minimum.min(window)
                },
                probes,
                successes,
            },
        )
}

// ===== the reference model =====

#[derive(Debug)]
struct Model {
    p: Params,
    state: State,
    generation: u64,
    /// (bucket index, failed, slow) of the recorded calls, oldest first.
    window: VecDeque<(u64, bool, bool)>,
    consecutive: u32,
    open_until: u64,
    reopens: u32,
    in_flight: u32,
    successes: u32,
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    generation: u64,
    probe: bool,
    start: u64,
}

fn rate(part: usize, whole: usize) -> f64 {
    part as f64 * 100.0 / whole as f64
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            p,
            state: State::Closed,
            generation: 0,
            window: VecDeque::new(),
            consecutive: 0,
            open_until: 0,
            reopens: 0,
            in_flight: 0,
            successes: 0,
        }
    }

    /// The calls in the window at `now`: the last `window` calls, or those of the
    /// last `window` buckets.
    fn in_window(&self, now: u64) -> Vec<(bool, bool)> {
        let calls = self.window.iter();
        match self.p.bucket_ms {
            None => calls.map(|c| (c.1, c.2)).collect(),
            Some(ms) => {
                let index = now / (ms * 1_000_000);
                calls
                    .filter(|c| c.0 + u64::from(self.p.window) > index)
                    .map(|c| (c.1, c.2))
                    .collect()
            }
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
        self.in_flight = 0;
        self.successes = 0;
    }

    fn acquire(&mut self, now: u64) -> Result<ModelPermit, Option<u64>> {
        let permit = |m: &Model, probe| ModelPermit {
            generation: m.generation,
            probe,
            start: now,
        };
        match self.state {
            State::Closed | State::Disabled => Ok(permit(self, false)),
            State::ForcedOpen => Err(None),
            State::Open if now < self.open_until => Err(Some(self.open_until - now)),
            State::Open => {
                self.enter(State::HalfOpen);
                self.in_flight = 1;
                Ok(permit(self, true))
            }
            State::HalfOpen if self.in_flight >= self.p.probes => Err(None),
            State::HalfOpen => {
                self.in_flight += 1;
                Ok(permit(self, true))
            }
        }
    }

    fn open(&mut self, now: u64) {
        let wait = (BASE.as_nanos() as u64)
            .saturating_mul(2u64.saturating_pow(self.reopens))
            .min(CAP.as_nanos() as u64);
        self.reopens += 1;
        self.open_until = now + wait;
        self.enter(State::Open);
    }

    fn close(&mut self) {
        self.window.clear();
        self.consecutive = 0;
        self.reopens = 0;
        self.enter(State::Closed);
    }

    fn cancel(&mut self, permit: ModelPermit) {
        if permit.probe
            && permit.generation == self.generation
            && self.state == State::HalfOpen
            && self.in_flight > 0
        {
            self.in_flight -= 1;
        }
    }

    fn end(&mut self, permit: ModelPermit, outcome: Outcome, now: u64) {
        if outcome == Outcome::Ignored {
            return self.cancel(permit);
        }
        if permit.generation != self.generation {
            return;
        }
        let failed = matches!(outcome, Outcome::Failure | Outcome::Timeout);
        let slow = outcome == Outcome::Timeout
            || (self.p.slow_rate.is_some() && now - permit.start >= SLOW.as_nanos() as u64);
        if permit.probe {
            if self.state != State::HalfOpen {
                return;
            }
            if failed || (slow && self.p.slow_rate.is_some()) {
                return self.open(now);
            }
            self.successes += 1;
            self.in_flight = self.in_flight.saturating_sub(1);
            if self.successes >= self.p.successes {
                self.close();
            }
            return;
        }
        if !matches!(self.state, State::Closed | State::Disabled) {
            return;
        }
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        let index = self.p.bucket_ms.map_or(0, |ms| now / (ms * 1_000_000));
        self.window.push_back((index, failed, slow));
        if self.p.bucket_ms.is_none() && self.window.len() > self.p.window as usize {
            self.window.pop_front();
        }
        if self.state == State::Disabled {
            return;
        }
        let window = self.in_window(now);
        let calls = window.len();
        let failures = window.iter().filter(|c| c.0).count();
        let slows = window.iter().filter(|c| c.1).count();
        let trip = self
            .p
            .consecutive
            .is_some_and(|n| failed && self.consecutive >= n)
            || ((failed || slow)
                && calls >= self.p.minimum as usize
                && (rate(failures, calls) >= self.p.failure_rate
                    || self.p.slow_rate.is_some_and(|t| rate(slows, calls) >= t)));
        if trip {
            self.open(now);
        }
    }
}

// ===== the property =====

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_decides_like_the_reference_model(p in params(), ops in prop::collection::vec(op(), 1..120)) {
        let mut builder = Breaker::builder()
            .failure_rate(p.failure_rate)
            .window(match p.bucket_ms {
                None => Window::Count(p.window),
                Some(ms) => Window::Time {
                    length: Duration::from_millis(ms * u64::from(p.window)),
                    buckets: p.window,
                },
            })
            .minimum_calls(p.minimum)
            .open_wait(BASE)
            .backoff(2.0, CAP)
            .half_open(p.probes, p.successes);
        if let Some(n) = p.consecutive {
            builder = builder.consecutive_failures(n);
        }
        if let Some(t) = p.slow_rate {
            builder = builder.slow_calls(SLOW, t);
        }
        let clock = ManualClock::new();
        let breaker = builder.clock(clock.clone()).build().unwrap();
        let mut model = Model::new(p);
        let mut now = 0u64;
        let mut calls: Vec<(Permit<ManualClock>, ModelPermit)> = Vec::new();
        let (mut admitted, mut rejected) = (0u64, 0u64);

        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Advance(ms) => {
                    now += ms * 1_000_000;
                    clock.set(Timestamp::from_nanos(now));
                }
                Op::Start => {
                    let real = breaker.try_acquire_at(Timestamp::from_nanos(now));
                    let expected = model.acquire(now);
                    match (real, expected) {
                        (Ok(permit), Ok(m)) => {
                            admitted += 1;
                            prop_assert_eq!(permit.is_probe(), m.probe, "step {}", step);
                            calls.push((permit, m));
                        }
                        (Err(r), Err(retry)) => {
                            rejected += 1;
                            prop_assert_eq!(r.retry_after(), retry.map(Duration::from_nanos), "step {}", step);
                        }
                        (real, expected) => prop_assert!(false, "step {}: real {:?}, model {:?}", step, real.map(|_| ()), expected),
                    }
                }
                Op::End(i, outcome) if i < calls.len() => {
                    let (permit, m) = calls.remove(i);
                    permit.record_at(outcome, Timestamp::from_nanos(now));
                    model.end(m, outcome, now);
                }
                Op::Cancel(i) if i < calls.len() => {
                    let (permit, m) = calls.remove(i);
                    drop(permit);
                    model.cancel(m);
                }
                Op::ForceOpen => {
                    breaker.force_open();
                    model.enter(State::ForcedOpen);
                }
                Op::Disable => {
                    breaker.disable();
                    model.enter(State::Disabled);
                }
                Op::Reset => {
                    breaker.reset();
                    model.close();
                }
                Op::End(..) | Op::Cancel(..) => {}
            }
            let s = breaker.snapshot_at(Timestamp::from_nanos(now));
            prop_assert_eq!(s.state, model.state, "step {}", step);
            prop_assert_eq!((s.admitted, s.rejected), (admitted, rejected), "step {}", step);
            let window = model.in_window(now);
            prop_assert_eq!(s.calls, window.len() as u64, "step {}", step);
            prop_assert_eq!(s.failures, window.iter().filter(|c| c.0).count() as u64, "step {}", step);
            prop_assert_eq!(s.slow_calls, window.iter().filter(|c| c.1).count() as u64, "step {}", step);
            if model.state == State::HalfOpen {
                prop_assert_eq!((s.probes_in_flight, s.probe_successes), (model.in_flight, model.successes), "step {}", step);
            }
        }
    }
}
