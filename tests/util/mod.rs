//! Helpers shared by the integration tests: start the mock on 127.0.0.1:0 in-process,
//! send requests with the crate's own client, and check every body against its schema.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use nexudus_mock::client::{HttpClient, HttpRequest, HttpResponse};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::{App, RunningServer, ServerConfig};
use serde_json::Value;

pub const ADMIN: &str = "Bearer admin-token";
pub const READER: &str = "Bearer reader-token";
pub const EDITOR: &str = "Bearer editor-token";
pub const NOBODY: &str = "Bearer nobody-token";

/// A mock on a free loopback port and a client pointed at it.
pub struct TestServer {
    pub server: RunningServer,
    pub client: HttpClient,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Fixtures::builtin(), ServerConfig::default()).await
    }

    pub async fn start_with(fixtures: Fixtures, config: ServerConfig) -> Self {
        let app = App::new(fixtures, config).expect("fixtures load");
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = RunningServer::start(addr, app)
            .await
            .expect("server starts");
        let client = HttpClient::new(&server.base_url(), Duration::from_secs(10));
        TestServer { server, client }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub async fn send(&self, req: HttpRequest) -> HttpResponse {
        self.client
            .send(&req)
            .await
            .unwrap_or_else(|e| panic!("{} {} failed: {e}", req.method, req.path))
    }

    /// Sends a request with the given Authorization value.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<&Value>,
    ) -> HttpResponse {
        let mut req = HttpRequest::new(method, path).header("Authorization", auth);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    pub async fn list(&self, query: &str) -> Value {
        let r = self
            .call("GET", &format!("{BASE_PATH}?{query}"), ADMIN, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body_excerpt(500));
        body_matching(&r, Schema::List)
    }

    /// Creates a setting as the administrator and returns its Id.
    pub async fn create(&self, coworker: i64, name: &str, value: Option<&str>) -> i64 {
        let body = serde_json::json!({"CoworkerId": coworker, "Name": name, "Value": value});
        let r = self.call("POST", BASE_PATH, ADMIN, Some(&body)).await;
        assert_eq!(r.status, 200, "{}", r.body_excerpt(500));
        body_matching(&r, Schema::Action)["Value"]["Id"]
            .as_i64()
            .unwrap()
    }
}

/// Parses the body as JSON, checks it against `schema` and the JSON content type.
pub fn body_matching(r: &HttpResponse, schema: Schema) -> Value {
    assert!(
        r.is_json_content_type(),
        "content-type {:?}",
        r.header("content-type")
    );
    let v = r.json().unwrap();
    if let Err(e) = schema.validate(&v) {
        panic!("status {}: {e}\nbody: {}", r.status, r.body_excerpt(2000));
    }
    v
}

/// The validation envelope's `PropertyName`s, after checking it against its schema.
pub fn error_properties(r: &HttpResponse) -> Vec<String> {
    assert_eq!(r.status, 400, "{}", r.body_excerpt(500));
    let v = body_matching(r, Schema::ValidationError);
    v["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["PropertyName"].as_str().unwrap().to_string())
        .collect()
}
