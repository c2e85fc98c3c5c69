//! Forwarding: one request relayed to the upstream through the crate's shared
//! client, and its answer (or its failure) turned into the response to send.
//! Hop-by-hop headers are not relayed (RFC 9110 section 7.6.1), and
//! `Accept-Encoding` is not either, so the upstream answers in a form the proxy
//! can read and validate; everything else goes both ways unchanged.

use bytes::Bytes;
use serde_json::json;

use crate::client::{ClientError, HttpClient, HttpRequest, HttpResponse};
use crate::server::forward::ForwardRequest;
use crate::server::types::{ApiResponse, Method};

/// Headers that describe one connection, not the message: never relayed.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// The request to send upstream. `Host` and `Content-Length` are the client's to
/// set for the upstream and this body; a request id is added when the caller sent
/// none, so the upstream's logs, the journal and the response agree on it.
pub fn upstream_request(req: &ForwardRequest) -> HttpRequest {
    let mut out = HttpRequest::new(&req.api.method_name, req.target.clone());
    let mut has_request_id = false;
    for (k, v) in &req.headers {
        if is_hop_by_hop(k)
            || k.eq_ignore_ascii_case("host")
            || k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("accept-encoding")
        {
            continue;
        }
        has_request_id |= k.eq_ignore_ascii_case("x-request-id");
        out.headers.push((k.clone(), v.clone()));
    }
    if !has_request_id {
        out.headers
            .push(("x-request-id".into(), req.request_id.clone()));
    }
    if !req.api.body.is_empty() {
        out.body = Some(req.api.body.clone());
    }
    out
}

/// The upstream's answer as the response to send: status, headers (bar hop-by-hop
/// ones) and body unchanged. Content-Length is hyper's to write for the body sent,
/// except on HEAD, where it describes the body that was not sent.
pub fn relay(method: Method, resp: &HttpResponse) -> ApiResponse {
    let keep_length = method == Method::Head;
    let mut out = ApiResponse::empty(resp.status);
    out.extra_headers = resp
        .headers
        .iter()
        .filter(|(k, _)| {
            !is_hop_by_hop(k) && (keep_length || !k.eq_ignore_ascii_case("content-length"))
        })
        .cloned()
        .collect();
    out.body = resp.body.clone();
    out
}

/// Which way the upstream failed, for the 502/504 body.
fn failure_kind(e: &ClientError) -> (u16, &'static str, &'static str) {
    match e {
        ClientError::Timeout(_) => (504, "timeout", "did not answer in time"),
        ClientError::Connect(_) => (502, "unreachable", "could not be reached"),
        ClientError::TooLarge(_) => (502, "too-large", "answered with a body too large to relay"),
        ClientError::Io(_) => (
            502,
            "bad-response",
            "broke off the exchange or answered with something that is not HTTP",
        ),
        ClientError::BadUrl(_) => (502, "bad-url", "cannot be asked for this path"),
        ClientError::Tls(_) => (502, "tls", "refused the TLS handshake or its certificate"),
    }
}

/// The answer when the upstream fails: 504 for a timeout, 502 otherwise, with a
/// JSON body in the API's error shape that says which.
pub fn upstream_failed(client: &HttpClient, e: &ClientError) -> ApiResponse {
    let (status, kind, what) = failure_kind(e);
    let message = format!(
        "The upstream {} {what} ({e}); the proxy answers {status} instead.",
        client.base_url()
    );
    ApiResponse::raw_json(
        status,
        Bytes::from(
            json!({
                "Status": status,
                "Message": message,
                "Upstream": client.base_url(),
                "Problem": kind,
                "WasSuccessful": false,
            })
            .to_string(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::types::ApiRequest;

    #[test]
    fn hop_by_hop_host_and_encoding_headers_stay_behind_and_the_rest_go_in_order() {
        let req = ForwardRequest {
            api: ApiRequest {
                method: Method::Post,
                method_name: "POST".into(),
                path: "/a b".into(),
                query: "x=1".into(),
                authorization: None,
                content_type: None,
                origin: None,
                body: Bytes::from_static(b"{}"),
            },
            target: "/a%20b?x=1".into(),
            headers: [
                ("host", "127.0.0.1:1"),
                ("Connection", "keep-alive"),
                ("authorization", "Bearer t"),
                ("accept-encoding", "gzip"),
                ("x-custom", "1"),
                ("x-custom", "2"),
                ("content-length", "2"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            request_id: "rid".into(),
        };
        let out = upstream_request(&req);
        assert_eq!(out.path, "/a%20b?x=1");
        let names: Vec<(&str, &str)> = out
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("authorization", "Bearer t"),
                ("x-custom", "1"),
                ("x-custom", "2"),
                ("x-request-id", "rid")
            ]
        );
        assert_eq!(out.body.as_deref(), Some(&b"{}"[..]));
    }
}
