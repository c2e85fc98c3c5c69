//! `check`, the contract runner: it passes the mock with no failures and no
//! warnings, and for every check group a deliberately broken implementation (the
//! mock behind a `Layer` that corrupts one thing) makes it fail and name that check.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nexudus_mock::client::ClientConfig;
use nexudus_mock::contract::{self, CheckConfig, Credential};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::report::{Outcome, Report, Verdict};
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::server::api;
use nexudus_mock::server::types::{ApiRequest, ApiResponse, Method};
use nexudus_mock::server::{App, RunningServer, ServerConfig};
use serde_json::{Value, json};

fn config(base_url: String) -> CheckConfig {
    CheckConfig {
        client: ClientConfig::new(&base_url)
            .unwrap()
            .with_timeout(Duration::from_secs(5)),
        credential: Credential::Bearer("admin-token".into()),
        read_only_credential: Some(Credential::Bearer("reader-token".into())),
        coworker_id: None,
        rate: None,
        read_only: false,
        strict: true,
        show_secrets: false,
        require: vec![],
    }
}

async fn start(layer: Option<nexudus_mock::server::Layer>) -> RunningServer {
    let mut app = App::new(Fixtures::builtin(), ServerConfig::default()).unwrap();
    app.layer = layer;
    RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

fn failed(report: &Report) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_the_mock_with_no_failures_and_no_warnings() {
    let server = start(None).await;
    // Users with passwords, so the token endpoint's grants are exercised too.
    let mut cfg = config(server.base_url());
    cfg.credential = Credential::user("admin@example.com:admin-password").unwrap();
    cfg.read_only_credential = Credential::user("reader@example.com:reader-password");
    let report = contract::run(cfg).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert_eq!(report.count(Outcome::Warn), 0, "{}", report.to_human());
    assert_eq!(report.count(Outcome::Skipped), 0, "{}", report.to_human());
    assert!(report.count(Outcome::Pass) >= 60);
    // It cleaned up after itself: the fixtures are all that is left.
    assert_eq!(server.app.store.len(), Fixtures::builtin().records.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_and_writes_junit_and_json() {
    let server = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let (junit, json_path) = (dir.path().join("check.xml"), dir.path().join("check.json"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args([
            "check",
            &server.base_url(),
            "--token",
            "admin-token",
            "--read-only-token",
            "reader-token",
        ])
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("PASSED (exit 0)"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite") && xml.contains("create.read-back") && !xml.contains("<failure"),
        "{xml}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(v["exit_code"], 0);
    assert!(v["results"].as_array().unwrap().len() >= 60);
}

#[tokio::test]
async fn an_unreachable_target_exits_2() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = contract::run(config(format!("http://{addr}"))).await;
    assert_eq!(report.verdict(), Verdict::Untested);
    assert!(
        report.summary_line().starts_with("NOT TESTED (exit 2)"),
        "{}",
        report.summary_line()
    );
}

#[tokio::test]
async fn refused_credentials_exit_2() {
    let server = start(None).await;
    let mut cfg = config(server.base_url());
    cfg.credential = Credential::Bearer("wrong".into());
    let report = contract::run(cfg).await;
    assert_eq!(report.verdict(), Verdict::Untested, "{}", report.to_human());
}

#[tokio::test]
async fn read_only_mode_writes_nothing() {
    let server = start(None).await;
    let before = server.app.store.snapshot();
    let mut cfg = config(server.base_url());
    cfg.read_only = true;
    let report = contract::run(cfg).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert_eq!(server.app.store.snapshot(), before);
}

// ---- deliberately broken implementations ----

fn query_without(q: &str, param: &str) -> String {
    form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| k != param)
        .fold(
            form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish()
}

fn map_query(q: &str, f: impl Fn(&str, &str) -> String) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        s.append_pair(&k, &f(&k, &v));
    }
    s.finish()
}

fn json_of(resp: &ApiResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
}

fn with_json(mut resp: ApiResponse, v: &Value) -> ApiResponse {
    resp.body = Bytes::from(v.to_string());
    resp
}

fn is_list(req: &ApiRequest) -> bool {
    req.method == Method::Get
        && req.path.trim_end_matches('/') == BASE_PATH
        && !req.query.contains("id=")
}

/// Runs `check` against the mock behind `layer` and asserts it fails naming `check`.
async fn assert_caught(
    what: &str,
    expected_check: &str,
    layer: impl Fn(&App, &ApiRequest) -> ApiResponse + Send + Sync + 'static,
) {
    let server = start(Some(Arc::new(layer))).await;
    let report = contract::run(config(server.base_url())).await;
    assert_eq!(
        report.verdict().exit_code(),
        1,
        "{what}: check should fail\n{}",
        report.to_human()
    );
    let failed = failed(&report);
    assert!(
        failed.iter().any(|n| n.starts_with(expected_check)),
        "{what}: expected a failure named {expected_check}, got {failed:?}"
    );
    let human = report.to_human();
    assert!(
        human.contains("reproduce:") && human.contains("curl "),
        "{what}: no reproduction\n{human}"
    );
    assert!(
        !human.contains("admin-token"),
        "{what}: the credential leaked into the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_record_field_fails_create_read_back() {
    assert_caught("drops UniqueId", "create.read-back", |app, req| {
        let resp = api::handle(app, req);
        if req.method == Method::Get
            && req.path.starts_with(&format!("{BASE_PATH}/"))
            && resp.status == 200
        {
            let mut v = json_of(&resp);
            if let Some(o) = v.as_object_mut() {
                o.remove("UniqueId");
            }
            return with_json(resp, &v);
        }
        resp
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_unicode_fails_create_read_back() {
    assert_caught("replaces non-ASCII", "create.read-back", |app, req| {
        let mut req = req.clone();
        if req.method == Method::Post {
            let text: String = String::from_utf8_lossy(&req.body)
                .chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect();
            req.body = Bytes::from(text);
        }
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_id_fails_create_fresh_id() {
    assert_caught(
        "answers every create with the same Id",
        "create.fresh-id",
        |app, req| {
            let resp = api::handle(app, req);
            if req.method == Method::Post && resp.status == 200 {
                let mut v = json_of(&resp);
                v["Value"]["Id"] = json!(87654303);
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_missing_a_record_fails_create_in_list() {
    assert_caught(
        "hides records named *-echo",
        "create.in-list",
        |app, req| {
            let resp = api::handle(app, req);
            if is_list(req) && resp.status == 200 {
                let mut v = json_of(&resp);
                if let Some(records) = v["Records"].as_array_mut() {
                    records.retain(|r| !r["Name"].as_str().unwrap_or_default().ends_with("-echo"));
                }
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_validation_message_fails_validation() {
    assert_caught(
        "Message not made of parts",
        "validation.missing-name",
        |app, req| {
            let resp = api::handle(app, req);
            if resp.status == 400 {
                let mut v = json_of(&resp);
                v["Message"] = json!("Validation failed.");
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_duplicate_fails_uniqueness() {
    assert_caught(
        "accepts duplicates",
        "uniqueness.duplicate-rejected",
        |app, req| {
            let resp = api::handle(app, req);
            let is_dup = resp.status == 400
                && json_of(&resp)["Errors"][0]["Message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("already exists");
            if req.method == Method::Post && is_dup {
                let mut body: Value = serde_json::from_slice(&req.body).unwrap();
                body["Name"] = json!(format!("{} (2)", body["Name"].as_str().unwrap()));
                let mut req = req.clone();
                req.body = Bytes::from(body.to_string());
                return api::handle(app, &req);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_auth_fails_the_auth_checks() {
    assert_caught("lets anyone in", "auth.no-credentials", |app, req| {
        let mut req = req.clone();
        if req.authorization.is_none() {
            req.authorization = Some(b"Bearer admin-token".to_vec());
        }
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letting_a_read_only_user_write_fails_auth_read_only_user() {
    assert_caught("reader may write", "auth.read-only-user", |app, req| {
        let mut req = req.clone();
        if req.authorization.as_deref() == Some(b"Bearer reader-token") {
            req.authorization = Some(b"Bearer admin-token".to_vec());
        }
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_answered_200_fails_get_unknown_id() {
    assert_caught("200 for unknown ids", "get.unknown-id", |app, req| {
        let resp = api::handle(app, req);
        if req.method == Method::Get && resp.status == 404 {
            return ApiResponse::raw_json(200, Bytes::from_static(b"{}"));
        }
        resp
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miscounted_total_fails_paging_arithmetic() {
    assert_caught("TotalItems + 1", "list.paging.arithmetic", |app, req| {
        let resp = api::handle(app, req);
        if is_list(req) && resp.status == 200 {
            let mut v = json_of(&resp);
            v["TotalItems"] = json!(v["TotalItems"].as_u64().unwrap() + 1);
            return with_json(resp, &v);
        }
        resp
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_off_by_one_first_item_fails_paging_arithmetic() {
    assert_caught(
        "FirstItem off by one",
        "list.paging.arithmetic",
        |app, req| {
            let resp = api::handle(app, req);
            if is_list(req) && resp.status == 200 {
                let mut v = json_of(&resp);
                if v["FirstItem"].as_u64().unwrap_or(0) > 0 {
                    v["FirstItem"] = json!(v["FirstItem"].as_u64().unwrap() - 1);
                }
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_overlap_fail_the_walk() {
    assert_caught("page 2 repeats page 1", "list.paging.walk", |app, req| {
        let mut req = req.clone();
        if is_list(&req) {
            req.query = map_query(&req.query, |k, v| {
                if k == "page" && v == "2" {
                    "1".into()
                } else {
                    v.to_string()
                }
            });
        }
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_past_the_end_with_records_fails_past_the_end() {
    assert_caught(
        "past the end repeats page 1",
        "list.paging.past-the-end",
        |app, req| {
            let resp = api::handle(app, req);
            if is_list(req)
                && resp.status == 200
                && json_of(&resp)["Records"]
                    .as_array()
                    .is_some_and(|r| r.is_empty())
            {
                let mut first = req.clone();
                first.query = map_query(&req.query, |k, v| {
                    if k == "page" {
                        "1".into()
                    } else {
                        v.to_string()
                    }
                });
                return api::handle(app, &first);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversed_sort_fails_list_order() {
    assert_caught("dir inverted", "list.order.Name", |app, req| {
        let mut req = req.clone();
        if is_list(&req) {
            req.query = map_query(&req.query, |k, v| match (k, v) {
                ("dir", "1") => "-1".into(),
                ("dir", "-1") => "1".into(),
                _ => v.to_string(),
            });
        }
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_name_filter_fails_its_soundness() {
    assert_caught(
        "ignores CoworkerSetting_Name",
        "list.filter.name",
        |app, req| {
            let mut req = req.clone();
            req.query = query_without(&req.query, "CoworkerSetting_Name");
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_customer_filter_fails_its_soundness() {
    assert_caught(
        "ignores CoworkerSetting_Coworker",
        "list.filter.coworker",
        |app, req| {
            let mut req = req.clone();
            req.query = query_without(&req.query, "CoworkerSetting_Coworker");
            req.query.push_str("&size=1000");
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_value_filter_that_misses_fails_completeness() {
    assert_caught(
        "Value filter matches nothing with a space",
        "list.filter.value",
        |app, req| {
            let mut req = req.clone();
            req.query = map_query(&req.query, |k, v| {
                if k == "CoworkerSetting_Value" {
                    v.replace(' ', "_")
                } else {
                    v.to_string()
                }
            });
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_value_filter_matching_null_fails_its_soundness() {
    assert_caught(
        "EncryptedValue filter ignored",
        "list.filter.encrypted-value",
        |app, req| {
            let mut req = req.clone();
            req.query = query_without(&req.query, "CoworkerSetting_EncryptedValue");
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_filters_that_union_fail_combined() {
    assert_caught(
        "second filter dropped when both given",
        "list.filter.combined",
        |app, req| {
            let mut req = req.clone();
            if req.query.contains("CoworkerSetting_Value")
                && req.query.contains("CoworkerSetting_EncryptedValue")
            {
                req.query = query_without(&req.query, "CoworkerSetting_EncryptedValue");
            }
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_to_bound_that_stops_at_the_start_of_its_minute_fails_range() {
    assert_caught(
        "to_ excludes its own minute",
        "list.filter.range.CreatedOn",
        |app, req| {
            let mut req = req.clone();
            req.query = map_query(&req.query, |k, v| {
                if k.starts_with("to_") && v.len() == 16 {
                    let t = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").unwrap()
                        - chrono::Duration::minutes(1);
                    t.format("%Y-%m-%dT%H:%M").to_string()
                } else {
                    v.to_string()
                }
            });
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_returns_nothing_fails_batch() {
    assert_caught("batch returns []", "batch.records", |app, req| {
        let resp = api::handle(app, req);
        if req.query.contains("id=") && resp.status == 200 {
            return with_json(resp, &json!([]));
        }
        resp
    })
    .await;
}

/// A success envelope for `id`, as if a write had been applied.
fn acknowledged(message: &'static str, id: i64) -> ApiResponse {
    ApiResponse::json(
        200,
        &nexudus_mock::resource::action_envelope(
            message,
            id,
            nexudus_mock::resource::Timestamp::now(),
            "admin@example.com",
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_changes_nothing_fails_update_read_back() {
    assert_caught(
        "PUT acknowledged but not applied",
        "update.read-back",
        |app, req| {
            let id = (req.method == Method::Put)
                .then(|| body_json(req)["Id"].as_i64())
                .flatten();
            match id.filter(|id| app.store.get(*id).is_some()) {
                Some(id) => acknowledged(nexudus_mock::resource::MSG_UPDATED, id),
                None => api::handle(app, req),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_does_not_delete_fails_delete_gone() {
    assert_caught(
        "DELETE acknowledged but not applied",
        "delete.gone",
        |app, req| {
            let id = (req.method == Method::Delete)
                .then(|| req.path.rsplit('/').next()?.parse::<i64>().ok())
                .flatten();
            match id.filter(|id| app.store.get(*id).is_some()) {
                Some(id) => acknowledged(nexudus_mock::resource::MSG_DELETED, id),
                None => api::handle(app, req),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_quoted_names_fails_robustness() {
    assert_caught(
        "500 when a Name holds a quote",
        "robustness.no-5xx",
        |app, req| {
            if req.method == Method::Post && String::from_utf8_lossy(&req.body).contains(r#"\"q\""#)
            {
                return ApiResponse::json(500, &nexudus_mock::resource::error_body(500, "boom"));
            }
            api::handle(app, req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_json_content_type_fails_shape() {
    assert_caught(
        "text/plain on get one",
        "shape.content-type-json",
        |app, req| {
            let mut resp = api::handle(app, req);
            if req.method == Method::Get && req.path.starts_with(&format!("{BASE_PATH}/")) {
                resp.headers.retain(|(k, _)| *k != "content-type");
                resp.headers.push(("content-type", "text/plain".into()));
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_order_echo_fails_list_order() {
    assert_caught(
        "CurrentOrderField always Id",
        "list.order.Name",
        |app, req| {
            let resp = api::handle(app, req);
            if is_list(req) && resp.status == 200 {
                let mut v = json_of(&resp);
                v["CurrentOrderField"] = json!("Id");
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

fn body_json(req: &ApiRequest) -> Value {
    serde_json::from_slice(&req.body).unwrap_or_default()
}

fn reworded(resp: ApiResponse) -> ApiResponse {
    let mut v = json_of(&resp);
    v["Message"] = json!("Done.");
    with_json(resp, &v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_success_messages_fail_each_envelope_check() {
    for (method, check) in [
        (Method::Post, "create.envelope"),
        (Method::Put, "update.envelope"),
        (Method::Delete, "delete.envelope"),
    ] {
        assert_caught("reworded success message", check, move |app, req| {
            let resp = api::handle(app, req);
            if req.method == method && resp.status == 200 {
                reworded(resp)
            } else {
                resp
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_unique_across_customers_fails_other_customer_accepted() {
    assert_caught(
        "Name unique globally",
        "uniqueness.other-customer-accepted",
        |app, req| {
            if req.method == Method::Post {
                let name = body_json(req)["Name"].clone();
                if app.store.snapshot().iter().any(|r| json!(r.name) == name) {
                    return api::validation_failed(&[
                        nexudus_mock::resource::duplicate_name_error(
                            name.as_str().unwrap_or_default(),
                        ),
                    ]);
                }
            }
            api::handle(app, req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_onto_a_taken_name_accepted_fails_update_duplicate() {
    assert_caught(
        "rename clash accepted",
        "update.duplicate-rejected",
        |app, req| {
            let resp = api::handle(app, req);
            if req.method == Method::Put && resp.status == 400 {
                let mut body = body_json(req);
                body["Name"] = json!(format!(
                    "{} (renamed)",
                    body["Name"].as_str().unwrap_or_default()
                ));
                let mut req = req.clone();
                req.body = Bytes::from(body.to_string());
                return api::handle(app, &req);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_an_unknown_id_acknowledged_fails_update_unknown_id() {
    assert_caught("unknown Id updated", "update.unknown-id", |app, req| {
        let resp = api::handle(app, req);
        if req.method == Method::Put && resp.status == 404 {
            return acknowledged(nexudus_mock::resource::MSG_UPDATED, 1);
        }
        resp
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_filter_blind_to_updates_fails_update_in_filtered_list() {
    assert_caught(
        "updated records drop out of Value filters",
        "update.in-filtered-list",
        |app, req| {
            let resp = api::handle(app, req);
            if is_list(req) && req.query.contains("CoworkerSetting_Value") && resp.status == 200 {
                let mut v = json_of(&resp);
                if let Some(records) = v["Records"].as_array_mut() {
                    records.retain(|r| {
                        !r["Value"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with("updated")
                    });
                }
                return with_json(resp, &v);
            }
            resp
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamping_bad_list_parameters_fails_invalid_parameters_under_strict() {
    assert_caught(
        "size=0 quietly becomes 25",
        "list.invalid-parameters",
        |app, req| {
            let mut req = req.clone();
            req.query = map_query(&req.query, |k, v| {
                if k == "size" && v == "0" {
                    "25".into()
                } else {
                    v.to_string()
                }
            });
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_another_order_fails_batch_order_under_strict() {
    assert_caught("batch reversed", "batch.order-asked", |app, req| {
        let resp = api::handle(app, req);
        if req.query.contains("id=") && resp.status == 200 {
            let mut v = json_of(&resp);
            if let Some(a) = v.as_array_mut() {
                a.reverse();
            }
            return with_json(resp, &v);
        }
        resp
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_for_a_non_integer_id_fails_get_non_integer_id() {
    assert_caught("200 for /not-a-number", "get.non-integer-id", |app, req| {
        if req.path.ends_with("/not-a-number") {
            return ApiResponse::raw_json(200, Bytes::from_static(b"{}"));
        }
        api::handle(app, req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_to_bound_fails_excludes_later() {
    assert_caught("to_ ignored", "list.filter.range.CreatedOn", |app, req| {
        let mut req = req.clone();
        req.query = query_without(
            &query_without(&req.query, "to_CoworkerSetting_CreatedOn"),
            "to_CoworkerSetting_UpdatedOn",
        );
        api::handle(app, &req)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_sensitive_name_filter_fails_substring_any_case_under_strict() {
    assert_caught(
        "Name filter case-sensitive",
        "list.filter.name.settled",
        |app, req| {
            let mut req = req.clone();
            req.query = map_query(&req.query, |k, v| {
                if k == "CoworkerSetting_Name" && v.chars().any(|c| c.is_ascii_uppercase()) {
                    "\u{1}".into()
                } else {
                    v.to_string()
                }
            });
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_customer_alias_fails_coworker_alias() {
    assert_caught(
        "CoworkerSetting_CoworkerId ignored",
        "list.filter.coworker-alias",
        |app, req| {
            let mut req = req.clone();
            req.query = query_without(&req.query, "CoworkerSetting_CoworkerId");
            req.query.push_str("&size=1000");
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_body_accepted_fails_validation_array_body() {
    assert_caught(
        "array bodies unwrapped",
        "validation.array-body",
        |app, req| {
            let mut req = req.clone();
            if req.method == Method::Post {
                if let Value::Array(items) = body_json(&req) {
                    if let Some(first) = items.first() {
                        req.body = Bytes::from(first.to_string());
                    }
                }
            }
            api::handle(app, &req)
        },
    )
    .await;
}

#[tokio::test]
async fn settled_rules_only_warn_without_strict() {
    let server = start(Some(Arc::new(|app: &App, req: &ApiRequest| {
        let resp = api::handle(app, req);
        if req.query.contains("id=") && resp.status == 200 {
            let mut v = json_of(&resp);
            if let Some(a) = v.as_array_mut() {
                a.reverse();
            }
            return with_json(resp, &v);
        }
        resp
    })))
    .await;
    let mut cfg = config(server.base_url());
    cfg.strict = false;
    let report = contract::run(cfg).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert!(
        report
            .results
            .iter()
            .any(|r| r.name == "batch.order-asked" && r.outcome == Outcome::Warn)
    );
}
