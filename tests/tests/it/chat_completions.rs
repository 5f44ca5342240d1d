//! Whole answers through the gateway: content, parameters, tools, images, usage, and what
//! reached Bedrock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway_tests::harness::{TestGateway, HAIKU, SONNET};
use serde_json::json;

#[tokio::test]
async fn answers_with_bedrock_text_usage_and_the_requested_model_name() {
    let gw = TestGateway::start().await;
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","messages":[
            {"role":"system","content":"You are terse."},
            {"role":"user","content":"What is Amazon Bedrock?"}]}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "claude-3-sonnet");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Fake answer to: What is Amazon Bedrock?"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // The fake counts words: 3 system + 4 user in, 7 out.
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens":7,"completion_tokens":7,"total_tokens":14})
    );
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
    assert_eq!(gw.fake.calls(HAIKU), 0);
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["system"], json!([{"text":"You are terse."}]));
    assert_eq!(
        sent["messages"],
        json!([{"role":"user","content":[{"text":"What is Amazon Bedrock?"}]}])
    );
}

#[tokio::test]
async fn the_seed_lambdas_path_and_the_converse_prefix_work() {
    let gw = TestGateway::start().await;
    let res = gw
        .send(
            http::Request::post("/chat/completions")
                .header(
                    "authorization",
                    format!("Bearer {}", gateway_tests::harness::MASTER_KEY),
                )
                .body(axum::body::Body::from(
                    json!({"model":"claude-3-haiku","messages":[{"role":"user","content":"hi"}]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["model"], "claude-3-haiku");
    assert_eq!(
        gw.fake.converse_calls(HAIKU),
        1,
        "bedrock/converse/<id> calls the bare model id"
    );
}

#[tokio::test]
async fn multi_turn_parameters_and_stop_reach_bedrock() {
    let gw = TestGateway::start().await;
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","temperature":0.2,"top_p":0.9,"max_completion_tokens":3,
            "stop":["never"],"user":"u-1","metadata":{"app":"x"},"some_future_field":true,
            "messages":[
                {"role":"user","content":"first"},
                {"role":"assistant","content":"an answer"},
                {"role":"user","content":[{"type":"text","text":"tell me"},{"type":"text","text":"more please"}]}]}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    // max tokens 3: the fake cuts the answer to three words and says why.
    assert_eq!(body["choices"][0]["message"]["content"], "Fake answer to:");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 3);
    assert_eq!(sent["inferenceConfig"]["stopSequences"], json!(["never"]));
    assert!((sent["inferenceConfig"]["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        sent["messages"][2]["content"],
        json!([{"text":"tell me"},{"text":"more please"}])
    );
}

#[tokio::test]
async fn tool_calls_go_out_and_results_come_back() {
    let gw = TestGateway::start().await;
    let tools = json!([{"type":"function","function":{"name":"get_weather","description":"Weather for a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]);
    let first = gw
        .chat(json!({"model":"claude-3-sonnet","tools":tools,"messages":[{"role":"user","content":"Weather in Paris?"}]}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    let message = &body["choices"][0]["message"];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &message["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(call["function"]["arguments"].as_str().unwrap())
            .unwrap(),
        json!({"city":"test"})
    );
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"],
        json!(["city"])
    );

    let second = gw
        .chat(json!({"model":"claude-3-sonnet","tools":tools,"messages":[
            {"role":"user","content":"Weather in Paris?"},
            {"role":"assistant","content":null,"tool_calls":[call]},
            {"role":"tool","tool_call_id":call["id"],"content":"18C and sunny"}]}))
        .await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        second.json()["choices"][0]["message"]["content"],
        "Tool results: 18C and sunny"
    );
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["toolUseId"],
        call["id"]
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        call["id"]
    );
    assert_eq!(gw.fake.converse_calls(SONNET), 2);
}

#[tokio::test]
async fn a_named_tool_choice_is_forced() {
    let gw = TestGateway::start().await;
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],
            "tool_choice":{"type":"function","function":{"name":"b"}}}))
        .await;
    assert_eq!(
        res.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "b"
    );
    assert_eq!(
        gw.fake.last_request(SONNET).unwrap()["toolConfig"]["toolChoice"],
        json!({"tool":{"name":"b"}})
    );
}

#[tokio::test]
async fn images_travel_as_bytes() {
    let gw = TestGateway::start().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let res = gw
        .chat(
            json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":[
            {"type":"text","text":"Describe"},
            {"type":"image_url","image_url":{"url":format!("data:image/png;base64,{png}")}}]}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        "Fake answer to: Describe (with 1 image(s))"
    );
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["messages"][0]["content"][1]["image"]["format"], "png");
    assert_eq!(
        sent["messages"][0]["content"][1]["image"]["source"]["bytes"],
        png
    );
}

#[tokio::test]
async fn models_and_health() {
    let gw = TestGateway::start().await;
    let models = gw
        .send(
            http::Request::get("/v1/models")
                .header("x-api-key", gateway_tests::harness::MASTER_KEY)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(models.status, 200);
    let ids: Vec<_> = models.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("claude-3-sonnet"), json!("claude-3-haiku")]);
    let one = gw
        .send(
            http::Request::get("/v1/models/claude-3-haiku")
                .header("x-api-key", gateway_tests::harness::MASTER_KEY)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(one.json()["id"], "claude-3-haiku");
    let missing = gw
        .send(
            http::Request::get("/v1/models/gpt-4")
                .header("x-api-key", gateway_tests::harness::MASTER_KEY)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    missing.assert_error(404, "invalid_request_error");
    for path in ["/health", "/health/readiness"] {
        let res = gw
            .send(
                http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status, 200, "{path}");
    }
    assert_eq!(gw.fake.total_calls(), 0, "health checks never call Bedrock");
}
