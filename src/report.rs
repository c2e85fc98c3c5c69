//! Results of a `check` or `fuzz` run and the three ways they are written: a human
//! summary (one line per check, evidence under each failure), JUnit XML and JSON.
//! Both the contract runner and the fuzzer report through this module.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Warn => "warn",
            Outcome::Skipped => "skipped",
        }
    }
}

/// What a failure (or warning) rests on: the request, what came back, what was expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// What went wrong, in one sentence.
    pub problem: String,
    /// `METHOD /path?query`.
    pub request: Option<String>,
    pub status: Option<u16>,
    /// The relevant part of the response body.
    pub response: Option<String>,
    pub expected: Option<String>,
    /// A curl command (or a numbered list of them) that reproduces it.
    pub reproduce: Option<String>,
}

impl Evidence {
    pub fn new(problem: impl Into<String>) -> Self {
        Evidence {
            problem: problem.into(),
            request: None,
            status: None,
            response: None,
            expected: None,
            reproduce: None,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// A stable dotted name, e.g. `list.paging.arithmetic`.
    pub name: String,
    pub outcome: Outcome,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// Why it was skipped or warned, or a one-line summary of a failure.
    pub message: Option<String>,
    pub evidence: Vec<Evidence>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The exit status of `check` and `fuzz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// 0: every check passed.
    Passed,
    /// 1: at least one check failed.
    Failed,
    /// 2: nothing could be tested (unreachable, refused, nothing ran).
    Untested,
}

impl Verdict {
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed => 1,
            Verdict::Untested => 2,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `check` or `fuzz`.
    pub tool: String,
    pub target: String,
    pub results: Vec<CheckResult>,
    /// Set when the run could not test at all, with the reason.
    pub untested_reason: Option<String>,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// Extra facts worth keeping (seed, cases, requests sent).
    pub facts: Vec<(String, String)>,
}

impl Report {
    pub fn new(tool: &str, target: &str) -> Self {
        Report {
            tool: tool.to_string(),
            target: target.to_string(),
            results: vec![],
            untested_reason: None,
            duration: Duration::ZERO,
            facts: vec![],
        }
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }

    pub fn verdict(&self) -> Verdict {
        if self.untested_reason.is_some() {
            Verdict::Untested
        } else if self.count(Outcome::Fail) > 0 {
            Verdict::Failed
        } else if self.count(Outcome::Pass) == 0 {
            Verdict::Untested
        } else {
            Verdict::Passed
        }
    }

    /// The one line that ends every run.
    pub fn summary_line(&self) -> String {
        let counts = format!(
            "{} passed, {} failed, {} warnings, {} skipped in {:.2}s",
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Warn),
            self.count(Outcome::Skipped),
            self.duration.as_secs_f64()
        );
        match self.verdict() {
            Verdict::Passed => format!("PASSED (exit 0): {counts}"),
            Verdict::Failed => format!("FAILED (exit 1): {counts}"),
            Verdict::Untested => format!(
                "NOT TESTED (exit 2): {}",
                self.untested_reason
                    .as_deref()
                    .unwrap_or("no check could run against the target")
            ),
        }
    }

    /// The human report: one line per check, evidence under failures and warnings.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&format!("{:<7} {}", r.outcome.label(), r.name));
            if let Some(m) = &r.message {
                out.push_str(&format!(" — {m}"));
            }
            out.push('\n');
            if matches!(r.outcome, Outcome::Fail | Outcome::Warn) {
                for e in &r.evidence {
                    out.push_str(&indent(&evidence_text(e), "        "));
                }
            }
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a report serialises");
        v["verdict"] = serde_json::json!(format!("{:?}", self.verdict()).to_lowercase());
        v["exit_code"] = serde_json::json!(self.verdict().exit_code());
        v["facts"] = self
            .facts
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::to_string_pretty(&v).expect("a report serialises")
    }

    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(format!("nexudus-mock {} {}", self.tool, self.target));
        if let Some(reason) = &self.untested_reason {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(reason.clone());
            suite.add_test_case(TestCase::new("target.reachable", status));
        }
        for r in &self.results {
            let mut status = match r.outcome {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                // JUnit has no warning; a warning is a pass whose message is kept.
                Outcome::Warn => TestCaseStatus::success(),
                Outcome::Skipped => TestCaseStatus::skipped(),
            };
            if r.outcome != Outcome::Pass && r.outcome != Outcome::Warn {
                if let Some(m) = &r.message {
                    status.set_message(m.clone());
                }
                let details: Vec<String> = r.evidence.iter().map(evidence_text).collect();
                if !details.is_empty() {
                    status.set_description(details.join("\n"));
                }
            }
            let mut case = TestCase::new(r.name.clone(), status);
            case.set_classname(format!("nexudus-mock.{}", self.tool));
            case.set_time(r.duration);
            if r.outcome == Outcome::Warn {
                let details: Vec<String> = r.evidence.iter().map(evidence_text).collect();
                case.set_system_out(format!(
                    "warning: {}\n{}",
                    r.message.as_deref().unwrap_or(""),
                    details.join("\n")
                ));
            }
            suite.add_test_case(case);
        }
        suite.set_time(self.duration);
        let mut report = quick_junit::Report::new(format!("nexudus-mock {}", self.tool));
        report.add_test_suite(suite);
        report.to_string().expect("JUnit serialises")
    }

    /// Writes the JUnit and JSON files asked for.
    pub fn write_files(&self, junit: Option<&Path>, json: Option<&Path>) -> std::io::Result<()> {
        if let Some(p) = junit {
            std::fs::write(p, self.to_junit())?;
        }
        if let Some(p) = json {
            std::fs::write(p, self.to_json())?;
        }
        Ok(())
    }
}

fn evidence_text(e: &Evidence) -> String {
    let mut s = format!("problem:  {}\n", e.problem);
    if let Some(r) = &e.request {
        s.push_str(&format!("request:  {r}\n"));
    }
    if let Some(st) = e.status {
        s.push_str(&format!("status:   {st}\n"));
    }
    if let Some(r) = &e.response {
        s.push_str(&format!("response: {r}\n"));
    }
    if let Some(x) = &e.expected {
        s.push_str(&format!("expected: {x}\n"));
    }
    if let Some(c) = &e.reproduce {
        s.push_str(&format!("reproduce:\n{}", indent(c, "  ")));
    }
    s
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, outcome: Outcome) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome,
            duration: Duration::from_millis(3),
            message: Some("why".into()),
            evidence: vec![Evidence::new("broken")],
        }
    }

    #[test]
    fn the_verdict_follows_the_worst_outcome() {
        let mut r = Report::new("check", "http://x");
        assert_eq!(r.verdict(), Verdict::Untested);
        r.results.push(result("a", Outcome::Pass));
        r.results.push(result("b", Outcome::Warn));
        assert_eq!(r.verdict(), Verdict::Passed);
        r.results.push(result("c", Outcome::Fail));
        assert_eq!(r.verdict(), Verdict::Failed);
        assert!(
            r.to_human()
                .contains("FAIL    c — why\n        problem:  broken")
        );
        assert!(r.to_junit().contains("<failure"));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["exit_code"], 1);
        r.untested_reason = Some("unreachable".into());
        assert_eq!(r.verdict().exit_code(), 2);
    }
}
