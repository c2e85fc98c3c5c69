//! What front-end developers get on top of the API: latency and fault injection,
//! the admin API's state (journal, the records a reset returns to, the state file,
//! hot-reload status), request ids and the per-request log line. The hyper glue
//! calls [`answer`] for each request and [`finish`] once the response is final.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use crate::persist::{PersistError, StateFile};
use crate::resource::{FieldError, Record, error_body};
use crate::server::App;
use crate::server::admin;
use crate::server::api;
use crate::server::faults::{self, Dice, Latency, WireFault};
use crate::server::forward::ContractNote;
use crate::server::journal::{self, Entry, Journal};
use crate::server::types::{ApiRequest, ApiResponse, Method};

/// The tracing target of the one-line-per-request log.
pub const REQUEST_LOG_TARGET: &str = "nexudus_mock::request";
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

/// Front-end settings; part of [`crate::server::ServerConfig`].
#[derive(Clone)]
pub struct FrontendConfig {
    pub latency: Latency,
    /// Share of API requests answered with an injected 500.
    pub error_rate: f64,
    /// Seed for the error and latency draws; random (and logged) when unset.
    pub seed: Option<u64>,
    /// Required (as `Authorization: Bearer …`) on `/__admin` when set.
    pub admin_token: Option<String>,
    /// Requests the journal keeps.
    pub journal_size: usize,
    /// No per-request log line (other events are still logged).
    pub quiet: bool,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        FrontendConfig {
            latency: Latency::None,
            error_rate: 0.0,
            seed: None,
            admin_token: None,
            journal_size: DEFAULT_JOURNAL_SIZE,
            quiet: false,
        }
    }
}

impl std::fmt::Debug for FrontendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontendConfig")
            .field("latency", &self.latency)
            .field("error_rate", &self.error_rate)
            .field("seed", &self.seed)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| journal::MASK),
            )
            .field("journal_size", &self.journal_size)
            .field("quiet", &self.quiet)
            .finish()
    }
}

/// The `serve` flags for front-end work, flattened into `ServeArgs`.
#[derive(Debug, Clone, Args)]
pub struct FrontendArgs {
    /// Delay every API response: 200ms, 1.5s, or a range such as 50ms..300ms.
    #[arg(long, value_parser = parse_latency)]
    pub latency: Option<Latency>,
    /// Answer this share of API requests (0 to 1) with an injected 500.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    pub error_rate: f64,
    /// Seed for --error-rate and ranged --latency, so runs repeat.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Token the admin API (/__admin) requires; needed to bind a non-loopback address.
    #[arg(long, env = "NEXUDUS_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Requests the journal (GET /__admin/requests) keeps.
    #[arg(long, default_value_t = DEFAULT_JOURNAL_SIZE)]
    pub journal_size: usize,
    /// Reload fixture files from --fixtures DIR when they change.
    #[arg(long, requires = "fixtures")]
    pub watch: bool,
    /// Load records from this file at start if it exists, and save every write to it.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Colour the request log: auto (when stderr is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
    /// Do not write the per-request log line (start-up and error events still appear).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    Latency::parse(s).map_err(|e| e.0)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    faults::parse_error_rate(s).map_err(|e| e.0)
}

impl FrontendArgs {
    pub fn config(&self) -> FrontendConfig {
        FrontendConfig {
            latency: self.latency.unwrap_or_default(),
            error_rate: self.error_rate,
            seed: self.seed,
            admin_token: self.admin_token.clone().filter(|t| !t.is_empty()),
            journal_size: self.journal_size,
            quiet: self.quiet,
        }
    }
}

/// Refuses an admin API reachable from other machines without a token.
pub fn check_admin_exposure(addr: IpAddr, config: &FrontendConfig) -> Result<(), String> {
    if addr.is_loopback() || config.admin_token.is_some() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without --admin-token: the admin API (/__admin) can \
         reset and replace every record, so off loopback it must require a token. Pass \
         --admin-token SECRET (or set NEXUDUS_MOCK_ADMIN_TOKEN), or listen on 127.0.0.1."
    ))
}

/// What hot reload last did, for `GET /__admin/health`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WatchStatus {
    pub dir: String,
    pub reloads: u64,
    pub last_reload: Option<String>,
    /// Why the last change was not applied; cleared by the next good one.
    pub last_error: Option<String>,
}

/// Front-end state shared by every request.
pub struct Frontend {
    pub config: FrontendConfig,
    pub dice: Dice,
    pub journal: Journal,
    pub state_file: Option<StateFile>,
    /// Set while `--watch` runs.
    pub watch: Mutex<Option<WatchStatus>>,
    started: Instant,
}

impl Frontend {
    pub fn new(config: FrontendConfig) -> Self {
        let seed = config.seed.unwrap_or_else(rand::random);
        Frontend {
            dice: Dice::new(seed),
            journal: Journal::new(config.journal_size),
            config,
            state_file: None,
            watch: Mutex::new(None),
            started: Instant::now(),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl App {
    /// Loads the records saved in `path` (if it exists) over the fixtures, and
    /// journals every later write there. A snapshot is written at once, so the file
    /// always exists.
    pub fn with_state_file(mut self, path: &std::path::Path) -> Result<Self, PersistError> {
        let loaded = StateFile::open(path)?;
        let mut seq = 0;
        if let Some(loaded) = loaded {
            self.store
                .replace_all(loaded.records)
                .map_err(|e| PersistError::Invalid {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                })?;
            self.store.reserve_ids(loaded.next_id);
            seq = loaded.seq;
        }
        self.frontend.state_file = Some(StateFile::attach(path, &self.store, seq)?);
        Ok(self)
    }

    /// Waits until every change so far is in the state file, if there is one (bulk
    /// changes: reset, upload, reload). The error is the 500 to answer instead.
    pub fn persist(&self) -> Result<(), ApiResponse> {
        let Some(file) = &self.frontend.state_file else {
            return Ok(());
        };
        file.wait_all().map_err(|e| unsaved(&e))
    }

    /// Replaces every record and makes them what a reset returns to.
    pub fn load_records(&self, records: Vec<Record>) -> Result<usize, ApiResponse> {
        let n = records.len();
        self.store
            .reload(records)
            .map_err(|e| api::validation_failed(&[FieldError::body(e.to_string())]))?;
        self.persist()?;
        Ok(n)
    }

    /// Returns the records to the fixtures (or the last upload or reload).
    pub fn reset_records(&self) -> Result<usize, ApiResponse> {
        self.store.reset();
        self.persist()?;
        Ok(self.store.len())
    }
}

/// Waits, without holding a thread, until journal line `seq` is on disk. The error
/// is the 500 to answer instead of the acknowledgement.
pub async fn durable(app: &App, seq: u64) -> Result<(), ApiResponse> {
    let Some(file) = &app.frontend.state_file else {
        return Ok(());
    };
    file.durable(seq).await.map_err(|e| unsaved(&e))
}

fn unsaved(e: &PersistError) -> ApiResponse {
    tracing::error!(error = %e, "could not save the state file");
    ApiResponse::json(
        500,
        &error_body(
            500,
            &format!(
                "The change was made in memory but could not be saved ({e}); it may be lost on restart."
            ),
        ),
    )
}

/// An `X-Request-Id` that is sent and sane is echoed; otherwise a new one is made.
pub fn request_id(sent: Option<&[u8]>) -> String {
    match sent {
        Some(v) if (1..=128).contains(&v.len()) && v.iter().all(|b| (0x21..=0x7e).contains(b)) => {
            String::from_utf8_lossy(v).into_owned()
        }
        // A v4 UUID from a small per-thread generator seeded from the OS: no system
        // call per request, and no cryptographic generator (whose block refills
        // showed in profiles) for an id that guards nothing.
        _ => {
            use rand::{Rng, SeedableRng, rngs::SmallRng};
            thread_local! {
                static IDS: std::cell::RefCell<SmallRng> =
                    std::cell::RefCell::new(SmallRng::from_os_rng());
            }
            let bytes: [u8; 16] = IDS.with_borrow_mut(|rng| rng.random());
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .encode_lower(&mut text)
                .to_owned()
        }
    }
}

/// A request's answer before CORS and the request id are added.
pub struct Answer {
    pub response: ApiResponse,
    /// Set when the connection must misbehave instead of (or while) answering.
    pub wire: Option<WireFault>,
    /// What was injected, for the journal and the log.
    pub injected: Option<String>,
    /// Admin requests stay out of the journal, so a test reading it sees its app only.
    pub admin: bool,
    /// What the proxy found wrong with the exchange, for the log line.
    pub contract: Option<ContractNote>,
}

impl Answer {
    pub fn plain(response: ApiResponse) -> Self {
        Answer {
            response,
            wire: None,
            injected: None,
            admin: false,
            contract: None,
        }
    }
}

/// Answers one request: the admin API, or the API with latency and faults applied.
/// Delays are async sleeps taken while holding no lock, so a slow response never
/// holds up another.
pub async fn answer(
    app: &App,
    req: &ApiRequest,
    prefer: &[&[u8]],
    respond: fn(&App, &ApiRequest) -> ApiResponse,
) -> Answer {
    if admin::is_admin_path(&req.path) {
        return Answer {
            admin: true,
            ..Answer::plain(admin::handle(app, req))
        };
    }
    let fe = &app.frontend;
    if req.method == Method::Options {
        if let Some(d) = fe.dice.delay(fe.config.latency) {
            tokio::time::sleep(d).await;
        }
        return Answer::plain(respond(app, req));
    }
    // Always drawn (when a rate is set), so which requests fail depends only on
    // their order, not on their Prefer headers.
    let fails = fe.config.error_rate > 0.0 && fe.dice.fails(fe.config.error_rate);
    let prefs = match faults::parse_prefer(prefer) {
        Ok(p) => p,
        Err(e) => return Answer::plain(api::validation_failed(&[e])),
    };
    let delay = prefs.delay.or_else(|| fe.dice.delay(fe.config.latency));
    if let Some(d) = delay.filter(|d| !d.is_zero()) {
        tokio::time::sleep(d).await;
    }
    let mut out = if let Some(fault) = prefs.fault {
        // A truncated body is a real answer cut short, so the request is processed;
        // reset and empty drop the request before it is.
        let response = match fault {
            WireFault::Truncated => respond(app, req),
            _ => ApiResponse::empty(204),
        };
        Answer {
            wire: Some(fault),
            injected: Some(format!("fault={}", fault.name())),
            ..Answer::plain(response)
        }
    } else if let Some(code) = prefs.code {
        Answer {
            injected: Some(format!("code={code}")),
            ..Answer::plain(faults::forced_response(
                code,
                &format!(
                    "Prefer: code={code} asked the mock for this status; the request was not processed."
                ),
            ))
        }
    } else if fails {
        Answer {
            injected: Some("error-rate".into()),
            ..Answer::plain(faults::forced_response(
                500,
                &format!(
                    "Injected failure (--error-rate {}); the request was not processed.",
                    fe.config.error_rate
                ),
            ))
        }
    } else {
        Answer::plain(respond(app, req))
    };
    if !prefs.applied.is_empty() {
        out.response = out
            .response
            .with_header("preference-applied", prefs.applied.join(", "));
    }
    out
}

/// Records the finished request in the journal and writes its log line.
pub fn finish(app: &App, req: ApiRequest, answer: &Answer, request_id: String, started: Instant) {
    let status = match answer.wire {
        Some(WireFault::Reset | WireFault::Empty) => None,
        _ => Some(answer.response.status),
    };
    let journaled = !answer.admin && app.frontend.journal.capacity() > 0;
    let logged = !app.frontend.config.quiet
        && tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO);
    if !journaled && !logged {
        // Neither wants it: skip the clock, masking the query and building the entry.
        return;
    }
    let elapsed = started.elapsed();
    let query = journal::mask_query(&req.query);
    let status_code = u64::from(status.unwrap_or(0));
    let micros = elapsed.as_micros() as u64;
    let direct = logged
        && crate::logging::write_request_line(&crate::logging::RequestLine {
            method: &req.method_name,
            path: &req.path,
            query: &query,
            status: status_code,
            micros,
            request_id: &request_id,
            fault: answer.injected.as_deref().unwrap_or(""),
            violations: answer.contract.as_ref().map_or(0, |c| c.violations as u64),
            warnings: answer.contract.as_ref().map_or(0, |c| c.warnings as u64),
            contract: answer.contract.as_ref().map_or("", |c| &c.summary),
        });
    if logged && !direct {
        match &answer.contract {
            None => tracing::info!(
                target: REQUEST_LOG_TARGET,
                method = %req.method_name,
                path = %req.path,
                query = %query,
                status = status_code,
                micros = micros,
                request_id = %request_id,
                fault = answer.injected.as_deref().unwrap_or(""),
                "request"
            ),
            Some(c) => tracing::info!(
                target: REQUEST_LOG_TARGET,
                method = %req.method_name,
                path = %req.path,
                query = %query,
                status = status_code,
                micros = micros,
                request_id = %request_id,
                fault = answer.injected.as_deref().unwrap_or(""),
                violations = c.violations as u64,
                warnings = c.warnings as u64,
                contract = %c.summary,
                "request"
            ),
        }
    }
    if !journaled {
        return;
    }
    // The request is done with: its strings move into the entry.
    app.frontend.journal.push(Entry {
        id: request_id,
        // Read here, not on arrival, so a mock without a journal reads no wall clock.
        time: chrono::Utc::now() - elapsed,
        authorization: journal::mask_authorization(req.authorization.as_deref()),
        body: journal::journal_body(&req.body, req.content_type.as_deref()),
        method: req.method_name,
        path: req.path,
        query,
        status,
        duration_ms: elapsed.as_micros() as f64 / 1000.0,
        origin: req.origin,
        fault: answer.injected.clone(),
    });
}

/// Settings shown by `GET /__admin/health`.
pub fn describe(app: &App) -> Value {
    let fe = &app.frontend;
    let latency = match fe.config.latency {
        Latency::None => Value::Null,
        Latency::Fixed(d) => json!(format!("{}ms", d.as_millis())),
        Latency::Range(lo, hi) => json!(format!("{}ms..{}ms", lo.as_millis(), hi.as_millis())),
    };
    json!({
        "Latency": latency,
        "ErrorRate": fe.config.error_rate,
        "Seed": fe.dice.seed,
        "StateFile": fe.state_file.as_ref().map(|f| f.path().display().to_string()),
        "Watch": fe.watch.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    })
}
