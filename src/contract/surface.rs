//! Which of the optional endpoints a target offers. Create, list and get one are
//! the documented surface and always required; update, delete, batch get and
//! `POST /api/token` are optional. Each is probed once at the start of a `check`
//! or `fuzz` run, inside the run's namespace, and a 404, 405 or 501 (or, for batch,
//! an answer that is plainly the list endpoint ignoring `id=`) means "not offered".
//! Every check and fuzz operation that needs an optional endpoint asks here first.

use std::fmt;

use serde_json::json;

use super::session::Session;
use crate::client::HttpRequest;
use crate::resource::BASE_PATH;

/// An optional endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Update,
    Delete,
    Batch,
    Token,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Update, Op::Delete, Op::Batch, Op::Token];

    pub fn name(self) -> &'static str {
        match self {
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Batch => "batch",
            Op::Token => "token",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `--require update,delete,batch,token`.
pub fn parse_require(s: &str) -> Result<Vec<Op>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Op::ALL
                .into_iter()
                .find(|op| op.name() == p)
                .ok_or_else(|| {
                    format!("--require {p:?}: expected a list of update, delete, batch, token")
                })
        })
        .collect()
}

/// What the probes found: for each optional endpoint, `None` when offered, or the
/// reason it is not (`PUT answered 405`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surface {
    missing: [Option<String>; 4],
}

impl Surface {
    /// Every optional endpoint offered (what a replay assumes before probing).
    pub fn everything() -> Self {
        Surface::default()
    }

    pub fn offers(&self, op: Op) -> bool {
        self.missing[op.index()].is_none()
    }

    /// `update: not offered (PUT answered 405)`, or `None` when offered.
    pub fn why_not(&self, op: Op) -> Option<String> {
        self.missing[op.index()]
            .as_ref()
            .map(|why| format!("{op}: not offered ({why})"))
    }

    pub fn mark_missing(&mut self, op: Op, why: impl Into<String>) {
        self.missing[op.index()] = Some(why.into());
    }

    /// The one-line summary for reports: `update, delete, batch; not token`.
    pub fn summary(&self) -> String {
        let (on, off): (Vec<Op>, Vec<Op>) = Op::ALL.into_iter().partition(|op| self.offers(*op));
        let names = |v: &[Op]| v.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ");
        match (on.is_empty(), off.is_empty()) {
            (_, true) => format!("offers {}", names(&on)),
            (true, _) => format!("offers none of {}", names(&off)),
            _ => format!("offers {}; not {}", names(&on), names(&off)),
        }
    }
}

/// A status that says "this endpoint is not here".
fn absent(status: Option<u16>) -> bool {
    matches!(status, Some(404) | Some(405) | Some(501))
}

/// Probes the optional endpoints. With `writes` the update and delete probes act on a
/// record this run creates for the purpose (and delete removes it again); without,
/// only batch and the token endpoint are probed (neither writes anything).
pub async fn discover(s: &mut Session, customer: i64, prefix: &str, writes: bool) -> Surface {
    let mut surface = Surface::default();

    // A wrong password writes nothing and tells an absent token endpoint from one
    // that is there.
    let ex = s
        .send_raw(HttpRequest::new("POST", "/api/token").raw_body(
            "application/x-www-form-urlencoded",
            format!("grant_type=password&username={prefix}%40probe.invalid&password=wrong"),
        ))
        .await;
    if absent(ex.status()) {
        surface.mark_missing(
            Op::Token,
            format!("POST /api/token answered {}", status(&ex)),
        );
    }

    let probe_id = if writes {
        let body = json!({"CoworkerId": customer, "Name": format!("{prefix}-probe")});
        match s.create(&body).await {
            Some((_, Some(id))) => Some((id, body)),
            _ => None,
        }
    } else {
        None
    };

    let batch_id = probe_id.as_ref().map_or(super::checks::UNKNOWN_ID, |p| p.0);
    let ex = s.get(&format!("{BASE_PATH}/?id=[{batch_id}]")).await;
    if absent(ex.status()) {
        surface.mark_missing(
            Op::Batch,
            format!("GET {BASE_PATH}/?id=[…] answered {}", status(&ex)),
        );
    } else if ex.status() == Some(200) && ex.json().is_some_and(|v| v.get("Records").is_some()) {
        surface.mark_missing(
            Op::Batch,
            format!("GET {BASE_PATH}/?id=[…] answered the list envelope"),
        );
    }

    match probe_id {
        Some((id, mut body)) => {
            body["Id"] = json!(id);
            let ex = s.send(HttpRequest::new("PUT", BASE_PATH).json(&body)).await;
            if absent(ex.status()) {
                surface.mark_missing(Op::Update, format!("PUT answered {}", status(&ex)));
            }
            let ex = s
                .send(HttpRequest::new("DELETE", format!("{BASE_PATH}/{id}")))
                .await;
            if absent(ex.status()) {
                surface.mark_missing(Op::Delete, format!("DELETE answered {}", status(&ex)));
            } else if ex.status() == Some(200) {
                s.created.retain(|c| *c != id);
            }
        }
        None if writes => {
            // Without a record to aim at, a 405/501 still says "not here"; a 404
            // could be the unknown Id, so it counts as offered.
            let ex = s
                .send(HttpRequest::new("PUT", BASE_PATH).json(&json!({
                    "Id": super::checks::UNKNOWN_ID, "CoworkerId": customer, "Name": format!("{prefix}-probe")
                })))
                .await;
            if matches!(ex.status(), Some(405) | Some(501)) {
                surface.mark_missing(Op::Update, format!("PUT answered {}", status(&ex)));
            }
            let ex = s
                .send(HttpRequest::new(
                    "DELETE",
                    format!("{BASE_PATH}/{}", super::checks::UNKNOWN_ID),
                ))
                .await;
            if matches!(ex.status(), Some(405) | Some(501)) {
                surface.mark_missing(Op::Delete, format!("DELETE answered {}", status(&ex)));
            }
        }
        None => {}
    }
    surface
}

fn status(ex: &super::session::Exchange) -> String {
    ex.status()
        .map_or_else(|| "nothing".to_string(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_lists_parse_and_unknown_names_are_refused() {
        assert_eq!(
            parse_require("update, batch").unwrap(),
            vec![Op::Update, Op::Batch]
        );
        assert!(parse_require("update,patch").unwrap_err().contains("patch"));
    }

    #[test]
    fn a_missing_endpoint_says_why_in_one_line() {
        let mut s = Surface::everything();
        s.mark_missing(Op::Update, "PUT answered 405");
        assert_eq!(
            s.why_not(Op::Update).unwrap(),
            "update: not offered (PUT answered 405)"
        );
        assert!(s.offers(Op::Delete));
        assert_eq!(s.summary(), "offers delete, batch, token; not update");
    }
}
