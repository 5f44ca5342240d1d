//! Prompt caching through chat completions: `cache_control` on system messages, content parts
//! and tools becomes Converse `cachePoint` blocks after the marked block; the cache's tokens
//! come back as `prompt_tokens_details.cached_tokens` and LiteLLM's
//! `cache_creation_input_tokens` / `cache_read_input_tokens`, are priced at the config's cache
//! rates and kept in the usage record, whole and streamed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::usage::UsageRecord;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::features::{features_yaml, CLAUDE_45, PRICES};
use gateway_tests::harness::TestGateway;
use serde_json::{json, Value};

/// Twelve words of system prompt, cached.
const SYSTEM: &str = "You are a careful assistant who answers questions about the weather only.";

async fn gateway() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = features_yaml(&fake.endpoint(), "");
    TestGateway::with_yaml(fake, &yaml).await
}

fn cached_system(question: &str, stream: bool) -> Value {
    json!({"model": "claude", "stream": stream, "stream_options": {"include_usage": true},
        "messages": [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": question}]})
}

fn cost(r: &UsageRecord) -> f64 {
    let (input, output, read, write) = PRICES;
    let cached = r.cache_read_tokens.unwrap_or(0);
    let written = r.cache_write_tokens.unwrap_or(0);
    f64::from(r.prompt_tokens - cached - written) * input
        + f64::from(r.completion_tokens) * output
        + f64::from(cached) * read
        + f64::from(written) * write
}

#[tokio::test]
async fn a_cached_system_prompt_is_written_then_read_and_priced_at_cache_rates() {
    let gw = gateway().await;
    let first = gw.chat(cached_system("Rain today", false)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["system"],
        json!([{"text": SYSTEM}, {"cachePoint": {"type": "default"}}])
    );
    let words = SYSTEM.split_whitespace().count() as u64;
    let usage = first.json()["usage"].clone();
    assert_eq!(usage["cache_creation_input_tokens"], words);
    assert_eq!(usage["cache_read_input_tokens"], 0);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    // prompt_tokens counts every input token, the cache's included (OpenAI's meaning).
    assert_eq!(usage["prompt_tokens"], words + 2);

    let second = gw.chat(cached_system("Sun tomorrow", true)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let usage = second.sse_events().last().unwrap()["usage"].clone();
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], words);
    assert_eq!(usage["cache_read_input_tokens"], words);
    assert_eq!(usage["cache_creation_input_tokens"], 0);
    assert_eq!(usage["prompt_tokens"], words + 2);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    let (written, read) = (&records[0], &records[1]);
    assert_eq!(
        (written.cache_write_tokens, written.cache_read_tokens),
        (Some(words as u32), Some(0))
    );
    assert_eq!(
        (read.cache_write_tokens, read.cache_read_tokens),
        (Some(0), Some(words as u32))
    );
    for r in [written, read] {
        assert!((r.cost_usd.unwrap() - cost(r)).abs() < 1e-15, "{r:?}");
    }
    // Reading is cheaper than writing, and cheaper than sending uncached.
    assert!(read.cost_usd < written.cost_usd);
    let (input, _, read_rate, _) = PRICES;
    assert!(read_rate < input);
}

#[tokio::test]
async fn cache_points_follow_marked_parts_messages_and_tools() {
    let gw = gateway().await;
    let res = gw
        .chat(json!({"model": "claude",
            "tools": [{"type": "function", "cache_control": {"type": "ephemeral"},
                       "function": {"name": "lookup", "description": "Looks up a city forecast",
                                    "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Here is a long document", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "Summarize it"}]},
                {"role": "assistant", "content": "It is about rain.", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "And wind?"}]}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    let point = json!({"cachePoint": {"type": "default"}});
    assert_eq!(sent["toolConfig"]["tools"][1], point, "{sent}");
    assert_eq!(sent["messages"][0]["content"][1], point);
    assert_eq!(sent["messages"][0]["content"][2]["text"], "Summarize it");
    assert_eq!(sent["messages"][1]["content"][1], point);
    let usage = &res.json()["usage"];
    // Tool description (5) + the user's marked text and the rest up to the last point.
    assert!(
        usage["cache_creation_input_tokens"].as_u64().unwrap() > 5,
        "{usage}"
    );
}

#[tokio::test]
async fn more_than_four_cache_points_or_an_unknown_type_is_a_400_before_any_call() {
    let gw = gateway().await;
    let marked = |n: usize| {
        let parts: Vec<Value> = (0..n)
            .map(|i| json!({"type": "text", "text": format!("part {i}"), "cache_control": {"type": "ephemeral"}}))
            .collect();
        json!({"model": "claude", "messages": [{"role": "user", "content": parts}]})
    };
    let res = gw.chat(marked(5)).await;
    let body = res.assert_error(400, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 4"),
        "{body}"
    );
    let res = gw
        .chat(
            json!({"model": "claude", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]}]}),
        )
        .await;
    let body = res.assert_error(400, "invalid_request_error");
    assert_eq!(
        body["error"]["param"],
        "messages[0].content[0].cache_control.type"
    );
    assert_eq!(gw.fake.total_calls(), 0);
    let ok = gw.chat(marked(4)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

/// Claude 3 Sonnet has no prompt cache on Bedrock, which refuses a `cachePoint` for it (the fake
/// does too): the marks are dropped, the answer comes uncached, whole and streamed; thinking on
/// it is a 400 before any call.
#[tokio::test]
async fn cache_marks_for_a_model_without_a_prompt_cache_are_dropped_and_thinking_refused() {
    use gateway_tests::harness::SONNET;
    let gw = TestGateway::start().await;
    for stream in [false, true] {
        let mut body = cached_system("Is it raining?", stream);
        body["model"] = json!("claude-3-sonnet");
        body["tools"] = json!([{"type": "function", "cache_control": {"type": "ephemeral"},
            "function": {"name": "weather", "parameters": {"type": "object"}}}]);
        let response = gw.chat(body).await;
        assert_eq!(response.status, 200, "{}", response.text());
        let sent = gw.fake.last_request(SONNET).unwrap();
        assert_eq!(sent["system"], json!([{"text": SYSTEM}]), "stream {stream}");
        let tools = sent["toolConfig"]["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 1, "{tools:?}");
        assert!(tools[0].get("cachePoint").is_none());
    }
    assert_eq!(
        (gw.fake.converse_calls(SONNET), gw.fake.stream_calls(SONNET)),
        (1, 1)
    );
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.cache_read_tokens.unwrap_or(0) == 0 && r.cache_write_tokens.unwrap_or(0) == 0));

    let thinking = gw
        .chat(
            json!({"model": "claude-3-sonnet", "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "Think first."}]}),
        )
        .await;
    assert_eq!(thinking.status, 400, "{}", thinking.text());
    assert!(thinking.text().contains("reasoning"), "{}", thinking.text());
    assert_eq!(gw.fake.calls(SONNET), 2, "no call for the refused request");
}
