//! The reference model: what the target should hold for the current case, and the
//! postcondition of each step against it. Filter matching, sort order, paging
//! arithmetic and validation come from the crate's one definition (`query`,
//! `resource`), so the fuzzer and the mock cannot disagree about the rules.

use chrono::Timelike;
use serde_json::{Value, json};

use super::strategies::{Body, ListSpec, Step};
use crate::client::HttpRequest;
use crate::contract::props::{order_problem, paging_problems};
use crate::contract::session::{Exchange, Session};
use crate::query::{ListQuery, PageInfo};
use crate::resource::{BASE_PATH, Record, Timestamp};
use crate::schemas::Schema;

/// An Id that is never live.
pub const UNKNOWN_ID: i64 = 2_147_483_646;

/// Where the target differs from a choice the docs leave open: a warning kept for
/// the report, or (with `--strict`) a failure.
pub struct Judge {
    pub strict: bool,
    pub warnings: Vec<String>,
}

impl Judge {
    pub fn new(strict: bool) -> Self {
        Judge {
            strict,
            warnings: Vec::new(),
        }
    }

    /// A difference from a settled choice.
    fn settled(&mut self, what: String) -> Result<(), String> {
        if self.strict {
            Err(format!("{what} (settled; failing because of --strict)"))
        } else {
            self.warnings.push(what);
            Ok(())
        }
    }
}

/// One case's namespace and the records it holds, in creation order.
pub struct Model {
    pub customers: [i64; 3],
    pub prefix: String,
    /// The minute the case started, for range filters.
    pub now_minute: i64,
    pub live: Vec<Record>,
    /// Values an update sent no field for: the mock sets them to null (a full-record
    /// PUT, settled), a target may keep them. (Id, field, the value it may have kept.)
    pub kept: Vec<(i64, &'static str, Option<String>)>,
    /// Settled differences found while comparing records, for the judge.
    pub differences: Vec<String>,
}

impl Model {
    pub fn new(customers: [i64; 3], prefix: String) -> Self {
        let now = chrono::Utc::now();
        let now_minute = now.timestamp() - i64::from(now.second());
        Model {
            customers,
            prefix,
            now_minute,
            live: Vec::new(),
            kept: Vec::new(),
            differences: Vec::new(),
        }
    }

    fn target(&self, i: usize) -> Option<&Record> {
        (!self.live.is_empty()).then(|| &self.live[i % self.live.len()])
    }

    fn record_for(&self, body: &Body, id: i64, stamp: Timestamp, by: Option<String>) -> Record {
        Record {
            coworker_id: self.customers[body.customer as usize % 3],
            name: format!("{}{}", self.prefix, body.name),
            value: body.value.stored(),
            encrypted_value: body.encrypted_value.stored(),
            id,
            updated_on: stamp,
            created_on: stamp,
            unique_id: uuid::Uuid::nil(),
            updated_by: by,
            is_new: false,
            system_id: None,
            to_string_text: None,
            localization_details: (),
            custom_fields: (),
        }
    }

    fn holds_key(&self, coworker_id: i64, name: &str, except: Option<i64>) -> bool {
        self.live
            .iter()
            .any(|r| r.coworker_id == coworker_id && r.name == name && Some(r.id) != except)
    }
}

/// The request a step sends (given the model as it stands).
pub fn request(step: &Step, m: &Model) -> HttpRequest {
    let id_of = |t: &usize| m.target(*t).map_or(UNKNOWN_ID, |r| r.id);
    match step {
        Step::Create(b) => HttpRequest::new("POST", BASE_PATH).json(&super::strategies::body_json(
            b,
            m.customers[b.customer as usize % 3],
            &m.prefix,
            None,
        )),
        Step::Update { target, body } => {
            HttpRequest::new("PUT", BASE_PATH).json(&super::strategies::body_json(
                body,
                m.customers[body.customer as usize % 3],
                &m.prefix,
                Some(id_of(target)),
            ))
        }
        Step::Delete { target } => {
            HttpRequest::new("DELETE", format!("{BASE_PATH}/{}", id_of(target)))
        }
        Step::Get { target } => HttpRequest::new("GET", format!("{BASE_PATH}/{}", id_of(target))),
        Step::Batch { targets } => {
            let mut ids: Vec<String> = targets.iter().map(|t| id_of(t).to_string()).collect();
            ids.push(UNKNOWN_ID.to_string());
            HttpRequest::new("GET", format!("{BASE_PATH}/?id=%5B{}%5D", ids.join("%2C")))
        }
        Step::List(spec) => HttpRequest::new("GET", format!("{BASE_PATH}?{}", list_query(spec, m))),
        Step::Invalid(inv) => {
            HttpRequest::new("POST", BASE_PATH).raw_body("application/json", inv.raw.clone())
        }
    }
}

fn minute(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// The query string of a list step (scoped to one of the case's customers).
pub fn list_query(spec: &ListSpec, m: &Model) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("page", &spec.page.to_string());
    s.append_pair("size", &spec.size.to_string());
    s.append_pair("orderBy", &spec.order_by);
    s.append_pair("dir", if spec.ascending { "1" } else { "-1" });
    s.append_pair(
        "CoworkerSetting_Coworker",
        &m.customers[spec.customer as usize % 3].to_string(),
    );
    for (k, v) in [
        ("CoworkerSetting_Name", &spec.name),
        ("CoworkerSetting_Value", &spec.value),
        ("CoworkerSetting_EncryptedValue", &spec.encrypted_value),
    ] {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    if let Some(r) = &spec.range {
        let field = if r.created { "CreatedOn" } else { "UpdatedOn" };
        if let Some(a) = &r.anchor
            && let Some(rec) = m.target(a.target)
        {
            let t = if a.from_created {
                rec.created_on.0
            } else {
                rec.updated_on.0
            };
            let minute_start = t - t.rem_euclid(60) + a.offset * 60;
            let side = if a.to { "to" } else { "from" };
            s.append_pair(
                &format!("{side}_CoworkerSetting_{field}"),
                &minute(minute_start),
            );
        }
        if let Some(f) = r.from_minutes {
            s.append_pair(
                &format!("from_CoworkerSetting_{field}"),
                &minute(m.now_minute + f * 60),
            );
        }
        if let Some(t) = r.to_minutes {
            s.append_pair(
                &format!("to_CoworkerSetting_{field}"),
                &minute(m.now_minute + t * 60),
            );
        }
    }
    if let Some((k, v)) = &spec.malformed {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Checks the answer to `step` against the model and advances the model.
/// `Err` says what is wrong.
pub fn check(
    step: &Step,
    ex: &Exchange,
    m: &mut Model,
    s: &Session,
    judge: &mut Judge,
) -> Result<(), String> {
    let result = check_step(step, ex, m, s, judge);
    for difference in std::mem::take(&mut m.differences) {
        judge.settled(difference)?;
    }
    result
}

fn check_step(
    step: &Step,
    ex: &Exchange,
    m: &mut Model,
    s: &Session,
    judge: &mut Judge,
) -> Result<(), String> {
    let resp = ex.response().ok_or_else(|| {
        format!(
            "no response: {}",
            ex.result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        )
    })?;
    if resp.status >= 500 {
        return Err(format!(
            "the target answered {} {}",
            resp.status,
            resp.body_excerpt(300)
        ));
    }
    let expect = |status: u16, schema: Schema| {
        s.expect(ex, status, schema)
            .map_err(|e| format!("{}: {}", e.problem, e.response.unwrap_or_default()))
    };
    let id_of = |m: &Model, t: &usize| m.target(*t).map(|r| r.id);
    match step {
        Step::Create(b) => {
            let coworker = m.customers[b.customer as usize % 3];
            let name = format!("{}{}", m.prefix, b.name);
            if m.holds_key(coworker, &name, None) {
                return name_error(expect(400, Schema::ValidationError)?);
            }
            if resp.status == 400 {
                let v = expect(400, Schema::ValidationError)?;
                if let Some(why) = refusal_within_docs(m, coworker, &name, None, &v) {
                    return judge.settled(why);
                }
            }
            let v = expect(200, Schema::Action)?;
            let id = v["Value"]["Id"].as_i64().ok_or("no Value.Id")?;
            if m.live.iter().any(|r| r.id == id) {
                return Err(format!("Id {id} was handed out twice"));
            }
            let stamp = v["UpdatedOn"]
                .as_str()
                .and_then(Timestamp::parse)
                .unwrap_or(Timestamp(m.now_minute));
            let rec = m.record_for(b, id, stamp, v["UpdatedBy"].as_str().map(String::from));
            m.live.push(rec);
        }
        Step::Update { target, body } => {
            let Some(id) = id_of(m, target) else {
                if resp.status != 404 && (400..500).contains(&resp.status) {
                    return judge.settled(format!(
                        "updating an Id that does not exist got {} instead of 404",
                        resp.status
                    ));
                }
                return expect_status(expect(404, Schema::Error));
            };
            let coworker = m.customers[body.customer as usize % 3];
            let name = format!("{}{}", m.prefix, body.name);
            if m.holds_key(coworker, &name, Some(id)) {
                return name_error(expect(400, Schema::ValidationError)?);
            }
            if resp.status == 400 {
                let v = expect(400, Schema::ValidationError)?;
                if let Some(why) = refusal_within_docs(m, coworker, &name, Some(id), &v) {
                    return judge.settled(why);
                }
            }
            let v = expect(200, Schema::Action)?;
            let stamp = v["UpdatedOn"].as_str().and_then(Timestamp::parse);
            let by = v["UpdatedBy"].as_str().map(String::from);
            let fresh = m.record_for(body, id, stamp.unwrap_or(Timestamp(m.now_minute)), by);
            m.kept.retain(|(k, _, _)| *k != id);
            if let Some(r) = m.live.iter_mut().find(|r| r.id == id) {
                for (field, sent, old) in [
                    ("Value", &body.value, &r.value),
                    ("EncryptedValue", &body.encrypted_value, &r.encrypted_value),
                ] {
                    if *sent == super::strategies::Opt::Absent && old.is_some() {
                        m.kept.push((id, field, old.clone()));
                    }
                }
                *r = Record {
                    created_on: r.created_on,
                    ..fresh
                };
            }
        }
        Step::Delete { target } => match id_of(m, target) {
            None => expect_status(expect(404, Schema::Error))?,
            Some(id) => {
                expect(200, Schema::Action)?;
                m.live.retain(|r| r.id != id);
            }
        },
        Step::Get { target } => match id_of(m, target) {
            None => expect_status(expect(404, Schema::Error))?,
            Some(id) => {
                let v = expect(200, Schema::Record)?;
                same_record(&v, m, id)?;
            }
        },
        Step::Batch { targets } => {
            let v = expect(200, Schema::Batch)?;
            let mut want: Vec<i64> = Vec::new();
            let mut asked_twice: Vec<i64> = Vec::new();
            for t in targets {
                if let Some(id) = id_of(m, t) {
                    if want.contains(&id) {
                        asked_twice.push(id);
                    } else {
                        want.push(id);
                    }
                }
            }
            let got: Vec<i64> = v
                .as_array()
                .map(|a| a.iter().filter_map(|x| x["Id"].as_i64()).collect())
                .unwrap_or_default();
            let mut first_seen: Vec<i64> = Vec::new();
            for id in &got {
                if !first_seen.contains(id) {
                    first_seen.push(*id);
                } else if !asked_twice.contains(id) {
                    return Err(format!(
                        "batch returned Id {id} twice though it was asked once: {got:?}"
                    ));
                }
            }
            let mut sorted_got = first_seen.clone();
            sorted_got.sort_unstable();
            let mut sorted_want = want.clone();
            sorted_want.sort_unstable();
            if sorted_got != sorted_want {
                return Err(format!(
                    "batch returned Ids {got:?}; the live records asked for are {want:?}"
                ));
            }
            for x in v.as_array().into_iter().flatten() {
                same_record(x, m, x["Id"].as_i64().unwrap_or(0))?;
            }
            if first_seen != want {
                judge.settled(format!(
                    "batch returned Ids in the order {got:?}, not the order asked {want:?}"
                ))?;
            }
            if got.len() != first_seen.len() {
                judge.settled(format!("batch returned an Id asked twice twice: {got:?}"))?;
            }
        }
        Step::List(spec) => {
            if let Some((param, value)) = &spec.malformed {
                if resp.status == 200 {
                    // Accepting it is outside what the mock settles, within the docs
                    // as long as the page is a consistent list.
                    let v = expect(200, Schema::List)?;
                    if let (Some(page), Some(size)) =
                        (v["PageNumber"].as_u64(), v["PageSize"].as_u64())
                        && page > 0
                        && size > 0
                        && let Some(p) = paging_problems(&v, page, size).into_iter().next()
                    {
                        return Err(p);
                    }
                    return judge.settled(format!(
                        "{param}={value:?} was accepted, not refused with a 400 naming it"
                    ));
                }
                if resp.status != 400 {
                    return judge.settled(format!(
                        "{param}={value:?} got {} instead of a 400 naming it",
                        resp.status
                    ));
                }
                let v = expect(400, Schema::ValidationError)?;
                let named = v["Errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["PropertyName"] == param.as_str());
                return if named {
                    Ok(())
                } else {
                    judge.settled(format!(
                        "the 400 for {param}={value:?} does not name {param}: {v}"
                    ))
                };
            }
            let v = expect(200, Schema::List)?;
            let q = ListQuery::parse(&list_query(spec, m))
                .map_err(|e| format!("the fuzzer built a bad query: {e:?}"))?;
            if let Err(exact) = list_exactly(&v, &q, m) {
                // The model is the mock's settled reading; the docs allow others.
                // What they do not allow shows in the response's own properties.
                documented_list(&v, &q, m)
                    .map_err(|documented| format!("{documented} ({exact})"))?;
                return judge.settled(exact);
            }
        }
        Step::Invalid(inv) => {
            if inv.settled && resp.status == 200 {
                return judge.settled(format!(
                    "an invalid body was accepted: {}",
                    crate::client::truncate(&inv.raw, 120)
                ));
            }
            let v = expect(400, Schema::ValidationError)?;
            if !inv.properties.is_empty() {
                let named: Vec<&str> = v["Errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["PropertyName"].as_str())
                    .collect();
                if !named.iter().any(|p| inv.properties.iter().any(|w| w == p)) {
                    return Err(format!(
                        "the 400 names {named:?}; expected one of {:?}",
                        inv.properties
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The model's exact expectation for a list page (the mock's settled choices).
fn list_exactly(v: &Value, q: &ListQuery, m: &mut Model) -> Result<(), String> {
    let mut matching: Vec<&Record> = m.live.iter().filter(|r| q.matches(r)).collect();
    matching.sort_by(|a, b| q.compare(a, b));
    let want: Vec<i64> = matching
        .iter()
        .skip(q.offset())
        .take(q.size as usize)
        .map(|r| r.id)
        .collect();
    let got: Vec<i64> = v["Records"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["Id"].as_i64()).collect())
        .unwrap_or_default();
    if got != want {
        return Err(format!(
            "the list returned Ids {got:?}; the model expects {want:?}"
        ));
    }
    let info = PageInfo::new(q.page, q.size, matching.len() as u64, want.len() as u64);
    let expected = json!({"TotalItems": info.total_items, "TotalPages": info.total_pages, "FirstItem": info.first_item,
        "LastItem": info.last_item, "HasNextPage": info.has_next, "HasPreviousPage": info.has_previous});
    for (k, want) in expected.as_object().into_iter().flatten() {
        if v[k] != *want {
            return Err(format!("{k} is {} but the model expects {want}", v[k]));
        }
    }
    for x in v["Records"].as_array().into_iter().flatten() {
        same_record(x, m, x["Id"].as_i64().unwrap_or(0))?;
    }
    Ok(())
}

/// What the docs make of a list page, whatever reading of the settled choices the
/// target made: the paging fields agree; every record returned is live, as written,
/// and inside every filter read as widely as the docs allow (text filters as a
/// case-insensitive substring); TotalItems lies between the narrowest reading (exact
/// equality) and the widest; the page is in the asked order under some collation;
/// and a query without text filters that fits one page returns exactly its records.
fn documented_list(v: &Value, q: &ListQuery, m: &mut Model) -> Result<(), String> {
    if let Some(p) = paging_problems(v, q.page, q.size).into_iter().next() {
        return Err(p);
    }
    let records = v["Records"].as_array().cloned().unwrap_or_default();
    for x in &records {
        let id = x["Id"].as_i64().unwrap_or(0);
        same_record(x, m, id)?;
        let r = m
            .live
            .iter()
            .find(|r| r.id == id)
            .expect("same_record found it");
        if !q.matches(r) {
            return Err(format!(
                "Id {id} is outside the query's filters: {}",
                crate::client::truncate(&x.to_string(), 160)
            ));
        }
    }
    let widest = m.live.iter().filter(|r| q.matches(r)).count() as u64;
    let narrowest = m
        .live
        .iter()
        .filter(|r| {
            q.matches(r)
                && q.name.as_deref().is_none_or(|n| r.name == n)
                && q.value
                    .as_deref()
                    .is_none_or(|n| r.value.as_deref() == Some(n))
                && q.encrypted_value
                    .as_deref()
                    .is_none_or(|n| r.encrypted_value.as_deref() == Some(n))
        })
        .count() as u64;
    let total = v["TotalItems"].as_u64().unwrap_or(u64::MAX);
    if total < narrowest || total > widest {
        return Err(format!(
            "TotalItems is {total}, but {narrowest} live records match the filters exactly and {widest} as a case-insensitive substring"
        ));
    }
    let field = q.order_by.name();
    if let Some(p) = order_problem(&records, field, q.ascending) {
        return Err(format!("the page is not sorted by {field}: {p}"));
    }
    let text_filters = q.name.is_some() || q.value.is_some() || q.encrypted_value.is_some();
    if !text_filters && q.page == 1 && widest <= q.size {
        let mut got: Vec<i64> = records.iter().filter_map(|x| x["Id"].as_i64()).collect();
        let mut want: Vec<i64> = m
            .live
            .iter()
            .filter(|r| q.matches(r))
            .map(|r| r.id)
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            return Err(format!(
                "the list returned Ids {got:?}; the live records matching are {want:?}"
            ));
        }
    }
    Ok(())
}

/// Why a 400 for a write the model expected to succeed is still within the docs:
/// the target compares Names ignoring case (the mock compares exactly), or it
/// refuses a Name longer than it stores (no limit is documented). `None` otherwise.
fn refusal_within_docs(
    m: &Model,
    coworker: i64,
    name: &str,
    except: Option<i64>,
    v: &Value,
) -> Option<String> {
    let names_name = v["Errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["PropertyName"] == "Name");
    if !names_name {
        return None;
    }
    let folded = name.to_lowercase();
    let clash = m.live.iter().any(|r| {
        r.coworker_id == coworker && Some(r.id) != except && r.name.to_lowercase() == folded
    });
    if clash {
        return Some(format!(
            "a Name that differs from another of the customer only in case was refused ({:?})",
            crate::client::truncate(name, 60)
        ));
    }
    let long = name.chars().count() > 255;
    long.then(|| {
        format!(
            "a Name of {} characters was refused (no length limit is documented)",
            name.chars().count()
        )
    })
}

fn expect_status(r: Result<Value, String>) -> Result<(), String> {
    r.map(|_| ())
}

fn name_error(v: Value) -> Result<(), String> {
    let named = v["Errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["PropertyName"] == "Name");
    if named {
        Ok(())
    } else {
        Err(format!(
            "a duplicate (CoworkerId, Name) got a 400 that does not name Name: {v}"
        ))
    }
}

/// The written fields of a record read from the target equal the model's.
fn same_record(v: &Value, m: &mut Model, id: i64) -> Result<(), String> {
    let Some(r) = m.live.iter_mut().find(|r| r.id == id) else {
        return Err(format!(
            "Id {id} was returned but the model does not hold it"
        ));
    };
    // A value an update left out, still there: the target kept it where the mock
    // would have cleared it. Adopt it.
    for (kid, field, old) in &m.kept {
        if *kid == id && v[*field] == json!(old) && v[*field] != Value::Null {
            let slot = if *field == "Value" {
                &mut r.value
            } else {
                &mut r.encrypted_value
            };
            if slot != old {
                *slot = old.clone();
                m.differences.push(format!(
                    "Id {id}: an update without {field} kept the old value (the mock sets it to null)"
                ));
            }
        }
    }
    let want = json!({"CoworkerId": r.coworker_id, "Name": r.name, "Value": r.value, "EncryptedValue": r.encrypted_value});
    for (k, w) in want.as_object().into_iter().flatten() {
        if v[k] != *w {
            let short = |x: &Value| crate::client::truncate(&x.to_string(), 120).to_string();
            return Err(format!(
                "Id {id}: {k} reads {} but {} was written",
                short(&v[k]),
                short(w)
            ));
        }
    }
    // Learn the target's own timestamps, so later sorts and ranges use them.
    if let Some(t) = v["CreatedOn"].as_str().and_then(Timestamp::parse) {
        r.created_on = t;
    }
    if let Some(t) = v["UpdatedOn"].as_str().and_then(Timestamp::parse) {
        r.updated_on = t;
    }
    if let Some(by) = v["UpdatedBy"].as_str() {
        r.updated_by = Some(by.to_string());
    }
    r.system_id = v["SystemId"].as_str().map(String::from);
    Ok(())
}

/// Deletes what the case left behind (not part of the checked sequence).
pub async fn cleanup(m: &Model, s: &mut Session) {
    for r in &m.live {
        s.send(HttpRequest::new("DELETE", format!("{BASE_PATH}/{}", r.id)))
            .await;
    }
}
