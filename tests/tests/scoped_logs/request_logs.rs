//! Every log line of a request carries its request id, key id and model, and never the key.
//! In the `scoped_logs` test binary: `tracing` caches per call site whether anyone listens, and
//! tests running beside this one without a subscriber would race with its scoped subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway_tests::captured::Captured;
use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{TestGateway, MASTER_KEY, SONNET};
use serde_json::json;

fn ask(text: &str, stream: bool) -> serde_json::Value {
    json!({"model":"claude-3-sonnet","stream":stream,"messages":[{"role":"user","content":text}]})
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
    let text = logs.text();
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
