//! Robustness over the whole run: every request answered, never a 5xx, the
//! documented answers (200, 400, 401) in JSON; and an unknown path, whose answer
//! the docs leave open beyond "not a success and not a crash".

use std::time::Instant;

use crate::client::HttpRequest;
use crate::contract::Runner;
use crate::report::Outcome;

/// An unknown path under the API: 404 with a JSON body is settled; a 2xx or 5xx is wrong.
pub async fn unknown_path(r: &mut Runner) {
    let started = Instant::now();
    let ex =
        r.s.send(HttpRequest::new(
            "GET",
            "/api/spaces/coworkersettings-no-such-thing/1",
        ))
        .await;
    let (mut hard, mut soft) = (Vec::new(), Vec::new());
    match ex.response() {
        None => hard.push(r.s.evidence(&ex, "no answer", "404")),
        Some(resp) if resp.status < 400 || resp.status >= 500 => {
            hard.push(r.s.evidence(&ex, format!("an unknown path got {}", resp.status), "404"))
        }
        Some(resp) => {
            if resp.status != 404 {
                soft.push(r.s.evidence(
                    &ex,
                    format!("an unknown path got {}", resp.status),
                    "404 (settled)",
                ));
            }
            if !resp.is_json_content_type() || resp.json().is_err() {
                soft.push(r.s.evidence(&ex, "the body is not JSON", "a JSON body (settled)"));
            }
        }
    }
    r.record("robustness.unknown-path", started, hard, Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any("robustness.unknown-path.settled", started, soft, outcome);
}

/// The path of the unknown-path probe: its answer is judged only by [`unknown_path`].
fn is_probe_of_unknown_path(path: &str) -> bool {
    path.starts_with("/api/spaces/coworkersettings-no-such-thing")
}

/// Checks over every exchange of the run: no 5xx, every request answered, JSON
/// bodies on the documented answers.
pub fn run_wide(r: &mut Runner) {
    let started = Instant::now();
    let mut fives = Vec::new();
    let mut not_json = Vec::new();
    let mut failed = Vec::new();
    for ex in &r.s.log {
        if is_probe_of_unknown_path(&ex.request.path) {
            continue;
        }
        match &ex.result {
            Ok(resp) if resp.status >= 500 => fives.push(r.s.evidence(
                ex,
                format!("the target answered {}", resp.status),
                "never a 5xx",
            )),
            Ok(resp) if !matches!(resp.status, 200 | 400 | 401) => {}
            Ok(resp) if !resp.body.is_empty() && !resp.is_json_content_type() => {
                not_json.push(r.s.evidence(
                    ex,
                    format!(
                        "Content-Type is {:?}",
                        resp.header("content-type").unwrap_or("absent")
                    ),
                    "application/json",
                ))
            }
            Ok(resp) if !resp.body.is_empty() && resp.json().is_err() => {
                not_json.push(r.s.evidence(ex, "the body is not JSON", "a JSON body"))
            }
            Err(e) => failed.push(r.s.evidence(ex, format!("no response: {e}"), "a response")),
            _ => {}
        }
    }
    r.record("robustness.no-5xx", started, fives, Outcome::Fail);
    r.record(
        "robustness.every-request-answered",
        started,
        failed,
        Outcome::Fail,
    );
    r.record("shape.content-type-json", started, not_json, Outcome::Fail);
}
