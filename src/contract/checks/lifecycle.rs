//! The write lifecycle and state across steps: batch get; update (envelope, every
//! field read back, UpdatedOn moved on while CreatedOn and UniqueId stay, a rename
//! leaves the old Name's filter, validation of the update body, unknown and
//! non-positive Ids); delete (envelope, gone everywhere, counted nowhere, a second
//! delete is 404, the next create gets a fresh Id). After each update and delete,
//! get one, the customer's list (with and without filters, TotalItems included) and
//! batch get must all agree.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Created, UNKNOWN_ID, action_problems, enc, item, judge_400, record_400};
use crate::client::HttpRequest;
use crate::contract::Runner;
use crate::contract::props::{ids, paging_problems};
use crate::contract::surface::Op;
use crate::report::{Evidence, Outcome};
use crate::resource::{BASE_PATH, MSG_CREATED, MSG_DELETED, MSG_UPDATED};
use crate::schemas::Schema;

/// Batch get: the existing records asked for and none other; each once per ask;
/// in the order asked (settled).
pub async fn batch(r: &mut Runner, created: &[Created]) {
    if let Some(why) = r.surface.why_not(Op::Batch) {
        return r.skip("batch", &why);
    }
    if created.len() < 2 {
        return r.skip("batch", "needs two created records");
    }
    let (a, b) = (created[1].id, created[0].id);
    let started = Instant::now();
    let ex =
        r.s.get(&format!("{BASE_PATH}/?id=[{a},{UNKNOWN_ID},{b},{a}]"))
            .await;
    let v = match r.s.expect(&ex, 200, Schema::Batch) {
        Ok(v) => v,
        Err(e) => return r.record("batch.records", started, vec![e], Outcome::Fail),
    };
    let got: Vec<i64> = v
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["Id"].as_i64()).collect())
        .unwrap_or_default();
    let set: HashSet<i64> = got.iter().copied().collect();
    let mut problems = Vec::new();
    // `a` was asked twice: once or twice back are both readings of the docs.
    if set != HashSet::from([a, b]) || got.len() > 3 {
        problems.push(r.s.evidence(
            &ex,
            format!("returned Ids {got:?}"),
            format!("exactly {a} and {b} (the unknown Id left out)"),
        ));
    }
    for x in v.as_array().into_iter().flatten() {
        if let Some(c) = created.iter().find(|c| x["Id"] == c.id)
            && *x != c.read
        {
            problems.push(r.s.evidence(
                &ex,
                format!("Id {} in the batch differs from GET", c.id),
                crate::client::truncate(&c.read.to_string(), 200).to_string(),
            ));
        }
    }
    r.record("batch.records", started, problems, Outcome::Fail);
    let mut asked: Vec<i64> = vec![a, b];
    asked.retain(|id| set.contains(id));
    let first_seen: Vec<i64> = got.iter().fold(Vec::new(), |mut acc, id| {
        if !acc.contains(id) {
            acc.push(*id);
        }
        acc
    });
    let problems = if first_seen == asked || set != HashSet::from([a, b]) {
        vec![]
    } else {
        vec![r.s.evidence(
            &ex,
            format!("returned Ids in the order {got:?}"),
            format!("the order asked: [{a}, {b}] (settled)"),
        )]
    };
    let outcome = r.settled();
    r.record_if_any("batch.order-asked", started, problems, outcome);
}

/// Checks that get one, the customer's list and batch get agree on `live` (this
/// run's records of the customer, by Id) and on `gone` (deleted Ids).
async fn agree(r: &mut Runner, live: &[(i64, Value)], gone: &[i64]) -> Vec<Evidence> {
    let c = r.ns.customer;
    let mut problems = Vec::new();
    for (id, want) in live {
        let ex = r.s.get(&item(*id)).await;
        match r.s.expect(&ex, 200, Schema::Record) {
            Ok(v) => {
                for f in ["CoworkerId", "Name", "Value", "EncryptedValue"] {
                    if v[f] != want[f] {
                        problems.push(r.s.evidence(
                            &ex,
                            format!(
                                "{f} of Id {id} reads {}",
                                crate::client::truncate(&v[f].to_string(), 100)
                            ),
                            crate::client::truncate(&want[f].to_string(), 100).to_string(),
                        ));
                    }
                }
            }
            Err(e) => problems.push(e),
        }
    }
    for id in gone {
        let ex = r.s.get(&item(*id)).await;
        if let Err(e) = r.s.expect(&ex, 404, Schema::Error) {
            problems.push(e);
        }
    }
    let ex =
        r.s.list(&format!("size=100&CoworkerSetting_Coworker={c}"))
            .await;
    let mut listed: Vec<Value> = Vec::new();
    match r.s.expect(&ex, 200, Schema::List) {
        Ok(v) => {
            for p in paging_problems(&v, 1, 100) {
                problems.push(r.s.evidence(&ex, p, "paging fields that agree"));
            }
            if v["TotalItems"].as_u64() != Some(live.len() as u64) {
                problems.push(r.s.evidence(
                    &ex,
                    format!(
                        "TotalItems is {} but the customer holds {} records",
                        v["TotalItems"],
                        live.len()
                    ),
                    format!("TotalItems {}", live.len()),
                ));
            }
            listed = v["Records"].as_array().cloned().unwrap_or_default();
        }
        Err(e) => problems.push(e),
    }
    let listed_ids: HashSet<i64> = listed.iter().filter_map(|x| x["Id"].as_i64()).collect();
    for (id, want) in live {
        match listed.iter().find(|x| x["Id"] == *id) {
            None => problems.push(r.s.evidence(
                &ex,
                format!("Id {id} is missing from its customer's list"),
                "every live record listed",
            )),
            Some(x) if x["Name"] != want["Name"] || x["Value"] != want["Value"] => {
                problems.push(r.s.evidence(
                    &ex,
                    format!("Id {id} in the list differs from what was written"),
                    "the list agrees with get one",
                ))
            }
            _ => {}
        }
    }
    for id in gone {
        if listed_ids.contains(id) {
            problems.push(r.s.evidence(
                &ex,
                format!("deleted Id {id} is still listed"),
                "the record gone from the list",
            ));
        }
    }
    if r.surface.offers(Op::Batch) {
        let mut asked: Vec<i64> = live.iter().map(|(id, _)| *id).take(20).collect();
        asked.extend(gone);
        let list = asked
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let ex = r.s.get(&format!("{BASE_PATH}/?id=[{list}]")).await;
        match r.s.expect(&ex, 200, Schema::Batch) {
            Ok(v) => {
                let got: HashSet<i64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x["Id"].as_i64()).collect())
                    .unwrap_or_default();
                let want: HashSet<i64> = live.iter().map(|(id, _)| *id).take(20).collect();
                if got != want {
                    problems.push(r.s.evidence(
                        &ex,
                        format!("batch returned {got:?}"),
                        format!("the live records asked for: {want:?}"),
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// The full lifecycle: update checks, then delete checks, each followed by agreement.
pub async fn lifecycle(r: &mut Runner, created: &[Created]) {
    let mut live: Vec<(i64, Value)> = created.iter().map(|c| (c.id, c.read.clone())).collect();
    let mut gone: Vec<i64> = Vec::new();
    update(r, created, &mut live).await;
    delete(r, &mut live, &mut gone).await;
}

async fn update(r: &mut Runner, created: &[Created], live: &mut [(i64, Value)]) {
    if let Some(why) = r.surface.why_not(Op::Update) {
        return r.skip("update", &why);
    }
    let Some(target) = created.first() else {
        return r.skip("update", "nothing was created");
    };
    let c = r.ns.customer;
    // Timestamps have second precision: let one pass so a new UpdatedOn can show.
    let since = target.at.elapsed();
    if since < Duration::from_millis(1100) {
        tokio::time::sleep(Duration::from_millis(1100) - since).await;
    }
    let old_name = target.read["Name"].as_str().unwrap_or_default().to_string();
    let new_name = format!("{}-hotel Renamed ✓", r.ns.prefix);
    let body = json!({"Id": target.id, "CoworkerId": c, "Name": new_name, "Value": "updated ✓ 'value' \"q\"", "EncryptedValue": null});
    let started = Instant::now();
    let ex =
        r.s.send(HttpRequest::new("PUT", BASE_PATH).json(&body))
            .await;
    let problems = action_problems(r, &ex, MSG_UPDATED);
    let accepted = problems.is_empty();
    r.record("update.envelope", started, problems, Outcome::Fail);
    if !accepted {
        return;
    }
    if let Some(slot) = live.iter_mut().find(|(id, _)| *id == target.id) {
        slot.1 = body.clone();
    }

    let started = Instant::now();
    let get = r.s.get(&item(target.id)).await;
    let problems = match r.s.expect(&get, 200, Schema::Record) {
        Err(e) => vec![e],
        Ok(v) => {
            let mut p = super::create::read_back_problems(r, &get, &body, &v);
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
            let (before, after) = (
                super::list::stamp(&target.read["UpdatedOn"]),
                super::list::stamp(&v["UpdatedOn"]),
            );
            if !matches!((before, after), (Some(b), Some(a)) if a > b) {
                p.push(r.s.evidence(
                    &get,
                    format!(
                        "UpdatedOn is {} after an update more than a second after {}",
                        v["UpdatedOn"], target.read["UpdatedOn"]
                    ),
                    "UpdatedOn set to the time of the update",
                ));
            }
            p
        }
    };
    r.record("update.read-back", started, problems, Outcome::Fail);

    // The old Name's filter no longer finds it; the new one does.
    let started = Instant::now();
    let mut problems = Vec::new();
    for (needle, present) in [(&old_name, false), (&new_name, true)] {
        let ex =
            r.s.list(&format!(
                "size=100&CoworkerSetting_Coworker={c}&CoworkerSetting_Name={}",
                enc(needle)
            ))
            .await;
        match r.s.expect(&ex, 200, Schema::List) {
            Err(e) => problems.push(e),
            Ok(v) if ids(&v).contains(&target.id) != present => problems.push(r.s.evidence(
                &ex,
                format!(
                    "after renaming Id {} from {old_name:?} to {new_name:?}, a Name filter for {needle:?} {} it",
                    target.id,
                    if present { "misses" } else { "still finds" }
                ),
                "filters see the record as it is now",
            )),
            Ok(_) => {}
        }
    }
    let ex =
        r.s.list(&format!(
            "size=100&CoworkerSetting_Coworker={c}&CoworkerSetting_Value=updated"
        ))
        .await;
    match r.s.expect(&ex, 200, Schema::List) {
        Err(e) => problems.push(e),
        Ok(v) if !ids(&v).contains(&target.id) => problems.push(r.s.evidence(
            &ex,
            format!(
                "updated Id {} is missing from a Value filter for its new value",
                target.id
            ),
            "the updated record listed",
        )),
        Ok(_) => {}
    }
    r.record("update.in-filtered-list", started, problems, Outcome::Fail);

    let started = Instant::now();
    let problems = agree(r, live, &[]).await;
    r.record("update.state-agrees", started, problems, Outcome::Fail);

    if let Some(other) = created.get(1) {
        let started = Instant::now();
        let clash = json!({"Id": other.id, "CoworkerId": c, "Name": new_name});
        let ex =
            r.s.send(HttpRequest::new("PUT", BASE_PATH).json(&clash))
                .await;
        let j = judge_400(r, &ex, &[("Name", json!(new_name))]);
        record_400(r, "update.duplicate-rejected", started, j);

        for (check, body, prop) in [
            (
                "update.missing-name",
                json!({"Id": other.id, "CoworkerId": c}),
                "Name",
            ),
            (
                "update.blank-name",
                json!({"Id": other.id, "CoworkerId": c, "Name": "  "}),
                "Name",
            ),
            (
                "update.missing-coworker-id",
                json!({"Id": other.id, "Name": format!("{}-x", r.ns.prefix)}),
                "CoworkerId",
            ),
            (
                "update.boolean-coworker-id",
                json!({"Id": other.id, "CoworkerId": true, "Name": format!("{}-x", r.ns.prefix)}),
                "CoworkerId",
            ),
        ] {
            let started = Instant::now();
            let ex =
                r.s.send(HttpRequest::new("PUT", BASE_PATH).json(&body))
                    .await;
            let attempted = body.get(prop).cloned().unwrap_or(Value::Null);
            let j = judge_400(r, &ex, &[(prop, attempted)]);
            record_400(r, check, started, j);
        }
    }

    for (check, id) in [
        ("update.unknown-id", UNKNOWN_ID),
        ("update.zero-id", 0),
        ("update.negative-id", -5),
    ] {
        let started = Instant::now();
        let ex =
            r.s.send(HttpRequest::new("PUT", BASE_PATH).json(
                &json!({"Id": id, "CoworkerId": c, "Name": format!("{}-ghost", r.ns.prefix)}),
            ))
            .await;
        r.s.track_created(&ex);
        let status = ex.status();
        let problems: Vec<Evidence> = match status {
            Some(404) => {
                r.s.expect(&ex, 404, Schema::Error)
                    .err()
                    .into_iter()
                    .collect()
            }
            _ => vec![r.s.evidence(
                &ex,
                format!("updating Id {id}, which cannot exist, did not get 404"),
                "404 (settled; any 4xx is within the docs)",
            )],
        };
        let outcome = if status.is_some_and(|s| (400..500).contains(&s)) {
            r.settled()
        } else {
            Outcome::Fail
        };
        r.record(check, started, problems, outcome);
    }
}

/// Delete: envelope, gone everywhere, a second delete is 404, the next Id is fresh.
async fn delete(r: &mut Runner, live: &mut Vec<(i64, Value)>, gone: &mut Vec<i64>) {
    if let Some(why) = r.surface.why_not(Op::Delete) {
        return r.skip("delete", &why);
    }
    let c = r.ns.customer;
    let body =
        json!({"CoworkerId": c, "Name": format!("{}-zulu", r.ns.prefix), "Value": "to delete"});
    let Some((ex, Some(id))) = r.s.create(&body).await else {
        return r.skip("delete", "could not create a record to delete");
    };
    let mut ever: HashSet<i64> = live.iter().map(|(id, _)| *id).collect();
    ever.insert(id);
    let _ = ex;
    let started = Instant::now();
    let ex = r.s.send(HttpRequest::new("DELETE", item(id))).await;
    let problems = action_problems(r, &ex, MSG_DELETED);
    r.record("delete.envelope", started, problems, Outcome::Fail);
    if ex.status() == Some(200) {
        r.s.created.retain(|x| *x != id);
    }
    gone.push(id);

    let started = Instant::now();
    let mut problems = agree(r, live, gone).await;
    let again = r.s.send(HttpRequest::new("DELETE", item(id))).await;
    if let Err(e) = r.s.expect(&again, 404, Schema::Error) {
        problems.push(e);
    }
    r.record("delete.gone", started, problems, Outcome::Fail);

    // Delete one of the run's older records too, then create: the new Id is one
    // never handed out before, even though the highest live Id went away.
    let started = Instant::now();
    let mut problems = Vec::new();
    if let Some((victim, _)) = live.pop() {
        let ex = r.s.send(HttpRequest::new("DELETE", item(victim))).await;
        if ex.status() == Some(200) {
            r.s.created.retain(|x| *x != victim);
            gone.push(victim);
        } else {
            live.push((victim, Value::Null));
            problems.extend(action_problems(r, &ex, MSG_DELETED));
        }
    }
    let body = json!({"CoworkerId": c, "Name": format!("{}-yankee", r.ns.prefix), "Value": "after delete"});
    if let Some((ex, Some(fresh))) = r.s.create(&body).await {
        problems.extend(action_problems(r, &ex, MSG_CREATED));
        if ever.contains(&fresh) || gone.contains(&fresh) {
            problems.push(r.s.evidence(
                &ex,
                format!("the create after a delete got Id {fresh}, which was handed out before"),
                "an Id never used before (Ids are never reused)",
            ));
        }
        live.push((fresh, body));
    }
    let live_now: Vec<(i64, Value)> = live.iter().filter(|(_, v)| !v.is_null()).cloned().collect();
    if live_now.len() == live.len() {
        problems.extend(agree(r, &live_now, gone).await);
    }
    r.record(
        "delete.fresh-id-after-delete",
        started,
        problems,
        Outcome::Fail,
    );
}
