//! `check` and `fuzz` pointed at targets that misbehave: they hang, reset
//! connections, answer garbage, send non-JSON with a JSON content type, return 10 MB
//! bodies or redirect in a loop. Each run must end within its time bound, exit 1 or
//! 2 with the reason in its report, and never panic.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    Hang,
    Reset,
    Garbage,
    HtmlAsJson,
    TenMegabytes,
    RedirectLoop,
}

async fn read_head(s: &mut TcpStream) {
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
}

async fn serve_one(mut s: TcpStream, how: Misbehaviour) {
    read_head(&mut s).await;
    let _ = match how {
        Misbehaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok(())
        }
        Misbehaviour::Reset => {
            let _ = s.set_zero_linger();
            drop(s);
            return;
        }
        Misbehaviour::Garbage => s.write_all(b"NOT HTTP AT ALL\r\n\x00\xff\r\n\r\n").await,
        Misbehaviour::HtmlAsJson => {
            let body = "<html><body>Welcome</body></html>";
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
            s.write_all(format!("{head}{body}").as_bytes()).await
        }
        Misbehaviour::TenMegabytes => {
            let len = 10 * 1024 * 1024;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n[");
            let _ = s.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 1;
            while sent < len - 1 {
                let n = chunk.len().min(len - 1 - sent);
                if s.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
            s.write_all(b"]").await
        }
        Misbehaviour::RedirectLoop => {
            s.write_all(b"HTTP/1.1 302 Found\r\nLocation: /api/spaces/coworkersettings\r\nContent-Length: 0\r\n\r\n").await
        }
    };
    let _ = s.shutdown().await;
}

/// Serves `how` on a loopback port from a thread of its own, for the life of the test.
fn misbehaving_target(how: Misbehaviour) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve_one(s, how));
            }
        });
    });
    rx.recv().unwrap()
}

/// Runs the binary with `args`, killing it if it outlives `limit`.
fn run_bounded(args: &[String], limit: Duration) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexudus-mock"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes while waiting: a report larger than a pipe's buffer would
    // otherwise block the child on its write until the bound kills it.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.join().unwrap()),
        String::from_utf8_lossy(&err.join().unwrap())
    );
    (status.and_then(|s| s.code()), text, started.elapsed())
}

const ALL: [Misbehaviour; 6] = [
    Misbehaviour::Hang,
    Misbehaviour::Reset,
    Misbehaviour::Garbage,
    Misbehaviour::HtmlAsJson,
    Misbehaviour::TenMegabytes,
    Misbehaviour::RedirectLoop,
];

fn assert_clean_failure(
    tool: &str,
    how: Misbehaviour,
    code: Option<i32>,
    text: &str,
    took: Duration,
    limit: Duration,
) {
    assert!(
        took < limit,
        "{tool} against {how:?} ran {took:?}, past its bound\n{text}"
    );
    assert!(
        matches!(code, Some(1) | Some(2)),
        "{tool} against {how:?} exited {code:?}\n{text}"
    );
    assert!(
        !text.contains("panicked"),
        "{tool} against {how:?} panicked\n{text}"
    );
    assert!(
        text.contains("exit 1") || text.contains("exit 2"),
        "{tool} against {how:?}: no verdict line\n{text}"
    );
}

#[test]
fn check_ends_and_fails_cleanly_against_misbehaving_targets() {
    for how in ALL {
        let addr = misbehaving_target(how);
        let limit = Duration::from_secs(60);
        let args: Vec<String> = [
            "check",
            &format!("http://{addr}"),
            "--token",
            "admin-token",
            "--timeout",
            "1s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, text, took) = run_bounded(&args, limit);
        assert_clean_failure("check", how, code, &text, took, limit);
    }
}

#[test]
fn fuzz_ends_and_fails_cleanly_against_misbehaving_targets() {
    let dir = std::env::temp_dir().join(format!("nexudus-fuzz-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replay_out = dir.join("replay.json").display().to_string();
    for how in ALL {
        let addr = misbehaving_target(how);
        let limit = Duration::from_secs(60);
        let args: Vec<String> = [
            "fuzz",
            "--replay-out",
            &replay_out,
            &format!("http://{addr}"),
            "--token",
            "admin-token",
            "--cases",
            "5",
            "--seed",
            "1",
            "--max-time",
            "20s",
            "--timeout",
            "1s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, text, took) = run_bounded(&args, limit);
        assert_clean_failure("fuzz", how, code, &text, took, limit);
    }
}
