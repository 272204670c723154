//! Property tests of the wire formats: the parsers never panic, accept exactly what the
//! grammar accepts, round-trip every valid value, and report overflow as an error.

#![cfg(feature = "deadline")]

use std::time::Duration;

use proptest::prelude::*;
use tollgate_http::deadline::{
    format_grpc_timeout, format_http_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit,
    WireError,
};

const UNITS: [(u8, u128); 6] = [
    (b'H', 3_600_000_000_000),
    (b'M', 60_000_000_000),
    (b'S', 1_000_000_000),
    (b'm', 1_000_000),
    (b'u', 1_000),
    (b'n', 1),
];

/// The grammar, written independently of the parser: 1-8 ASCII digits, then one unit.
fn grpc_oracle(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let per = UNITS.iter().find(|(u, _)| u == unit)?.1;
    let n: u128 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(nanos(n * per))
}

fn nanos(n: u128) -> Duration {
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

/// Bytes that are often close to valid: digits, unit letters, and a few others.
fn near_grpc() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => b'0'..=b'9',
            3 => prop::sample::select(b"HMSmun".to_vec()),
            1 => prop::sample::select(b" -+.xsh\t".to_vec()),
        ],
        0..12,
    )
}

fn http_oracle(value: &[u8], unit: HeaderUnit) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = text
        .trim_start_matches('0')
        .parse()
        .or_else(|e| {
            if text.bytes().all(|b| b == b'0') {
                Ok(0)
            } else {
                Err(e)
            }
        })
        .ok()?;
    Some(match unit {
        HeaderUnit::Millis => Duration::from_millis(n),
        HeaderUnit::Seconds => Duration::from_secs(n),
    })
}

/// Any short string: arbitrary chars (`any::<String>()` is regex-driven and slow).
fn any_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter)
}

proptest! {
    // 100k random byte sequences and 100k random strings per parser, in debug builds
    // well under ten seconds.
    #![proptest_config(ProptestConfig { cases: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn grpc_parser_never_panics_on_any_input(
        bytes in prop::collection::vec(any::<u8>(), 0..16),
        s in any_string(),
    ) {
        prop_assert_eq!(parse_grpc_timeout(&bytes).ok(), grpc_oracle(&bytes));
        prop_assert_eq!(parse_grpc_timeout(s.as_bytes()).ok(), grpc_oracle(s.as_bytes()));
    }

    #[test]
    fn http_parser_never_panics_on_any_input(
        bytes in prop::collection::vec(any::<u8>(), 0..24),
        s in any_string(),
    ) {
        for unit in [HeaderUnit::Millis, HeaderUnit::Seconds] {
            prop_assert_eq!(parse_http_timeout(&bytes, unit).ok(), http_oracle(&bytes, unit));
            prop_assert_eq!(parse_http_timeout(s.as_bytes(), unit).ok(), http_oracle(s.as_bytes(), unit));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn grpc_parser_accepts_exactly_the_grammar(bytes in near_grpc()) {
        prop_assert_eq!(parse_grpc_timeout(&bytes).ok(), grpc_oracle(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn every_valid_grpc_value_round_trips(value in 0u64..=99_999_999, unit in 0usize..6) {
        let (u, per) = UNITS[unit];
        let text = format!("{value}{}", u as char);
        let parsed = parse_grpc_timeout(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed, nanos(u128::from(value) * per));
        // Finer units divide coarser ones, so the finest fitting unit is exact.
        let formatted = format_grpc_timeout(parsed).unwrap();
        prop_assert!(formatted.as_bytes().len() <= 9);
        prop_assert_eq!(parse_grpc_timeout(formatted.as_bytes()), Ok(parsed));
    }

    #[test]
    fn grpc_format_truncates_by_less_than_its_unit(secs in 0u64..=359_999_996_400, sub in 0u32..1_000_000_000) {
        let budget = Duration::new(secs, sub);
        let text = format_grpc_timeout(budget).unwrap();
        let back = parse_grpc_timeout(text.as_bytes()).unwrap();
        let per = UNITS.iter().find(|(u, _)| *u == *text.as_bytes().last().unwrap()).unwrap().1;
        prop_assert!(back <= budget);
        prop_assert!((budget - back).as_nanos() < per);
    }

    #[test]
    fn grpc_format_overflow_is_an_error(secs in 360_000_000_000u64..=u64::MAX) {
        prop_assert_eq!(format_grpc_timeout(Duration::from_secs(secs)), Err(WireError::Overflow));
    }

    #[test]
    fn grpc_parser_rejects_nine_digits_or_more(value in 100_000_000u64..=u64::MAX, unit in 0usize..6) {
        let text = format!("{value}{}", UNITS[unit].0 as char);
        prop_assert_eq!(parse_grpc_timeout(text.as_bytes()), Err(WireError::TooManyDigits));
    }

    #[test]
    fn http_parser_accepts_exactly_the_grammar(s in "[ \t]{0,2}[0-9]{0,24}[ \t.x-]{0,2}[0-9]{0,2}") {
        for unit in [HeaderUnit::Millis, HeaderUnit::Seconds] {
            prop_assert_eq!(parse_http_timeout(s.as_bytes(), unit).ok(), http_oracle(s.as_bytes(), unit), "{:?}", s);
        }
    }

    #[test]
    fn every_http_value_round_trips(value in any::<u64>()) {
        let text = value.to_string();
        prop_assert_eq!(parse_http_timeout(text.as_bytes(), HeaderUnit::Millis), Ok(Duration::from_millis(value)));
        let ms = format_http_timeout(Duration::from_millis(value), HeaderUnit::Millis);
        let secs = format_http_timeout(Duration::from_secs(value), HeaderUnit::Seconds);
        prop_assert_eq!(ms.as_str(), text.as_str());
        prop_assert_eq!(secs.as_str(), text.as_str());
    }

    #[test]
    fn http_values_beyond_u64_overflow(extra in 1u128..=u128::from(u64::MAX)) {
        let text = (u128::from(u64::MAX) + extra).to_string();
        prop_assert_eq!(parse_http_timeout(text.as_bytes(), HeaderUnit::Seconds), Err(WireError::Overflow));
    }
}
