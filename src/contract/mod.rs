//! The contract runner (`nexudus-mock check <URL>`): proves any CoworkerSettings
//! implementation against the schemas in `schemas/` and the documented semantics,
//! working only inside its own namespace (a fresh CoworkerId pair and Name prefix),
//! cleaning up what it created, and reporting through `report`.

mod checks;
pub mod props;
pub mod session;

use std::time::{Duration, Instant};

use crate::report::{CheckResult, Evidence, Outcome, Report};
pub use session::{Credential, MAX_CREATES, Session};

/// A checked `check` configuration.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The target and how to reach it (TLS, proxy, extra headers, timeout).
    pub client: crate::client::ClientConfig,
    pub credential: Credential,
    /// A second, read-only user whose writes must be refused (optional).
    pub read_only_credential: Option<Credential>,
    /// The customer to work under; a random one when absent.
    pub coworker_id: Option<i64>,
    pub rate: Option<f64>,
    pub read_only: bool,
    pub strict: bool,
    pub show_secrets: bool,
}

/// This run's namespace on the target.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The main customer, and a second one for "same Name, other customer".
    pub customer: i64,
    pub other_customer: i64,
    /// Every Name this run writes starts with it.
    pub prefix: String,
}

impl Namespace {
    fn new(coworker_id: Option<i64>) -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let customer = coworker_id.unwrap_or_else(|| {
            900_000_000 + (u32::from_str_radix(&tag[..6], 16).unwrap_or(0) as i64)
        });
        Namespace {
            customer,
            other_customer: customer + 1,
            prefix: format!("ctr{}", &tag[..8]),
        }
    }
}

/// Runs the checks in order and collects their results.
pub struct Runner {
    pub s: Session,
    pub cfg: CheckConfig,
    pub ns: Namespace,
    pub report: Report,
}

impl Runner {
    /// Records a check: pass without problems, else `outcome` with the evidence.
    pub fn record(
        &mut self,
        name: &str,
        started: Instant,
        problems: Vec<Evidence>,
        outcome: Outcome,
    ) {
        let (outcome, message) = match problems.first() {
            None => (Outcome::Pass, None),
            Some(first) => (outcome, Some(first.problem.clone())),
        };
        self.report.results.push(CheckResult {
            name: name.to_string(),
            outcome,
            duration: started.elapsed(),
            message,
            evidence: problems.into_iter().take(5).collect(),
        });
    }

    pub fn skip(&mut self, name: &str, why: &str) {
        self.report.results.push(CheckResult {
            name: name.to_string(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
            message: Some(why.to_string()),
            evidence: vec![],
        });
    }

    /// The outcome for breaking a rule SPEC.md marks "settled here".
    pub fn settled(&self) -> Outcome {
        if self.cfg.strict {
            Outcome::Fail
        } else {
            Outcome::Warn
        }
    }
}

/// Runs every check against the target and returns the report.
pub async fn run(cfg: CheckConfig) -> Report {
    let started = Instant::now();
    let mut report = Report::new("check", cfg.client.base_url());
    let ns = Namespace::new(cfg.coworker_id);
    report
        .facts
        .push(("customer".into(), ns.customer.to_string()));
    report.facts.push(("name_prefix".into(), ns.prefix.clone()));
    let mut s = Session::new(
        &cfg.client,
        cfg.credential.clone(),
        cfg.rate,
        cfg.show_secrets,
    );
    s.sign_in().await;
    let mut r = Runner { s, cfg, ns, report };

    if let Err(reason) = checks::reachable(&mut r).await {
        r.report.untested_reason = Some(reason);
    } else {
        checks::get_one(&mut r).await;
        if r.cfg.read_only {
            checks::list_read_only(&mut r).await;
            for name in [
                "validation",
                "create",
                "uniqueness",
                "update",
                "delete",
                "batch",
                "auth.read-only-user",
            ] {
                r.skip(name, "--read-only: this check writes");
            }
        } else {
            checks::validation(&mut r).await;
            let created = checks::create(&mut r).await;
            checks::uniqueness(&mut r).await;
            checks::list(&mut r, &created).await;
            checks::batch(&mut r, &created).await;
            checks::update(&mut r, &created).await;
            checks::delete(&mut r).await;
            checks::read_only_user(&mut r).await;
        }
        run_wide(&mut r);
        cleanup(&mut r).await;
    }
    r.report
        .facts
        .push(("requests".into(), r.s.log.len().to_string()));
    r.report.facts.push(("auth".into(), r.s.auth_used.clone()));
    r.report.duration = started.elapsed();
    r.report
}

/// Checks over every exchange of the run: no 5xx, JSON content type, no dead air.
fn run_wide(r: &mut Runner) {
    let started = Instant::now();
    let mut fives = Vec::new();
    let mut not_json = Vec::new();
    let mut failed = Vec::new();
    for ex in &r.s.log {
        match &ex.result {
            Ok(resp) if resp.status >= 500 => fives.push(r.s.evidence(
                ex,
                format!("the target answered {}", resp.status),
                "never a 5xx",
            )),
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

/// Deletes what the run created (when the target supports delete).
async fn cleanup(r: &mut Runner) {
    let ids = std::mem::take(&mut r.s.created);
    let mut left = Vec::new();
    for id in ids {
        let ex =
            r.s.send(crate::client::HttpRequest::new(
                "DELETE",
                format!("{}/{id}", crate::resource::BASE_PATH),
            ))
            .await;
        if !matches!(ex.status(), Some(200) | Some(404)) {
            left.push(id);
        }
    }
    if !left.is_empty() {
        r.report
            .facts
            .push(("left_behind".into(), format!("{left:?}")));
    }
}
