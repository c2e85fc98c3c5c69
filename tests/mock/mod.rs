//! The mock server over real TCP: each endpoint, each error status, validation,
//! every list parameter, auth and roles, tokens, CORS; plus a proptest model test and
//! a concurrency test. Every body received is checked against its schema.

mod model;

use std::time::Duration;

use crate::util::*;
use nexudus_mock::client::HttpRequest;
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::{BASE_PATH, msg};
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::ServerConfig;
use serde_json::{Value, json};

fn item(id: i64) -> String {
    format!("{BASE_PATH}/{id}")
}

async fn get_record(s: &TestServer, id: i64) -> Value {
    let r = s.call("GET", &item(id), ADMIN, None).await;
    assert_eq!(r.status, 200, "{}", r.body_excerpt(300));
    body_matching(&r, Schema::Record)
}

fn empty_store() -> Fixtures {
    Fixtures {
        records: vec![],
        ..Fixtures::builtin()
    }
}

// ---- create and get one ----

#[tokio::test]
async fn getting_one_returns_the_record_in_its_schema() {
    let s = TestServer::start().await;
    let v = get_record(&s, 87654303).await;
    assert_eq!(v["Id"], 87654303);
    assert_eq!(v["CoworkerId"], 1001);
}

#[tokio::test]
async fn creating_returns_the_exact_success_envelope_and_a_fresh_id() {
    let s = TestServer::start().await;
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 5, "Name": "Theme"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = body_matching(&r, Schema::Action);
    assert_eq!(v["Message"], "CoworkerSetting was successfully created.");
    assert_eq!(v["UpdatedBy"], "admin@example.com");
    let id = v["Value"]["Id"].as_i64().unwrap();
    let max_fixture = Fixtures::builtin()
        .records
        .iter()
        .map(|r| r.record.id)
        .max()
        .unwrap();
    assert!(id > max_fixture);
    let second = s.create(5, "Other", None).await;
    assert!(second > id);
}

#[tokio::test]
async fn a_created_record_reads_back_byte_for_byte() {
    let s = TestServer::start().await;
    let long = "ü".repeat(20_000);
    for (name, value, enc) in [
        (" spaced name ", Some("  leading and trailing  "), None),
        (
            "quotes \" and \\ backslash",
            Some("tab\tnewline\ncontrol\u{1}"),
            Some("enc\"\\"),
        ),
        ("日本語 ✓ 🚀 e\u{301}", Some("مرحبا"), Some("")),
        ("percent % and & amp", Some(long.as_str()), None),
    ] {
        let body = json!({"CoworkerId": 77, "Name": name, "Value": value, "EncryptedValue": enc});
        let r = s.call("POST", BASE_PATH, ADMIN, Some(&body)).await;
        let id = body_matching(&r, Schema::Action)["Value"]["Id"]
            .as_i64()
            .unwrap();
        let v = get_record(&s, id).await;
        assert_eq!(v["Name"], name);
        assert_eq!(v["Value"], json!(value));
        assert_eq!(v["EncryptedValue"], json!(enc));
        assert_eq!(v["ToStringText"], name);
        assert_eq!(v["IsNew"], false);
        assert_eq!(v["UpdatedBy"], "admin@example.com");
        assert_eq!(v["CreatedOn"], v["UpdatedOn"]);
    }
}

#[tokio::test]
async fn unknown_fields_and_an_id_in_a_create_body_are_ignored() {
    let s = TestServer::start().await;
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 5, "Name": "n", "Id": 1, "Bogus": [1]})),
        )
        .await;
    let id = body_matching(&r, Schema::Action)["Value"]["Id"]
        .as_i64()
        .unwrap();
    assert_ne!(id, 1);
    assert_eq!(get_record(&s, id).await["Value"], Value::Null);
}

#[tokio::test]
async fn getting_an_unknown_or_non_integer_id_is_404_with_a_json_body() {
    let s = TestServer::start().await;
    for path in [
        item(1),
        format!("{BASE_PATH}/abc"),
        format!("{BASE_PATH}/-3"),
        format!("{BASE_PATH}/1.5"),
        format!("{BASE_PATH}/99999999999999999999999"),
    ] {
        let r = s.call("GET", &path, ADMIN, None).await;
        assert_eq!(r.status, 404, "{path}");
        body_matching(&r, Schema::Error);
    }
}

// ---- validation ----

#[tokio::test]
async fn each_validation_rule_names_its_field_and_echoes_the_attempted_value() {
    let s = TestServer::start().await;
    let cases: Vec<(Value, Vec<(&str, Value, &str)>)> = vec![
        (
            json!({"CoworkerId": 1}),
            vec![("Name", Value::Null, msg::REQUIRED)],
        ),
        (
            json!({"CoworkerId": 1, "Name": null}),
            vec![("Name", Value::Null, msg::REQUIRED)],
        ),
        (
            json!({"CoworkerId": 1, "Name": ""}),
            vec![("Name", json!(""), msg::REQUIRED)],
        ),
        (
            json!({"CoworkerId": 1, "Name": " \t\n"}),
            vec![("Name", json!(" \t\n"), msg::REQUIRED)],
        ),
        (
            json!({"CoworkerId": 1, "Name": 5}),
            vec![("Name", json!(5), msg::STRING)],
        ),
        (
            json!({"Name": "n"}),
            vec![("CoworkerId", Value::Null, msg::REQUIRED)],
        ),
        (
            json!({"CoworkerId": "1", "Name": "n"}),
            vec![("CoworkerId", json!("1"), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": 1.5, "Name": "n"}),
            vec![("CoworkerId", json!(1.5), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": 0, "Name": "n"}),
            vec![("CoworkerId", json!(0), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": -4, "Name": "n"}),
            vec![("CoworkerId", json!(-4), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": 3.7, "Name": "n"}),
            vec![("CoworkerId", json!(3.7), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": 1e3, "Name": "n"}),
            vec![("CoworkerId", json!(1e3), msg::POSITIVE_INTEGER)],
        ),
        (
            json!({"CoworkerId": 9_223_372_036_854_775_808_u64, "Name": "n"}),
            vec![(
                "CoworkerId",
                json!(9_223_372_036_854_775_808_u64),
                msg::POSITIVE_OUT_OF_RANGE,
            )],
        ),
        (
            json!({"CoworkerId": u64::MAX, "Name": "n"}),
            vec![("CoworkerId", json!(u64::MAX), msg::POSITIVE_OUT_OF_RANGE)],
        ),
        (
            json!({"CoworkerId": 1, "Name": "n", "Value": 3}),
            vec![("Value", json!(3), msg::STRING_OR_NULL)],
        ),
        (
            json!({"CoworkerId": 1, "Name": "n", "EncryptedValue": {}}),
            vec![("EncryptedValue", json!({}), msg::STRING_OR_NULL)],
        ),
        (
            json!({}),
            vec![
                ("CoworkerId", Value::Null, msg::REQUIRED),
                ("Name", Value::Null, msg::REQUIRED),
            ],
        ),
        (
            json!({"CoworkerId": true, "Name": ""}),
            vec![
                ("CoworkerId", json!(true), msg::POSITIVE_INTEGER),
                ("Name", json!(""), msg::REQUIRED),
            ],
        ),
    ];
    for (body, expected) in cases {
        let r = s.call("POST", BASE_PATH, ADMIN, Some(&body)).await;
        assert_eq!(r.status, 400, "{body}");
        let v = body_matching(&r, Schema::ValidationError);
        let errors = v["Errors"].as_array().unwrap();
        assert_eq!(errors.len(), expected.len(), "{body}: {v}");
        for (e, (prop, attempted, message)) in errors.iter().zip(&expected) {
            assert_eq!(e["PropertyName"], *prop, "{body}");
            assert_eq!(e["AttemptedValue"], *attempted, "{body}");
            assert_eq!(e["Message"], *message, "{body}");
        }
        let joined: Vec<String> = expected
            .iter()
            .map(|(p, _, m)| format!("{p}: {m}"))
            .collect();
        assert_eq!(v["Message"], joined.join("\n"));
    }
}

/// The exact 400 body for one bad field.
fn one_error_body(property: &str, attempted: &str, message: &str) -> String {
    format!(
        r#"{{"Message":"{property}: {message}","Value":null,"Errors":[{{"AttemptedValue":{attempted},"Message":"{message}","PropertyName":"{property}"}}],"WasSuccessful":false}}"#
    )
}

#[tokio::test]
async fn integers_beyond_signed_64_bits_are_out_of_range_in_bodies() {
    let s = TestServer::start().await;
    let existing = s.create(31, "range", None).await;
    // Raw text: serde_json reads up to 2^64 - 1 as u64 and beyond as f64; both are
    // out of range, while fractions and exponents in range stay "not an integer".
    let out = msg::POSITIVE_OUT_OF_RANGE;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "POST",
            r#"{"CoworkerId":9223372036854775808,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "9223372036854775808", out),
        ),
        (
            "POST",
            r#"{"CoworkerId":18446744073709551616,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "1.8446744073709552e+19", out),
        ),
        (
            "POST",
            r#"{"CoworkerId":-9223372036854775809,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "-9.223372036854776e+18", out),
        ),
        (
            "POST",
            r#"{"CoworkerId":1e30,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "1e+30", out),
        ),
        (
            "POST",
            r#"{"CoworkerId":3.7,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "3.7", msg::POSITIVE_INTEGER),
        ),
        (
            "POST",
            r#"{"CoworkerId":1e3,"Name":"n"}"#.into(),
            one_error_body("CoworkerId", "1000.0", msg::POSITIVE_INTEGER),
        ),
        (
            "PUT",
            r#"{"Id":9223372036854775808,"CoworkerId":31,"Name":"range"}"#.into(),
            one_error_body("Id", "9223372036854775808", out),
        ),
        (
            "PUT",
            format!(r#"{{"Id":{existing}.5,"CoworkerId":31,"Name":"range"}}"#),
            one_error_body("Id", &format!("{existing}.5"), msg::INTEGER),
        ),
        (
            "PUT",
            r#"{"Id":"7","CoworkerId":31,"Name":"range"}"#.into(),
            one_error_body("Id", r#""7""#, msg::INTEGER),
        ),
    ];
    for (method, body, expected) in cases {
        let r = s
            .send(
                HttpRequest::new(method, BASE_PATH)
                    .header("Authorization", ADMIN)
                    .raw_body("application/json", body.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{method} {body}");
        body_matching(&r, Schema::ValidationError);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            expected,
            "{method} {body}"
        );
    }
}

#[tokio::test]
async fn a_create_with_no_id_left_below_the_64_bit_limit_is_507_not_a_wrapped_id() {
    let top = nexudus_mock::resource::Record::new(
        i64::MAX,
        nexudus_mock::resource::SettingInput {
            coworker_id: 1,
            name: "top".into(),
            value: None,
            encrypted_value: None,
        },
        "admin@example.com",
        nexudus_mock::resource::Timestamp(0),
    );
    let fixtures = Fixtures::with_records(vec![top]);
    let s = TestServer::start_with(fixtures, ServerConfig::default()).await;
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 1, "Name": "n"})),
        )
        .await;
    assert_eq!(r.status, 507);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        r#"{"Status":507,"Message":"No Id is left to give a new CoworkerSetting: the records hold Ids up to the 64-bit limit.","WasSuccessful":false}"#
    );
    assert_eq!(s.list("").await["TotalItems"], 1);
}

#[tokio::test]
async fn integers_beyond_signed_64_bits_are_out_of_range_in_query_parameters() {
    let s = TestServer::start().await;
    let big = "18446744073709551616";
    let cases = [
        ("page", format!("page={big}"), msg::POSITIVE_OUT_OF_RANGE),
        (
            "page",
            "page=9223372036854775808".to_string(),
            msg::POSITIVE_OUT_OF_RANGE,
        ),
        ("size", format!("size={big}"), msg::SIZE_OUT_OF_RANGE),
        (
            "CoworkerSetting_Coworker",
            format!("CoworkerSetting_Coworker={big}"),
            msg::INTEGER_OUT_OF_RANGE,
        ),
        (
            "CoworkerSetting_Coworker",
            "CoworkerSetting_Coworker=-9223372036854775809".to_string(),
            msg::INTEGER_OUT_OF_RANGE,
        ),
        ("page", "page=1.5".to_string(), msg::PAGE),
        ("page", "page=".to_string(), msg::PAGE),
        ("size", "size=3000000000".to_string(), msg::SIZE),
    ];
    for (property, query, message) in cases {
        let r = s
            .call("GET", &format!("{BASE_PATH}?{query}"), ADMIN, None)
            .await;
        assert_eq!(r.status, 400, "{query}");
        body_matching(&r, Schema::ValidationError);
        let attempted = json!(query.split_once('=').unwrap().1).to_string();
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            one_error_body(property, &attempted, message),
            "{query}"
        );
    }
    let r = s
        .call("GET", &format!("{BASE_PATH}?id=[1,{big}]"), ADMIN, None)
        .await;
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        one_error_body("id", &format!(r#""[1,{big}]""#), msg::INTEGER_OUT_OF_RANGE)
    );
    // A batch get names a bad list parameter too: the query is valid or not whatever
    // its form.
    let r = s
        .call("GET", &format!("{BASE_PATH}?id=[1]&page="), ADMIN, None)
        .await;
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        one_error_body("page", r#""""#, msg::PAGE)
    );
    // The largest page is a page past the end, not an error.
    let v = s.list("page=9223372036854775807").await;
    assert_eq!(v["Records"], json!([]));
    assert_eq!(v["CurrentPage"], json!(9_223_372_036_854_775_807_i64));
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_get_one_body_error() {
    let s = TestServer::start().await;
    for (ct, body) in [
        ("application/json", b"{\"CoworkerId\": 1,".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
        ("application/json", b"\"text\"".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", vec![b'{', 0xff, 0xfe, b'}']),
        ("text/plain", b"CoworkerId=1&Name=x".to_vec()),
    ] {
        let r = s
            .send(
                HttpRequest::new("POST", BASE_PATH)
                    .header("Authorization", ADMIN)
                    .raw_body(ct, body.clone()),
            )
            .await;
        assert_eq!(
            error_properties(&r),
            vec![""],
            "{:?}",
            String::from_utf8_lossy(&body)
        );
        let v = r.json().unwrap();
        assert!(
            v["Message"]
                .as_str()
                .unwrap()
                .starts_with(": the request body"),
            "{v}"
        );
        assert_eq!(v["Errors"][0]["AttemptedValue"], Value::Null);
    }
}

#[tokio::test]
async fn a_duplicate_name_for_the_same_customer_is_a_validation_error_on_name() {
    let s = TestServer::start().await;
    s.create(9, "Dup", Some("a")).await;
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 9, "Name": "Dup"})),
        )
        .await;
    assert_eq!(error_properties(&r), vec!["Name"]);
    assert_eq!(r.json().unwrap()["Errors"][0]["AttemptedValue"], "Dup");
    // Exact comparison: another case or another customer is a different key.
    s.create(9, "dup", None).await;
    s.create(10, "Dup", None).await;
}

// ---- update and delete ----

#[tokio::test]
async fn updating_replaces_the_writable_fields_and_keeps_identity() {
    let s = TestServer::start().await;
    let before = get_record(&s, 87654303).await;
    let body =
        json!({"Id": 87654303, "CoworkerId": 4242, "Name": "Renamed", "EncryptedValue": "secret"});
    let r = s.call("PUT", BASE_PATH, EDITOR, Some(&body)).await;
    let v = body_matching(&r, Schema::Action);
    assert_eq!(v["Message"], "CoworkerSetting was successfully updated.");
    assert_eq!(v["Value"]["Id"], 87654303);
    let after = get_record(&s, 87654303).await;
    assert_eq!(after["CoworkerId"], 4242);
    assert_eq!(after["Name"], "Renamed");
    assert_eq!(after["ToStringText"], "Renamed");
    assert_eq!(after["Value"], Value::Null, "an absent Value becomes null");
    assert_eq!(after["EncryptedValue"], "secret");
    assert_eq!(after["UpdatedBy"], "editor@example.com");
    assert_eq!(after["CreatedOn"], before["CreatedOn"]);
    assert_eq!(after["UniqueId"], before["UniqueId"]);
    assert_eq!(after["SystemId"], before["SystemId"]);
    assert!(after["UpdatedOn"].as_str().unwrap() > before["UpdatedOn"].as_str().unwrap());
}

#[tokio::test]
async fn updating_checks_id_existence_and_uniqueness() {
    let s = TestServer::start().await;
    let a = s.create(11, "a", None).await;
    s.create(11, "b", None).await;
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"Id": a, "CoworkerId": 11, "Name": "b"})),
        )
        .await;
    assert_eq!(error_properties(&r), vec!["Name"]);
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"Id": a, "CoworkerId": 11, "Name": "a", "Value": "kept name"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"Id": 1, "CoworkerId": 11, "Name": "z"})),
        )
        .await;
    assert_eq!(r.status, 404);
    body_matching(&r, Schema::Error);
    // An Id of 0 or below names no record, like any other unknown Id.
    for id in [0, -1, i64::MIN] {
        let r = s
            .call(
                "PUT",
                BASE_PATH,
                ADMIN,
                Some(&json!({"Id": id, "CoworkerId": 11, "Name": "z"})),
            )
            .await;
        assert_eq!(r.status, 404, "Id {id}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            format!(
                r#"{{"Status":404,"Message":"No CoworkerSetting has Id {id}.","WasSuccessful":false}}"#
            )
        );
    }
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 11, "Name": ""})),
        )
        .await;
    assert_eq!(error_properties(&r), vec!["Id", "Name"]);
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"Id": "x", "CoworkerId": 11, "Name": "q"})),
        )
        .await;
    assert_eq!(error_properties(&r), vec!["Id"]);
}

#[tokio::test]
async fn a_deleted_record_is_gone_from_get_list_and_a_second_delete() {
    let s = TestServer::start().await;
    let id = s.create(12, "gone", None).await;
    let r = s.call("DELETE", &item(id), ADMIN, None).await;
    let v = body_matching(&r, Schema::Action);
    assert_eq!(v["Message"], "CoworkerSetting was successfully deleted.");
    assert_eq!(v["Value"]["Id"], id);
    assert_eq!(s.call("GET", &item(id), ADMIN, None).await.status, 404);
    assert_eq!(s.call("DELETE", &item(id), ADMIN, None).await.status, 404);
    assert_eq!(s.list("CoworkerSetting_Coworker=12").await["TotalItems"], 0);
    // The name is free again, under a new Id.
    assert!(s.create(12, "gone", None).await > id);
}

// ---- batch get ----

#[tokio::test]
async fn batch_get_returns_the_existing_records_in_the_order_asked() {
    let s = TestServer::start().await;
    for path in [
        format!("{BASE_PATH}/?id=[87654310,1,87654303,87654310]"),
        format!("{BASE_PATH}?id=%5B87654310%2C1%2C87654303%5D"),
    ] {
        let r = s.call("GET", &path, READER, None).await;
        assert_eq!(r.status, 200, "{}", r.body_excerpt(300));
        let v = body_matching(&r, Schema::Batch);
        let ids: Vec<i64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [87654310, 87654303]);
    }
    let r = s
        .call("GET", &format!("{BASE_PATH}/?id=[1,two]"), ADMIN, None)
        .await;
    assert_eq!(error_properties(&r), vec!["id"]);
    let r = s
        .call("GET", &format!("{BASE_PATH}/?id=[]"), ADMIN, None)
        .await;
    assert_eq!(body_matching(&r, Schema::Batch), json!([]));
}

// ---- list ----

#[tokio::test]
async fn listing_with_no_parameters_uses_the_documented_defaults() {
    let s = TestServer::start().await;
    let v = s.list("").await;
    assert_eq!(v["CurrentPage"], 1);
    assert_eq!(v["PageSize"], 25);
    assert_eq!(v["CurrentPageSize"], 25);
    assert_eq!(v["CurrentOrderField"], "Id");
    assert_eq!(v["CurrentSortDirection"], 1);
    assert_eq!(v["TotalItems"], 72);
    assert_eq!(v["TotalPages"], 3);
    assert_eq!(v["FirstItem"], 1);
    assert_eq!(v["LastItem"], 25);
    assert_eq!(v["HasNextPage"], true);
    assert_eq!(v["HasPreviousPage"], false);
    let ids: Vec<i64> = v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn paging_arithmetic_holds_on_empty_partial_and_past_the_end_pages() {
    let s = TestServer::start_with(empty_store(), ServerConfig::default()).await;
    let v = s.list("").await;
    assert_eq!(
        (
            v["TotalItems"].as_u64(),
            v["TotalPages"].as_u64(),
            v["FirstItem"].as_u64(),
            v["LastItem"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(0))
    );
    assert_eq!(v["HasNextPage"], false);
    for i in 0..7 {
        s.create(1, &format!("n{i}"), None).await;
    }
    let v = s.list("page=3&size=3").await;
    assert_eq!(v["Records"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            v["FirstItem"].as_u64(),
            v["LastItem"].as_u64(),
            v["TotalPages"].as_u64()
        ),
        (Some(7), Some(7), Some(3))
    );
    assert_eq!(
        (v["HasNextPage"].as_bool(), v["HasPreviousPage"].as_bool()),
        (Some(false), Some(true))
    );
    let v = s.list("page=2&size=3").await;
    assert_eq!(
        (
            v["FirstItem"].as_u64(),
            v["LastItem"].as_u64(),
            v["HasNextPage"].as_bool()
        ),
        (Some(4), Some(6), Some(true))
    );
    let v = s.list("page=9&size=3").await;
    assert_eq!(v["Records"], json!([]));
    assert_eq!(
        (
            v["FirstItem"].as_u64(),
            v["LastItem"].as_u64(),
            v["TotalItems"].as_u64()
        ),
        (Some(0), Some(0), Some(7))
    );
    assert_eq!(
        (v["PageNumber"].as_u64(), v["CurrentPageSize"].as_u64()),
        (Some(9), Some(3))
    );
}

fn sort_key(r: &Value, field: &str) -> Value {
    r[field].clone()
}

/// Independent of the store's code: nulls first, then numbers by value and strings
/// case-insensitively (each character lower-cased, then by code point).
fn cmp_json(a: &Value, b: &Value) -> std::cmp::Ordering {
    let fold = |s: &str| -> Vec<char> { s.chars().flat_map(char::to_lowercase).collect() };
    match (a, b) {
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
        (Value::String(x), Value::String(y)) => fold(x).cmp(&fold(y)),
        _ => panic!("unexpected types {a} {b}"),
    }
}

#[tokio::test]
async fn every_order_by_field_sorts_both_ways_with_ties_by_id() {
    let s = TestServer::start().await;
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
        for dir in [1, -1] {
            let v = s
                .list(&format!("size=1000&orderBy={field}&dir={dir}"))
                .await;
            assert_eq!(v["CurrentOrderField"], field);
            assert_eq!(v["CurrentSortDirection"], dir);
            let recs = v["Records"].as_array().unwrap();
            assert_eq!(recs.len(), 72);
            for w in recs.windows(2) {
                let mut o = cmp_json(&sort_key(&w[0], field), &sort_key(&w[1], field));
                if dir == -1 {
                    o = o.reverse();
                }
                let o = o.then(w[0]["Id"].as_i64().cmp(&w[1]["Id"].as_i64()));
                assert_eq!(
                    o,
                    std::cmp::Ordering::Less,
                    "{field} dir {dir}: {} then {}",
                    w[0],
                    w[1]
                );
            }
        }
    }
}

#[tokio::test]
async fn text_sorts_case_insensitively_with_ties_by_id_ascending_both_ways() {
    let s = TestServer::start_with(empty_store(), ServerConfig::default()).await;
    let mut id = std::collections::HashMap::new();
    for (name, value) in [
        ("beta", Some("b")),
        ("Alpha", None),
        ("alpha", Some("B")),
        ("BETA", Some("a")),
        ("gamma", None),
        ("\u{c4}hm", Some("\u{e4}")),
        ("Zulu", Some("A")),
    ] {
        id.insert(name, s.create(9, name, value).await);
    }
    let names = |v: &Value| -> Vec<String> {
        v["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].as_str().unwrap().to_string())
            .collect()
    };
    // Equal after folding ("Alpha"/"alpha", "beta"/"BETA"): Id ascending in both
    // directions. 'Ä' folds to 'ä', which follows 'z'.
    let ascending = [
        "Alpha", "alpha", "beta", "BETA", "gamma", "Zulu", "\u{c4}hm",
    ];
    let descending = [
        "\u{c4}hm", "Zulu", "gamma", "beta", "BETA", "Alpha", "alpha",
    ];
    // With and without a customer filter (the two paths through the store).
    for filter in ["", "&CoworkerSetting_Coworker=9"] {
        let v = s.list(&format!("orderBy=Name&dir=1{filter}")).await;
        assert_eq!(names(&v), ascending, "{filter}");
        let v = s.list(&format!("orderBy=Name&dir=-1{filter}")).await;
        assert_eq!(names(&v), descending, "{filter}");
        // Paging through the same order gives the same records.
        let mut paged = vec![];
        for page in 1..=4 {
            paged.extend(names(
                &s.list(&format!("orderBy=Name&dir=-1&size=2&page={page}{filter}"))
                    .await,
            ));
        }
        assert_eq!(paged, descending, "{filter}");
    }
    // Value: nulls first ascending and last descending; "a"/"A" and "b"/"B" tie.
    let ids_by = |v: &Value| -> Vec<i64> { ids(v) };
    let v = s.list("orderBy=Value&dir=1").await;
    assert_eq!(
        ids_by(&v),
        [
            id["Alpha"],
            id["gamma"],
            id["BETA"],
            id["Zulu"],
            id["beta"],
            id["alpha"],
            id["\u{c4}hm"]
        ]
    );
    let v = s.list("orderBy=Value&dir=-1").await;
    assert_eq!(
        ids_by(&v),
        [
            id["\u{c4}hm"],
            id["beta"],
            id["alpha"],
            id["BETA"],
            id["Zulu"],
            id["Alpha"],
            id["gamma"]
        ]
    );
}

fn ids(v: &Value) -> Vec<i64> {
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn each_filter_is_sound_and_complete() {
    let s = TestServer::start().await;
    let all = s.list("size=1000").await;
    let all = all["Records"].as_array().unwrap().clone();
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        all.iter()
            .filter(|r| pred(r))
            .map(|r| r["Id"].as_i64().unwrap())
            .collect()
    };
    let contains = |field: &'static str, needle: &'static str| {
        move |r: &Value| {
            r[field]
                .as_str()
                .is_some_and(|s| s.to_lowercase().contains(&needle.to_lowercase()))
        }
    };
    let cases: Vec<(&str, Vec<i64>)> = vec![
        (
            "CoworkerSetting_Coworker=1002",
            expect(&|r| r["CoworkerId"] == 1002),
        ),
        (
            "CoworkerSetting_CoworkerId=1002",
            expect(&|r| r["CoworkerId"] == 1002),
        ),
        (
            "CoworkerSetting_Name=portal",
            expect(&contains("Name", "portal")),
        ),
        (
            "CoworkerSetting_Name=PORTAL.THEME",
            expect(&contains("Name", "portal.theme")),
        ),
        (
            "CoworkerSetting_Value=%C3%B1and%C3%BA",
            expect(&contains("Value", "ñandú")),
        ),
        ("CoworkerSetting_Value=e", expect(&contains("Value", "e"))),
        (
            "CoworkerSetting_EncryptedValue=enc",
            expect(&contains("EncryptedValue", "enc")),
        ),
        (
            "CoworkerSetting_Coworker=1001&CoworkerSetting_Name=notif",
            expect(&|r| r["CoworkerId"] == 1001 && contains("Name", "notif")(r)),
        ),
        (
            "CoworkerSetting_Name=&CoworkerSetting_Value=",
            expect(&|_| true),
        ),
        ("CoworkerSetting_Coworker=424242", vec![]),
    ];
    for (query, expected) in cases {
        let v = s.list(&format!("size=1000&{query}")).await;
        assert_eq!(ids(&v), expected, "{query}");
        assert_eq!(v["TotalItems"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn range_filters_include_both_bounds_and_the_whole_to_minute() {
    let s = TestServer::start().await;
    let all = s.list("size=1000").await;
    let r0 = all["Records"][0].clone();
    let created = r0["CreatedOn"].as_str().unwrap();
    let minute = &created[..16];
    // A from/to pair naming the record's own minute includes it.
    let v = s.list(&format!("size=1000&from_CoworkerSetting_CreatedOn={minute}&to_CoworkerSetting_CreatedOn={minute}")).await;
    assert!(ids(&v).contains(&r0["Id"].as_i64().unwrap()), "{v}");
    for r in v["Records"].as_array().unwrap() {
        assert!(r["CreatedOn"].as_str().unwrap().starts_with(minute));
    }
    // Seconds and a trailing Z are accepted; the exact second is inclusive.
    let v = s.list(&format!("size=1000&from_CoworkerSetting_CreatedOn={created}&to_CoworkerSetting_CreatedOn={created}")).await;
    assert!(ids(&v).contains(&r0["Id"].as_i64().unwrap()));
    // The documented example: a year of updates, newest first.
    let v = s.list("size=1000&from_CoworkerSetting_UpdatedOn=2025-01-01T00:00&to_CoworkerSetting_UpdatedOn=2025-12-31T23:59&orderBy=UpdatedOn&dir=-1").await;
    let expected: Vec<&Value> = all["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["UpdatedOn"].as_str().unwrap().starts_with("2025"))
        .collect();
    assert_eq!(v["TotalItems"], expected.len());
    assert!(!expected.is_empty());
    let v = s
        .list("size=1000&to_CoworkerSetting_CreatedOn=2000-01-01T00:00")
        .await;
    assert_eq!(v["TotalItems"], 0);
}

#[tokio::test]
async fn bad_list_parameters_get_the_validation_envelope_naming_each() {
    let s = TestServer::start().await;
    for (query, names) in [
        ("page=0", vec!["page"]),
        ("page=x", vec!["page"]),
        ("size=0", vec!["size"]),
        ("size=1001", vec!["size"]),
        ("size=-1", vec!["size"]),
        ("dir=0", vec!["dir"]),
        ("orderBy=Password", vec!["orderBy"]),
        ("orderBy=name", vec!["orderBy"]),
        (
            "CoworkerSetting_Coworker=abc",
            vec!["CoworkerSetting_Coworker"],
        ),
        (
            "from_CoworkerSetting_CreatedOn=2025-13-01T00:00",
            vec!["from_CoworkerSetting_CreatedOn"],
        ),
        (
            "to_CoworkerSetting_UpdatedOn=tomorrow",
            vec!["to_CoworkerSetting_UpdatedOn"],
        ),
        ("page=0&size=0", vec!["page", "size"]),
        ("page=18446744073709551616", vec!["page"]),
        ("size=3000000000", vec!["size"]),
        (
            "CoworkerSetting_Coworker=9223372036854775808",
            vec!["CoworkerSetting_Coworker"],
        ),
    ] {
        let r = s
            .call("GET", &format!("{BASE_PATH}?{query}"), ADMIN, None)
            .await;
        assert_eq!(error_properties(&r), names, "{query}");
    }
    // Unknown parameters are ignored.
    assert_eq!(s.list("whatever=1&Page=0").await["TotalItems"], 72);
}

// ---- auth ----

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_401_on_every_endpoint() {
    let s = TestServer::start().await;
    let endpoints = [
        ("GET", BASE_PATH.to_string()),
        ("POST", BASE_PATH.to_string()),
        ("PUT", BASE_PATH.to_string()),
        ("GET", item(87654303)),
        ("DELETE", item(87654303)),
        ("GET", format!("{BASE_PATH}/?id=[87654303]")),
    ];
    for (method, path) in &endpoints {
        for auth in [
            None,
            Some("Bearer"),
            Some("Token abc"),
            Some("Basic !!!"),
            Some("Bearer nope"),
            Some("Basic YWRtaW5AZXhhbXBsZS5jb206d3Jvbmc="),
        ] {
            let mut req = HttpRequest::new(method, path.clone());
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            let r = s
                .send(req.json(&json!({"CoworkerId": 1, "Name": "x"})))
                .await;
            assert_eq!(r.status, 401, "{method} {path} {auth:?}");
            let v = body_matching(&r, Schema::Error);
            assert!(v["Message"].as_str().unwrap().contains("denied"), "{v}");
        }
    }
    assert_eq!(s.list("").await["TotalItems"], 72, "nothing was written");
}

#[tokio::test]
async fn basic_credentials_work_like_bearer_tokens() {
    let s = TestServer::start().await;
    let basic = "Basic YWRtaW5AZXhhbXBsZS5jb206YWRtaW4tcGFzc3dvcmQ="; // admin@example.com:admin-password
    let r = s.call("GET", BASE_PATH, basic, None).await;
    assert_eq!(r.status, 200);
    let r = s
        .call(
            "POST",
            BASE_PATH,
            basic,
            Some(&json!({"CoworkerId": 3, "Name": "via basic"})),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn each_endpoint_refuses_a_user_without_its_role() {
    let s = TestServer::start().await;
    let id = s.create(13, "r", None).await;
    // The read-only user can list and read but not write.
    assert_eq!(s.call("GET", BASE_PATH, READER, None).await.status, 200);
    assert_eq!(s.call("GET", &item(id), READER, None).await.status, 200);
    for (method, path, body) in [
        (
            "POST",
            BASE_PATH.to_string(),
            Some(json!({"CoworkerId": 13, "Name": "new"})),
        ),
        (
            "PUT",
            BASE_PATH.to_string(),
            Some(json!({"Id": id, "CoworkerId": 13, "Name": "r2"})),
        ),
        ("DELETE", item(id), None),
    ] {
        let r = s.call(method, &path, READER, body.as_ref()).await;
        assert_eq!(r.status, 401, "{method}");
        let v = body_matching(&r, Schema::Error);
        assert!(
            v["Message"].as_str().unwrap().contains("CoworkerSetting-"),
            "{v}"
        );
    }
    // A user with no roles can do nothing.
    for (method, path) in [
        ("GET", BASE_PATH.to_string()),
        ("GET", item(id)),
        ("GET", format!("{BASE_PATH}/?id=[{id}]")),
    ] {
        assert_eq!(
            s.call(method, &path, NOBODY, None).await.status,
            401,
            "{method} {path}"
        );
    }
    assert_eq!(get_record(&s, id).await["Name"], "r", "nothing changed");
}

#[tokio::test]
async fn the_token_endpoint_grants_and_refreshes_tokens() {
    let s = TestServer::start().await;
    let form = |body: &str| {
        HttpRequest::new("POST", "/api/token")
            .raw_body("application/x-www-form-urlencoded", body.to_string())
    };
    let r = s
        .send(form(
            "grant_type=password&username=reader%40example.com&password=reader-password",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body_excerpt(300));
    let v = body_matching(&r, Schema::Token);
    assert_eq!(v["token_type"], "bearer");
    let access = v["access_token"].as_str().unwrap().to_string();
    let r = s
        .call("GET", BASE_PATH, &format!("Bearer {access}"), None)
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .send(form(&format!(
            "grant_type=refresh_token&refresh_token={}",
            v["refresh_token"].as_str().unwrap()
        )))
        .await;
    let v2 = body_matching(&r, Schema::Token);
    assert_ne!(v2["access_token"], v["access_token"]);

    for (body, error) in [
        (
            "grant_type=password&username=reader%40example.com&password=wrong",
            "invalid_grant",
        ),
        (
            "grant_type=password&username=ghost%40example.com&password=wrong",
            "invalid_grant",
        ),
        (
            "grant_type=refresh_token&refresh_token=nope",
            "invalid_grant",
        ),
        ("grant_type=password&username=x", "invalid_request"),
        ("grant_type=client_credentials", "unsupported_grant_type"),
    ] {
        let r = s.send(form(body)).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(
            body_matching(&r, Schema::OAuthError)["error"],
            error,
            "{body}"
        );
    }
    let r = s.send(HttpRequest::new("POST", "/api/token").json(&json!({"grant_type": "password", "username": "admin@example.com", "password": "admin-password"}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        body_matching(&r, Schema::OAuthError)["error"],
        "unsupported_grant_type"
    );
}

// ---- other errors, CORS ----

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_unknown_paths_404() {
    let s = TestServer::start().await;
    for (method, path, allow) in [
        ("PATCH", item(87654303), "GET, DELETE, OPTIONS"),
        ("DELETE", BASE_PATH.to_string(), "GET, POST, PUT, OPTIONS"),
        ("PUT", item(87654303), "GET, DELETE, OPTIONS"),
        ("GET", "/api/token".to_string(), "POST, OPTIONS"),
    ] {
        let r = s.call(method, &path, ADMIN, None).await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow));
        let message = body_matching(&r, Schema::Error)["Message"].to_string();
        assert!(
            message.contains(&format!("'{method}'")),
            "names the method sent: {message}"
        );
    }
    for path in [
        "/",
        "/api/spaces",
        "/api/spaces/coworkers",
        "/api/spaces/coworkersettings/1/extra",
    ] {
        let r = s.call("GET", path, ADMIN, None).await;
        assert_eq!(r.status, 404, "{path}");
        body_matching(&r, Schema::Error);
    }
}

#[tokio::test]
async fn options_names_only_the_methods_a_path_answers_and_unknown_paths_are_404() {
    let s = TestServer::start().await;
    for (path, allow) in [
        (BASE_PATH.to_string(), "GET, POST, PUT, OPTIONS"),
        (item(87654303), "GET, DELETE, OPTIONS"),
        ("/api/token".to_string(), "POST, OPTIONS"),
        ("/__admin/health".to_string(), "GET, OPTIONS"),
        ("/__admin/reset".to_string(), "POST, OPTIONS"),
        ("/__admin/requests".to_string(), "GET, DELETE, OPTIONS"),
    ] {
        // Plain OPTIONS and a browser's preflight agree with the 405's Allow.
        let r = s.send(HttpRequest::new("OPTIONS", path.as_str())).await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("allow"), Some(allow), "{path}");
        let r = s
            .send(
                HttpRequest::new("OPTIONS", path.as_str())
                    .header("Origin", "http://localhost:5173")
                    .header("Access-Control-Request-Method", "GET"),
            )
            .await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("allow"), Some(allow), "{path}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some(allow),
            "{path}"
        );
    }
    for path in [
        "/",
        "/nope",
        "/api/spaces/coworkersettings/abc",
        "/api/spaces/coworkersettings/0",
        "/__admin/nope",
    ] {
        let r = s
            .send(HttpRequest::new("OPTIONS", path).header("Origin", "http://localhost:5173"))
            .await;
        assert_eq!(r.status, 404, "{path}");
        body_matching(&r, Schema::Error);
        assert_eq!(r.header("allow"), None, "{path}");
        assert_eq!(r.header("access-control-allow-methods"), None, "{path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://localhost:5173"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let config = ServerConfig {
        max_body: 1000,
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(Fixtures::builtin(), config).await;
    let body = json!({"CoworkerId": 1, "Name": "big", "Value": "x".repeat(2000)});
    let r = s.call("POST", BASE_PATH, ADMIN, Some(&body)).await;
    assert_eq!(r.status, 413);
    body_matching(&r, Schema::Error);
    let body = json!({"CoworkerId": 1, "Name": "small", "Value": "x".repeat(500)});
    assert_eq!(
        s.call("POST", BASE_PATH, ADMIN, Some(&body)).await.status,
        200
    );
}

#[tokio::test]
async fn cors_preflight_allows_the_headers_the_mock_reads() {
    let s = TestServer::start().await;
    let r = s
        .send(
            HttpRequest::new("OPTIONS", BASE_PATH)
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PUT, OPTIONS")
    );
    let headers = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "prefer"] {
        assert!(headers.contains(h), "{headers}");
    }
    let r = s
        .send(
            HttpRequest::new("GET", BASE_PATH)
                .header("Authorization", ADMIN)
                .header("Origin", "http://localhost:5173"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    // Errors carry CORS headers too, so the browser lets the page read them.
    let r = s
        .send(HttpRequest::new("GET", BASE_PATH).header("Origin", "http://localhost:5173"))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
}

#[tokio::test]
async fn no_cors_turns_cors_headers_off() {
    let config = ServerConfig {
        cors: false,
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(Fixtures::builtin(), config).await;
    let r = s
        .send(
            HttpRequest::new("GET", BASE_PATH)
                .header("Authorization", ADMIN)
                .header("Origin", "http://x"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_on_that_request_only() {
    let app = nexudus_mock::server::App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_layer(std::sync::Arc::new(|app, req| {
            if req.path.ends_with("/666") {
                panic!("deliberate panic for the test");
            }
            nexudus_mock::server::api::handle(app, req)
        }));
    let server = nexudus_mock::server::RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap();
    let client = nexudus_mock::client::HttpClient::new(&server.base_url(), Duration::from_secs(5));
    let r = client
        .send(&HttpRequest::new("GET", item(666)).header("Authorization", ADMIN))
        .await
        .unwrap();
    assert_eq!(r.status, 500);
    body_matching(&r, Schema::Error);
    let r = client
        .send(&HttpRequest::new("GET", item(87654303)).header("Authorization", ADMIN))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_leave_unique_ids_and_one_winner_per_duplicate() {
    let s = TestServer::start_with(empty_store(), ServerConfig::default()).await;
    let mut tasks = Vec::new();
    // 50 distinct names, each raced by 4 clients.
    for i in 0..200 {
        let client = s.client.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"CoworkerId": 1 + (i % 3), "Name": format!("race-{}", i % 50)});
            let r = client
                .send(
                    &HttpRequest::new("POST", BASE_PATH)
                        .header("Authorization", ADMIN)
                        .json(&body),
                )
                .await
                .unwrap();
            (i % 50, 1 + (i % 3), r.status, r.json().unwrap())
        }));
    }
    let mut winners = std::collections::HashMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut ok = 0;
    for t in tasks {
        let (name, customer, status, v) = t.await.unwrap();
        match status {
            200 => {
                ok += 1;
                assert!(
                    ids.insert(v["Value"]["Id"].as_i64().unwrap()),
                    "Id handed out twice"
                );
                *winners.entry((customer, name)).or_insert(0) += 1;
            }
            400 => assert_eq!(v["Errors"][0]["PropertyName"], "Name"),
            other => panic!("status {other}: {v}"),
        }
    }
    assert!(winners.values().all(|&n| n == 1));
    // i % 50 and i % 3 give 150 distinct (customer, name) pairs among 200 creates.
    assert_eq!(winners.len(), 150);
    assert_eq!(s.list("size=1").await["TotalItems"], ok);
}

// ---- start-up ----

#[test]
fn a_bad_fixture_stops_start_up_naming_the_file_and_the_record() {
    let dir = std::env::temp_dir().join(format!("nexudus-mock-badfix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut records: Vec<Value> =
        serde_json::from_str(include_str!("../../fixtures/coworkersettings.json")).unwrap();
    records[3]["UniqueId"] = json!("not-a-uuid");
    std::fs::write(
        dir.join("coworkersettings.json"),
        serde_json::to_string(&records).unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args(["serve", "--port", "0", "--fixtures"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("coworkersettings.json: record 3:"),
        "{stderr}"
    );
    assert!(stderr.contains("UniqueId"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args(["serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().trim().to_string();
    // A create whose body is still on its way when the signal arrives.
    let body = r#"{"CoworkerId":5,"Name":"in flight"}"#;
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(conn, "POST {BASE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}", body.len(), &body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(body[10..].as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("successfully created"), "{reply}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mock did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // New connections are refused once it has stopped.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
