//! Real deployments: `check` and `fuzz` over HTTPS (trusted through `--cacert`,
//! refused with the problem named, or `--insecure`), `serve` over TLS (given or
//! self-signed certificates), a base URL with a path prefix, extra headers in front
//! of a gateway, a CONNECT proxy and `NO_PROXY`, and `--user` through the OAuth2
//! token grant or Basic. Certificates are made here with rcgen; all traffic stays
//! on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexudus_mock::client::{ClientConfig, HttpClient, HttpRequest, ProxySettings};
use nexudus_mock::contract::{self, CheckConfig, Credential};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::fuzz::{self, FuzzConfig};
use nexudus_mock::report::{Report, Verdict};
use nexudus_mock::server::types::{ApiRequest, ApiResponse};
use nexudus_mock::server::{App, Layer, RunningServer, ServerConfig, api};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_nexudus-mock");

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`; `expired` puts its validity in 2020.
    fn leaf(&self, names: &[&str], expired: bool) -> Arc<rustls::ServerConfig> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 6, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        nexudus_mock::tls::server_config(chain, key).unwrap()
    }

    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

async fn start(tls: Option<Arc<rustls::ServerConfig>>, layer: Option<Layer>) -> RunningServer {
    let config = ServerConfig {
        tls,
        ..ServerConfig::default()
    };
    let mut app = App::new(Fixtures::builtin(), config).unwrap();
    app.layer = layer;
    RunningServer::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

fn check_config(client: ClientConfig) -> CheckConfig {
    CheckConfig {
        client,
        credential: Credential::Bearer("admin-token".into()),
        read_only_credential: Some(Credential::Bearer("reader-token".into())),
        coworker_id: None,
        rate: None,
        read_only: false,
        strict: true,
        show_secrets: false,
        require: vec![],
    }
}

fn fuzz_config(client: ClientConfig, dir: &Path) -> FuzzConfig {
    FuzzConfig {
        client,
        credential: Credential::Bearer("admin-token".into()),
        cases: 5,
        max_time: Duration::from_secs(30),
        seed: 11,
        coworker_id: None,
        rate: None,
        max_steps: 6,
        replay_out: dir.join("replay.json"),
        show_secrets: false,
        strict: false,
        require: vec![],
    }
}

fn target(base: &str) -> ClientConfig {
    ClientConfig::new(base)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
}

fn fact<'a>(r: &'a Report, key: &str) -> &'a str {
    r.facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} fact in {:?}", r.facts))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_fuzz_pass_against_the_mock_served_over_tls() {
    let ca = Ca::new("test CA");
    let server = start(Some(ca.leaf(&["localhost", "127.0.0.1"], false)), None).await;
    assert!(server.base_url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let client = target(&server.base_url())
        .with_cacert(&ca.write(dir.path()))
        .unwrap();

    let report = contract::run(check_config(client.clone())).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());

    let report = fuzz::run(fuzz_config(client, dir.path())).await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    assert_eq!(
        server.app.store.len(),
        Fixtures::builtin().records.len(),
        "both runs cleaned up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_certificate_problem_is_named_with_the_flag_that_helps() {
    let ca = Ca::new("the server's CA");
    let other = Ca::new("some other CA");
    let dir = tempfile::tempdir().unwrap();
    let trusted = ca.write(dir.path());
    // (row, server certificate, CA the client trusts, words the reason must hold)
    let rows: [(&str, Arc<rustls::ServerConfig>, &Ca, &[&str]); 3] = [
        (
            "unknown issuer",
            ca.leaf(&["127.0.0.1"], false),
            &other,
            &["unknown issuer", "--cacert", "--insecure"],
        ),
        (
            "expired",
            ca.leaf(&["127.0.0.1"], true),
            &ca,
            &["expired", "--insecure"],
        ),
        (
            "wrong host",
            ca.leaf(&["example.invalid"], false),
            &ca,
            &["wrong host", "--insecure"],
        ),
    ];
    for (row, cert, trust, words) in rows {
        let server = start(Some(cert), None).await;
        let sub = tempfile::tempdir().unwrap();
        let client = target(&server.base_url())
            .with_cacert(&trust.write(sub.path()))
            .unwrap();
        let check = contract::run(check_config(client.clone())).await;
        let fuzz = fuzz::run(fuzz_config(client, sub.path())).await;
        for (tool, report) in [("check", check), ("fuzz", fuzz)] {
            assert_eq!(report.verdict(), Verdict::Untested, "{row}/{tool}");
            let reason = report.untested_reason.clone().unwrap();
            for w in words {
                assert!(
                    reason.contains(w),
                    "{row}/{tool}: {w:?} missing in {reason}"
                );
            }
        }
    }
    let _ = trusted;
}

/// Runs the binary; returns its exit code, stdout and stderr.
async fn run_bin(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(BIN)
            .args(args)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the run ends within 120 s")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_2_on_an_untrusted_certificate_and_passes_with_insecure() {
    let ca = Ca::new("private CA");
    let server = start(Some(ca.leaf(&["127.0.0.1"], false)), None).await;
    let base = server.base_url();
    for args in [
        vec!["check", &base, "--token", "admin-token"],
        vec!["fuzz", &base, "--token", "admin-token", "--cases", "2"],
    ] {
        let tool = args[0];
        let (code, out, _) = run_bin(&args).await;
        assert_eq!(code, Some(2), "{tool}: {out}");
        assert!(
            out.contains("unknown issuer") && out.contains("--cacert"),
            "{tool}: {out}"
        );
    }
    let (code, out, err) = run_bin(&["check", &base, "--token", "admin-token", "--insecure"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("warning: --insecure"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tls_self_signed_writes_a_ca_that_check_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("mock-ca.pem");
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--port", "0", "--tls-self-signed", "--tls-ca-out"])
        .arg(&ca_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut head = Vec::new();
    for _ in 0..3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("start-up lines within 20 s")
            .unwrap()
            .unwrap();
        head.push(line);
    }
    let base = head[0]
        .strip_prefix("nexudus-mock listening on ")
        .unwrap()
        .to_string();
    assert!(base.starts_with("https://127.0.0.1:"), "{head:?}");
    let ca = ca_file.display().to_string();
    assert!(head[1].contains(&ca), "the CA file is named: {head:?}");
    assert!(
        head[2].contains(&format!("--cacert '{ca}'")) && head[2].contains(&base),
        "the curl line trusts it: {head:?}"
    );

    let (code, out, err) =
        run_bin(&["check", &base, "--token", "admin-token", "--cacert", &ca]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, _) = run_bin(&["check", &base, "--token", "admin-token"]).await;
    assert_eq!(code, Some(2), "without --cacert: {out}");
    let _ = child.kill().await;
}

/// Serves the API only under `/prefix`, as a gateway that mounts it there would.
fn under_prefix() -> Layer {
    Arc::new(
        |app: &App, req: &ApiRequest| match req.path.strip_prefix("/prefix") {
            Some(rest) if rest.starts_with('/') => {
                let mut inner = req.clone();
                inner.path = rest.to_string();
                api::handle(app, &inner)
            }
            _ => ApiResponse::json(
                404,
                &json!({"Status": 404, "Message": "not under /prefix", "WasSuccessful": false}),
            ),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_with_a_path_prefix_reaches_every_endpoint() {
    let server = start(None, Some(under_prefix())).await;
    let report = contract::run(check_config(target(&format!(
        "{}/prefix/",
        server.base_url()
    ))))
    .await;
    assert_eq!(report.verdict(), Verdict::Passed, "{}", report.to_human());
    // And without the prefix nothing answers, so the pass above is the prefix's doing.
    let report = contract::run(check_config(target(&server.base_url()))).await;
    assert_ne!(report.verdict(), Verdict::Passed);
}

/// A gateway in front of the mock that refuses requests without `X-Api-Key: k-123`
/// and forwards the rest. Returns its address and how many requests it forwarded.
async fn gateway(upstream: String) -> (SocketAddr, Arc<AtomicUsize>) {
    use http_body_util::{BodyExt, Full};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forwarded = Arc::new(AtomicUsize::new(0));
    let count = forwarded.clone();
    let client = HttpClient::new(&upstream, Duration::from_secs(5));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let client = client.clone();
            let count = count.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let client = client.clone();
                    let count = count.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let key = parts
                            .headers
                            .get("x-api-key")
                            .map(|v| v.as_bytes().to_vec());
                        let (status, headers, body) = if key.as_deref() != Some(b"k-123") {
                            (
                                401,
                                vec![("content-type".to_string(), "application/json".to_string())],
                                bytes::Bytes::from_static(
                                    br#"{"Message":"gateway: X-Api-Key required"}"#,
                                ),
                            )
                        } else {
                            count.fetch_add(1, Ordering::Relaxed);
                            let mut fwd = HttpRequest::new(
                                parts.method.as_str(),
                                parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                            );
                            for (k, v) in &parts.headers {
                                if k != "host" && k != "content-length" && k != "x-api-key" {
                                    fwd = fwd.header(k.as_str(), v.to_str().unwrap_or_default());
                                }
                            }
                            fwd.body = Some(body);
                            match client.send(&fwd).await {
                                Ok(r) => (r.status, r.headers, r.body),
                                Err(_) => (502, vec![], bytes::Bytes::new()),
                            }
                        };
                        let mut resp = hyper::Response::builder().status(status);
                        for (k, v) in headers {
                            if k != "content-length"
                                && k != "transfer-encoding"
                                && k != "connection"
                            {
                                resp = resp.header(k, v);
                            }
                        }
                        Ok::<_, std::convert::Infallible>(resp.body(Full::new(body)).unwrap())
                    }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (addr, forwarded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_headers_reach_a_target_behind_a_gateway() {
    let server = start(None, None).await;
    let (addr, forwarded) = gateway(server.base_url()).await;
    let base = format!("http://{addr}");
    // (row, headers, expected verdict)
    let rows: [(&str, &[&str], Verdict); 3] = [
        ("no key", &[], Verdict::Untested),
        ("wrong key", &["X-Api-Key: nope"], Verdict::Untested),
        (
            "the key",
            &["X-Api-Key: k-123", "X-Tenant: t1"],
            Verdict::Passed,
        ),
    ];
    for (row, headers, verdict) in rows {
        let mut client = target(&base);
        for h in headers {
            client = client.with_header(h).unwrap();
        }
        let report = contract::run(check_config(client)).await;
        assert_eq!(report.verdict(), verdict, "{row}: {}", report.to_human());
    }
    assert!(forwarded.load(Ordering::Relaxed) > 50);
}

/// A CONNECT-only proxy on 127.0.0.1 that counts the tunnels it opens (loopback
/// destinations only).
async fn connect_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let dest = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|d| d.parse::<SocketAddr>().ok())
                    .filter(|d| d.ip().is_loopback());
                let Some(dest) = dest else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(dest).await else {
                    let _ = client
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(60),
                        tokio::io::copy_bidirectional(&mut client, &mut upstream),
                    )
                    .await;
                }
            });
        }
    });
    (url, tunnels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_is_used_and_no_proxy_bypasses_it() {
    let ca = Ca::new("proxy test CA");
    let server = start(Some(ca.leaf(&["127.0.0.1"], false)), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path());
    let (proxy, tunnels) = connect_proxy().await;
    // (row, NO_PROXY, tunnels opened)
    for (row, no_proxy, proxied) in [
        ("through the proxy", None, true),
        (
            "NO_PROXY names the host",
            Some("localhost,127.0.0.1"),
            false,
        ),
    ] {
        let before = tunnels.load(Ordering::Relaxed);
        let settings = ProxySettings {
            https: Some(proxy.clone()),
            no_proxy: no_proxy.map(str::to_string),
            ..ProxySettings::default()
        };
        let client = target(&server.base_url())
            .with_cacert(&ca_file)
            .unwrap()
            .with_proxy_settings(&settings)
            .unwrap();
        assert_eq!(client.proxy().is_some(), proxied, "{row}");
        let report = contract::run(check_config(client.clone())).await;
        assert_eq!(
            report.verdict(),
            Verdict::Passed,
            "{row}: {}",
            report.to_human()
        );
        let opened = tunnels.load(Ordering::Relaxed) - before;
        assert_eq!(opened > 0, proxied, "{row}: {opened} tunnels");
        let curl = HttpRequest::new("GET", "/x").to_curl_for(&client, false);
        assert_eq!(
            curl.contains(&format!("--proxy '{proxy}'")),
            proxied,
            "{row}: {curl}"
        );
    }
}

/// The mock, recording the scheme of every Authorization header it sees and, once
/// `expire_after` requests have used the first token it issued, refusing that
/// token (as if it had expired mid-run).
fn recording(schemes: Arc<Mutex<Vec<String>>>, token_endpoint: bool, expire_after: usize) -> Layer {
    let first_token: Arc<Mutex<Option<String>>> = Arc::default();
    let uses = Arc::new(AtomicUsize::new(0));
    Arc::new(move |app: &App, req: &ApiRequest| {
        if req.path == "/api/token" {
            if !token_endpoint {
                return ApiResponse::json(404, &json!({"Status": 404, "Message": "no such path"}));
            }
            let resp = api::handle(app, req);
            let mut first = first_token.lock().unwrap();
            if first.is_none()
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body)
            {
                *first = v["access_token"].as_str().map(str::to_string);
            }
            return resp;
        }
        let auth = req
            .authorization
            .as_deref()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_default();
        // The runner's auth checks also send a Basic header that is not base64 on
        // purpose; only well-formed Basic credentials count as "Basic was used".
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth.as_str(), ""));
        let malformed = scheme == "Basic" && {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(rest)
                .is_err()
        };
        schemes.lock().unwrap().push(if malformed {
            "Basic (malformed)".to_string()
        } else {
            scheme.to_string()
        });
        let first = first_token.lock().unwrap().clone();
        if first.is_some_and(|t| auth == format!("Bearer {t}"))
            && uses.fetch_add(1, Ordering::Relaxed) >= expire_after
        {
            return ApiResponse::json(
                401,
                &json!({"Message": "Authorization has been denied for this request: the token has expired."}),
            );
        }
        api::handle(app, req)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_credentials_use_the_token_grant_when_offered_and_basic_otherwise() {
    // (row, target offers /api/token, token expires after, auth fact holds, scheme used)
    let rows = [
        (
            "token grant",
            true,
            usize::MAX,
            "bearer token from POST /api/token",
            "Bearer",
        ),
        (
            "refreshed after a 401",
            true,
            20,
            "refreshed once after a 401",
            "Bearer",
        ),
        (
            "no token endpoint",
            false,
            usize::MAX,
            "basic (--user; no token from POST /api/token: HTTP 404",
            "Basic",
        ),
    ];
    for (row, offered, expire_after, says, scheme) in rows {
        let schemes = Arc::new(Mutex::new(Vec::new()));
        let server = start(
            None,
            Some(recording(schemes.clone(), offered, expire_after)),
        )
        .await;
        let mut cfg = check_config(target(&server.base_url()));
        cfg.credential = Credential::user("admin@example.com:admin-password").unwrap();
        let report = contract::run(cfg).await;
        assert_eq!(
            report.verdict(),
            Verdict::Passed,
            "{row}: {}",
            report.to_human()
        );
        assert!(
            fact(&report, "auth").contains(says),
            "{row}: {:?}",
            report.facts
        );
        let human = report.to_human();
        assert!(
            !human.contains("admin-password"),
            "{row}: the password is never shown"
        );
        let seen = schemes.lock().unwrap();
        assert!(seen.iter().any(|s| s == scheme), "{row}: {seen:?}");
        let other = if scheme == "Basic" { "Bearer" } else { "Basic" };
        // The auth checks send deliberately bad Bearer values; Basic is only ever ours.
        if scheme == "Bearer" {
            assert!(!seen.iter().any(|s| s == other), "{row}: {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_reported_not_followed() {
    let followed = Arc::new(AtomicUsize::new(0));
    let count = followed.clone();
    let layer: Layer = Arc::new(move |app: &App, req: &ApiRequest| {
        if req.path.starts_with("/moved") {
            count.fetch_add(1, Ordering::Relaxed);
            return api::handle(app, req);
        }
        ApiResponse::empty(301).with_header("location", format!("/moved{}", req.path))
    });
    let server = start(None, Some(layer)).await;
    let client = HttpClient::new(&server.base_url(), Duration::from_secs(5));
    let r = client
        .send(&HttpRequest::new("GET", "/api/spaces/coworkersettings"))
        .await
        .unwrap();
    assert_eq!(r.status, 301);
    let report = contract::run(check_config(target(&server.base_url()))).await;
    assert_eq!(report.verdict(), Verdict::Failed, "{}", report.to_human());
    let human = report.to_human();
    assert!(
        human.contains("redirected (HTTP 301) to /moved/api/spaces/coworkersettings")
            && human.contains("not followed"),
        "{human}"
    );
    assert_eq!(followed.load(Ordering::Relaxed), 0, "nothing followed it");
}

#[tokio::test]
async fn an_https_url_to_a_plain_http_port_says_so() {
    let server = start(None, None).await;
    let base = server.base_url().replace("http://", "https://");
    let report = contract::run(check_config(target(&base))).await;
    assert_eq!(report.verdict(), Verdict::Untested);
    let reason = report.untested_reason.unwrap();
    assert!(
        reason.contains("does not speak TLS on this port"),
        "{reason}"
    );
}
