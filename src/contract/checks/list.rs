//! Lists: paging arithmetic and a full walk, past the end, every orderBy both ways,
//! every filter (sound: everything returned matches; complete: everything this run
//! created that must match is returned), filter values with the characters that
//! break query builders, empty filter values, and range bounds with records just
//! inside and just outside them, on this run's records and on the data already there.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::Value;

use super::{Created, enc, ev};
use crate::contract::Runner;
use crate::contract::props::{ids, order_problem, paging_problems, settled_order_problem};
use crate::report::{Evidence, Outcome};
use crate::schemas::Schema;

/// Paging over this run's customer: arithmetic, a full walk, past the end.
pub async fn paging(r: &mut Runner, created: &[Created]) {
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
                if v["TotalItems"].as_u64() != Some(total) {
                    arithmetic.push(r.s.evidence(
                        &ex,
                        format!(
                            "TotalItems is {} for a customer holding {total}",
                            v["TotalItems"]
                        ),
                        format!("TotalItems {total}"),
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
}

/// Every orderBy both ways: the documented key always; ties and text collation as
/// the mock settles them, as a warning.
pub async fn order(r: &mut Runner, scope: &str, limit: u64) {
    for field in crate::query::SortField::ALL.map(|f| f.name()) {
        let started = Instant::now();
        let (mut hard, mut soft) = (Vec::new(), Vec::new());
        for (dir, ascending) in [(1, true), (-1, false)] {
            let ex =
                r.s.list(&format!("size={limit}&orderBy={field}&dir={dir}{scope}"))
                    .await;
            match r.s.expect(&ex, 200, Schema::List) {
                Err(e) => hard.push(e),
                Ok(v) => {
                    let records = v["Records"].as_array().cloned().unwrap_or_default();
                    let way = if ascending { "ascending" } else { "descending" };
                    if let Some(p) = order_problem(&records, field, ascending) {
                        hard.push(r.s.evidence(&ex, p, format!("sorted by {field} {way}")));
                    } else if let Some(p) = settled_order_problem(&records, field, ascending) {
                        soft.push(r.s.evidence(
                            &ex,
                            p,
                            format!("sorted by {field} {way}, text case-insensitively, ties by Id ascending (settled)"),
                        ));
                    }
                    if v["CurrentOrderField"] != field || v["CurrentSortDirection"] != dir {
                        hard.push(r.s.evidence(
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
        r.record(&format!("list.order.{field}"), started, hard, Outcome::Fail);
        let outcome = r.settled();
        r.record_if_any(
            &format!("list.order.{field}.settled"),
            started,
            soft,
            outcome,
        );
    }
}

/// One filter query. `sound`: every record returned must satisfy it. `must`: every
/// created record satisfying it must be returned (a failure). `should`: every created
/// record satisfying it should be returned (settled semantics, a warning).
pub struct FilterCase<'a> {
    pub name: String,
    pub query: String,
    pub sound: &'a (dyn Fn(&Value) -> bool + Sync),
    pub must: &'a (dyn Fn(&Value) -> bool + Sync),
    pub should: &'a (dyn Fn(&Value) -> bool + Sync),
    /// How a breach of `sound` or `must` counts: a failure, or for a parameter the
    /// docs do not name (the CoworkerId alias) the settled outcome.
    pub outcome: Outcome,
}

pub async fn filter_check(r: &mut Runner, case: FilterCase<'_>, created: &[Created]) {
    let started = Instant::now();
    let ex = r.s.list(&format!("size=100&{}", case.query)).await;
    let v = match r.s.expect(&ex, 200, Schema::List) {
        Ok(v) => v,
        Err(e) => return r.record(&case.name, started, vec![e], Outcome::Fail),
    };
    let records = v["Records"].as_array().cloned().unwrap_or_default();
    let mut hard: Vec<Evidence> = records
        .iter()
        .filter(|x| !(case.sound)(x))
        .map(|x| {
            r.s.evidence(
                &ex,
                format!(
                    "Id {} does not match the filter: {}",
                    x["Id"],
                    crate::client::truncate(&x.to_string(), 160)
                ),
                format!("only records matching {}", case.query),
            )
        })
        .collect();
    for p in paging_problems(&v, 1, 100) {
        hard.push(r.s.evidence(&ex, p, "paging fields that agree"));
    }
    let returned: HashSet<i64> = ids(&v).into_iter().collect();
    let missing = |pred: &(dyn Fn(&Value) -> bool + Sync)| -> Vec<Evidence> {
        created
            .iter()
            .filter(|c| pred(&c.read) && !returned.contains(&c.id))
            .map(|c| {
                r.s.evidence(
                    &ex,
                    format!("created Id {} matches but was not returned", c.id),
                    format!("every record matching {}", case.query),
                )
            })
            .collect()
    };
    hard.extend(missing(case.must));
    let soft = missing(case.should);
    r.record(&case.name, started, hard, case.outcome);
    let outcome = r.settled();
    r.record_if_any(&format!("{}.settled", case.name), started, soft, outcome);
}

fn contains_ci(v: &Value, needle: &str) -> bool {
    v.as_str()
        .is_some_and(|s| s.to_lowercase().contains(&needle.to_lowercase()))
}

/// The text filters with needles real clients send, the customer filter and its
/// alias, and an empty filter value.
pub async fn filters(r: &mut Runner, created: &[Created]) {
    let c = r.ns.customer;
    let cust = move |x: &Value| x["CoworkerId"] == c;
    let never = |_: &Value| false;
    filter_check(
        r,
        FilterCase {
            name: "list.filter.coworker".into(),
            query: format!("CoworkerSetting_Coworker={c}"),
            sound: &cust,
            must: &cust,
            should: &never,
            outcome: Outcome::Fail,
        },
        created,
    )
    .await;
    let settled = r.settled();
    filter_check(
        r,
        FilterCase {
            name: "list.filter.coworker-alias".into(),
            query: format!("CoworkerSetting_CoworkerId={c}"),
            sound: &cust,
            must: &cust,
            should: &never,
            outcome: settled,
        },
        created,
    )
    .await;

    // Whole values (found by every reading of "filter by": equality, substring,
    // with or without case) and fragments (found by the settled case-insensitive
    // substring match).
    let mut needles: Vec<(&str, String)> = Vec::new();
    for x in created {
        for field in ["Name", "Value", "EncryptedValue"] {
            if let Some(s) = x.read[field].as_str()
                && !s.is_empty()
                && s.chars().count() <= 300
            {
                needles.push((field, s.to_string()));
            }
        }
    }
    for (field, fragment) in [
        ("Name", "bravo mixed"),
        ("Name", "MIXED"),
        ("Name", "ünï"),
        ("Name", "日本"),
        ("Name", "\"q\" \\ '"),
        ("Name", "% & +"),
        ("Name", "; --"),
        ("Name", "'"),
        ("Name", "  "),
        ("Value", "PLAIN"),
        ("Value", "ünïcødé"),
        ("Value", "🚀"),
        ("Value", "' ; --"),
        ("Value", "\\y % & +"),
        ("EncryptedValue", "SECRET"),
        ("EncryptedValue", "\"quoted\""),
    ] {
        needles.push((field, fragment.to_string()));
    }
    for (field, needle) in needles {
        let f = field;
        let n = needle.clone();
        let n2 = needle.clone();
        let n3 = needle.clone();
        let sound = move |x: &Value| cust(x) && contains_ci(&x[f], &n);
        let must = move |x: &Value| cust(x) && x[f] == n2.as_str();
        let should = move |x: &Value| cust(x) && contains_ci(&x[f], &n3);
        filter_check(
            r,
            FilterCase {
                name: format!("list.filter.{}", field_key(field)),
                query: format!(
                    "CoworkerSetting_Coworker={c}&CoworkerSetting_{field}={}",
                    enc(&needle)
                ),
                sound: &sound,
                must: &must,
                should: &should,
                outcome: Outcome::Fail,
            },
            created,
        )
        .await;
    }

    filter_check(
        r,
        FilterCase {
            name: "list.filter.combined".into(),
            query: format!(
                "CoworkerSetting_Coworker={c}&CoworkerSetting_Value={}&CoworkerSetting_EncryptedValue=secret",
                enc("plain value")
            ),
            sound: &|x| cust(x) && contains_ci(&x["Value"], "plain value") && contains_ci(&x["EncryptedValue"], "secret"),
            must: &|x| cust(x) && x["Value"] == "plain value" && x["EncryptedValue"] == "secret",
            should: &never,
            outcome: Outcome::Fail,
        },
        created,
    )
    .await;

    // An empty value means no filter (settled); refusing it is a choice the docs leave open.
    let started = Instant::now();
    let ex =
        r.s.list(&format!(
            "size=100&CoworkerSetting_Coworker={c}&CoworkerSetting_Name=&to_CoworkerSetting_UpdatedOn="
        ))
        .await;
    let (mut hard, mut soft) = (Vec::new(), Vec::new());
    match ex.status() {
        Some(200) => {
            match r.s.expect(&ex, 200, Schema::List) {
                Err(e) => hard.push(e),
                Ok(v) => {
                    let got: HashSet<i64> = ids(&v).into_iter().collect();
                    if !v["Records"].as_array().into_iter().flatten().all(cust) {
                        hard.push(r.s.evidence(
                            &ex,
                            "a record of another customer",
                            "the customer's records",
                        ));
                    }
                    let all: HashSet<i64> = created.iter().map(|x| x.id).collect();
                    if got != all {
                        soft.push(r.s.evidence(
                        &ex,
                        format!("empty filter values returned {got:?}"),
                        format!("all of the customer's records {all:?} (settled: empty means no filter)"),
                    ));
                    }
                }
            }
        }
        Some(400) => soft.push(r.s.evidence(
            &ex,
            "an empty filter value was refused",
            "no filter (settled)",
        )),
        _ => hard.push(r.s.evidence(&ex, "an empty filter value got neither 200 nor 400", "200")),
    }
    r.record("list.filter.empty-value", started, hard, Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any("list.filter.empty-value.settled", started, soft, outcome);
}

fn field_key(field: &str) -> &'static str {
    match field {
        "Name" => "name",
        "Value" => "value",
        _ => "encrypted-value",
    }
}

/// A record's timestamp as seconds since the epoch.
pub fn stamp(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp())
}

/// `YYYY-MM-DDTHH:mm` of a moment.
pub fn minute_of(t: i64) -> String {
    chrono::DateTime::from_timestamp(t - t.rem_euclid(60), 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// A documented range bound: `from_` from the start of the minute, `to_` through
/// its end, both inclusive.
#[derive(Debug, Clone)]
pub struct Bound {
    pub field: &'static str,
    pub to: bool,
    /// The start of the named minute.
    pub minute: i64,
}

impl Bound {
    pub fn param(&self) -> String {
        format!(
            "{}_CoworkerSetting_{}={}",
            if self.to { "to" } else { "from" },
            self.field,
            minute_of(self.minute)
        )
    }

    pub fn admits(&self, record: &Value) -> bool {
        stamp(&record[self.field]).is_some_and(|t| {
            if self.to {
                t < self.minute + 60
            } else {
                t >= self.minute
            }
        })
    }
}

/// Range bounds around this run's records: each record's own minute admits it from
/// both sides, the minute after excludes it for `from_`, the minute before for `to_`.
pub async fn ranges(r: &mut Runner, created: &[Created], name: &str) {
    let c = r.ns.customer;
    let mut minutes: Vec<(&'static str, i64)> = Vec::new();
    for x in created {
        for field in ["CreatedOn", "UpdatedOn"] {
            if let Some(t) = stamp(&x.read[field]) {
                let m = t - t.rem_euclid(60);
                if !minutes.contains(&(field, m)) {
                    minutes.push((field, m));
                }
            }
        }
    }
    for (field, m) in minutes {
        for (to, minute) in [(false, m), (true, m), (false, m + 60), (true, m - 60)] {
            let bound = Bound { field, to, minute };
            let b1 = bound.clone();
            let b2 = bound.clone();
            let sound = move |x: &Value| x["CoworkerId"] == c && b1.admits(x);
            let must = move |x: &Value| b2.admits(x);
            filter_check(
                r,
                FilterCase {
                    name: format!("{name}.{field}"),
                    query: format!("CoworkerSetting_Coworker={c}&{}", bound.param()),
                    sound: &sound,
                    must: &must,
                    should: &|_| false,
                    outcome: Outcome::Fail,
                },
                created,
            )
            .await;
        }
    }
}

/// Range bounds on the data already on the target (writes nothing): bounds taken from
/// records whose CreatedOn and UpdatedOn fall in different minutes, so a bound
/// compared against the wrong field shows. Every record returned must be inside the
/// bound; when the whole store fits one page, every record inside must be returned.
pub async fn store_ranges(r: &mut Runner) {
    let started = Instant::now();
    let ex = r.s.list("size=100&orderBy=Id").await;
    let Ok(all) = r.s.expect(&ex, 200, Schema::List) else {
        return r.skip(
            "list.filter.range.store",
            "the first page of the whole store did not load",
        );
    };
    let records = all["Records"].as_array().cloned().unwrap_or_default();
    let whole = all["TotalItems"].as_u64() == Some(records.len() as u64);
    let mut bounds: Vec<Bound> = Vec::new();
    for x in &records {
        let (Some(created), Some(updated)) = (stamp(&x["CreatedOn"]), stamp(&x["UpdatedOn"]))
        else {
            continue;
        };
        let (cm, um) = (
            created - created.rem_euclid(60),
            updated - updated.rem_euclid(60),
        );
        if cm == um {
            continue;
        }
        for b in [
            Bound {
                field: "UpdatedOn",
                to: true,
                minute: cm,
            },
            Bound {
                field: "UpdatedOn",
                to: false,
                minute: um,
            },
            Bound {
                field: "CreatedOn",
                to: true,
                minute: cm,
            },
            Bound {
                field: "CreatedOn",
                to: false,
                minute: um,
            },
            Bound {
                field: "UpdatedOn",
                to: true,
                minute: um - 60,
            },
            Bound {
                field: "CreatedOn",
                to: false,
                minute: cm + 60,
            },
        ] {
            if !bounds
                .iter()
                .any(|o| o.field == b.field && o.to == b.to && o.minute == b.minute)
            {
                bounds.push(b);
            }
        }
        if bounds.len() >= 12 {
            break;
        }
    }
    if bounds.is_empty() {
        return r.skip(
            "list.filter.range.store",
            "no record on the target was updated in a later minute than it was created",
        );
    }
    let mut problems = Vec::new();
    for b in bounds {
        let ex =
            r.s.list(&format!("size=100&orderBy=Id&{}", b.param()))
                .await;
        let v = match r.s.expect(&ex, 200, Schema::List) {
            Ok(v) => v,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for x in v["Records"].as_array().into_iter().flatten() {
            if !b.admits(x) {
                problems.push(r.s.evidence(
                    &ex,
                    format!(
                        "Id {} (CreatedOn {}, UpdatedOn {}) is outside the bound",
                        x["Id"], x["CreatedOn"], x["UpdatedOn"]
                    ),
                    format!("only records inside {}", b.param()),
                ));
            }
        }
        if whole {
            let got: HashSet<i64> = ids(&v).into_iter().collect();
            let want: Vec<i64> = records
                .iter()
                .filter(|x| b.admits(x))
                .filter_map(|x| x["Id"].as_i64())
                .collect();
            if let Some(id) = want.iter().find(|id| !got.contains(id)) {
                problems.push(r.s.evidence(
                    &ex,
                    format!("Id {id} is inside the bound but was not returned"),
                    format!("every record inside {}", b.param()),
                ));
            }
            if v["TotalItems"].as_u64() != Some(want.len() as u64) {
                problems.push(r.s.evidence(
                    &ex,
                    format!(
                        "TotalItems is {} but {} records are inside the bound",
                        v["TotalItems"],
                        want.len()
                    ),
                    format!("TotalItems {}", want.len()),
                ));
            }
        }
    }
    r.record("list.filter.range.store", started, problems, Outcome::Fail);
}
