//! Human durations in config files (`"5s"`, `"250ms"`, `"1m 30s"`), as in timeout plans.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

fn parse<E: serde::de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text).map_err(|e| {
        E::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"5s\" or \"250ms\""
        ))
    })
}

/// A required duration.
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse(&String::deserialize(d)?)
}

/// An optional duration (with `#[serde(default)]`).
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parse(&String::deserialize(d)?).map(Some)
}
