//! Proof in a real browser: headless Chromium loads a page from a second origin (a
//! tiny hyper server on another port), whose JavaScript calls the mock with
//! preflighted fetches; the test reads the outcome from the DOM Chromium dumps.
//!
//! `--dump-dom` prints the DOM once the page's load event fires, which would be
//! before the page's fetches finish. So the page holds its load event open with an
//! image (`/hold`) that the page server answers only after the script has posted its
//! result to `/done`. No virtual time is used, so the delays the page measures are real.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use nexudus_mock::client::HttpRequest;
use nexudus_mock::resource::BASE_PATH;
use serde_json::Value;

use super::require_tool;
use crate::util::*;

/// The page's origin: serves the page, holds `/hold` until `/done` arrives.
pub struct PageOrigin {
    pub addr: SocketAddr,
    pub posted: Arc<Mutex<Option<String>>>,
}

pub async fn serve_page(html: String) -> PageOrigin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let posted = Arc::new(Mutex::new(None::<String>));
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let done_tx = Arc::new(done_tx);
    let (html, shared) = (Arc::new(html), posted.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (html, shared, done_tx, done_rx) = (
                html.clone(),
                shared.clone(),
                done_tx.clone(),
                done_rx.clone(),
            );
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (html, shared, done_tx) = (html.clone(), shared.clone(), done_tx.clone());
                let mut done_rx = done_rx.clone();
                async move {
                    let reply = |status: u16, ct: &str, body: Bytes| {
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", ct)
                            .header("cache-control", "no-store")
                            .body(Full::new(body))
                            .unwrap()
                    };
                    let resp = match (req.method().as_str(), req.uri().path()) {
                        ("GET", "/") => reply(
                            200,
                            "text/html; charset=utf-8",
                            Bytes::from(html.as_bytes().to_vec()),
                        ),
                        ("GET", "/hold") => {
                            let _ = tokio::time::timeout(
                                Duration::from_secs(60),
                                done_rx.wait_for(|d| *d),
                            )
                            .await;
                            reply(200, "text/plain", Bytes::new())
                        }
                        ("POST", "/done") => {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            *shared.lock().unwrap() =
                                Some(String::from_utf8_lossy(&body).into_owned());
                            let _ = done_tx.send(true);
                            reply(204, "text/plain", Bytes::new())
                        }
                        _ => reply(404, "text/plain", Bytes::from_static(b"not here")),
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    PageOrigin { addr, posted }
}

fn chromium_binary() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Loads `url` in headless Chromium and returns the DOM it dumps; None when
/// Chromium is missing and CI is unset.
pub async fn dump_dom(url: &str) -> Option<String> {
    let bin = chromium_binary();
    if !require_tool(bin.is_some(), "Chromium", "apt-get install -y chromium") {
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(bin.unwrap())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-extensions",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("Chromium finished within 120s")
    .expect("Chromium ran");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("<pre id=\"out\">"),
        "Chromium failed ({}):\n{dom}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dom)
}

/// The JSON the page wrote into `<pre id="out">`.
pub fn result_in(dom: &str) -> Value {
    let start = dom.find("<pre id=\"out\">").unwrap() + "<pre id=\"out\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A page whose script runs `body` (with `M` the mock's URL and `out` the result
/// object), writes `out` into the DOM, then posts it to `/done`.
pub fn page(mock: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>nexudus-mock browser test</title></head>
<body><pre id="out">pending</pre><img src="/hold" alt="">
<script>
(async () => {{
  const M = "{mock}";
  const AUTH = "Bearer admin-token";
  const out = {{}};
  try {{
{body}
  }} catch (e) {{
    out.error = String(e);
  }}
  document.getElementById("out").textContent = JSON.stringify(out);
  await fetch("/done", {{method: "POST", body: JSON.stringify(out)}});
}})();
</script></body></html>"#
    )
}

async fn run_page(s: &TestServer, script: &str) -> Option<(Value, String)> {
    let origin = serve_page(page(&s.base_url(), script)).await;
    let page_url = format!("http://{}/", origin.addr);
    let dom = dump_dom(&page_url).await?;
    let out = result_in(&dom);
    let posted: Value = serde_json::from_str(
        origin
            .posted
            .lock()
            .unwrap()
            .as_deref()
            .expect("the page posted its result"),
    )
    .unwrap();
    assert_eq!(out, posted, "the DOM shows what the script computed");
    assert!(
        out.get("error").is_none(),
        "the page's script failed: {out}"
    );
    Some((out, format!("http://{}", origin.addr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_creates_reads_and_lists_a_setting_with_preflighted_fetches() {
    let s = TestServer::start().await;
    let script = r#"
    const name = "browser.created." + Date.now();
    out.expectedName = name;
    let r = await fetch(M + "/api/spaces/coworkersettings", {
      method: "POST",
      headers: {"Authorization": AUTH, "Content-Type": "application/json"},
      body: JSON.stringify({CoworkerId: 424242, Name: name, Value: "from the browser"}),
    });
    out.createStatus = r.status;
    out.requestId = r.headers.get("X-Request-Id");
    const created = await r.json();
    out.message = created.Message;
    out.id = created.Value.Id;
    r = await fetch(M + "/api/spaces/coworkersettings/" + out.id, {headers: {"Authorization": AUTH}});
    out.getStatus = r.status;
    const rec = await r.json();
    out.name = rec.Name;
    out.value = rec.Value;
    r = await fetch(M + "/api/spaces/coworkersettings?CoworkerSetting_CoworkerId=424242&orderBy=Name", {headers: {"Authorization": AUTH}});
    out.listStatus = r.status;
    const list = await r.json();
    out.listIds = list.Records.map(x => x.Id);
    out.total = list.TotalItems;
"#;
    let Some((out, origin)) = run_page(&s, script).await else {
        return;
    };
    assert_eq!(out["createStatus"], 200, "{out}");
    assert_eq!(out["message"], "CoworkerSetting was successfully created.");
    let id = out["id"].as_i64().expect("an Id");
    assert!(
        out["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "X-Request-Id is readable by the page: {out}"
    );
    assert_eq!(out["getStatus"], 200);
    assert_eq!(out["name"], out["expectedName"]);
    assert_eq!(out["value"], "from the browser");
    assert_eq!(out["listStatus"], 200);
    assert_eq!(out["listIds"], serde_json::json!([id]));
    assert_eq!(out["total"], 1);

    // The server saw real preflights from the page's origin before the real requests.
    let journal = s
        .send(HttpRequest::new("GET", "/__admin/requests?limit=1000"))
        .await
        .json()
        .unwrap();
    let entries: Vec<&Value> = journal["Requests"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .collect();
    let preflight = entries
        .iter()
        .position(|e| {
            e["Method"] == "OPTIONS" && e["Path"] == BASE_PATH && e["Origin"] == origin.as_str()
        })
        .unwrap_or_else(|| panic!("no preflight from {origin}: {journal}"));
    let post = entries
        .iter()
        .position(|e| e["Method"] == "POST")
        .expect("the POST");
    assert!(preflight < post, "the preflight came first");
    assert_eq!(entries[preflight]["Status"], 204);
    assert_eq!(entries[post]["Status"], 200);
    assert_eq!(entries[post]["Origin"], origin.as_str());
    assert_eq!(entries[post]["Id"], out["requestId"]);
    let stored = s
        .call("GET", &format!("{BASE_PATH}/{id}"), ADMIN, None)
        .await;
    assert_eq!(stored.json().unwrap()["Name"], out["expectedName"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_delay_code_and_faults_reach_the_page_as_the_browser_sees_them() {
    let s = TestServer::start().await;
    let script = r#"
    const one = M + "/api/spaces/coworkersettings/87654303";
    let t = performance.now();
    let r = await fetch(one, {headers: {"Authorization": AUTH, "Prefer": "delay=400"}});
    out.delayMs = performance.now() - t;
    out.delayStatus = r.status;
    out.delayApplied = r.headers.get("Preference-Applied");
    out.delayName = (await r.json()).Name;
    t = performance.now();
    r = await fetch(one, {headers: {"Authorization": AUTH}});
    out.plainMs = performance.now() - t;
    r = await fetch(M + "/api/spaces/coworkersettings", {
      method: "POST",
      headers: {"Authorization": AUTH, "Content-Type": "application/json", "Prefer": "code=503"},
      body: JSON.stringify({CoworkerId: 1001, Name: "never.created"}),
    });
    out.codeStatus = r.status;
    out.codeRetryAfter = r.headers.get("Retry-After");
    out.codeBody = await r.json();
    r = await fetch(one, {headers: {"Authorization": AUTH, "Prefer": "delay=soon"}});
    out.badStatus = r.status;
    out.badProperty = (await r.json()).Errors[0].PropertyName;
    try {
      await fetch(one, {headers: {"Authorization": AUTH, "Prefer": "fault=reset"}});
      out.reset = "resolved";
    } catch (e) {
      out.reset = e.name;
    }
    r = await fetch(M + "/api/spaces/coworkersettings?size=50", {headers: {"Authorization": AUTH, "Prefer": "fault=truncated"}});
    out.truncatedStatus = r.status;
    try {
      await r.text();
      out.truncatedBody = "complete";
    } catch (e) {
      out.truncatedBody = e.name;
    }
"#;
    let Some((out, _)) = run_page(&s, script).await else {
        return;
    };
    assert_eq!(out["delayStatus"], 200, "{out}");
    assert_eq!(out["delayName"], "Portal.Theme");
    let delay = out["delayMs"].as_f64().unwrap();
    assert!(
        (400.0..5000.0).contains(&delay),
        "the page waited {delay}ms for delay=400"
    );
    assert!(out["plainMs"].as_f64().unwrap() < delay, "{out}");
    assert_eq!(out["delayApplied"], "delay=400");
    assert_eq!(out["codeStatus"], 503);
    assert_eq!(out["codeRetryAfter"], "1");
    assert_eq!(out["codeBody"]["Status"], 503);
    assert_eq!(out["codeBody"]["WasSuccessful"], false);
    assert_eq!(out["badStatus"], 400);
    assert_eq!(out["badProperty"], "Prefer");
    assert_eq!(
        out["reset"], "TypeError",
        "a reset is a network error to the page"
    );
    assert_eq!(out["truncatedStatus"], 200);
    assert_eq!(
        out["truncatedBody"], "TypeError",
        "a cut body fails to read"
    );
    assert_eq!(
        s.list("CoworkerSetting_Name=never.created").await["TotalItems"],
        0
    );
}
