//! Create and read: the success envelope, a fresh Id for every create, every field
//! read back byte for byte for the inputs real clients send (mixed case, white
//! space at the edges, every kind of non-ASCII, the lengths where stores truncate,
//! quotes, backslashes and SQL-ish punctuation), the record in its customer's list,
//! get one of an unknown or non-integer Id, and (CoworkerId, Name) uniqueness.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Created, UNKNOWN_ID, action_problems, item, judge_400, record_400};
use crate::contract::Runner;
use crate::report::{Evidence, Outcome};
use crate::resource::{BASE_PATH, MSG_CREATED};
use crate::schemas::Schema;

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
    let (mut hard, mut soft) = (Vec::new(), Vec::new());
    for path in [
        "not-a-number",
        "1.5",
        "-1",
        "99999999999999999999",
        "%27%20OR%201%3D1",
    ] {
        let ex = r.s.get(&format!("{BASE_PATH}/{path}")).await;
        match ex.status() {
            Some(404) => {}
            Some(400) => soft.push(r.s.evidence(
                &ex,
                "a non-integer or out-of-range Id got 400",
                "404, as for any Id that does not exist (settled)",
            )),
            _ => hard.push(r.s.evidence(
                &ex,
                "an Id that cannot exist got neither 404 nor 400",
                "404 (or 400)",
            )),
        }
    }
    r.record("get.non-integer-id", started, hard, Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any("get.non-integer-id-is-404", started, soft, outcome);
}

/// A string of exactly `n` characters that starts with `head`.
fn of_length(head: &str, fill: char, n: usize) -> String {
    let mut s: String = head.chars().take(n).collect();
    while s.chars().count() < n {
        s.push(fill);
    }
    s
}

/// The records the run creates: names distinct even after case folding and
/// trimming (so a target that compares names case-insensitively still takes them
/// all), values with ties and nulls, and every input that has broken a store.
pub fn create_bodies(r: &Runner) -> Vec<Value> {
    let (c, p) = (r.ns.customer, &r.ns.prefix);
    vec![
        json!({"CoworkerId": c, "Name": format!("{p}-alpha"), "Value": "plain value", "EncryptedValue": null}),
        json!({"CoworkerId": c, "Name": format!("{p}-Bravo MIXED Case"), "Value": "ünïcødé ✓ 🚀 مرحبا e\u{301} 日本語 עברית", "EncryptedValue": "enc:\"quoted\" \\ back"}),
        json!({"CoworkerId": c, "Name": format!("  {p}-charlie edges \t"), "Value": "  leading and trailing  "}),
        json!({"CoworkerId": c, "Name": format!("{p}-délta ünï 日本 مرحبا 🚀 e\u{301} \u{212A}"), "Value": null, "EncryptedValue": "secret"}),
        json!({"CoworkerId": c, "Name": format!("{p}-echo"), "Value": of_length("long-", 'v', 10_000)}),
        json!({"CoworkerId": c, "Name": format!("{p}-foxtrot"), "Value": "plain value", "EncryptedValue": "secret"}),
        json!({"CoworkerId": c, "Name": format!("{p}-golf \"q\" \\ ' % & + ; -- /*"), "Value": "tab\tnew\nline ' ; -- \"x\" \\y % & +", "EncryptedValue": ""}),
        json!({"CoworkerId": c, "Name": of_length(&format!("{p}-india-"), 'i', 255), "Value": of_length("v", 'w', 256)}),
        json!({"CoworkerId": c, "Name": of_length(&format!("{p}-juliet-"), 'j', 256), "Value": of_length("v", 'x', 1_000)}),
        json!({"CoworkerId": c, "Name": of_length(&format!("{p}-kilo-"), 'k', 1_000), "Value": of_length("v", 'y', 4_000)}),
        json!({"CoworkerId": c, "Name": of_length(&format!("{p}-lima-"), 'l', 4_000), "EncryptedValue": of_length("e", 'z', 4_000)}),
        json!({"CoworkerId": c, "Name": of_length(&format!("{p}-mike-"), 'm', 10_000), "Value": "m"}),
    ]
}

/// Compares every field the run wrote with what was read, byte for byte.
pub fn read_back_problems(
    r: &Runner,
    ex: &crate::contract::session::Exchange,
    sent: &Value,
    read: &Value,
) -> Vec<Evidence> {
    ["CoworkerId", "Name", "Value", "EncryptedValue"]
        .into_iter()
        .filter_map(|field| {
            let want = sent.get(field).cloned().unwrap_or(Value::Null);
            (read[field] != want).then(|| {
                r.s.evidence(
                    ex,
                    format!(
                        "{field} reads back as {} but {} was sent",
                        crate::client::truncate(&read[field].to_string(), 120),
                        crate::client::truncate(&want.to_string(), 120)
                    ),
                    "every field exactly as sent (no trimming, case change or replacement)",
                )
            })
        })
        .collect()
}

/// Create: the exact envelope, a fresh Id, byte-for-byte read-back, and the record in
/// the customer's list equal to what GET returns.
pub async fn create(r: &mut Runner) -> Vec<Created> {
    let started = Instant::now();
    let (mut envelope, mut fresh, mut read_back, mut refused) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut created: Vec<Created> = Vec::new();
    let mut handed_out = std::collections::HashSet::new();
    for body in create_bodies(r) {
        let Some((ex, id)) = r.s.create(&body).await else {
            break;
        };
        // No length limit is documented: a target may refuse a long Name with a 400,
        // but must not store it altered or fail with a 5xx.
        if ex.status() == Some(400) {
            let name_len = body["Name"].as_str().map_or(0, |n| n.chars().count());
            refused.push(r.s.evidence(
                &ex,
                format!("a create with a Name of {name_len} characters was refused"),
                "accepted (no limit is documented)",
            ));
            continue;
        }
        envelope.extend(action_problems(r, &ex, MSG_CREATED));
        let Some(id) = id else { continue };
        if !handed_out.insert(id) {
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
        read_back.extend(read_back_problems(r, &get, &body, &read));
        if read["Id"] != id {
            read_back.push(r.s.evidence(
                &get,
                format!("GET of Id {id} returned Id {}", read["Id"]),
                "the record asked for",
            ));
        }
        created.push(Created {
            id,
            read,
            at: Instant::now(),
        });
    }
    r.record("create.envelope", started, envelope, Outcome::Fail);
    r.record("create.fresh-id", started, fresh, Outcome::Fail);
    r.record("create.read-back", started, read_back, Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any("create.long-name-accepted", started, refused, outcome);

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
                        format!(
                            "Id {} in the list differs from GET: {}",
                            c.id,
                            crate::client::truncate(&x.to_string(), 200)
                        ),
                        crate::client::truncate(&c.read.to_string(), 200).to_string(),
                    )),
                    _ => None,
                })
                .collect()
        }
    };
    r.record("create.in-list", started, problems, Outcome::Fail);
    created
}

/// A second (CoworkerId, Name) is refused on Name; the same Name elsewhere is fine;
/// a Name that differs only in case is a new key (settled: names compare exactly;
/// tried in the second customer so the first keeps exactly the records listed).
pub async fn uniqueness(r: &mut Runner) {
    let name = format!("{}-alpha", r.ns.prefix);
    let started = Instant::now();
    if let Some((ex, _)) =
        r.s.create(&json!({"CoworkerId": r.ns.customer, "Name": name, "Value": "again"}))
            .await
    {
        let j = judge_400(r, &ex, &[("Name", json!(name))]);
        record_400(r, "uniqueness.duplicate-rejected", started, j);
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
    let started = Instant::now();
    let upper = name.to_uppercase();
    if let Some((ex, _)) =
        r.s.create(&json!({"CoworkerId": r.ns.other_customer, "Name": upper}))
            .await
    {
        let problems = match ex.status() {
            Some(200) => vec![],
            Some(400) => vec![r.s.evidence(
                &ex,
                "a Name differing only in case was refused as a duplicate",
                "accepted: names compare exactly (settled)",
            )],
            _ => {
                r.s.expect(&ex, 200, Schema::Action)
                    .err()
                    .into_iter()
                    .collect()
            }
        };
        let outcome = if ex.status() == Some(400) {
            r.settled()
        } else {
            Outcome::Fail
        };
        r.record("uniqueness.exact-compare", started, problems, outcome);
    }
}
