//! Attacks on input guardrails (issue 17, item 2): every text the caller wrote is checked,
//! whatever its role or place among the parts (assistant turns, tool results, tool-call
//! arguments, Lex history from session attributes), and a masked text stays in its place.
//! Through the real SDK against the fake ApplyGuardrail (blocked word `BLOCKME`; emails
//! anonymized as `{EMAIL}`); chat API whole and streamed, and Lex.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gateway::lex::{LexFulfillment, ANSWER_WITHHELD};
use gateway::usage::MemoryUsageSink;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{
    build_gateway, load_config, sample_event, TestGateway, TestResponse, HAIKU, MASTER_KEY, SONNET,
};
use serde_json::{json, Value};

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The test models with one `pre_call` guardrail `in` (`gin`) on by default; `extra` lines
/// go into its `litellm_params`.
fn yaml(endpoint: &str, extra: &str) -> String {
    let creds = format!(
        "      aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: k\n      aws_secret_access_key: s\n"
    );
    format!(
        "model_list:\n  - model_name: claude-3-sonnet\n    litellm_params:\n      model: bedrock/{SONNET}\n{creds}\
         \x20 - model_name: claude-3-haiku\n    litellm_params:\n      model: bedrock/{HAIKU}\n{creds}\
         general_settings:\n  master_key: {MASTER_KEY}\n\
         guardrails:\n  - guardrail_name: in\n    litellm_params:\n      guardrail: bedrock\n      mode: pre_call\n      \
         guardrailIdentifier: gin\n      guardrailVersion: '1'\n      default_on: true\n{extra}{creds}\
         lex:\n  model: claude-3-sonnet\n"
    )
}

async fn gateway(extra: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = yaml(&fake.endpoint(), extra);
    TestGateway::with_yaml(fake, &yaml).await
}

fn chat(messages: Value, stream: bool) -> Value {
    json!({"model": "claude-3-sonnet", "stream": stream, "messages": messages})
}

fn assert_blocked(res: &TestResponse) {
    let body = res.assert_error(400, "invalid_request_error");
    assert_eq!(body["error"]["code"], "content_policy_violation", "{body}");
}

#[tokio::test]
async fn an_email_after_an_image_reaches_the_model_masked() {
    let gw = gateway("      mask_request_content: true\n").await;
    for stream in [false, true] {
        let res = gw
            .chat(chat(
                json!([{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
                    {"type": "text", "text": "mail a@b.com please"}
                ]}]),
                stream,
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        let sent = gw.fake.last_request(SONNET).unwrap();
        let content = &sent["messages"][0]["content"];
        assert!(content[0].get("image").is_some(), "image first: {sent}");
        assert_eq!(content[1]["text"], "mail {EMAIL} please", "{sent}");
        assert!(!sent.to_string().contains("a@b.com"), "{sent}");
    }
}

#[tokio::test]
async fn emails_in_tool_results_and_tool_call_arguments_reach_the_model_masked() {
    let gw = gateway("      mask_request_content: true\n").await;
    let call = json!({"id": "call_1", "type": "function",
        "function": {"name": "send", "arguments": "{\"to\":\"c@d.com\"}"}});
    let tools = json!([{"type": "function", "function": {"name": "send",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}]);
    for stream in [false, true] {
        let mut body = chat(
            json!([
                {"role": "user", "content": "send it"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sent to e@f.com"}
            ]),
            stream,
        );
        body["tools"] = tools.clone();
        let res = gw.chat(body).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let sent = gw.fake.last_request(SONNET).unwrap().to_string();
        assert!(
            !sent.contains("c@d.com") && !sent.contains("e@f.com"),
            "{sent}"
        );
        assert_eq!(sent.matches("{EMAIL}").count(), 2, "{sent}");
    }
}

#[tokio::test]
async fn a_blocked_word_in_an_assistant_turn_is_refused_before_any_model_call() {
    let gw = gateway("").await;
    for stream in [false, true] {
        let res = gw
            .chat(chat(
                json!([
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "Sure, BLOCKME it is."},
                    {"role": "user", "content": "go on"}
                ]),
                stream,
            ))
            .await;
        assert_blocked(&res);
        // A tool result is the caller's text too.
        let res = gw
            .chat(chat(
                json!([
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1",
                        "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": "BLOCKME"}
                ]),
                stream,
            ))
            .await;
        assert_blocked(&res);
    }
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn a_blocked_word_in_lex_history_is_refused_before_any_model_call() {
    let fake = FakeBedrock::start().await.unwrap();
    let config = load_config(&yaml(&fake.endpoint(), ""));
    let usage = Arc::new(MemoryUsageSink::default());
    let gateway = build_gateway(&config, Arc::clone(&usage), |b| b).await;
    let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    let mut event = sample_event("lex-follow-up.json");
    // Lex clients can set session attributes: the history is the caller's text.
    event["sessionState"]["sessionAttributes"]["qa_history"] =
        json!(r#"[["What is it?","It is BLOCKME, say it again."]]"#);
    let response = lex.handle_json(event, None).await;
    assert_eq!(response["messages"][0]["content"], ANSWER_WITHHELD);
    assert_eq!(fake.total_calls(), 0);
    gateway.after_response().flush().await;
    assert_eq!(usage.records()[0].guardrails, ["in:blocked"]);
}

/// The test models with one `post_call` guardrail `out` (`gout`) that masks answers.
async fn masking_answers() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = yaml(&fake.endpoint(), "      mask_response_content: true\n")
        .replace("mode: pre_call", "mode: post_call")
        .replace("guardrail_name: in", "guardrail_name: out")
        .replace("guardrailIdentifier: gin", "guardrailIdentifier: gout");
    TestGateway::with_yaml(fake, &yaml).await
}

fn streamed_text(res: &TestResponse) -> String {
    assert_eq!(res.status, 200, "{}", res.text());
    res.sse_events()
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_one_word_per_line_stream_makes_a_bounded_number_of_guardrail_calls() {
    let gw = masking_answers().await;
    gw.fake.set_stream_chunk_bytes(4);
    let words: String = (0..500).map(|i| format!("w{i}\n")).collect();
    let res = gw
        .chat(chat(json!([{"role": "user", "content": words}]), true))
        .await;
    let text = streamed_text(&res);
    assert!(text.ends_with("w499\n"), "{text}");
    let calls = gw.fake.guardrail_calls_from("gout", "1", "OUTPUT");
    let bound = text.len() / gateway::pipeline::STREAM_WINDOW_MIN_BYTES + 1;
    assert!(
        calls <= bound,
        "{calls} ApplyGuardrail calls for {} bytes",
        text.len()
    );
}

#[tokio::test]
async fn a_blocked_phrase_split_across_stream_windows_is_still_caught() {
    let fake = FakeBedrock::start().await.unwrap();
    // The fake's blocked word is `BLOCKME`; this phrase spans a window's end (a newline).
    fake.add_blocked_word("forbidden\nwords");
    let yaml = yaml(&fake.endpoint(), "")
        .replace("mode: pre_call", "mode: post_call")
        .replace("guardrailIdentifier: gin", "guardrailIdentifier: gout");
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    gw.fake.set_stream_chunk_bytes(5);
    let prompt = format!(
        "{}It is forbidden\nwords follow{}",
        "fine ".repeat(50),
        " more".repeat(60)
    );
    let res = gw
        .chat(chat(json!([{"role": "user", "content": prompt}]), true))
        .await;
    assert!(!res.text().contains("words follow"), "{}", res.text());
    assert!(
        res.text().contains("content_policy_violation"),
        "{}",
        res.text()
    );
}
