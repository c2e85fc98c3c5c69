//! Hot reload of `--fixtures DIR --watch`, in process and through the binary.

use std::path::Path;
use std::time::{Duration, Instant};

use nexudus_mock::client::HttpRequest;
use nexudus_mock::fixtures::{Fixtures, RECORDS_FILE};
use nexudus_mock::server::{App, ServerConfig};
use serde_json::{Value, json};

use super::process::{kill_9, spawn_mock};
use super::start_app;
use nexudus_mock::client::HttpClient;

/// Polls `check` every 20ms for up to 10s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within 10s");
}

fn write_records(dir: &Path, records: &Value) {
    write_file(dir, &serde_json::to_vec_pretty(records).unwrap());
}

/// Written to a new file and renamed, as many editors do, so that each check sees
/// exactly one version (a half-written file would be a bad edit of its own).
fn write_file(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join("edit.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(RECORDS_FILE)).unwrap();
}

#[tokio::test]
async fn editing_a_watched_fixture_file_swaps_the_records_and_a_bad_edit_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let builtin: Value = serde_json::to_value(nexudus_mock::fixtures::builtin_records()).unwrap();
    let first: Vec<Value> = builtin.as_array().unwrap()[..3].to_vec();
    write_records(dir.path(), &json!(first));
    let app = App::new(
        Fixtures::load_dir(dir.path()).unwrap(),
        ServerConfig::default(),
    )
    .unwrap();
    let s = start_app(app).await;
    let watcher = nexudus_mock::watch::spawn(
        s.server.app.clone(),
        dir.path().to_path_buf(),
        Duration::from_millis(25),
    );
    assert_eq!(s.list("size=100").await["TotalItems"], 3);

    let mut second = first.clone();
    second[0]["Value"] = json!("edited on disk");
    second.truncate(2);
    write_records(dir.path(), &json!(second));
    eventually("the reload", || async {
        s.list("size=100").await["TotalItems"] == 2
    })
    .await;
    let rec = s.list("size=100").await["Records"][0].clone();
    assert_eq!(rec["Value"], "edited on disk");
    let health = s
        .send(HttpRequest::new("GET", "/__admin/health"))
        .await
        .json()
        .unwrap();
    assert_eq!(health["Watch"]["Reloads"], 1);
    assert!(health["Watch"]["LastError"].is_null());

    // A reset returns to what was reloaded, not to what the mock started with.
    s.create(1001, "after.reload", None).await;
    assert_eq!(
        s.send(HttpRequest::new("POST", "/__admin/reset"))
            .await
            .status,
        200
    );
    assert_eq!(s.list("size=100").await["TotalItems"], 2);

    for (bad, says) in [
        (b"[{\"Id\": ".to_vec(), "not valid JSON"),
        (
            serde_json::to_vec(&json!([{"Id": "one"}])).unwrap(),
            "record 0",
        ),
        (
            serde_json::to_vec(&json!([second[0], second[0]])).unwrap(),
            "appears twice",
        ),
    ] {
        write_file(dir.path(), &bad);
        eventually("the bad edit being noticed", || async {
            let h = s
                .send(HttpRequest::new("GET", "/__admin/health"))
                .await
                .json()
                .unwrap();
            h["Watch"]["LastError"].is_string()
        })
        .await;
        let h = s
            .send(HttpRequest::new("GET", "/__admin/health"))
            .await
            .json()
            .unwrap();
        let why = h["Watch"]["LastError"].as_str().unwrap().to_string();
        assert!(why.contains(RECORDS_FILE) && why.contains(says), "{why}");
        assert_eq!(
            s.list("size=100").await["TotalItems"],
            2,
            "the old records stay"
        );
        // Reset the status with a good edit before the next bad one.
        write_records(dir.path(), &json!(second));
        eventually("recovery", || async {
            let h = s
                .send(HttpRequest::new("GET", "/__admin/health"))
                .await
                .json()
                .unwrap();
            h["Watch"]["LastError"].is_null()
        })
        .await;
    }
    std::fs::remove_file(dir.path().join(RECORDS_FILE)).unwrap();
    eventually("the removal being noticed", || async {
        let h = s
            .send(HttpRequest::new("GET", "/__admin/health"))
            .await
            .json()
            .unwrap();
        h["Watch"]["LastError"]
            .as_str()
            .is_some_and(|e| e.contains("removed"))
    })
    .await;
    assert_eq!(s.list("size=100").await["TotalItems"], 2);
    watcher.abort();
}

#[tokio::test]
async fn the_binary_watches_with_the_flag_and_guards_its_admin_api_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let builtin: Value = serde_json::to_value(nexudus_mock::fixtures::builtin_records()).unwrap();
    write_records(dir.path(), &json!(builtin.as_array().unwrap()[..4]));
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let (mut child, base) = spawn_mock(
        &["--fixtures", &dir_arg, "--watch", "--admin-token", "tok"],
        false,
    )
    .await;
    let client = HttpClient::new(&base, Duration::from_secs(5));
    let health = |auth: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut req = HttpRequest::new("GET", "/__admin/health");
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            client.send(&req).await.unwrap()
        }
    };
    assert_eq!(health(None).await.status, 401);
    assert_eq!(health(Some("Bearer wrong")).await.status, 401);
    assert_eq!(
        health(Some("Bearer tok")).await.json().unwrap()["Records"],
        4
    );
    write_records(dir.path(), &json!(builtin.as_array().unwrap()[..1]));
    eventually("the reload", || async {
        health(Some("Bearer tok")).await.json().unwrap()["Records"] == 1
    })
    .await;
    kill_9(&mut child).await;
}
