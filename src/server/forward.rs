//! The hook that makes the server a proxy: with a [`Forwarder`] set on the `App`,
//! every request that is neither for the admin API nor a CORS preflight goes to it
//! instead of the API. Everything else stays the server's: the accept loop and its
//! limits, reading the body, CORS, request ids, the journal and the log line, so a
//! browser app sees the proxy exactly as it sees `serve`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::resource::error_body;
use crate::server::App;
use crate::server::frontend::Answer;
use crate::server::types::{ApiRequest, ApiResponse, Method};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One request as received, for forwarding unchanged.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    /// The request as the API would see it (decoded path, raw query, whole body).
    pub api: ApiRequest,
    /// Path and query exactly as received.
    pub target: String,
    /// Every header as received, in order, repeated ones kept.
    pub headers: Vec<(String, String)>,
    /// The `X-Request-Id` the response will carry and the journal records.
    pub request_id: String,
}

/// What the request log line says about an exchange the forwarder validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractNote {
    pub violations: usize,
    pub warnings: usize,
    /// The problems, short, for one log line.
    pub summary: String,
}

/// The forwarder's answer: the response to send and what to log about it.
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub response: ApiResponse,
    pub contract: Option<ContractNote>,
}

/// Answers requests in place of the API.
pub trait Forwarder: Send + Sync + 'static {
    /// Answers one request. Must always answer: an upstream that fails is a response
    /// (502/504), never a dropped connection.
    fn forward(&self, req: ForwardRequest) -> BoxFuture<'_, Forwarded>;
    /// Answers the admin routes the forwarder adds (called after the admin token
    /// check), or None for a path it does not own.
    fn admin(&self, path: &str, req: &ApiRequest) -> Option<ApiResponse>;
    /// The admin routes it adds and their methods, for 404 listings.
    fn admin_routes(&self) -> &'static [(&'static str, &'static str)];
}

/// Admin routes that work on the mock's store, which a proxy does not have.
pub const STORE_ROUTES: [&str; 3] = ["/__admin/reset", "/__admin/snapshot", "/__admin/fixtures"];

/// True when this request goes to the forwarder: not the admin API, and not a
/// preflight the server answers itself (with CORS on).
pub fn forwards(app: &App, req: &ApiRequest) -> bool {
    let preflight = app.config.cors && req.method == Method::Options;
    !crate::server::admin::is_admin_path(&req.path) && !preflight
}

/// Upstream CORS headers are replaced by the server's own, so the proxy answers CORS
/// exactly as `serve` does (and a browser never sees two `Allow-Origin` values).
fn is_upstream_cors(name: &str, value: &str) -> bool {
    (name.len() > 15 && name[..15].eq_ignore_ascii_case("access-control-"))
        || (name.eq_ignore_ascii_case("vary") && value.trim().eq_ignore_ascii_case("origin"))
}

/// Runs the forwarder on its own task, so a panic in it becomes a 500 on this
/// request only, as a panic in the API does.
pub(super) async fn answer(
    app: &App,
    forwarder: &Arc<dyn Forwarder>,
    req: &ApiRequest,
    parts: &hyper::http::request::Parts,
    request_id: &str,
) -> Answer {
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
    let forward = ForwardRequest {
        api: req.clone(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        request_id: request_id.to_string(),
    };
    let forwarder = forwarder.clone();
    let task = tokio::spawn(async move { forwarder.forward(forward).await });
    let mut forwarded = match task.await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(method = %req.method_name, path = %req.path, error = %e, "the proxy's handler failed");
            Forwarded {
                response: ApiResponse::json(
                    500,
                    &error_body(
                        500,
                        "An internal error occurred in the proxy; it has been logged.",
                    ),
                ),
                contract: None,
            }
        }
    };
    if app.config.cors {
        forwarded
            .response
            .extra_headers
            .retain(|(k, v)| !is_upstream_cors(k, v));
    }
    Answer {
        contract: forwarded.contract,
        ..Answer::plain(forwarded.response)
    }
}
