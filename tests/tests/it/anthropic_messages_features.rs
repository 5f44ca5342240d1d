//! `POST /v1/messages` with Anthropic's `thinking` and `cache_control`, against the fake
//! Bedrock: thinking reaches Converse as Claude's budget and comes back as `thinking` blocks
//! (whole) or `thinking_delta`/`signature_delta` events (streamed), and goes back signed on the
//! next turn; `cache_control` on system blocks, content blocks and tools becomes Converse cache
//! points, and the cache's tokens come back as Anthropic's `cache_creation_input_tokens` /
//! `cache_read_input_tokens` (with `input_tokens` the rest), whole and streamed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use gateway_tests::fake_bedrock::{FakeBedrock, FAKE_SIGNATURE};
use gateway_tests::features::{features_yaml, CLAUDE_45};
use gateway_tests::harness::{TestGateway, TestResponse, MASTER_KEY};
use http::Request;
use serde_json::{json, Value};

const THOUGHT: &str = "The user wants an answer. I will give it plainly.";
const SYSTEM: &str = "You are a careful assistant who answers questions about the weather only.";
const ANSWER: &str = "Fake answer to: Why is the sky blue";

async fn gateway() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = features_yaml(&fake.endpoint(), "");
    TestGateway::with_yaml(fake, &yaml).await
}

async fn messages(gw: &TestGateway, body: Value) -> TestResponse {
    let request = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", MASTER_KEY)
        .body(Body::from(body.to_string()))
        .unwrap();
    gw.send(request).await
}

fn thinking(stream: bool) -> Value {
    json!({"model":"claude","max_tokens":3000,"stream":stream,
           "thinking":{"type":"enabled","budget_tokens":2000},
           "messages":[{"role":"user","content":"Why is the sky blue"}]})
}

/// (event name, data) of each SSE frame.
fn events(response: &TestResponse) -> Vec<(String, Value)> {
    response
        .text()
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            (
                event.strip_prefix("event: ").unwrap().to_owned(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn thinking_reaches_bedrock_and_comes_back_as_a_thinking_block() {
    let gw = gateway().await;
    let res = messages(&gw, thinking(false)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 2000}})
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 3000);
    let body = res.json();
    assert_eq!(
        body["content"],
        json!([{"type":"thinking","thinking":THOUGHT,"signature":FAKE_SIGNATURE},
               {"type":"text","text":ANSWER}])
    );
    // 8 answer words + 10 thinking words.
    assert_eq!(body["usage"]["output_tokens"], 18);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].completion_tokens, 18);
    assert!(records[0].reasoning_tokens.is_some_and(|t| t > 0));
}

#[tokio::test]
async fn streamed_thinking_is_thinking_and_signature_deltas_before_the_text() {
    let gw = gateway().await;
    let res = messages(&gw, thinking(true)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        2000
    );
    let events = events(&res);
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| &d["content_block"])
        .collect();
    assert_eq!(
        starts,
        [
            &json!({"type":"thinking","thinking":""}),
            &json!({"type":"text","text":""})
        ]
    );
    let deltas = |index: u64, kind: &str, field: &str| -> String {
        events
            .iter()
            .filter(|(n, d)| n == "content_block_delta" && d["index"] == index)
            .filter(|(_, d)| d["delta"]["type"] == kind)
            .map(|(_, d)| d["delta"][field].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(deltas(0, "thinking_delta", "thinking"), THOUGHT);
    assert_eq!(deltas(0, "signature_delta", "signature"), FAKE_SIGNATURE);
    assert_eq!(deltas(1, "text_delta", "text"), ANSWER);
    let (_, last_delta) = events.iter().rfind(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(last_delta["usage"]["output_tokens"], 18);
    assert_eq!(events.last().unwrap().0, "message_stop");
    assert_eq!(gw.usage_records().await.len(), 1);
}

#[tokio::test]
async fn thinking_goes_back_signed_on_the_next_turn_of_a_tool_use() {
    let gw = gateway().await;
    let tools = json!([{"name":"weather","input_schema":{"type":"object",
        "properties":{"city":{"type":"string"}},"required":["city"]}}]);
    let ask = json!({"role":"user","content":"Weather in Paris?"});
    let first = messages(
        &gw,
        json!({"model":"claude","max_tokens":3000,"tools":tools,
               "thinking":{"type":"enabled","budget_tokens":1024},"messages":[ask]}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let answer = first.json();
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(answer["content"][0]["type"], "thinking");
    let tool_use = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    let turn = |assistant: Value| {
        json!({"model":"claude","max_tokens":3000,"tools":tools,
               "thinking":{"type":"enabled","budget_tokens":1024},
               "messages":[ask, {"role":"assistant","content":assistant},
                   {"role":"user","content":[{"type":"tool_result","tool_use_id":tool_use["id"],
                                              "content":"sunny"}]}]})
    };
    // The assistant turn as the client got it, thinking block included: accepted.
    let second = messages(&gw, turn(answer["content"].clone())).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"reasoningContent": {"reasoningText": {"text": THOUGHT, "signature": FAKE_SIGNATURE}}})
    );
    // Without it Bedrock refuses the turn: a 400 in Anthropic's shape, not a 5xx.
    let bare = json!([tool_use]);
    let refused = messages(&gw, turn(bare)).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn thinking_rules_are_anthropic_400s_before_any_model_call() {
    let gw = gateway().await;
    for (change, field) in [
        (json!({"max_tokens": 2000}), "max_tokens"),
        (json!({"temperature": 0.2}), "temperature"),
        (
            json!({"thinking": {"type":"enabled","budget_tokens":100}}),
            "budget_tokens",
        ),
    ] {
        let mut body = thinking(false);
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = messages(&gw, body).await;
        assert_eq!(res.status, 400, "{}", res.text());
        let error = res.json();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    assert_eq!(gw.fake.calls(CLAUDE_45), 0);
}

fn cached_system(question: &str, stream: bool) -> Value {
    json!({"model":"claude","max_tokens":100,"stream":stream,
           "system":[{"type":"text","text":SYSTEM,"cache_control":{"type":"ephemeral"}}],
           "messages":[{"role":"user","content":question}]})
}

#[tokio::test]
async fn a_cached_system_prompt_is_written_then_read_whole_and_streamed() {
    let gw = gateway().await;
    let words = SYSTEM.split_whitespace().count() as u64;
    let first = messages(&gw, cached_system("Rain today", false)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["system"],
        json!([{"text": SYSTEM}, {"cachePoint": {"type": "default"}}])
    );
    // Anthropic's input_tokens leaves out the cache's tokens.
    assert_eq!(
        first.json()["usage"],
        json!({"input_tokens":2,"output_tokens":5,
               "cache_creation_input_tokens":words,"cache_read_input_tokens":0})
    );

    let second = messages(&gw, cached_system("Sun tomorrow", true)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["system"][1],
        json!({"cachePoint": {"type": "default"}})
    );
    let events = events(&second);
    let (_, delta) = events.iter().rfind(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta["usage"]["cache_read_input_tokens"], words);
    assert_eq!(delta["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(delta["usage"]["input_tokens"], 2);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].cache_write_tokens, Some(words as u32));
    assert_eq!(records[1].cache_read_tokens, Some(words as u32));
}

#[tokio::test]
async fn cache_points_follow_marked_blocks_and_tools_and_at_most_four() {
    let gw = gateway().await;
    let marked =
        |text: &str| json!({"type":"text","text":text,"cache_control":{"type":"ephemeral"}});
    let res = messages(
        &gw,
        json!({"model":"claude","max_tokens":100,
            "tools":[{"name":"lookup","description":"Looks up a city forecast",
                      "input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
            "messages":[
                {"role":"user","content":[marked("Here is a long document"),
                                          {"type":"text","text":"Summarize it"}]},
                {"role":"assistant","content":[marked("It is about rain.")]},
                {"role":"user","content":"And wind?"}]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    let point = json!({"cachePoint": {"type": "default"}});
    assert_eq!(sent["toolConfig"]["tools"][1], point, "{sent}");
    assert_eq!(sent["messages"][0]["content"][1], point);
    assert_eq!(sent["messages"][0]["content"][2]["text"], "Summarize it");
    assert_eq!(sent["messages"][1]["content"][1], point);
    assert!(
        res.json()["usage"]["cache_creation_input_tokens"]
            .as_u64()
            .unwrap()
            > 5
    );
    let calls = gw.fake.calls(CLAUDE_45);
    let five = json!({"model":"claude","max_tokens":100,"messages":[{"role":"user","content":
        [marked("a"), marked("b"), marked("c"), marked("d"), marked("e")]}]});
    let refused = messages(&gw, five).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
    assert_eq!(gw.fake.calls(CLAUDE_45), calls);
}
