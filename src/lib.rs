//! The unpublished root package of the tollgate workspace. It owns the top-level
//! `examples/`, `benches/` and `tests/`; the library itself is in `crates/`.
