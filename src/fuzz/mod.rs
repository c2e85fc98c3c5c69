//! The fuzzer (`nexudus-mock fuzz <URL>`): proptest generates step sequences,
//! each case runs them against the target in a fresh namespace and checks every
//! answer against the reference model; a failure is shrunk by proptest to the
//! smallest sequence that still fails, printed as numbered curl commands and written
//! as a replay file that `--replay` runs again.

pub mod model;
pub mod strategies;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::{Deserialize, Serialize};

use crate::contract::session::{Credential, Session};
use crate::contract::surface::{self, Op, Surface};
use crate::report::{CheckResult, Evidence, Outcome, Report};
use model::Model;
use strategies::Step;

/// A checked `fuzz` configuration.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// The target and how to reach it (TLS, proxy, extra headers, timeout).
    pub client: crate::client::ClientConfig,
    pub credential: Credential,
    pub cases: u32,
    pub max_time: Duration,
    pub seed: u64,
    pub coworker_id: Option<i64>,
    pub rate: Option<f64>,
    /// Longest generated sequence.
    pub max_steps: usize,
    /// Where a failure's replay file goes.
    pub replay_out: PathBuf,
    pub show_secrets: bool,
    /// Fail, rather than warn, where the target differs from a settled choice.
    pub strict: bool,
    /// Optional endpoints whose absence fails the run.
    pub require: Vec<crate::contract::Op>,
}

/// A failing sequence, as written to and read from a replay file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub seed: u64,
    pub base_url: String,
    pub failure: String,
    pub steps: Vec<Step>,
}

/// What one executed sequence did.
struct Outcome1 {
    /// The step that failed and why.
    failure: Option<(usize, String)>,
    /// The curl commands of the steps sent, in order.
    curls: Vec<String>,
}

/// Shared by the proptest closure: the session, the namespace counter, progress.
struct Driver {
    session: Session,
    handle: tokio::runtime::Handle,
    base_customer: i64,
    prefix: String,
    next_case: AtomicU64,
    started: Instant,
    /// The optional endpoints the target offers; steps that need another are left out.
    surface: Surface,
    /// Differences from settled choices seen so far (or failures under --strict).
    judge: model::Judge,
}

impl Driver {
    /// A session to the target, checked to answer, and a fresh namespace.
    async fn connect(cfg: &FuzzConfig, started: Instant) -> Result<Self, String> {
        let mut session = Session::new(
            &cfg.client,
            cfg.credential.clone(),
            cfg.rate,
            cfg.show_secrets,
        );
        session.sign_in().await;
        preflight(&mut session).await?;
        let (base_customer, prefix) = namespace(cfg);
        // The probe works in a customer of its own, below the cases' ones.
        let surface = surface::discover(
            &mut session,
            base_customer - 1,
            &format!("{prefix}probe"),
            true,
        )
        .await;
        for id in std::mem::take(&mut session.created) {
            session
                .send(crate::client::HttpRequest::new(
                    "DELETE",
                    format!("{}/{id}", crate::resource::BASE_PATH),
                ))
                .await;
        }
        Ok(Driver {
            session,
            handle: tokio::runtime::Handle::current(),
            base_customer,
            prefix,
            next_case: AtomicU64::new(0),
            started,
            surface,
            judge: model::Judge::new(cfg.strict),
        })
    }

    /// Runs one sequence in a fresh namespace, then deletes what it created.
    fn execute(&mut self, steps: &[Step]) -> Outcome1 {
        let n = self.next_case.fetch_add(1, Ordering::Relaxed) as i64;
        let base = self.base_customer + n * 3;
        let mut m = Model::new([base, base + 1, base + 2], self.prefix.clone());
        let handle = self.handle.clone();
        let s = &mut self.session;
        let surface = &self.surface;
        let judge = &mut self.judge;
        handle.block_on(async {
            let mut curls = Vec::new();
            let mut failure = None;
            for (i, step) in steps.iter().enumerate() {
                if needs(step).is_some_and(|op| !surface.offers(op)) {
                    continue;
                }
                let req = model::request(step, &m);
                let ex = s.send(req).await;
                curls.push(ex.request.clone());
                // An invalid body a target wrongly accepts still has to be cleaned up.
                s.track_created(&ex);
                if let Err(why) = model::check(step, &ex, &mut m, s, judge) {
                    failure = Some((i, why));
                    break;
                }
            }
            model::cleanup(&m, s).await;
            for id in std::mem::take(&mut s.created) {
                s.send(crate::client::HttpRequest::new(
                    "DELETE",
                    format!("{}/{id}", crate::resource::BASE_PATH),
                ))
                .await;
            }
            let curls = curls.iter().map(|r| s.curl(r)).collect();
            Outcome1 { failure, curls }
        })
    }
}

/// The optional endpoint a step needs, if any.
fn needs(step: &Step) -> Option<Op> {
    match step {
        Step::Update { .. } => Some(Op::Update),
        Step::Delete { .. } => Some(Op::Delete),
        Step::Batch { .. } => Some(Op::Batch),
        _ => None,
    }
}

/// Reports the surface (a skipped line per missing endpoint, a failure when
/// required) and the settled differences seen, as one warning.
fn report_surface_and_warnings(report: &mut Report, cfg: &FuzzConfig, driver: &Driver) {
    report
        .facts
        .push(("surface".into(), driver.surface.summary()));
    for op in Op::ALL {
        let Some(why) = driver.surface.why_not(op) else {
            continue;
        };
        let required = cfg.require.contains(&op);
        report.results.push(CheckResult {
            name: format!("surface.{op}"),
            outcome: if required {
                Outcome::Fail
            } else {
                Outcome::Skipped
            },
            duration: Duration::ZERO,
            message: Some(if required {
                format!("{why}, and --require {op} was given")
            } else if op == Op::Token {
                why
            } else {
                format!("{why}: its steps are left out")
            }),
            evidence: vec![],
        });
    }
    let mut seen: Vec<&String> = Vec::new();
    for w in &driver.judge.warnings {
        if !seen.contains(&w) {
            seen.push(w);
        }
    }
    if !seen.is_empty() {
        report.results.push(CheckResult {
            name: "fuzz.settled".into(),
            outcome: Outcome::Warn,
            duration: Duration::ZERO,
            message: Some(format!(
                "{} difference(s) from choices the docs leave open (--strict fails on them); first: {}",
                seen.len(),
                seen[0]
            )),
            evidence: seen.iter().take(5).map(|w| Evidence::new(w.as_str())).collect(),
        });
    }
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_le_bytes(),
        );
    }
    b
}

fn namespace(cfg: &FuzzConfig) -> (i64, String) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let base = cfg.coworker_id.unwrap_or_else(|| {
        800_000_000 + (u32::from_str_radix(&tag[..5], 16).unwrap_or(0) as i64) * 64
    });
    (base, format!("fz{}-", &tag[..6]))
}

/// The curl list of a sequence, numbered.
fn numbered(curls: &[String]) -> String {
    curls
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {c}\n", i + 1))
        .collect()
}

/// Checks the target answers at all before fuzzing, so an unreachable target or
/// refused credentials end as "not tested" rather than as a failure.
async fn preflight(s: &mut Session) -> Result<(), String> {
    let ex = s.list("page=1&size=1").await;
    match &ex.result {
        Err(e) => Err(format!("the target could not be reached: {e}")),
        Ok(r) if r.status == 401 || r.status == 403 => Err(format!(
            "the target refused the credentials (HTTP {})",
            r.status
        )),
        Ok(_) => Ok(()),
    }
}

/// Fuzzes the target and reports; a failure is shrunk and written to `replay_out`.
pub async fn run(cfg: FuzzConfig) -> Report {
    let started = Instant::now();
    let mut report = Report::new("fuzz", cfg.client.base_url());
    report.facts.push(("seed".into(), cfg.seed.to_string()));
    eprintln!(
        "fuzz: seed {} (pass --seed {} to repeat this run)",
        cfg.seed, cfg.seed
    );
    let driver = match Driver::connect(&cfg, started).await {
        Ok(d) => d,
        Err(reason) => {
            report.untested_reason = Some(reason);
            report.duration = started.elapsed();
            return report;
        }
    };
    let cfg2 = cfg.clone();
    let (result, cases_run, driver) =
        tokio::task::spawn_blocking(move || fuzz_blocking(driver, &cfg2))
            .await
            .expect("the fuzzing thread panicked");
    let requests = driver.session.log.len();
    report
        .facts
        .push(("auth".into(), driver.session.auth_used.clone()));
    report.facts.push(("cases".into(), cases_run.to_string()));
    report.facts.push(("requests".into(), requests.to_string()));
    report.facts.push((
        "requests_per_second".into(),
        format!("{:.0}", requests as f64 / started.elapsed().as_secs_f64()),
    ));
    // Run the minimal sequence once more, to show its requests and write its replay.
    let (result, driver) = match result {
        Ok(()) => (Ok(()), driver),
        Err(steps) => {
            let minimal = steps.clone();
            let (outcome, driver) = tokio::task::spawn_blocking(move || {
                let mut driver = driver;
                (driver.execute(&minimal), driver)
            })
            .await
            .expect("the fuzzing thread panicked");
            (Err((steps, outcome)), driver)
        }
    };
    report_surface_and_warnings(&mut report, &cfg, &driver);
    match result {
        Ok(()) => report.results.push(CheckResult {
            name: "fuzz.stateful".into(),
            outcome: Outcome::Pass,
            duration: started.elapsed(),
            message: Some(format!(
                "{cases_run} cases, {requests} requests, no failure"
            )),
            evidence: vec![],
        }),
        Err((steps, outcome)) => {
            let (at, why) = outcome.failure.clone().unwrap_or((
                steps.len(),
                "failed while shrinking only (flaky target?)".into(),
            ));
            let replay = Replay {
                seed: cfg.seed,
                base_url: cfg.client.base_url().to_string(),
                failure: why.clone(),
                steps: steps.clone(),
            };
            let written = write_replay(&cfg.replay_out, &replay);
            let mut e = Evidence::new(format!("step {} of {}: {why}", at + 1, steps.len()));
            e.request = outcome.curls.get(at).cloned();
            e.expected = Some("every answer as the reference model predicts".into());
            e.reproduce = Some(format!(
                "{}replay: nexudus-mock fuzz {} --replay {}{}",
                numbered(&outcome.curls),
                cfg.client.base_url(),
                cfg.replay_out.display(),
                written
                    .err()
                    .map(|e| format!(" (could not write it: {e})"))
                    .unwrap_or_default()
            ));
            report
                .facts
                .push(("shrunk_requests".into(), outcome.curls.len().to_string()));
            report
                .facts
                .push(("replay_file".into(), cfg.replay_out.display().to_string()));
            report.results.push(CheckResult {
                name: "fuzz.stateful".into(),
                outcome: Outcome::Fail,
                duration: started.elapsed(),
                message: Some(format!("shrunk to {} requests: {why}", outcome.curls.len())),
                evidence: vec![e],
            });
        }
    }
    report.duration = started.elapsed();
    report
}

fn write_replay(path: &Path, replay: &Replay) -> std::io::Result<()> {
    std::fs::write(
        path,
        serde_json::to_vec_pretty(replay).expect("a replay serialises"),
    )
}

/// The proptest loop, on a blocking thread (each case blocks on its requests).
fn fuzz_blocking(driver: Driver, cfg: &FuzzConfig) -> (Result<(), Vec<Step>>, u64, Driver) {
    let config = Config {
        cases: cfg.cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(cfg.seed)),
    );
    let driver = Arc::new(Mutex::new(driver));
    let shrinking = AtomicU64::new(0);
    let cases = AtomicU64::new(0);
    let terminal = std::io::stderr().is_terminal();
    let last_line = Mutex::new(Instant::now());
    let max_time = cfg.max_time;
    let d = driver.clone();
    let result = runner.run(&strategies::arb_steps(cfg.max_steps), |steps| {
        let mut d = d.lock().unwrap_or_else(|e| e.into_inner());
        let failing = shrinking.load(Ordering::Relaxed) > 0;
        // Past --max-time, the remaining cases pass without running (shrinking goes on).
        if !failing && d.started.elapsed() > max_time {
            return Ok(());
        }
        let done = cases.fetch_add(1, Ordering::Relaxed) + 1;
        let outcome = d.execute(&steps);
        let elapsed = d.started.elapsed().as_secs_f64().max(0.001);
        let rps = d.session.log.len() as f64 / elapsed;
        if terminal {
            eprint!(
                "\rfuzz: {done} cases, {rps:.0} requests/s, {} failing sequence(s) being shrunk   ",
                shrinking.load(Ordering::Relaxed)
            );
            let _ = std::io::stderr().flush();
        } else {
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() > Duration::from_secs(5) {
                eprintln!("fuzz: {done} cases, {rps:.0} requests/s");
                *last = Instant::now();
            }
        }
        match outcome.failure {
            None => Ok(()),
            Some((i, why)) => {
                shrinking.fetch_add(1, Ordering::Relaxed);
                Err(TestCaseError::fail(format!("step {}: {why}", i + 1)))
            }
        }
    });
    if terminal {
        eprintln!();
    }
    let cases_run = cases.load(Ordering::Relaxed);
    drop(d);
    let driver = Arc::try_unwrap(driver)
        .ok()
        .expect("no other owner")
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let mut driver = driver;
    let result = match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, steps)) => Err(drop_needless_steps(&mut driver, steps)),
        Err(TestError::Abort(_)) => Ok(()),
    };
    (result, cases_run, driver)
}

/// proptest shrinks one change at a time and can stop in a local minimum (a step
/// that only matters together with another). A last greedy pass drops any single
/// step whose removal still fails, until none can go: at most len² re-runs.
fn drop_needless_steps(driver: &mut Driver, mut steps: Vec<Step>) -> Vec<Step> {
    'outer: loop {
        for i in 0..steps.len() {
            if steps.len() == 1 {
                break 'outer;
            }
            let mut candidate = steps.clone();
            candidate.remove(i);
            if driver.execute(&candidate).failure.is_some() {
                steps = candidate;
                continue 'outer;
            }
        }
        break;
    }
    steps
}

/// Runs a replay file's sequence once: fixed (pass) or still failing (fail).
pub async fn replay(cfg: FuzzConfig, file: &Path) -> Report {
    let started = Instant::now();
    let mut report = Report::new("fuzz --replay", cfg.client.base_url());
    let replay: Replay = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            report.untested_reason = Some(format!(
                "cannot read the replay file {}: {e}",
                file.display()
            ));
            return report;
        }
    };
    report.facts.push(("seed".into(), replay.seed.to_string()));
    let mut driver = match Driver::connect(&cfg, started).await {
        Ok(d) => d,
        Err(reason) => {
            report.untested_reason = Some(reason);
            return report;
        }
    };
    let steps = replay.steps.clone();
    let (outcome, driver) = tokio::task::spawn_blocking(move || (driver.execute(&steps), driver))
        .await
        .expect("replay thread");
    report_surface_and_warnings(&mut report, &cfg, &driver);
    let result = match outcome.failure {
        None => CheckResult {
            name: "fuzz.replay".into(),
            outcome: Outcome::Pass,
            duration: started.elapsed(),
            message: Some(format!(
                "fixed: the {} requests now pass (was: {})",
                outcome.curls.len(),
                replay.failure
            )),
            evidence: vec![],
        },
        Some((at, why)) => {
            let mut e = Evidence::new(format!("step {} of {}: {why}", at + 1, replay.steps.len()));
            e.reproduce = Some(numbered(&outcome.curls));
            CheckResult {
                name: "fuzz.replay".into(),
                outcome: Outcome::Fail,
                duration: started.elapsed(),
                message: Some(format!("still failing: {why}")),
                evidence: vec![e],
            }
        }
    };
    report.results.push(result);
    report.duration = started.elapsed();
    report
}
