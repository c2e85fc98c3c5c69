//! One contract run's connection to the target: credentials (a `--user` is first
//! traded for a bearer token at `POST /api/token`, refreshed once on a 401, Basic
//! when the target has no token endpoint), the rate limit and 429 handling, every exchange kept for the run-wide checks (no 5xx, JSON content
//! type), the records the run created (for cleanup), and helpers that turn an
//! exchange into evidence for the report.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{ClientConfig, ClientError, HttpClient, HttpRequest, HttpResponse};
use crate::report::Evidence;
use crate::resource::BASE_PATH;
use crate::schemas::Schema;

/// How the runner authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    Basic { email: String, password: String },
    None,
}

impl Credential {
    pub fn header(&self) -> Option<String> {
        use base64::Engine;
        match self {
            Credential::Bearer(t) => Some(format!("Bearer {t}")),
            Credential::Basic { email, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
            )),
            Credential::None => None,
        }
    }

    /// Parses `EMAIL:PASSWORD`.
    pub fn user(s: &str) -> Option<Self> {
        let (email, password) = s.split_once(':')?;
        Some(Credential::Basic {
            email: email.to_string(),
            password: password.to_string(),
        })
    }
}

/// A request and what came back (or why nothing did).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: HttpRequest,
    pub result: Result<HttpResponse, ClientError>,
}

impl Exchange {
    pub fn status(&self) -> Option<u16> {
        self.result.as_ref().ok().map(|r| r.status)
    }

    pub fn response(&self) -> Option<&HttpResponse> {
        self.result.as_ref().ok()
    }

    pub fn json(&self) -> Option<Value> {
        self.response().and_then(|r| r.json().ok())
    }

    /// `METHOD /path` plus the body, shortened.
    pub fn request_line(&self) -> String {
        let mut s = format!("{} {}", self.request.method, self.request.path);
        if let Some(b) = &self.request.body {
            let text = String::from_utf8_lossy(b);
            s.push_str(&format!(" body: {}", crate::client::truncate(&text, 300)));
        }
        s
    }
}

/// The most records one run creates; `check --help` says so.
pub const MAX_CREATES: usize = 100;

/// The vendor's OAuth2 token endpoint (password and refresh-token grants).
pub const TOKEN_PATH: &str = "/api/token";

pub struct Session {
    pub client: HttpClient,
    pub base_url: String,
    pub credential: Credential,
    pub show_secrets: bool,
    /// From the password grant; spent on the first 401 (see [`Session::send`]).
    refresh_token: Option<String>,
    /// How the run authenticates, for the report's `auth` fact (never a secret).
    pub auth_used: String,
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    /// Every exchange of the run, in order.
    pub log: Vec<Exchange>,
    /// Ids this run created and has not deleted: the cleanup list.
    pub created: Vec<i64>,
    pub creates: usize,
}

impl Session {
    /// A session to `target`. A client that cannot be built (a TLS set-up problem)
    /// fails every request with that error, so the run ends as "not tested" with
    /// the reason rather than here.
    pub fn new(
        target: &ClientConfig,
        credential: Credential,
        rate: Option<f64>,
        show_secrets: bool,
    ) -> Self {
        let auth_used = match &credential {
            Credential::Bearer(_) => "bearer token (--token)",
            Credential::Basic { .. } => "basic (--user)",
            Credential::None => "none",
        }
        .to_string();
        Session {
            client: HttpClient::from_config_or_failing(target),
            base_url: target.base_url().to_string(),
            credential,
            show_secrets,
            refresh_token: None,
            auth_used,
            min_interval: rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            last_sent: None,
            log: Vec::new(),
            created: Vec::new(),
            creates: 0,
        }
    }

    /// The request with this run's credentials.
    pub fn authed(&self, req: HttpRequest) -> HttpRequest {
        match self.credential.header() {
            Some(h) => req.header("Authorization", h),
            None => req,
        }
    }

    /// Sends a request as is (no credentials added), honouring the rate and 429s.
    pub async fn send_raw(&mut self, req: HttpRequest) -> Exchange {
        let mut attempts = 0;
        loop {
            if let (Some(interval), Some(last)) = (self.min_interval, self.last_sent) {
                let wait = interval.saturating_sub(last.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            self.last_sent = Some(Instant::now());
            let result = self.client.send(&req).await;
            if let Ok(r) = &result
                && r.status == 429
                && attempts < 3
            {
                attempts += 1;
                let secs = r
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or(1.0);
                tokio::time::sleep(Duration::from_secs_f64(secs.clamp(0.0, 10.0))).await;
                continue;
            }
            let exchange = Exchange {
                request: req,
                result,
            };
            self.log.push(exchange.clone());
            return exchange;
        }
    }

    /// Sends with this run's credentials. The first 401 of a run signed in with a
    /// token grant spends the refresh token (the access token may have expired
    /// mid-run) and, if that works, sends the request again.
    pub async fn send(&mut self, req: HttpRequest) -> Exchange {
        let retry = self.refresh_token.is_some().then(|| req.clone());
        let ex = self.send_raw(self.authed(req)).await;
        if let (Some(req), Some(401)) = (retry, ex.status())
            && self.refresh().await
        {
            return self.send_raw(self.authed(req)).await;
        }
        ex
    }

    /// Signs in the way the vendor issues credentials: a `--user` is traded for a
    /// bearer token with the OAuth2 password grant when the target offers
    /// `POST /api/token`, and stays Basic otherwise. Returns what was used (also
    /// kept in `auth_used`), for the report. Token exchanges stay out of the run's
    /// log: they are not part of the API under test.
    pub async fn sign_in(&mut self) -> String {
        let Credential::Basic { email, password } = self.credential.clone() else {
            return self.auth_used.clone();
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "password")
            .append_pair("username", &email)
            .append_pair("password", &password)
            .finish();
        self.auth_used = match self.token_grant(form).await {
            Ok(()) => "bearer token from POST /api/token (password grant for --user)".into(),
            Err(why) => format!("basic (--user; no token from POST /api/token: {why})"),
        };
        self.auth_used.clone()
    }

    /// Trades the refresh token for a new access token, once per run.
    async fn refresh(&mut self) -> bool {
        let Some(refresh) = self.refresh_token.take() else {
            return false;
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &refresh)
            .finish();
        let ok = self.token_grant(form).await.is_ok();
        // Whatever the answer, one refresh per run: a target that keeps refusing the
        // new token must not turn every request into three.
        self.refresh_token = None;
        if ok {
            self.auth_used.push_str("; refreshed once after a 401");
        }
        ok
    }

    /// Posts a grant; on success the session's credential becomes the new token.
    async fn token_grant(&mut self, form: String) -> Result<(), String> {
        let req = HttpRequest::new("POST", TOKEN_PATH)
            .raw_body("application/x-www-form-urlencoded", form);
        let resp = self.client.send(&req).await.map_err(|e| e.to_string())?;
        if resp.status != 200 {
            let error = resp
                .json()
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string));
            return Err(match error {
                Some(e) => format!("HTTP {}, {e}", resp.status),
                None => format!("HTTP {}", resp.status),
            });
        }
        let v = resp.json()?;
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or("HTTP 200 without an access_token")?;
        self.credential = Credential::Bearer(token.to_string());
        self.refresh_token = v["refresh_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(())
    }

    /// The curl command that repeats `req` against this target (trust, proxy and
    /// extra headers included; secrets masked unless `--show-secrets`).
    pub fn curl(&self, req: &HttpRequest) -> String {
        req.to_curl_for(self.client.config(), self.show_secrets)
    }

    pub async fn get(&mut self, path: &str) -> Exchange {
        self.send(HttpRequest::new("GET", path)).await
    }

    pub async fn list(&mut self, query: &str) -> Exchange {
        self.get(&format!("{BASE_PATH}?{query}")).await
    }

    /// Creates a setting; on 200 the Id joins the cleanup list. `None` once the
    /// run's cap on creates is reached.
    pub async fn create(&mut self, body: &Value) -> Option<(Exchange, Option<i64>)> {
        if self.creates >= MAX_CREATES {
            return None;
        }
        self.creates += 1;
        let ex = self
            .send(HttpRequest::new("POST", BASE_PATH).json(body))
            .await;
        let id = (ex.status() == Some(200))
            .then(|| ex.json().and_then(|v| v["Value"]["Id"].as_i64()))
            .flatten();
        if let Some(id) = id {
            self.created.push(id);
        }
        Some((ex, id))
    }

    /// A create that succeeded where it should not have still made a record: adopt
    /// it into the cleanup list.
    pub fn track_created(&mut self, ex: &Exchange) {
        if ex.request.method == "POST"
            && ex.status() == Some(200)
            && let Some(id) = ex.json().and_then(|v| v["Value"]["Id"].as_i64())
        {
            self.created.push(id);
        }
    }

    /// Builds the evidence for a failed expectation about `ex`.
    pub fn evidence(
        &self,
        ex: &Exchange,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Evidence {
        let mut e = Evidence::new(problem);
        e.request = Some(ex.request_line());
        match &ex.result {
            Ok(r) => {
                e.status = Some(r.status);
                e.response = Some(r.body_excerpt(600));
            }
            Err(err) => e.response = Some(format!("no response: {err}")),
        }
        e.expected = Some(expected.into());
        e.reproduce = Some(self.curl(&ex.request));
        e
    }

    /// Checks status, JSON body and schema; the body, or the evidence of what is wrong.
    pub fn expect(&self, ex: &Exchange, status: u16, schema: Schema) -> Result<Value, Evidence> {
        let Ok(r) = &ex.result else {
            return Err(self.evidence(ex, "no response", format!("HTTP {status}")));
        };
        if (300..400).contains(&r.status)
            && status != r.status
            && let Some(location) = r.header("location")
        {
            return Err(self.evidence(
                ex,
                format!(
                    "redirected (HTTP {}) to {location}; redirects are reported, not followed (is the base URL right?)",
                    r.status
                ),
                format!("HTTP {status}"),
            ));
        }
        if r.status != status {
            return Err(self.evidence(
                ex,
                format!("status {} instead of {status}", r.status),
                format!("HTTP {status}"),
            ));
        }
        let v = r.json().map_err(|e| {
            self.evidence(
                ex,
                e,
                format!("a JSON body matching {}", schema.file_name()),
            )
        })?;
        schema.validate(&v).map_err(|e| {
            self.evidence(
                ex,
                format!("the body {e}"),
                format!("a body matching {}", schema.file_name()),
            )
        })?;
        Ok(v)
    }
}

impl Credential {
    /// A credential from `--token` or `--user`.
    pub fn from_flags(token: Option<&str>, user: Option<&str>) -> Result<Credential, String> {
        match (token, user) {
            (Some(t), _) => Ok(Credential::Bearer(t.to_string())),
            (None, Some(u)) => {
                Credential::user(u).ok_or_else(|| format!("--user {u:?} is not EMAIL:PASSWORD"))
            }
            (None, None) => Ok(Credential::None),
        }
    }
}
