//! Reasoning through chat completions: `reasoning_effort` and `thinking` become Converse's
//! `additionalModelRequestFields` (Claude's budget, Nova 2's effort), the thinking comes back
//! as `reasoning_content` and `thinking_blocks` (whole) or `delta.reasoning_content` (streamed),
//! goes back signed on the next turn, and counts in usage, records and cost. Bedrock's rules
//! are clear 400s before any model call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway_tests::fake_bedrock::{FakeBedrock, FAKE_SIGNATURE};
use gateway_tests::features::{features_yaml, CLAUDE_45, NOVA_2, PRICES, TITAN};
use gateway_tests::harness::TestGateway;
use serde_json::{json, Value};

const THOUGHT: &str = "The user wants an answer. I will give it plainly.";

async fn gateway() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = features_yaml(&fake.endpoint(), "");
    TestGateway::with_yaml(fake, &yaml).await
}

fn ask(model: &str, extra: Value) -> Value {
    let mut body =
        json!({"model": model, "messages": [{"role": "user", "content": "Why is the sky blue"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn reasoning_effort_thinks_on_claude_and_shows_the_thinking() {
    let gw = gateway().await;
    let res = gw
        .chat(ask("claude", json!({"reasoning_effort": "high"})))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 4096 + 4096);
    let body = res.json();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Fake answer to: Why is the sky blue");
    assert_eq!(message["reasoning_content"], THOUGHT);
    assert_eq!(
        message["thinking_blocks"],
        json!([{"type": "thinking", "thinking": THOUGHT, "signature": FAKE_SIGNATURE}])
    );
    let usage = &body["usage"];
    // 8 answer words + 10 thinking words; thinking estimated at 4 characters a token.
    assert_eq!(usage["completion_tokens"], 18);
    let reasoning = THOUGHT.len().div_ceil(4) as u64;
    assert_eq!(
        usage["completion_tokens_details"]["reasoning_tokens"],
        reasoning.min(18)
    );
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.completion_tokens, 18);
    assert_eq!(r.reasoning_tokens, Some(reasoning.min(18) as u32));
    let (input, output, _, _) = PRICES;
    let cost = f64::from(r.prompt_tokens) * input + 18.0 * output;
    assert!((r.cost_usd.unwrap() - cost).abs() < 1e-12, "{r:?}");
}

#[tokio::test]
async fn thinking_streams_as_reasoning_content_deltas_before_the_answer() {
    let gw = gateway().await;
    let res = gw
        .chat(ask(
            "claude",
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 3000,
                   "stream": true, "stream_options": {"include_usage": true}}),
        ))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        2000
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 3000);
    let events = res.sse_events();
    let deltas: Vec<&Value> = events
        .iter()
        .filter_map(|e| e["choices"].get(0).map(|c| &c["delta"]))
        .collect();
    let reasoning: String = deltas
        .iter()
        .filter_map(|d| d["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, THOUGHT);
    let content: String = deltas
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(content, "Fake answer to: Why is the sky blue");
    let first_reasoning = deltas
        .iter()
        .position(|d| d["reasoning_content"].is_string());
    let first_text = deltas
        .iter()
        .position(|d| d["content"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(first_reasoning < first_text, "{deltas:?}");
    let signatures: Vec<&Value> = deltas
        .iter()
        .filter_map(|d| d["thinking_blocks"].get(0))
        .collect();
    assert_eq!(
        signatures,
        [&json!({"type": "thinking", "thinking": "", "signature": FAKE_SIGNATURE})]
    );
    let usage = &events.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 18);
    assert!(
        usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    let records = gw.usage_records().await;
    assert!(records[0].streamed && records[0].reasoning_tokens.is_some());
}

#[tokio::test]
async fn thinking_goes_back_signed_on_the_next_turn_of_a_tool_call() {
    let gw = gateway().await;
    let tools = json!([{"type": "function", "function": {"name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let first = gw
        .chat(
            json!({"model": "claude", "reasoning_effort": "low", "tools": tools,
                     "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let message = first.json()["choices"][0]["message"].clone();
    assert_eq!(message["tool_calls"][0]["function"]["name"], "weather");
    let call_id = message["tool_calls"][0]["id"].clone();
    let turn = |assistant: Value| {
        json!({"model": "claude", "reasoning_effort": "low", "tools": tools, "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            assistant,
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]})
    };
    // The assistant message as the client got it, thinking blocks included: accepted.
    let second = gw.chat(turn(message.clone())).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        second.json()["choices"][0]["message"]["content"],
        "Tool results: sunny"
    );
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"reasoningContent": {"reasoningText": {"text": THOUGHT, "signature": FAKE_SIGNATURE}}})
    );
    // Without them Bedrock refuses the turn: a 400 in OpenAI's shape, not a 5xx.
    let mut bare = message;
    bare.as_object_mut().unwrap().remove("thinking_blocks");
    let refused = gw.chat(turn(bare)).await;
    let error = refused.assert_error(400, "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinking"),
        "{error}"
    );
}

#[tokio::test]
async fn bedrock_thinking_rules_are_400s_before_any_model_call() {
    let gw = gateway().await;
    for (extra, param) in [
        (
            json!({"reasoning_effort": "high", "temperature": 0.2}),
            "temperature",
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 4000}, "max_tokens": 4000}),
            "max_tokens",
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 100}}),
            "thinking.budget_tokens",
        ),
        (json!({"thinking": {"type": "sometimes"}}), "thinking.type"),
        (json!({"reasoning_effort": "extreme"}), "reasoning_effort"),
    ] {
        let res = gw.chat(ask("claude", extra.clone())).await;
        let body = res.assert_error(400, "invalid_request_error");
        assert_eq!(body["error"]["param"], param, "{extra}: {body}");
    }
    // Effort on a max_tokens too small for Claude's smallest budget.
    let res = gw
        .chat(ask(
            "claude",
            json!({"reasoning_effort": "low", "max_tokens": 500}),
        ))
        .await;
    res.assert_error(400, "invalid_request_error");
    // A model that cannot think says so.
    let res = gw
        .chat(ask("titan", json!({"reasoning_effort": "low"})))
        .await;
    let body = res.assert_error(400, "invalid_request_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(TITAN),
        "{body}"
    );
    assert_eq!(gw.fake.total_calls(), 0);
    // `none` and `disabled` turn thinking off: no reasoning fields go to Bedrock.
    for extra in [
        json!({"reasoning_effort": "none"}),
        json!({"thinking": {"type": "disabled"}}),
    ] {
        let res = gw.chat(ask("titan", extra)).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let sent = gw.fake.last_request(TITAN).unwrap();
        assert!(sent.get("additionalModelRequestFields").is_none(), "{sent}");
        assert!(res.json()["choices"][0]["message"]
            .get("reasoning_content")
            .is_none());
    }
}

#[tokio::test]
async fn nova_2_thinks_by_effort_level() {
    let gw = gateway().await;
    for (extra, effort) in [
        (json!({"reasoning_effort": "medium"}), "medium"),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 8000}}),
            "high",
        ),
    ] {
        let res = gw.chat(ask("nova", extra)).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let sent = gw.fake.last_request(NOVA_2).unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"],
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}})
        );
        let message = &res.json()["choices"][0]["message"];
        assert_eq!(message["reasoning_content"], "[REDACTED]");
        assert_eq!(message["thinking_blocks"][0].get("signature"), None);
    }
}

#[tokio::test]
async fn keys_and_budgets_hold_for_thinking_requests() {
    use axum::body::Body;
    use gateway::keys::{MemoryKeyStore, VirtualKey};
    use http::Request;
    use std::sync::Arc;

    let fake = FakeBedrock::start().await.unwrap();
    let yaml = features_yaml(&fake.endpoint(), "");
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        "sk-nova-only",
        VirtualKey {
            models: vec!["nova".into()],
            ..VirtualKey::default()
        },
    );
    store.insert(
        "sk-tiny-budget",
        VirtualKey {
            max_budget: Some(1e-9),
            ..VirtualKey::default()
        },
    );
    let keys = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let send = |key: &str| {
        Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(
                ask("claude", json!({"reasoning_effort": "high"})).to_string(),
            ))
            .unwrap()
    };
    gw.send(send("sk-nova-only"))
        .await
        .assert_error(403, "permission_error");
    let spent = gw.send(send("sk-tiny-budget")).await;
    assert_eq!(spent.status, 429, "{}", spent.text());
    assert_eq!(spent.json()["error"]["code"], "budget_exceeded");
    assert_eq!(gw.fake.total_calls(), 0);
}
