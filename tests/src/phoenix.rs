//! A real Arize Phoenix for the tracing tests: the one `PHOENIX_TEST_URL` names (started once
//! by `scripts/test.sh`), else one started by `scripts/phoenix-serve.sh` for this test binary
//! and stopped when it exits. Spans are read back through Phoenix's REST API.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variable that points the tests at a running Phoenix (`http://127.0.0.1:PORT`).
pub const PHOENIX_TEST_URL: &str = "PHOENIX_TEST_URL";

/// Phoenix's base URL, starting it on first use.
pub fn phoenix_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let env = gateway::env::Environment::from_process();
        if let Some(url) = env.get(PHOENIX_TEST_URL) {
            if !url.trim().is_empty() {
                return url.trim().trim_end_matches('/').to_owned();
            }
        }
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/phoenix-serve.sh");
        let out = std::process::Command::new(script)
            .env("PHOENIX_STOP_WITH_PID", std::process::id().to_string())
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("scripts/phoenix-serve.sh runs");
        assert!(out.status.success(), "Phoenix did not start");
        let line = String::from_utf8(out.stdout).unwrap();
        line.split_whitespace().next().expect("a URL").to_owned()
    })
}

/// A GET against `base` (plain HTTP/1.0, so the body is not chunked): status and body.
pub fn get(base: &str, path: &str) -> (u16, Vec<u8>) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("Phoenix is reachable");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, raw[split + 4..].to_vec())
}

/// Every span of `project` (newest first, as Phoenix lists them).
pub fn spans(project: &str) -> Vec<Value> {
    let (status, body) = get(
        phoenix_url(),
        &format!("/v1/projects/{project}/spans?limit=1000"),
    );
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["data"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to 20 s) until `project` holds at least `count` spans; returns them.
pub async fn wait_for_spans(project: &str, count: usize) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let project_name = project.to_owned();
        let found = tokio::task::spawn_blocking(move || spans(&project_name))
            .await
            .unwrap();
        if found.len() >= count || Instant::now() > until {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A project name no other test uses.
pub fn unique_project(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// The value of attribute `name` (dotted) on a span from the REST API, whether Phoenix returns
/// attributes flat or nested.
pub fn attr<'a>(span: &'a Value, name: &str) -> Option<&'a Value> {
    let attributes = &span["attributes"];
    if let Some(v) = attributes.get(name) {
        return Some(v);
    }
    let mut node = attributes;
    for part in name.split('.') {
        node = node.get(part)?;
    }
    Some(node)
}

/// The spans of `kind` (`LLM`, `CHAIN`, `GUARDRAIL`).
pub fn of_kind<'a>(spans: &'a [Value], kind: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| {
            s["span_kind"] == kind || attr(s, "openinference.span.kind") == Some(&Value::from(kind))
        })
        .collect()
}
