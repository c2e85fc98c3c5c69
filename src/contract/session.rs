//! One contract run's connection to the target: credentials, the rate limit and
//! 429 handling, every exchange kept for the run-wide checks (no 5xx, JSON content
//! type), the records the run created (for cleanup), and helpers that turn an
//! exchange into evidence for the report.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{ClientError, HttpClient, HttpRequest, HttpResponse};
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

pub struct Session {
    pub client: HttpClient,
    pub base_url: String,
    pub credential: Credential,
    pub show_secrets: bool,
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    /// Every exchange of the run, in order.
    pub log: Vec<Exchange>,
    /// Ids this run created and has not deleted: the cleanup list.
    pub created: Vec<i64>,
    pub creates: usize,
}

impl Session {
    pub fn new(
        base_url: &str,
        credential: Credential,
        timeout: Duration,
        rate: Option<f64>,
        show_secrets: bool,
    ) -> Self {
        Session {
            client: HttpClient::new(base_url, timeout),
            base_url: base_url.trim_end_matches('/').to_string(),
            credential,
            show_secrets,
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
            if let Ok(r) = &result {
                if r.status == 429 && attempts < 3 {
                    attempts += 1;
                    let secs = r
                        .header("retry-after")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .unwrap_or(1.0);
                    tokio::time::sleep(Duration::from_secs_f64(secs.clamp(0.0, 10.0))).await;
                    continue;
                }
            }
            let exchange = Exchange {
                request: req,
                result,
            };
            self.log.push(exchange.clone());
            return exchange;
        }
    }

    /// Sends with this run's credentials.
    pub async fn send(&mut self, req: HttpRequest) -> Exchange {
        let req = self.authed(req);
        self.send_raw(req).await
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
        if ex.request.method == "POST" && ex.status() == Some(200) {
            if let Some(id) = ex.json().and_then(|v| v["Value"]["Id"].as_i64()) {
                self.created.push(id);
            }
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
        e.reproduce = Some(ex.request.to_curl(&self.base_url, self.show_secrets));
        e
    }

    /// Checks status, JSON body and schema; the body, or the evidence of what is wrong.
    pub fn expect(&self, ex: &Exchange, status: u16, schema: Schema) -> Result<Value, Evidence> {
        let Ok(r) = &ex.result else {
            return Err(self.evidence(ex, "no response", format!("HTTP {status}")));
        };
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
