//! The HTTP server: the accept loop, connection limits and timeouts, graceful
//! shutdown, and the glue that turns hyper requests into `ApiRequest`s and
//! `ApiResponse`s back into hyper responses, adding CORS and the request log on the
//! way; HTTPS when configured (rustls, HTTP/1.1 only). This module is the only place
//! that touches hyper.

pub mod admin;
pub mod api;
pub mod faults;
pub mod forward;
pub mod frontend;
mod io;
pub mod journal;
pub mod types;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::Auth;
use crate::fixtures::Fixtures;
use crate::resource::{FieldError, error_body};
use crate::store::Store;
use faults::{ResettableStream, WireBody, WireFault};
use types::{ApiRequest, ApiResponse, Method};

/// Server limits and switches, all with sane defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Send CORS headers and answer preflights.
    pub cors: bool,
    /// Largest request body accepted; larger gets 413.
    pub max_body: usize,
    /// Largest request head (request line plus headers) accepted.
    pub max_header_bytes: usize,
    /// Time a client has to send a complete request head (slowloris defence); also
    /// how long an idle keep-alive connection is kept open.
    pub header_read_timeout: Duration,
    /// Time a client has to send the whole body once the head is in; slower gets 408.
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long to let in-flight requests finish on shutdown.
    pub shutdown_grace: Duration,
    /// Latency, faults, the admin token and the journal's size.
    pub frontend: frontend::FrontendConfig,
    /// Serve HTTPS (HTTP/1.1 over TLS) with this certificate instead of plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            cors: true,
            max_body: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            frontend: frontend::FrontendConfig::default(),
            tls: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Fixtures(#[from] crate::fixtures::FixtureError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A function that answers in place of [`api::handle`], usually by calling it with a
/// changed request or changing its response. Tests use it to build deliberately broken
/// implementations ("the mock, but it ignores a filter") and to reach a panic.
pub type Layer = Arc<dyn Fn(&App, &ApiRequest) -> ApiResponse + Send + Sync>;

/// Everything a request can reach: the store (which keeps its fixtures for reset),
/// the users and the configuration.
pub struct App {
    pub store: Store,
    pub auth: Auth,
    pub config: ServerConfig,
    /// Wraps the API when set (see [`Layer`]).
    pub layer: Option<Layer>,
    /// Journal, faults, state file and the rest of the front-end features.
    pub frontend: frontend::Frontend,
    /// Answers in place of the API when set: the server runs as the proxy.
    pub forwarder: Option<Arc<dyn forward::Forwarder>>,
}

impl App {
    pub fn new(fixtures: Fixtures, config: ServerConfig) -> Result<Self, crate::store::LoadError> {
        crate::schemas::init();
        Ok(App {
            frontend: frontend::Frontend::new(config.frontend.clone()),
            store: Store::from_stored(fixtures.records)?,
            auth: Auth::new(fixtures.users),
            config,
            layer: None,
            forwarder: None,
        })
    }

    pub fn with_layer(mut self, layer: Layer) -> Self {
        self.layer = Some(layer);
        self
    }

    pub fn with_forwarder(mut self, forwarder: Arc<dyn forward::Forwarder>) -> Self {
        self.forwarder = Some(forwarder);
        self
    }

    /// Answers one request through the layer, if any.
    pub fn respond(&self, req: &ApiRequest) -> ApiResponse {
        match &self.layer {
            Some(layer) => layer(self, req),
            None => api::handle(self, req),
        }
    }

    /// Called with the acknowledgement of every write: with a state file, the
    /// response is held back until the write's journal line is on disk.
    pub fn after_write(&self, mut resp: ApiResponse) -> ApiResponse {
        if let Some(file) = &self.frontend.state_file {
            resp.durable_at = Some(file.appended());
        }
        resp
    }
}

/// A running server, for tests and embedding: its address and a handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Binds `addr` and serves `app` on the current tokio runtime.
    pub async fn start(addr: SocketAddr, app: App) -> Result<Self, StartError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let app = Arc::new(app);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, app.clone(), async {
            let _ = rx.await;
        }));
        Ok(RunningServer {
            addr,
            app,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.app.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            self.task.abort();
        }
    }
}

/// Serves connections from `listener` until `shutdown` completes, then drains.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout)
        .max_buf_size(app.config.max_header_bytes.max(8192));
    let tls = app.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(app.config.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (stream, reset) = ResettableStream::new(stream);
        let service = {
            let app = app.clone();
            service_fn(move |req| {
                let app = app.clone();
                let reset = reset.clone();
                async move { serve_one(&app, req, peer, &reset).await }
            })
        };
        match &tls {
            None => {
                let conn = graceful.watch(
                    http.serve_connection(TokioIo::new(io::JsonErrors::new(stream)), service),
                );
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's own task, so a slow or
                // silent client never holds up the accept loop; it gets the same
                // deadline as a request head.
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                let http = http.clone();
                let deadline = app.config.header_read_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let conn = http
                                .serve_connection(TokioIo::new(io::JsonErrors::new(tls)), service);
                            let _ = watcher.watch(conn).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(app.config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed with connections still open");
    }
    Ok(())
}

/// Returned instead of a response to make hyper drop the connection unanswered
/// (`Prefer: fault=reset|empty`).
#[derive(Debug, Error)]
#[error("the connection was dropped on purpose (Prefer: fault={0})")]
struct Dropped(&'static str);

async fn serve_one(
    app: &App,
    req: hyper::Request<Incoming>,
    _peer: SocketAddr,
    reset: &AtomicBool,
) -> Result<hyper::Response<WireBody>, Dropped> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, ORIGIN};
    const PREFER: HeaderName = HeaderName::from_static("prefer");
    // One pass over the request's few headers instead of a hashed lookup for each
    // name read; like `HeaderMap::get`, the first value of a name counts.
    let (mut authorization, mut content_type, mut origin, mut sent_id) = (None, None, None, None);
    let mut prefer: Vec<&[u8]> = Vec::new();
    for (name, value) in parts.headers.iter() {
        let slot = if name == AUTHORIZATION {
            &mut authorization
        } else if name == CONTENT_TYPE {
            &mut content_type
        } else if name == ORIGIN {
            &mut origin
        } else if name == X_REQUEST_ID {
            &mut sent_id
        } else {
            if name == PREFER {
                prefer.push(value.as_bytes());
            }
            continue;
        };
        slot.get_or_insert(value.as_bytes());
    }
    let header_string = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
    let raw_path = parts.uri.path();
    let path = if raw_path.contains('%') {
        percent_encoding::percent_decode_str(raw_path)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        raw_path.to_string()
    };
    let method = Method::parse(parts.method.as_str());
    let mut req = ApiRequest {
        method,
        method_name: method.name(parts.method.as_str()),
        path,
        query: parts.uri.query().unwrap_or_default().to_string(),
        authorization: authorization.map(<[u8]>::to_vec),
        content_type: header_string(content_type),
        origin: header_string(origin),
        body: Bytes::new(),
    };

    let request_id = frontend::request_id(sent_id);

    let mut answer = match read_body(app, &parts.headers, body).await {
        Ok(body) => {
            req.body = body;
            match &app.forwarder {
                Some(f) if forward::forwards(app, &req) => {
                    forward::answer(app, f, &req, &parts, &request_id).await
                }
                _ => frontend::answer(app, &req, &prefer, respond_safely).await,
            }
        }
        Err(resp) => frontend::Answer::plain(resp),
    };
    if let Some(seq) = answer.response.durable_at
        && let Err(resp) = frontend::durable(app, seq).await
    {
        answer.response = resp;
    }
    if app.config.cors {
        answer.response = with_cors(&req, answer.response);
    }
    // A proxied answer may carry the upstream's own (usually the echo of ours).
    if answer.response.header("x-request-id").is_none() {
        answer.response = answer
            .response
            .with_header("x-request-id", request_id.clone());
    }
    frontend::finish(app, req, &answer, request_id, started);
    match answer.wire {
        Some(WireFault::Reset) => {
            reset.store(true, Ordering::Release);
            Err(Dropped("reset"))
        }
        Some(WireFault::Empty) => Err(Dropped("empty")),
        Some(WireFault::Truncated) => Ok(into_hyper(answer.response, true)),
        None => Ok(into_hyper(answer.response, false)),
    }
}

/// The API code is synchronous, so a panic is caught right here and becomes a 500
/// on this request only.
fn respond_safely(app: &App, req: &ApiRequest) -> ApiResponse {
    std::panic::catch_unwind(AssertUnwindSafe(|| app.respond(req))).unwrap_or_else(|_| {
        tracing::error!(method = %req.method_name, path = %req.path, "handler panicked");
        ApiResponse::json(
            500,
            &error_body(
                500,
                "An internal error occurred in the mock; it has been logged.",
            ),
        )
    })
}

async fn read_body(
    app: &App,
    headers: &hyper::HeaderMap,
    body: Incoming,
) -> Result<Bytes, ApiResponse> {
    let limit = app.config.max_body;
    let too_large = || {
        ApiResponse::json(
            413,
            &error_body(
                413,
                &format!("The request body is larger than the limit of {limit} bytes."),
            ),
        )
        .with_header("connection", "close")
    };
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Most requests (every GET) have no body: nothing to wait for, so no timer.
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let timeout = app.config.body_read_timeout;
    let Ok(collected) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await
    else {
        let message = format!(
            "The request body was not received within {} seconds.",
            timeout.as_secs_f64()
        );
        return Err(
            ApiResponse::json(408, &error_body(408, &message)).with_header("connection", "close")
        );
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(api::validation_failed(&[FieldError::body(format!(
            "the request body could not be read: {e}"
        ))])),
    }
}

const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, Prefer, X-Request-Id";
const CORS_EXPOSE_HEADERS: &str = "Allow, Retry-After, X-Request-Id, WWW-Authenticate, Preference-Applied, X-Contract-Violations, X-Contract-Warnings";

fn with_cors(req: &ApiRequest, mut resp: ApiResponse) -> ApiResponse {
    // Echo the caller's origin (so credentialed fetches work); "*" when there is none.
    let credentials = req.origin.is_some();
    let origin: std::borrow::Cow<'static, str> = match &req.origin {
        Some(o) => o.clone().into(),
        None => "*".into(),
    };
    // The handler answers OPTIONS from its route table (`api::Route::allow`,
    // `admin::ROUTES`), the same sets its 405s name in `Allow`; a preflight allows
    // exactly those. An unknown path keeps its 404, so no browser is told that
    // methods exist where nothing does.
    if req.method == Method::Options
        && (200..300).contains(&resp.status)
        && let Some(allow) = resp.header("allow").map(str::to_string)
    {
        resp = resp
            .with_header("access-control-allow-methods", allow)
            .with_header("access-control-allow-headers", CORS_ALLOW_HEADERS)
            .with_header("access-control-max-age", "600");
    }
    resp = resp.with_header("access-control-allow-origin", origin);
    if credentials {
        resp = resp.with_header("access-control-allow-credentials", "true");
    }
    resp.with_header("access-control-expose-headers", CORS_EXPOSE_HEADERS)
        .with_header("vary", "Origin")
}

/// hyper itself leaves the body out of a HEAD response, keeping its Content-Length.
/// A `truncated` response declares its full length and sends half.
///
/// The response is put together directly rather than through `Response::builder`,
/// and a header known when the mock is built is used as is (its name a constant, its
/// value borrowed): this runs for every request.
fn into_hyper(resp: ApiResponse, truncated: bool) -> hyper::Response<WireBody> {
    let invalid = || {
        let mut r = hyper::Response::new(WireBody::full(Bytes::from_static(
            br#"{"Status":500,"Message":"The mock built an invalid response header.","WasSuccessful":false}"#,
        )));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    let Ok(status) = hyper::StatusCode::from_u16(resp.status) else {
        return invalid();
    };
    let mut headers =
        hyper::HeaderMap::with_capacity(resp.headers.len() + resp.extra_headers.len() + 1);
    for (name, value) in resp.headers {
        match (header_name(name), header_value(value)) {
            (Some(name), Some(value)) => headers.append(name, value),
            _ => return invalid(),
        };
    }
    for (name, value) in resp.extra_headers {
        match (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            header_value(value.into()),
        ) {
            (Ok(name), Some(value)) => headers.append(name, value),
            _ => return invalid(),
        };
    }
    let body = if truncated {
        headers.insert(hyper::header::CONTENT_LENGTH, resp.body.len().into());
        WireBody::truncated(resp.body)
    } else {
        WireBody::full(resp.body)
    };
    let mut r = hyper::Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// The request id's header, read from requests and written on every response.
const X_REQUEST_ID: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("x-request-id");

/// The name of a header the mock writes: a constant for the common ones.
fn header_name(name: &'static str) -> Option<hyper::header::HeaderName> {
    use hyper::header::{self, HeaderName};
    Some(match name {
        "content-type" => header::CONTENT_TYPE,
        "x-request-id" => X_REQUEST_ID,
        "access-control-allow-origin" => header::ACCESS_CONTROL_ALLOW_ORIGIN,
        "access-control-expose-headers" => header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "access-control-allow-credentials" => header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        "vary" => header::VARY,
        "allow" => header::ALLOW,
        "www-authenticate" => header::WWW_AUTHENTICATE,
        other => return HeaderName::from_bytes(other.as_bytes()).ok(),
    })
}

/// A header value; one borrowed from the binary is used without a copy, and the
/// values most answers carry were checked when the mock was built (checking the
/// CORS exposed-headers list byte by byte on every answer showed in profiles).
fn header_value(value: std::borrow::Cow<'static, str>) -> Option<hyper::header::HeaderValue> {
    use hyper::header::HeaderValue;
    match value {
        // Paths, so that each arm names a constant and can never become a binding.
        std::borrow::Cow::Borrowed(s) => Some(match s {
            types::JSON => const { HeaderValue::from_static(types::JSON) },
            self::CORS_EXPOSE_HEADERS => const { HeaderValue::from_static(CORS_EXPOSE_HEADERS) },
            "*" => const { HeaderValue::from_static("*") },
            "Origin" => const { HeaderValue::from_static("Origin") },
            other => HeaderValue::from_maybe_shared(Bytes::from_static(other.as_bytes())).ok()?,
        }),
        std::borrow::Cow::Owned(s) => HeaderValue::from_maybe_shared(Bytes::from(s)).ok(),
    }
}
