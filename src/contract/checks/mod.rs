//! The checks, one file per group: create and read-back, validation, lists, auth
//! and the token endpoint, the write lifecycle (batch, update, delete, state across
//! steps), and robustness. Each check sends requests through the session, states
//! what a correct answer looks like and records pass, fail, warn (a rule the docs
//! leave open, which the mock settles; see docs/rules.md) or skipped.
//!
//! This file holds what the groups share: the records a run creates, and the
//! judgement of a success envelope and of a 400 envelope.

pub mod auth;
pub mod create;
pub mod lifecycle;
pub mod list;
pub mod robustness;
pub mod validation;

use serde_json::Value;

use super::Runner;
use super::session::Exchange;
use crate::report::Evidence;
use crate::resource::BASE_PATH;
use crate::schemas::Schema;

/// An Id no sane target has handed out (the largest 32-bit integer but one).
pub const UNKNOWN_ID: i64 = 2_147_483_646;

/// A record this run created, as read back.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: i64,
    pub read: Value,
    /// When the create was answered, by this machine's clock (the target's may differ).
    pub at: std::time::Instant,
}

pub fn item(id: i64) -> String {
    format!("{BASE_PATH}/{id}")
}

pub fn ev(problem: impl Into<String>) -> Evidence {
    Evidence::new(problem)
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Checks a success envelope: status, schema and the exact Message.
pub fn action_problems(r: &Runner, ex: &Exchange, message: &str) -> Vec<Evidence> {
    match r.s.expect(ex, 200, Schema::Action) {
        Ok(v) if v["Message"] != message => {
            vec![r.s.evidence(ex, format!("Message is {}", v["Message"]), message)]
        }
        Ok(_) => vec![],
        Err(e) => vec![e],
    }
}

/// What is wrong with a 400 envelope: `hard` breaks the documented format (status,
/// schema, a named PropertyName, a Message made of `PropertyName: message` parts);
/// `soft` is an AttemptedValue other than what was sent, which the docs only show as
/// "any".
pub struct Judged {
    pub hard: Vec<Evidence>,
    pub soft: Vec<Evidence>,
}

/// Judges a 400 envelope that must name each of `expected` (with the value sent).
pub fn judge_400(r: &Runner, ex: &Exchange, expected: &[(&str, Value)]) -> Judged {
    let mut j = Judged {
        hard: vec![],
        soft: vec![],
    };
    let v = match r.s.expect(ex, 400, Schema::ValidationError) {
        Ok(v) => v,
        Err(e) => {
            j.hard.push(e);
            return j;
        }
    };
    let errors = v["Errors"].as_array().cloned().unwrap_or_default();
    for (prop, attempted) in expected {
        match errors.iter().find(|e| e["PropertyName"] == *prop) {
            None => j.hard.push(r.s.evidence(
                ex,
                format!("no error names {prop}"),
                format!("an error with PropertyName {prop:?}"),
            )),
            Some(e) if e["AttemptedValue"] != *attempted => j.soft.push(r.s.evidence(
                ex,
                format!(
                    "AttemptedValue for {prop} is {} instead of what was sent",
                    crate::client::truncate(&e["AttemptedValue"].to_string(), 100)
                ),
                format!(
                    "AttemptedValue {}",
                    crate::client::truncate(&attempted.to_string(), 100)
                ),
            )),
            _ => {}
        }
    }
    let message = v["Message"].as_str().unwrap_or_default();
    for e in &errors {
        let part = format!(
            "{}: {}",
            e["PropertyName"].as_str().unwrap_or_default(),
            e["Message"].as_str().unwrap_or_default()
        );
        if !message.contains(&part) {
            j.hard.push(r.s.evidence(
                ex,
                format!(
                    "Message does not contain the part {:?}",
                    crate::client::truncate(&part, 100)
                ),
                "Message made of `PropertyName: message` parts",
            ));
        }
    }
    j
}

/// Records a 400 judgement as two results: `name` (documented format) and
/// `name.attempted-value` (settled).
pub fn record_400(r: &mut Runner, name: &str, started: std::time::Instant, j: Judged) {
    r.record(name, started, j.hard, crate::report::Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any(&format!("{name}.attempted-value"), started, j.soft, outcome);
}
