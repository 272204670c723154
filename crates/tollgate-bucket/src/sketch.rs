//! A fixed-size sketch of theoretical arrival times, for keys that do not fit the table.
//!
//! `rows` rows of `width` cells, each cell a TAT (`AtomicU64`, nanoseconds). A key maps
//! to one cell per row; its estimate is the minimum over its cells, and an admission
//! raises each of them to at least the new TAT. A cell is shared by every key mapped to
//! it, so it holds at least the TAT of each: the estimate is never below the key's true
//! TAT, and [`gcra::decide`] on a later TAT is stricter, so no key is admitted more than
//! its quota. A key is refused falsely only when, in every row, it shares its cell with
//! a key whose TAT is higher than its own (see [`WhenFull`](crate::WhenFull) for the
//! rate).
//!
//! # The atomic protocol
//!
//! Raising `rows` cells is not one atomic step, so two admissions of one key could both
//! read the old cells and both pass (`tests/loom.rs` shows it on the naive version,
//! which only `fetch_max`es). Row 0 serialises them: an admission first raises rows
//! 1.. with `fetch_max`, then compare-exchanges its row-0 cell from the value it read to
//! a strictly larger one (the new TAT, or the old value + 1 ns when that is higher).
//! The compare-exchange orders every two admissions of a key (they share that cell);
//! the one ordered second read, with acquire, a row-0 value at or after the first's
//! release, so it then reads rows 1.. after the first raised them. Strictly increasing
//! row-0 values rule out an ABA success on a stale read. A failed compare-exchange
//! leaves its rows 1.. raised: a higher estimate, never a lower one.

use tollgate_core::sync::{spin_loop, AtomicU64, Ordering};
use tollgate_core::{Quota, SplitMix64};

use crate::gcra;

/// The cells, row after row.
pub(crate) struct Sketch {
    cells: Box<[AtomicU64]>,
    rows: usize,
    /// `64 - log2(width)`: a row's index is the top bits of its mixed hash.
    shift: u32,
    /// One random odd multiplier per row (multiply-shift hashing).
    multipliers: [u64; MAX_ROWS],
}

/// The most rows a sketch has (`WhenFull::Sketch` validates `rows` against it).
pub(crate) const MAX_ROWS: usize = 16;

impl Sketch {
    /// `rows` rows of `width` cells (`width` a power of two, `rows >= 1`).
    pub(crate) fn new(rows: usize, width: usize) -> Self {
        debug_assert!(width.is_power_of_two() && (1..=MAX_ROWS).contains(&rows));
        let mut random = SplitMix64::random();
        Self {
            cells: (0..rows * width).map(|_| AtomicU64::new(0)).collect(),
            rows,
            shift: 64 - width.trailing_zeros(),
            multipliers: std::array::from_fn(|_| random.next_u64() | 1),
        }
    }

    /// Heap bytes of the cells.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.cells)
    }

    /// The cell of `hash` in `row`, by multiply-shift: the top bits of the hash times
    /// the row's random odd multiplier. Two keys share a row's cell with probability
    /// at most 2 / width, independently in each row (the multipliers are independent),
    /// which is what the false-refusal formula assumes.
    #[inline]
    fn cell(&self, hash: u64, row: usize) -> &AtomicU64 {
        let x = hash.wrapping_mul(self.multipliers[row]);
        // A shift of 64 (width 1) would overflow: `checked_shr` makes it index 0.
        let column = x.checked_shr(self.shift).unwrap_or(0) as usize;
        &self.cells[row * (self.cells.len() / self.rows) + column]
    }

    /// The key's TAT estimate: at least its true TAT.
    #[inline]
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        // Acquire: pairs with the release of the row-0 compare-exchange, so that a
        // caller ordered after an admission (for instance through the shard's lock)
        // reads the rows that admission raised.
        let first = self.cell(hash, 0).load(Ordering::Acquire);
        (1..self.rows).fold(first, |low, row| {
            // Relaxed: ordered after the acquire load above.
            low.min(self.cell(hash, row).load(Ordering::Relaxed))
        })
    }

    /// Admits `n` cells of `quota` for the key of `hash` at `now`: `Ok((estimate, next))`
    /// when admitted, or `Err(nanos)` to wait, as [`gcra::acquire`].
    #[inline]
    pub(crate) fn acquire(
        &self,
        hash: u64,
        quota: &Quota,
        n: u32,
        now: u64,
        slack: u64,
    ) -> Result<(u64, u64), u64> {
        let serial = self.cell(hash, 0);
        // Acquire: see `estimate`; here it orders the reads of rows 1.. after the
        // admission whose row-0 value this is.
        let mut first = serial.load(Ordering::Acquire);
        loop {
            let estimate = (1..self.rows).fold(first, |low, row| {
                // Relaxed: ordered after the acquire load of row 0.
                low.min(self.cell(hash, row).load(Ordering::Relaxed))
            });
            let next = gcra::decide(estimate, quota, n, now, slack)?;
            for row in 1..self.rows {
                // Release: published by the row-0 compare-exchange below, which is
                // sequenced after it.
                self.cell(hash, row).fetch_max(next, Ordering::Release);
            }
            // Strictly above `first`, so a compare-exchange that read a stale row 0
            // can never succeed (no ABA); saturating at u64::MAX, a TAT no clock reaches.
            let raised = next.max(first.saturating_add(1));
            // AcqRel on success: release publishes the raises above to the next
            // admission that reads this value; acquire orders this one after the
            // previous. Acquire on failure: the value read starts the retry, as above.
            match serial.compare_exchange_weak(first, raised, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok((estimate, next)),
                Err(actual) => {
                    first = actual;
                    spin_loop();
                }
            }
        }
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {

    /// The rows are mixed apart: hashes spread evenly over each row, and keys that
    /// share a cell in one row almost never share one in another (the sketch's
    /// false-refusal formula assumes independent rows).
    #[test]
    fn each_row_spreads_keys_evenly_and_independently_of_the_others() {
        let sketch = Sketch::new(4, 256);
        let column = |hash: u64, row: usize| {
            let base = &sketch.cells[row * 256] as *const AtomicU64;
            (sketch.cell(hash, row) as *const AtomicU64 as usize - base as usize) / 8
        };
        // Hashes as the table's hasher makes them: 64 random bits.
        let mut random = SplitMix64::new(7);
        let hashes: Vec<u64> = (0..8_192).map(|_| random.next_u64()).collect();
        for row in 0..4 {
            let mut load = [0u32; 256];
            for &hash in &hashes {
                load[column(hash, row)] += 1;
            }
            // 32 per cell on average; a fair spread stays between 5 and 70.
            let (min, max) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            assert!(
                *min >= 5 && *max <= 70,
                "row {row}: loads from {min} to {max}"
            );
        }
        let (mut shared, mut both) = (0u32, 0u32);
        for (i, &a) in hashes[..1_024].iter().enumerate() {
            for &b in &hashes[i + 1..1_024] {
                if column(a, 0) == column(b, 0) {
                    shared += 1;
                    both += u32::from((1..4).any(|row| column(a, row) == column(b, row)));
                }
            }
        }
        // About 2,000 pairs share a cell of row 0; by chance, 3 in 256 of them share
        // one of another row.
        assert!(
            shared > 1_000 && both * 256 <= 8 * shared,
            "{both} of {shared}"
        );
    }
    use super::*;

    fn quota(burst: u32) -> Quota {
        Quota::per_second(1).burst(burst).unwrap()
    }

    #[test]
    fn a_key_alone_is_decided_exactly() {
        let sketch = Sketch::new(4, 8);
        let q = quota(2);
        let s = 1_000_000_000;
        assert_eq!(sketch.acquire(7, &q, 1, 0, 0), Ok((0, s)));
        assert_eq!(sketch.acquire(7, &q, 1, 0, 0), Ok((s, 2 * s)));
        assert_eq!(sketch.acquire(7, &q, 1, 0, 0), Err(s));
        assert_eq!(sketch.estimate(7), 2 * s);
        assert_eq!(sketch.bytes(), 4 * 8 * 8);
    }

    #[test]
    fn a_width_of_one_makes_every_key_share_one_cell_per_row() {
        let sketch = Sketch::new(2, 1);
        let q = quota(1);
        assert!(sketch.acquire(1, &q, 1, 0, 0).is_ok());
        // Another key, same cells: refused (never over-admitted), even if falsely.
        assert!(sketch.acquire(2, &q, 1, 0, 0).is_err());
    }

    #[test]
    fn a_high_row_zero_never_hides_a_low_estimate_elsewhere() {
        let sketch = Sketch::new(2, 1 << 10);
        let q = quota(1);
        // Raise key 1's row-0 cell far ahead, as a heavy neighbour would.
        sketch.cell(1, 0).store(u64::MAX / 2, Ordering::Relaxed);
        assert_eq!(sketch.acquire(1, &q, 1, 0, 0), Ok((0, 1_000_000_000)));
        // The second admission sees the first through row 1.
        assert!(sketch.acquire(1, &q, 1, 0, 0).is_err());
    }
}

/// The case `tests/loom.rs` cannot set up from outside: a key whose row-0 cell is far
/// ahead (a heavy neighbour) while its row 1 is free, so that its admissions leave row 0
/// as it was but for the 1 ns bump. Without the bump, both admissions' compare-exchange
/// succeeds on an unchanged value. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release -p tollgate-bucket --lib loom_model`
/// (`cargo xtask loom` runs it).
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn a_key_under_a_heavy_row_zero_racing_itself_admits_once() {
        loom::model(|| {
            let sketch = Arc::new(Sketch::new(2, 1));
            sketch.cell(1, 0).store(u64::MAX / 2, Ordering::Relaxed);
            let quota = Quota::per_second(1).build().unwrap();
            let other = sketch.clone();
            let t = loom::thread::spawn(move || other.acquire(1, &quota, 1, 0, 0).is_ok() as u32);
            let total = sketch.acquire(1, &quota, 1, 0, 0).is_ok() as u32 + t.join().unwrap();
            assert_eq!(total, 1, "admitted {total} with burst 1");
        });
    }
}
