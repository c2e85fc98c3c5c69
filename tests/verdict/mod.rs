//! The verdict is true both ways. Conformant implementations that choose
//! differently where the docs are silent pass `check` and `fuzz` (warnings at most);
//! broken ones, one fault each, make `check` fail naming the right check, and those
//! triggered by particular inputs are found by `fuzz` with a fixed seed and shrunk
//! to at most three requests. Each target is a row in `targets.rs`.

mod targets;

use std::time::Duration;

use nexudus_mock::client::ClientConfig;
use nexudus_mock::contract::{self, CheckConfig, Credential, Op};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::fuzz::{self, FuzzConfig};
use nexudus_mock::report::{Outcome, Report, Verdict};
use nexudus_mock::server::{App, Layer, RunningServer, ServerConfig};
use tokio::task::JoinSet;

async fn start(layer: Layer) -> RunningServer {
    let app = App::new(Fixtures::builtin(), ServerConfig::default())
        .unwrap()
        .with_layer(layer);
    RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

fn check_config(base_url: String) -> CheckConfig {
    CheckConfig {
        client: ClientConfig::new(&base_url)
            .unwrap()
            .with_timeout(Duration::from_secs(10)),
        credential: Credential::user("admin@example.com:admin-password").unwrap(),
        read_only_credential: Credential::user("reader@example.com:reader-password"),
        coworker_id: None,
        rate: None,
        read_only: false,
        strict: false,
        show_secrets: false,
        require: vec![],
    }
}

fn fuzz_config(base_url: String, cases: u32, tag: &str) -> FuzzConfig {
    FuzzConfig {
        client: ClientConfig::new(&base_url)
            .unwrap()
            .with_timeout(Duration::from_secs(10)),
        credential: Credential::Bearer("admin-token".into()),
        cases,
        max_time: Duration::from_secs(60),
        seed: 20_261_201,
        coworker_id: None,
        rate: None,
        max_steps: 12,
        replay_out: std::env::temp_dir()
            .join(format!("nexudus-verdict-{}-{tag}.json", std::process::id())),
        show_secrets: false,
        strict: false,
        require: vec![],
    }
}

fn names(report: &Report, outcome: Outcome) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.name.clone())
        .collect()
}

fn fact<'a>(r: &'a Report, key: &str) -> Option<&'a str> {
    r.facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Rows run side by side, each against its own server; the panic names the row.
async fn each<T: Send + 'static>(
    rows: Vec<(String, T)>,
    run: impl Fn(
        String,
        T,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>>,
) {
    let mut set = JoinSet::new();
    for (name, row) in rows {
        set.spawn(run(name, row));
    }
    let mut problems = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Some(p) = done.expect("a row panicked") {
            problems.push(p);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformant_targets_pass_check_with_warnings_at_most() {
    let rows = targets::conformant()
        .into_iter()
        .map(|(n, l)| (n.to_string(), l))
        .collect();
    each(rows, |name, layer| {
        Box::pin(async move {
            let server = start(layer).await;
            let report = contract::run(check_config(server.base_url())).await;
            (report.verdict() != Verdict::Passed).then(|| {
                format!(
                    "{name}: check should pass (failed: {:?})\n{}",
                    names(&report, Outcome::Fail),
                    report.to_human()
                )
            })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformant_targets_pass_fuzz_with_a_fixed_seed() {
    let rows = targets::conformant()
        .into_iter()
        .map(|(n, l)| (n.to_string(), l))
        .collect();
    each(rows, |name, layer| {
        Box::pin(async move {
            let server = start(layer).await;
            let tag: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
            let report = fuzz::run(fuzz_config(server.base_url(), 60, &tag)).await;
            (report.verdict() != Verdict::Passed)
                .then(|| format!("{name}: fuzz should pass\n{}", report.to_human()))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_conformant_target_differs_from_a_settled_choice_check_warns_and_strict_fails() {
    // Ties that follow the direction are a settled choice: a warning, and a failure
    // under --strict; a target that leaves an endpoint out is skipped, or failed
    // when --require names it.
    let conformant = targets::conformant();
    let ties = conformant
        .iter()
        .find(|(n, _)| n.starts_with("ties"))
        .unwrap()
        .1
        .clone();
    let server = start(ties).await;
    let report = contract::run(check_config(server.base_url())).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert!(
        names(&report, Outcome::Warn)
            .iter()
            .any(|n| n.starts_with("list.order.")),
        "{}",
        report.to_human()
    );
    let mut strict = check_config(server.base_url());
    strict.strict = true;
    let report = contract::run(strict).await;
    assert_eq!(report.verdict(), Verdict::Failed, "{}", report.to_human());

    let only = conformant
        .iter()
        .find(|(n, _)| n.starts_with("only"))
        .unwrap()
        .1
        .clone();
    let server = start(only).await;
    let report = contract::run(check_config(server.base_url())).await;
    let human = report.to_human();
    assert_eq!(report.verdict(), Verdict::Passed, "{human}");
    assert!(
        human.contains("update: not offered (PUT answered 405)"),
        "{human}"
    );
    assert!(human.contains("batch: not offered"), "{human}");
    let mut required = check_config(server.base_url());
    required.require = vec![Op::Update];
    let report = contract::run(required).await;
    assert_eq!(report.verdict(), Verdict::Failed);
    assert!(names(&report, Outcome::Fail).contains(&"surface.update".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_target_fails_check_naming_the_right_check() {
    let rows = targets::broken_targets()
        .into_iter()
        .map(|b| (b.name.to_string(), b))
        .collect();
    each(rows, |name, b| {
        Box::pin(async move {
            let server = start(b.layer).await;
            let report = contract::run(check_config(server.base_url())).await;
            let failed = names(&report, Outcome::Fail);
            if report.verdict() != Verdict::Failed {
                return Some(format!("{name}: check passed it\n{}", report.to_human()));
            }
            (!failed.iter().any(|n| n.starts_with(b.check))).then(|| {
                format!(
                    "{name}: expected a failure named {}, got {failed:?}",
                    b.check
                )
            })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_finds_each_input_triggered_fault_and_shrinks_it_to_three_requests() {
    let rows = targets::broken_targets()
        .into_iter()
        .filter(|b| b.fuzz)
        .map(|b| (b.name.to_string(), b))
        .collect();
    each(rows, |name, b| {
        Box::pin(async move {
            let server = start(b.layer).await;
            let tag: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
            let report = fuzz::run(fuzz_config(server.base_url(), 400, &tag)).await;
            if report.verdict() != Verdict::Failed {
                return Some(format!(
                    "{name}: fuzz did not find it\n{}",
                    report.to_human()
                ));
            }
            let shrunk: usize = fact(&report, "shrunk_requests")
                .and_then(|s| s.parse().ok())
                .unwrap_or(99);
            (shrunk > 3).then(|| {
                format!(
                    "{name}: shrunk to {shrunk} requests, not at most 3\n{}",
                    report.to_human()
                )
            })
        })
    })
    .await;
}
