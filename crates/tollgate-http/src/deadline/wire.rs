//! Deadlines on the wire: the gRPC `grpc-timeout` format and plain HTTP timeout headers,
//! as pure functions on bytes. Nothing here panics, whatever the input.
//!
//! `grpc-timeout` is `TimeoutValue TimeoutUnit`: one to eight ASCII digits, then one of
//! `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds),
//! `n` (nanoseconds). Nothing else is accepted: no sign, no spaces, no ninth digit.
//! A zero value is accepted (gRPC implementations send it for spent budgets) and reads
//! as a spent budget.
//!
//! ```
//! use std::time::Duration;
//! use tollgate_http::deadline::{format_grpc_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit};
//!
//! assert_eq!(parse_grpc_timeout(b"250m"), Ok(Duration::from_millis(250)));
//! assert!(parse_grpc_timeout(b"123456789S").is_err()); // nine digits
//! assert_eq!(format_grpc_timeout(Duration::from_millis(1500)).unwrap().as_str(), "1500000u");
//! assert_eq!(parse_http_timeout(b"750", HeaderUnit::Millis), Ok(Duration::from_millis(750)));
//! ```

use std::fmt;
use std::time::Duration;

/// Why a timeout header value was refused.
///
/// ```
/// use tollgate_http::deadline::{parse_grpc_timeout, WireError};
/// assert_eq!(parse_grpc_timeout(b"5x"), Err(WireError::InvalidUnit));
/// assert_eq!(WireError::InvalidUnit.to_string(), "timeout has an unknown unit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The value is empty, or has a unit and no digits.
    Empty,
    /// More digits than the format allows (eight for `grpc-timeout`).
    TooManyDigits,
    /// A byte that is not an ASCII digit where a digit belongs.
    InvalidDigit,
    /// The `grpc-timeout` unit is missing or not one of `H M S m u n`.
    InvalidUnit,
    /// The duration does not fit: too large to represent or, when formatting, too large
    /// for eight digits of hours.
    Overflow,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Empty => "timeout is empty",
            WireError::TooManyDigits => "timeout has too many digits",
            WireError::InvalidDigit => "timeout has a byte that is not a digit",
            WireError::InvalidUnit => "timeout has an unknown unit",
            WireError::Overflow => "timeout overflows",
        })
    }
}

impl std::error::Error for WireError {}

const MAX_GRPC_DIGITS: usize = 8;
const MAX_GRPC_VALUE: u64 = 99_999_999;

/// Parses a `grpc-timeout` value. See the module docs for the grammar.
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::parse_grpc_timeout;
///
/// assert_eq!(parse_grpc_timeout(b"2H"), Ok(Duration::from_secs(7200)));
/// assert_eq!(parse_grpc_timeout(b"99999999n"), Ok(Duration::from_nanos(99_999_999)));
/// assert!(parse_grpc_timeout(b"-1S").is_err());
/// ```
#[inline]
pub fn parse_grpc_timeout(value: &[u8]) -> Result<Duration, WireError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(WireError::Empty);
    };
    if digits.is_empty() {
        return Err(if unit.is_ascii_digit() {
            WireError::InvalidUnit
        } else {
            WireError::Empty
        });
    }
    if digits.len() > MAX_GRPC_DIGITS {
        return Err(WireError::TooManyDigits);
    }
    let mut n: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(WireError::InvalidDigit);
        }
        // Eight digits fit a u64 many times over: no overflow check needed here.
        n = n * 10 + u64::from(d);
    }
    // 99_999_999 hours is about 3.6e11 s, far inside Duration's range.
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(WireError::InvalidUnit),
    })
}

/// A formatted timeout value, kept on the stack: at most 20 ASCII bytes.
///
/// ```
/// use std::time::Duration;
/// let text = tollgate_http::deadline::format_grpc_timeout(Duration::from_secs(3)).unwrap();
/// assert_eq!(text.as_str(), "3000000u");
/// assert_eq!(text.as_bytes(), b"3000000u");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeoutText {
    buf: [u8; 21],
    len: u8,
}

impl TimeoutText {
    fn new(value: u64, unit: Option<u8>) -> Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let mut buf = [0u8; 21];
        let n = digits.len() - i;
        buf[..n].copy_from_slice(&digits[i..]);
        let mut len = n;
        if let Some(u) = unit {
            buf[len] = u;
            len += 1;
        }
        Self {
            buf,
            len: len as u8,
        }
    }

    /// The bytes, ready for a header value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and unit letters are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for TimeoutText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TimeoutText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Formats `budget` as a `grpc-timeout` value in the finest unit whose value fits in
/// eight digits, truncating (a budget is never advertised larger than it is).
/// Budgets above 99,999,999 hours are [`WireError::Overflow`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::format_grpc_timeout;
///
/// assert_eq!(format_grpc_timeout(Duration::from_nanos(250)).unwrap().as_str(), "250n");
/// assert_eq!(format_grpc_timeout(Duration::from_millis(250)).unwrap().as_str(), "250000u");
/// assert_eq!(format_grpc_timeout(Duration::from_secs(86_400)).unwrap().as_str(), "86400000m");
/// ```
#[inline]
pub fn format_grpc_timeout(budget: Duration) -> Result<TimeoutText, WireError> {
    const UNITS: [(u64, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    // u64 division is several times cheaper than u128. Beyond u64 nanoseconds
    // (584 years) only minutes or hours can fit in eight digits.
    let Ok(nanos) = u64::try_from(budget.as_nanos()) else {
        let secs = budget.as_secs();
        return [(60, b'M'), (3600, b'H')]
            .into_iter()
            .find(|(per, _)| secs / per <= MAX_GRPC_VALUE)
            .map(|(per, unit)| TimeoutText::new(secs / per, Some(unit)))
            .ok_or(WireError::Overflow);
    };
    for (per, unit) in UNITS {
        let value = nanos / per;
        if value <= MAX_GRPC_VALUE {
            return Ok(TimeoutText::new(value, Some(unit)));
        }
    }
    Err(WireError::Overflow)
}

/// The unit of a plain HTTP timeout header (such as `Request-Timeout`).
///
/// ```
/// use tollgate_http::deadline::HeaderUnit;
/// assert_eq!(HeaderUnit::default(), HeaderUnit::Millis);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HeaderUnit {
    /// Whole milliseconds.
    #[default]
    Millis,
    /// Whole seconds.
    Seconds,
}

/// The most digits a plain header value may have: a u64 has at most 20.
const MAX_HTTP_DIGITS: usize = 20;

/// Parses a plain HTTP timeout header: ASCII digits in `unit`, optionally surrounded
/// by spaces or tabs. A value too large for a `Duration` is [`WireError::Overflow`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::{parse_http_timeout, HeaderUnit, WireError};
///
/// assert_eq!(parse_http_timeout(b" 30 ", HeaderUnit::Seconds), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_http_timeout(b"1.5", HeaderUnit::Seconds), Err(WireError::InvalidDigit));
/// assert_eq!(parse_http_timeout(b"99999999999999999999", HeaderUnit::Millis), Err(WireError::Overflow));
/// ```
#[inline]
pub fn parse_http_timeout(value: &[u8], unit: HeaderUnit) -> Result<Duration, WireError> {
    let value = trim_ows(value);
    if value.is_empty() {
        return Err(WireError::Empty);
    }
    if value.len() > MAX_HTTP_DIGITS {
        // Leading zeros aside, this cannot fit; check the digits first so that the
        // error names the real problem.
        if value.iter().any(|b| !b.is_ascii_digit()) {
            return Err(WireError::InvalidDigit);
        }
        let significant = value.iter().skip_while(|&&b| b == b'0').count();
        if significant > MAX_HTTP_DIGITS {
            return Err(WireError::Overflow);
        }
    }
    let mut n: u64 = 0;
    for &b in value {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(WireError::InvalidDigit);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(WireError::Overflow)?;
    }
    Ok(match unit {
        HeaderUnit::Millis => Duration::from_millis(n),
        HeaderUnit::Seconds => Duration::from_secs(n),
    })
}

/// Strips optional whitespace (spaces and tabs, RFC 9110 OWS) from both ends.
fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Formats `budget` for a plain HTTP timeout header in `unit`, truncating.
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::deadline::{format_http_timeout, HeaderUnit};
///
/// assert_eq!(format_http_timeout(Duration::from_millis(1999), HeaderUnit::Millis).as_str(), "1999");
/// assert_eq!(format_http_timeout(Duration::from_millis(1999), HeaderUnit::Seconds).as_str(), "1");
/// ```
#[inline]
pub fn format_http_timeout(budget: Duration, unit: HeaderUnit) -> TimeoutText {
    let value = match unit {
        HeaderUnit::Millis => u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        HeaderUnit::Seconds => budget.as_secs(),
    };
    TimeoutText::new(value, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches the `Debug` of `TimeoutText` replaced by `Ok(())` and the `Display` of
    // `WireError` replaced likewise: what a log line or an error message shows.
    #[test]
    fn a_timeout_text_debugs_as_its_text_and_errors_say_what_is_wrong() {
        let text = format_grpc_timeout(Duration::from_millis(1500)).unwrap();
        assert_eq!(format!("{text:?}"), "\"1500000u\"");
        assert_eq!(WireError::Overflow.to_string(), "timeout overflows");
        assert_eq!(WireError::Empty.to_string(), "timeout is empty");
    }

    // Catches `value.len() > MAX_HTTP_DIGITS` -> `==` / `<` and the deleted `!` (the
    // pre-check skipped or inverted): a value of 21+ characters whose digits overflow
    // before its invalid byte is refused for the invalid byte, not as an overflow; and
    // `significant > MAX_HTTP_DIGITS` -> `>=` / `==`: 20 significant digits behind
    // leading zeros still fit.
    #[test]
    fn a_long_value_with_a_bad_byte_after_an_overflow_is_an_invalid_digit() {
        assert_eq!(
            parse_http_timeout(b"99999999999999999999x", HeaderUnit::Millis),
            Err(WireError::InvalidDigit)
        );
        assert_eq!(
            parse_http_timeout(b"184467440737095516150000.5", HeaderUnit::Seconds),
            Err(WireError::InvalidDigit)
        );
        assert_eq!(
            parse_http_timeout(b"0018446744073709551615", HeaderUnit::Seconds),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_http_timeout(b"000000000000000000000", HeaderUnit::Seconds),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn grpc_units_and_errors() {
        assert_eq!(parse_grpc_timeout(b"1M"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout(b"7u"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout(b"0S"), Ok(Duration::ZERO));
        assert_eq!(parse_grpc_timeout(b""), Err(WireError::Empty));
        assert_eq!(parse_grpc_timeout(b"S"), Err(WireError::Empty));
        assert_eq!(parse_grpc_timeout(b"5"), Err(WireError::InvalidUnit));
        assert_eq!(parse_grpc_timeout(b"55"), Err(WireError::InvalidUnit));
        assert_eq!(parse_grpc_timeout(b" 5S"), Err(WireError::InvalidDigit));
        assert_eq!(parse_grpc_timeout(b"5s"), Err(WireError::InvalidUnit));
        assert_eq!(
            parse_grpc_timeout(b"123456789m"),
            Err(WireError::TooManyDigits)
        );
        assert_eq!(
            parse_grpc_timeout(b"99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3600))
        );
    }

    #[test]
    fn grpc_format_picks_the_finest_unit_and_overflows() {
        let f = |d| format_grpc_timeout(d).map(|t| t.to_string());
        assert_eq!(f(Duration::ZERO).unwrap(), "0n");
        assert_eq!(f(Duration::from_nanos(99_999_999)).unwrap(), "99999999n");
        assert_eq!(f(Duration::from_nanos(100_000_001)).unwrap(), "100000u");
        assert_eq!(
            f(Duration::from_secs(99_999_999 * 3600)).unwrap(),
            "99999999H"
        );
        assert_eq!(
            f(Duration::from_secs(100_000_000 * 3600)),
            Err(WireError::Overflow)
        );
        assert_eq!(f(Duration::MAX), Err(WireError::Overflow));
    }

    #[test]
    fn http_header_values() {
        assert_eq!(
            parse_http_timeout(b"", HeaderUnit::Millis),
            Err(WireError::Empty)
        );
        assert_eq!(
            parse_http_timeout(b"  ", HeaderUnit::Millis),
            Err(WireError::Empty)
        );
        assert_eq!(
            parse_http_timeout(b"-1", HeaderUnit::Millis),
            Err(WireError::InvalidDigit)
        );
        assert_eq!(
            parse_http_timeout(b"000000000000000000000000042", HeaderUnit::Millis),
            Ok(Duration::from_millis(42))
        );
        assert_eq!(
            parse_http_timeout(b"18446744073709551615", HeaderUnit::Seconds),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_http_timeout(b"18446744073709551616", HeaderUnit::Seconds),
            Err(WireError::Overflow)
        );
        assert_eq!(
            format_http_timeout(Duration::MAX, HeaderUnit::Millis).as_str(),
            "18446744073709551615"
        );
    }
}
