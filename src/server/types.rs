//! The owned request and response the API code sees. The hyper glue in
//! `server/mod.rs` turns each hyper request into an `ApiRequest` once and turns the
//! `ApiResponse` back; nothing else touches hyper types.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;

/// The HTTP methods the API distinguishes; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Self {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    /// The name of a method parsed from `sent`: a constant for the common methods,
    /// so naming it costs no allocation per request.
    pub fn name(self, sent: &str) -> Cow<'static, str> {
        match self {
            Method::Get => Cow::Borrowed("GET"),
            Method::Head => Cow::Borrowed("HEAD"),
            Method::Post => Cow::Borrowed("POST"),
            Method::Put => Cow::Borrowed("PUT"),
            Method::Delete => Cow::Borrowed("DELETE"),
            Method::Options => Cow::Borrowed("OPTIONS"),
            Method::Other => Cow::Owned(sent.to_string()),
        }
    }
}

/// One request, fully read.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The method as sent, for logs and the journal (borrowed for the common ones).
    pub method_name: Cow<'static, str>,
    /// The percent-decoded path.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub authorization: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub origin: Option<String>,
    pub body: Bytes,
}

/// One response, before it is written.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    /// Names in lower case. A value known when the mock is built is borrowed, so
    /// the common headers cost no allocation per request.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// Headers whose names are not known in advance (an upstream's answer relayed by
    /// the proxy), written after `headers`.
    pub extra_headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The state file's journal line that must be on disk before this is sent (a
    /// write's acknowledgement); the hyper glue waits for it.
    pub durable_at: Option<u64>,
}

pub const JSON: &str = "application/json; charset=utf-8";
/// Room for the headers most answers end with (content type, CORS, request id),
/// so adding them does not grow the list one reallocation at a time.
const HEADERS_ROOM: usize = 8;

/// A body's JSON, written into room for most bodies (an action envelope is about
/// 300 bytes) rather than grown from serde's 128 one reallocation at a time.
fn json_body(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, value).expect("API bodies always serialise");
    out
}

impl ApiResponse {
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Self::raw_json(status, Bytes::from(json_body(value)))
    }

    pub fn raw_json(status: u16, body: Bytes) -> Self {
        let mut headers = Vec::with_capacity(HEADERS_ROOM);
        headers.push(("content-type", Cow::Borrowed(JSON)));
        ApiResponse {
            status,
            headers,
            extra_headers: vec![],
            body,
            durable_at: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        ApiResponse {
            status,
            headers: Vec::with_capacity(HEADERS_ROOM),
            extra_headers: vec![],
            body: Bytes::new(),
            durable_at: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .map(|(n, v)| (*n, v.as_ref()))
            .chain(
                self.extra_headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            )
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}
