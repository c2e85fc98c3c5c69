//! Validation: bad create bodies (every JSON type for CoworkerId, missing, empty and
//! blank Names, wrong types, malformed and non-object JSON) each get the documented
//! 400 envelope naming the field; list parameters with every malformed value
//! (non-numeric, negative, zero, huge, fractional, empty, outside the documented
//! set) never get a 5xx, and a 200 for one must still be a self-consistent list.

use std::time::Instant;

use serde_json::{Value, json};

use super::{judge_400, record_400};
use crate::client::HttpRequest;
use crate::contract::Runner;
use crate::contract::props::paging_problems;
use crate::report::Outcome;
use crate::resource::BASE_PATH;
use crate::schemas::Schema;

/// A field a 400 must name, with the value that was sent for it.
type Expected = (&'static str, Value);

/// Bad create bodies each get the exact 400 envelope.
pub async fn bodies(r: &mut Runner) {
    let (c, other) = (r.ns.customer, r.ns.other_customer);
    let name = format!("{}-invalid", r.ns.prefix);
    let big: Value = serde_json::from_str("9223372036854775808").expect("a JSON number");
    let cases: Vec<(&str, Value, Vec<Expected>)> = vec![
        (
            "validation.missing-name",
            json!({"CoworkerId": c}),
            vec![("Name", Value::Null)],
        ),
        (
            "validation.null-name",
            json!({"CoworkerId": c, "Name": null}),
            vec![("Name", Value::Null)],
        ),
        (
            "validation.empty-name",
            json!({"CoworkerId": c, "Name": ""}),
            vec![("Name", json!(""))],
        ),
        (
            "validation.blank-name",
            json!({"CoworkerId": c, "Name": " \t "}),
            vec![("Name", json!(" \t "))],
        ),
        (
            "validation.number-name",
            json!({"CoworkerId": c, "Name": 5}),
            vec![("Name", json!(5))],
        ),
        (
            "validation.missing-coworker-id",
            json!({"Name": name}),
            vec![("CoworkerId", Value::Null)],
        ),
        (
            "validation.null-coworker-id",
            json!({"CoworkerId": null, "Name": name}),
            vec![("CoworkerId", Value::Null)],
        ),
        (
            "validation.text-coworker-id",
            json!({"CoworkerId": "abc", "Name": name}),
            vec![("CoworkerId", json!("abc"))],
        ),
        (
            "validation.boolean-coworker-id",
            json!({"CoworkerId": true, "Name": name}),
            vec![("CoworkerId", json!(true))],
        ),
        (
            "validation.fractional-coworker-id",
            json!({"CoworkerId": 3.7, "Name": name}),
            vec![("CoworkerId", json!(3.7))],
        ),
        (
            "validation.negative-coworker-id",
            json!({"CoworkerId": -1, "Name": name}),
            vec![("CoworkerId", json!(-1))],
        ),
        (
            "validation.zero-coworker-id",
            json!({"CoworkerId": 0, "Name": name}),
            vec![("CoworkerId", json!(0))],
        ),
        (
            "validation.huge-coworker-id",
            json!({"CoworkerId": big.clone(), "Name": name}),
            vec![("CoworkerId", big)],
        ),
        (
            "validation.array-coworker-id",
            json!({"CoworkerId": [c], "Name": name}),
            vec![("CoworkerId", json!([c]))],
        ),
        (
            "validation.number-value",
            json!({"CoworkerId": c, "Name": name, "Value": 5}),
            vec![("Value", json!(5))],
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
        let j = judge_400(r, &ex, &expected);
        record_400(r, check, started, j);
    }

    // An integer sent as a JSON string (aimed at the second customer, whose records
    // no list check counts): the docs say integer, but model binders
    // commonly coerce "12"; accepting it is a choice the docs leave open.
    let started = Instant::now();
    if let Some((ex, _)) =
        r.s.create(&json!({"CoworkerId": other.to_string(), "Name": format!("{name}-quoted")}))
            .await
    {
        let problems = match ex.status() {
            Some(400) => judge_400(r, &ex, &[("CoworkerId", json!(other.to_string()))]).hard,
            Some(200) => vec![r.s.evidence(
                &ex,
                "a CoworkerId sent as a JSON string was accepted",
                "400 naming CoworkerId (settled: only a JSON integer)",
            )],
            _ => vec![r.s.evidence(&ex, "neither 200 nor 400", "400 naming CoworkerId")],
        };
        let outcome = if matches!(ex.status(), Some(200)) {
            r.settled()
        } else {
            Outcome::Fail
        };
        r.record("validation.quoted-coworker-id", started, problems, outcome);
    }

    // A body that is not a JSON object: a 400 is documented only for fields, so the
    // envelope is the settled part; the status is not negotiable.
    for (check, raw) in [
        (
            "validation.malformed-json",
            format!("{{\"CoworkerId\": {c}, \"Name\": "),
        ),
        (
            "validation.array-body",
            format!("[{{\"CoworkerId\": {c}, \"Name\": \"{name}\"}}]"),
        ),
        ("validation.empty-body", String::new()),
        (
            "validation.deep-nesting",
            format!(
                "{{\"CoworkerId\": {c}, \"Name\": \"{name}\", \"Value\": {}1{}}}",
                "[".repeat(5000),
                "]".repeat(5000)
            ),
        ),
    ] {
        let started = Instant::now();
        let ex =
            r.s.send(HttpRequest::new("POST", BASE_PATH).raw_body("application/json", raw))
                .await;
        r.s.track_created(&ex);
        if ex.status() == Some(400) {
            let j = judge_400(r, &ex, &[]);
            let outcome = r.settled();
            r.record(check, started, vec![], Outcome::Fail);
            r.record_if_any(&format!("{check}.envelope"), started, j.hard, outcome);
        } else {
            let problems = vec![r.s.evidence(
                &ex,
                "a body that is not a valid object was not refused with 400",
                "400",
            )];
            r.record(check, started, problems, Outcome::Fail);
        }
    }
}

/// Malformed list parameters: never a 5xx; a 200 is a consistent list; the 400 the
/// mock settles on (naming the parameter) is checked as a warning.
pub async fn list_parameters(r: &mut Runner) {
    let c = r.ns.customer;
    let cases: &[(&str, &str, bool)] = &[
        // (parameter, value, settled: a 400 naming it)
        ("page", "abc", true),
        ("page", "-1", true),
        ("page", "0", true),
        ("page", "1.5", true),
        ("page", "3000000000", false),
        ("page", "18446744073709551616", true),
        ("page", "", true),
        ("size", "abc", true),
        ("size", "-5", true),
        ("size", "0", true),
        ("size", "2.5", true),
        ("size", "1001", true),
        ("size", "99999999999999999999", true),
        ("dir", "2", true),
        ("dir", "up", true),
        ("dir", "0", true),
        ("orderBy", "NoSuchField", true),
        ("orderBy", "Password", true),
        ("orderBy", "Name;DROP", true),
        ("CoworkerSetting_Coworker", "abc", true),
        ("CoworkerSetting_Coworker", "9223372036854775808", true),
        ("from_CoworkerSetting_CreatedOn", "2025-13-01T00:00", true),
        ("to_CoworkerSetting_UpdatedOn", "yesterday", true),
        ("from_CoworkerSetting_UpdatedOn", "'; --", true),
    ];
    let started = Instant::now();
    let (mut hard, mut soft) = (Vec::new(), Vec::new());
    for (param, value, settled_400) in cases {
        let query = format!("{param}={}&CoworkerSetting_Coworker={c}", super::enc(value));
        // The customer scope is the parameter under test in two rows.
        let query = if *param == "CoworkerSetting_Coworker" {
            format!("{param}={}", super::enc(value))
        } else {
            query
        };
        let ex = r.s.list(&query).await;
        match ex.status() {
            Some(s) if s >= 500 => hard.push(r.s.evidence(
                &ex,
                format!("{param}={value:?} got {s}"),
                "a 400 naming the parameter, or a list",
            )),
            None => hard.push(r.s.evidence(&ex, "no answer", "an answer")),
            Some(200) => match r.s.expect(&ex, 200, Schema::List) {
                Err(e) => hard.push(e),
                Ok(v) => {
                    let (page, size) = (v["PageNumber"].as_u64(), v["PageSize"].as_u64());
                    if let (Some(page), Some(size)) = (page, size)
                        && size > 0
                        && page > 0
                    {
                        for p in paging_problems(&v, page, size) {
                            hard.push(r.s.evidence(&ex, p, "a consistent page"));
                        }
                    }
                    if *settled_400 {
                        soft.push(r.s.evidence(
                            &ex,
                            format!("{param}={value:?} was accepted"),
                            format!("400 naming {param} (settled)"),
                        ));
                    }
                }
            },
            Some(400) => {
                let j = judge_400(r, &ex, &[(param, json!(value))]);
                soft.extend(j.hard);
                if !settled_400 {
                    soft.push(r.s.evidence(
                        &ex,
                        format!("{param}={value:?} was refused"),
                        "a list (settled)",
                    ));
                }
            }
            Some(_) => soft.push(r.s.evidence(
                &ex,
                format!("{param}={value:?} got neither 200 nor 400"),
                format!("400 naming {param} (settled)"),
            )),
        }
    }
    r.record("list.malformed-parameters", started, hard, Outcome::Fail);
    let outcome = r.settled();
    r.record("list.invalid-parameters", started, soft, outcome);
}
