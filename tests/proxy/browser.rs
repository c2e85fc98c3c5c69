//! Headless Chromium through the proxy: a page on another origin creates, reads and
//! lists with preflighted fetches exactly as it would against `serve`, and its script
//! reads `X-Contract-Violations` (exposed by CORS) on each answer. The upstream is
//! the mock with a wrong `TotalPages` on lists, so only the list is flagged.

use serde_json::json;

use super::{TestProxy, broken_targets, start_mock};
use crate::frontend::browser::{dump_dom, page, result_in, serve_page};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_works_through_the_proxy_and_reads_the_violation_count() {
    let (_, layer, _, _) = broken_targets()
        .into_iter()
        .find(|row| row.0 == "a wrong TotalPages")
        .unwrap();
    let mock = start_mock(Some(layer)).await;
    let p = TestProxy::start(&mock.base_url(), |_| {}).await;
    let script = r#"
    const V = "X-Contract-Violations";
    let r = await fetch(M + "/api/spaces/coworkersettings", {
      method: "POST",
      headers: {"Authorization": AUTH, "Content-Type": "application/json"},
      body: JSON.stringify({CoworkerId: 434343, Name: "browser.proxied", Value: "through the proxy"}),
    });
    out.createStatus = r.status;
    out.createViolations = r.headers.get(V);
    out.id = (await r.json()).Value.Id;
    r = await fetch(M + "/api/spaces/coworkersettings/" + out.id, {headers: {"Authorization": AUTH}});
    out.getStatus = r.status;
    out.getViolations = r.headers.get(V);
    out.value = (await r.json()).Value;
    r = await fetch(M + "/api/spaces/coworkersettings?CoworkerSetting_Coworker=434343", {headers: {"Authorization": AUTH}});
    out.listStatus = r.status;
    out.listViolations = r.headers.get(V);
    out.listRequestId = r.headers.get("X-Request-Id");
    out.listIds = (await r.json()).Records.map(x => x.Id);
    r = await fetch(M + "/__admin/violations");
    const found = await r.json();
    out.reported = found.Violations.map(v => [v.Id, v.Violations[0].Rule]);
"#;
    let origin = serve_page(page(&p.server.base_url(), script)).await;
    let Some(dom) = dump_dom(&format!("http://{}/", origin.addr)).await else {
        return;
    };
    let out = result_in(&dom);
    assert!(
        out.get("error").is_none(),
        "the page's script failed: {out}"
    );
    assert_eq!(out["createStatus"], 200, "{out}");
    assert_eq!(out["createViolations"], "0", "{out}");
    assert_eq!(out["getStatus"], 200);
    assert_eq!(out["getViolations"], "0");
    assert_eq!(out["value"], "through the proxy");
    assert_eq!(out["listStatus"], 200);
    assert_eq!(
        out["listViolations"], "1",
        "the script sees the list flagged: {out}"
    );
    assert_eq!(out["listIds"], json!([out["id"]]));
    assert_eq!(
        out["reported"],
        json!([[out["listRequestId"], "list.paging"]]),
        "the page finds its own request among the violations"
    );
    // The page really came from another origin, and its preflights were answered.
    let journal = p
        .send(nexudus_mock::client::HttpRequest::new(
            "GET",
            "/__admin/requests?method=OPTIONS",
        ))
        .await
        .json()
        .unwrap();
    let origin_url = format!("http://{}", origin.addr);
    assert!(
        journal["Requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["Origin"] == origin_url.as_str() && e["Status"] == 204),
        "{journal}"
    );
}
