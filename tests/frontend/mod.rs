//! The front-end features over real TCP: latency, faults and `Prefer`, request ids
//! and CORS (here); the admin API (`admin`); the state file, the binary's flags and
//! logs, and a kill -9 (`process`); hot reload (`reload`); and the whole thing driven
//! by headless Chromium from another origin (`browser`).

mod admin;
pub mod browser;
mod process;
mod reload;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use nexudus_mock::cli::{Cli, Command};
use nexudus_mock::client::{HttpClient, HttpRequest};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::faults::Latency;
use nexudus_mock::server::{App, RunningServer, ServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::*;

/// A mock serving `app` on a free loopback port.
pub async fn start_app(app: App) -> TestServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = RunningServer::start(addr, app)
        .await
        .expect("server starts");
    let client = HttpClient::new(&server.base_url(), Duration::from_secs(30));
    TestServer { server, client }
}

/// A mock with the built-in fixtures and `change` applied to the default config.
pub async fn start_with_config(change: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = ServerConfig::default();
    change(&mut config);
    TestServer::start_with(Fixtures::builtin(), config).await
}

/// True when running under CI, where a missing browser or validator is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips (loudly) when a tool is missing on a developer machine; fails under CI.
pub fn require_tool(available: bool, what: &str, install: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !under_ci(),
        "{what} is missing but CI is set, so this test must run: {install}"
    );
    eprintln!(
        "\n*** SKIPPED: {what} is not installed ({install}); set CI=true to make this a failure ***\n"
    );
    false
}

/// Sends raw bytes and reads until the server closes; the error if the read failed.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> (Vec<u8>, Option<std::io::Error>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!("the server neither answered nor closed within 10s"),
            Ok(Ok(0)) => return (got, None),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (got, Some(e)),
        }
    }
}

fn get_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {ADMIN}\r\n{extra}Connection: close\r\n\r\n"
    )
}

async fn record_count(s: &TestServer) -> u64 {
    s.list("size=1").await["TotalItems"].as_u64().unwrap()
}

fn with_prefer(method: &str, path: &str, prefer: &str) -> HttpRequest {
    HttpRequest::new(method, path)
        .header("Authorization", ADMIN)
        .header("Prefer", prefer)
}

#[tokio::test]
async fn a_fixed_latency_delays_every_api_response_but_not_the_admin_api() {
    let s = start_with_config(|c| c.frontend.latency = Latency::Fixed(Duration::from_millis(500)))
        .await;
    let r = s
        .send(
            HttpRequest::new("GET", format!("{BASE_PATH}/87654303")).header("Authorization", ADMIN),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.elapsed >= Duration::from_millis(500), "{:?}", r.elapsed);
    let pre = s
        .send(HttpRequest::new("OPTIONS", BASE_PATH).header("Origin", "http://app.test"))
        .await;
    assert_eq!(pre.status, 204);
    assert!(
        pre.elapsed >= Duration::from_millis(500),
        "preflights are delayed too: {:?}",
        pre.elapsed
    );
    let admin = s.send(HttpRequest::new("GET", "/__admin/health")).await;
    assert_eq!(admin.status, 200);
    assert!(
        admin.elapsed < Duration::from_millis(500),
        "admin was delayed: {:?}",
        admin.elapsed
    );
    assert_eq!(admin.json().unwrap()["Latency"], "500ms");
}

#[tokio::test]
async fn a_latency_range_draws_each_delay_from_the_range() {
    let s = start_with_config(|c| {
        c.frontend.latency = Latency::Range(Duration::from_millis(40), Duration::from_millis(160));
        c.frontend.seed = Some(3);
    })
    .await;
    let mut took = vec![];
    for _ in 0..8 {
        let r = s
            .send(
                HttpRequest::new("GET", format!("{BASE_PATH}?size=1"))
                    .header("Authorization", ADMIN),
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(r.elapsed >= Duration::from_millis(40), "{:?}", r.elapsed);
        assert!(r.elapsed < Duration::from_millis(1000), "{:?}", r.elapsed);
        took.push(r.elapsed.as_millis());
    }
    let (min, max) = (took.iter().min().unwrap(), took.iter().max().unwrap());
    assert!(
        max - min >= 10,
        "eight draws from 40..160ms should differ: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_delay_delays_one_response_without_holding_up_others() {
    let s = TestServer::start().await;
    let slow_client = HttpClient::new(&s.base_url(), Duration::from_secs(10));
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let mut handles = vec![];
        for _ in 0..4 {
            let c = slow_client.clone();
            handles.push(tokio::spawn(async move {
                c.send(&with_prefer(
                    "GET",
                    &format!("{BASE_PATH}/87654303"),
                    "delay=1500",
                ))
                .await
                .unwrap()
            }));
        }
        let mut out = vec![];
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        let quick = s
            .send(
                HttpRequest::new("GET", format!("{BASE_PATH}/87654303"))
                    .header("Authorization", ADMIN),
            )
            .await;
        assert_eq!(quick.status, 200);
        assert!(
            quick.elapsed < Duration::from_millis(500),
            "a quick request waited {:?}",
            quick.elapsed
        );
    }
    let created = s.create(1001, "written.while.others.wait", Some("v")).await;
    assert!(created > 0);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the quick requests were held up"
    );
    for r in slow.await.unwrap() {
        assert_eq!(r.status, 200);
        assert!(r.elapsed >= Duration::from_millis(1500), "{:?}", r.elapsed);
        assert_eq!(r.header("preference-applied"), Some("delay=1500"));
    }
}

#[tokio::test]
async fn prefer_delay_replaces_the_configured_latency_for_one_request() {
    let s = start_with_config(|c| c.frontend.latency = Latency::Fixed(Duration::from_millis(800)))
        .await;
    let r = s
        .send(with_prefer(
            "GET",
            &format!("{BASE_PATH}/87654303"),
            "delay=0",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.elapsed < Duration::from_millis(400), "{:?}", r.elapsed);
}

#[tokio::test]
async fn prefer_code_forces_the_status_with_a_json_body_and_changes_nothing() {
    let s = TestServer::start().await;
    let before = record_count(&s).await;
    for code in [503u16, 500, 429, 404, 401, 418, 400, 599] {
        let r = s
            .send(
                with_prefer("POST", BASE_PATH, &format!("code={code}"))
                    .json(&json!({"CoworkerId": 1001, "Name": format!("forced.{code}")})),
            )
            .await;
        assert_eq!(r.status, code);
        let v = body_matching(&r, Schema::Error);
        assert_eq!(v["Status"], code);
        assert!(
            v["Message"]
                .as_str()
                .unwrap()
                .contains(&format!("code={code}")),
            "{v}"
        );
        if code == 503 || code == 429 {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        if code == 401 {
            assert!(r.header("www-authenticate").is_some());
        }
    }
    assert_eq!(
        record_count(&s).await,
        before,
        "a forced status must not process the request"
    );
    // Combined with a delay, both apply.
    let r = s
        .send(with_prefer("GET", BASE_PATH, "delay=150, code=502"))
        .await;
    assert_eq!(r.status, 502);
    assert!(r.elapsed >= Duration::from_millis(150));
    assert_eq!(r.header("preference-applied"), Some("delay=150, code=502"));
}

#[tokio::test]
async fn a_malformed_prefer_is_a_400_naming_the_header_and_changes_nothing() {
    let s = TestServer::start().await;
    let before = record_count(&s).await;
    for bad in [
        "delay=abc",
        "delay=",
        "delay=-5",
        "delay=999999",
        "code=200",
        "code=abc",
        "code=1000",
        "fault=explode",
        "fault=",
        "code=503, fault=reset",
        "=5",
        "de lay=5",
        "{\"delay\": 300}",
    ] {
        let r = s
            .send(
                with_prefer("POST", BASE_PATH, bad)
                    .json(&json!({"CoworkerId": 1001, "Name": "malformed.prefer"})),
            )
            .await;
        assert_eq!(error_properties(&r), vec!["Prefer"], "{bad}");
        let v = r.json().unwrap();
        assert!(
            v["Errors"][0]["AttemptedValue"]
                .as_str()
                .unwrap()
                .contains(bad.trim()),
            "{bad}: {v}"
        );
    }
    assert_eq!(record_count(&s).await, before);
}

#[tokio::test]
async fn unknown_preferences_are_ignored_and_applied_ones_are_reported() {
    let s = TestServer::start().await;
    let r = s
        .send(with_prefer(
            "GET",
            &format!("{BASE_PATH}/87654303"),
            "return=minimal, respond-async, wait=5, delay=20",
        ))
        .await;
    assert_eq!(r.status, 200);
    body_matching(&r, Schema::Record);
    assert_eq!(r.header("preference-applied"), Some("delay=20"));
    let plain = s
        .send(
            HttpRequest::new("GET", format!("{BASE_PATH}/87654303")).header("Authorization", ADMIN),
        )
        .await;
    assert_eq!(plain.header("preference-applied"), None);
}

#[tokio::test]
async fn fault_reset_drops_the_connection_with_a_reset_and_processes_nothing() {
    let s = TestServer::start().await;
    let before = record_count(&s).await;
    let body = r#"{"CoworkerId":1001,"Name":"never.created"}"#;
    let req = format!(
        "POST {BASE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {ADMIN}\r\nPrefer: fault=reset\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (got, err) = raw_exchange(s.server.addr, &req).await;
    assert!(got.is_empty(), "sent {:?}", String::from_utf8_lossy(&got));
    let err = err.expect("the read fails with a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    // The crate's own client sees a failed exchange too.
    let e = s
        .client
        .send(&with_prefer("GET", BASE_PATH, "fault=reset"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, nexudus_mock::client::ClientError::Io(_)),
        "{e:?}"
    );
    assert_eq!(record_count(&s).await, before);
}

#[tokio::test]
async fn fault_empty_closes_the_connection_without_sending_a_byte() {
    let s = TestServer::start().await;
    let (got, err) = raw_exchange(
        s.server.addr,
        &get_request(BASE_PATH, "Prefer: fault=empty\r\n"),
    )
    .await;
    assert!(err.is_none(), "a clean close, not a reset: {err:?}");
    assert!(got.is_empty(), "sent {:?}", String::from_utf8_lossy(&got));
}

#[tokio::test]
async fn fault_truncated_sends_the_head_and_only_part_of_the_body() {
    let s = TestServer::start().await;
    let (got, _) = raw_exchange(
        s.server.addr,
        &get_request(
            &format!("{BASE_PATH}?size=10"),
            "Prefer: fault=truncated\r\n",
        ),
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let declared: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    assert!(
        !body.is_empty() && body.len() < declared,
        "{} of {declared} bytes",
        body.len()
    );
    assert!(serde_json::from_str::<Value>(body).is_err());
    assert!(
        head.to_ascii_lowercase()
            .contains("preference-applied: fault=truncated")
    );
}

#[tokio::test]
async fn the_error_rate_fails_that_share_of_requests_and_the_seed_repeats_them() {
    let run = |seed| async move {
        let s = start_with_config(|c| {
            c.frontend.error_rate = 0.2;
            c.frontend.seed = Some(seed);
        })
        .await;
        let mut statuses = vec![];
        for _ in 0..100 {
            let r = s
                .send(
                    HttpRequest::new("GET", format!("{BASE_PATH}?size=1"))
                        .header("Authorization", ADMIN),
                )
                .await;
            if r.status == 500 {
                let v = body_matching(&r, Schema::Error);
                assert!(
                    v["Message"].as_str().unwrap().contains("--error-rate 0.2"),
                    "{v}"
                );
            } else {
                assert_eq!(r.status, 200);
            }
            statuses.push(r.status);
        }
        for _ in 0..20 {
            let admin = s.send(HttpRequest::new("GET", "/__admin/health")).await;
            assert_eq!(admin.status, 200, "the admin API is never faulted");
        }
        let journal = s
            .send(HttpRequest::new("GET", "/__admin/requests?limit=1000"))
            .await
            .json()
            .unwrap();
        let injected = journal["Requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["Fault"] == "error-rate")
            .count();
        (statuses, injected)
    };
    let (a, injected) = run(42).await;
    let (b, _) = run(42).await;
    let (c, _) = run(43).await;
    assert_eq!(a, b, "the same seed fails the same requests");
    assert_ne!(a, c, "another seed fails others");
    let failed = a.iter().filter(|s| **s == 500).count();
    assert!(
        (8..=35).contains(&failed),
        "{failed} of 100 failed at a rate of 0.2"
    );
    assert_eq!(injected, failed, "the journal marks each injected failure");

    let always = start_with_config(|c| c.frontend.error_rate = 1.0).await;
    let before = always.server.app.store.len();
    let r = always
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 1001, "Name": "never"})),
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(
        always.server.app.store.len(),
        before,
        "an injected failure processes nothing"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_echoed_when_sent() {
    let s = TestServer::start().await;
    let generated = s
        .send(HttpRequest::new("GET", BASE_PATH).header("Authorization", ADMIN))
        .await;
    let id = generated.header("x-request-id").expect("an id").to_string();
    let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 4, "{id}");
    assert_eq!(
        id,
        parsed.hyphenated().to_string(),
        "hyphenated, lower case"
    );
    let other = s
        .send(HttpRequest::new("GET", BASE_PATH).header("Authorization", ADMIN))
        .await;
    assert_ne!(other.header("x-request-id"), Some(id.as_str()));
    for (method, path) in [
        ("GET", format!("{BASE_PATH}/87654303")),
        ("GET", "/nowhere".to_string()),
        ("DELETE", BASE_PATH.to_string()),
        ("OPTIONS", BASE_PATH.to_string()),
        ("GET", "/__admin/health".to_string()),
        ("GET", "/__admin/nowhere".to_string()),
    ] {
        let r = s
            .send(
                HttpRequest::new(method, path.clone())
                    .header("Authorization", ADMIN)
                    .header("X-Request-Id", "trace-abc.123"),
            )
            .await;
        assert_eq!(
            r.header("x-request-id"),
            Some("trace-abc.123"),
            "{method} {path} {}",
            r.status
        );
    }
    let long = "x".repeat(200);
    let r = s
        .send(HttpRequest::new("GET", BASE_PATH).header("X-Request-Id", long.clone()))
        .await;
    let replaced = r.header("x-request-id").unwrap();
    assert!(replaced != long && uuid::Uuid::parse_str(replaced).is_ok());
    let journal = s
        .send(HttpRequest::new("GET", "/__admin/requests?limit=1"))
        .await
        .json()
        .unwrap();
    assert_eq!(
        journal["Requests"][0]["Id"], replaced,
        "the journal keys entries by request id"
    );
}

#[tokio::test]
async fn a_cors_preflight_allows_prefer_and_responses_expose_what_pages_read() {
    let s = TestServer::start().await;
    let pre = s
        .send(
            HttpRequest::new("OPTIONS", BASE_PATH)
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type, prefer, x-request-id",
                ),
        )
        .await;
    assert_eq!(pre.status, 204);
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "prefer", "x-request-id"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let admin_pre = s
        .send(
            HttpRequest::new("OPTIONS", "/__admin/reset")
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await;
    assert_eq!(
        admin_pre.status, 204,
        "a test runner in a browser can reach the admin API"
    );
    let r = s
        .send(with_prefer("GET", BASE_PATH, "code=503").header("Origin", "http://localhost:5173"))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["x-request-id", "retry-after", "preference-applied"] {
        assert!(exposed.contains(h), "{exposed}");
    }
}

fn parse_serve(args: &[&str]) -> Result<nexudus_mock::cli::ServeArgs, clap::Error> {
    let mut all = vec!["nexudus-mock", "serve"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).map(|cli| match cli.command {
        Command::Serve(a) => a,
        other => panic!("{other:?}"),
    })
}

#[test]
fn every_front_end_flag_parses_and_bad_values_are_refused_with_a_reason() {
    let _ = Cli::try_parse_from(["nexudus-mock", "openapi"]).unwrap();
    let a = parse_serve(&[
        "--latency",
        "50ms..300ms",
        "--error-rate",
        "0.05",
        "--seed",
        "7",
        "--admin-token",
        "s3",
        "--journal-size",
        "10",
        "--fixtures",
        "fixtures",
        "--watch",
        "--state-file",
        "/tmp/x.json",
        "--color",
        "always",
    ])
    .unwrap();
    let c = a.server_config().frontend;
    assert_eq!(
        c.latency,
        Latency::Range(Duration::from_millis(50), Duration::from_millis(300))
    );
    assert_eq!((c.error_rate, c.seed, c.journal_size), (0.05, Some(7), 10));
    assert_eq!(c.admin_token.as_deref(), Some("s3"));
    assert!(
        !format!("{c:?}").contains("s3"),
        "Debug masks the admin token"
    );
    assert!(a.frontend.watch);
    assert_eq!(
        parse_serve(&["--latency", "200ms"])
            .unwrap()
            .server_config()
            .frontend
            .latency,
        Latency::Fixed(Duration::from_millis(200))
    );
    for (bad, says) in [
        (vec!["--latency", "fast"], "not a duration"),
        (vec!["--latency", "300ms..50ms"], "backwards"),
        (vec!["--latency", "5m"], "60s"),
        (vec!["--error-rate", "1.5"], "from 0 to 1"),
        (vec!["--error-rate=-0.1"], "from 0 to 1"),
        (vec!["--seed", "abc"], "invalid digit"),
        (vec!["--watch"], "--fixtures"),
        (vec!["--color", "purple"], "purple"),
        (vec!["--journal-size=-1"], "-1"),
    ] {
        let e = parse_serve(&bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

#[tokio::test]
async fn repeated_headers_count_as_sent_prefer_all_of_them_the_others_their_first() {
    let s = TestServer::start().await;
    let r = s
        .send(
            with_prefer("GET", &format!("{BASE_PATH}/87654303"), "code=503")
                .header("Prefer", "delay=1")
                .header("X-Request-Id", "first-id")
                .header("X-Request-Id", "second-id")
                .header("Origin", "http://one.example")
                .header("Origin", "http://two.example"),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body_excerpt(200));
    let applied = r.header("preference-applied").unwrap_or_default();
    assert!(
        applied.contains("code=503") && applied.contains("delay=1"),
        "{applied}"
    );
    assert_eq!(r.header("x-request-id"), Some("first-id"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://one.example")
    );
}
