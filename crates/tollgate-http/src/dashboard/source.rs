//! What the dashboard shows of each layer: a [`Sample`] of its snapshot, taken from a
//! [`Source`].

use std::fmt::Write as _;

/// One reading of a layer's snapshot: its kind, its state (a breaker's, a drain's
/// phase) and its figures, each a counter (the page shows its rate too) or a gauge.
///
/// ```
/// use tollgate_http::dashboard::Sample;
///
/// let sample = Sample::new("queue").counter("admitted", 12).gauge("queued", 3.0);
/// assert_eq!(sample.figure("admitted"), Some(12.0));
/// assert_eq!(sample.figure("queued"), Some(3.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    kind: &'static str,
    state: Option<String>,
    figures: Vec<Figure>,
}

#[derive(Debug, Clone, PartialEq)]
struct Figure {
    name: &'static str,
    value: f64,
    counter: bool,
}

impl Sample {
    /// A sample of a layer of `kind` (`bucket`, `shaper`, `breaker`, ...), with no
    /// figures yet.
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            state: None,
            figures: Vec::new(),
        }
    }

    /// The layer's state, shown as a coloured badge with its timeline.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// A figure that only grows: the page shows its value and its rate per second.
    pub fn counter(mut self, name: &'static str, value: u64) -> Self {
        self.figures.push(Figure {
            name,
            value: value as f64,
            counter: true,
        });
        self
    }

    /// A figure that moves both ways (a queue's length, a wait in seconds).
    pub fn gauge(mut self, name: &'static str, value: f64) -> Self {
        self.figures.push(Figure {
            name,
            value,
            counter: false,
        });
        self
    }

    /// The value of the figure `name`.
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    /// Appends this sample as the JSON object the page reads.
    pub(crate) fn write_json(&self, name: &str, out: &mut String) {
        out.push_str("{\"name\":");
        json_string(name, out);
        out.push_str(",\"kind\":");
        json_string(self.kind, out);
        if let Some(state) = &self.state {
            out.push_str(",\"state\":");
            json_string(state, out);
        }
        out.push_str(",\"figures\":[");
        for (i, f) in self.figures.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            json_string(f.name, out);
            // JSON has no NaN or infinity: a figure that is not finite shows as 0.
            let value = if f.value.is_finite() { f.value } else { 0.0 };
            let _ = write!(out, ",\"value\":{value},\"counter\":{}}}", f.counter);
        }
        out.push_str("]}");
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Anything the dashboard can sample once per second: every tollgate core, or a
/// closure returning a [`Sample`].
///
/// ```
/// use tollgate_http::dashboard::{Dashboard, Sample};
///
/// let dashboard = Dashboard::new().source("custom", || Sample::new("custom").gauge("answer", 42.0));
/// # let _ = dashboard;
/// ```
pub trait Source: Send + Sync + 'static {
    /// Reads the layer's snapshot now.
    fn sample(&self) -> Sample;
}

impl<F: Fn() -> Sample + Send + Sync + 'static> Source for F {
    fn sample(&self) -> Sample {
        self()
    }
}

#[cfg(feature = "bucket")]
mod bucket {
    use super::{Sample, Source};
    use tollgate_bucket::{KeyedRateLimiter, RateLimiter, Snapshot};
    use tollgate_core::Clock;

    fn sample(s: Snapshot) -> Sample {
        Sample::new("bucket")
            .counter("admitted", s.admitted)
            .counter("rejected", s.rejected)
            .gauge("keys", s.keys as f64)
    }

    impl<C: Clock + Send + Sync + 'static> Source for RateLimiter<C> {
        fn sample(&self) -> Sample {
            sample(self.snapshot())
        }
    }

    impl<K, C> Source for KeyedRateLimiter<K, C>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        C: Clock + Send + Sync + 'static,
    {
        fn sample(&self) -> Sample {
            sample(self.snapshot())
        }
    }
}

#[cfg(feature = "leaky")]
impl<C: tollgate_core::Clock + Send + Sync + 'static> Source for tollgate_leaky::Shaper<C> {
    fn sample(&self) -> Sample {
        let s = self.snapshot();
        Sample::new("shaper")
            .counter("admitted", s.admitted)
            .counter("rejected", s.rejected)
            .counter("cancelled", s.cancelled)
            .gauge("queued", s.queued as f64)
            .gauge("wait_seconds", s.current_wait.as_secs_f64())
    }
}

#[cfg(feature = "breaker")]
mod breaker {
    use super::{Sample, Source};
    use tollgate_breaker::{Breaker, KeyedBreakers};
    use tollgate_core::Clock;

    impl<C: Clock + Send + Sync + 'static> Source for Breaker<C> {
        fn sample(&self) -> Sample {
            let s = self.snapshot();
            Sample::new("breaker")
                .state(s.state.to_string())
                .counter("admitted", s.admitted)
                .counter("rejected", s.rejected)
                .counter("transitions", s.transitions)
                .gauge("failure_rate", s.failure_rate)
        }
    }

    impl<K, C> Source for KeyedBreakers<K, C>
    where
        K: Send + Sync + 'static,
        C: Clock + Send + Sync + 'static,
    {
        fn sample(&self) -> Sample {
            let s = self.snapshot();
            Sample::new("keyed breaker")
                .counter("admitted", s.admitted)
                .counter("rejected", s.rejected)
                .gauge("keys", s.keys as f64)
                .gauge("open", s.open as f64)
                .gauge("half_open", s.half_open as f64)
        }
    }
}

#[cfg(feature = "deadline")]
mod deadline {
    use super::{Sample, Source};
    use tollgate_deadline::{DeadlinePolicy, TimeoutPolicy};

    impl<C: Send + Sync + 'static> Source for DeadlinePolicy<C> {
        fn sample(&self) -> Sample {
            let s = self.snapshot();
            Sample::new("deadline")
                .counter("admitted", s.admitted)
                .counter("rejected", s.rejected)
                .counter("cut_off", s.cut_off)
                .counter("unbounded", s.unbounded)
        }
    }

    impl<C: Send + Sync + 'static> Source for TimeoutPolicy<C> {
        fn sample(&self) -> Sample {
            let s = self.snapshot();
            Sample::new("timeout")
                .counter("admitted", s.admitted)
                .counter("rejected", s.rejected)
                .counter("cut_off", s.cut_off)
                .counter("unbounded", s.unbounded)
        }
    }
}

#[cfg(feature = "drain")]
impl Source for tollgate_drain::Drain {
    fn sample(&self) -> Sample {
        let s = self.snapshot();
        Sample::new("drain")
            .state(s.state.as_str())
            .counter("admitted", s.admitted)
            .counter("rejected", s.rejected)
            .gauge("in_flight", s.in_flight as f64)
            .counter("finished", s.finished)
            .counter("cut", s.cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_json_with_names_escaped() {
        let mut out = String::new();
        Sample::new("bucket")
            .state("half-open")
            .counter("admitted", 3)
            .gauge("wait_seconds", f64::NAN)
            .write_json("a \"quoted\"\nname", &mut out);
        assert_eq!(
            out,
            r#"{"name":"a \"quoted\"\u000aname","kind":"bucket","state":"half-open","figures":[{"name":"admitted","value":3,"counter":true},{"name":"wait_seconds","value":0,"counter":false}]}"#
        );
    }
}
