//! Every log line of a request carries its request id, key id and model, and never the key.
//! Alone in its test binary: `tracing` caches per call site whether anyone listens, and tests
//! running beside this one without a subscriber would race with its scoped subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{TestGateway, MASTER_KEY, SONNET};
use serde_json::json;

fn ask(text: &str, stream: bool) -> serde_json::Value {
    json!({"model":"claude-3-sonnet","stream":stream,"messages":[{"role":"user","content":text}]})
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_a_request_carries_its_id_key_and_model() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let gw = TestGateway::start().await;
    gw.fake.set_fault(SONNET, Fault::Unavailable);
    let res = gw.chat(ask("hello", false)).await;
    res.assert_error(503, "api_error");
    gw.usage_records().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let failed = text
        .lines()
        .find(|l| l.contains("model call failed"))
        .unwrap_or_else(|| panic!("no failure line in:\n{text}"));
    assert!(failed.contains("request{request_id=chatcmpl-"), "{failed}");
    assert!(
        failed.contains("key=master") && failed.contains("model=claude-3-sonnet"),
        "{failed}"
    );
    assert!(failed.contains("deployment=claude-3-sonnet-0"), "{failed}");
    assert!(!text.contains(MASTER_KEY), "the key never reaches a log");
}
