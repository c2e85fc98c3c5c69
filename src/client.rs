//! The HTTP/1.1 client the contract runner, the fuzzer and the tests share (reqwest
//! on rustls): [`ClientConfig`] holds everything about reaching a target (base URL
//! with any path prefix, trust, proxy, extra headers, timeout); each request has a
//! deadline and a cap on the response body; redirects come back, never followed;
//! and every request renders as a curl command that repeats it.

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use thiserror::Error;

/// Largest response body read; beyond it the response is reported as too large.
pub const DEFAULT_MAX_RESPONSE: usize = 8 * 1024 * 1024;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the response body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the exchange failed: {0}")]
    Io(String),
    #[error("bad request URL {0:?}")]
    BadUrl(String),
    /// The TLS handshake failed: a certificate problem (named, with the flag that
    /// helps) or no TLS at all on the other end.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A request as the runner and fuzzer describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, e.g. `/api/spaces/coworkersettings?page=2`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl HttpRequest {
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        HttpRequest {
            method: method.to_string(),
            path: path.into(),
            headers: vec![],
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw_body("application/json", Bytes::from(body.to_string()))
    }

    pub fn raw_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self.body = Some(body.into());
        self
    }

    /// A shell command that sends the same request. The `Authorization` value is
    /// masked unless `show_secrets`.
    pub fn to_curl(&self, base_url: &str, show_secrets: bool) -> String {
        self.curl_with(base_url, String::new(), show_secrets)
    }

    /// As [`HttpRequest::to_curl`], with what it takes to reach `target` the same
    /// way: `--cacert`, `-k`, `--proxy` and the extra headers (secret-looking
    /// header values and proxy credentials masked unless `show_secrets`).
    pub fn to_curl_for(&self, target: &ClientConfig, show_secrets: bool) -> String {
        self.curl_with(
            &target.base_url,
            target.curl_options(show_secrets),
            show_secrets,
        )
    }

    fn curl_with(&self, base_url: &str, options: String, show_secrets: bool) -> String {
        let mut s = format!(
            "curl -sS{options} -X {} {}",
            self.method,
            shell_quote(&format!("{base_url}{}", self.path))
        );
        for (k, v) in &self.headers {
            let v = if !show_secrets && k.eq_ignore_ascii_case("authorization") {
                match v.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} ***"),
                    None => "***".to_string(),
                }
            } else {
                v.clone()
            };
            s.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
        }
        if let Some(b) = &self.body {
            let text = String::from_utf8_lossy(b);
            if text.len() > 2048 {
                s.push_str(&format!(
                    " --data-binary {}",
                    shell_quote(&format!("{}…", truncate(&text, 2048)))
                ));
                s.push_str(&format!(
                    "   # body truncated here; {} bytes in all",
                    b.len()
                ));
            } else {
                s.push_str(&format!(" --data-binary {}", shell_quote(&text)));
            }
        }
        s
    }
}

/// Cuts a string at a char boundary at or below `max` bytes.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub elapsed: Duration,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("the body is not JSON ({e}): {}", self.body_excerpt(200)))
    }

    pub fn is_json_content_type(&self) -> bool {
        self.header("content-type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                == "application/json"
        })
    }

    pub fn body_excerpt(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.len() > max {
            format!("{}… ({} bytes)", truncate(&text, max), self.body.len())
        } else {
            text.into_owned()
        }
    }
}

/// Where and how the client talks to a target: the base URL (with any path
/// prefix), trust (extra roots or none at all), the proxy, headers added to every
/// request, and the timeout. Built once from the flags; nothing below it reads the
/// environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    base_url: String,
    pub timeout: Duration,
    /// `--cacert`: the file (for curl lines) and its certificates, read once.
    cacert: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
    /// `--insecure`: accept any certificate.
    pub insecure: bool,
    /// The proxy this target is reached through, resolved once from the settings.
    proxy: Option<String>,
    /// `-H 'Name: value'`, sent with every request.
    headers: Vec<(String, String)>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0:?} is not an http:// or https:// URL")]
    Scheme(String),
    #[error("{url:?} is not a usable base URL: {reason}")]
    Url { url: String, reason: String },
    #[error("--header {0:?} is not 'Name: value'")]
    Header(String),
    #[error(
        "--header {0:?}: credentials go in --token or --user, so the auth checks can leave them out"
    )]
    AuthorizationHeader(String),
    #[error("the proxy {0:?} is not a usable URL")]
    Proxy(String),
    #[error("--cacert: {0}")]
    CaCert(#[from] crate::tls::TlsError),
}

/// Proxy settings as curl reads them from the environment (`HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, either case); filled in by the binary
/// and resolved against the target once, in [`ClientConfig::with_proxy_settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    pub http: Option<String>,
    pub https: Option<String>,
    pub all: Option<String>,
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// Reads the variables through `var` (the binary passes `std::env::var`). The
    /// lower-case name wins, as in curl.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(&name.to_ascii_lowercase())
                .or_else(|| var(&name.to_ascii_uppercase()))
                .filter(|v| !v.trim().is_empty())
        };
        ProxySettings {
            http: get("http_proxy"),
            https: get("https_proxy"),
            all: get("all_proxy"),
            no_proxy: get("no_proxy"),
        }
    }

    /// The proxy for `url`, or none (no proxy for its scheme, or `NO_PROXY` names
    /// its host: a domain and its subdomains, an IP or a CIDR range, or `*`).
    pub fn for_url(&self, url: &str) -> Option<String> {
        let uri: hyper::Uri = url.parse().ok()?;
        let raw = match uri.scheme_str() {
            Some("https") => self.https.clone().or_else(|| self.all.clone()),
            Some("http") => self.http.clone().or_else(|| self.all.clone()),
            _ => None,
        }?;
        // hyper-util's matcher applies NO_PROXY with curl's rules.
        let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
            .all(raw.as_str())
            .no(self.no_proxy.clone().unwrap_or_default())
            .build();
        matcher.intercept(&uri).map(|_| raw)
    }
}

impl ClientConfig {
    /// A plain configuration for `base_url`: default trust, no proxy, no extra
    /// headers, a 10 s timeout.
    pub fn new(base_url: &str) -> Result<Self, ConfigError> {
        let trimmed = base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Scheme(base_url.to_string()));
        }
        let parsed = reqwest::Url::parse(trimmed).map_err(|e| ConfigError::Url {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ConfigError::Url {
                url: base_url.to_string(),
                reason: "a base URL has no query or fragment".into(),
            });
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::Url {
                url: base_url.to_string(),
                reason: "it has no host".into(),
            });
        }
        Ok(Self::unchecked(trimmed, Duration::from_secs(10)))
    }

    /// No checks: [`HttpClient::new`] keeps its infallible signature and reports a
    /// bad URL on the first send.
    fn unchecked(base_url: &str, timeout: Duration) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
            cacert: None,
            insecure: false,
            proxy: None,
            headers: Vec::new(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the CA certificates in this PEM file, besides the default roots.
    pub fn with_cacert(mut self, path: &Path) -> Result<Self, ConfigError> {
        let certs = crate::tls::read_certs(path)?;
        self.cacert = Some((path.to_path_buf(), certs));
        Ok(self)
    }

    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Adds a header (`Name: value`) to every request.
    pub fn with_header(mut self, line: &str) -> Result<Self, ConfigError> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ConfigError::Header(line.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value).is_err()
        {
            return Err(ConfigError::Header(line.to_string()));
        }
        if name.eq_ignore_ascii_case("authorization") {
            return Err(ConfigError::AuthorizationHeader(line.to_string()));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Resolves the proxy for this target from curl-style settings.
    pub fn with_proxy_settings(self, settings: &ProxySettings) -> Result<Self, ConfigError> {
        let proxy = settings.for_url(&self.base_url);
        self.with_proxy(proxy)
    }

    /// Sends everything through this proxy (`http://[user:pass@]host:port`), or
    /// connects directly.
    pub fn with_proxy(mut self, proxy: Option<String>) -> Result<Self, ConfigError> {
        if let Some(p) = &proxy {
            reqwest::Proxy::all(p.as_str()).map_err(|_| ConfigError::Proxy(p.clone()))?;
        }
        self.proxy = proxy;
        Ok(self)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn cacert_path(&self) -> Option<&Path> {
        self.cacert.as_ref().map(|(p, _)| p.as_path())
    }

    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// curl options that reach the target the same way (trust, proxy, headers).
    fn curl_options(&self, show_secrets: bool) -> String {
        let mut s = String::new();
        if let Some((path, _)) = &self.cacert {
            s.push_str(&format!(
                " --cacert {}",
                shell_quote(&path.display().to_string())
            ));
        }
        if self.insecure {
            s.push_str(" -k");
        }
        if let Some(p) = &self.proxy {
            let shown = if show_secrets {
                p.clone()
            } else {
                mask_userinfo(p)
            };
            s.push_str(&format!(" --proxy {}", shell_quote(&shown)));
        }
        for (k, v) in &self.headers {
            let v = if show_secrets || !looks_secret(k) {
                v.clone()
            } else {
                "***".to_string()
            };
            s.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
        }
        s
    }
}

/// Header names that usually carry a secret (gateway keys, tokens, cookies).
fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "auth",
        "pass",
        "cookie",
        "session",
        "signature",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// `http://user:pass@host` → `http://***@host`.
fn mask_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !rest[..rest.find('@').unwrap_or(0)].contains('/') => {
                format!("{scheme}://***@{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The client. Cheap to clone; connections are pooled per target.
#[derive(Clone)]
pub struct HttpClient {
    config: Arc<ClientConfig>,
    /// The error instead, for [`HttpClient::from_config_or_failing`].
    inner: Result<reqwest::Client, ClientError>,
    max_response: usize,
}

impl HttpClient {
    /// A client with default trust and no proxy (tests and plain targets).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self::from_config(&ClientConfig::unchecked(base_url, timeout))
            .expect("a client without custom TLS or proxy always builds")
    }

    /// The client a [`ClientConfig`] describes. Redirects are never followed: a
    /// 3xx comes back as it is, for the caller to report.
    pub fn from_config(config: &ClientConfig) -> Result<Self, ClientError> {
        let extra: &[CertificateDer<'static>] =
            config.cacert.as_ref().map_or(&[], |(_, c)| c.as_slice());
        let tls = crate::tls::client_config(extra, config.insecure)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .tls_backend_preconfigured(tls);
        builder = match &config.proxy {
            // An explicit proxy also stops reqwest from reading the environment itself.
            Some(p) => builder.proxy(
                reqwest::Proxy::all(p.as_str())
                    .map_err(|_| ClientError::BadUrl(format!("proxy {}", mask_userinfo(p))))?,
            ),
            None => builder.no_proxy(),
        };
        let inner = builder
            .build()
            .map_err(|e| ClientError::Tls(error_chain(&e)))?;
        Ok(HttpClient {
            config: Arc::new(config.clone()),
            inner: Ok(inner),
            max_response: DEFAULT_MAX_RESPONSE,
        })
    }

    /// As [`HttpClient::from_config`], but a client that cannot be built fails each
    /// request with the reason, so callers that report per request need no other path.
    pub fn from_config_or_failing(config: &ClientConfig) -> Self {
        Self::from_config(config).unwrap_or_else(|e| HttpClient {
            config: Arc::new(config.clone()),
            inner: Err(e),
            max_response: DEFAULT_MAX_RESPONSE,
        })
    }

    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends one request; the whole exchange, body included, is bounded by the
    /// timeout. A redirect is returned, not followed.
    pub async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, ClientError> {
        let started = Instant::now();
        let timeout = self.config.timeout;
        let url = format!("{}{}", self.config.base_url, req.path);
        let parsed = reqwest::Url::parse(&url).map_err(|_| ClientError::BadUrl(url.clone()))?;
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| ClientError::BadUrl(format!("{} {url}", req.method)))?;
        let client = self.inner.as_ref().map_err(Clone::clone)?;
        let mut builder = client.request(method, parsed);
        for (k, v) in &self.config.headers {
            if !req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        // Always a body, possibly empty, so the framing (Content-Length) is the
        // same whatever the method.
        builder = builder.body(req.body.clone().unwrap_or_default());
        let max = self.max_response;
        let exchange = async {
            let mut resp = builder.send().await.map_err(|e| self.classify(&e))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(&e))? {
                if body.len() + chunk.len() > max {
                    return Err(ClientError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body: Bytes::from(body),
                elapsed: started.elapsed(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    fn classify(&self, e: &reqwest::Error) -> ClientError {
        if let Some(problem) = crate::tls::cert_problem(e) {
            return ClientError::Tls(problem.explain());
        }
        if e.is_builder() {
            return ClientError::BadUrl(error_chain(e));
        }
        if e.is_timeout() {
            return ClientError::Timeout(self.config.timeout);
        }
        let chain = error_chain(e);
        if e.is_connect() {
            if self.config.is_https() && looks_like_plain_http(&chain) {
                return ClientError::Tls(format!(
                    "the target does not speak TLS on this port (is it an http:// URL?): {chain}"
                ));
            }
            return ClientError::Connect(chain);
        }
        ClientError::Io(chain)
    }
}

/// rustls' words for a server that answered a handshake with plain HTTP.
fn looks_like_plain_http(chain: &str) -> bool {
    chain.contains("InvalidContentType") || chain.contains("corrupt message")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_settings_resolve_per_target_as_curl_does() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            ProxySettings::from_vars(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        // (row, environment, target, proxy used)
        let rows: [(&str, ProxySettings, &str, Option<&str>); 8] = [
            ("none set", env(&[]), "https://api.example.com", None),
            (
                "https target, HTTPS_PROXY",
                env(&[("HTTPS_PROXY", "http://p:3128")]),
                "https://api.example.com",
                Some("http://p:3128"),
            ),
            (
                "http target ignores HTTPS_PROXY",
                env(&[("HTTPS_PROXY", "http://p:3128")]),
                "http://api.example.com",
                None,
            ),
            (
                "lower case wins",
                env(&[
                    ("https_proxy", "http://low:1"),
                    ("HTTPS_PROXY", "http://up:2"),
                ]),
                "https://api.example.com",
                Some("http://low:1"),
            ),
            (
                "ALL_PROXY as the fallback",
                env(&[("ALL_PROXY", "http://all:9")]),
                "http://api.example.com",
                Some("http://all:9"),
            ),
            (
                "NO_PROXY names a parent domain",
                env(&[
                    ("HTTPS_PROXY", "http://p:3128"),
                    ("NO_PROXY", "example.com"),
                ]),
                "https://api.example.com/nexudus",
                None,
            ),
            (
                "NO_PROXY names an IP",
                env(&[("HTTPS_PROXY", "http://p:3128"), ("no_proxy", "127.0.0.1")]),
                "https://127.0.0.1:4010",
                None,
            ),
            (
                "NO_PROXY for another host",
                env(&[("HTTPS_PROXY", "http://p:3128"), ("NO_PROXY", "other.org")]),
                "https://api.example.com",
                Some("http://p:3128"),
            ),
        ];
        for (row, settings, url, want) in rows {
            assert_eq!(settings.for_url(url).as_deref(), want, "{row}");
        }
    }

    #[test]
    fn curl_lines_carry_trust_proxy_and_headers_with_secrets_masked() {
        let dir = std::env::temp_dir().join(format!("nm-curl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        let made = crate::tls::self_signed(&["localhost".to_string()]).unwrap();
        std::fs::write(&ca, &made.ca_pem).unwrap();
        let target = ClientConfig::new("https://gw.example.com/nexudus/")
            .unwrap()
            .with_cacert(&ca)
            .unwrap()
            .with_insecure(true)
            .with_proxy(Some("http://u:pw@proxy:3128".into()))
            .unwrap()
            .with_header("X-Api-Key: s3cret")
            .unwrap()
            .with_header("X-Tenant: t1")
            .unwrap();
        let req = HttpRequest::new("GET", "/api/x").header("Authorization", "Bearer tok");
        let masked = req.to_curl_for(&target, false);
        assert_eq!(
            masked,
            format!(
                "curl -sS --cacert '{}' -k --proxy 'http://***@proxy:3128' -H 'X-Api-Key: ***' -H 'X-Tenant: t1' -X GET 'https://gw.example.com/nexudus/api/x' -H 'Authorization: Bearer ***'",
                ca.display()
            )
        );
        let shown = req.to_curl_for(&target, true);
        assert!(
            shown.contains("'http://u:pw@proxy:3128'")
                && shown.contains("X-Api-Key: s3cret")
                && shown.contains("Bearer tok"),
            "{shown}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_targets_and_headers_are_refused_with_the_input_quoted() {
        // (input, words the error must hold)
        let urls = [
            ("ftp://x", "not an http:// or https:// URL"),
            ("https://", "not a usable base URL"),
            ("https://h/p?q=1", "no query or fragment"),
        ];
        for (url, says) in urls {
            let e = ClientConfig::new(url).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(url), "{url}: {e}");
        }
        let base = ClientConfig::new("https://h").unwrap();
        let headers = [
            ("no colon", "not 'Name: value'"),
            ("Bad Name: v", "not 'Name: value'"),
            ("Authorization: Bearer x", "--token or --user"),
        ];
        for (line, says) in headers {
            let e = base.clone().with_header(line).unwrap_err().to_string();
            assert!(e.contains(says), "{line}: {e}");
        }
    }
}
