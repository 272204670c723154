//! The sync shim: `Arc`, atomics and locks from `std`, or from `loom` under `cfg(loom)`.
//!
//! Every atomic protocol in tollgate takes its primitives from here, so that the same
//! code runs in production and inside `loom::model` in `tests/loom.rs`.
//!
//! ```
//! use tollgate_core::sync::{Arc, AtomicU64, Ordering};
//!
//! let shared = Arc::new(AtomicU64::new(0));
//! // Relaxed: a lone counter orders nothing else.
//! shared.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(shared.load(Ordering::Relaxed), 1);
//! ```

#[cfg(not(loom))]
pub use std::sync::{
    atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(loom)]
pub use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// Hints that the caller is spinning on a compare-exchange retry.
///
/// Under loom this yields, so that a model with a retry loop makes progress.
#[inline]
pub fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
