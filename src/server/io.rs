//! A connection wrapper that gives hyper's own error responses a JSON body.
//!
//! When a request head cannot be parsed (bad bytes, too many or too large headers)
//! hyper answers by itself, before any handler runs, with an empty-bodied
//! `400`/`431` and closes the connection. Clients of this mock expect every error in
//! the API's JSON shape, so this wrapper recognises exactly those responses (a 4xx
//! with `content-length: 0` and `connection: close`, which the API itself never
//! sends) and writes them out with a JSON body instead. Everything else passes
//! through untouched.

use std::io;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct JsonErrors<T> {
    inner: T,
    /// Bytes of a rewritten response not yet written to `inner`.
    pending: Vec<u8>,
    written: usize,
}

impl<T> JsonErrors<T> {
    pub fn new(inner: T) -> Self {
        JsonErrors {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// The rewritten response for hyper's bare error `head`, if it is one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    if !(head.starts_with(b"HTTP/1.1 4") || head.starts_with(b"HTTP/1.0 4")) || head.len() > 1024 {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let end = text.find("\r\n\r\n")?;
    if end + 4 != text.len() {
        return None;
    }
    // Every 4xx the API sends passes here too, so nothing is allocated until the
    // head is known to be hyper's own.
    let (status_line, header_lines) = text[..end].split_once("\r\n")?;
    let headers = || header_lines.split("\r\n");
    let has = |h: &str| headers().any(|l| l.eq_ignore_ascii_case(h));
    if !has("content-length: 0") || !has("connection: close") {
        return None;
    }
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    let message = match status {
        400 => {
            "The request could not be parsed as HTTP/1.1 (bad request line, header or encoding)."
        }
        408 => "The request head was not received in time.",
        413 => "The request is too large.",
        431 => "The request headers are too large or too many.",
        _ => "The request could not be processed.",
    };
    let body = format!(r#"{{"Status":{status},"Message":"{message}","WasSuccessful":false}}"#);
    let mut out = format!("{status_line}\r\ncontent-type: application/json; charset=utf-8\r\n");
    for h in headers().filter(|l| !l.eq_ignore_ascii_case("content-length: 0")) {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if let Some(replacement) = rewrite(buf) {
            self.pending = replacement;
            // The original bytes count as written; the replacement drains on the
            // following writes, flush or shutdown.
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Vectored writes keep hyper from copying bodies into its head buffer. A bare
    /// error response has no body, so it always arrives as one whole first slice.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(replacement) = rewrite(first)
        {
            self.pending = replacement;
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(first.len()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_errors_get_a_json_body_and_api_responses_do_not_change() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["Status"], 431);
        let api = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n";
        assert!(rewrite(api).is_none());
        assert!(
            rewrite(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").is_none()
        );
    }
}
