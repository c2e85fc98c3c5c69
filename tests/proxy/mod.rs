//! `proxy`: in front of the mock it relays a whole session unchanged and finds
//! nothing wrong; in front of deliberately broken implementations (the mock behind a
//! `Layer`) it names the right rule on the right request, and `--fail-on-violation`
//! turns that into a 502; recorded records replay through `serve --fixtures`; an
//! upstream that is down, hangs, resets or answers garbage gets a prompt 502/504;
//! and the binary's log line shows violations in colour. `browser` drives it from
//! headless Chromium on another origin.

mod browser;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nexudus_mock::client::{HttpClient, HttpRequest, HttpResponse};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::proxy::{self, Proxy, ProxyConfig};
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::server::types::{ApiRequest, ApiResponse, Method};
use nexudus_mock::server::{App, Layer, RunningServer, ServerConfig, api};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_nexudus-mock");

/// The mock (behind `layer`, if any) on a free loopback port.
async fn start_mock(layer: Option<Layer>) -> RunningServer {
    start_mock_with(Fixtures::builtin(), layer).await
}

async fn start_mock_with(fixtures: Fixtures, layer: Option<Layer>) -> RunningServer {
    let mut app = App::new(fixtures, ServerConfig::default()).unwrap();
    app.layer = layer;
    RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

/// A proxy in front of `upstream`, and a client pointed at the proxy.
struct TestProxy {
    server: RunningServer,
    proxy: Arc<Proxy>,
    client: HttpClient,
}

impl TestProxy {
    async fn start(upstream: &str, change: impl FnOnce(&mut ProxyConfig)) -> Self {
        let mut config = ProxyConfig {
            client: HttpClient::new(upstream, Duration::from_secs(5)),
            record: None,
            fail_on_violation: false,
            strict: false,
            violations_kept: 100,
        };
        change(&mut config);
        let (app, proxy) = proxy::app(config, ServerConfig::default()).unwrap();
        let server = RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
            .await
            .unwrap();
        let client = HttpClient::new(&server.base_url(), Duration::from_secs(15));
        TestProxy {
            server,
            proxy,
            client,
        }
    }

    async fn send(&self, req: HttpRequest) -> HttpResponse {
        self.client
            .send(&req)
            .await
            .unwrap_or_else(|e| panic!("{} {} through the proxy: {e}", req.method, req.path))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> HttpResponse {
        let mut req = HttpRequest::new(method, path).header("Authorization", ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn violations(&self) -> Value {
        let r = self
            .send(HttpRequest::new("GET", "/__admin/violations"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body_excerpt(500));
        r.json().unwrap()
    }
}

fn counts(r: &HttpResponse) -> (u32, u32) {
    let n = |h: &str| {
        r.header(h)
            .unwrap_or_else(|| panic!("no {h} header: {:?}", r.headers))
            .parse()
            .unwrap()
    };
    (n("x-contract-violations"), n("x-contract-warnings"))
}

// ---- the mock as upstream: nothing to report ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_of_the_mock_a_whole_session_is_relayed_unchanged_with_no_violation() {
    let mock = start_mock(None).await;
    let direct = HttpClient::new(&mock.base_url(), Duration::from_secs(5));
    let p = TestProxy::start(&mock.base_url(), |_| {}).await;
    let c = 777_001;
    let mut sent = 0;
    let mut ids = Vec::new();
    for (name, value, enc) in [
        ("proxy.alpha", Some("blue"), None),
        ("proxy.bravo", Some("green"), Some("cipher:1")),
        ("proxy.charlie", None, Some("cipher:2")),
        ("other.delta", Some("blue moon"), None),
    ] {
        let r = p
            .call(
                "POST",
                BASE_PATH,
                Some(json!({"CoworkerId": c, "Name": name, "Value": value, "EncryptedValue": enc})),
            )
            .await;
        sent += 1;
        assert_eq!(r.status, 200, "{}", r.body_excerpt(500));
        assert_eq!(counts(&r), (0, 0), "create {name}: {}", r.body_excerpt(500));
        ids.push(r.json().unwrap()["Value"]["Id"].as_i64().unwrap());
    }
    let every_parameter = format!(
        "page=1&size=2&orderBy=Name&dir=-1&CoworkerSetting_Coworker={c}&CoworkerSetting_Name=proxy\
         &CoworkerSetting_Value=&CoworkerSetting_EncryptedValue=cipher\
         &from_CoworkerSetting_CreatedOn=2000-01-01T00:00&to_CoworkerSetting_CreatedOn=2100-01-01T00:00\
         &from_CoworkerSetting_UpdatedOn=2000-01-01T00:00:00Z&to_CoworkerSetting_UpdatedOn=2100-01-01T00:00"
    );
    let reads = [
        format!("{BASE_PATH}?{every_parameter}"),
        format!("{BASE_PATH}?page=2&size=1&orderBy=Value&dir=1&CoworkerSetting_CoworkerId={c}"),
        format!("{BASE_PATH}?page=9&size=3&CoworkerSetting_Coworker={c}"),
        format!("{BASE_PATH}?CoworkerSetting_Value=BLUE&orderBy=CreatedOn&dir=-1"),
        format!("{BASE_PATH}?size=100&orderBy=UpdatedBy&CoworkerSetting_Coworker={c}"),
        format!("{BASE_PATH}/{}", ids[1]),
        format!("{BASE_PATH}/?id=[{},{},999999999]", ids[2], ids[0]),
    ];
    for path in &reads {
        let through = p.call("GET", path, None).await;
        let straight = direct
            .send(&HttpRequest::new("GET", path.as_str()).header("Authorization", ADMIN))
            .await
            .unwrap();
        sent += 1;
        assert_eq!(through.status, 200, "{path}: {}", through.body_excerpt(500));
        assert_eq!(through.body, straight.body, "{path}: relayed byte for byte");
        assert_eq!(
            through.header("content-type"),
            straight.header("content-type")
        );
        assert_eq!(counts(&through), (0, 0), "{path}");
    }
    let first = p.call("GET", &reads[0], None).await.json().unwrap();
    sent += 1;
    assert_eq!(
        first["TotalItems"], 2,
        "the filters reached the mock: {first}"
    );

    let writes: Vec<(&str, String, Option<Value>, u16)> = vec![
        (
            "PUT",
            BASE_PATH.to_string(),
            Some(json!({"Id": ids[0], "CoworkerId": c, "Name": "proxy.alpha", "Value": "red"})),
            200,
        ),
        ("DELETE", format!("{BASE_PATH}/{}", ids[3]), None, 200),
        ("GET", format!("{BASE_PATH}/{}", ids[3]), None, 404),
        (
            "POST",
            BASE_PATH.to_string(),
            Some(json!({"CoworkerId": c})),
            400,
        ),
        (
            "POST",
            BASE_PATH.to_string(),
            Some(json!({"CoworkerId": "x", "Name": " "})),
            400,
        ),
        (
            "POST",
            BASE_PATH.to_string(),
            Some(json!({"CoworkerId": c, "Name": "proxy.alpha"})),
            400,
        ),
        (
            "PUT",
            BASE_PATH.to_string(),
            Some(json!({"CoworkerId": c, "Name": "n"})),
            400,
        ),
        ("GET", format!("{BASE_PATH}?size=0&dir=2"), None, 400),
    ];
    for (method, path, body, status) in writes {
        let r = p.call(method, &path, body.clone()).await;
        sent += 1;
        assert_eq!(
            r.status,
            status,
            "{method} {path} {body:?}: {}",
            r.body_excerpt(500)
        );
        assert_eq!(
            counts(&r),
            (0, 0),
            "{method} {path} {body:?}: {}",
            r.body_excerpt(500)
        );
    }
    let r = p
        .send(HttpRequest::new("POST", BASE_PATH).raw_body("application/json", "{\"Name\": "))
        .await;
    sent += 1;
    assert_eq!((r.status, counts(&r)), (401, (0, 0)), "no credentials: 401");
    let r = p
        .send(HttpRequest::new("POST", "/api/token").raw_body(
            "application/x-www-form-urlencoded",
            "grant_type=password&username=reader@example.com&password=reader-password",
        ))
        .await;
    sent += 1;
    assert_eq!(
        (r.status, counts(&r)),
        (200, (0, 0)),
        "{}",
        r.body_excerpt(300)
    );
    let token = r.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = p
        .send(
            HttpRequest::new("GET", format!("{BASE_PATH}/{}", ids[1]))
                .header("Authorization", format!("Bearer {token}")),
        )
        .await;
    sent += 1;
    assert_eq!(
        (r.status, counts(&r)),
        (200, (0, 0)),
        "the granted token works upstream"
    );

    let v = p.violations().await;
    assert_eq!(v["Count"], 0, "{v}");
    // The journal works as in serve: every forwarded request, newest first.
    let journal = p
        .send(HttpRequest::new("GET", "/__admin/requests?limit=1000"))
        .await
        .json()
        .unwrap();
    assert_eq!(journal["Count"], sent, "{journal}");
    assert_eq!(
        journal["Requests"][0]["Path"],
        format!("{BASE_PATH}/{}", ids[1])
    );
    assert_eq!(journal["Requests"][0]["Authorization"], "Bearer ***");
    // The mock saw the writes: the update and the delete went through.
    let after = direct
        .send(
            &HttpRequest::new("GET", format!("{BASE_PATH}/{}", ids[0]))
                .header("Authorization", ADMIN),
        )
        .await
        .unwrap();
    assert_eq!(after.json().unwrap()["Value"], "red");
}

#[tokio::test]
async fn cors_is_answered_exactly_as_serve_answers_it() {
    let mock = start_mock(None).await;
    let p = TestProxy::start(&mock.base_url(), |_| {}).await;
    let direct = HttpClient::new(&mock.base_url(), Duration::from_secs(5));
    let cors = |r: &HttpResponse| {
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with("access-control-") || k == "vary" || k == "allow")
            .cloned()
            .collect();
        h.sort();
        (r.status, h)
    };
    for req in [
        HttpRequest::new("OPTIONS", BASE_PATH)
            .header("Origin", "http://localhost:5173")
            .header("Access-Control-Request-Method", "PUT")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        HttpRequest::new("OPTIONS", format!("{BASE_PATH}/87654303"))
            .header("Origin", "http://localhost:5173")
            .header("Access-Control-Request-Method", "DELETE"),
        HttpRequest::new("GET", format!("{BASE_PATH}/87654303"))
            .header("Origin", "http://localhost:5173")
            .header("Authorization", ADMIN),
        HttpRequest::new("GET", BASE_PATH).header("Authorization", ADMIN),
    ] {
        let through = p.send(req.clone()).await;
        let straight = direct.send(&req).await.unwrap();
        assert_eq!(
            cors(&through),
            cors(&straight),
            "{} {}",
            req.method,
            req.path
        );
    }
    let r = p
        .send(
            HttpRequest::new("GET", format!("{BASE_PATH}/87654303"))
                .header("Origin", "http://localhost:5173")
                .header("Authorization", ADMIN),
        )
        .await;
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-contract-violations"), "{exposed}");
}

// ---- broken implementations: the right rule on the right request ----

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

/// The mock with `change` applied to the JSON of the responses `when` picks.
fn corrupt(
    when: impl Fn(&ApiRequest, &ApiResponse) -> bool + Send + Sync + 'static,
    change: impl Fn(&mut Value) + Send + Sync + 'static,
) -> Layer {
    Arc::new(move |app: &App, req: &ApiRequest| {
        let resp = api::handle(app, req);
        if !when(req, &resp) {
            return resp;
        }
        let mut v = json_of(&resp);
        change(&mut v);
        with_json(resp, &v)
    })
}

/// A request as a row describes it: method, path and query, body, credentials.
type Ask = (&'static str, &'static str, Option<Value>, bool);

fn request((method, path, body, authorised): &Ask) -> HttpRequest {
    let mut r = HttpRequest::new(method, *path);
    if *authorised {
        r = r.header("Authorization", ADMIN);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    r
}

fn broken_targets() -> Vec<(&'static str, Layer, Ask, &'static str)> {
    let list = |q: &'static str| -> Ask { ("GET", q, None, true) };
    vec![
        (
            "ignores the Name filter",
            Arc::new(|app: &App, req: &ApiRequest| {
                let mut req = req.clone();
                req.query = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(
                        form_urlencoded::parse(req.query.as_bytes())
                            .filter(|(k, _)| k != "CoworkerSetting_Name"),
                    )
                    .finish();
                api::handle(app, &req)
            }),
            list("/api/spaces/coworkersettings?CoworkerSetting_Name=portal&size=50"),
            "list.filter",
        ),
        (
            "a wrong TotalPages",
            corrupt(
                |req, resp| is_list(req) && resp.status == 200,
                |v| v["TotalPages"] = json!(v["TotalPages"].as_u64().unwrap() + 1),
            ),
            list("/api/spaces/coworkersettings?size=10&CoworkerSetting_Coworker=1001"),
            "list.paging",
        ),
        (
            "a missing field",
            corrupt(
                |req, resp| {
                    req.method == Method::Get
                        && req.path.ends_with("/87654310")
                        && resp.status == 200
                },
                |v| {
                    v.as_object_mut().unwrap().remove("UniqueId");
                },
            ),
            ("GET", "/api/spaces/coworkersettings/87654310", None, true),
            "get.schema",
        ),
        (
            "a 400 in the wrong shape",
            corrupt(
                |_, resp| resp.status == 400,
                |v| *v = json!({"error": "bad request", "details": v["Errors"].clone()}),
            ),
            ("POST", BASE_PATH, Some(json!({"CoworkerId": 1001})), true),
            "validation.envelope",
        ),
        (
            "a 400 Message not made of parts",
            corrupt(
                |_, resp| resp.status == 400,
                |v| v["Message"] = json!("Validation failed."),
            ),
            ("PUT", BASE_PATH, Some(json!({"Name": "x"})), true),
            "validation.message",
        ),
        (
            "the wrong create message",
            corrupt(
                |req, resp| req.method == Method::Post && resp.status == 200,
                |v| v["Message"] = json!("Created."),
            ),
            (
                "POST",
                BASE_PATH,
                Some(json!({"CoworkerId": 1001, "Name": "proxy.table"})),
                true,
            ),
            "create.envelope",
        ),
        (
            "ignores dir",
            Arc::new(|app: &App, req: &ApiRequest| {
                let mut req = req.clone();
                req.query = req.query.replace("dir=-1", "dir=1");
                let resp = api::handle(app, &req);
                let mut v = json_of(&resp);
                if v.get("CurrentSortDirection").is_some() {
                    v["CurrentSortDirection"] = json!(-1);
                }
                with_json(resp, &v)
            }),
            list("/api/spaces/coworkersettings?orderBy=Name&dir=-1&size=100"),
            "list.order",
        ),
        (
            "lets anyone in",
            Arc::new(|app: &App, req: &ApiRequest| {
                let mut req = req.clone();
                req.authorization
                    .get_or_insert_with(|| b"Bearer admin-token".to_vec());
                api::handle(app, &req)
            }),
            ("GET", "/api/spaces/coworkersettings/87654303", None, false),
            "auth.no-credentials",
        ),
        (
            "returns records not asked for",
            corrupt(
                |req, resp| req.query.starts_with("id=") && resp.status == 200,
                |v| {
                    let extra = v[0].clone();
                    let mut extra = extra;
                    extra["Id"] = json!(1);
                    v.as_array_mut().unwrap().push(extra);
                },
            ),
            (
                "GET",
                "/api/spaces/coworkersettings/?id=[87654303]",
                None,
                true,
            ),
            "batch.only-asked",
        ),
    ]
}

fn encrypted_values(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, x)| match x {
                Value::String(s) if k == "EncryptedValue" && s.len() >= 2 => vec![s.clone()],
                _ => encrypted_values(x),
            })
            .collect(),
        Value::Array(a) => a.iter().flat_map(encrypted_values).collect(),
        _ => vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_of_broken_targets_the_right_violation_is_reported_on_the_right_request() {
    for (name, layer, ask, rule) in broken_targets() {
        let mock = start_mock(Some(layer)).await;
        let p = TestProxy::start(&mock.base_url(), |_| {}).await;
        // An exchange the break does not touch reports nothing.
        let fine = p
            .call("GET", "/api/spaces/coworkersettings/87654303", None)
            .await;
        assert_eq!(counts(&fine), (0, 0), "{name}: an untouched exchange");
        let r = p
            .send(request(&ask).header("X-Request-Id", format!("row-{}", rule)))
            .await;
        let (violations, _) = counts(&r);
        assert!(
            violations >= 1,
            "{name}: no violation reported: {}",
            r.body_excerpt(500)
        );
        let v = p.violations().await;
        assert_eq!(v["Count"], 1, "{name}: only the broken exchange: {v}");
        let entry = &v["Violations"][0];
        assert_eq!(
            entry["Id"],
            format!("row-{rule}"),
            "{name}: the right request"
        );
        assert_eq!(entry["Request"]["Method"], ask.0, "{name}");
        let rules: Vec<&str> = entry["Violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["Rule"].as_str().unwrap())
            .collect();
        assert!(
            rules.contains(&rule),
            "{name}: expected {rule}, got {rules:?}"
        );
        assert_eq!(
            rules.len() as u32,
            violations,
            "{name}: the header counts them"
        );
        for f in entry["Violations"].as_array().unwrap() {
            assert!(
                !f["Problem"].as_str().unwrap().is_empty()
                    && !f["Expected"].as_str().unwrap().is_empty(),
                "{name}: {f}"
            );
        }
        let curl = entry["Curl"].as_str().unwrap();
        assert!(
            curl.starts_with(&format!("curl -sS -X {} '{}", ask.0, mock.base_url())),
            "{name}: the reproduction goes to the upstream: {curl}"
        );
        assert!(
            !v.to_string().contains("admin-token"),
            "{name}: the credential leaked: {v}"
        );
        if ask.3 {
            assert_eq!(entry["Request"]["Authorization"], "Bearer ***", "{name}");
        }
        assert!(
            entry["ResponseExcerpt"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{name}"
        );
        // Relayed unchanged all the same.
        let straight = HttpClient::new(&mock.base_url(), Duration::from_secs(5))
            .send(&request(&ask))
            .await
            .unwrap();
        if ask.0 == "GET" {
            assert_eq!(r.status, straight.status, "{name}");
            assert_eq!(r.body, straight.body, "{name}: relayed byte for byte");
            // Messages quote values; encrypted ones never reach the store.
            let shown = v.to_string();
            for secret in encrypted_values(&straight.json().unwrap_or_default()) {
                assert!(
                    !shown.contains(&secret),
                    "{name}: {secret:?} shown: {shown}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_on_violation_a_violating_exchange_is_answered_502_with_the_violation() {
    let (_, layer, ask, rule) = broken_targets()
        .into_iter()
        .find(|row| row.0 == "a wrong TotalPages")
        .unwrap();
    let mock = start_mock(Some(layer)).await;
    let p = TestProxy::start(&mock.base_url(), |c| c.fail_on_violation = true).await;
    let r = p
        .send(request(&ask).header("Origin", "http://localhost:5173"))
        .await;
    assert_eq!(r.status, 502, "{}", r.body_excerpt(500));
    let v = r.json().unwrap();
    assert_eq!(v["UpstreamStatus"], 200, "{v}");
    assert_eq!(v["WasSuccessful"], false);
    assert_eq!(v["Violations"][0]["Rule"], rule, "{v}");
    assert!(v["Message"].as_str().unwrap().contains("TotalPages"), "{v}");
    assert_eq!(counts(&r).0, 1);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173"),
        "a browser can read the 502"
    );
    let fine = p
        .call("GET", "/api/spaces/coworkersettings/87654303", None)
        .await;
    assert_eq!(
        fine.status, 200,
        "an exchange without violation is untouched"
    );
    // Choices the docs leave open stay warnings: a batch out of the asked order.
    let reorder: Layer = corrupt(
        |req, resp| req.query.starts_with("id=") && resp.status == 200,
        |v| v.as_array_mut().unwrap().reverse(),
    );
    let mock = start_mock(Some(reorder)).await;
    for (strict, status, found) in [(false, 200, (0, 1)), (true, 502, (1, 0))] {
        let p = TestProxy::start(&mock.base_url(), |c| {
            c.fail_on_violation = true;
            c.strict = strict;
        })
        .await;
        let r = p
            .call(
                "GET",
                "/api/spaces/coworkersettings/?id=[87654303,87654310]",
                None,
            )
            .await;
        assert_eq!((r.status, counts(&r)), (status, found), "strict {strict}");
    }
}

// ---- recording ----

async fn list_pages(client: &HttpClient, query: &str) -> Vec<Bytes> {
    let mut pages = Vec::new();
    for page in 1..=20 {
        let r = client
            .send(
                &HttpRequest::new("GET", format!("{BASE_PATH}?{query}&page={page}"))
                    .header("Authorization", ADMIN),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body_excerpt(300));
        let last = !r.json().unwrap()["HasNextPage"].as_bool().unwrap();
        pages.push(r.body);
        if last {
            return pages;
        }
    }
    panic!("more than 20 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_directory_replayed_by_serve_answers_the_same_list_pages() {
    let mock = start_mock(None).await;
    let dir = tempfile::tempdir().unwrap();
    let p = TestProxy::start(&mock.base_url(), |c| {
        c.record = Some(dir.path().to_path_buf())
    })
    .await;
    let file = dir.path().join("coworkersettings.json");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "[]\n",
        "written at start"
    );
    // A record that changes while recording: the file keeps its latest answer.
    let r = p
        .call(
            "POST",
            BASE_PATH,
            Some(json!({"CoworkerId": 1001, "Name": "rec.secret", "Value": "v1", "EncryptedValue": "ciphertext=="})),
        )
        .await;
    let id = r.json().unwrap()["Value"]["Id"].as_i64().unwrap();
    p.call("GET", &format!("{BASE_PATH}/{id}"), None).await;
    p.call(
        "PUT",
        BASE_PATH,
        Some(json!({"Id": id, "CoworkerId": 1001, "Name": "rec.secret", "Value": "v2", "EncryptedValue": "ciphertext=="})),
    )
    .await;
    // A record read once and then deleted is dropped from the recording.
    let gone = p
        .call(
            "POST",
            BASE_PATH,
            Some(json!({"CoworkerId": 1001, "Name": "rec.gone"})),
        )
        .await
        .json()
        .unwrap()["Value"]["Id"]
        .as_i64()
        .unwrap();
    p.call("GET", &format!("{BASE_PATH}/?id=[{gone}]"), None)
        .await;
    p.call("DELETE", &format!("{BASE_PATH}/{gone}"), None).await;

    let query = "size=25&orderBy=Name&dir=1";
    let upstream_pages = list_pages(&p.client, query).await;
    assert!(upstream_pages.len() >= 3, "the fixtures span pages");
    let recorded = p.proxy.recorder().unwrap().len();
    assert_eq!(recorded, Fixtures::builtin().records.len() + 1);

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("\"Value\":\"v2\"") && !text.contains("\"v1\""),
        "kept up to date"
    );
    assert!(
        text.contains("ciphertext=="),
        "EncryptedValue kept as returned"
    );
    assert!(!text.contains("rec.gone"));
    // serve --fixtures DIR (the binary) replays exactly the pages the upstream gave.
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--port", "0", "--fixtures"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("nexudus-mock listening on ")
        .unwrap()
        .to_string();
    let replay = HttpClient::new(&base, Duration::from_secs(5));
    let replayed_pages = list_pages(&replay, query).await;
    assert_eq!(replayed_pages, upstream_pages);
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

// ---- an upstream that fails ----

/// What a fake upstream does with each connection.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Reads the request and never answers.
    Hang,
    /// Reads the request and resets the connection.
    Reset,
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
}

async fn misbehaving_upstream(how: Misbehaviour) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                match how {
                    Misbehaviour::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                    Misbehaviour::Reset => {
                        let _ = stream.set_zero_linger();
                    }
                    Misbehaviour::Garbage => {
                        let _ = stream
                            .write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01garbage\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_hangs_resets_or_answers_garbage_gets_502_or_504_in_time() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cases = [
        ("down", closed, 502, "unreachable"),
        (
            "hangs",
            misbehaving_upstream(Misbehaviour::Hang).await,
            504,
            "timeout",
        ),
        (
            "resets",
            misbehaving_upstream(Misbehaviour::Reset).await,
            502,
            "bad-response",
        ),
        (
            "garbage",
            misbehaving_upstream(Misbehaviour::Garbage).await,
            502,
            "bad-response",
        ),
    ];
    let timeout = Duration::from_millis(800);
    for (name, addr, status, problem) in cases {
        let p = TestProxy::start(&format!("http://{addr}"), |c| {
            c.client = HttpClient::new(&format!("http://{addr}"), timeout);
        })
        .await;
        for req in [
            HttpRequest::new("GET", format!("{BASE_PATH}?size=5")).header("Authorization", ADMIN),
            HttpRequest::new("POST", BASE_PATH)
                .header("Authorization", ADMIN)
                .json(&json!({"CoworkerId": 1, "Name": "n"})),
        ] {
            let started = Instant::now();
            let r = p.send(req).await;
            let took = started.elapsed();
            assert!(
                took < timeout + Duration::from_secs(2),
                "{name}: took {took:?}"
            );
            assert_eq!(r.status, status, "{name}: {}", r.body_excerpt(500));
            let v = body_matching(&r, nexudus_mock::schemas::Schema::Error);
            assert_eq!(v["Problem"], problem, "{name}: {v}");
            assert_eq!(v["Upstream"], format!("http://{addr}"), "{name}");
            assert!(r.header("x-request-id").is_some(), "{name}");
        }
        // The journal shows the failure like any other answer.
        let journal = p
            .send(HttpRequest::new("GET", "/__admin/requests"))
            .await
            .json()
            .unwrap();
        assert_eq!(
            journal["Requests"][0]["Status"], status,
            "{name}: {journal}"
        );
    }
}

// ---- the binary ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_each_violation_in_colour_on_the_request_line() {
    let (_, layer, ask, _) = broken_targets()
        .into_iter()
        .find(|row| row.0 == "a wrong TotalPages")
        .unwrap();
    let mock = start_mock(Some(layer)).await;
    let mut child = tokio::process::Command::new(BIN)
        .args(["proxy", "--port", "0", "--color", "always", "--upstream"])
        .arg(mock.base_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("nexudus-mock proxy listening on ")
        .and_then(|rest| rest.split_once(" forwarding to "))
        .map(|(addr, _)| addr.to_string())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let client = HttpClient::new(&base, Duration::from_secs(5));
    let bad = client
        .send(&request(&ask).header("X-Request-Id", "bad-1"))
        .await
        .unwrap();
    assert_eq!(counts(&bad), (1, 0));
    let good = client
        .send(
            &HttpRequest::new("GET", format!("{BASE_PATH}/87654303"))
                .header("Authorization", ADMIN)
                .header("X-Request-Id", "good-1"),
        )
        .await
        .unwrap();
    assert_eq!(counts(&good), (0, 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let bad_line = err
        .lines()
        .find(|l| l.contains("bad-1"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        bad_line.contains("\x1b[1;31m[1 contract violation: list.paging: TotalPages is"),
        "{bad_line:?}"
    );
    let good_line = err.lines().find(|l| l.contains("good-1")).unwrap();
    assert!(!good_line.contains("contract"), "{good_line:?}");
    assert!(!err.contains("admin-token"), "the log leaks the credential");
}

#[test]
fn the_proxy_flags_parse_into_one_config_and_bad_ones_are_refused_with_a_reason() {
    use clap::Parser;
    use nexudus_mock::cli::{Cli, Command};
    let parse = |args: &[&str]| {
        let mut all = vec!["nexudus-mock", "proxy"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| match cli.command {
            Command::Proxy(a) => a,
            other => panic!("{other:?}"),
        })
    };
    let a = parse(&[
        "--upstream",
        "http://127.0.0.1:9/prefix/",
        "--record",
        "rec",
        "--fail-on-violation",
        "--strict",
        "--timeout",
        "1500ms",
        "--journal-size",
        "7",
    ])
    .unwrap();
    assert_eq!(a.port, 4011, "beside serve's 4010");
    let (proxy, server) = a.config().unwrap();
    assert_eq!(proxy.client.base_url(), "http://127.0.0.1:9/prefix");
    assert_eq!(proxy.client.timeout(), Duration::from_millis(1500));
    assert_eq!(proxy.record.as_deref(), Some(std::path::Path::new("rec")));
    assert!(proxy.fail_on_violation && proxy.strict);
    assert_eq!(
        (proxy.violations_kept, server.frontend.journal_size),
        (7, 7)
    );
    assert!(server.cors);
    assert!(parse(&[]).is_err(), "--upstream is required");
    assert!(parse(&["--upstream", "http://x", "--timeout", "soon"]).is_err());
    let Err(e) = parse(&["--upstream", "ftp://x"]).unwrap().config() else {
        panic!("ftp:// accepted");
    };
    assert!(e.contains("ftp://x") && e.contains("http://"), "{e}");
}
