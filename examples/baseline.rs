//! The benchmark's baseline: a bare hyper server that answers every request with a
//! fixed JSON body of the size named in the path (`/bytes/612`), reading and dropping
//! any request body. It uses hyper's HTTP/1 defaults; with a timer set, as here,
//! those include a 30 s header-read timeout (the mock sets 10 s), so both pay for a
//! timer per request head and the ratio mock/baseline charges the mock with the rest
//! of its own work.
//!
//! cargo run --release --example baseline -- 4020

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

fn body_of(size: usize) -> Bytes {
    // {"k":"xxxx…"} padded to exactly `size` bytes (at least 10).
    let pad = size.saturating_sub(8).max(1);
    Bytes::from(format!("{{\"k\":\"{}\"}}", "x".repeat(pad)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4020);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    let cache: Arc<Mutex<HashMap<usize, Bytes>>> = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let cache = cache.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let cache = cache.clone();
                async move {
                    let size = req
                        .uri()
                        .path()
                        .strip_prefix("/bytes/")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(612);
                    let _ = req.into_body().collect().await;
                    let body = cache
                        .lock()
                        .unwrap()
                        .entry(size)
                        .or_insert_with(|| body_of(size))
                        .clone();
                    let resp = hyper::Response::builder()
                        .header("content-type", "application/json; charset=utf-8")
                        .body(Full::new(body))
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                }
            });
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new());
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
