//! The admin API under `/__admin`: each route, bad input to each, the journal's
//! masking and filters, the admin token, and the OpenAPI document checked by a real
//! validator.

use base64::Engine;
use nexudus_mock::client::{HttpRequest, HttpResponse};
use nexudus_mock::fixtures::{self, Fixtures};
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::ServerConfig;
use serde_json::{Value, json};

use super::{require_tool, start_with_config};
use crate::util::*;

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let mut req = HttpRequest::new(method, path);
    if let Some(b) = body {
        req = req.json(b);
    }
    s.send(req).await
}

async fn snapshot(s: &TestServer) -> Value {
    let r = admin(s, "GET", "/__admin/snapshot", None).await;
    assert_eq!(r.status, 200);
    body_matching(&r, Schema::Batch)
}

fn success(r: &HttpResponse) -> Value {
    assert_eq!(r.status, 200, "{}", r.body_excerpt(800));
    let v = r.json().unwrap();
    assert_eq!(v["WasSuccessful"], true, "{v}");
    assert!(v["Message"].as_str().is_some_and(|m| !m.is_empty()));
    v
}

#[tokio::test]
async fn reset_puts_the_fixtures_back_and_clears_the_journal() {
    let s = TestServer::start().await;
    let original = snapshot(&s).await;
    let id = s.create(1001, "made.by.a.test", Some("v")).await;
    s.call("DELETE", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await;
    assert_ne!(snapshot(&s).await, original);
    let v = success(&admin(&s, "POST", "/__admin/reset", None).await);
    assert_eq!(v["Records"], 72);
    assert!(v["JournalCleared"].as_u64().unwrap() >= 2);
    assert_eq!(snapshot(&s).await, original);
    let j = admin(&s, "GET", "/__admin/requests", None)
        .await
        .json()
        .unwrap();
    assert_eq!(j["Count"], 0, "{j}");
    let next = s.create(1001, "made.by.a.test", Some("v")).await;
    assert!(next > id, "Ids are not reused after a reset");
    let wrong = admin(&s, "GET", "/__admin/reset", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST, OPTIONS"));
    body_matching(&wrong, Schema::Error);
}

#[tokio::test]
async fn the_snapshot_is_in_fixture_format_and_loads_back() {
    let s = TestServer::start().await;
    s.create(2044, "snap.shot", None).await;
    let snap = snapshot(&s).await;
    let records = fixtures::parse_records(&snap.to_string(), "snapshot")
        .expect("the snapshot loads as fixtures");
    assert_eq!(records.len(), 73);
    assert_eq!(s.list("size=1").await["TotalItems"], 73);
    let r = admin(&s, "PUT", "/__admin/fixtures", Some(&snap)).await;
    assert_eq!(success(&r)["Records"], 73);
    assert_eq!(snapshot(&s).await, snap);
    let head = s.send(HttpRequest::new("HEAD", "/__admin/snapshot")).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn putting_fixtures_replaces_every_record_and_reset_returns_to_them() {
    let s = TestServer::start().await;
    let mut snap = snapshot(&s).await;
    let two: Vec<Value> = snap.as_array_mut().unwrap().drain(..2).collect();
    let r = admin(
        &s,
        "PUT",
        "/__admin/fixtures",
        Some(&json!({"Records": two})),
    )
    .await;
    assert_eq!(
        success(&r)["Records"],
        2,
        "a pasted list envelope works too"
    );
    assert_eq!(s.list("size=100").await["TotalItems"], 2);
    s.create(1001, "extra", None).await;
    success(&admin(&s, "POST", "/__admin/reset", None).await);
    assert_eq!(snapshot(&s).await, json!(two));
    let r = admin(&s, "PUT", "/__admin/fixtures", Some(&json!([]))).await;
    assert_eq!(success(&r)["Records"], 0);
    assert_eq!(s.list("size=1").await["TotalItems"], 0);
}

#[tokio::test]
async fn a_bad_fixture_upload_is_a_400_that_changes_nothing() {
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    let good = before[0].clone();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut r = good.clone();
        f(&mut r);
        json!([r])
    };
    let bad_bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"[{".to_vec(), "not valid JSON"),
        ("empty", b"".to_vec(), "empty"),
        ("not UTF-8", b"[\xff]".to_vec(), "UTF-8"),
        ("a number", b"42".to_vec(), "array"),
        (
            "wrong type",
            with(&|r| r["CoworkerId"] = json!("two"))
                .to_string()
                .into_bytes(),
            "record 0",
        ),
        (
            "bad uuid",
            with(&|r| r["UniqueId"] = json!("nope"))
                .to_string()
                .into_bytes(),
            "UniqueId",
        ),
        (
            "missing field",
            with(&|r| {
                r.as_object_mut().unwrap().remove("Name");
            })
            .to_string()
            .into_bytes(),
            "Name",
        ),
        (
            "duplicate id",
            json!([good, good]).to_string().into_bytes(),
            "appears twice",
        ),
        (
            "duplicate name",
            {
                let mut other = good.clone();
                other["Id"] = json!(1);
                other["UniqueId"] = json!("a1b2c3d4-e5f6-4890-abcd-ef1234567899");
                json!([good, other]).to_string().into_bytes()
            },
            "already has a setting",
        ),
    ];
    for (what, body, says) in bad_bodies {
        let r = s
            .send(HttpRequest::new("PUT", "/__admin/fixtures").raw_body("application/json", body))
            .await;
        assert_eq!(r.status, 400, "{what}: {}", r.body_excerpt(500));
        let v = body_matching(&r, Schema::ValidationError);
        assert!(v["Message"].as_str().unwrap().contains(says), "{what}: {v}");
    }
    assert_eq!(snapshot(&s).await, before, "nothing changed");
    let wrong = admin(&s, "POST", "/__admin/fixtures", Some(&json!([]))).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn the_journal_records_requests_with_every_secret_masked() {
    let s = TestServer::start().await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("editor@example.com:editor-password");
    s.send(
        HttpRequest::new("POST", BASE_PATH)
            .header("Authorization", format!("Basic {basic}"))
            .header("Origin", "http://localhost:3000")
            .json(&json!({"CoworkerId": 1001, "Name": "secret.one", "EncryptedValue": "ENC-s3cret-value"})),
    )
    .await;
    s.send(HttpRequest::new("POST", "/api/token").raw_body(
        "application/x-www-form-urlencoded",
        "grant_type=password&username=admin%40example.com&password=admin-password",
    ))
    .await;
    s.send(
        HttpRequest::new("GET", format!("{BASE_PATH}?size=2&password=qs-secret"))
            .header("Authorization", ADMIN),
    )
    .await;
    s.send(
        HttpRequest::new("POST", BASE_PATH)
            .header("Authorization", ADMIN)
            .raw_body("application/json", r#"{"EncryptedValue":"half-sent-s3cret"#),
    )
    .await;
    let r = admin(&s, "GET", "/__admin/requests", None).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    for secret in [
        "ENC-s3cret-value",
        "admin-password",
        "admin-token",
        &basic,
        "editor-password",
        "qs-secret",
        "half-sent-s3cret",
    ] {
        assert!(!text.contains(secret), "the journal leaks {secret}: {text}");
    }
    let v = r.json().unwrap();
    let entries = v["Requests"].as_array().unwrap();
    assert_eq!(v["Count"], 4);
    let create = &entries[3];
    assert_eq!(create["Method"], "POST");
    assert_eq!(create["Path"], BASE_PATH);
    assert_eq!(create["Status"], 200);
    assert_eq!(create["Origin"], "http://localhost:3000");
    assert_eq!(create["Authorization"], "Basic ***");
    assert_eq!(create["Body"]["Name"], "secret.one");
    assert_eq!(create["Body"]["EncryptedValue"], "***");
    assert!(chrono::DateTime::parse_from_rfc3339(create["Time"].as_str().unwrap()).is_ok());
    assert!(create["DurationMs"].as_f64().unwrap() >= 0.0);
    assert_eq!(entries[2]["Body"]["password"], "***");
    assert_eq!(entries[2]["Body"]["username"], "admin@example.com");
    assert!(entries[1]["Query"].as_str().unwrap().contains("size=2"));
    assert_eq!(entries[1]["Authorization"], "Bearer ***");
    let schema_doc = nexudus_mock::openapi::document();
    let entry_schema = &schema_doc["components"]["schemas"]["JournalEntry"];
    let validator = jsonschema::draft202012::new(entry_schema).unwrap();
    for e in entries {
        assert!(validator.is_valid(e), "{e}");
    }
}

#[tokio::test]
async fn the_journal_filters_by_method_and_path_and_names_bad_filters() {
    let s = TestServer::start().await;
    s.create(1001, "j.one", None).await;
    s.call("GET", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await;
    s.call("GET", &format!("{BASE_PATH}?size=1"), ADMIN, None)
        .await;
    s.call("DELETE", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await;
    let q = |query: &str| {
        let s = &s;
        let query = query.to_string();
        async move { admin(s, "GET", &format!("/__admin/requests?{query}"), None).await }
    };
    let count = |r: HttpResponse| r.json().unwrap()["Count"].as_u64().unwrap();
    assert_eq!(count(q("method=GET").await), 2);
    assert_eq!(count(q("method=post").await), 1);
    assert_eq!(count(q(&format!("path={BASE_PATH}")).await), 2);
    assert_eq!(count(q(&format!("path={BASE_PATH}/87654303")).await), 2);
    assert_eq!(
        count(q(&format!("method=DELETE&path={BASE_PATH}*")).await),
        1
    );
    assert_eq!(count(q("path=/api*&limit=3").await), 3);
    // A blank method or path is no filter, as on the API's list.
    assert_eq!(count(q("method=&path=").await), count(q("").await));
    for (bad, param) in [
        ("method=G%20T", "method"),
        ("limit=18446744073709551616", "limit"),
        ("limit=", "limit"),
        ("path=api", "path"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("status=200", "status"),
    ] {
        assert_eq!(error_properties(&q(bad).await), vec![param], "{bad}");
    }
}

#[tokio::test]
async fn deleting_the_journal_clears_it_and_the_journal_is_bounded() {
    let s = start_with_config(|c| c.frontend.journal_size = 5).await;
    for i in 0..12 {
        s.call("GET", &format!("{BASE_PATH}?page={}", i + 1), ADMIN, None)
            .await;
    }
    let v = admin(&s, "GET", "/__admin/requests", None)
        .await
        .json()
        .unwrap();
    assert_eq!(
        (v["Count"].as_u64(), v["Capacity"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(v["Requests"][0]["Query"], "page=12", "newest first");
    assert_eq!(v["Requests"][4]["Query"], "page=8");
    let d = success(&admin(&s, "DELETE", "/__admin/requests", None).await);
    assert_eq!(d["Cleared"], 5);
    let v = admin(&s, "GET", "/__admin/requests", None)
        .await
        .json()
        .unwrap();
    assert_eq!(v["Count"], 0);
    let wrong = admin(&s, "POST", "/__admin/requests", None).await;
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("GET, DELETE, OPTIONS"))
    );
}

#[tokio::test]
async fn health_reports_records_and_settings_and_unknown_admin_paths_are_404() {
    let s = start_with_config(|c| {
        c.frontend.error_rate = 0.25;
        c.frontend.seed = Some(9);
    })
    .await;
    let v = admin(&s, "GET", "/__admin/health", None)
        .await
        .json()
        .unwrap();
    assert_eq!(v["Status"], "ok");
    assert_eq!(v["Records"], 72);
    assert_eq!(
        (v["ErrorRate"].as_f64(), v["Seed"].as_u64()),
        (Some(0.25), Some(9))
    );
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    for path in [
        "/__admin",
        "/__admin/",
        "/__admin/nope",
        "/__admin/reset/now",
    ] {
        let r = admin(&s, "GET", path, None).await;
        assert_eq!(r.status, 404, "{path}");
        let e = body_matching(&r, Schema::Error);
        assert!(
            e["Message"].as_str().unwrap().contains("/__admin/reset"),
            "{e}"
        );
    }
    let r = admin(&s, "GET", "/__admin/health/", None).await;
    assert_eq!(r.status, 200, "a trailing slash is tolerated");
    for (method, path, allow) in [
        ("GET", "/__admin/reset", "POST, OPTIONS"),
        ("DELETE", "/__admin/snapshot", "GET, OPTIONS"),
        ("GET", "/__admin/fixtures", "PUT, OPTIONS"),
        ("PUT", "/__admin/requests", "GET, DELETE, OPTIONS"),
        ("POST", "/__admin/health", "GET, OPTIONS"),
        ("DELETE", "/__admin/openapi.json", "GET, OPTIONS"),
    ] {
        let r = admin(&s, method, path, Some(&json!([]))).await;
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some(allow)),
            "{method} {path}"
        );
        let e = body_matching(&r, Schema::Error);
        assert!(e["Message"].as_str().unwrap().contains(method), "{e}");
    }
    assert_eq!(
        s.list("size=1").await["TotalItems"],
        72,
        "no wrong method changed anything"
    );
}

#[tokio::test]
async fn with_an_admin_token_every_admin_route_needs_it_and_refusals_change_nothing() {
    let mut config = ServerConfig::default();
    config.frontend.admin_token = Some("let-me-in".into());
    let s = TestServer::start_with(Fixtures::builtin(), config).await;
    let id = s.create(1001, "survives.refused.reset", None).await;
    for (method, path) in [
        ("POST", "/__admin/reset"),
        ("GET", "/__admin/snapshot"),
        ("PUT", "/__admin/fixtures"),
        ("GET", "/__admin/requests"),
        ("DELETE", "/__admin/requests"),
        ("GET", "/__admin/health"),
        ("GET", "/__admin/openapi.json"),
        ("GET", "/__admin/unknown"),
    ] {
        let missing = s
            .send(HttpRequest::new(method, path).json(&json!([])))
            .await;
        assert_eq!(missing.status, 401, "{method} {path}");
        let e = body_matching(&missing, Schema::Error);
        assert!(
            e["Message"].as_str().unwrap().contains("--admin-token"),
            "{e}"
        );
        assert!(missing.header("www-authenticate").is_some());
        for wrong in [
            "Bearer let-me-out",
            "Bearer admin-token",
            "Basic bGV0LW1lLWlu",
            "let-me-in",
        ] {
            let r = s
                .send(
                    HttpRequest::new(method, path)
                        .header("Authorization", wrong)
                        .json(&json!([])),
                )
                .await;
            assert_eq!(r.status, 401, "{method} {path} with {wrong}");
        }
    }
    assert_eq!(
        s.call("GET", &format!("{BASE_PATH}/{id}"), ADMIN, None)
            .await
            .status,
        200,
        "the refused reset did nothing"
    );
    assert_eq!(
        s.list("size=1").await["TotalItems"],
        73,
        "the refused upload did nothing"
    );
    let ok = s
        .send(
            HttpRequest::new("POST", "/__admin/reset").header("Authorization", "Bearer let-me-in"),
        )
        .await;
    success(&ok);
    assert_eq!(
        s.call("GET", &format!("{BASE_PATH}/{id}"), ADMIN, None)
            .await
            .status,
        404
    );
    // A preflight carries no credentials, so it is answered without the token.
    let pre = s
        .send(HttpRequest::new("OPTIONS", "/__admin/reset").header("Origin", "http://x.test"))
        .await;
    assert_eq!(pre.status, 204);
}

/// Validates an OpenAPI document with Python's `openapi-spec-validator`; false
/// when the validator is not installed (and CI is unset).
pub fn validate_openapi(doc: &Value) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require_tool(
        available,
        "Python's openapi-spec-validator",
        "pip install openapi-spec-validator",
    ) {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |doc: &Value| {
        let path = dir.path().join("openapi.json");
        std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        std::process::Command::new("python3")
            .args([
                "-c",
                "import json,sys\nfrom openapi_spec_validator import validate\nfrom openapi_spec_validator.validation import OpenAPIV31SpecValidator\nvalidate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\nprint('valid')",
            ])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = run(doc);
    assert!(
        out.status.success(),
        "the OpenAPI document is not valid:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator can fail: a broken copy is refused.
    let mut broken = doc.clone();
    broken["paths"][BASE_PATH]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Missing"});
    broken.as_object_mut().unwrap().remove("info");
    assert!(
        !run(&broken).status.success(),
        "the validator accepted a broken document"
    );
    true
}

#[tokio::test]
async fn the_openapi_document_is_served_and_a_real_validator_accepts_it() {
    let s = TestServer::start().await;
    let r = admin(&s, "GET", "/__admin/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let served = r.json().unwrap();
    assert_eq!(served, nexudus_mock::openapi::document());
    assert_eq!(served["openapi"], "3.1.0");
    for path in [
        BASE_PATH,
        "/api/spaces/coworkersettings/{id}",
        "/api/token",
        "/__admin/reset",
        "/__admin/requests",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
    // The components are the shipped schemas: a real response validates against them.
    let record = s
        .call("GET", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await
        .json()
        .unwrap();
    let mut resolvable = served["components"]["schemas"]["CoworkerSetting"].clone();
    resolvable["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    assert!(
        jsonschema::draft202012::new(&resolvable)
            .unwrap()
            .is_valid(&record)
    );
    tokio::task::spawn_blocking(move || validate_openapi(&served))
        .await
        .unwrap();
}
