//! The request journal behind `GET /__admin/requests`: the most recent requests
//! (method, path, query, status, time, duration, request id, a masked body), kept
//! in a bounded ring. Secrets never enter it: the Authorization value, every
//! `EncryptedValue`, and passwords and tokens in forms and query strings are masked
//! before an entry is stored.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::query::{IntegerText, integer_text};
use crate::resource::{FieldError, msg};

/// Shown in place of a secret.
pub const MASK: &str = "***";
/// The most body bytes an entry keeps.
const MAX_BODY: usize = 4096;
/// Form and query keys whose values are secrets: credentials, and the EncryptedValue
/// filter, whose value is (part of) an encrypted value.
const SECRET_KEYS: [&str; 6] = [
    "password",
    "refresh_token",
    "access_token",
    "client_secret",
    "token",
    crate::query::P_ENCRYPTED,
];

/// One request as the journal keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    /// The `X-Request-Id` the response carried.
    pub id: String,
    /// When the request arrived; written as RFC 3339 UTC with milliseconds (only
    /// when the journal is read, not on every request).
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: chrono::DateTime<chrono::Utc>,
    pub method: Cow<'static, str>,
    pub path: String,
    /// The query string with secrets masked.
    pub query: String,
    /// The status sent; null when a fault sent none.
    pub status: Option<u16>,
    pub duration_ms: f64,
    pub origin: Option<String>,
    /// The Authorization scheme only (`Bearer ***`), never the credential.
    pub authorization: Option<Cow<'static, str>>,
    /// The request body with secrets masked: JSON, a form as an object, or a note.
    pub body: Option<Shown>,
    /// The fault injected (`reset`, `empty`, `truncated`, `error-rate`, `code`).
    pub fault: Option<String>,
}

fn rfc3339_millis<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The bounded ring of entries. A std mutex: pushes and reads are short and never await.
pub struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<Entry>>,
}

/// `?method=&path=&limit=` on `GET /__admin/requests`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    pub method: Option<String>,
    /// Exact path, or a prefix when it ends with `*`.
    pub path: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    pub fn parse(query: &str) -> Result<Filter, Vec<FieldError>> {
        let mut f = Filter::default();
        let mut errors = vec![];
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let bad = |msg: &str| FieldError::new(&k, Value::String(v.to_string()), msg);
            match k.as_ref() {
                // A blank text filter means no filter, as on the API's list; a blank
                // limit is a bad number there as `page=` is on the list.
                "method" | "path" if v.is_empty() => {}
                "method" if !v.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    errors.push(bad("must be an HTTP method such as GET or POST"))
                }
                "method" => f.method = Some(v.to_ascii_uppercase()),
                "path" if !v.starts_with('/') => errors.push(bad(
                    "must be a path starting with '/'; end it with '*' to match a prefix",
                )),
                "path" => f.path = Some(v.into_owned()),
                "limit" => match integer_text(&v) {
                    IntegerText::Int(n) if n >= 1 => {
                        f.limit = Some(usize::try_from(n).unwrap_or(usize::MAX))
                    }
                    IntegerText::OutOfRange => errors.push(bad(msg::POSITIVE_OUT_OF_RANGE)),
                    _ => errors.push(bad(msg::PAGE)),
                },
                _ => errors.push(bad("is not a filter; use method, path or limit")),
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }

    fn matches(&self, e: &Entry) -> bool {
        self.method.as_deref().is_none_or(|m| e.method == m)
            && self
                .path
                .as_deref()
                .is_none_or(|p| match p.strip_suffix('*') {
                    Some(prefix) => e.path.starts_with(prefix),
                    None => e.path == p,
                })
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let dropped = {
            let mut entries = self.lock();
            // At most one: every push keeps the ring within its capacity.
            let dropped = if entries.len() >= self.capacity {
                entries.pop_front()
            } else {
                None
            };
            entries.push_back(entry);
            dropped
        };
        // The oldest entry's memory is freed after the lock is released.
        drop(dropped);
    }

    /// Matching entries, newest first.
    pub fn query(&self, f: &Filter) -> Vec<Entry> {
        let entries = self.lock();
        entries
            .iter()
            .rev()
            .filter(|e| f.matches(e))
            .take(f.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) -> usize {
        let mut entries = self.lock();
        let n = entries.len();
        entries.clear();
        n
    }
}

/// `Bearer ***`: the scheme tells a developer what was sent, the credential never shows.
pub fn mask_authorization(value: Option<&[u8]>) -> Option<Cow<'static, str>> {
    let v = String::from_utf8_lossy(value?);
    Some(match v.trim().split_once(' ') {
        // The usual schemes as sent cost no allocation per request.
        Some(("Bearer", _)) => Cow::Borrowed("Bearer ***"),
        Some(("Basic", _)) => Cow::Borrowed("Basic ***"),
        Some((scheme, _)) if !scheme.is_empty() => Cow::Owned(format!("{scheme} {MASK}")),
        _ => Cow::Borrowed(MASK),
    })
}

fn is_secret_key(k: &str) -> bool {
    SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s))
}

/// A query or form string with the values of secret keys replaced.
pub fn mask_query(query: &str) -> String {
    if !crate::query::query_keys(query).any(|k| is_secret_key(&k)) {
        return query.to_string();
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        out.append_pair(&k, if is_secret_key(&k) { MASK } else { &v });
    }
    out.finish()
}

/// A request body as an entry keeps it: JSON text rather than a tree, so keeping
/// and dropping it is one allocation, not one per field.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Shown(Box<RawValue>);

impl Shown {
    fn of(v: &Value) -> Self {
        Shown(RawValue::from_string(v.to_string()).expect("a Value serialises to JSON"))
    }

    /// The body as a JSON value, for reading it back.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// Words that a secret's key contains, ASCII case aside (see `SECRET_KEYS`).
const SECRET_WORDS: [&[u8]; 4] = [b"encryptedvalue", b"password", b"token", b"client_secret"];

/// The body as the journal keeps it ([`mask_body`], at most `MAX_BODY` bytes as
/// sent). JSON that names no secret and has no escapes (where a key could hide one)
/// is kept as sent, checked but not parsed into a tree: a create's body costs the
/// journal a scan and a copy.
pub fn journal_body(body: &[u8], content_type: Option<&str>) -> Option<Shown> {
    if body.is_empty() {
        return None;
    }
    if body.len() > MAX_BODY {
        return Some(Shown::of(&Value::String(format!(
            "<{} bytes, too long to keep>",
            body.len()
        ))));
    }
    let plain = !is_form(content_type) && !body.contains(&b'\\') && !names_a_secret(body);
    if plain
        && let Ok(text) = std::str::from_utf8(body)
        && let Ok(raw) = serde_json::from_str::<&RawValue>(text)
    {
        return Some(Shown(raw.to_owned()));
    }
    mask_body(body, content_type).map(|v| Shown::of(&v))
}

/// Whether any of [`SECRET_WORDS`] appears in `body`, in any case: one pass, with
/// a word compared only where a byte could start one.
fn names_a_secret(body: &[u8]) -> bool {
    (0..body.len()).any(|i| {
        let first = body[i].to_ascii_lowercase();
        SECRET_WORDS.iter().any(|w| {
            w[0] == first
                && body
                    .get(i..i + w.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(w))
        })
    })
}

/// Whether the body is a form (`application/x-www-form-urlencoded`, any case,
/// parameters allowed).
fn is_form(content_type: Option<&str>) -> bool {
    const FORM: &str = "application/x-www-form-urlencoded";
    content_type
        .and_then(|ct| ct.get(..FORM.len()))
        .is_some_and(|p| p.eq_ignore_ascii_case(FORM))
}

/// The body as the journal keeps it: JSON with every `EncryptedValue` (at any depth)
/// masked, a form as an object with secrets masked, anything else as a note only,
/// since text that does not parse cannot be masked reliably.
pub fn mask_body(body: &[u8], content_type: Option<&str>) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    if is_form(content_type) {
        let map: serde_json::Map<String, Value> = form_urlencoded::parse(body)
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    MASK.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), Value::String(v))
            })
            .collect();
        return Some(Value::Object(map));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            mask_json(&mut v);
            if v.to_string().len() > MAX_BODY {
                return Some(Value::String(format!(
                    "<{} bytes of JSON, too long to keep>",
                    body.len()
                )));
            }
            Some(v)
        }
        Err(_) => Some(Value::String(format!(
            "<{} bytes, not shown: not valid JSON>",
            body.len()
        ))),
    }
}

/// Masks every `EncryptedValue` and secret-named key, at any depth.
pub fn mask_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.eq_ignore_ascii_case("EncryptedValue") || is_secret_key(k) {
                    if !val.is_null() {
                        *val = Value::String(MASK.into());
                    }
                } else {
                    mask_json(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_word_is_found_in_any_case_and_anywhere() {
        for body in [
            &b"{\"EncryptedValue\":\"x\"}"[..],
            b"{\"a\":1,\"PASSWORD\":2}",
            b"token",
            b"x=1&client_SECRET=2",
            b"{\"x\":\"ends in Token\"}",
        ] {
            assert!(names_a_secret(body), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &b"{\"CoworkerId\":1,\"Name\":\"tok\",\"Value\":\"passwor\"}"[..],
            b"",
            b"encryptedvalu",
            b"client-secret",
        ] {
            assert!(!names_a_secret(body), "{}", String::from_utf8_lossy(body));
        }
    }

    fn entry(method: &str, path: &str) -> Entry {
        Entry {
            id: "x".into(),
            time: chrono::Utc::now(),
            method: method.to_string().into(),
            path: path.into(),
            query: String::new(),
            status: Some(200),
            duration_ms: 0.0,
            origin: None,
            authorization: None,
            body: None,
            fault: None,
        }
    }

    #[test]
    fn the_journal_keeps_only_the_newest_entries() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(entry("GET", &format!("/p{i}")));
        }
        let all: Vec<_> = j
            .query(&Filter::default())
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(all, vec!["/p4", "/p3", "/p2"]);
        assert_eq!(j.clear(), 3);
        assert!(j.is_empty());
    }

    #[test]
    fn filters_match_method_and_exact_or_prefix_path() {
        let j = Journal::new(10);
        j.push(entry("GET", "/a"));
        j.push(entry("POST", "/a/b"));
        j.push(entry("GET", "/a/b"));
        let f = Filter::parse("method=get&path=/a/b").unwrap();
        assert_eq!(j.query(&f).len(), 1);
        assert_eq!(j.query(&Filter::parse("path=/a*").unwrap()).len(), 3);
        assert_eq!(j.query(&Filter::parse("limit=2").unwrap()).len(), 2);
        for bad in [
            "method=G%20T",
            "path=a",
            "limit=0",
            "limit=x",
            "limit=18446744073709551616",
            "limit=",
            "colour=red",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        // A blank value is no filter, as on the API's list.
        assert_eq!(Filter::parse("method=&path=").unwrap(), Filter::default());
    }

    proptest::proptest! {
        /// 500 cases: the journal's body, kept as sent when it names no secret,
        /// reads back as the masked body would, whatever keys (secret ones in any
        /// case, escaped ones, nested ones) and content type it has.
        #[test]
        fn a_journal_body_reads_back_as_the_masked_body(
            fields in proptest::collection::vec((
                proptest::sample::select(vec![
                    "Name", "Value", "EncryptedValue", "encryptedVALUE", "Password", "token",
                    "access_token", "client_secret", "CoworkerSetting_EncryptedValue",
                    "\\u0045ncryptedValue", "Tok\\u0065n", "Nested", "x",
                ]),
                proptest::sample::select(vec![
                    "\"s3cret\"", "null", "1", "[1,{\"EncryptedValue\":\"y\"}]",
                    "{\"Token\":\"t\",\"a\":\"b\"}", "\"a\\\"b\"", "true",
                ]),
            ), 0..5),
            form in proptest::bool::ANY,
            broken in proptest::bool::ANY,
        ) {
            let mut body = String::from("{");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&format!("\"{k}\":{v}"));
            }
            if !broken {
                body.push('}');
            }
            let ct = if form { Some("application/x-www-form-urlencoded") } else { Some("application/json") };
            let kept = journal_body(body.as_bytes(), ct).map(|s| s.value());
            proptest::prop_assert_eq!(kept, mask_body(body.as_bytes(), ct), "{}", body);
        }
    }

    #[test]
    fn every_secret_key_contains_a_secret_word() {
        // The journal keeps a body as sent only when no secret word appears in it, so
        // every key that is masked must contain one.
        for key in SECRET_KEYS.iter().chain(&["EncryptedValue"]) {
            let key = key.to_ascii_lowercase();
            assert!(
                SECRET_WORDS
                    .iter()
                    .any(|w| key.as_bytes().windows(w.len()).any(|x| x == *w)),
                "{key}"
            );
        }
        assert!(is_form(Some(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8"
        )));
        assert!(!is_form(Some("application/json")) && !is_form(Some("appl")) && !is_form(None));
    }

    #[test]
    fn a_body_longer_than_an_entry_keeps_is_a_note() {
        let long = format!("{{\"Name\":\"{}\"}}", "x".repeat(MAX_BODY));
        let kept = journal_body(long.as_bytes(), None).unwrap().value();
        assert_eq!(
            kept,
            Value::String(format!("<{} bytes, too long to keep>", long.len()))
        );
        let plain = br#"{ "Name" : "n",  "Value": 1 }"#;
        assert_eq!(
            serde_json::to_string(&journal_body(plain, None)).unwrap(),
            r#"{ "Name" : "n",  "Value": 1 }"#,
            "a body that names no secret is kept as sent"
        );
    }

    #[test]
    fn secrets_are_masked_everywhere() {
        assert_eq!(
            mask_authorization(Some(b"Bearer admin-token")).unwrap(),
            "Bearer ***"
        );
        assert_eq!(mask_authorization(Some(b"garbage")).unwrap(), "***");
        let q = mask_query("username=a%40b.c&password=hunter2&page=1");
        assert!(!q.contains("hunter2") && q.contains("page=1"), "{q}");
        let form = mask_body(
            b"grant_type=password&username=a&password=hunter2",
            Some("application/x-www-form-urlencoded"),
        )
        .unwrap();
        assert_eq!(form["password"], "***");
        let j = mask_body(
            br#"{"Name":"n","EncryptedValue":"s3cret","Nested":[{"encryptedvalue":"x"}]}"#,
            Some("application/json"),
        )
        .unwrap();
        assert!(!j.to_string().contains("s3cret") && !j.to_string().contains("\"x\""));
        assert_eq!(j["Name"], "n");
        let broken = mask_body(br#"{"EncryptedValue":"s3cret""#, None).unwrap();
        assert!(!broken.to_string().contains("s3cret"));
        assert_eq!(mask_body(b"", None), None);
        assert_eq!(
            mask_body(br#"{"EncryptedValue":null}"#, None).unwrap(),
            json!({"EncryptedValue": null})
        );
    }
}
