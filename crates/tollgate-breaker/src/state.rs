//! The state word: state, half-open probe counters and generation in one `u64`, so
//! that every transition and every probe permit is a single compare-exchange.
//!
//! ```text
//! bits  0..3   state (closed, open, half-open, forced-open, disabled)
//! bits  3..19  probes in flight (half-open only)
//! bits 19..35  successful probes (half-open only)
//! bits 35..64  generation, +1 on every transition (wraps after 2^29)
//! ```
//!
//! A permit remembers the generation it was admitted in; an outcome whose generation
//! is no longer current is ignored. The generation wraps, so a call would have to stay
//! in flight across 2^29 transitions to be mistaken for a current one.

use std::fmt;

/// The state of a breaker.
///
/// ```
/// use tollgate_breaker::State;
///
/// assert!(State::Closed.admits());
/// assert!(State::Disabled.admits());
/// assert!(!State::ForcedOpen.admits());
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and their outcomes are recorded.
    Closed,
    /// Calls are rejected until the open wait has passed.
    Open,
    /// A few probe calls pass; enough successes close the breaker, a failure re-opens it.
    HalfOpen,
    /// Held open by an operator: every call is rejected until [`reset`](crate::Breaker::reset).
    ForcedOpen,
    /// Switched off by an operator: every call passes and is recorded, and the breaker
    /// never opens until [`reset`](crate::Breaker::reset).
    Disabled,
}

impl State {
    /// Whether every call passes in this state (closed or disabled).
    pub fn admits(self) -> bool {
        matches!(self, State::Closed | State::Disabled)
    }

    fn from_code(code: u64) -> State {
        match code {
            CLOSED => State::Closed,
            OPEN => State::Open,
            HALF_OPEN => State::HalfOpen,
            FORCED_OPEN => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        })
    }
}

pub(crate) const CLOSED: u64 = 0;
pub(crate) const OPEN: u64 = 1;
pub(crate) const HALF_OPEN: u64 = 2;
pub(crate) const FORCED_OPEN: u64 = 3;
pub(crate) const DISABLED: u64 = 4;

const STATE_MASK: u64 = 0b111;
const IN_FLIGHT_SHIFT: u32 = 3;
const SUCCESS_SHIFT: u32 = 19;
const GEN_SHIFT: u32 = 35;
const FIELD_MASK: u64 = 0xffff;
const GEN_MASK: u64 = (1 << 29) - 1;

/// A decoded state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) const fn new(state: u64, generation: u32) -> Word {
        Word(state | (((generation as u64) & GEN_MASK) << GEN_SHIFT))
    }

    #[inline]
    pub(crate) const fn state_code(self) -> u64 {
        self.0 & STATE_MASK
    }

    #[inline]
    pub(crate) fn state(self) -> State {
        State::from_code(self.state_code())
    }

    /// Closed or disabled: every call passes.
    #[inline]
    pub(crate) const fn admits_all(self) -> bool {
        let s = self.state_code();
        s == CLOSED || s == DISABLED
    }

    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }

    pub(crate) const fn in_flight(self) -> u32 {
        ((self.0 >> IN_FLIGHT_SHIFT) & FIELD_MASK) as u32
    }

    pub(crate) const fn successes(self) -> u32 {
        ((self.0 >> SUCCESS_SHIFT) & FIELD_MASK) as u32
    }

    /// The word of the next generation in `state`, with no probes.
    pub(crate) const fn next(self, state: u64) -> Word {
        Word::new(state, self.generation().wrapping_add(1))
    }

    /// The same word with its probe counters replaced (both fit in 16 bits: the config
    /// caps them at 65535 and a caller never goes above its cap).
    pub(crate) const fn with_probes(self, in_flight: u32, successes: u32) -> Word {
        let cleared = self.0 & !((FIELD_MASK << IN_FLIGHT_SHIFT) | (FIELD_MASK << SUCCESS_SHIFT));
        Word(
            cleared
                | (((in_flight as u64) & FIELD_MASK) << IN_FLIGHT_SHIFT)
                | (((successes as u64) & FIELD_MASK) << SUCCESS_SHIFT),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = Word::new(HALF_OPEN, 7).with_probes(65535, 65535);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.generation(), 7);
        assert_eq!((w.in_flight(), w.successes()), (65535, 65535));
        let n = w.next(OPEN);
        assert_eq!(
            (n.state(), n.generation(), n.in_flight(), n.successes()),
            (State::Open, 8, 0, 0)
        );
        let top = Word::new(CLOSED, (1 << 29) - 1);
        assert_eq!(top.next(CLOSED).generation(), 0, "the generation wraps");
    }
}
