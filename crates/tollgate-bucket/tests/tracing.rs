//! Rejections are tracing events at target `tollgate::bucket`, with the key only when
//! the user opted in.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimiter};
use tollgate_core::ManualClock;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn direct_rejection_is_an_event_with_quota_and_retry_after() {
    let limiter = RateLimiter::builder(Quota::per_second(4).burst(1).unwrap())
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let out = capture(|| {
        limiter.check().unwrap();
        limiter.check().unwrap_err();
    });
    assert_eq!(out.lines().count(), 1, "one event per rejection: {out}");
    for field in [
        "tollgate::bucket",
        "request rejected",
        "reason=rate limited",
        "retry_after_ms=250",
        "quota_count=4",
        "quota_period_ms=1000",
        "burst=1",
    ] {
        assert!(out.contains(field), "missing {field} in {out}");
    }
    assert!(!out.contains("key="));
}

#[test]
fn keyed_rejection_records_the_key_only_when_allowed() {
    let quota = Quota::per_hour(1).build().unwrap();
    let private = KeyedRateLimiter::builder(quota)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let out = capture(|| {
        private.check_key(&"10.0.0.7").unwrap();
        private.check_key(&"10.0.0.7").unwrap_err();
    });
    assert!(out.contains("reason=rate limited"), "{out}");
    assert!(!out.contains("10.0.0.7"), "key leaked: {out}");

    let traced = KeyedRateLimiter::builder(quota)
        .trace_keys()
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let out = capture(|| {
        traced.check_key(&"10.0.0.7").unwrap();
        traced.check_key(&"10.0.0.7").unwrap_err();
    });
    assert!(out.contains("key=\"10.0.0.7\""), "{out}");
}
