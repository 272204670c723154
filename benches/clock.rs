//! What a clock read costs: tollgate's `SystemClock` (quanta's TSC) against
//! `std::time::Instant` and tokio's clock, which an algorithm would otherwise use.
//!
//! `cargo bench --bench clock`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::{Clock, SystemClock, TokioClock};

fn clock_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock_read");
    let system = SystemClock::new();
    group.bench_function("tollgate_SystemClock", |b| {
        b.iter(|| black_box(system.now()))
    });
    let origin = std::time::Instant::now();
    group.bench_function("std_Instant_since_origin", |b| {
        b.iter(|| black_box(origin.elapsed().as_nanos() as u64))
    });
    group.bench_function("quanta_Instant_now", |b| {
        b.iter(|| black_box(quanta::Instant::now()))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let tokio_clock = TokioClock::new();
    group.bench_function("tollgate_TokioClock", |b| {
        b.iter(|| black_box(tokio_clock.now()))
    });
    group.finish();
}

criterion_group!(benches, clock_read);
criterion_main!(benches);
