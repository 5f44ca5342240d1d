//! Streamed answers: OpenAI chunks in order, usage when asked, `[DONE]`, and chunks sent as
//! Bedrock's events arrive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::StreamExt;
use gateway_tests::harness::{TestGateway, MASTER_KEY, SONNET};
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn streams_role_content_finish_usage_then_done() {
    let gw = TestGateway::start().await;
    let res = gw
        .chat(
            json!({"model":"claude-3-sonnet","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"user","content":"Hello there"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.headers["content-type"], "text/event-stream");
    let events = res.sse_events();
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.trim_end(), "Fake answer to: Hello there");
    assert!(events
        .iter()
        .all(|e| e["object"] == "chat.completion.chunk" && e["model"] == "claude-3-sonnet"));
    let ids: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one id for the whole stream");
    let finish = &events[events.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = events.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens":2,"completion_tokens":5,"total_tokens":7})
    );
    assert_eq!(gw.fake.stream_calls(SONNET), 1);
    assert_eq!(gw.fake.converse_calls(SONNET), 0);
}

#[tokio::test]
async fn without_include_usage_there_is_no_usage_chunk() {
    let gw = TestGateway::start().await;
    let res = gw.chat(json!({"model":"claude-3-sonnet","stream":true,"messages":[{"role":"user","content":"hi"}]})).await;
    let events = res.sse_events();
    assert!(
        events.iter().all(|e| e.get("usage").is_none()),
        "{}",
        res.text()
    );
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn streamed_tool_calls_carry_index_id_name_then_arguments() {
    let gw = TestGateway::start().await;
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","stream":true,"messages":[{"role":"user","content":"weather?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
            "properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}}]}))
        .await;
    let events = res.sse_events();
    let calls: Vec<_> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(
        calls.len() >= 3,
        "a start and at least two argument fragments: {}",
        res.text()
    );
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("tooluse_"));
    assert!(calls.iter().all(|c| c["index"] == 0));
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&arguments).unwrap(),
        json!({"city":"test","days":1})
    );
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn chunks_leave_as_events_arrive_not_all_at_the_end() {
    let gw = TestGateway::start().await;
    gw.fake
        .set_latency(Duration::ZERO, Duration::from_millis(150));
    let response = gw
        .router
        .clone()
        .oneshot(
            http::Request::post("/v1/chat/completions")
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .body(Body::from(
                    json!({"model":"claude-3-sonnet","stream":true,"messages":[{"role":"user","content":"one two three four"}]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(std::str::from_utf8(&first)
        .unwrap()
        .contains("\"role\":\"assistant\""));
    let rest: Vec<_> = body.collect().await;
    let total = started.elapsed();
    // 11 events 150 ms apart: the first chunk must not wait for the rest.
    assert!(rest.len() >= 8, "chunks arrive separately");
    assert!(
        first_at * 4 < total,
        "first chunk after {first_at:?}, whole stream {total:?}"
    );
}
