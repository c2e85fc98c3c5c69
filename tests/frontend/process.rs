//! The built binary and the state file: kill -9 with writes in flight, a corrupt
//! state file, a save that fails, the admin-token start-up rule, `openapi`, and the
//! request log in text and JSON.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexudus_mock::client::{HttpClient, HttpRequest};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::persist;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::{App, ServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::admin::validate_openapi;
use super::start_app;
use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_nexudus-mock");

/// Starts the binary on a free port; returns it and its base URL. stderr is piped
/// when `capture_stderr` (read it only after the child exits), else discarded.
pub async fn spawn_mock(args: &[&str], capture_stderr: bool) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(if capture_stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the mock says where it listens within 20s")
        .unwrap()
        .expect("a first line on stdout");
    let base = line
        .strip_prefix("nexudus-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// Kills with SIGKILL (std and tokio both send SIGKILL on Unix) and reaps.
pub async fn kill_9(child: &mut Child) {
    child.start_kill().unwrap();
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
}

async fn all_records(client: &HttpClient) -> Vec<Value> {
    let r = client
        .send(
            &HttpRequest::new("GET", format!("{BASE_PATH}?size=1000"))
                .header("Authorization", ADMIN),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    r.json().unwrap()["Records"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_under_32_writers_loses_no_acknowledged_write_and_never_leaves_the_state_unreadable()
 {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let (mut child, base) = spawn_mock(&["--state-file", &state_arg], false).await;

    let created = Arc::new(Mutex::new(Vec::<(i64, String)>::new()));
    let deleted = Arc::new(Mutex::new(HashSet::<i64>::new()));
    let delete_tried = Arc::new(Mutex::new(HashSet::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    // Every version of the file a reader can see must load.
    let reader = {
        let (stop, reads, state) = (stop.clone(), reads.clone(), state.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A segment deleted by a compaction mid-read is a read error, not
                // a bad state; anything that reads must load.
                match persist::load(&state) {
                    Ok(_) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(persist::PersistError::Read { .. }) => {}
                    Err(e) => panic!("the state file was unreadable mid-run: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut writers = vec![];
    for w in 0..32 {
        let client = HttpClient::new(&base, Duration::from_secs(5));
        let (created, deleted, delete_tried, stop) = (
            created.clone(),
            deleted.clone(),
            delete_tried.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("kill9.w{w}.n{i}");
                let req = HttpRequest::new("POST", BASE_PATH)
                    .header("Authorization", ADMIN)
                    .json(&json!({"CoworkerId": 5000 + w, "Name": name, "Value": "acknowledged"}));
                let Ok(r) = client.send(&req).await else {
                    break;
                };
                if r.status != 200 {
                    break;
                }
                let id = r.json().unwrap()["Value"]["Id"].as_i64().unwrap();
                created.lock().unwrap().push((id, name));
                if i % 5 == 4 {
                    delete_tried.lock().unwrap().insert(id);
                    let del = HttpRequest::new("DELETE", format!("{BASE_PATH}/{id}"))
                        .header("Authorization", ADMIN);
                    match client.send(&del).await {
                        Ok(r) if r.status == 200 => {
                            deleted.lock().unwrap().insert(id);
                        }
                        _ => break,
                    }
                }
            }
        }));
    }
    // A random moment: after a random number of acknowledged creates, plus a random
    // few milliseconds (so the kill can land mid-write, mid-fsync or mid-compaction).
    let threshold = 150 + rand::random::<u64>() as usize % 600;
    let extra = Duration::from_micros(rand::random::<u64>() % 20_000);
    eprintln!("killing after {threshold} acknowledged creates and {extra:?}");
    let started = Instant::now();
    while created.lock().unwrap().len() < threshold && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(extra).await;
    // Killed while the writers are still sending.
    kill_9(&mut child).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    reader.await.unwrap();
    let created = created.lock().unwrap().clone();
    let deleted = deleted.lock().unwrap().clone();
    let delete_tried = delete_tried.lock().unwrap().clone();
    eprintln!(
        "kill -9 after {} acknowledged creates and {} deletes in {:?}; the file was read and loaded {} times meanwhile",
        created.len(),
        deleted.len(),
        started.elapsed(),
        reads.load(Ordering::Relaxed)
    );
    assert!(
        created.len() >= 100,
        "only {} creates were acknowledged",
        created.len()
    );
    assert!(reads.load(Ordering::Relaxed) > 0);

    persist::load(&state)
        .expect("the state file loads after kill -9")
        .expect("the state file exists after kill -9");

    let (mut child, base) = spawn_mock(&["--state-file", &state_arg], false).await;
    let client = HttpClient::new(&base, Duration::from_secs(5));
    let records = all_records(&client).await;
    let present: std::collections::HashMap<i64, String> = records
        .iter()
        .map(|r| {
            (
                r["Id"].as_i64().unwrap(),
                r["Name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut checked = 0;
    for (id, name) in &created {
        if deleted.contains(id) {
            assert!(
                !present.contains_key(id),
                "acknowledged delete of {id} was lost"
            );
        } else if !delete_tried.contains(id) {
            assert_eq!(
                present.get(id),
                Some(name),
                "acknowledged create {id} was lost"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 80 && !deleted.is_empty(),
        "{checked} creates, {} deletes checked",
        deleted.len()
    );
    let max_acked = created.iter().map(|(id, _)| *id).max().unwrap();
    let r = client
        .send(
            &HttpRequest::new("POST", BASE_PATH)
                .header("Authorization", ADMIN)
                .json(&json!({"CoworkerId": 1, "Name": "after.restart"})),
        )
        .await
        .unwrap();
    let new_id = r.json().unwrap()["Value"]["Id"].as_i64().unwrap();
    assert!(
        new_id > max_acked,
        "Ids are not reused after a restart ({new_id} <= {max_acked})"
    );
    kill_9(&mut child).await;
}

#[tokio::test]
async fn a_corrupt_state_file_stops_start_up_with_a_clear_message_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    for (bad, says) in [
        ("{\"Records\": [", "not valid JSON"),
        ("{\"Records\": [{\"Id\": 1}]}", "record 0"),
        ("{\"Records\": [], \"NextId\": \"x\"}", "NextId"),
    ] {
        std::fs::write(&state, bad).unwrap();
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            Command::new(BIN)
                .args(["serve", "--port", "0", "--state-file"])
                .arg(&state)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the mock exits instead of serving")
        .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("state.json") && err.contains(says),
            "{bad}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            bad,
            "the file was not overwritten"
        );
    }
}

#[tokio::test]
async fn a_bad_fixtures_file_stops_start_up_naming_the_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coworkersettings.json");
    let records: Vec<serde_json::Value> =
        serde_json::to_value(nexudus_mock::fixtures::builtin_records())
            .unwrap()
            .as_array()
            .unwrap()[..3]
            .to_vec();
    let with = |i: usize, key: &str, value: serde_json::Value| {
        let mut r = records.clone();
        r[i][key] = value;
        serde_json::to_vec(&r).unwrap()
    };
    let same_name = {
        let mut r = records.clone();
        r[2]["CoworkerId"] = r[0]["CoworkerId"].clone();
        r[2]["Name"] = r[0]["Name"].clone();
        serde_json::to_vec(&r).unwrap()
    };
    for (bad, says) in [
        // Uniqueness is checked by the store, after the file was read: still named.
        (with(2, "Id", records[0]["Id"].clone()), "record 2: Id"),
        (same_name, "record 2: CoworkerId"),
        (with(1, "UniqueId", json!("not-a-uuid")), "record 1"),
        (b"[{\"Name\":\"\xff\"}]".to_vec(), "cannot read"),
        (Vec::new(), "not valid JSON"),
    ] {
        std::fs::write(&file, &bad).unwrap();
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            Command::new(BIN)
                .args(["serve", "--port", "0", "--fixtures"])
                .arg(dir.path())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the mock exits instead of serving")
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{says}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("coworkersettings.json") && err.contains(says),
            "{says}: {err}"
        );
    }
}

#[tokio::test]
async fn every_acknowledged_write_is_in_the_state_file_before_its_response() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let saved = || persist::load(&path).unwrap().unwrap();
    let app = App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_state_file(&path)
        .unwrap();
    assert_eq!(saved().records.len(), 72, "the file is written at start");
    let s = start_app(app).await;
    let id = s.create(1001, "persisted", Some("one")).await;
    assert!(
        saved()
            .records
            .iter()
            .any(|r| r.id == id && r.value.as_deref() == Some("one"))
    );
    let r = s
        .call(
            "PUT",
            BASE_PATH,
            ADMIN,
            Some(&json!({"Id": id, "CoworkerId": 1001, "Name": "persisted", "Value": "two"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        saved()
            .records
            .iter()
            .any(|r| r.id == id && r.value.as_deref() == Some("two"))
    );
    assert_eq!(
        s.call("DELETE", &format!("{BASE_PATH}/87654303"), ADMIN, None)
            .await
            .status,
        200
    );
    assert!(!saved().records.iter().any(|r| r.id == 87654303));
    let before_restart = s.server.app.store.snapshot();
    assert_eq!(saved().records, before_restart);
    // A second mock cannot share the file while the first runs: their journals
    // would interleave.
    let e = App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_state_file(&path)
        .err()
        .expect("a second mock on the same state file is refused");
    assert!(e.to_string().contains("in use"), "{e}");
    // Admin changes are writes too.
    let r = s
        .send(HttpRequest::new("PUT", "/__admin/fixtures").json(&json!([])))
        .await;
    assert_eq!(r.status, 200);
    assert!(saved().records.is_empty());
    assert_eq!(
        s.send(HttpRequest::new("POST", "/__admin/reset"))
            .await
            .status,
        200
    );
    assert!(
        saved().records.is_empty(),
        "reset returns to the uploaded records"
    );
    let last = s.create(1001, "last", Some("before restart")).await;
    let before_restart = s.server.app.store.snapshot();
    let TestServer { server, client } = s;
    drop(client);
    server.stop().await.unwrap();
    // A second mock on the same file starts where the first left off.
    let again = App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_state_file(&path)
        .unwrap();
    assert_eq!(again.store.snapshot(), before_restart);
    assert_eq!(before_restart.len(), 1);
    assert_eq!(before_restart[0].id, last);
}

#[tokio::test]
async fn a_write_that_cannot_be_saved_is_answered_500_not_200() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let app = App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_state_file(&path)
        .unwrap();
    let s = start_app(app).await;
    // The journal segment the first write opens, pointed at /dev/full: every write to
    // it fails with "no space left on device".
    let segment = dir.path().join("state.json.journal.1");
    std::os::unix::fs::symlink("/dev/full", &segment).unwrap();
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 1001, "Name": "unsaved"})),
        )
        .await;
    assert_eq!(r.status, 500);
    let e = body_matching(&r, Schema::Error);
    assert!(
        e["Message"]
            .as_str()
            .unwrap()
            .contains("could not be saved"),
        "{e}"
    );
    std::fs::remove_file(&segment).unwrap();
    let saved = || persist::load(&path).unwrap().unwrap().records;
    assert_eq!(saved().len(), 72, "the saved state is intact");
    // The next write does not trust the broken journal: it saves everything afresh.
    s.create(1001, "saved", None).await;
    let names: Vec<String> = saved().into_iter().map(|r| r.name).collect();
    assert!(names.contains(&"saved".to_string()) && names.contains(&"unsaved".to_string()));
}

#[tokio::test]
async fn the_mock_refuses_a_non_loopback_address_without_an_admin_token() {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(BIN)
            .args(["serve", "--addr", "0.0.0.0", "--port", "0"])
            .env_remove("NEXUDUS_MOCK_ADMIN_TOKEN")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the mock exits instead of serving")
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0") && err.contains("--admin-token"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "it never listened");
    let cfg = |token: Option<&str>| nexudus_mock::server::frontend::FrontendConfig {
        admin_token: token.map(String::from),
        ..Default::default()
    };
    use nexudus_mock::server::frontend::check_admin_exposure;
    assert!(check_admin_exposure("10.1.2.3".parse().unwrap(), &cfg(None)).is_err());
    assert!(check_admin_exposure("::".parse().unwrap(), &cfg(None)).is_err());
    assert!(check_admin_exposure("10.1.2.3".parse().unwrap(), &cfg(Some("t"))).is_ok());
    assert!(check_admin_exposure("127.0.0.1".parse().unwrap(), &cfg(None)).is_ok());
    assert!(check_admin_exposure("::1".parse().unwrap(), &cfg(None)).is_ok());
}

#[tokio::test]
async fn the_openapi_subcommand_prints_the_document_a_real_validator_accepts() {
    let out = Command::new(BIN).arg("openapi").output().await.unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON document");
    assert_eq!(doc, nexudus_mock::openapi::document());
    tokio::task::spawn_blocking(move || validate_openapi(&doc))
        .await
        .unwrap();
}

/// Runs the binary with `args`, sends two requests, kills it and returns stderr.
async fn log_of(args: &[&str]) -> String {
    let (mut child, base) = spawn_mock(args, true).await;
    let client = HttpClient::new(&base, Duration::from_secs(5));
    let r = client
        .send(
            &HttpRequest::new("GET", format!("{BASE_PATH}?size=1&password=hunter2"))
                .header("Authorization", ADMIN)
                .header("X-Request-Id", "log-test-1"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client
        .send(&HttpRequest::new("GET", "/missing").header("X-Request-Id", "log-test-2"))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    tokio::time::sleep(Duration::from_millis(100)).await;
    kill_9(&mut child).await;
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert!(
        !err.contains("hunter2") && !err.contains("admin-token"),
        "the log leaks a secret: {err}"
    );
    err
}

#[tokio::test]
async fn the_log_is_one_readable_line_per_request_coloured_on_request_and_json_for_machines() {
    let plain = log_of(&["--color", "never"]).await;
    let line = plain
        .lines()
        .find(|l| l.contains("log-test-1"))
        .unwrap_or_else(|| panic!("{plain}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1..4],
        [
            "GET",
            "/api/spaces/coworkersettings?size=1&password=***",
            "200"
        ],
        "{line}"
    );
    assert!(
        fields[4].ends_with("ms") && fields[5] == "log-test-1",
        "{line}"
    );
    assert!(
        chrono::NaiveTime::parse_from_str(fields[0], "%H:%M:%S%.3f").is_ok(),
        "{line}"
    );
    assert!(!plain.contains('\x1b'), "no colour when asked for none");
    assert!(
        plain
            .lines()
            .any(|l| l.contains(" /missing 404 ") && l.contains("log-test-2")),
        "{plain}"
    );

    let coloured = log_of(&["--color", "always"]).await;
    let line = coloured.lines().find(|l| l.contains("log-test-1")).unwrap();
    assert!(line.contains("\x1b[32m200"), "a 200 is green: {line:?}");
    let line = coloured.lines().find(|l| l.contains("log-test-2")).unwrap();
    assert!(line.contains("\x1b[33m404"), "a 404 is yellow: {line:?}");

    let json_log = log_of(&["--log-format", "json"]).await;
    let mut seen = 0;
    for line in json_log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        if v["target"] == "nexudus_mock::request" && v["fields"]["request_id"] == "log-test-1" {
            assert_eq!(v["fields"]["status"], 200);
            assert_eq!(v["fields"]["method"], "GET");
            assert_eq!(v["fields"]["path"], BASE_PATH);
            assert!(v["fields"]["micros"].is_u64());
            seen += 1;
        }
    }
    assert_eq!(seen, 1, "{json_log}");

    let quiet = log_of(&["--quiet", "--color", "never"]).await;
    assert!(
        !quiet.contains("log-test-1") && !quiet.contains("log-test-2"),
        "--quiet writes no request line: {quiet}"
    );
    assert!(
        quiet.contains("fixtures loaded"),
        "other events still appear: {quiet}"
    );
}
