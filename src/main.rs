//! The binary: parse flags, build the config, call the library, map to an exit code.

use std::process::ExitCode;

use clap::Parser;
use nexudus_mock::cli::{CheckArgs, Cli, Command, FuzzArgs, ProxyArgs, ServeArgs, TargetArgs};
use nexudus_mock::client::ProxySettings;
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::server::{App, RunningServer};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Check(args) => runtime.block_on(check(args)),
        Command::Fuzz(args) => runtime.block_on(fuzz(args)),
        Command::Proxy(args) => runtime.block_on(proxy(args)),
        Command::Openapi => {
            let doc = nexudus_mock::openapi::document();
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
            );
            ExitCode::SUCCESS
        }
    }
}

/// The proxy variables, read here and nowhere else.
fn proxy_from_env() -> ProxySettings {
    ProxySettings::from_vars(|name| std::env::var(name).ok())
}

fn warn_if_insecure(target: &TargetArgs) {
    if target.insecure {
        eprintln!(
            "warning: --insecure: the target's TLS certificate is not verified; anyone on the path can read and change this traffic"
        );
    }
}

async fn check(args: CheckArgs) -> ExitCode {
    warn_if_insecure(&args.target);
    let config = match args.config(&proxy_from_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = nexudus_mock::contract::run(config).await;
    print!("{}", report.to_human());
    if let Err(e) = report.write_files(args.junit.as_deref(), args.json.as_deref()) {
        eprintln!("error: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(report.verdict().exit_code())
}

async fn fuzz(args: FuzzArgs) -> ExitCode {
    warn_if_insecure(&args.target);
    let config = match args.config(&proxy_from_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match &args.replay {
        Some(file) => nexudus_mock::fuzz::replay(config, file).await,
        None => nexudus_mock::fuzz::run(config).await,
    };
    print!("{}", report.to_human());
    if let Err(e) = report.write_files(args.junit.as_deref(), args.json.as_deref()) {
        eprintln!("error: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(report.verdict().exit_code())
}

async fn serve(args: ServeArgs) -> ExitCode {
    let _log_guard = nexudus_mock::logging::init(&args.log_format, &args.frontend.color);
    let started = std::time::Instant::now();
    let mut config = args.server_config();
    let tls = match args.tls() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    config.tls = tls.as_ref().map(|t| t.config.clone());
    if let Err(e) =
        nexudus_mock::server::frontend::check_admin_exposure(args.addr, &config.frontend)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let fixtures = match &args.fixtures {
        Some(dir) => match Fixtures::load_dir(dir) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Fixtures::builtin(),
    };
    let admin_token = fixtures
        .users
        .iter()
        .find(|u| u.full_admin)
        .map(|u| u.token.clone());
    let parsed = started.elapsed();
    let count = fixtures.records.len();
    let app = match App::new(fixtures, config) {
        Ok(app) => app,
        Err(e) => {
            let file = match &args.fixtures {
                Some(dir) => dir
                    .join(nexudus_mock::fixtures::RECORDS_FILE)
                    .display()
                    .to_string(),
                None => "fixtures".to_string(),
            };
            eprintln!("error: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match &args.frontend.state_file {
        Some(path) => match app.with_state_file(path) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => app,
    };
    tracing::info!(
        seed = app.frontend.dice.seed,
        "fault and latency draws are seeded; pass --seed to repeat a run"
    );
    release_freed_memory();
    tracing::info!(
        records = count,
        parse_ms = parsed.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "fixtures loaded"
    );
    let server = match RunningServer::start(args.socket_addr(), app).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The watcher takes its first look before the address is announced, so an edit
    // made by whoever reads that line is always seen as a change.
    let _watcher = match (&args.fixtures, args.frontend.watch) {
        (Some(dir), true) => Some(nexudus_mock::watch::spawn(
            server.app.clone(),
            dir.clone(),
            nexudus_mock::watch::DEFAULT_INTERVAL,
        )),
        _ => None,
    };
    let base = server.base_url();
    println!("nexudus-mock listening on {base}");
    let mut curl_tls = String::new();
    if let Some(tls) = &tls {
        match &tls.ca_file {
            Some(ca) => {
                println!(
                    "TLS: certificate for localhost, 127.0.0.1 and ::1 (HTTP/1.1 only); its CA, made for this start-up, is in {} (trust that file)",
                    ca.display()
                );
                curl_tls = format!(" --cacert '{}'", ca.display());
            }
            None => println!(
                "TLS: serving --tls-cert (HTTP/1.1 only); add --cacert <CA file> to curl if its issuer is private"
            ),
        }
    }
    if let Some(token) = admin_token {
        println!(
            "try: curl{curl_tls} -H 'Authorization: Bearer {token}' '{base}/api/spaces/coworkersettings?page=1&size=5'"
        );
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing requests in flight");
    match server.stop().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn proxy(args: ProxyArgs) -> ExitCode {
    let _log_guard = nexudus_mock::logging::init(&args.log_format, &args.color);
    let (config, server_config) = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) =
        nexudus_mock::server::frontend::check_admin_exposure(args.addr, &server_config.frontend)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let upstream = config.client.base_url().to_string();
    let (app, proxy) = match nexudus_mock::proxy::app(config, server_config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match RunningServer::start(args.socket_addr(), app).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "nexudus-mock proxy listening on http://{} forwarding to {upstream}",
        server.addr
    );
    if let Some(rec) = proxy.recorder() {
        println!(
            "recording records into {} ({} so far); it holds customer data",
            rec.path().display(),
            rec.len()
        );
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing requests in flight");
    match server.stop().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Loading a large fixture file allocates far more transiently (the file, a JSON
/// tree per record) than the store keeps; glibc holds on to those freed pages unless
/// asked. Giving them back keeps the mock's RSS close to what the store really uses.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS; it has no
    // preconditions and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
