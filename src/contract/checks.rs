//! The checks, grouped as the issue lists them. Each sends requests through the
//! session, states what a correct answer looks like, and records pass, fail, warn
//! (for rules SPEC.md settles itself) or skipped.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use super::props::{ids, order_problem, paging_problems};
use super::{Credential, Runner};
use crate::client::HttpRequest;
use crate::report::{Evidence, Outcome};
use crate::resource::{BASE_PATH, MSG_CREATED, MSG_DELETED, MSG_UPDATED};
use crate::schemas::Schema;

/// An Id no sane target has handed out (the largest 32-bit integer but one).
const UNKNOWN_ID: i64 = 2_147_483_646;

/// A record this run created, as read back.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: i64,
    pub read: Value,
}

fn item(id: i64) -> String {
    format!("{BASE_PATH}/{id}")
}

fn ev(problem: impl Into<String>) -> Evidence {
    Evidence::new(problem)
}

/// The first request: can the target be reached, and are the credentials accepted?
pub async fn reachable(r: &mut Runner) -> Result<(), String> {
    let started = Instant::now();
    let ex = r.s.list("page=1&size=1").await;
    match &ex.result {
        Err(e) => Err(format!("the target could not be reached: {e}")),
        Ok(resp) if resp.status == 401 || resp.status == 403 => Err(format!(
            "the target refused the credentials (HTTP {}); pass --token or --user for a user with the CoworkerSetting roles",
            resp.status
        )),
        Ok(_) => {
            let problems =
                r.s.expect(&ex, 200, Schema::List)
                    .err()
                    .into_iter()
                    .collect();
            r.record("list.first-page", started, problems, Outcome::Fail);
            Ok(())
        }
    }
}

/// No credentials, a malformed header and an unknown token each get 401 with a
/// JSON body on every endpoint. `id` is a record of this run (or any, read-only).
pub async fn auth(r: &mut Runner, id: Option<i64>) {
    let ns = r.ns.clone();
    let mut endpoints = vec![
        HttpRequest::new("GET", BASE_PATH),
        HttpRequest::new(
            "GET",
            format!("{BASE_PATH}/?id=[{}]", id.unwrap_or(UNKNOWN_ID)),
        ),
    ];
    if let Some(id) = id {
        endpoints.push(HttpRequest::new("GET", item(id)));
    }
    if !r.cfg.read_only {
        endpoints.push(HttpRequest::new("POST", BASE_PATH).json(
            &json!({"CoworkerId": ns.customer, "Name": format!("{}-unauthorised", ns.prefix)}),
        ));
        if let Some(id) = id {
            endpoints.push(HttpRequest::new("PUT", BASE_PATH).json(&json!({"Id": id, "CoworkerId": ns.customer, "Name": format!("{}-unauthorised", ns.prefix)})));
            endpoints.push(HttpRequest::new("DELETE", item(id)));
        }
    }
    for (name, header) in [
        ("auth.no-credentials", None),
        ("auth.malformed-header", Some("Bearer".to_string())),
        (
            "auth.unknown-token",
            Some(format!("Bearer {}", uuid::Uuid::new_v4().simple())),
        ),
    ] {
        let started = Instant::now();
        let mut problems = Vec::new();
        for req in &endpoints {
            let mut req = req.clone();
            if let Some(h) = &header {
                req = req.header("Authorization", h.clone());
            }
            let ex = r.s.send_raw(req).await;
            r.s.track_created(&ex);
            if let Err(e) = r.s.expect(&ex, 401, Schema::Error) {
                problems.push(e);
            }
        }
        r.record(name, started, problems, Outcome::Fail);
    }
}

/// Get one: an unknown Id is 404 with a JSON body; a non-integer Id is 404 or 400.
pub async fn get_one(r: &mut Runner) {
    let started = Instant::now();
    let ex = r.s.get(&item(UNKNOWN_ID)).await;
    let problems =
        r.s.expect(&ex, 404, Schema::Error)
            .err()
            .into_iter()
            .collect();
    r.record("get.unknown-id", started, problems, Outcome::Fail);

    let started = Instant::now();
    let ex = r.s.get(&format!("{BASE_PATH}/not-a-number")).await;
    let problems: Vec<Evidence> = match ex.status() {
        Some(404) => {
            r.s.expect(&ex, 404, Schema::Error)
                .err()
                .into_iter()
                .collect()
        }
        Some(400) => vec![],
        _ => vec![r.s.evidence(
            &ex,
            "a non-integer Id got neither 404 nor 400",
            "404 (or 400)",
        )],
    };
    r.record("get.non-integer-id", started, problems, Outcome::Fail);
    if ex.status() == Some(400) {
        let started = Instant::now();
        let problems = vec![r.s.evidence(
            &ex,
            "a non-integer Id got 400; SPEC.md settles on 404",
            "404",
        )];
        let outcome = r.settled();
        r.record("get.non-integer-id-is-404", started, problems, outcome);
    }
}

/// Checks a success envelope: status, schema and the exact Message.
fn action_problems(r: &Runner, ex: &super::session::Exchange, message: &str) -> Vec<Evidence> {
    match r.s.expect(ex, 200, Schema::Action) {
        Ok(v) if v["Message"] != message => {
            vec![r.s.evidence(ex, format!("Message is {}", v["Message"]), message)]
        }
        Ok(_) => vec![],
        Err(e) => vec![e],
    }
}

/// Checks a 400 envelope: schema, the PropertyNames and AttemptedValues asked, and a
/// Message made of `PropertyName: message` parts.
fn validation_problems(
    r: &Runner,
    ex: &super::session::Exchange,
    expected: &[(&str, Value)],
) -> Vec<Evidence> {
    let v = match r.s.expect(ex, 400, Schema::ValidationError) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    let errors = v["Errors"].as_array().cloned().unwrap_or_default();
    for (prop, attempted) in expected {
        match errors.iter().find(|e| e["PropertyName"] == *prop) {
            None => problems.push(r.s.evidence(
                ex,
                format!("no error names {prop}"),
                format!("an error with PropertyName {prop:?}"),
            )),
            Some(e) if e["AttemptedValue"] != *attempted => problems.push(r.s.evidence(
                ex,
                format!(
                    "AttemptedValue for {prop} is {} instead of what was sent",
                    e["AttemptedValue"]
                ),
                format!("AttemptedValue {attempted}"),
            )),
            _ => {}
        }
    }
    let message = v["Message"].as_str().unwrap_or_default();
    for e in &errors {
        let part = format!(
            "{}: {}",
            e["PropertyName"].as_str().unwrap_or_default(),
            e["Message"].as_str().unwrap_or_default()
        );
        if !message.contains(&part) {
            problems.push(r.s.evidence(
                ex,
                format!("Message does not contain the part {part:?}"),
                "Message made of `PropertyName: message` parts",
            ));
        }
    }
    problems
}

/// Bad create bodies each get the exact 400 envelope.
pub async fn validation(r: &mut Runner) {
    let c = r.ns.customer;
    let name = format!("{}-invalid", r.ns.prefix);
    let cases: Vec<(&str, Value, Vec<(&str, Value)>)> = vec![
        (
            "validation.missing-name",
            json!({"CoworkerId": c}),
            vec![("Name", Value::Null)],
        ),
        (
            "validation.empty-name",
            json!({"CoworkerId": c, "Name": ""}),
            vec![("Name", json!(""))],
        ),
        (
            "validation.missing-coworker-id",
            json!({"Name": name}),
            vec![("CoworkerId", Value::Null)],
        ),
        (
            "validation.non-integer-coworker-id",
            json!({"CoworkerId": "abc", "Name": name}),
            vec![("CoworkerId", json!("abc"))],
        ),
        (
            "validation.two-bad-fields",
            json!({"CoworkerId": "abc", "Name": ""}),
            vec![("CoworkerId", json!("abc")), ("Name", json!(""))],
        ),
    ];
    for (check, body, expected) in cases {
        let started = Instant::now();
        let Some((ex, _)) = r.s.create(&body).await else {
            return;
        };
        let problems = validation_problems(r, &ex, &expected);
        r.record(check, started, problems, Outcome::Fail);
    }
    for (check, raw) in [
        (
            "validation.malformed-json",
            format!("{{\"CoworkerId\": {c}, \"Name\": "),
        ),
        (
            "validation.array-body",
            format!("[{{\"CoworkerId\": {c}, \"Name\": \"{name}\"}}]"),
        ),
    ] {
        let started = Instant::now();
        let ex =
            r.s.send(HttpRequest::new("POST", BASE_PATH).raw_body("application/json", raw))
                .await;
        r.s.track_created(&ex);
        let problems = validation_problems(r, &ex, &[]);
        r.record(check, started, problems, Outcome::Fail);
    }
}

/// The records the list checks work on: names whose order every collation agrees
/// on, values with ties and nulls, and strings that test exact storage.
fn create_bodies(r: &Runner) -> Vec<Value> {
    let (c, p) = (r.ns.customer, &r.ns.prefix);
    let long: String = "0123456789abcdef".repeat(640);
    vec![
        json!({"CoworkerId": c, "Name": format!("{p}-alpha"), "Value": "plain value", "EncryptedValue": null}),
        json!({"CoworkerId": c, "Name": format!("{p}-bravo"), "Value": "ünïcødé ✓ 🚀 مرحبا e\u{301}", "EncryptedValue": "enc:\"quoted\" \\ back"}),
        json!({"CoworkerId": c, "Name": format!("{p}-charlie"), "Value": "  leading and trailing  "}),
        json!({"CoworkerId": c, "Name": format!("{p}-delta"), "Value": null, "EncryptedValue": "secret"}),
        json!({"CoworkerId": c, "Name": format!("{p}-echo"), "Value": long}),
        json!({"CoworkerId": c, "Name": format!("{p}-foxtrot"), "Value": "plain value", "EncryptedValue": "secret"}),
        json!({"CoworkerId": c, "Name": format!("{p}-golf \"q\" \\ % & +"), "Value": "tab\tnew\nline", "EncryptedValue": ""}),
    ]
}

/// Create: the exact envelope, a fresh Id, byte-for-byte read-back, and the record in
/// the customer's list equal to what GET returns.
pub async fn create(r: &mut Runner) -> Vec<Created> {
    let started = Instant::now();
    let mut envelope = Vec::new();
    let mut fresh = Vec::new();
    let mut read_back = Vec::new();
    let mut created: Vec<Created> = Vec::new();
    for body in create_bodies(r) {
        let Some((ex, id)) = r.s.create(&body).await else {
            break;
        };
        envelope.extend(action_problems(r, &ex, MSG_CREATED));
        let Some(id) = id else { continue };
        if created.iter().any(|c| c.id == id) {
            fresh.push(r.s.evidence(
                &ex,
                format!("Id {id} was handed out twice"),
                "a new Id for every create",
            ));
        }
        let get = r.s.get(&item(id)).await;
        let read = match r.s.expect(&get, 200, Schema::Record) {
            Ok(v) => v,
            Err(e) => {
                read_back.push(e);
                continue;
            }
        };
        for field in ["CoworkerId", "Name", "Value", "EncryptedValue"] {
            let sent = body.get(field).cloned().unwrap_or(Value::Null);
            if read[field] != sent {
                read_back.push(r.s.evidence(
                    &get,
                    format!(
                        "{field} reads back as {} but {} was sent",
                        crate::client::truncate(&read[field].to_string(), 200),
                        crate::client::truncate(&sent.to_string(), 200)
                    ),
                    "every field exactly as sent",
                ));
            }
        }
        created.push(Created { id, read });
    }
    r.record("create.envelope", started, envelope, Outcome::Fail);
    r.record("create.fresh-id", started, fresh, Outcome::Fail);
    r.record("create.read-back", started, read_back, Outcome::Fail);

    let started = Instant::now();
    let ex =
        r.s.list(&format!(
            "size=100&CoworkerSetting_Coworker={}",
            r.ns.customer
        ))
        .await;
    let problems = match r.s.expect(&ex, 200, Schema::List) {
        Err(e) => vec![e],
        Ok(v) => {
            let records = v["Records"].as_array().cloned().unwrap_or_default();
            created
                .iter()
                .filter_map(|c| match records.iter().find(|x| x["Id"] == c.id) {
                    None => Some(r.s.evidence(
                        &ex,
                        format!("created Id {} is missing from its customer's list", c.id),
                        "every created record listed",
                    )),
                    Some(x) if *x != c.read => Some(r.s.evidence(
                        &ex,
                        format!("Id {} in the list differs from GET: {x}", c.id),
                        format!("{}", c.read),
                    )),
                    _ => None,
                })
                .collect()
        }
    };
    r.record("create.in-list", started, problems, Outcome::Fail);
    // The auth checks need a record of this run to aim writes at.
    auth(r, created.first().map(|c| c.id)).await;
    created
}

/// A second (CoworkerId, Name) is refused on Name; the same Name elsewhere is fine.
pub async fn uniqueness(r: &mut Runner) {
    let name = format!("{}-alpha", r.ns.prefix);
    let started = Instant::now();
    if let Some((ex, _)) =
        r.s.create(&json!({"CoworkerId": r.ns.customer, "Name": name, "Value": "again"}))
            .await
    {
        let problems = validation_problems(r, &ex, &[("Name", json!(name))]);
        r.record(
            "uniqueness.duplicate-rejected",
            started,
            problems,
            Outcome::Fail,
        );
    }
    let started = Instant::now();
    if let Some((ex, _)) =
        r.s.create(&json!({"CoworkerId": r.ns.other_customer, "Name": name}))
            .await
    {
        let problems =
            r.s.expect(&ex, 200, Schema::Action)
                .err()
                .into_iter()
                .collect();
        r.record(
            "uniqueness.other-customer-accepted",
            started,
            problems,
            Outcome::Fail,
        );
    }
}

/// Field values whose order every collation agrees on (lowercase ASCII words).
fn simple(v: &Value) -> bool {
    match v {
        Value::String(s) => s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b':'
                || b == b'.'
                || b == b'@'
        }),
        _ => true,
    }
}

/// Lists: paging arithmetic, a full walk, past the end, every order, every filter.
pub async fn list(r: &mut Runner, created: &[Created]) {
    let c = r.ns.customer;
    let mine: HashSet<i64> = created.iter().map(|x| x.id).collect();
    let total = mine.len() as u64;
    let size = 3u64;
    let pages = total.div_ceil(size);

    let started = Instant::now();
    let (mut arithmetic, mut walk) = (Vec::new(), Vec::new());
    let mut seen: Vec<i64> = Vec::new();
    for page in 1..=pages.max(1) {
        let ex =
            r.s.list(&format!(
                "page={page}&size={size}&CoworkerSetting_Coworker={c}"
            ))
            .await;
        match r.s.expect(&ex, 200, Schema::List) {
            Err(e) => arithmetic.push(e),
            Ok(v) => {
                for p in paging_problems(&v, page, size) {
                    arithmetic.push(r.s.evidence(
                        &ex,
                        p,
                        "paging fields that agree with each other and the records",
                    ));
                }
                seen.extend(ids(&v));
            }
        }
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    if unique.len() != seen.len() {
        walk.push(ev(format!(
            "walking {pages} pages of size {size} returned a record twice: {seen:?}"
        )));
    }
    if unique != mine {
        walk.push(ev(format!(
            "walking every page returned {unique:?}; this run created {mine:?} for customer {c}"
        )));
    }
    r.record("list.paging.arithmetic", started, arithmetic, Outcome::Fail);
    r.record("list.paging.walk", started, walk, Outcome::Fail);

    let started = Instant::now();
    let past = pages + 2;
    let ex =
        r.s.list(&format!(
            "page={past}&size={size}&CoworkerSetting_Coworker={c}"
        ))
        .await;
    let problems = match r.s.expect(&ex, 200, Schema::List) {
        Err(e) => vec![e],
        Ok(v) => paging_problems(&v, past, size)
            .into_iter()
            .map(|p| {
                r.s.evidence(&ex, p, "an empty page with FirstItem and LastItem 0")
            })
            .collect(),
    };
    r.record("list.paging.past-the-end", started, problems, Outcome::Fail);

    for field in [
        "Id",
        "CoworkerId",
        "Name",
        "Value",
        "EncryptedValue",
        "CreatedOn",
        "UpdatedOn",
        "UpdatedBy",
        "SystemId",
    ] {
        let started = Instant::now();
        let mut problems = Vec::new();
        for (dir, ascending) in [(1, true), (-1, false)] {
            let ex =
                r.s.list(&format!(
                    "size=100&orderBy={field}&dir={dir}&CoworkerSetting_Coworker={c}"
                ))
                .await;
            match r.s.expect(&ex, 200, Schema::List) {
                Err(e) => problems.push(e),
                Ok(v) => {
                    let records: Vec<Value> = v["Records"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|x| simple(&x[field]))
                        .collect();
                    if let Some(p) = order_problem(&records, field, ascending) {
                        problems.push(r.s.evidence(
                            &ex,
                            p,
                            format!(
                                "sorted by {field} {}, ties by Id",
                                if ascending { "ascending" } else { "descending" }
                            ),
                        ));
                    }
                    if v["CurrentOrderField"] != field || v["CurrentSortDirection"] != dir {
                        problems.push(r.s.evidence(
                            &ex,
                            format!(
                                "CurrentOrderField/CurrentSortDirection are {}/{}",
                                v["CurrentOrderField"], v["CurrentSortDirection"]
                            ),
                            format!("{field}/{dir}"),
                        ));
                    }
                }
            }
        }
        r.record(
            &format!("list.order.{field}"),
            started,
            problems,
            Outcome::Fail,
        );
    }
    filters(r, created).await;
    invalid_parameters(r).await;
}

/// One filter query: every record returned must satisfy `sound`, and every created
/// record satisfying `complete` must be returned.
async fn filter_check(
    r: &mut Runner,
    name: &str,
    query: &str,
    created: &[Created],
    sound: &dyn Fn(&Value) -> bool,
    complete: &dyn Fn(&Value) -> bool,
    completeness_outcome: Outcome,
) {
    let started = Instant::now();
    let ex = r.s.list(&format!("size=100&{query}")).await;
    let v = match r.s.expect(&ex, 200, Schema::List) {
        Ok(v) => v,
        Err(e) => return r.record(name, started, vec![e], Outcome::Fail),
    };
    let records = v["Records"].as_array().cloned().unwrap_or_default();
    let unsound: Vec<Evidence> = records
        .iter()
        .filter(|x| !sound(x))
        .map(|x| {
            r.s.evidence(
                &ex,
                format!("Id {} does not match the filter", x["Id"]),
                format!("only records matching {query}"),
            )
        })
        .collect();
    r.record(&format!("{name}.sound"), started, unsound, Outcome::Fail);
    let returned: HashSet<i64> = ids(&v).into_iter().collect();
    let missing: Vec<Evidence> = created
        .iter()
        .filter(|c| complete(&c.read) && !returned.contains(&c.id))
        .map(|c| {
            r.s.evidence(
                &ex,
                format!("created Id {} matches but was not returned", c.id),
                format!("every record matching {query}"),
            )
        })
        .collect();
    r.record(
        &format!("{name}.complete"),
        started,
        missing,
        completeness_outcome,
    );
}

fn contains_ci(v: &Value, needle: &str) -> bool {
    v.as_str()
        .is_some_and(|s| s.to_lowercase().contains(&needle.to_lowercase()))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn filters(r: &mut Runner, created: &[Created]) {
    let c = r.ns.customer;
    let settled = r.settled();
    let cust = move |x: &Value| x["CoworkerId"] == c;
    filter_check(
        r,
        "list.filter.coworker",
        &format!("CoworkerSetting_Coworker={c}"),
        created,
        &cust,
        &cust,
        Outcome::Fail,
    )
    .await;
    filter_check(
        r,
        "list.filter.coworker-alias",
        &format!("CoworkerSetting_CoworkerId={c}"),
        created,
        &cust,
        &cust,
        settled,
    )
    .await;

    let Some(bravo) = created.iter().find(|x| {
        x.read["Name"]
            .as_str()
            .is_some_and(|n| n.ends_with("-bravo"))
    }) else {
        return;
    };
    let bravo_name = bravo.read["Name"].as_str().unwrap_or_default().to_string();
    let exact = bravo_name.clone();
    filter_check(
        r,
        "list.filter.name.exact",
        &format!(
            "CoworkerSetting_Coworker={c}&CoworkerSetting_Name={}",
            enc(&exact)
        ),
        created,
        &|x| cust(x) && contains_ci(&x["Name"], &exact),
        &|x| cust(x) && x["Name"] == exact.as_str(),
        Outcome::Fail,
    )
    .await;
    filter_check(
        r,
        "list.filter.name.substring-any-case",
        &format!("CoworkerSetting_Coworker={c}&CoworkerSetting_Name=BRAV"),
        created,
        &|x| cust(x) && contains_ci(&x["Name"], "BRAV"),
        &|x| cust(x) && contains_ci(&x["Name"], "brav"),
        settled,
    )
    .await;
    filter_check(
        r,
        "list.filter.value",
        &format!(
            "CoworkerSetting_Coworker={c}&CoworkerSetting_Value={}",
            enc("plain value")
        ),
        created,
        &|x| cust(x) && contains_ci(&x["Value"], "plain value"),
        &|x| cust(x) && x["Value"] == "plain value",
        Outcome::Fail,
    )
    .await;
    filter_check(
        r,
        "list.filter.encrypted-value",
        &format!("CoworkerSetting_Coworker={c}&CoworkerSetting_EncryptedValue=secret"),
        created,
        &|x| cust(x) && contains_ci(&x["EncryptedValue"], "secret"),
        &|x| cust(x) && x["EncryptedValue"] == "secret",
        Outcome::Fail,
    )
    .await;
    filter_check(r, "list.filter.combined", &format!("CoworkerSetting_Coworker={c}&CoworkerSetting_Value={}&CoworkerSetting_EncryptedValue=secret", enc("plain value")), created,
        &|x| cust(x) && contains_ci(&x["Value"], "plain value") && contains_ci(&x["EncryptedValue"], "secret"),
        &|x| cust(x) && x["Value"] == "plain value" && x["EncryptedValue"] == "secret", Outcome::Fail).await;

    // Range filters: the record's own minute, from and to, includes it (the whole
    // `to_` minute); the minute before excludes it.
    for field in ["CreatedOn", "UpdatedOn"] {
        let stamp = bravo.read[field].as_str().unwrap_or_default().to_string();
        let Some(minute) = stamp.get(..16).map(str::to_string) else {
            continue;
        };
        let (lo, hi) = (format!("{minute}:00"), format!("{minute}:59.999"));
        let within = move |x: &Value| {
            x[field]
                .as_str()
                .is_some_and(|s| s >= lo.as_str() && s <= hi.as_str())
        };
        let query = format!(
            "CoworkerSetting_Coworker={c}&from_CoworkerSetting_{field}={minute}&to_CoworkerSetting_{field}={minute}"
        );
        let id = bravo.id;
        filter_check(
            r,
            &format!("list.filter.range.{field}"),
            &query,
            created,
            &|x| cust(x) && within(x),
            &|x| x["Id"] == id,
            Outcome::Fail,
        )
        .await;
        let before = minute_before(&minute);
        let started = Instant::now();
        let ex =
            r.s.list(&format!(
                "size=100&CoworkerSetting_Coworker={c}&to_CoworkerSetting_{field}={before}"
            ))
            .await;
        let problems = match r.s.expect(&ex, 200, Schema::List) {
            Err(e) => vec![e],
            Ok(v) if ids(&v).contains(&bravo.id) => vec![r.s.evidence(
                &ex,
                format!(
                    "Id {} ({field} {stamp}) is returned by to_ {before}",
                    bravo.id
                ),
                "records after the bound excluded",
            )],
            Ok(_) => vec![],
        };
        r.record(
            &format!("list.filter.range.{field}.excludes-later"),
            started,
            problems,
            Outcome::Fail,
        );
    }
}

/// `YYYY-MM-DDTHH:mm` one minute earlier.
fn minute_before(minute: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(minute, "%Y-%m-%dT%H:%M")
        .map(|t| {
            (t - chrono::Duration::minutes(1))
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| "2000-01-01T00:00".into())
}

/// SPEC.md settles that bad list parameters get the 400 envelope naming them.
async fn invalid_parameters(r: &mut Runner) {
    let c = r.ns.customer;
    let started = Instant::now();
    let mut problems = Vec::new();
    for (query, param) in [
        ("size=0", "size"),
        ("page=0", "page"),
        ("dir=2", "dir"),
        ("orderBy=NoSuchField", "orderBy"),
    ] {
        let ex =
            r.s.list(&format!("{query}&CoworkerSetting_Coworker={c}"))
                .await;
        problems.extend(validation_problems(
            r,
            &ex,
            &[(
                param,
                json!(query.split_once('=').map(|x| x.1).unwrap_or_default()),
            )],
        ));
    }
    let outcome = r.settled();
    r.record("list.invalid-parameters", started, problems, outcome);
}

/// Batch get: the existing records asked for, in the order asked (settled), none other.
pub async fn batch(r: &mut Runner, created: &[Created]) {
    if created.len() < 2 {
        return r.skip("batch", "needs two created records");
    }
    let (a, b) = (created[1].id, created[0].id);
    let started = Instant::now();
    let ex =
        r.s.get(&format!("{BASE_PATH}/?id=[{a},{UNKNOWN_ID},{b}]"))
            .await;
    if matches!(ex.status(), Some(404) | Some(405) | Some(501)) {
        return r.skip("batch", "the target does not offer batch get");
    }
    let v = match r.s.expect(&ex, 200, Schema::Batch) {
        Ok(v) => v,
        Err(e) => return r.record("batch.records", started, vec![e], Outcome::Fail),
    };
    let got: Vec<i64> = v
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["Id"].as_i64()).collect())
        .unwrap_or_default();
    let set: HashSet<i64> = got.iter().copied().collect();
    let problems = if set == HashSet::from([a, b]) {
        vec![]
    } else {
        vec![r.s.evidence(
            &ex,
            format!("returned Ids {got:?}"),
            format!("exactly {a} and {b}"),
        )]
    };
    r.record("batch.records", started, problems, Outcome::Fail);
    let problems = if got == [a, b] || set != HashSet::from([a, b]) {
        vec![]
    } else {
        vec![r.s.evidence(
            &ex,
            format!("returned Ids in the order {got:?}"),
            format!("the order asked: [{a}, {b}]"),
        )]
    };
    let outcome = r.settled();
    r.record("batch.order-asked", started, problems, outcome);
}

/// Update: envelope, read-back, list after update, uniqueness on rename, unknown Id.
pub async fn update(r: &mut Runner, created: &[Created]) {
    let Some(target) = created.first() else {
        return r.skip("update", "nothing was created");
    };
    let c = r.ns.customer;
    let name = target.read["Name"].clone();
    let body = json!({"Id": target.id, "CoworkerId": c, "Name": name, "Value": "updated ✓ value", "EncryptedValue": null});
    let started = Instant::now();
    let ex =
        r.s.send(HttpRequest::new("PUT", BASE_PATH).json(&body))
            .await;
    if matches!(ex.status(), Some(405) | Some(501)) {
        return r.skip("update", "the target does not offer update");
    }
    let problems = action_problems(r, &ex, MSG_UPDATED);
    r.record("update.envelope", started, problems, Outcome::Fail);

    let started = Instant::now();
    let get = r.s.get(&item(target.id)).await;
    let problems = match r.s.expect(&get, 200, Schema::Record) {
        Err(e) => vec![e],
        Ok(v) => {
            let mut p = Vec::new();
            for field in ["CoworkerId", "Name", "Value", "EncryptedValue"] {
                if v[field] != body[field] {
                    p.push(r.s.evidence(
                        &get,
                        format!("{field} reads back as {} after the update", v[field]),
                        format!("{}", body[field]),
                    ));
                }
            }
            for field in ["CreatedOn", "UniqueId"] {
                if v[field] != target.read[field] {
                    p.push(r.s.evidence(
                        &get,
                        format!(
                            "{field} changed from {} to {}",
                            target.read[field], v[field]
                        ),
                        "unchanged by an update",
                    ));
                }
            }
            p
        }
    };
    r.record("update.read-back", started, problems, Outcome::Fail);

    let started = Instant::now();
    let ex =
        r.s.list(&format!(
            "size=100&CoworkerSetting_Coworker={c}&CoworkerSetting_Value=updated"
        ))
        .await;
    let problems = match r.s.expect(&ex, 200, Schema::List) {
        Err(e) => vec![e],
        Ok(v) if !ids(&v).contains(&target.id) => vec![r.s.evidence(
            &ex,
            format!(
                "updated Id {} is missing from a Value filter for its new value",
                target.id
            ),
            "the updated record listed",
        )],
        Ok(_) => vec![],
    };
    r.record("update.in-filtered-list", started, problems, Outcome::Fail);

    if let Some(other) = created.get(1) {
        let started = Instant::now();
        let clash = json!({"Id": other.id, "CoworkerId": c, "Name": name});
        let ex =
            r.s.send(HttpRequest::new("PUT", BASE_PATH).json(&clash))
                .await;
        let problems = validation_problems(r, &ex, &[("Name", name.clone())]);
        r.record(
            "update.duplicate-rejected",
            started,
            problems,
            Outcome::Fail,
        );
    }

    let started = Instant::now();
    let ex =
        r.s.send(HttpRequest::new("PUT", BASE_PATH).json(
            &json!({"Id": UNKNOWN_ID, "CoworkerId": c, "Name": format!("{}-ghost", r.ns.prefix)}),
        ))
        .await;
    let problems: Vec<Evidence> = match ex.status() {
        Some(404) => {
            r.s.expect(&ex, 404, Schema::Error)
                .err()
                .into_iter()
                .collect()
        }
        _ => vec![r.s.evidence(
            &ex,
            "updating an unknown Id did not get 404",
            "404 (SPEC.md settles this)",
        )],
    };
    let outcome = if ex.status().is_some_and(|s| (400..500).contains(&s)) {
        r.settled()
    } else {
        Outcome::Fail
    };
    r.record("update.unknown-id", started, problems, outcome);
}

/// Delete: envelope, gone from GET and the list, a second delete is 404.
pub async fn delete(r: &mut Runner) {
    let c = r.ns.customer;
    let Some((ex, Some(id))) = r.s.create(&json!({"CoworkerId": c, "Name": format!("{}-zulu", r.ns.prefix), "Value": "to delete"})).await else {
        return r.skip("delete", "could not create a record to delete");
    };
    let _ = ex;
    let started = Instant::now();
    let ex = r.s.send(HttpRequest::new("DELETE", item(id))).await;
    if matches!(ex.status(), Some(405) | Some(501)) {
        return r.skip("delete", "the target does not offer delete");
    }
    let problems = action_problems(r, &ex, MSG_DELETED);
    r.record("delete.envelope", started, problems, Outcome::Fail);

    let started = Instant::now();
    let mut problems = Vec::new();
    let get = r.s.get(&item(id)).await;
    if let Err(e) = r.s.expect(&get, 404, Schema::Error) {
        problems.push(e);
    }
    let ex =
        r.s.list(&format!("size=100&CoworkerSetting_Coworker={c}"))
            .await;
    if let Ok(v) = r.s.expect(&ex, 200, Schema::List) {
        if ids(&v).contains(&id) {
            problems.push(r.s.evidence(
                &ex,
                format!("deleted Id {id} is still listed"),
                "the record gone from the list",
            ));
        }
    }
    let again = r.s.send(HttpRequest::new("DELETE", item(id))).await;
    if let Err(e) = r.s.expect(&again, 404, Schema::Error) {
        problems.push(e);
    }
    r.record("delete.gone", started, problems, Outcome::Fail);
}

/// With a read-only user: reads work, every write is refused.
pub async fn read_only_user(r: &mut Runner) {
    let Some(cred) = r.cfg.read_only_credential.clone() else {
        return r.skip(
            "auth.read-only-user",
            "no --read-only-token/--read-only-user given",
        );
    };
    let c = r.ns.customer;
    let header = cred.header();
    let with = |req: HttpRequest| match &header {
        Some(h) => req.header("Authorization", h.clone()),
        None => req,
    };
    let started = Instant::now();
    let mut problems = Vec::new();
    let ex =
        r.s.send_raw(with(HttpRequest::new(
            "GET",
            format!("{BASE_PATH}?CoworkerSetting_Coworker={c}"),
        )))
        .await;
    if let Err(e) = r.s.expect(&ex, 200, Schema::List) {
        problems.push(e);
    }
    let victim = ids(&ex.json().unwrap_or_default())
        .first()
        .copied()
        .unwrap_or(UNKNOWN_ID);
    for req in [
        HttpRequest::new("POST", BASE_PATH)
            .json(&json!({"CoworkerId": c, "Name": format!("{}-readonly", r.ns.prefix)})),
        HttpRequest::new("PUT", BASE_PATH).json(
            &json!({"Id": victim, "CoworkerId": c, "Name": format!("{}-readonly", r.ns.prefix)}),
        ),
        HttpRequest::new("DELETE", item(victim)),
    ] {
        let ex = r.s.send_raw(with(req)).await;
        r.s.track_created(&ex);
        if !matches!(ex.status(), Some(401) | Some(403)) {
            problems.push(r.s.evidence(
                &ex,
                "a read-only user's write was not refused",
                "401 (or 403)",
            ));
        }
    }
    r.record("auth.read-only-user", started, problems, Outcome::Fail);
}

/// Read-only mode: paging arithmetic and order on what is there, within the customer
/// given by --coworker-id when there is one.
pub async fn list_read_only(r: &mut Runner) {
    let scope = r
        .cfg
        .coworker_id
        .map(|c| format!("&CoworkerSetting_Coworker={c}"))
        .unwrap_or_default();
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut first_id = None;
    for (page, size) in [(1, 5), (2, 5), (1000, 5)] {
        let ex = r.s.list(&format!("page={page}&size={size}{scope}")).await;
        match r.s.expect(&ex, 200, Schema::List) {
            Err(e) => problems.push(e),
            Ok(v) => {
                first_id = first_id.or_else(|| ids(&v).first().copied());
                for p in paging_problems(&v, page, size) {
                    problems.push(r.s.evidence(&ex, p, "paging fields that agree"));
                }
            }
        }
    }
    r.record("list.paging.arithmetic", started, problems, Outcome::Fail);
    for field in ["Id", "CoworkerId", "CreatedOn", "UpdatedOn"] {
        let started = Instant::now();
        let mut problems = Vec::new();
        for (dir, asc) in [(1, true), (-1, false)] {
            let ex =
                r.s.list(&format!("size=50&orderBy={field}&dir={dir}{scope}"))
                    .await;
            if let Ok(v) = r.s.expect(&ex, 200, Schema::List) {
                if let Some(p) = order_problem(
                    v["Records"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    field,
                    asc,
                ) {
                    problems.push(r.s.evidence(&ex, p, format!("sorted by {field}")));
                }
            }
        }
        r.record(
            &format!("list.order.{field}"),
            started,
            problems,
            Outcome::Fail,
        );
    }
    auth(r, first_id).await;
}

impl Credential {
    /// A credential from `--token` or `--user`.
    pub fn from_flags(token: Option<&str>, user: Option<&str>) -> Result<Credential, String> {
        match (token, user) {
            (Some(t), _) => Ok(Credential::Bearer(t.to_string())),
            (None, Some(u)) => {
                Credential::user(u).ok_or_else(|| format!("--user {u:?} is not EMAIL:PASSWORD"))
            }
            (None, None) => Ok(Credential::None),
        }
    }
}
