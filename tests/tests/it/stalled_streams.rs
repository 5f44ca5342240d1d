//! Streams that stop: bounded by `stream_timeout` before the first event and by
//! `stream_idle_timeout` after it; the client gets OpenAI's error shape and the usage record
//! says which wait ran out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use gateway::config::DEFAULT_STREAM_IDLE_TIMEOUT;
use gateway::usage::Outcome;
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{config_yaml, load_config, TestGateway, SONNET};
use serde_json::{json, Value};

async fn gateway(router_settings: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!("{}{router_settings}", config_yaml(&fake.endpoint()));
    TestGateway::with_yaml(fake, &yaml).await
}

fn stream_request() -> Value {
    json!({"model":"claude-3-sonnet","stream":true,
           "messages":[{"role":"user","content":"please keep talking"}]})
}

/// The `data:` payloads of an SSE body, `[DONE]` included as a string.
fn frames(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| f.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_stream_that_stalls_midway_ends_with_an_error_event() {
    let gw = gateway("router_settings:\n  stream_idle_timeout: 0.3\n").await;
    gw.fake
        .set_fault(SONNET, Fault::StreamStall { after_events: 3 });
    let res = tokio::time::timeout(Duration::from_secs(10), gw.chat(stream_request()))
        .await
        .expect("the stall is cut off");
    assert_eq!(res.status, 200);
    let frames = frames(&res.text());
    assert!(!frames.iter().any(|f| f == "[DONE]"), "{frames:?}");
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let (error, content) = chunks.split_last().unwrap();
    assert_eq!(content.len(), 3, "role chunk and two words: {frames:?}");
    assert_eq!(content[1]["choices"][0]["delta"]["content"], "Fake ");
    assert_eq!(error["error"]["code"], "upstream_timeout");
    assert_eq!(error["error"]["type"], "api_error");
    assert_eq!(
        error["error"]["message"],
        "The model stopped sending its answer."
    );
    assert_eq!(gw.fake.stream_calls(SONNET), 1);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.outcome, r.error_type, r.streamed),
        (Outcome::Failure, Some("provider.timeout.idle"), true)
    );
    assert!(
        r.time_to_first_token_ms.is_some(),
        "words arrived before the stall"
    );
    assert!(r.latency_ms >= 300, "{r:?}");
}

#[tokio::test]
async fn a_stream_that_never_starts_is_a_504() {
    let gw = gateway("router_settings:\n  stream_timeout: 0.3\n").await;
    gw.fake
        .set_fault(SONNET, Fault::StreamStall { after_events: 0 });
    let res = tokio::time::timeout(Duration::from_secs(10), gw.chat(stream_request()))
        .await
        .expect("the wait for the first event is cut off");
    let body = res.assert_error(504, "api_error");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(
        body["error"]["message"],
        "The model did not start its answer in time."
    );
    let records = gw.usage_records().await;
    assert_eq!(records[0].error_type, Some("provider.timeout.first_event"));
    assert_eq!(records[0].time_to_first_token_ms, None);
}

#[tokio::test]
async fn a_deployment_sets_its_own_idle_timeout() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint()).replace(
        "      aws_region_name: us-east-1\n",
        "      aws_region_name: us-east-1\n      stream_idle_timeout: 0.2\n",
    );
    let gw = TestGateway::with_yaml(
        fake,
        &format!("{yaml}router_settings:\n  stream_idle_timeout: 600\n"),
    )
    .await;
    gw.fake
        .set_fault(SONNET, Fault::StreamStall { after_events: 2 });
    let res = tokio::time::timeout(Duration::from_secs(10), gw.chat(stream_request()))
        .await
        .expect("the deployment's 0.2 s applies, not the router's 600 s");
    assert!(res.text().contains("upstream_timeout"), "{}", res.text());
}

#[tokio::test]
async fn slow_but_steady_streams_are_not_cut() {
    let gw = gateway("router_settings:\n  stream_idle_timeout: 0.5\n").await;
    // 100 ms between events, 10 events: a second in all, never half a second of silence.
    gw.fake
        .set_latency(Duration::ZERO, Duration::from_millis(100));
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","stream":true,
              "messages":[{"role":"user","content":"one two three four five"}]}))
        .await;
    let events = res.sse_events();
    assert!(events.len() > 5);
    assert_eq!(gw.usage_records().await[0].outcome, Outcome::Success);
}

#[test]
fn the_idle_timeout_has_a_documented_default() {
    let config = load_config(&config_yaml("http://127.0.0.1:9"));
    assert_eq!(
        config.router.stream_idle_timeout,
        DEFAULT_STREAM_IDLE_TIMEOUT
    );
    assert_eq!(DEFAULT_STREAM_IDLE_TIMEOUT, Duration::from_secs(60));
    assert_eq!(config.router.stream_timeout, None);
}
