//! Latency and fault injection: the `--latency` and `--error-rate` settings, the
//! per-request `Prefer` header (`delay`, `code`, `fault`), the seeded draws that make
//! runs repeat, and the two wire-level pieces the hyper glue needs to misbehave on
//! purpose: a body that stops short and a stream that closes with a reset.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::resource::{FieldError, error_body};
use crate::server::types::ApiResponse;

/// The longest delay a flag or a `Prefer: delay` may ask for.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How long to wait for every response: nothing, a fixed time, or a uniform draw
/// from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    #[default]
    None,
    Fixed(Duration),
    Range(Duration, Duration),
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Latency {
    /// Parses `200ms`, `1s`, `1.5s` or a range `50ms..300ms`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let one = |part: &str| -> Result<Duration, ParseError> {
            let part = part.trim();
            let d = humantime::parse_duration(part).map_err(|e| {
                ParseError(format!(
                    "{part:?} is not a duration ({e}); write it like 200ms or 1.5s"
                ))
            })?;
            if d > MAX_DELAY {
                return Err(ParseError(format!(
                    "{part:?} is longer than the 60s the mock allows"
                )));
            }
            Ok(d)
        };
        match s.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (one(lo)?, one(hi)?);
                if lo > hi {
                    return Err(ParseError(format!(
                        "the range {s:?} runs backwards; write the shorter time first, as in 50ms..300ms"
                    )));
                }
                Ok(if lo == hi {
                    Latency::Fixed(lo)
                } else {
                    Latency::Range(lo, hi)
                })
            }
            None => Ok(match one(s)? {
                d if d.is_zero() => Latency::None,
                d => Latency::Fixed(d),
            }),
        }
    }
}

/// Parses `--error-rate`: a share of requests from 0 to 1.
pub fn parse_error_rate(s: &str) -> Result<f64, ParseError> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ParseError(format!(
            "{s:?} is not a share of requests from 0 to 1, such as 0.05"
        ))),
    }
}

/// What a `Prefer: fault=` asks the connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFault {
    /// Close the connection with a TCP reset, sending nothing.
    Reset,
    /// Close the connection cleanly, sending nothing.
    Empty,
    /// Send the head and part of the body, then close.
    Truncated,
}

impl WireFault {
    pub fn name(self) -> &'static str {
        match self {
            WireFault::Reset => "reset",
            WireFault::Empty => "empty",
            WireFault::Truncated => "truncated",
        }
    }
}

/// The preferences this mock understands, from every `Prefer` header of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub delay: Option<Duration>,
    pub code: Option<u16>,
    pub fault: Option<WireFault>,
    /// The honoured preferences as sent, for `Preference-Applied`.
    pub applied: Vec<String>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Parses `Prefer` headers (RFC 7240). Preferences this mock does not know are
/// ignored, as the RFC asks, and the first of a repeated preference wins; a known
/// preference with a bad value, or text that is not a preference at all, is an
/// error naming `Prefer`.
pub fn parse_prefer(values: &[&[u8]]) -> Result<Preferences, FieldError> {
    let mut prefs = Preferences::default();
    let mut seen = std::collections::HashSet::new();
    for raw in values {
        let bad = |msg: String| {
            FieldError::new(
                "Prefer",
                Value::String(String::from_utf8_lossy(raw).into_owned()),
                msg,
            )
        };
        let text = std::str::from_utf8(raw)
            .ok()
            .filter(|t| t.is_ascii())
            .ok_or_else(|| bad("must be ASCII text such as 'delay=300'".into()))?;
        for element in text.split(',') {
            // Parameters after ';' refine a preference; none of ours take any.
            let pref = element.split(';').next().unwrap_or_default().trim();
            if pref.is_empty() {
                continue;
            }
            let (name, value) = match pref.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (pref, None),
            };
            if !is_token(name) {
                return Err(bad(format!(
                    "{pref:?} is not a preference; write name=value pairs separated by commas, such as 'delay=300, code=503'"
                )));
            }
            let name = name.to_ascii_lowercase();
            if !matches!(name.as_str(), "delay" | "code" | "fault") || !seen.insert(name.clone()) {
                continue;
            }
            let value = value.unwrap_or_default();
            match name.as_str() {
                "delay" => match value.parse::<u64>() {
                    Ok(ms) if ms <= MAX_DELAY.as_millis() as u64 => {
                        prefs.delay = Some(Duration::from_millis(ms))
                    }
                    _ => {
                        return Err(bad(format!(
                            "delay={value:?} must be a whole number of milliseconds from 0 to 60000, as in 'delay=300'"
                        )));
                    }
                },
                "code" => match value.parse::<u16>() {
                    Ok(code) if (400..=599).contains(&code) => prefs.code = Some(code),
                    _ => {
                        return Err(bad(format!(
                            "code={value:?} must be an error status from 400 to 599, as in 'code=503'"
                        )));
                    }
                },
                _ => {
                    prefs.fault = Some(match value.to_ascii_lowercase().as_str() {
                        "reset" => WireFault::Reset,
                        "empty" => WireFault::Empty,
                        "truncated" => WireFault::Truncated,
                        _ => {
                            return Err(bad(format!(
                                "fault={value:?} must be reset, empty or truncated"
                            )));
                        }
                    })
                }
            }
            prefs.applied.push(format!("{name}={value}"));
        }
    }
    if prefs.code.is_some() && prefs.fault.is_some() {
        return Err(FieldError::new(
            "Prefer",
            Value::String(prefs.applied.join(", ")),
            "code and fault cannot be combined: a fault sends no status at all; choose one",
        ));
    }
    Ok(prefs)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// The response a `Prefer: code=` (or an injected failure) answers with; the
/// request itself is not processed.
pub fn forced_response(code: u16, message: &str) -> ApiResponse {
    let resp = ApiResponse::json(code, &error_body(code, message));
    match code {
        401 => resp.with_header("www-authenticate", "Bearer, Basic realm=\"nexudus-mock\""),
        429 | 503 => resp.with_header("retry-after", "1"),
        _ => resp,
    }
}

/// Seeded draws for `--error-rate` and ranged `--latency`. Two generators, so
/// that changing the latency does not change which requests fail.
pub struct Dice {
    pub seed: u64,
    failures: Mutex<StdRng>,
    delays: Mutex<StdRng>,
}

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice {
            seed,
            failures: Mutex::new(StdRng::seed_from_u64(seed)),
            delays: Mutex::new(StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15)),
        }
    }

    /// True for a share `rate` of calls; always draws, so the sequence depends
    /// only on the number of calls.
    pub fn fails(&self, rate: f64) -> bool {
        let x: f64 = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random();
        x < rate
    }

    pub fn delay(&self, latency: Latency) -> Option<Duration> {
        match latency {
            Latency::None => None,
            Latency::Fixed(d) => Some(d),
            Latency::Range(lo, hi) => {
                let ms = self
                    .delays
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .random_range(lo.as_micros() as u64..=hi.as_micros() as u64);
                Some(Duration::from_micros(ms))
            }
        }
    }
}

/// A response body: whole, or (for `fault=truncated`) part of it followed by an
/// error, which makes hyper close the connection short of its Content-Length.
pub struct WireBody {
    data: Option<Bytes>,
    /// For a truncated body: a pause that lets hyper flush what was sent, then the error.
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug, Error)]
#[error("the body was cut short on purpose (Prefer: fault=truncated)")]
pub struct Truncated;

impl WireBody {
    pub fn full(data: Bytes) -> Self {
        WireBody {
            data: Some(data),
            cut: None,
        }
    }

    /// The first half of `data` (at least one byte short), then a dropped connection.
    pub fn truncated(data: Bytes) -> Self {
        let keep = data.len() / 2;
        WireBody {
            data: Some(data.slice(..keep)).filter(|d| !d.is_empty()),
            cut: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
        }
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = Truncated;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Truncated>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match self.cut.as_mut() {
            Some(sleep) => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.cut = None;
                    Poll::Ready(Some(Err(Truncated)))
                }
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, &self.cut) {
            (Some(d), None) => SizeHint::with_exact(d.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// A TCP stream that closes with a reset (RST) instead of a clean FIN when asked,
/// for `Prefer: fault=reset`. The flag is shared with the request handler.
pub struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    pub fn new(stream: TcpStream) -> (Self, Arc<AtomicBool>) {
        let reset = Arc::new(AtomicBool::new(false));
        (
            ResettableStream {
                stream,
                reset: reset.clone(),
            },
            reset,
        )
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Acquire) {
            // A zero linger makes close() send RST and discard unsent data, which is
            // exactly the abrupt drop being simulated; it never blocks.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(s: &str) -> Result<Preferences, FieldError> {
        parse_prefer(&[s.as_bytes()])
    }

    #[test]
    fn latency_accepts_fixed_times_and_ranges_and_names_bad_ones() {
        assert_eq!(
            Latency::parse("200ms").unwrap(),
            Latency::Fixed(Duration::from_millis(200))
        );
        assert_eq!(
            Latency::parse("50ms..300ms").unwrap(),
            Latency::Range(Duration::from_millis(50), Duration::from_millis(300))
        );
        assert_eq!(Latency::parse("0ms").unwrap(), Latency::None);
        assert!(
            Latency::parse("300ms..50ms")
                .unwrap_err()
                .0
                .contains("backwards")
        );
        assert!(Latency::parse("fast").is_err());
        assert!(Latency::parse("200").is_err());
        assert!(Latency::parse("2h").unwrap_err().0.contains("60s"));
    }

    #[test]
    fn error_rate_is_a_share_from_zero_to_one() {
        assert_eq!(parse_error_rate("0.05").unwrap(), 0.05);
        assert_eq!(parse_error_rate("1").unwrap(), 1.0);
        for bad in ["-0.1", "1.5", "NaN", "five", ""] {
            assert!(parse_error_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefer_reads_known_preferences_and_ignores_unknown_ones() {
        let p = prefer("delay=300, code=503").unwrap();
        assert_eq!(p.delay, Some(Duration::from_millis(300)));
        assert_eq!(p.code, Some(503));
        assert_eq!(p.applied, vec!["delay=300", "code=503"]);
        let p = prefer("return=minimal; foo=bar, respond-async, FAULT=\"Reset\"").unwrap();
        assert_eq!(p.fault, Some(WireFault::Reset));
        assert_eq!(
            prefer("delay=10, delay=20").unwrap().delay,
            Some(Duration::from_millis(10))
        );
        let two = parse_prefer(&[b"delay=5", b"code=418"]).unwrap();
        assert_eq!(
            (two.delay, two.code),
            (Some(Duration::from_millis(5)), Some(418))
        );
        assert_eq!(prefer("").unwrap(), Preferences::default());
    }

    #[test]
    fn a_malformed_prefer_is_an_error_naming_the_header() {
        for bad in [
            "delay=abc",
            "delay=",
            "delay",
            "delay=-1",
            "delay=60001",
            "code=200",
            "code=600",
            "code=5o3",
            "fault=explode",
            "code=503, fault=reset",
            "=300",
            "de lay=3",
            "{\"delay\":300}",
        ] {
            let e = prefer(bad).unwrap_err();
            assert_eq!(e.property_name, "Prefer", "{bad}");
            assert!(!e.message.is_empty());
        }
        assert!(parse_prefer(&[b"delay=\xff"]).is_err());
    }

    #[test]
    fn the_same_seed_fails_the_same_requests() {
        let (a, b) = (Dice::new(7), Dice::new(7));
        let seq = |d: &Dice| (0..500).map(|_| d.fails(0.05)).collect::<Vec<_>>();
        let sa = seq(&a);
        assert_eq!(sa, seq(&b));
        let n = sa.iter().filter(|x| **x).count();
        assert!((5..=50).contains(&n), "{n} failures in 500 at 5%");
        assert!(!Dice::new(1).fails(0.0));
        assert!(Dice::new(1).fails(1.0));
    }
}
