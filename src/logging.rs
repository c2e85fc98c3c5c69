//! Log set-up for `serve`: `--log-format json` writes one JSON object per event for
//! machines; the text format writes one short line per request that a person can
//! scan (`12:00:01.234 POST /api/spaces/coworkersettings 200 1.2ms <id>`), coloured
//! by status when stderr is a terminal (or `--color always`). Other events keep
//! tracing's usual text form.
//!
//! Lines go into an in-memory batch that a background thread writes to stderr every
//! few milliseconds, so a request never waits on a write syscall nor wakes another
//! thread per line (under load this doubles what the log line costs otherwise).
//! Lines appear at most `FLUSH_EVERY` late; the guard flushes the rest on drop.
//!
//! In the text format the request line is the access log, written on every request:
//! it skips the tracing event (whose field visitors and formatter cost about a fifth
//! of a small request's CPU) and is formatted straight into a per-thread buffer,
//! then appended to the batch ([`write_request_line`]). `RUST_LOG` still decides
//! whether it is written; the JSON format and other events still go through tracing.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::server::frontend::REQUEST_LOG_TARGET;

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
    /// Appends to the batch; a full batch is written out by the caller's thread.
    fn append(&self, buf: &[u8]) {
        let full = {
            let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            batch.extend_from_slice(buf);
            batch.len() > MAX_BATCH
        };
        if full {
            self.write_out();
        }
    }

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
        self.0.append(buf);
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

/// Installs the global subscriber. `format` is `text` or `json`; `color` is auto,
/// always or never; `RUST_LOG` filters (default `info`: one line per request).
pub fn init(format: &str, color: &str) -> LogGuard {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BatchWriter(shared.clone()));
    if format == "json" {
        let _ = builder.json().with_ansi(false).try_init();
    } else {
        let ansi = match color {
            "always" => true,
            "never" => false,
            _ => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        let installed = builder
            .with_ansi(ansi)
            .event_format(RequestLines {
                inner: Format::default(),
            })
            .try_init()
            .is_ok();
        if installed {
            let _ = ACCESS_LOG.set(AccessLog {
                shared: shared.clone(),
                ansi,
            });
        }
    }
    LogGuard { shared, thread }
}

/// The text format's request lines, written without a tracing event.
struct AccessLog {
    shared: Arc<Shared>,
    ansi: bool,
}

/// Set by [`init`] in the text format only, alongside the global subscriber.
static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

thread_local! {
    /// Each worker formats its lines here, so a line costs no allocation.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Writes one request line straight to the log, when the text format is installed
/// (the caller has already asked tracing whether request lines are enabled).
/// Returns false when it is not, so the caller emits a tracing event instead.
pub fn write_request_line(f: &RequestLine<'_>) -> bool {
    let Some(log) = ACCESS_LOG.get() else {
        return false;
    };
    LINE.with_borrow_mut(|line| {
        line.clear();
        let _ = write_line(line, log.ansi, f);
        line.push('\n');
        log.shared.append(line.as_bytes());
        // A rare huge line (a long query) gives its memory back.
        if line.capacity() > 64 * 1024 {
            *line = String::new();
        }
    });
    true
}

/// Formats request events as one readable line and everything else as usual.
pub struct RequestLines {
    inner: Format,
}

/// What one request line shows (status 0 when a fault sent none).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub status: u64,
    pub micros: u64,
    pub request_id: &'a str,
    pub fault: &'a str,
    /// Set by the proxy: contract violations and warnings found in the exchange.
    pub violations: u64,
    pub warnings: u64,
    pub contract: &'a str,
}

/// The fields of one request event, as tracing's visitor collects them.
#[derive(Debug, Default, Clone)]
pub struct RequestFields {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u64,
    pub micros: u64,
    pub request_id: String,
    pub fault: String,
    /// Set by the proxy: contract violations and warnings found in the exchange.
    pub violations: u64,
    pub warnings: u64,
    pub contract: String,
}

impl RequestFields {
    pub fn line(&self) -> RequestLine<'_> {
        RequestLine {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            status: self.status,
            micros: self.micros,
            request_id: &self.request_id,
            fault: &self.fault,
            violations: self.violations,
            warnings: self.warnings,
            contract: &self.contract,
        }
    }
}

impl Visit for RequestFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "status" => self.status = value,
            "micros" => self.micros = value,
            "violations" => self.violations = value,
            "warnings" => self.warnings = value,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let slot = match field.name() {
            "method" => &mut self.method,
            "path" => &mut self.path,
            "query" => &mut self.query,
            "request_id" => &mut self.request_id,
            "fault" => &mut self.fault,
            "contract" => &mut self.contract,
            _ => return,
        };
        *slot = format!("{value:?}");
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";

fn status_colour(status: u64) -> &'static str {
    match status {
        200..=299 => "\x1b[32m",
        300..=399 => "\x1b[36m",
        400..=499 => "\x1b[33m",
        _ => "\x1b[31m",
    }
}

/// Writes the time of day as `HH:MM:SS.mmm` in UTC, by hand: it runs for every
/// request, and chrono's local-time formatting costs more than the rest of the line.
fn write_clock_time(out: &mut String) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    write_time_of_day(out, now);
    Ok(())
}

/// `since_epoch`'s UTC time of day as HH:MM:SS.mmm.
fn write_time_of_day(out: &mut String, since_epoch: Duration) {
    // Digit by digit, each field zero-padded to `width` and followed by `then`.
    let digits = |out: &mut String, v: u64, width: u32, then: &str| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (v / 10u64.pow(place) % 10) as u8));
        }
        out.push_str(then);
    };
    let secs = since_epoch.as_secs() % 86_400;
    digits(out, secs / 3600, 2, ":");
    digits(out, secs % 3600 / 60, 2, ":");
    digits(out, secs % 60, 2, ".");
    digits(out, u64::from(since_epoch.subsec_millis()), 3, "");
}

/// One request line, coloured when `ansi`, stamped with the time now.
fn write_line(out: &mut String, ansi: bool, f: &RequestLine<'_>) -> fmt::Result {
    let (dim, reset) = if ansi { (DIM, RESET) } else { ("", "") };
    out.push_str(dim);
    write_clock_time(out)?;
    out.push_str(reset);
    out.push(' ');
    write_rest(out, ansi, f)
}

/// One request line after its time, coloured when `ansi`.
fn write_rest(out: &mut String, ansi: bool, f: &RequestLine<'_>) -> fmt::Result {
    let (dim, bold, reset) = if ansi {
        (DIM, BOLD, RESET)
    } else {
        ("", "", "")
    };
    let status = Some(f.status).filter(|s| *s != 0);
    let colour = if ansi {
        status.map_or("\x1b[35m", status_colour)
    } else {
        ""
    };
    // Pieces pushed rather than `write!`: this runs on every request, and the
    // formatting machinery (padding above all) was most of its cost.
    let mut n = itoa::Buffer::new();
    out.push_str(bold);
    out.push_str(f.method);
    for _ in f.method.len()..7 {
        out.push(' ');
    }
    out.push_str(reset);
    out.push(' ');
    out.push_str(f.path);
    if !f.query.is_empty() {
        out.push('?');
        out.push_str(f.query);
    }
    out.push(' ');
    out.push_str(colour);
    match status {
        Some(s) => out.push_str(n.format(s)),
        None => out.push_str("---"),
    }
    // Milliseconds to one decimal, rounded half up, in integers.
    let tenths = (f.micros + 50) / 100;
    out.push_str(reset);
    out.push(' ');
    out.push_str(n.format(tenths / 10));
    out.push('.');
    out.push_str(n.format(tenths % 10));
    out.push_str("ms");
    if !f.fault.is_empty() {
        write!(out, " {colour}[{}]{reset}", f.fault)?;
    }
    write_contract_note(out, ansi, f)?;
    out.push(' ');
    out.push_str(dim);
    out.push_str(f.request_id);
    out.push_str(reset);
    Ok(())
}

/// One request line, coloured when `ansi`, with the time given (tests compare
/// lines without a clock).
#[cfg(test)]
fn request_line(ansi: bool, time: &str, f: &RequestFields) -> String {
    let mut out = String::new();
    let (dim, reset) = if ansi { (DIM, RESET) } else { ("", "") };
    let _ = write!(out, "{dim}{time}{reset} ");
    let _ = write_rest(&mut out, ansi, &f.line());
    out
}

/// The proxy's verdict on the exchange: red when it broke the contract, yellow when
/// it only made a choice the docs leave open.
fn write_contract_note(out: &mut String, ansi: bool, f: &RequestLine<'_>) -> fmt::Result {
    let (colour, n, word) = match (f.violations, f.warnings) {
        (0, 0) => return Ok(()),
        (0, w) => ("\x1b[33m", w, "contract warning"),
        (v, _) => ("\x1b[1;31m", v, "contract violation"),
    };
    let (colour, reset) = if ansi { (colour, RESET) } else { ("", "") };
    let plural = if n == 1 { "" } else { "s" };
    write!(out, " {colour}[{n} {word}{plural}: {}]{reset}", f.contract)
}

impl<S, N> FormatEvent<S, N> for RequestLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() != REQUEST_LOG_TARGET {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut f = RequestFields::default();
        event.record(&mut f);
        let mut line = String::new();
        write_line(&mut line, writer.has_ansi_escapes(), &f.line())?;
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(method: &str, query: &str, status: u64, micros: u64, fault: &str) -> RequestFields {
        RequestFields {
            method: method.into(),
            path: "/x".into(),
            query: query.into(),
            status,
            micros,
            request_id: "id-1".into(),
            fault: fault.into(),
            ..RequestFields::default()
        }
    }

    #[test]
    fn a_request_line_is_plain_without_ansi_and_coloured_with_it() {
        let plain = request_line(false, "12:00:00.000", &fields("GET", "a=1", 404, 1500, ""));
        assert_eq!(plain, "12:00:00.000 GET     /x?a=1 404 1.5ms id-1");
        let coloured = request_line(true, "t", &fields("POST", "", 500, 0, "error-rate"));
        assert!(coloured.contains("\x1b[31m500") && coloured.contains("[error-rate]"));
        let dropped = request_line(false, "t", &fields("GET", "", 0, 0, "fault=reset"));
        assert!(dropped.contains(" --- ") && dropped.contains("[fault=reset]"));
        let mut proxied = fields("GET", "", 200, 0, "");
        (proxied.violations, proxied.contract) = (2, "list.filter: Id 5 does not match".into());
        let line = request_line(true, "t", &proxied);
        assert!(
            line.contains("\x1b[1;31m[2 contract violations: list.filter: Id 5 does not match]"),
            "{line}"
        );
        (proxied.violations, proxied.warnings) = (0, 1);
        assert!(request_line(false, "t", &proxied).contains(" [1 contract warning: "));
        for (micros, shown) in [
            (0, " 0.0ms "),
            (49, " 0.0ms "),
            (50, " 0.1ms "),
            (1249, " 1.2ms "),
        ]
        .into_iter()
        .chain([(1250, " 1.3ms "), (12_345_678, " 12345.7ms ")])
        {
            let line = request_line(false, "t", &fields("GET", "", 200, micros, ""));
            assert!(line.contains(shown), "{micros}: {line}");
        }
    }

    #[test]
    fn the_time_of_day_is_written_with_fixed_widths() {
        for (secs, nanos, want) in [
            (0, 0, "00:00:00.000"),
            (
                3 * 86_400 + 13 * 3600 + 5 * 60 + 7,
                45_000_000,
                "13:05:07.045",
            ),
            (86_399, 999_999_999, "23:59:59.999"),
            (1_764_633_600 + 10 * 3600 + 59, 7_000_000, "10:00:59.007"),
        ] {
            let mut out = String::new();
            write_time_of_day(&mut out, Duration::new(secs, nanos));
            assert_eq!(out, want);
        }
    }

    #[test]
    fn a_direct_line_matches_the_tracing_one_after_its_time() {
        let f = fields("PUT", "a=1&b=2", 400, 2500, "code=400");
        let mut direct = String::new();
        write_line(&mut direct, true, &f.line()).unwrap();
        let (time, rest) = direct.split_at(DIM.len() + 12 + RESET.len() + 1);
        assert!(
            time.starts_with(DIM) && time.as_bytes()[DIM.len() + 2] == b':',
            "{direct}"
        );
        assert_eq!(
            rest,
            request_line(true, "", &f)
                .split_at(DIM.len() + RESET.len() + 1)
                .1
        );
    }
}
