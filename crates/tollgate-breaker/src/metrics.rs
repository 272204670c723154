//! The breaker's figures on the `metrics` facade (feature `metrics`), recorded where the
//! [`Snapshot`](crate::Snapshot)'s counters change, labelled by the breaker's name: the
//! calls it admitted and refused, the circuits in each state, and each transition.
//!
//! The breakers of a [`KeyedBreakers`](crate::KeyedBreakers) table share the table's
//! handles: they record under the table's name, a key is never a label, and
//! `tollgate_circuit_state` counts the table's circuits in each state (one breaker: 1
//! for its state, 0 for every other).

use tollgate_core::Reason;

use crate::State;

/// The circuits of a layer in each state (gauge, labelled `state`).
#[cfg(feature = "metrics")]
pub(crate) const CIRCUIT_STATE: &str = "tollgate_circuit_state";
/// Transitions between states (counter, labelled `from` and `to`).
#[cfg(feature = "metrics")]
pub(crate) const CIRCUIT_TRANSITIONS: &str = "tollgate_circuit_transitions_total";

/// Every state, in the order of the gauges.
#[cfg(feature = "metrics")]
const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::Disabled,
];

/// The `state`, `from` and `to` label value of `state`.
#[cfg(feature = "metrics")]
fn label(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
    }
}

/// The handles of one breaker (or table), registered when it is built; zero-sized
/// without the feature. Transition counters are registered at the transition: they
/// are rare, and most pairs never happen.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    layer: std::sync::Arc<str>,
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
    #[cfg(feature = "metrics")]
    states: [metrics::Gauge; STATES.len()],
}

impl Metrics {
    pub(crate) fn new(_name: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            use metrics::Unit;
            use tollgate_core::metrics::{Admissions, LAYER};
            metrics::describe_gauge!(
                CIRCUIT_STATE,
                Unit::Count,
                "Circuits of a breaker layer in each state (0 or 1 for one breaker)"
            );
            metrics::describe_counter!(
                CIRCUIT_TRANSITIONS,
                Unit::Count,
                "Circuit breaker transitions, by from and to state"
            );
            let layer: std::sync::Arc<str> = _name.into();
            Self {
                admissions: Admissions::new(&layer),
                states: STATES.map(|s| {
                    metrics::gauge!(CIRCUIT_STATE, LAYER => layer.to_string(), "state" => label(s))
                }),
                layer,
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    #[inline]
    pub(crate) fn admitted(&self) {
        #[cfg(feature = "metrics")]
        self.admissions.admitted(1);
    }

    #[inline]
    pub(crate) fn rejected(&self, _reason: Reason) {
        #[cfg(feature = "metrics")]
        self.admissions.rejected(_reason);
    }

    /// A circuit came into being, closed.
    pub(crate) fn created(&self) {
        #[cfg(feature = "metrics")]
        self.states[0].increment(1.0);
    }

    /// A circuit in `_state` left the table.
    pub(crate) fn retired(&self, _state: State) {
        #[cfg(feature = "metrics")]
        self.states[index(_state)].decrement(1.0);
    }

    /// A circuit moved from `_from` to `_to`.
    pub(crate) fn transition(&self, _from: State, _to: State) {
        #[cfg(feature = "metrics")]
        {
            if _from != _to {
                self.states[index(_from)].decrement(1.0);
                self.states[index(_to)].increment(1.0);
            }
            metrics::counter!(
                CIRCUIT_TRANSITIONS,
                tollgate_core::metrics::LAYER => self.layer.to_string(),
                "from" => label(_from),
                "to" => label(_to)
            )
            .increment(1);
        }
    }
}

#[cfg(feature = "metrics")]
fn index(state: State) -> usize {
    STATES.iter().position(|s| *s == state).unwrap_or(0)
}
