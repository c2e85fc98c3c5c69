//! The contract runner (`nexudus-mock check <URL>`): proves any CoworkerSettings
//! implementation against the schemas in `schemas/` and the documented semantics,
//! working only inside its own namespace (a fresh CoworkerId pair and Name prefix),
//! cleaning up what it created, and reporting through `report`.

pub mod checks;
pub mod props;
pub mod session;
pub mod surface;

use std::time::{Duration, Instant};

use crate::report::{CheckResult, Evidence, Outcome, Report};
pub use session::{Credential, MAX_CREATES, Session};
pub use surface::{Op, Surface};

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
    /// Fail, rather than warn, where the target differs from a choice the docs leave open.
    pub strict: bool,
    pub show_secrets: bool,
    /// Optional endpoints whose absence is a failure rather than a skip.
    pub require: Vec<Op>,
}

/// This run's namespace on the target.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The main customer, and a second one for "same Name, other customer".
    pub customer: i64,
    pub other_customer: i64,
    /// Where the start-up probe of optional endpoints writes.
    pub probe_customer: i64,
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
            probe_customer: customer + 2,
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
    /// Which optional endpoints the target offers (probed at the start).
    pub surface: Surface,
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

    /// Records a check only when it found something (for the settled halves of
    /// checks, which would otherwise double every pass line).
    pub fn record_if_any(
        &mut self,
        name: &str,
        started: Instant,
        problems: Vec<Evidence>,
        outcome: Outcome,
    ) {
        if !problems.is_empty() {
            self.record(name, started, problems, outcome);
        }
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

    /// The outcome for differing from a choice the docs leave open (docs/rules.md
    /// marks each "settled here"): a warning, or a failure under `--strict`.
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
    let mut r = Runner {
        s,
        cfg,
        ns,
        report,
        surface: Surface::everything(),
    };

    if let Err(reason) = checks::create::reachable(&mut r).await {
        r.report.untested_reason = Some(reason);
    } else {
        discover(&mut r).await;
        checks::create::get_one(&mut r).await;
        checks::list::store_ranges(&mut r).await;
        if r.cfg.read_only {
            read_only_checks(&mut r).await;
        } else {
            checks::validation::bodies(&mut r).await;
            let created = checks::create::create(&mut r).await;
            checks::list::paging(&mut r, &created).await;
            let scope = format!("&CoworkerSetting_Coworker={}", r.ns.customer);
            checks::list::order(&mut r, &scope, 100).await;
            checks::list::filters(&mut r, &created).await;
            checks::list::ranges(&mut r, &created, "list.filter.range").await;
            checks::validation::list_parameters(&mut r).await;
            checks::lifecycle::batch(&mut r, &created).await;
            checks::auth::unauthenticated(&mut r, created.first().map(|c| c.id)).await;
            checks::create::uniqueness(&mut r).await;
            checks::lifecycle::lifecycle(&mut r, &created).await;
            checks::auth::read_only_user(&mut r).await;
        }
        checks::auth::token(&mut r).await;
        checks::robustness::unknown_path(&mut r).await;
        checks::robustness::run_wide(&mut r);
        cleanup(&mut r).await;
    }
    r.report
        .facts
        .push(("requests".into(), r.s.log.len().to_string()));
    r.report.facts.push(("auth".into(), r.s.auth_used.clone()));
    r.report.duration = started.elapsed();
    r.report
}

/// Probes the optional endpoints and reports each that is missing: one line that
/// says why, or a failure when `--require` names it.
async fn discover(r: &mut Runner) {
    // The probe record lives in a customer of its own: a target without delete
    // keeps it, and the list checks count the run's customer exactly.
    let (customer, prefix, writes) = (r.ns.probe_customer, r.ns.prefix.clone(), !r.cfg.read_only);
    r.surface = surface::discover(&mut r.s, customer, &prefix, writes).await;
    r.report.facts.push(("surface".into(), r.surface.summary()));
    for op in Op::ALL {
        let Some(why) = r.surface.why_not(op) else {
            continue;
        };
        let name = format!("surface.{op}");
        if r.cfg.require.contains(&op) {
            let mut e = Evidence::new(format!("{why}, and --require {op} was given"));
            e.expected = Some(format!("the target offers {op}"));
            r.record(&name, Instant::now(), vec![e], Outcome::Fail);
        } else {
            r.skip(&name, &why);
        }
    }
}

/// Read-only mode: paging arithmetic and order on what is there (within the
/// customer given by --coworker-id when there is one), and the auth checks.
async fn read_only_checks(r: &mut Runner) {
    for name in [
        "validation",
        "create",
        "uniqueness",
        "update",
        "delete",
        "batch",
    ] {
        r.skip(name, "--read-only: this check writes");
    }
    let scope = r
        .cfg
        .coworker_id
        .map(|c| format!("&CoworkerSetting_Coworker={c}"))
        .unwrap_or_default();
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut first_id = None;
    for (page, size) in [(1, 5), (2, 5), (1000, 5)] {
        let ex = r.s.list(&format!("page={page}&size={size}{scope}")).await;
        match r.s.expect(&ex, 200, crate::schemas::Schema::List) {
            Err(e) => problems.push(e),
            Ok(v) => {
                first_id = first_id.or_else(|| props::ids(&v).first().copied());
                for p in props::paging_problems(&v, page, size) {
                    problems.push(r.s.evidence(&ex, p, "paging fields that agree"));
                }
            }
        }
    }
    r.record("list.paging.arithmetic", started, problems, Outcome::Fail);
    checks::list::order(r, &scope, 50).await;
    checks::auth::unauthenticated(r, first_id).await;
    checks::auth::read_only_user(r).await;
}

/// Deletes what the run created (when the target supports delete).
async fn cleanup(r: &mut Runner) {
    if !r.surface.offers(Op::Delete) {
        if !r.s.created.is_empty() {
            let left = std::mem::take(&mut r.s.created);
            r.report.facts.push((
                "left_behind".into(),
                format!("{left:?} (the target does not offer delete)"),
            ));
        }
        return;
    }
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
