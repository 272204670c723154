//! What a keyed limiter does with a key that does not fit its table.

use tollgate_core::ConfigError;

use crate::sketch::MAX_ROWS;

/// What a keyed limiter does with a new key when its shard of the table is full and
/// every key in it is still active (none can be evicted without changing a decision).
///
/// Keys in the table are decided exactly, whatever the policy; the policies differ only
/// for the keys that find no room:
///
/// | policy | over-admission | lockout of new keys | memory |
/// |---|---|---|---|
/// | [`Sketch`](WhenFull::Sketch) (the default) | never: no key gets more than its quota | only a key that shares a cell with a heavier key in every row: rate `(1 - e^(-H/w))^d` for `H` heavy keys | the table, plus `bytes` fixed at build |
/// | [`Reject`](WhenFull::Reject) | never | every new key, until a tracked key expires (up to a whole `period` of the quota) | the table |
/// | [`SharedOverflowBucket`](WhenFull::SharedOverflowBucket) | never beyond the default quota (a key with its own quota gets the default one there); but all new keys share that one quota, which an attacker's keys spend | none, but new keys get one quota between them | the table, plus 8 bytes |
///
/// # The sketch, and its false-refusal rate
///
/// The sketch is `d` rows of `w` cells, each a theoretical arrival time (TAT). A key
/// maps to one cell per row (through the limiter's randomly seeded hash, so an attacker
/// cannot aim at a victim's cells); its estimate is the minimum of its cells, and an
/// admission raises each of them to at least the key's new TAT. A cell therefore holds
/// at least the TAT of every key that maps to it: the estimate is never below the
/// key's true TAT, and a later TAT only makes GCRA stricter, so **no key is ever
/// admitted more than its quota** (the bound of the table: at most `burst + T /
/// interval` cells in any window of length `T`). A refusal raises nothing.
///
/// A cell holds the *largest* TAT of its keys, not their sum, so many light keys in
/// one cell cost nothing: a key is refused falsely only when each of its `d` cells also
/// holds a **heavy** key, one whose TAT is further ahead than this key can absorb
/// (for a key at rest, a TAT more than `(burst - n) x interval` ahead of now: a key that
/// spent its burst in the last `interval`). With `H` heavy keys placed by a random hash,
/// a given cell holds none of them with probability `(1 - 1/w)^H`, independently per
/// row, so a light key is refused with probability
///
/// ```text
/// p = (1 - (1 - 1/w)^H)^d  ~  (1 - e^(-H/w))^d
/// ```
///
/// For `d = 4`: `H = w/4` gives 0.24%, `H = w/2` 2.4%, `H = w` 16%. Heavy keys stay
/// heavy only while they keep spending: a cell's TAT is absolute, so it stops counting
/// at most `burst x interval` after its last admission, with no sweep. An attacker who
/// wants to keep `H` keys heavy must send about `H x burst` requests per `burst x
/// interval`; size `w` above the `H` you expect. `tests/sketch.rs` checks the rate.
///
/// When a key later gets room in the table, its bucket starts from its sketch
/// estimate; with [`SharedOverflowBucket`](WhenFull::SharedOverflowBucket), from the
/// shared bucket's TAT. Either way the key may just have been admitted there, and the
/// switch happens under the shard's lock, so it never resets a key.
///
/// ```
/// use tollgate_bucket::{KeyedRateLimiter, Quota, WhenFull};
/// use tollgate_core::{ManualClock, Reason};
///
/// let per_hour = Quota::per_hour(1).build()?;
/// let locking = KeyedRateLimiter::builder(per_hour)
///     .max_keys(1)
///     .when_full(WhenFull::Reject)
///     .clock(ManualClock::new())
///     .build()?;
/// assert!(locking.check_key(&"attacker").is_ok());
/// let refused = locking.check_key(&"alice").unwrap_err();
/// assert_eq!(refused.reason(), Reason::KeyTableFull); // for up to an hour
///
/// let sketching = KeyedRateLimiter::builder(per_hour)
///     .max_keys(1)
///     .when_full(WhenFull::sketch(64 * 1024))
///     .clock(ManualClock::new())
///     .build()?;
/// assert!(sketching.check_key(&"attacker").is_ok());
/// assert!(sketching.check_key(&"alice").is_ok()); // decided in the sketch
/// assert!(sketching.check_key(&"alice").is_err()); // and held to her quota there
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenFull {
    /// Refuse the new key with [`Reason::KeyTableFull`](tollgate_core::Reason::KeyTableFull)
    /// and a retry-after: the earliest time a tracked key may become evictable.
    Reject,
    /// Charge the new key against one overflow bucket shared by every key that found
    /// no room, with the default quota.
    SharedOverflowBucket,
    /// Decide the new key against a sketch of TATs of `bytes` bytes in `rows` rows (see
    /// the type docs): `bytes / 8 / rows` cells per row, rounded down to a power of
    /// two. Each key keeps its own quota there. The default, with 4 rows each four times
    /// as wide as `max_keys` rounded up to a power of two (128 bytes per key): a flood of
    /// twice `max_keys` heavy keys then falsely refuses about (1 - e^(-1/2))^4 = 2.4% of
    /// the other new keys (`tests/key_flood.rs` measures 99% of legitimate admissions
    /// kept under a million-key flood).
    Sketch {
        /// The sketch's size; at least 8 bytes per row.
        bytes: usize,
        /// Rows, 1 to 16; each lowers the false-refusal rate at a given width.
        rows: u32,
    },
}

/// The rows of [`WhenFull::sketch`] and of the default.
pub(crate) const DEFAULT_ROWS: u32 = 4;

/// Cells per row of the default sketch, per key of `max_keys`.
const DEFAULT_WIDTH_PER_KEY: usize = 4;

impl WhenFull {
    /// A sketch of `bytes` bytes in 4 rows.
    pub const fn sketch(bytes: usize) -> Self {
        WhenFull::Sketch {
            bytes,
            rows: DEFAULT_ROWS,
        }
    }

    /// The default policy for a table of `max_keys` keys: rows of four cells per key.
    pub(crate) fn default_for(max_keys: usize) -> Self {
        let width = max_keys
            .checked_next_power_of_two()
            .unwrap_or(1 << 40)
            .saturating_mul(DEFAULT_WIDTH_PER_KEY);
        WhenFull::sketch(width.saturating_mul(8 * DEFAULT_ROWS as usize))
    }

    /// The sketch's rows and cells per row, validated.
    pub(crate) fn sketch_shape(bytes: usize, rows: u32) -> Result<(usize, usize), ConfigError> {
        if !(1..=MAX_ROWS as u32).contains(&rows) {
            return Err(ConfigError::new(
                "when_full.rows",
                format!("must be between 1 and 16, got {rows}"),
            ));
        }
        let rows = rows as usize;
        let per_row = bytes / 8 / rows;
        if per_row == 0 {
            return Err(ConfigError::new(
                "when_full.bytes",
                format!(
                    "must be at least 8 per row ({} for {rows} rows), got {bytes}",
                    8 * rows
                ),
            ));
        }
        // The largest power of two not above `per_row`.
        Ok((rows, 1 << (usize::BITS - 1 - per_row.leading_zeros())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sketch_has_four_rows_of_four_cells_per_key_rounded_up() {
        let bytes = |max_keys: usize| match WhenFull::default_for(max_keys) {
            WhenFull::Sketch { bytes, rows } => {
                assert_eq!(rows, DEFAULT_ROWS);
                bytes
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(bytes(1_000), 1_024 * 4 * 8 * 4);
        assert_eq!(bytes(1_024), 1_024 * 4 * 8 * 4);
        // Past the largest power of two: 2^40 keys' worth, saturating.
        assert_eq!(bytes(usize::MAX), (1usize << 40) * 4 * 8 * 4);
    }
}
