//! Every phase move is a tracing event at target `tollgate::drain` with stable fields.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollgate_drain::Drain;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_phase_is_traced_with_its_fields() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let drain = Drain::builder()
                .propagation_delay(Duration::from_millis(100))
                .deadline(Duration::from_millis(300))
                .clock(tollgate_core::TokioClock::new())
                .build()
                .unwrap();
            let _stuck = drain.enter().unwrap();
            drain.start();
            drain.run().await;
        });
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("tollgate::drain: drain announced phase=\"announced\" in_flight=1"),
        "{text}"
    );
    assert!(
        lines[1].contains("tollgate::drain: drain closing phase=\"closing\" in_flight=1"),
        "{text}"
    );
    assert!(
        lines[2].contains(
            "tollgate::drain: drain done phase=\"done\" finished=0 cut=1 refused=0 elapsed_ms=300"
        ),
        "{text}"
    );
}
