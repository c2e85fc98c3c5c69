//! Validation of one exchange the proxy relayed, with what `check` knows and no
//! extra request: the body against the schema for its endpoint and status, the list
//! envelope's arithmetic, the filters and order a list was asked for, the 400
//! envelope's `PropertyName: message` parts, the success envelopes, and 401 for a
//! request without credentials. A rule the docs leave open (the mock's own choice)
//! gives a warning, never a violation.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::contract::props::{order_problem, paging_problems};
use crate::query::ListQuery;
use crate::resource::{MSG_CREATED, MSG_DELETED, MSG_UPDATED, Record};
use crate::schemas::Schema;
use crate::server::api::{self, Route};

/// What an exchange was, as far as the contract is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Batch,
    GetOne(i64),
    Create,
    Update,
    Delete(i64),
    Token,
    /// A path or method the contract does not describe: relayed, not validated.
    Other,
}

impl Endpoint {
    pub fn of(method: &str, path: &str, query: &str) -> Endpoint {
        let has_id = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "id");
        match (Route::of(path), method) {
            (Route::Collection, "GET") if has_id => Endpoint::Batch,
            (Route::Collection, "GET") => Endpoint::List,
            (Route::Collection, "POST") => Endpoint::Create,
            (Route::Collection, "PUT") => Endpoint::Update,
            (Route::Item(id), "GET") => Endpoint::GetOne(id),
            (Route::Item(id), "DELETE") => Endpoint::Delete(id),
            (Route::Token, "POST") => Endpoint::Token,
            _ => Endpoint::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The exchange breaks a rule the docs state.
    Violation,
    /// The exchange differs from a choice the docs leave open.
    Warning,
}

/// One thing wrong with an exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// A short name for the rule, like `check`'s check names.
    pub rule: &'static str,
    #[serde(skip)]
    pub severity: Severity,
    pub problem: String,
    pub expected: String,
}

/// One relayed exchange, as validation needs it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub endpoint: Endpoint,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub has_credentials: bool,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        severity: Severity,
        rule: &'static str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.0.push(Finding {
            rule,
            severity,
            problem: problem.into(),
            expected: expected.into(),
        });
    }

    fn violation(
        &mut self,
        rule: &'static str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.add(Severity::Violation, rule, problem, expected);
    }

    fn warning(
        &mut self,
        rule: &'static str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.add(Severity::Warning, rule, problem, expected);
    }

    /// Checks `v` against `schema`; true when it matches.
    fn schema(&mut self, rule: &'static str, v: &Value, schema: Schema) -> bool {
        match schema.validate(v) {
            Ok(()) => true,
            Err(e) => {
                self.violation(
                    rule,
                    format!("the body {e}"),
                    format!("a body matching {}", schema.file_name()),
                );
                false
            }
        }
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut = crate::client::truncate(&text, 200);
    if cut.len() < text.len() {
        format!("{cut}… ({} bytes)", body.len())
    } else {
        cut.to_string()
    }
}

/// Every finding for one exchange. `body` is the response body parsed as JSON, when it is.
pub fn exchange(ex: &Exchange, body: Option<&Value>) -> Vec<Finding> {
    let mut f = Findings::default();
    if ex.endpoint == Endpoint::Other {
        return f.0;
    }
    if !ex.has_credentials && ex.endpoint != Endpoint::Token && ex.status != 401 {
        f.violation(
            "auth.no-credentials",
            format!("HTTP {} for a request without credentials", ex.status),
            "HTTP 401 with a JSON body",
        );
    }
    if let Some(enc) = ex
        .content_encoding
        .filter(|e| !e.trim().eq_ignore_ascii_case("identity"))
    {
        f.warning(
            "body.encoded",
            format!("the body is encoded ({enc}), so it was not checked"),
            "an unencoded body (the proxy asks for one)",
        );
        return f.0;
    }
    let Some(v) = body else {
        let (severity, rule) = if ex.status >= 500 {
            (Severity::Warning, "body.json-5xx")
        } else {
            (Severity::Violation, "body.json")
        };
        f.add(
            severity,
            rule,
            format!("the body is not JSON: {:?}", excerpt(ex.body)),
            "a JSON body (every answer, errors included, is JSON)",
        );
        return f.0;
    };
    let is_json_type = ex.content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !is_json_type {
        f.warning(
            "content-type",
            format!("Content-Type is {:?}", ex.content_type.unwrap_or("absent")),
            "application/json; charset=utf-8",
        );
    }
    match (ex.endpoint, ex.status) {
        (Endpoint::Token, 200) => {
            f.schema("token", v, Schema::Token);
        }
        (Endpoint::Token, 400) => {
            f.schema("token.error", v, Schema::OAuthError);
        }
        (_, 200) => success(&mut f, ex, v),
        (Endpoint::Create | Endpoint::Update | Endpoint::List | Endpoint::Batch, 400) => {
            validation_envelope(&mut f, ex, v)
        }
        (_, 401 | 404) => {
            f.schema("error.body", v, Schema::Error);
        }
        (_, s) if s >= 400 => {
            if let Err(e) = Schema::Error.validate(v) {
                f.warning(
                    "error.body",
                    format!("the body {e}"),
                    "a JSON object with a Message",
                );
            }
        }
        (_, s) if (201..300).contains(&s) => f.violation(
            "status",
            format!("HTTP {s}"),
            "HTTP 200 on success, as the docs show for every endpoint",
        ),
        _ => {}
    }
    if ex.endpoint == Endpoint::List && ex.status == 400 {
        list_parameters_named(&mut f, ex, v);
    }
    f.0
}

fn success(f: &mut Findings, ex: &Exchange, v: &Value) {
    match ex.endpoint {
        Endpoint::List => list(f, ex, v),
        Endpoint::Batch => batch(f, ex, v),
        Endpoint::GetOne(id) => {
            if f.schema("get.schema", v, Schema::Record) && v["Id"] != id {
                f.violation(
                    "get.id",
                    format!("the record has Id {}", v["Id"]),
                    format!("the record with Id {id}"),
                );
            }
        }
        Endpoint::Create => action(f, v, "create.envelope", MSG_CREATED),
        Endpoint::Update => action(f, v, "update.envelope", MSG_UPDATED),
        Endpoint::Delete(_) => action(f, v, "delete.envelope", MSG_DELETED),
        Endpoint::Token | Endpoint::Other => {}
    }
}

fn action(f: &mut Findings, v: &Value, rule: &'static str, message: &str) {
    if f.schema(rule, v, Schema::Action) && v["Message"] != message {
        f.violation(rule, format!("Message is {}", v["Message"]), message);
    }
}

/// A 400: the documented envelope, whose Message is made of `PropertyName: message` parts.
fn validation_envelope(f: &mut Findings, _ex: &Exchange, v: &Value) {
    if !f.schema("validation.envelope", v, Schema::ValidationError) {
        return;
    }
    let message = v["Message"].as_str().unwrap_or_default();
    for e in v["Errors"].as_array().into_iter().flatten() {
        let part = format!(
            "{}: {}",
            e["PropertyName"].as_str().unwrap_or_default(),
            e["Message"].as_str().unwrap_or_default()
        );
        if !message.contains(&part) {
            f.violation(
                "validation.message",
                format!("Message does not contain the part {part:?}"),
                "Message made of `PropertyName: message` parts, one per error",
            );
        }
    }
}

/// A 400 on a list should name each parameter this crate finds bad (settled here).
fn list_parameters_named(f: &mut Findings, ex: &Exchange, v: &Value) {
    let Err(errors) = ListQuery::parse(ex.query) else {
        return;
    };
    let named: HashSet<&str> = v["Errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["PropertyName"].as_str())
        .collect();
    for e in errors {
        if !named.contains(e.property_name.as_str()) {
            f.warning(
                "list.invalid-parameters",
                format!("no error names {}", e.property_name),
                format!("an error with PropertyName {:?}", e.property_name),
            );
        }
    }
}

fn list(f: &mut Findings, ex: &Exchange, v: &Value) {
    f.schema("list.schema", v, Schema::List);
    let q = match ListQuery::parse(ex.query) {
        Ok(q) => q,
        Err(errors) => {
            let names: Vec<&str> = errors.iter().map(|e| e.property_name.as_str()).collect();
            f.warning(
                "list.invalid-parameters",
                format!("HTTP 200 for invalid parameters ({})", names.join(", ")),
                "HTTP 400 with the validation envelope naming each bad parameter",
            );
            return;
        }
    };
    let Some(records) = v["Records"].as_array() else {
        return;
    };
    // A page so far out that its first item overflows cannot be checked by arithmetic.
    if q.page.checked_mul(q.size).is_some() {
        for p in paging_problems(v, q.page, q.size) {
            f.violation(
                "list.paging",
                p,
                "paging fields that agree with each other and the records",
            );
        }
    }
    filters(f, ex, &q, records);
    order(f, ex, &q, v, records);
}

/// Parameter names present (with a value) in the query.
fn given(query: &str) -> HashSet<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.into_owned())
        .collect()
}

/// The single filters of `q`, each as a query of its own, with the parameter named.
fn single_filters(q: &ListQuery) -> Vec<(&'static str, ListQuery)> {
    let none = ListQuery::default;
    let mut out = Vec::new();
    if q.coworker.is_some() {
        out.push((
            crate::query::P_COWORKER,
            ListQuery {
                coworker: q.coworker,
                ..none()
            },
        ));
    }
    for (name, set) in [
        (
            crate::query::P_NAME,
            ListQuery {
                name: q.name.clone(),
                ..none()
            },
        ),
        (
            crate::query::P_VALUE,
            ListQuery {
                value: q.value.clone(),
                ..none()
            },
        ),
        (
            crate::query::P_ENCRYPTED,
            ListQuery {
                encrypted_value: q.encrypted_value.clone(),
                ..none()
            },
        ),
        (
            "CreatedOn range",
            ListQuery {
                created: q.created,
                ..none()
            },
        ),
        (
            "UpdatedOn range",
            ListQuery {
                updated: q.updated,
                ..none()
            },
        ),
    ] {
        if set != none() {
            out.push((name, set));
        }
    }
    out
}

/// Every returned record must match every filter asked, by the crate's one
/// definition of matching. The CoworkerId alias is this crate's choice, so a target
/// that ignores it gets a warning.
fn filters(f: &mut Findings, ex: &Exchange, q: &ListQuery, records: &[Value]) {
    let given = given(ex.query);
    let alias_only =
        given.contains(crate::query::P_COWORKER_ALIAS) && !given.contains(crate::query::P_COWORKER);
    let singles = single_filters(q);
    if singles.is_empty() {
        return;
    }
    for raw in records {
        let Ok(record) = serde_json::from_value::<Record>(raw.clone()) else {
            continue; // the schema check has reported it
        };
        if q.matches(&record) {
            continue;
        }
        for (name, single) in &singles {
            if single.matches(&record) {
                continue;
            }
            let is_alias = *name == crate::query::P_COWORKER && alias_only;
            let (severity, name) = if is_alias {
                (Severity::Warning, crate::query::P_COWORKER_ALIAS)
            } else {
                (Severity::Violation, *name)
            };
            f.add(
                severity,
                "list.filter",
                format!(
                    "Id {} does not match {name} ({})",
                    record.id,
                    describe(name, &record)
                ),
                format!(
                    "only records matching {}",
                    crate::server::journal::mask_query(ex.query)
                ),
            );
        }
    }
}

/// The record's value for the field a filter looks at.
fn describe(filter: &str, r: &Record) -> String {
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("null".to_string(), |s| format!("{s:?}"))
    };
    match filter {
        crate::query::P_COWORKER | crate::query::P_COWORKER_ALIAS => {
            format!("CoworkerId {}", r.coworker_id)
        }
        crate::query::P_NAME => format!("Name {:?}", r.name),
        crate::query::P_VALUE => format!("Value {}", show(&r.value)),
        crate::query::P_ENCRYPTED => "EncryptedValue not shown".to_string(),
        "CreatedOn range" => format!("CreatedOn {}", r.created_on),
        _ => format!("UpdatedOn {}", r.updated_on),
    }
}

/// The page is in the asked order (by the contract runner's own rule), and says so.
/// Without `orderBy` the order is this crate's default (Id), so only a warning.
fn order(f: &mut Findings, ex: &Exchange, q: &ListQuery, v: &Value, records: &[Value]) {
    let given = given(ex.query);
    let field = q.order_by.name();
    let dir = if q.ascending { 1 } else { -1 };
    let asked = given.contains("orderBy");
    if let Some(p) = order_problem(records, field, q.ascending) {
        let severity = if asked {
            Severity::Violation
        } else {
            Severity::Warning
        };
        f.add(
            severity,
            "list.order",
            p,
            format!(
                "sorted by {field} {}, ties by Id",
                if q.ascending {
                    "ascending"
                } else {
                    "descending"
                }
            ),
        );
    }
    if asked && v["CurrentOrderField"] != field {
        f.violation(
            "list.order",
            format!("CurrentOrderField is {}", v["CurrentOrderField"]),
            format!("{field:?}, as asked"),
        );
    }
    if given.contains("dir") && v["CurrentSortDirection"] != dir {
        f.violation(
            "list.order",
            format!("CurrentSortDirection is {}", v["CurrentSortDirection"]),
            format!("{dir}, as asked"),
        );
    }
}

/// Batch get: only records asked for (a rule), in the order asked (this crate's choice).
fn batch(f: &mut Findings, ex: &Exchange, v: &Value) {
    f.schema("batch.schema", v, Schema::Batch);
    let Ok(asked) = api::parse_batch_ids(ex.query) else {
        return;
    };
    let returned: Vec<i64> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Id"].as_i64())
        .collect();
    let stray: Vec<i64> = returned
        .iter()
        .copied()
        .filter(|id| !asked.contains(id))
        .collect();
    if !stray.is_empty() {
        f.violation(
            "batch.only-asked",
            format!("Ids {stray:?} were not asked for"),
            format!("only records among {asked:?}"),
        );
    }
    let in_asked_order: Vec<i64> = asked
        .iter()
        .copied()
        .filter(|id| returned.contains(id))
        .collect();
    if stray.is_empty() && returned != in_asked_order {
        f.warning(
            "batch.order",
            format!("the records come as {returned:?}"),
            format!("the order asked: {in_asked_order:?}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ex<'a>(endpoint: Endpoint, query: &'a str, status: u16, body: &'a [u8]) -> Exchange<'a> {
        Exchange {
            endpoint,
            query,
            has_credentials: true,
            status,
            content_type: Some("application/json; charset=utf-8"),
            content_encoding: None,
            body,
        }
    }

    fn rules(ex: &Exchange) -> Vec<(&'static str, Severity)> {
        let v: Option<Value> = serde_json::from_slice(ex.body).ok();
        exchange(ex, v.as_ref())
            .into_iter()
            .map(|f| (f.rule, f.severity))
            .collect()
    }

    #[test]
    fn endpoints_are_told_apart_by_method_path_and_the_id_parameter() {
        let base = crate::resource::BASE_PATH;
        for (method, path, query, want) in [
            ("GET", base, "page=2", Endpoint::List),
            (
                "GET",
                "/api/spaces/coworkersettings/",
                "id=[1,2]",
                Endpoint::Batch,
            ),
            (
                "GET",
                "/api/spaces/coworkersettings/7",
                "",
                Endpoint::GetOne(7),
            ),
            ("POST", base, "", Endpoint::Create),
            ("PUT", base, "", Endpoint::Update),
            (
                "DELETE",
                "/api/spaces/coworkersettings/7",
                "",
                Endpoint::Delete(7),
            ),
            ("POST", "/api/token", "", Endpoint::Token),
            ("PATCH", base, "", Endpoint::Other),
            ("GET", "/api/spaces/coworkers", "", Endpoint::Other),
        ] {
            assert_eq!(
                Endpoint::of(method, path, query),
                want,
                "{method} {path}?{query}"
            );
        }
    }

    #[test]
    fn each_broken_exchange_names_its_rule_and_severity() {
        use Severity::{Violation, Warning};
        let not_json = b"<html>oops</html>".as_slice();
        let bad_400 = json!({"Message": "Validation failed.", "Value": null,
            "Errors": [{"AttemptedValue": null, "Message": "is a required field", "PropertyName": "Name"}],
            "WasSuccessful": false}).to_string();
        let created = json!({"Status":200,"Message":"Done.","Value":{"Id":1},"OpenInDialog":false,"OpenInWindow":false,
            "RedirectURL":null,"JavaScript":null,"UpdatedOn":"2025-01-15T10:30:00Z","UpdatedBy":"a@b.c","Errors":null,
            "WasSuccessful":true}).to_string();
        let batch = b"[]".as_slice();
        type Row<'a> = (&'a str, Exchange<'a>, Vec<(&'a str, Severity)>);
        let cases: Vec<Row> = vec![
            (
                "HTML instead of JSON",
                ex(Endpoint::List, "", 200, not_json),
                vec![("body.json", Violation)],
            ),
            (
                "HTML from a failing gateway",
                ex(Endpoint::List, "", 502, not_json),
                vec![("body.json-5xx", Warning)],
            ),
            (
                "a 400 without parts",
                ex(Endpoint::Create, "", 400, bad_400.as_bytes()),
                vec![("validation.message", Violation)],
            ),
            (
                "a wrong create message",
                ex(Endpoint::Create, "", 200, created.as_bytes()),
                vec![("create.envelope", Violation)],
            ),
            (
                "201 on success",
                ex(Endpoint::Batch, "id=[1]", 201, batch),
                vec![("status", Violation)],
            ),
            (
                "200 for a bad size",
                ex(Endpoint::List, "size=0", 200, b"{}"),
                vec![
                    ("list.schema", Violation),
                    ("list.invalid-parameters", Warning),
                ],
            ),
            (
                "a path outside the contract",
                ex(Endpoint::Other, "", 500, not_json),
                vec![],
            ),
        ];
        for (name, exchange, want) in cases {
            assert_eq!(rules(&exchange), want, "{name}");
        }
        let mut anonymous = ex(Endpoint::GetOne(1), "", 200, b"{}");
        anonymous.has_credentials = false;
        assert_eq!(rules(&anonymous)[0], ("auth.no-credentials", Violation));
    }

    #[test]
    fn a_batch_out_of_order_is_a_warning_and_a_stray_record_a_violation() {
        let record = |id: i64| {
            json!({"CoworkerId":1,"Name":format!("n{id}"),"Value":null,"EncryptedValue":null,"Id":id,
            "UpdatedOn":"2025-01-15T10:30:00Z","CreatedOn":"2025-01-15T10:30:00Z","UniqueId":"a1b2c3d4-e5f6-4890-abcd-ef1234567890",
            "UpdatedBy":null,"IsNew":false,"SystemId":null,"ToStringText":null,"LocalizationDetails":null,"CustomFields":null})
        };
        let swapped = json!([record(2), record(1)]).to_string();
        assert_eq!(
            rules(&ex(Endpoint::Batch, "id=[1,2]", 200, swapped.as_bytes())),
            vec![("batch.order", Severity::Warning)]
        );
        assert_eq!(
            rules(&ex(Endpoint::Batch, "id=[1]", 200, swapped.as_bytes())),
            vec![("batch.only-asked", Severity::Violation)]
        );
    }
}
