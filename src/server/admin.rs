//! The admin API under `/__admin` (WireMock's prefix): reset, snapshot, replace the
//! fixtures, the request journal, health and the OpenAPI document. Open on loopback
//! unless `--admin-token` is set; with a token every route needs
//! `Authorization: Bearer <token>`.

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::fixtures;
use crate::resource::{FieldError, error_body};
use crate::server::App;
use crate::server::api::{not_found, validation_failed};
use crate::server::forward::STORE_ROUTES;
use crate::server::frontend;
use crate::server::journal::Filter;
use crate::server::types::{ApiRequest, ApiResponse, Method};

pub const PREFIX: &str = "/__admin";

/// Every admin route and the methods it answers, for 404s, `Allow` and the docs.
pub const ROUTES: [(&str, &str); 6] = [
    ("/__admin/reset", "POST, OPTIONS"),
    ("/__admin/snapshot", "GET, OPTIONS"),
    ("/__admin/fixtures", "PUT, OPTIONS"),
    ("/__admin/requests", "GET, DELETE, OPTIONS"),
    ("/__admin/health", "GET, OPTIONS"),
    ("/__admin/openapi.json", "GET, OPTIONS"),
];

pub fn is_admin_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/__admin/")
}

fn success(message: &str, extra: Value) -> Value {
    let mut v = json!({"Status": 200, "Message": message, "WasSuccessful": true});
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

fn check_token(app: &App, req: &ApiRequest) -> Result<(), ApiResponse> {
    let Some(token) = &app.frontend.config.admin_token else {
        return Ok(());
    };
    let sent = req
        .authorization
        .as_deref()
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match sent {
        Some(t) if bool::from(t.as_bytes().ct_eq(token.as_bytes())) => Ok(()),
        _ => Err(ApiResponse::json(
            401,
            &error_body(
                401,
                if sent.is_none() {
                    "The admin API needs the admin token: send 'Authorization: Bearer <token>' with the value given to --admin-token."
                } else {
                    "The admin token is not valid."
                },
            ),
        )
        .with_header("www-authenticate", "Bearer realm=\"nexudus-mock-admin\"")),
    }
}

/// Answers a request under `/__admin`.
pub fn handle(app: &App, req: &ApiRequest) -> ApiResponse {
    let path = req.path.strip_suffix('/').unwrap_or(&req.path);
    let allow = ROUTES.iter().find(|(p, _)| *p == path).map(|(_, a)| *a);
    let unknown = || {
        let extra = app.forwarder.as_ref().map_or(&[][..], |f| f.admin_routes());
        let known: Vec<&str> = ROUTES
            .iter()
            .chain(extra)
            .map(|(p, _)| *p)
            .filter(|p| app.forwarder.is_none() || !STORE_ROUTES.contains(p))
            .collect();
        not_found(&format!(
            "No admin route is at {}. Admin routes: {}.",
            req.path,
            known.join(", ")
        ))
    };
    // A preflight carries no credentials, so OPTIONS is answered before the token
    // check; an unknown path gets its 404 rather than a list of methods it lacks.
    if req.method == Method::Options {
        return match allow {
            Some(allow) => ApiResponse::empty(204).with_header("allow", allow),
            None => unknown(),
        };
    }
    if let Err(resp) = check_token(app, req) {
        return resp;
    }
    if let Some(forwarder) = &app.forwarder {
        if let Some(resp) = forwarder.admin(path, req) {
            return resp;
        }
        if STORE_ROUTES.contains(&path) {
            return not_found(&format!(
                "{path} works on the mock's records; the proxy keeps none (it forwards every request)."
            ));
        }
    }
    let Some(allow) = allow else {
        return unknown();
    };
    let method = if req.method == Method::Head {
        Method::Get
    } else {
        req.method
    };
    let result = match (path, method) {
        ("/__admin/reset", Method::Post) => reset(app),
        ("/__admin/snapshot", Method::Get) => Ok(snapshot(app)),
        ("/__admin/fixtures", Method::Put) => put_fixtures(app, req),
        ("/__admin/requests", Method::Get) => requests(app, req),
        ("/__admin/requests", Method::Delete) => {
            let n = app.frontend.journal.clear();
            Ok(ApiResponse::json(
                200,
                &success(
                    &format!("Cleared {n} journal entries."),
                    json!({"Cleared": n}),
                ),
            ))
        }
        ("/__admin/health", Method::Get) => Ok(health(app)),
        ("/__admin/openapi.json", Method::Get) => {
            Ok(ApiResponse::json(200, &crate::openapi::document()))
        }
        _ => Err(ApiResponse::json(
            405,
            &error_body(
                405,
                &format!(
                    "{} does not support http method '{}'. Allowed: {allow}.",
                    path, req.method_name
                ),
            ),
        )
        .with_header("allow", allow)),
    };
    result.unwrap_or_else(|e| e)
}

fn reset(app: &App) -> Result<ApiResponse, ApiResponse> {
    let n = app.reset_records()?;
    let cleared = app.frontend.journal.clear();
    Ok(ApiResponse::json(
        200,
        &success(
            &format!("Reset to {n} records; the journal was cleared."),
            json!({"Records": n, "JournalCleared": cleared}),
        ),
    ))
}

fn snapshot(app: &App) -> ApiResponse {
    ApiResponse::json(
        200,
        &serde_json::to_value(app.store.snapshot()).expect("records serialise"),
    )
}

/// Validated exactly like a fixtures file, and applied with one swap: a bad file
/// changes nothing.
fn put_fixtures(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiResponse> {
    let text = std::str::from_utf8(&req.body).map_err(|_| {
        validation_failed(&[FieldError::body(
            "the request body is not valid UTF-8; send the records as a JSON array",
        )])
    })?;
    if text.trim().is_empty() {
        return Err(validation_failed(&[FieldError::body(
            "the request body is empty; send the records as a JSON array (the format GET /__admin/snapshot returns)",
        )]));
    }
    let records = fixtures::parse_records(text, "request body")
        .map_err(|e| validation_failed(&[FieldError::body(e.to_string())]))?;
    let n = app.load_records(records)?;
    tracing::info!(records = n, "fixtures replaced through the admin API");
    Ok(ApiResponse::json(
        200,
        &success(
            &format!("Loaded {n} records; a reset now returns to them."),
            json!({"Records": n}),
        ),
    ))
}

fn requests(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiResponse> {
    let filter = Filter::parse(&req.query).map_err(|e| validation_failed(&e))?;
    let journal = &app.frontend.journal;
    let entries = journal.query(&filter);
    Ok(ApiResponse::json(
        200,
        &json!({
            "Requests": entries,
            "Count": entries.len(),
            "Capacity": journal.capacity(),
        }),
    ))
}

fn health(app: &App) -> ApiResponse {
    let mut v = json!({
        "Status": "ok",
        "Version": env!("CARGO_PKG_VERSION"),
        "Records": app.store.len(),
        "UptimeSeconds": app.frontend.uptime().as_secs(),
        "JournalEntries": app.frontend.journal.len(),
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, frontend::describe(app)) {
        m.extend(e);
    }
    ApiResponse::json(200, &v)
}
