//! The violations store behind `GET /__admin/violations`: the most recent exchanges
//! that broke the contract, each with the request (credentials and encrypted values
//! masked), a response excerpt, what was found and expected, and a curl command that
//! sends the same request to the upstream. Kept in a bounded ring, like the journal.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};

use super::validate::Finding;
use crate::client::HttpRequest;
use crate::resource::FieldError;
use crate::server::api::validation_failed;
use crate::server::forward::ForwardRequest;
use crate::server::journal::{self, MASK};
use crate::server::types::{ApiRequest, ApiResponse, Method};

pub const PATH: &str = "/__admin/violations";
pub const ROUTES: [(&str, &str); 1] = [(PATH, "GET, DELETE, OPTIONS")];
/// The most characters of a response body an entry keeps.
const EXCERPT: usize = 2000;

/// The request of a violating exchange, as the store keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RequestShown {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

/// One violating exchange.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    /// The request id the response carried (and the journal shows).
    pub id: String,
    pub time: String,
    pub request: RequestShown,
    pub status: u16,
    pub response_excerpt: String,
    pub violations: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Sends the same request to the upstream; the credential is masked.
    pub curl: String,
}

impl Entry {
    pub fn new(
        req: &ForwardRequest,
        upstream: &str,
        status: u16,
        body: &[u8],
        violations: Vec<Finding>,
        warnings: Vec<Finding>,
    ) -> Self {
        let api = &req.api;
        Entry {
            id: req.request_id.clone(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            request: RequestShown {
                method: api.method_name.to_string(),
                path: api.path.clone(),
                query: journal::mask_query(&api.query),
                authorization: journal::mask_authorization(api.authorization.as_deref())
                    .map(std::borrow::Cow::into_owned),
                body: journal::mask_body(&api.body, api.content_type.as_deref()),
            },
            status,
            response_excerpt: excerpt(body),
            violations,
            warnings,
            curl: curl(req, upstream),
        }
    }
}

/// The response body with encrypted values masked, cut to a readable length.
fn excerpt(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            journal::mask_json(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let cut = crate::client::truncate(&text, EXCERPT);
    if cut.len() < text.len() {
        format!("{cut}… ({} bytes in all)", body.len())
    } else {
        text
    }
}

/// A curl command for the same request to the upstream: the headers that shape the
/// answer, the credential masked, secrets in the body masked.
fn curl(req: &ForwardRequest, upstream: &str) -> String {
    let api = &req.api;
    // The EncryptedValue filter's value is a secret, as in the journal.
    let target = match req.target.split_once('?') {
        Some((path, query)) => format!("{path}?{}", journal::mask_query(query)),
        None => req.target.clone(),
    };
    let mut r = HttpRequest::new(&api.method_name, target);
    for (k, v) in &req.headers {
        if ["authorization", "content-type", "prefer"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            r.headers.push((k.clone(), v.clone()));
        }
    }
    if !api.body.is_empty() {
        r.body = Some(
            match journal::mask_body(&api.body, api.content_type.as_deref()) {
                Some(Value::Object(form))
                    if api
                        .content_type
                        .as_deref()
                        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) =>
                {
                    let mut s = form_urlencoded::Serializer::new(String::new());
                    for (k, v) in &form {
                        s.append_pair(k, v.as_str().unwrap_or(MASK));
                    }
                    s.finish().into()
                }
                Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string().into(),
                _ => api.body.clone(),
            },
        );
    }
    r.to_curl(upstream, false)
}

/// The ring of recent violating exchanges.
pub struct Store {
    capacity: usize,
    /// std Mutex: held only to push, copy out or clear, never across an await.
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    /// Violating exchanges seen since start (or the last clear), kept or not.
    total: u64,
}

impl Store {
    pub fn new(capacity: usize) -> Self {
        Store {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, entry: Entry) {
        let mut inner = self.lock();
        inner.total += 1;
        if self.capacity == 0 {
            return;
        }
        while inner.entries.len() >= self.capacity {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    /// The newest `limit` entries, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Entry> {
        self.lock()
            .entries
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn clear(&self) -> usize {
        let mut inner = self.lock();
        let n = inner.entries.len();
        inner.entries.clear();
        inner.total = 0;
        n
    }

    /// Answers `GET` (optionally `?limit=N`) and `DELETE` on [`PATH`].
    pub fn handle(&self, req: &ApiRequest) -> ApiResponse {
        match req.method {
            Method::Get | Method::Head => {
                let mut limit = usize::MAX;
                for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
                    match (k.as_ref(), v.parse::<usize>()) {
                        ("limit", Ok(n)) if n >= 1 => limit = n,
                        _ => {
                            return validation_failed(&[FieldError::new(
                                &k,
                                Value::String(v.to_string()),
                                "is not a filter here; use limit (an integer of at least 1)",
                            )]);
                        }
                    }
                }
                let entries = self.recent(limit);
                let total = self.lock().total;
                ApiResponse::json(
                    200,
                    &json!({
                        "Violations": entries,
                        "Count": entries.len(),
                        "Total": total,
                        "Capacity": self.capacity,
                    }),
                )
            }
            Method::Delete => {
                let n = self.clear();
                ApiResponse::json(
                    200,
                    &json!({"Status": 200, "Message": format!("Cleared {n} violations."),
                            "Cleared": n, "WasSuccessful": true}),
                )
            }
            _ => ApiResponse::json(
                405,
                &crate::resource::error_body(
                    405,
                    &format!(
                        "{PATH} does not support http method '{}'. Allowed: {}.",
                        req.method_name, ROUTES[0].1
                    ),
                ),
            )
            .with_header("allow", ROUTES[0].1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn an_entry_masks_credentials_and_encrypted_values_everywhere() {
        let req = ForwardRequest {
            api: ApiRequest {
                method: Method::Put,
                method_name: "PUT".into(),
                path: crate::resource::BASE_PATH.into(),
                query: String::new(),
                authorization: Some(b"Bearer s3cret-token".to_vec()),
                content_type: Some("application/json".into()),
                origin: None,
                body: Bytes::from_static(br#"{"Id":1,"EncryptedValue":"cipher-in"}"#),
            },
            target: format!(
                "{}?CoworkerSetting_EncryptedValue=cipher-q",
                crate::resource::BASE_PATH
            ),
            headers: vec![
                ("authorization".into(), "Bearer s3cret-token".into()),
                ("content-type".into(), "application/json".into()),
                ("cookie".into(), "session=abc".into()),
            ],
            request_id: "r1".into(),
        };
        let e = Entry::new(
            &req,
            "http://up",
            200,
            br#"{"EncryptedValue":"cipher-out"}"#,
            vec![],
            vec![],
        );
        let text = serde_json::to_string(&e).unwrap();
        for secret in [
            "s3cret-token",
            "cipher-in",
            "cipher-out",
            "cipher-q",
            "session=abc",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            e.curl
                .starts_with("curl -sS -X PUT 'http://up/api/spaces/coworkersettings?"),
            "{}",
            e.curl
        );
        assert!(e.curl.contains("Bearer ***"), "{}", e.curl);
        let store = Store::new(2);
        for _ in 0..3 {
            store.push(e.clone());
        }
        assert_eq!(store.recent(10).len(), 2);
        assert_eq!(store.lock().total, 3);
    }
}
