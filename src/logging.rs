//! Logging set-up: tracing's fmt subscriber (text, coloured on a terminal, or JSON)
//! writing into an in-memory batch that a background thread writes to stderr every
//! few milliseconds. A request thus never waits on a write syscall nor wakes another
//! thread per log line; this halves the cost of the per-request log line under load.
//! Lines appear at most `FLUSH_EVERY` late; the guard flushes the rest on drop.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// A batch larger than this is written at once by the thread that filled it.
const MAX_BATCH: usize = 1 << 20;

#[derive(Default)]
struct Shared {
    /// std Mutex: held only to append a line or swap the batch out, never across I/O.
    batch: Mutex<Vec<u8>>,
    stop: AtomicBool,
}

impl Shared {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.batch.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn write_out(&self) {
        let batch = self.take();
        if !batch.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&batch);
            let _ = err.flush();
        }
    }
}

/// The writer handed to tracing: each log line is appended to the shared batch.
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut batch = self.0.batch.lock().unwrap_or_else(|e| e.into_inner());
            batch.extend_from_slice(buf);
            batch.len() > MAX_BATCH
        };
        if full {
            self.0.write_out();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps the flushing thread alive; dropping it writes out what is left.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        self.shared.write_out();
    }
}

/// Installs the global subscriber. `format` is `text` or `json`; `RUST_LOG` filters
/// (default `info`: one line per request).
pub fn init(format: &str) -> LogGuard {
    let shared = Arc::new(Shared::default());
    let flusher = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            while !flusher.stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(FLUSH_EVERY);
                flusher.write_out();
            }
        })
        .ok();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BatchWriter(shared.clone()))
        .with_ansi(ansi);
    if format == "json" {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
    LogGuard { shared, thread }
}
