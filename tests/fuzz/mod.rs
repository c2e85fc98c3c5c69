//! `fuzz`: no failure against the mock with a fixed seed; and against broken
//! implementations whose fault only particular inputs reach, it finds the fault,
//! shrinks it to at most 3 requests, and `--replay` of the written file fails the
//! same way (and reports fixed against the healthy mock).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nexudus_mock::client::ClientConfig;
use nexudus_mock::contract::Credential;
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::fuzz::{self, FuzzConfig};
use nexudus_mock::report::{Report, Verdict};
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::server::types::{ApiRequest, ApiResponse, Method};
use nexudus_mock::server::{App, Layer, RunningServer, ServerConfig, api};
use serde_json::Value;

async fn start(layer: Option<Layer>) -> RunningServer {
    let mut app = App::new(Fixtures::builtin(), ServerConfig::default()).unwrap();
    app.layer = layer;
    RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

fn config(base_url: String, seed: u64, cases: u32, replay_out: std::path::PathBuf) -> FuzzConfig {
    FuzzConfig {
        client: ClientConfig::new(&base_url)
            .unwrap()
            .with_timeout(Duration::from_secs(5)),
        credential: Credential::Bearer("admin-token".into()),
        cases,
        max_time: Duration::from_secs(60),
        seed,
        coworker_id: None,
        rate: None,
        max_steps: 12,
        replay_out,
        show_secrets: false,
        strict: false,
        require: vec![],
    }
}

fn fact<'a>(r: &'a Report, key: &str) -> Option<&'a str> {
    r.facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_mock_with_a_fixed_seed_finds_nothing() {
    let server = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let before = server.app.store.len();
    let report = fuzz::run(config(
        server.base_url(),
        20251115,
        150,
        dir.path().join("r.json"),
    ))
    .await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert_eq!(fact(&report, "cases"), Some("150"));
    assert!(fact(&report, "requests").unwrap().parse::<u64>().unwrap() > 500);
    assert_eq!(
        server.app.store.len(),
        before,
        "every case cleans up after itself"
    );
}

/// Fuzzes the broken target, then checks the shrunk failure and its replay file.
async fn assert_found(
    what: &str,
    layer: impl Fn(&App, &ApiRequest) -> ApiResponse + Send + Sync + 'static,
    expect_in_failure: &str,
) {
    let server = start(Some(Arc::new(layer))).await;
    let dir = tempfile::tempdir().unwrap();
    let replay_file = dir.path().join("replay.json");
    let report = fuzz::run(config(server.base_url(), 42, 300, replay_file.clone())).await;
    let human = report.to_human();
    assert_eq!(
        report.verdict(),
        Verdict::Failed,
        "{what}: the fault was not found\n{human}"
    );
    assert!(
        human.contains(expect_in_failure),
        "{what}: unexpected failure\n{human}"
    );
    let shrunk: usize = fact(&report, "shrunk_requests").unwrap().parse().unwrap();
    assert!(
        shrunk <= 3,
        "{what}: shrunk only to {shrunk} requests\n{human}"
    );
    assert!(
        human.contains("1. curl "),
        "{what}: no numbered curl list\n{human}"
    );
    assert!(!human.contains("admin-token"), "{what}: the token leaked");
    let saved: Value = serde_json::from_slice(&std::fs::read(&replay_file).unwrap()).unwrap();
    assert_eq!(saved["seed"], 42);

    // The replay fails the same way against the broken target, through the binary...
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args([
            "fuzz",
            &server.base_url(),
            "--token",
            "admin-token",
            "--replay",
        ])
        .arg(&replay_file)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: replay should still fail\n{stdout}"
    );
    assert!(
        stdout.contains("still failing") && stdout.contains(expect_in_failure),
        "{what}\n{stdout}"
    );

    // ...and reports fixed against the healthy mock.
    let healthy = start(None).await;
    let report = fuzz::replay(
        config(healthy.base_url(), 42, 1, dir.path().join("x.json")),
        &replay_file,
    )
    .await;
    assert_eq!(
        report.verdict(),
        Verdict::Passed,
        "{what}: replay on the healthy mock\n{}",
        report.to_human()
    );
    assert!(report.to_human().contains("fixed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_percent_in_name_is_found_and_shrunk() {
    assert_found(
        "500 when Name contains %",
        |app, req| {
            if matches!(req.method, Method::Post | Method::Put)
                && String::from_utf8_lossy(&req.body).contains('%')
            {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                if body["Name"].as_str().is_some_and(|n| n.contains('%')) {
                    return ApiResponse::json(
                        500,
                        &nexudus_mock::resource::error_body(500, "percent"),
                    );
                }
            }
            api::handle(app, req)
        },
        "answered 500",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_cut_at_1000_characters_is_found_and_shrunk() {
    assert_found(
        "Value truncated to 1,000 characters",
        |app, req| {
            let mut req = req.clone();
            if matches!(req.method, Method::Post | Method::Put) {
                if let Ok(mut body) = serde_json::from_slice::<Value>(&req.body) {
                    if let Some(v) = body.get("Value").and_then(Value::as_str) {
                        if v.chars().count() > 1000 {
                            body["Value"] = Value::String(v.chars().take(1000).collect());
                            req.body = Bytes::from(body.to_string());
                        }
                    }
                }
            }
            api::handle(app, &req)
        },
        "Value reads",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_filter_that_loses_updated_records_is_found_and_shrunk() {
    let updated = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<i64>::new(),
    ));
    assert_found(
        "customer filter misses records after an update",
        move |app, req| {
            let resp = api::handle(app, req);
            if req.method == Method::Put && resp.status == 200 {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                updated
                    .lock()
                    .unwrap()
                    .insert(body["Id"].as_i64().unwrap_or(0));
            }
            if req.method == Method::Get
                && req.path == BASE_PATH
                && req.query.contains("CoworkerSetting_Coworker")
                && resp.status == 200
            {
                let gone = updated.lock().unwrap().clone();
                let mut v: Value = serde_json::from_slice(&resp.body).unwrap();
                if let Some(records) = v["Records"].as_array_mut() {
                    records.retain(|r| !gone.contains(&r["Id"].as_i64().unwrap_or(0)));
                }
                let mut resp = resp;
                resp.body = Bytes::from(v.to_string());
                return resp;
            }
            resp
        },
        "the list returned Ids",
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_target_is_not_tested() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let report = fuzz::run(config(
        format!("http://{addr}"),
        1,
        5,
        dir.path().join("r.json"),
    ))
    .await;
    assert_eq!(report.verdict(), Verdict::Untested);
}
