//! Command-line flags (clap derive) and their conversion into checked configs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::{ClientConfig, HttpClient, ProxySettings};
use crate::server::ServerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "nexudus-mock",
    version,
    about = "Mock server, contract runner and fuzzer for the Nexudus CoworkerSettings API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the mock API (built-in fixtures unless --fixtures is given).
    Serve(ServeArgs),
    /// Print the OpenAPI 3.1 document for every endpoint the mock serves.
    Openapi,
    /// Check any CoworkerSettings implementation against the schemas and the documented semantics.
    Check(CheckArgs),
    /// Fuzz any implementation with generated request sequences; shrink and replay failures.
    Fuzz(FuzzArgs),
    /// Forward to any implementation, validating every exchange; optionally record its records as fixtures.
    Proxy(ProxyArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 no failure (or --replay: fixed); 1 a failure was found (or still fails); \
2 nothing could be tested. Each case works in fresh customers (CoworkerIds) with a Name prefix of its own and \
deletes what it created; the run never touches records it did not create."
)]
pub struct FuzzArgs {
    /// Base URL of the implementation, e.g. http://127.0.0.1:4010
    pub base_url: String,
    /// Number of generated sequences to run.
    #[arg(long, default_value_t = 100)]
    pub cases: u32,
    /// Stop starting new cases after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub max_time: std::time::Duration,
    /// Seed of the run (printed at the start); the same seed repeats the same run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bearer token to send.
    #[arg(long, conflicts_with = "user")]
    pub token: Option<String>,
    /// A user as EMAIL:PASSWORD: traded for a bearer token at POST /api/token (OAuth2
    /// password grant) when the target offers it, else sent as Basic.
    #[arg(long)]
    pub user: Option<String>,
    /// First customer (CoworkerId) to use; each case takes three from there. Random by default.
    #[arg(long)]
    pub coworker_id: Option<i64>,
    /// At most this many requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Timeout of each request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Longest generated sequence.
    #[arg(long, default_value_t = 12)]
    pub max_steps: usize,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where to write a failure's replay file (default fuzz-failure-<seed>.json).
    #[arg(long)]
    pub replay_out: Option<PathBuf>,
    /// Run the sequence in this replay file once instead of fuzzing.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Show credentials in the curl commands instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Fail (not warn) where the target differs from a choice the vendor's docs leave
    /// open and the mock settles (tie order, text collation, batch order, ...).
    #[arg(long)]
    pub strict: bool,
    /// Optional endpoints whose absence fails the run instead of leaving their steps
    /// out: a comma-separated list of update, delete, batch, token.
    #[arg(long, value_name = "LIST")]
    pub require: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Parses `--require update,delete,batch,token` (absent: nothing required).
fn parse_require(s: &Option<String>) -> Result<Vec<crate::contract::Op>, String> {
    s.as_deref()
        .map_or(Ok(vec![]), crate::contract::surface::parse_require)
}

impl FuzzArgs {
    /// The checked configuration; `proxy` is the environment's proxy settings.
    pub fn config(&self, proxy: &ProxySettings) -> Result<crate::fuzz::FuzzConfig, String> {
        let credential =
            crate::contract::Credential::from_flags(self.token.as_deref(), self.user.as_deref())?;
        let client = self
            .target
            .client_config(&self.base_url, self.timeout, proxy)?;
        let seed = self.seed.unwrap_or_else(rand::random);
        Ok(crate::fuzz::FuzzConfig {
            client,
            credential,
            cases: self.cases.max(1),
            max_time: self.max_time,
            seed,
            coworker_id: self.coworker_id,
            rate: self.rate,
            max_steps: self.max_steps.max(1),
            replay_out: self
                .replay_out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("fuzz-failure-{seed}.json"))),
            show_secrets: self.show_secrets,
            strict: self.strict,
            require: parse_require(&self.require)?,
        })
    }
}

/// How to reach a target over the network: TLS trust, extra headers (the proxy
/// comes from the environment, read by the binary). Flattened into every
/// subcommand that talks to an implementation.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Also trust the CA certificate(s) in this PEM file (a private CA), besides
    /// the platform's trust store and the bundled web roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the target's TLS certificate (a warning is printed).
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Send this header with every request, e.g. -H 'X-Api-Key: abc' (repeatable).
    /// Proxies come from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as in curl.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
}

impl TargetArgs {
    /// The checked client configuration for `base_url`.
    pub fn client_config(
        &self,
        base_url: &str,
        timeout: std::time::Duration,
        proxy: &ProxySettings,
    ) -> Result<ClientConfig, String> {
        let mut config = ClientConfig::new(base_url)
            .map_err(|e| e.to_string())?
            .with_timeout(timeout)
            .with_insecure(self.insecure)
            .with_proxy_settings(proxy)
            .map_err(|e| e.to_string())?;
        if let Some(file) = &self.cacert {
            config = config.with_cacert(file).map_err(|e| e.to_string())?;
        }
        for h in &self.headers {
            config = config.with_header(h).map_err(|e| e.to_string())?;
        }
        // Problems in the TLS set-up show now, as a flag error, not as a failed run.
        HttpClient::from_config(&config).map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Parses `10s`, `500ms`, `1m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 10s or 500ms: {e}"))
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every check passed; 1 at least one failed; 2 nothing could be tested \
(target unreachable, credentials refused). The run works only inside its own namespace: a fresh CoworkerId \
(or --coworker-id) and a unique Name prefix; it never updates or deletes a record it did not create, creates \
at most 100 records, and deletes them at the end when the target supports delete."
)]
pub struct CheckArgs {
    /// Base URL of the implementation, e.g. http://127.0.0.1:4010
    pub base_url: String,
    /// Bearer token to send.
    #[arg(long, conflicts_with = "user")]
    pub token: Option<String>,
    /// A user as EMAIL:PASSWORD: traded for a bearer token at POST /api/token (OAuth2
    /// password grant) when the target offers it, else sent as Basic.
    #[arg(long)]
    pub user: Option<String>,
    /// A read-only user's bearer token: reads must work and writes be refused.
    #[arg(long, conflicts_with = "read_only_user")]
    pub read_only_token: Option<String>,
    /// A read-only user's EMAIL:PASSWORD (as --read-only-token).
    #[arg(long)]
    pub read_only_user: Option<String>,
    /// Customer (CoworkerId) to work under; a random high one by default.
    #[arg(long)]
    pub coworker_id: Option<i64>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timeout of each request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// At most this many requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Run only the checks that write nothing.
    #[arg(long)]
    pub read_only: bool,
    /// Fail (not warn) where the target differs from a choice the vendor's docs leave
    /// open and the mock settles (each is marked "settled here" in docs/rules.md).
    #[arg(long)]
    pub strict: bool,
    /// Optional endpoints whose absence fails the run instead of skipping their checks:
    /// a comma-separated list of update, delete, batch, token.
    #[arg(long, value_name = "LIST")]
    pub require: Option<String>,
    /// Show credentials in the curl reproductions instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

impl CheckArgs {
    /// The checked configuration; `proxy` is the environment's proxy settings.
    pub fn config(&self, proxy: &ProxySettings) -> Result<crate::contract::CheckConfig, String> {
        use crate::contract::Credential;
        let credential = Credential::from_flags(self.token.as_deref(), self.user.as_deref())?;
        let read_only_credential = match (&self.read_only_token, &self.read_only_user) {
            (None, None) => None,
            (t, u) => Some(Credential::from_flags(t.as_deref(), u.as_deref())?),
        };
        let client = self
            .target
            .client_config(&self.base_url, self.timeout, proxy)?;
        Ok(crate::contract::CheckConfig {
            client,
            credential,
            read_only_credential,
            coworker_id: self.coworker_id,
            rate: self.rate,
            read_only: self.read_only,
            strict: self.strict,
            show_secrets: self.show_secrets,
            require: parse_require(&self.require)?,
        })
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, short, default_value_t = 4010)]
    pub port: u16,
    /// Directory holding coworkersettings.json and/or users.json to use instead of the built-in fixtures.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Do not send CORS headers or answer preflights.
    #[arg(long)]
    pub no_cors: bool,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Largest request head (request line and headers) in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Seconds a client has to send a complete request head (also the idle keep-alive timeout).
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client has to send the request body; slower gets 408.
    #[arg(long, default_value_t = 30)]
    pub body_timeout: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Log format: text (a line per request) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Latency, faults, the admin API, hot reload and the state file.
    #[command(flatten)]
    pub frontend: crate::server::frontend::FrontendArgs,
    /// Serve HTTPS on the same port with this certificate chain (PEM); needs
    /// --tls-key. HTTP/1.1 only.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made at start-up for localhost, 127.0.0.1
    /// and ::1, signed by a CA made for this start-up only and written to
    /// --tls-ca-out for clients to trust.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Where --tls-self-signed writes its CA certificate (PEM).
    #[arg(long, value_name = "FILE", default_value = "nexudus-mock-ca.pem")]
    pub tls_ca_out: PathBuf,
}

/// How `serve` does TLS, once its certificate is loaded or made.
pub struct ServeTls {
    pub config: std::sync::Arc<rustls::ServerConfig>,
    /// The CA file written for `--tls-self-signed`, for clients to trust.
    pub ca_file: Option<PathBuf>,
}

impl ServeArgs {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// Loads `--tls-cert`/`--tls-key`, or makes and writes the `--tls-self-signed`
    /// certificate; `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<ServeTls>, String> {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let config =
                crate::tls::server_config_from_files(cert, key).map_err(|e| e.to_string())?;
            return Ok(Some(ServeTls {
                config,
                ca_file: None,
            }));
        }
        if !self.tls_self_signed {
            return Ok(None);
        }
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        if !self.addr.is_unspecified() && !self.addr.is_loopback() {
            names.push(self.addr.to_string());
        }
        let made = crate::tls::self_signed(&names).map_err(|e| e.to_string())?;
        std::fs::write(&self.tls_ca_out, &made.ca_pem).map_err(|e| {
            format!(
                "--tls-self-signed: cannot write the CA certificate to {}: {e}",
                self.tls_ca_out.display()
            )
        })?;
        let config = crate::tls::server_config(made.chain, made.key).map_err(|e| e.to_string())?;
        Ok(Some(ServeTls {
            config,
            ca_file: Some(self.tls_ca_out.clone()),
        }))
    }

    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            cors: !self.no_cors,
            max_body: self.max_body,
            max_header_bytes: self.max_header_bytes,
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout.max(1)),
            body_read_timeout: std::time::Duration::from_secs(self.body_timeout.max(1)),
            max_connections: self.max_connections.max(1),
            frontend: self.frontend.config(),
            ..ServerConfig::default()
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Every request is forwarded unchanged and every answer relayed unchanged (bar hop-by-hop \
headers, Accept-Encoding, and CORS, which the proxy answers as serve does). Each exchange with the \
CoworkerSettings API is validated; violations show in the log line, in X-Contract-Violations and in \
GET /__admin/violations. An upstream that fails gets 502 (504 on --timeout) with a JSON body."
)]
pub struct ProxyArgs {
    /// Base URL of the implementation to forward to, e.g. http://staging.internal:8080
    #[arg(long)]
    pub upstream: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// Port to listen on (serve's is 4010, so both can run); 0 picks a free port.
    #[arg(long, short, default_value_t = 4011)]
    pub port: u16,
    /// Write every record the upstream returns to DIR/coworkersettings.json (fixture format).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Answer an exchange that breaks the contract with 502 and the violations as JSON.
    #[arg(long)]
    pub fail_on_violation: bool,
    /// Count differences from choices the docs leave open as violations, not warnings.
    #[arg(long)]
    pub strict: bool,
    /// Longest wait for each upstream call (connect, answer and body); then 504.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Do not send CORS headers or answer preflights (preflights are then forwarded).
    #[arg(long)]
    pub no_cors: bool,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Token the admin API (/__admin) requires; needed to bind a non-loopback address.
    #[arg(long, env = "NEXUDUS_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Requests the journal (GET /__admin/requests) keeps, and violating exchanges
    /// GET /__admin/violations keeps.
    #[arg(long, default_value_t = crate::server::frontend::DEFAULT_JOURNAL_SIZE)]
    pub journal_size: usize,
    /// Log format: text (a line per request) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Colour the request log: auto (when stderr is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

impl ProxyArgs {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// The proxy's and the server's configs; the one place the upstream client is built.
    pub fn config(&self) -> Result<(crate::proxy::ProxyConfig, ServerConfig), String> {
        if !self.upstream.starts_with("http://") {
            return Err(format!(
                "--upstream {:?} is not an http:// URL (https is not supported by the shared client yet)",
                self.upstream
            ));
        }
        let client =
            crate::client::HttpClient::new(self.upstream.trim_end_matches('/'), self.timeout);
        let proxy = crate::proxy::ProxyConfig {
            client,
            record: self.record.clone(),
            fail_on_violation: self.fail_on_violation,
            strict: self.strict,
            violations_kept: self.journal_size,
        };
        let server = ServerConfig {
            cors: !self.no_cors,
            max_body: self.max_body,
            frontend: crate::server::frontend::FrontendConfig {
                admin_token: self.admin_token.clone().filter(|t| !t.is_empty()),
                journal_size: self.journal_size,
                ..Default::default()
            },
            ..ServerConfig::default()
        };
        Ok((proxy, server))
    }
}
