//! Structured output and documents through chat completions: `response_format` `json_schema`
//! and `json_object` are enforced through a forced `json_tool_call` tool (as LiteLLM does for
//! Bedrock) and answered as message content, whole and streamed; `file` content parts become
//! Converse document blocks with names Converse accepts; what Converse refuses is a 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::features::{features_yaml, CLAUDE_45};
use gateway_tests::harness::TestGateway;
use serde_json::{json, Value};

async fn gateway(rest: &str) -> (TestGateway, String) {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let yaml = features_yaml(&endpoint, rest);
    (TestGateway::with_yaml(fake, &yaml).await, endpoint)
}

fn schema_request(stream: bool) -> Value {
    json!({"model": "claude", "stream": stream,
        "messages": [{"role": "user", "content": "Extract the city and temperature"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather",
            "schema": {"type": "object", "properties": {
                "city": {"type": "string"}, "celsius": {"type": "integer"}, "unit": {"enum": ["C", "F"]}},
                "required": ["city", "celsius", "unit"]}}}})
}

#[tokio::test]
async fn json_schema_is_forced_through_a_tool_and_answered_as_content() {
    let (gw, _) = gateway("").await;
    let res = gw.chat(schema_request(false)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    let tools = &sent["toolConfig"]["tools"];
    assert_eq!(tools[0]["toolSpec"]["name"], "json_tool_call");
    assert_eq!(
        tools[0]["toolSpec"]["inputSchema"]["json"]["required"],
        json!(["city", "celsius", "unit"])
    );
    assert_eq!(
        sent["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "json_tool_call"}})
    );
    let body = res.json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none(), "{body}");
    let content: Value =
        serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"city": "test", "celsius": 1, "unit": "C"}));
    let records = gw.usage_records().await;
    assert_eq!(records[0].finish_reason, Some("stop"));
}

#[tokio::test]
async fn json_schema_streams_as_content_deltas() {
    let (gw, _) = gateway("").await;
    let res = gw.chat(schema_request(true)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let events = res.sse_events();
    let deltas: Vec<&Value> = events.iter().filter_map(|e| e["choices"].get(0)).collect();
    assert!(
        deltas
            .iter()
            .all(|c| c["delta"].get("tool_calls").is_none()),
        "{events:?}"
    );
    let content: String = deltas
        .iter()
        .filter_map(|c| c["delta"]["content"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(parsed, json!({"city": "test", "celsius": 1, "unit": "C"}));
    let finish: Vec<&Value> = deltas
        .iter()
        .map(|c| &c["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    assert!(
        content.len() > 2 && deltas.len() > 3,
        "the JSON came in pieces"
    );
}

#[tokio::test]
async fn json_object_gets_a_json_object_and_a_bad_format_is_a_400() {
    let (gw, _) = gateway("").await;
    let res = gw
        .chat(
            json!({"model": "claude", "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "Give me JSON"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let content = res.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(serde_json::from_str::<Value>(&content).unwrap().is_object());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
        "object"
    );
    for (format, param) in [
        (
            json!({"type": "json_schema"}),
            "response_format.json_schema",
        ),
        (
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": 3}}),
            "response_format.json_schema.schema",
        ),
        (json!({"type": "yaml"}), "response_format.type"),
    ] {
        let res = gw
            .chat(json!({"model": "claude", "response_format": format,
                "messages": [{"role": "user", "content": "x"}]}))
            .await;
        let body = res.assert_error(400, "invalid_request_error");
        assert_eq!(body["error"]["param"], param);
    }
    assert_eq!(gw.fake.calls(CLAUDE_45), 1);
}

#[tokio::test]
async fn structured_answers_still_pass_the_output_guardrail() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let rest = format!(
        "guardrails:\n  - guardrail_name: out\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: post_call\n      guardrailIdentifier: gout\n      guardrailVersion: '1'\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n      \
         default_on: true\n"
    );
    let gw = TestGateway::with_yaml(fake, &features_yaml(&endpoint, &rest)).await;
    let res = gw.chat(schema_request(false)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(gw.fake.guardrail_calls_from("gout", "1", "OUTPUT"), 1);
}

#[tokio::test]
async fn file_parts_become_documents_with_converse_names() {
    let (gw, _) = gateway("").await;
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 fake");
    let res = gw
        .chat(
            json!({"model": "claude", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Summarize"},
            {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{pdf}"),
                                      "filename": "Q3 report_final.pdf"}},
            {"type": "file", "file": {"file_data": "data:text/csv;base64,YSxiCjEsMgo="}}]}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(CLAUDE_45).unwrap();
    let content = &sent["messages"][0]["content"];
    assert_eq!(content[1]["document"]["format"], "pdf");
    assert_eq!(content[1]["document"]["name"], "Q3 report-final-pdf");
    assert_eq!(content[1]["document"]["source"]["bytes"], pdf);
    assert_eq!(content[2]["document"]["format"], "csv");
    assert_eq!(content[2]["document"]["name"], "document 2");
}

#[tokio::test]
async fn what_converse_cannot_take_is_a_400_naming_the_part() {
    let (gw, _) = gateway("").await;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 3_800_000]);
    for (part, fragment) in [
        (
            json!({"type": "file", "file": {"file_data": "data:application/zip;base64,AAAA"}}),
            "application/zip",
        ),
        (
            json!({"type": "file", "file": {"file_id": "file-abc"}}),
            "file_id",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}}),
            "image/bmp",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{big}")}}),
            "3750000",
        ),
    ] {
        let res = gw
            .chat(
                json!({"model": "claude", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"}, part]}]}),
            )
            .await;
        let body = res.assert_error(400, "invalid_request_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{message}");
        assert!(body["error"]["param"]
            .as_str()
            .unwrap()
            .starts_with("messages[0].content[1]"));
    }
    assert_eq!(gw.fake.total_calls(), 0);
}
