//! Command-line flags (clap derive) and their conversion into checked configs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
}

impl ServeArgs {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
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
