//! Hostile input over raw TCP: malformed heads, bodies that lie about their length,
//! bodies that never end, invalid UTF-8, deep JSON, huge numbers and bodies, NUL
//! bytes, slowloris. Each gets its documented status with a JSON body where one is
//! possible, and the server keeps serving others. Plus a mixed-load test and a check
//! that secrets never reach the logs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod targets;

use crate::util::*;
use nexudus_mock::client::{HttpClient, HttpRequest};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::ServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back on a raw connection.
struct RawReply {
    bytes: Vec<u8>,
    /// The server closed the connection (as opposed to our read deadline passing).
    closed: bool,
}

impl RawReply {
    fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        text.get(9..12)?.parse().ok()
    }

    /// The first response's body, parsed as JSON.
    fn json(&self) -> Value {
        let text = String::from_utf8_lossy(&self.bytes);
        let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("content-length");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        serde_json::from_str(&rest[..len]).unwrap_or_else(|e| panic!("{e}: {rest}"))
    }

    fn error_body(&self, status: u16) -> Value {
        assert_eq!(
            self.status(),
            Some(status),
            "{}",
            String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(400)])
        );
        let v = self.json();
        let schema = if status == 400 && v.get("Errors").is_some() {
            Schema::ValidationError
        } else {
            Schema::Error
        };
        schema.validate(&v).unwrap();
        v
    }
}

/// Writes `data`, then reads until the server closes or `deadline` passes.
async fn raw(addr: SocketAddr, data: &[u8], deadline: Duration) -> RawReply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(data).await;
    read_all(&mut s, deadline).await
}

async fn read_all(s: &mut TcpStream, deadline: Duration) -> RawReply {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return RawReply {
                    bytes,
                    closed: true,
                };
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => {
                return RawReply {
                    bytes,
                    closed: false,
                };
            }
        }
    }
}

fn quick_config() -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    }
}

/// The server still answers a normal request.
async fn still_serving(s: &TestServer) {
    let r = s
        .call("GET", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await;
    assert_eq!(r.status, 200);
}

fn post_head(len: usize) -> String {
    format!(
        "POST {BASE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

#[tokio::test]
async fn malformed_heads_get_json_400_or_431_and_the_server_keeps_serving() {
    let s = TestServer::start_with(Fixtures::builtin(), quick_config()).await;
    let addr = s.server.addr;
    let d = Duration::from_secs(3);
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    for (what, data, status) in [
        ("garbage request line", b"HELLO WORLD\r\n\r\n".to_vec(), 400),
        (
            "invalid UTF-8 in the path",
            b"GET /api/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a NUL byte in a header",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n".to_vec(),
            400,
        ),
        ("an oversized header", big_header.into_bytes(), 431),
        ("too many headers", many_headers.into_bytes(), 431),
    ] {
        let reply = raw(addr, &data, d).await;
        let v = reply.error_body(status);
        assert!(v["Message"].as_str().unwrap().len() > 10, "{what}");
        assert!(
            reply.closed,
            "{what}: the connection is closed after a bad head"
        );
    }
    // A head cut short by the client: nothing to answer, nothing broken.
    let reply = raw(
        addr,
        b"GET /api/spaces/coworkerset",
        Duration::from_millis(200),
    )
    .await;
    assert!(reply.bytes.is_empty());
    still_serving(&s).await;
}

#[tokio::test]
async fn bodies_that_lie_about_their_length_or_never_end_get_400_or_408() {
    let s = TestServer::start_with(Fixtures::builtin(), quick_config()).await;
    let addr = s.server.addr;
    // Longer than Content-Length: the extra bytes are read as a (bad) next request.
    let data = format!("{}{{}}GARBAGE\r\n\r\n", post_head(2));
    let reply = raw(addr, data.as_bytes(), Duration::from_secs(3)).await;
    let first = reply.error_body(400);
    assert_eq!(first["Errors"][0]["PropertyName"], "CoworkerId");
    assert!(
        String::from_utf8_lossy(&reply.bytes)
            .matches("HTTP/1.1 400")
            .count()
            == 2
    );
    // Shorter than Content-Length, connection held open: 408 after the body timeout.
    let started = Instant::now();
    let reply = raw(
        addr,
        format!("{}{{\"Co", post_head(100)).as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    reply.error_body(408);
    assert!(started.elapsed() < Duration::from_secs(4));
    // A chunked body that never ends.
    let data = format!(
        "POST {BASE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":\r\n"
    );
    raw(addr, data.as_bytes(), Duration::from_secs(5))
        .await
        .error_body(408);
    // A bad chunk size.
    let data = format!(
        "POST {BASE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"
    );
    raw(addr, data.as_bytes(), Duration::from_secs(3))
        .await
        .error_body(400);
    still_serving(&s).await;
}

#[tokio::test]
async fn hostile_bodies_get_the_validation_envelope() {
    let s = TestServer::start().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!(
        "{{\"CoworkerId\":1,\"Name\":\"n\",\"Value\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    for (what, body, property) in [
        ("JSON nested 10,000 deep", deep.into_bytes(), ""),
        ("an object nested 10,000 deep", deep_object.into_bytes(), ""),
        (
            "a number beyond f64",
            br#"{"CoworkerId":1e400,"Name":"n"}"#.to_vec(),
            "",
        ),
        (
            "an integer beyond i64",
            br#"{"CoworkerId":99999999999999999999999,"Name":"n"}"#.to_vec(),
            "CoworkerId",
        ),
        (
            "i64::MIN",
            br#"{"CoworkerId":-9223372036854775808,"Name":"n"}"#.to_vec(),
            "CoworkerId",
        ),
        (
            "invalid UTF-8",
            b"{\"CoworkerId\":1,\"Name\":\"\xc3\x28\"}".to_vec(),
            "",
        ),
        (
            "a raw NUL outside a string",
            b"{\"CoworkerId\":1,\x00\"Name\":\"n\"}".to_vec(),
            "",
        ),
        (
            "an unpaired surrogate escape",
            br#"{"CoworkerId":1,"Name":"\ud800"}"#.to_vec(),
            "",
        ),
    ] {
        let r = s
            .send(
                HttpRequest::new("POST", BASE_PATH)
                    .header("Authorization", ADMIN)
                    .raw_body("application/json", body),
            )
            .await;
        assert_eq!(error_properties(&r), vec![property], "{what}");
    }
    // Duplicate keys: the last one wins, as serde_json and most JSON parsers do.
    let r = s
        .send(
            HttpRequest::new("POST", BASE_PATH)
                .header("Authorization", ADMIN)
                .raw_body(
                    "application/json",
                    r#"{"CoworkerId":1,"Name":"first","Name":"dupkey"}"#,
                ),
        )
        .await;
    let id = body_matching(&r, Schema::Action)["Value"]["Id"]
        .as_i64()
        .unwrap();
    let r = s
        .call("GET", &format!("{BASE_PATH}/{id}"), ADMIN, None)
        .await;
    assert_eq!(body_matching(&r, Schema::Record)["Name"], "dupkey");
    // NUL inside a string is data and is stored exactly.
    let r = s
        .call(
            "POST",
            BASE_PATH,
            ADMIN,
            Some(&json!({"CoworkerId": 1, "Name": "nul\u{0}name"})),
        )
        .await;
    assert_eq!(r.status, 200);
    still_serving(&s).await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_100_mb_body_gets_413_without_the_server_reading_it_all() {
    let s = TestServer::start().await;
    let addr = s.server.addr;
    let before = rss_kib();
    // Declared: refused from the header alone.
    let reply = raw(
        addr,
        post_head(100 * 1024 * 1024).as_bytes(),
        Duration::from_secs(3),
    )
    .await;
    reply.error_body(413);
    // Chunked, no length declared: cut off at the limit; we stop sending when refused.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {BASE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
    let mut sent = 0usize;
    while sent < 100 * (1 << 20) {
        match tokio::time::timeout(Duration::from_secs(5), stream.write_all(chunk.as_bytes())).await
        {
            Ok(Ok(())) => sent += 1 << 20,
            _ => break,
        }
    }
    let reply = read_all(&mut stream, Duration::from_secs(5)).await;
    reply.error_body(413);
    assert!(
        sent < 100 * (1 << 20),
        "the server should stop reading long before 100 MB"
    );
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    still_serving(&s).await;
}

#[tokio::test]
async fn odd_but_valid_requests_are_served() {
    let s = TestServer::start().await;
    let addr = s.server.addr;
    let d = Duration::from_secs(3);
    // HTTP/1.0 without Host.
    let reply = raw(
        addr,
        format!("GET {BASE_PATH}/87654303 HTTP/1.0\r\nAuthorization: {ADMIN}\r\n\r\n").as_bytes(),
        d,
    )
    .await;
    assert!(reply.bytes.starts_with(b"HTTP/1.0 200"));
    // Pipelined: two requests in one write, answered in order.
    let two = format!(
        "GET {BASE_PATH}/87654303 HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let reply = raw(addr, two.as_bytes(), d).await;
    let text = String::from_utf8_lossy(&reply.bytes);
    let first = text.find("HTTP/1.1 200").unwrap();
    let second = text.find("HTTP/1.1 404").unwrap();
    assert!(first < second);
    // Duplicated query parameters: the last wins.
    assert_eq!(s.list("size=1&size=2").await["PageSize"], 2);
    // Percent-encoding errors: left as they are, never a 5xx.
    assert_eq!(
        s.call("GET", &format!("{BASE_PATH}/%zz"), ADMIN, None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.call("GET", &format!("{BASE_PATH}/%31"), ADMIN, None)
            .await
            .status,
        404
    );
    assert_eq!(s.list("CoworkerSetting_Name=%zz%").await["TotalItems"], 0);
    assert_eq!(s.list("CoworkerSetting_Name=%ff%fe").await["TotalItems"], 0);
    // Encoded path separators and dot segments do not escape the route table.
    assert_eq!(
        s.call(
            "GET",
            "/api/spaces/coworkersettings/..%2F..%2Fetc",
            ADMIN,
            None
        )
        .await
        .status,
        404
    );
    // HEAD: the same status and length, no body.
    let reply = raw(addr, format!("HEAD {BASE_PATH}/87654303 HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nConnection: close\r\n\r\n").as_bytes(), d).await;
    let text = String::from_utf8_lossy(&reply.bytes);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn slowloris_connections_are_closed_by_the_header_timeout() {
    let s = TestServer::start_with(Fixtures::builtin(), quick_config()).await;
    let addr = s.server.addr;
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut closed_after = None;
    // One byte every 300 ms, for at most 20 bytes.
    for b in b"GET / HTTP/1.1\r\nHost: slowloris".iter().take(20) {
        if stream.write_all(&[*b]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after =
        closed_after.expect("the server should close a connection that trickles its head");
    assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(read_all(&mut idle, Duration::from_secs(3)).await.closed);
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_new_connections_wait_and_are_then_served() {
    let config = ServerConfig {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(Fixtures::builtin(), config).await;
    // Two idle connections take both slots...
    let _a = TcpStream::connect(s.server.addr).await.unwrap();
    let _b = TcpStream::connect(s.server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...so a third waits until the header timeout frees one, then is served.
    let started = Instant::now();
    let client = HttpClient::new(&s.base_url(), Duration::from_secs(10));
    let r = client
        .send(
            &HttpRequest::new("GET", format!("{BASE_PATH}/87654303"))
                .header("Authorization", ADMIN),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it should have waited for a slot"
    );
}

/// Requests in the mixed load test; `NEXUDUS_LOAD_REQUESTS` raises it (CI sets 100,000).
fn load_requests() -> usize {
    std::env::var("NEXUDUS_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6_400)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_over_64_connections_loses_nothing() {
    const CONNECTIONS: usize = 64;
    let total = load_requests();
    let per_conn = total.div_ceil(CONNECTIONS);
    let s = TestServer::start_with(
        Fixtures {
            records: vec![],
            ..Fixtures::builtin()
        },
        ServerConfig::default(),
    )
    .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..CONNECTIONS {
        let client = HttpClient::new(&s.base_url(), Duration::from_secs(30));
        tasks.push(tokio::spawn(async move {
            let admin = |r: HttpRequest| r.header("Authorization", ADMIN);
            let mut own: Vec<i64> = Vec::new();
            let (mut created, mut deleted, mut fives) = (Vec::new(), 0usize, Vec::new());
            let mut race_wins = Vec::new();
            for i in 0..per_conn {
                let req = match i % 8 {
                    // Race: every connection tries the same names for customer 1.
                    0 | 1 => admin(HttpRequest::new("POST", BASE_PATH)).json(&json!({"CoworkerId": 1, "Name": format!("race-{}", (i / 2) % 400)})),
                    2 | 3 => admin(HttpRequest::new("POST", BASE_PATH)).json(&json!({"CoworkerId": 2 + conn, "Name": format!("own-{i}")})),
                    4 if !own.is_empty() => {
                        let id = own[i % own.len()];
                        admin(HttpRequest::new("PUT", BASE_PATH)).json(&json!({"Id": id, "CoworkerId": 2 + conn, "Name": format!("own-{i}-renamed"), "Value": "v"}))
                    }
                    5 if !own.is_empty() => admin(HttpRequest::new("DELETE", format!("{BASE_PATH}/{}", own.swap_remove(i % own.len())))),
                    6 => admin(HttpRequest::new("GET", format!("{BASE_PATH}?CoworkerSetting_Coworker={}&orderBy=Name&size=10", 2 + conn))),
                    _ => admin(HttpRequest::new("GET", format!("{BASE_PATH}?page={}&size=25", 1 + i % 5))),
                };
                let r = client.send(&req).await.expect("request completes");
                if r.status >= 500 {
                    fives.push((req.method.clone(), req.path.clone(), r.status));
                    continue;
                }
                match (i % 8, r.status) {
                    (0 | 1, 200) => {
                        let id = r.json().unwrap()["Value"]["Id"].as_i64().unwrap();
                        created.push(id);
                        race_wins.push((i / 2) % 400);
                    }
                    (2 | 3, 200) => {
                        let id = r.json().unwrap()["Value"]["Id"].as_i64().unwrap();
                        created.push(id);
                        own.push(id);
                    }
                    (5, 200) => deleted += 1,
                    (0 | 1, 400) | (4, 400) => {}
                    (_, 200) => {}
                    (k, st) => panic!("step kind {k}: unexpected status {st}: {}", r.body_excerpt(300)),
                }
            }
            (created, deleted, fives, race_wins)
        }));
    }
    let (mut ids, mut deletes, mut fives, mut wins) = (Vec::new(), 0, Vec::new(), Vec::new());
    for t in tasks {
        let (c, d, f, w) = t.await.unwrap();
        ids.extend(c);
        deletes += d;
        fives.extend(f);
        wins.extend(w);
    }
    let elapsed = started.elapsed();
    assert!(
        fives.is_empty(),
        "5xx answers: {:?}",
        &fives[..fives.len().min(10)]
    );
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an Id was handed out twice");
    let mut per_name = std::collections::HashMap::new();
    for w in wins {
        *per_name.entry(w).or_insert(0) += 1;
    }
    assert!(
        per_name.values().all(|&n| n == 1),
        "a duplicate race had more than one winner"
    );
    let list = s.list("size=1").await;
    assert_eq!(
        list["TotalItems"].as_u64().unwrap() as usize,
        ids.len() - deletes
    );
    eprintln!(
        "mixed load: {} requests over {CONNECTIONS} connections in {elapsed:?}",
        per_conn * CONNECTIONS
    );
}

#[test]
fn secrets_never_appear_in_the_log() {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args(["serve", "--port", "0", "--log-format", "json"])
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 256];
    let n = stdout.read(&mut first).unwrap();
    let line = String::from_utf8_lossy(&first[..n]).to_string();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("address line")
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = HttpClient::new(&url, Duration::from_secs(5));
        let secret_value = "s3cr3t-ENCRYPTED-payload";
        let body = json!({"CoworkerId": 5, "Name": "k", "EncryptedValue": secret_value});
        c.send(
            &HttpRequest::new("POST", BASE_PATH)
                .header("Authorization", ADMIN)
                .json(&body),
        )
        .await
        .unwrap();
        c.send(
            &HttpRequest::new(
                "GET",
                format!("{BASE_PATH}?CoworkerSetting_EncryptedValue={secret_value}"),
            )
            .header("Authorization", ADMIN),
        )
        .await
        .unwrap();
        c.send(&HttpRequest::new("GET", BASE_PATH).header(
            "Authorization",
            "Basic YWRtaW5AZXhhbXBsZS5jb206YWRtaW4tcGFzc3dvcmQ=",
        ))
        .await
        .unwrap();
        c.send(
            &HttpRequest::new("GET", BASE_PATH).header("Authorization", "Bearer wrong-guess-token"),
        )
        .await
        .unwrap();
        c.send(&HttpRequest::new("POST", "/api/token").raw_body(
            "application/x-www-form-urlencoded",
            "grant_type=password&username=admin%40example.com&password=admin-password",
        ))
        .await
        .unwrap();
    });
    // Log lines are written in batches every few milliseconds; let the last batch out.
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("/api/spaces/coworkersettings"),
        "the log should have request lines: {log}"
    );
    for secret in [
        "admin-token",
        "admin-password",
        "YWRtaW5AZXhhbXBsZS5jb206YWRtaW4tcGFzc3dvcmQ=",
        "wrong-guess-token",
        "s3cr3t-ENCRYPTED-payload",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}
