//! A small HTTP/1.1 client for the contract runner, the fuzzer and the tests: one
//! request at a time, with a deadline, a cap on the response body, no redirects
//! followed, and a curl rendering of each request for reproductions.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use thiserror::Error;

/// Largest response body read; beyond it the response is reported as too large.
pub const DEFAULT_MAX_RESPONSE: usize = 8 * 1024 * 1024;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the response body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the exchange failed: {0}")]
    Io(String),
    #[error("bad request URL {0:?}")]
    BadUrl(String),
}

/// A request as the runner and fuzzer describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, e.g. `/api/spaces/coworkersettings?page=2`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl HttpRequest {
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        HttpRequest {
            method: method.to_string(),
            path: path.into(),
            headers: vec![],
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw_body("application/json", Bytes::from(body.to_string()))
    }

    pub fn raw_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self.body = Some(body.into());
        self
    }

    /// A shell command that sends the same request. The `Authorization` value is
    /// masked unless `show_secrets`.
    pub fn to_curl(&self, base_url: &str, show_secrets: bool) -> String {
        let mut s = format!(
            "curl -sS -X {} {}",
            self.method,
            shell_quote(&format!("{base_url}{}", self.path))
        );
        for (k, v) in &self.headers {
            let v = if !show_secrets && k.eq_ignore_ascii_case("authorization") {
                match v.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} ***"),
                    None => "***".to_string(),
                }
            } else {
                v.clone()
            };
            s.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
        }
        if let Some(b) = &self.body {
            let text = String::from_utf8_lossy(b);
            if text.len() > 2048 {
                s.push_str(&format!(
                    " --data-binary {}",
                    shell_quote(&format!("{}…", truncate(&text, 2048)))
                ));
                s.push_str(&format!(
                    "   # body truncated here; {} bytes in all",
                    b.len()
                ));
            } else {
                s.push_str(&format!(" --data-binary {}", shell_quote(&text)));
            }
        }
        s
    }
}

/// Cuts a string at a char boundary at or below `max` bytes.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub elapsed: Duration,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("the body is not JSON ({e}): {}", self.body_excerpt(200)))
    }

    pub fn is_json_content_type(&self) -> bool {
        self.header("content-type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                == "application/json"
        })
    }

    pub fn body_excerpt(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.len() > max {
            format!("{}… ({} bytes)", truncate(&text, max), self.body.len())
        } else {
            text.into_owned()
        }
    }
}

/// The client. Cheap to clone; connections are pooled per target.
#[derive(Clone)]
pub struct HttpClient {
    base_url: String,
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    max_response: usize,
}

impl HttpClient {
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            inner,
            timeout,
            max_response: DEFAULT_MAX_RESPONSE,
        }
    }

    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request; the whole exchange, body included, is bounded by the timeout.
    pub async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, ClientError> {
        let started = Instant::now();
        let url = format!("{}{}", self.base_url, req.path);
        let mut builder = hyper::Request::builder()
            .method(req.method.as_str())
            .uri(&url);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = req.body.clone().unwrap_or_default();
        let request = builder
            .body(Full::new(body))
            .map_err(|_| ClientError::BadUrl(url.clone()))?;
        let max = self.max_response;
        let exchange = async {
            let resp = self.inner.request(request).await.map_err(|e| {
                if e.is_connect() {
                    ClientError::Connect(error_chain(&e))
                } else {
                    ClientError::Io(error_chain(&e))
                }
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, max).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ClientError::TooLarge(max)
                } else {
                    ClientError::Io(e.to_string())
                }
            })?;
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            Ok(HttpResponse {
                status: parts.status.as_u16(),
                headers,
                body: body.to_bytes(),
                elapsed: started.elapsed(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
