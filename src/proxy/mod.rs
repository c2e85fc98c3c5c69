//! `nexudus-mock proxy`: a validating proxy in front of any implementation (a staging
//! server, the vendor's API, this mock). Every request is forwarded unchanged through
//! the crate's shared client and the answer relayed unchanged; on the way each
//! exchange is validated with what `check` knows, violations are reported (log line,
//! `X-Contract-Violations`, `GET /__admin/violations`), and with `--record DIR` the
//! records seen are written as fixtures that `serve --fixtures DIR` replays.
//!
//! The HTTP side is the server's own (accept loop, limits, CORS, journal, log line):
//! the proxy plugs in as its [`Forwarder`].
//!
//! - [`forward`]: the upstream request, the relayed answer, 502/504 when the upstream fails.
//! - [`validate`]: the findings for one exchange.
//! - [`record`]: the recorded records and their fixture file.
//! - [`violations`]: the store behind `/__admin/violations`.

pub mod forward;
pub mod record;
pub mod validate;
pub mod violations;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use thiserror::Error;

use crate::client::HttpClient;
use crate::fixtures::Fixtures;
use crate::server::forward::{BoxFuture, ContractNote, ForwardRequest, Forwarded, Forwarder};
use crate::server::types::{ApiRequest, ApiResponse, Method};
use crate::server::{App, ServerConfig};
use record::{RecordError, Recorder};
use validate::{Endpoint, Exchange, Finding, Severity};

pub const VIOLATIONS_HEADER: &str = "x-contract-violations";
pub const WARNINGS_HEADER: &str = "x-contract-warnings";

/// A checked `proxy` configuration.
#[derive(Clone)]
pub struct ProxyConfig {
    /// The shared client, pointed at the upstream, with its timeout per call.
    pub client: HttpClient,
    /// Record every record returned into this directory.
    pub record: Option<PathBuf>,
    /// Answer a violating exchange with 502 and the violations.
    pub fail_on_violation: bool,
    /// Count differences from choices the docs leave open as violations.
    pub strict: bool,
    /// Violating exchanges `/__admin/violations` keeps.
    pub violations_kept: usize,
}

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot set up the proxy: {0}")]
    App(String),
}

/// The forwarder: the client, what it found and what it recorded.
pub struct Proxy {
    client: HttpClient,
    recorder: Option<Recorder>,
    violations: violations::Store,
    fail_on_violation: bool,
    strict: bool,
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Result<Self, ProxyError> {
        crate::schemas::init();
        let recorder = config.record.as_deref().map(Recorder::open).transpose()?;
        Ok(Proxy {
            client: config.client,
            recorder,
            violations: violations::Store::new(config.violations_kept),
            fail_on_violation: config.fail_on_violation,
            strict: config.strict,
        })
    }

    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    async fn handle(&self, req: ForwardRequest) -> Forwarded {
        let upstream = forward::upstream_request(&req);
        let resp = match self.client.send(&upstream).await {
            Ok(r) => r,
            Err(e) => {
                return Forwarded {
                    response: forward::upstream_failed(&self.client, &e),
                    contract: None,
                };
            }
        };
        let api = &req.api;
        let mut response = forward::relay(api.method, &resp);
        let endpoint = match api.method {
            // No body to check, and a preflight is not part of the contract.
            Method::Head | Method::Options => Endpoint::Other,
            _ => Endpoint::of(&api.method_name, &api.path, &api.query),
        };
        if endpoint == Endpoint::Other {
            return Forwarded {
                response,
                contract: None,
            };
        }
        let json: Option<Value> = serde_json::from_slice(&resp.body).ok();
        let exchange = Exchange {
            endpoint,
            query: &api.query,
            has_credentials: api.authorization.as_ref().is_some_and(|a| !a.is_empty()),
            status: resp.status,
            content_type: resp.header("content-type"),
            content_encoding: resp.header("content-encoding"),
            body: &resp.body,
        };
        let findings = std::panic::catch_unwind(AssertUnwindSafe(|| {
            validate::exchange(&exchange, json.as_ref())
        }))
        .unwrap_or_else(|_| {
            tracing::error!(path = %api.path, query = %api.query, "validating an exchange panicked");
            vec![Finding {
                rule: "proxy.internal",
                severity: Severity::Warning,
                problem: "the proxy could not validate this exchange (an internal error, logged)"
                    .into(),
                expected: "a validated exchange".into(),
            }]
        });
        let findings = scrub(findings, &[json.as_ref(), request_json(api).as_ref()], api);
        self.record(endpoint, resp.status, json.as_ref()).await;

        let (violations, warnings): (Vec<Finding>, Vec<Finding>) = findings
            .into_iter()
            .partition(|f| f.severity == Severity::Violation || self.strict);
        let note = ContractNote {
            violations: violations.len(),
            warnings: warnings.len(),
            summary: summary(if violations.is_empty() {
                &warnings
            } else {
                &violations
            }),
        };
        if !violations.is_empty() {
            if self.fail_on_violation {
                response = failed_contract(&req, resp.status, &violations);
            }
            self.violations.push(violations::Entry::new(
                &req,
                self.client.base_url(),
                resp.status,
                &resp.body,
                violations,
                warnings,
            ));
        }
        response = response
            .with_header(VIOLATIONS_HEADER, note.violations.to_string())
            .with_header(WARNINGS_HEADER, note.warnings.to_string());
        Forwarded {
            response,
            contract: Some(note),
        }
    }

    /// Takes in the records of an answer and saves them before the response goes out,
    /// so a client that got its answer finds the data on disk.
    async fn record(&self, endpoint: Endpoint, status: u16, body: Option<&Value>) {
        let Some(rec) = &self.recorder else { return };
        if !rec.observe(endpoint, status, body) {
            return;
        }
        let rec = rec.clone();
        match tokio::task::spawn_blocking(move || rec.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not save the recorded records"),
            Err(e) => tracing::error!(error = %e, "saving the recorded records failed"),
        }
    }
}

fn request_json(api: &ApiRequest) -> Option<Value> {
    serde_json::from_slice(&api.body).ok()
}

/// Encrypted values (in the answer, the request body and the EncryptedValue filter)
/// never reach the log line or the violations store, whatever a message quotes:
/// schema errors and order problems quote the values they are about.
fn scrub(mut findings: Vec<Finding>, bodies: &[Option<&Value>], api: &ApiRequest) -> Vec<Finding> {
    if findings.is_empty() {
        return findings;
    }
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, val) in map {
                    match val {
                        Value::String(s) if k.eq_ignore_ascii_case("EncryptedValue") => {
                            out.push(s.clone())
                        }
                        _ => collect(val, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    let mut secrets = Vec::new();
    for body in bodies.iter().flatten() {
        collect(body, &mut secrets);
    }
    secrets.extend(
        form_urlencoded::parse(api.query.as_bytes())
            .filter(|(k, _)| k == crate::query::P_ENCRYPTED)
            .map(|(_, v)| v.into_owned()),
    );
    // Longest first, so a secret inside another is not left half shown.
    secrets.retain(|s| s.chars().count() >= 2);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mask = |text: &mut String| {
        for s in &secrets {
            let escaped = Value::String(s.clone()).to_string();
            let escaped = &escaped[1..escaped.len() - 1];
            for form in [escaped, s.as_str()] {
                if text.contains(form) {
                    *text = text.replace(form, crate::server::journal::MASK);
                }
            }
        }
    };
    for f in &mut findings {
        mask(&mut f.problem);
        mask(&mut f.expected);
    }
    findings
}

/// The first problems, short, for one log line.
fn summary(findings: &[Finding]) -> String {
    let mut parts: Vec<String> = findings
        .iter()
        .take(3)
        .map(|f| format!("{}: {}", f.rule, crate::client::truncate(&f.problem, 160)))
        .collect();
    if findings.len() > 3 {
        parts.push(format!("and {} more", findings.len() - 3));
    }
    parts.join("; ")
}

/// `--fail-on-violation`: the violations instead of the upstream's answer.
fn failed_contract(
    req: &ForwardRequest,
    upstream_status: u16,
    violations: &[Finding],
) -> ApiResponse {
    let first = violations
        .first()
        .map(|f| format!("{}: {}", f.rule, f.problem))
        .unwrap_or_default();
    let message = format!(
        "The upstream's answer (HTTP {upstream_status}) broke the API contract ({} violation{}); first: {first}",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" }
    );
    ApiResponse::raw_json(
        502,
        Bytes::from(
            json!({
                "Status": 502,
                "Message": message,
                "UpstreamStatus": upstream_status,
                "RequestId": req.request_id,
                "Violations": violations,
                "WasSuccessful": false,
            })
            .to_string(),
        ),
    )
}

impl Forwarder for Proxy {
    fn forward(&self, req: ForwardRequest) -> BoxFuture<'_, Forwarded> {
        Box::pin(self.handle(req))
    }

    fn admin(&self, path: &str, req: &ApiRequest) -> Option<ApiResponse> {
        (path == violations::PATH).then(|| self.violations.handle(req))
    }

    fn admin_routes(&self) -> &'static [(&'static str, &'static str)] {
        &violations::ROUTES
    }
}

/// The server, set up as the proxy: no records or users of its own, every API
/// request forwarded.
pub fn app(config: ProxyConfig, server: ServerConfig) -> Result<(App, Arc<Proxy>), ProxyError> {
    let proxy = Arc::new(Proxy::new(config)?);
    let app = App::new(
        Fixtures {
            records: vec![],
            users: vec![],
        },
        server,
    )
    .map_err(|e| ProxyError::App(e.to_string()))?
    .with_forwarder(proxy.clone());
    Ok((app, proxy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::types::Method;

    #[test]
    fn encrypted_values_quoted_by_a_finding_are_masked() {
        let api = ApiRequest {
            method: Method::Get,
            method_name: "GET".into(),
            path: crate::resource::BASE_PATH.into(),
            query: "orderBy=EncryptedValue&CoworkerSetting_EncryptedValue=filter-secret".into(),
            authorization: None,
            content_type: None,
            origin: None,
            body: Bytes::new(),
        };
        let answer = json!({"Records": [{"Id": 1, "EncryptedValue": "zz\"top"}, {"Id": 2, "EncryptedValue": "aa-secret"}]});
        let finding = Finding {
            rule: "list.order",
            severity: Severity::Violation,
            problem:
                r#"Id 1 (EncryptedValue "zz\"top") comes before Id 2 (EncryptedValue "aa-secret")"#
                    .into(),
            expected: "only records matching filter-secret".into(),
        };
        let out = scrub(vec![finding], &[Some(&answer)], &api);
        assert_eq!(
            out[0].problem,
            r#"Id 1 (EncryptedValue "***") comes before Id 2 (EncryptedValue "***")"#
        );
        assert_eq!(out[0].expected, "only records matching ***");
    }
}
