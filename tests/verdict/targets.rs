//! Implementations other than the mock, each the mock behind a `Layer`: conformant
//! ones that choose differently where the docs leave a choice open, and broken ones
//! with one fault the docs rule out. Kept apart from the tests that run them so a
//! new target is one function and one table row.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::server::types::{ApiRequest, ApiResponse, Method};
use nexudus_mock::server::{App, Layer, api};
use serde_json::{Value, json};

pub fn layer(f: impl Fn(&App, &ApiRequest) -> ApiResponse + Send + Sync + 'static) -> Layer {
    Arc::new(f)
}

// ---- small tools ----

pub fn json_of(resp: &ApiResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
}

pub fn with_json(mut resp: ApiResponse, v: &Value) -> ApiResponse {
    resp.body = Bytes::from(v.to_string());
    resp
}

fn body_json(req: &ApiRequest) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

fn with_body(req: &ApiRequest, v: &Value) -> ApiRequest {
    let mut req = req.clone();
    req.body = Bytes::from(v.to_string());
    req
}

fn pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn param(q: &str, name: &str) -> Option<String> {
    pairs(q)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn is_list(req: &ApiRequest) -> bool {
    req.method == Method::Get
        && req.path.trim_end_matches('/') == BASE_PATH
        && !req.query.contains("id=")
}

fn is_batch(req: &ApiRequest) -> bool {
    req.method == Method::Get
        && req.path.trim_end_matches('/') == BASE_PATH
        && req.query.contains("id=")
}

fn error(status: u16, message: &str) -> ApiResponse {
    ApiResponse::json(status, &json!({"Status": status, "Message": message}))
}

fn get_as_admin(app: &App, path: String, query: String) -> Value {
    let req = ApiRequest {
        method: Method::Get,
        method_name: "GET".into(),
        path,
        query,
        authorization: Some(b"Bearer admin-token".to_vec()),
        content_type: None,
        origin: None,
        body: Bytes::new(),
    };
    let resp = api::handle(app, &req);
    if resp.status == 200 {
        json_of(&resp)
    } else {
        Value::Null
    }
}

/// Answers a list as the mock would, then re-sorts the whole result with `cmp`
/// (field values, ascending flag, records) and cuts the asked page from it.
fn relist(
    app: &App,
    req: &ApiRequest,
    cmp: fn(&Value, &Value, &str, bool) -> Ordering,
) -> ApiResponse {
    let resp = api::handle(app, req);
    if !is_list(req) || resp.status != 200 {
        return resp;
    }
    let q = pairs(&req.query);
    let page: usize = param(&req.query, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let size: usize = param(&req.query, "size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25);
    let field = param(&req.query, "orderBy").unwrap_or_else(|| "Id".into());
    let ascending = param(&req.query, "dir").as_deref() != Some("-1");
    let mut all_q: Vec<(String, String)> = q
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "size")
        .collect();
    all_q.push(("page".into(), "1".into()));
    all_q.push(("size".into(), "1000".into()));
    let all = get_as_admin(app, req.path.clone(), encode(&all_q));
    let mut records = all["Records"].as_array().cloned().unwrap_or_default();
    records.sort_by(|a, b| cmp(a, b, &field, ascending));
    let page_records: Vec<Value> = records
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let mut v = json_of(&resp);
    v["Records"] = Value::Array(page_records);
    with_json(resp, &v)
}

fn field_cmp(a: &Value, b: &Value, text: fn(&str, &str) -> Ordering) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) => text(x, y),
        _ => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
    }
}

fn folded(x: &str, y: &str) -> Ordering {
    x.to_lowercase().cmp(&y.to_lowercase())
}

fn code_point(x: &str, y: &str) -> Ordering {
    x.cmp(y)
}

/// Case-insensitive text, ties by Id descending under `dir=-1`.
fn ties_follow_direction(a: &Value, b: &Value, field: &str, asc: bool) -> Ordering {
    let o = field_cmp(&a[field], &b[field], folded).then(field_cmp(&a["Id"], &b["Id"], folded));
    if asc { o } else { o.reverse() }
}

/// Text by code point (`Beta` before `alpha`), ties by Id ascending.
fn code_point_text(a: &Value, b: &Value, field: &str, asc: bool) -> Ordering {
    let o = field_cmp(&a[field], &b[field], code_point);
    let o = if asc { o } else { o.reverse() };
    o.then(field_cmp(&a["Id"], &b["Id"], code_point))
}

/// JSON with every non-ASCII character written as a `\u` escape.
fn ascii_json(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// An HTML answer, as web servers and gateways give.
fn html(status: u16, body: Bytes) -> ApiResponse {
    let mut resp =
        ApiResponse::empty(status).with_header("content-type", "text/html; charset=utf-8");
    resp.body = body;
    resp
}

fn known_route(path: &str) -> bool {
    path == BASE_PATH || path.starts_with(&format!("{BASE_PATH}/")) || path == "/api/token"
}

// ---- conformant targets: the docs kept, a different choice where they are silent ----

pub fn conformant() -> Vec<(&'static str, Layer)> {
    vec![
        (
            "only the three documented endpoints",
            layer(|app, req| {
                if matches!(req.method, Method::Put | Method::Delete)
                    && known_route(&req.path)
                    && req.path != "/api/token"
                {
                    return error(405, "The requested resource does not support this method.")
                        .with_header("allow", "GET, POST");
                }
                if is_batch(req) || req.path == "/api/token" {
                    return error(
                        404,
                        "No HTTP resource was found that matches the request URI.",
                    );
                }
                api::handle(app, req)
            }),
        ),
        (
            "ties by Id descending under dir=-1",
            layer(|app, req| relist(app, req, ties_follow_direction)),
        ),
        (
            "text sorted by code point",
            layer(|app, req| relist(app, req, code_point_text)),
        ),
        (
            "other 400 message wording",
            layer(|app, req| {
                let resp = api::handle(app, req);
                if resp.status != 400 {
                    return resp;
                }
                let mut v = json_of(&resp);
                let mut parts = Vec::new();
                if let Some(errors) = v["Errors"].as_array_mut() {
                    for e in errors {
                        e["Message"] = json!("'The value is not valid.'");
                        parts.push(format!(
                            "{}: 'The value is not valid.'",
                            e["PropertyName"].as_str().unwrap_or_default()
                        ));
                    }
                }
                v["Message"] = json!(parts.join("\r\n"));
                with_json(resp, &v)
            }),
        ),
        (
            "an HTML 404 page for unknown paths",
            layer(|app, req| {
                if !known_route(&req.path) {
                    return html(404, Bytes::from_static(b"<!DOCTYPE html><html><body><h1>404 - File or directory not found.</h1></body></html>"));
                }
                api::handle(app, req)
            }),
        ),
        (
            "extra response headers",
            layer(|app, req| {
                api::handle(app, req)
                    .with_header("x-powered-by", "ASP.NET")
                    .with_header("cache-control", "no-cache, no-store")
                    .with_header("x-aspnet-version", "4.0.30319")
            }),
        ),
        (
            "\\u escapes instead of raw UTF-8",
            layer(|app, req| {
                let mut resp = api::handle(app, req);
                if let Ok(v) = serde_json::from_slice::<Value>(&resp.body) {
                    resp.body = Bytes::from(ascii_json(&v));
                }
                resp
            }),
        ),
        (
            "batch in Id order",
            layer(|app, req| {
                let resp = api::handle(app, req);
                if is_batch(req) && resp.status == 200 {
                    let mut v = json_of(&resp);
                    if let Some(a) = v.as_array_mut() {
                        a.sort_by_key(|x| x["Id"].as_i64());
                    }
                    return with_json(resp, &v);
                }
                resp
            }),
        ),
        (
            "empty filter value refused with 400",
            layer(|app, req| {
                if is_list(req) {
                    if let Some((k, _)) = pairs(&req.query).into_iter().find(|(k, v)| {
                        v.is_empty()
                            && (k.starts_with("CoworkerSetting_")
                                || k.contains("_CoworkerSetting_"))
                    }) {
                        return ApiResponse::json(
                            400,
                            &json!({"Message": format!("{k}: must not be empty"), "Value": null,
                        "Errors": [{"AttemptedValue": "", "Message": "must not be empty", "PropertyName": k}], "WasSuccessful": false}),
                        );
                    }
                }
                api::handle(app, req)
            }),
        ),
        (
            "an update keeps fields it does not name",
            layer(|app, req| {
                if req.method == Method::Put && req.path == BASE_PATH {
                    let mut b = body_json(req);
                    if let Some(id) = b["Id"].as_i64() {
                        let current = get_as_admin(app, format!("{BASE_PATH}/{id}"), String::new());
                        for field in ["Value", "EncryptedValue"] {
                            if b.get(field).is_none() && !current.is_null() {
                                b[field] = current[field].clone();
                            }
                        }
                        return api::handle(app, &with_body(req, &b));
                    }
                }
                api::handle(app, req)
            }),
        ),
        (
            "Names unique ignoring case",
            layer(|app, req| {
                if matches!(req.method, Method::Post | Method::Put) && req.path == BASE_PATH {
                    let body = body_json(req);
                    if let (Some(c), Some(name)) =
                        (body["CoworkerId"].as_i64(), body["Name"].as_str())
                    {
                        let same = get_as_admin(
                            app,
                            BASE_PATH.into(),
                            format!("size=1000&CoworkerSetting_Coworker={c}"),
                        );
                        let clash = same["Records"].as_array().into_iter().flatten().any(|r| {
                            r["Name"].as_str().is_some_and(|n| {
                                n.to_lowercase() == name.to_lowercase() && n != name
                            }) && r["Id"] != body["Id"]
                        });
                        if clash {
                            return ApiResponse::json(
                                400,
                                &json!({"Message": "Name: a setting with this Name already exists for this customer", "Value": null,
                            "Errors": [{"AttemptedValue": name, "Message": "a setting with this Name already exists for this customer", "PropertyName": "Name"}], "WasSuccessful": false}),
                            );
                        }
                    }
                }
                api::handle(app, req)
            }),
        ),
    ]
}

// ---- broken targets: one fault each that the docs rule out ----

/// A broken target, the check it must fail, and whether `fuzz` must find it too
/// (the faults triggered by particular inputs).
pub struct Broken {
    pub name: &'static str,
    pub layer: Layer,
    pub check: &'static str,
    pub fuzz: bool,
}

fn broken(name: &'static str, check: &'static str, fuzz: bool, layer: Layer) -> Broken {
    Broken {
        name,
        layer,
        check,
        fuzz,
    }
}

/// Rewrites the Name of create and update bodies.
fn alter_name(f: fn(&str) -> String) -> Layer {
    layer(move |app, req| {
        if matches!(req.method, Method::Post | Method::Put) && req.path == BASE_PATH {
            let mut body = body_json(req);
            if let Some(n) = body["Name"].as_str() {
                body["Name"] = json!(f(n));
                return api::handle(app, &with_body(req, &body));
            }
        }
        api::handle(app, req)
    })
}

fn server_error() -> ApiResponse {
    html(
        500,
        Bytes::from_static(b"<h1>Server Error in '/' Application.</h1>"),
    )
}

fn rewrite_query(f: fn(Vec<(String, String)>) -> Vec<(String, String)>) -> Layer {
    layer(move |app, req| {
        if is_list(req) {
            let mut req = req.clone();
            req.query = encode(&f(pairs(&req.query)));
            return api::handle(app, &req);
        }
        api::handle(app, req)
    })
}

fn users() -> HashMap<String, String> {
    Fixtures::builtin()
        .users
        .into_iter()
        .map(|u| (u.email, u.password))
        .collect()
}

fn token_form(req: &ApiRequest) -> Vec<(String, String)> {
    pairs(&String::from_utf8_lossy(&req.body))
}

fn with_form(req: &ApiRequest, form: &[(String, String)]) -> ApiRequest {
    let mut req = req.clone();
    req.body = Bytes::from(encode(form));
    req
}

pub fn broken_targets() -> Vec<Broken> {
    let last_deleted: Arc<Mutex<Option<i64>>> = Arc::default();
    let deletes: Arc<Mutex<u64>> = Arc::default();
    let first_names: Arc<Mutex<HashMap<i64, String>>> = Arc::default();
    vec![
        broken(
            "Name stored lower-cased",
            "create.read-back",
            true,
            alter_name(|n| n.to_lowercase()),
        ),
        broken(
            "Name trimmed",
            "create.read-back",
            true,
            alter_name(|n| n.trim().to_string()),
        ),
        broken(
            "non-ASCII in Name replaced",
            "create.read-back",
            true,
            alter_name(|n| {
                n.chars()
                    .map(|c| if c.is_ascii() { c } else { '?' })
                    .collect()
            }),
        ),
        broken(
            "500 for a Name over 255 characters",
            "robustness.no-5xx",
            true,
            layer(|app, req| {
                if matches!(req.method, Method::Post | Method::Put)
                    && body_json(req)["Name"]
                        .as_str()
                        .is_some_and(|n| n.chars().count() > 255)
                {
                    return server_error();
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "500 for quotes or backslashes in Name or Value",
            "robustness.no-5xx",
            true,
            layer(|app, req| {
                let b = body_json(req);
                let bad = |v: &Value| {
                    v.as_str()
                        .is_some_and(|s| s.contains('"') || s.contains('\\'))
                };
                if matches!(req.method, Method::Post | Method::Put)
                    && (bad(&b["Name"]) || bad(&b["Value"]))
                {
                    return server_error();
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "500 for an apostrophe in a filter value",
            "robustness.no-5xx",
            true,
            layer(|app, req| {
                if is_list(req)
                    && pairs(&req.query)
                        .iter()
                        .any(|(k, v)| k.starts_with("CoworkerSetting_") && v.contains('\''))
                {
                    return server_error();
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "500 for a non-numeric or huge page",
            "list.malformed-parameters",
            true,
            layer(|app, req| {
                if is_list(req) {
                    if let Some(p) = param(&req.query, "page") {
                        if p.parse::<i32>().is_err() {
                            return server_error();
                        }
                    }
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "CoworkerId true or 3.7 accepted",
            "validation.boolean-coworker-id",
            true,
            layer(|app, req| {
                if matches!(req.method, Method::Post | Method::Put) {
                    let mut b = body_json(req);
                    let fixed = match &b["CoworkerId"] {
                        Value::Bool(true) => Some(json!(1)),
                        Value::Number(n) if n.is_f64() => {
                            Some(json!(n.as_f64().unwrap_or(1.0).floor() as i64))
                        }
                        _ => None,
                    };
                    if let Some(c) = fixed {
                        b["CoworkerId"] = c;
                        return api::handle(app, &with_body(req, &b));
                    }
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "from_ on CreatedOn ignored",
            "list.filter.range.CreatedOn",
            true,
            rewrite_query(|q| {
                q.into_iter()
                    .filter(|(k, _)| k != "from_CoworkerSetting_CreatedOn")
                    .collect()
            }),
        ),
        broken(
            "to_ on UpdatedOn compared with CreatedOn",
            "list.filter.range.store",
            false,
            rewrite_query(|q| {
                q.into_iter()
                    .map(|(k, v)| {
                        if k == "to_CoworkerSetting_UpdatedOn" {
                            ("to_CoworkerSetting_CreatedOn".into(), v)
                        } else {
                            (k, v)
                        }
                    })
                    .collect()
            }),
        ),
        broken(
            "an update leaves UpdatedOn as it was",
            "update.read-back",
            false,
            layer(|app, req| {
                let resp = api::handle(app, req);
                if req.method == Method::Get
                    && resp.status == 200
                    && !is_list(req)
                    && !is_batch(req)
                {
                    let mut v = json_of(&resp);
                    v["UpdatedOn"] = v["CreatedOn"].clone();
                    return with_json(resp, &v);
                }
                resp
            }),
        ),
        broken(
            "an update without a Name accepted",
            "update.missing-name",
            false,
            layer(|app, req| {
                if req.method == Method::Put && req.path == BASE_PATH {
                    let mut b = body_json(req);
                    if b.get("Name").is_none() {
                        if let Some(id) = b["Id"].as_i64() {
                            let current =
                                get_as_admin(app, format!("{BASE_PATH}/{id}"), String::new());
                            b["Name"] = current["Name"].clone();
                            return api::handle(app, &with_body(req, &b));
                        }
                    }
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "Ids reused after a delete",
            "delete.fresh-id-after-delete",
            false,
            {
                let last = last_deleted.clone();
                layer(move |app, req| {
                    let resp = api::handle(app, req);
                    if req.method == Method::Delete && resp.status == 200 {
                        *last.lock().unwrap() =
                            req.path.rsplit('/').next().and_then(|s| s.parse().ok());
                    } else if req.method == Method::Post
                        && req.path == BASE_PATH
                        && resp.status == 200
                    {
                        if let Some(id) = last.lock().unwrap().take() {
                            let mut v = json_of(&resp);
                            v["Value"]["Id"] = json!(id);
                            return with_json(resp, &v);
                        }
                    }
                    resp
                })
            },
        ),
        broken(
            "TotalItems still counts deleted records",
            "delete.gone",
            false,
            {
                let deletes = deletes.clone();
                layer(move |app, req| {
                    let resp = api::handle(app, req);
                    if req.method == Method::Delete && resp.status == 200 {
                        *deletes.lock().unwrap() += 1;
                    } else if is_list(req) && resp.status == 200 {
                        let n = *deletes.lock().unwrap();
                        let mut v = json_of(&resp);
                        v["TotalItems"] = json!(v["TotalItems"].as_u64().unwrap_or(0) + n);
                        return with_json(resp, &v);
                    }
                    resp
                })
            },
        ),
        broken(
            "a Name filter still matches a record's first Name",
            "update.in-filtered-list",
            false,
            {
                let first = first_names.clone();
                layer(move |app, req| {
                    let resp = api::handle(app, req);
                    if req.method == Method::Post && req.path == BASE_PATH && resp.status == 200 {
                        if let (Some(id), Some(name)) = (
                            json_of(&resp)["Value"]["Id"].as_i64(),
                            body_json(req)["Name"].as_str(),
                        ) {
                            first.lock().unwrap().insert(id, name.to_string());
                        }
                    } else if is_list(req) && resp.status == 200 {
                        if let Some(needle) =
                            param(&req.query, "CoworkerSetting_Name").filter(|n| !n.is_empty())
                        {
                            let mut v = json_of(&resp);
                            let stale: Vec<i64> = first
                                .lock()
                                .unwrap()
                                .iter()
                                .filter(|(_, n)| n.to_lowercase().contains(&needle.to_lowercase()))
                                .map(|(id, _)| *id)
                                .collect();
                            let records = v["Records"].as_array_mut().expect("a list");
                            for id in stale {
                                if !records.iter().any(|r| r["Id"] == id) {
                                    let r = get_as_admin(
                                        app,
                                        format!("{BASE_PATH}/{id}"),
                                        String::new(),
                                    );
                                    if !r.is_null() {
                                        records.push(r);
                                    }
                                }
                            }
                            let n = records.len();
                            v["TotalItems"] = json!(n);
                            v["LastItem"] = json!(n);
                            return with_json(resp, &v);
                        }
                    }
                    resp
                })
            },
        ),
        broken(
            "the token endpoint accepts a wrong password",
            "token.wrong-password",
            false,
            layer(|app, req| {
                if req.path == "/api/token" {
                    let users = users();
                    let form: Vec<(String, String)> = token_form(req);
                    let user = form
                        .iter()
                        .find(|(k, _)| k == "username")
                        .map(|(_, v)| v.clone());
                    let right = user
                        .and_then(|u| users.get(&u).cloned())
                        .unwrap_or_else(|| "admin-password".into());
                    let fixed: Vec<(String, String)> = form
                        .into_iter()
                        .map(|(k, v)| match k.as_str() {
                            "password" => (k, right.clone()),
                            "username" if !users.contains_key(&v) => {
                                (k, "admin@example.com".to_string())
                            }
                            _ => (k, v),
                        })
                        .collect();
                    return api::handle(app, &with_form(req, &fixed));
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "the token endpoint accepts a JSON body",
            "token.json-body-refused",
            false,
            layer(|app, req| {
                if req.path == "/api/token" {
                    if let Some(o) = body_json(req).as_object() {
                        let form: Vec<(String, String)> = o
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect();
                        let mut req = with_form(req, &form);
                        req.content_type = Some("application/x-www-form-urlencoded".into());
                        return api::handle(app, &req);
                    }
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "the token endpoint cannot trade a refresh token",
            "token.grants",
            false,
            layer(|app, req| {
                if req.path == "/api/token"
                    && token_form(req)
                        .iter()
                        .any(|(k, v)| k == "grant_type" && v == "refresh_token")
                {
                    return ApiResponse::json(
                        400,
                        &json!({"error": "unsupported_grant_type", "error_description": "refresh tokens are not supported"}),
                    );
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "a token issued to the read-only user carries full rights",
            "token.read-only-user",
            false,
            layer(|app, req| {
                if req.path == "/api/token"
                    && token_form(req)
                        .iter()
                        .any(|(k, v)| k == "username" && v == "reader@example.com")
                {
                    let form = vec![
                        ("grant_type".to_string(), "password".to_string()),
                        ("username".to_string(), "admin@example.com".to_string()),
                        ("password".to_string(), "admin-password".to_string()),
                    ];
                    return api::handle(app, &with_form(req, &form));
                }
                api::handle(app, req)
            }),
        ),
        broken(
            "a missing role gets 403",
            "auth.read-only-user",
            false,
            layer(|app, req| {
                let resp = api::handle(app, req);
                if resp.status == 401
                    && json_of(&resp)["Message"]
                        .as_str()
                        .is_some_and(|m| m.contains("role"))
                {
                    let mut resp = with_json(resp.clone(), &json_of(&resp));
                    resp.status = 403;
                    return resp;
                }
                resp
            }),
        ),
        broken(
            "PUT and DELETE need no credentials",
            "auth.no-credentials",
            false,
            layer(|app, req| {
                let mut req = req.clone();
                if matches!(req.method, Method::Put | Method::Delete) && req.authorization.is_none()
                {
                    req.authorization = Some(b"Bearer admin-token".to_vec());
                }
                api::handle(app, &req)
            }),
        ),
        broken(
            "batch returns records not asked for",
            "batch.records",
            false,
            layer(|app, req| {
                let resp = api::handle(app, req);
                if is_batch(req) && resp.status == 200 {
                    let mut v = json_of(&resp);
                    let extra = get_as_admin(app, BASE_PATH.into(), "size=1".into());
                    if let (Some(a), Some(x)) = (v.as_array_mut(), extra["Records"].get(0)) {
                        a.push(x.clone());
                    }
                    return with_json(resp, &v);
                }
                resp
            }),
        ),
        broken(
            "a Value filter that matches nothing",
            "list.filter.value",
            false,
            rewrite_query(|q| {
                q.into_iter()
                    .map(|(k, v)| {
                        if k == "CoworkerSetting_Value" {
                            (k, format!("{v}\u{1}"))
                        } else {
                            (k, v)
                        }
                    })
                    .collect()
            }),
        ),
        broken(
            "descending order ignored",
            "list.order",
            true,
            rewrite_query(|q| q.into_iter().filter(|(k, _)| k != "dir").collect()),
        ),
    ]
}
