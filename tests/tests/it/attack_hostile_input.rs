//! Hostile input (issue 17, item 8): requests OpenAI refuses get OpenAI-shaped 400s and reach
//! no model, whole and streamed.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use gateway_tests::harness::{TestGateway, MASTER_KEY};
use http::Request;
use serde_json::json;

async fn send_raw(gw: &TestGateway, body: String) -> gateway_tests::harness::TestResponse {
    gw.send(
        Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {MASTER_KEY}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_lone_utf16_surrogate_escape_in_content_is_a_400() {
    let gw = TestGateway::start().await;
    for stream in [false, true] {
        for escape in [
            r"\ud800",
            r"\udfff",
            r"x\ud83dy",
            r"\ud800\u0041",
            r"\udc00x",
            r"\ud800 ",
        ] {
            let body = format!(
                r#"{{"model":"claude-3-sonnet","stream":{stream},"messages":[{{"role":"user","content":"hi {escape}"}}]}}"#
            );
            let res = send_raw(&gw, body).await;
            let error = res.assert_error(400, "invalid_request_error");
            assert_eq!(error["error"]["param"], "body", "{escape}: {error}");
        }
    }
    // A proper pair is one character and fine.
    let body =
        r#"{"model":"claude-3-sonnet","messages":[{"role":"user","content":"hi \ud83d\ude00"}]}"#;
    assert_eq!(send_raw(&gw, body.to_owned()).await.status, 200);
    assert_eq!(gw.fake.total_calls(), 1);
}

#[tokio::test]
async fn a_tool_message_that_answers_no_tool_call_is_a_400() {
    let gw = TestGateway::start().await;
    let call = json!({"id": "call_1", "type": "function",
        "function": {"name": "f", "arguments": "{}"}});
    for stream in [false, true] {
        // No tool call at all.
        let res = gw
            .chat(
                json!({"model": "claude-3-sonnet", "stream": stream, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_1", "content": "x"}]}),
            )
            .await;
        let error = res.assert_error(400, "invalid_request_error");
        assert_eq!(
            error["error"]["param"], "messages[1].tool_call_id",
            "{error}"
        );
        // A tool call with another id.
        let res = gw
            .chat(
                json!({"model": "claude-3-sonnet", "stream": stream, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_2", "content": "x"}]}),
            )
            .await;
        let error = res.assert_error(400, "invalid_request_error");
        assert_eq!(
            error["error"]["param"], "messages[2].tool_call_id",
            "{error}"
        );
    }
    assert_eq!(gw.fake.total_calls(), 0);
    // The answer to the call it follows is fine.
    let tools = json!([{"type": "function", "function": {"name": "f",
        "parameters": {"type": "object", "properties": {}}}}]);
    let res = gw
        .chat(
            json!({"model": "claude-3-sonnet", "tools": tools, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "x"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}
