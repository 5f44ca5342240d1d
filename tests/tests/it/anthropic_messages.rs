//! `POST /v1/messages` (Anthropic's Messages API) through the whole pipeline against the fake
//! Bedrock: the answer's shape whole and streamed, what Bedrock is sent, usage records, keys
//! in `x-api-key`, budgets, guardrails and upstream failures in Anthropic's error shape, and
//! `count_tokens` through Bedrock's CountTokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use gateway::http::origin_verify::{require, OriginVerify, ORIGIN_VERIFY_HEADER};
use gateway::usage::Outcome;
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{TestGateway, TestResponse, MASTER_KEY, SONNET};
use gateway_tests::keys::{moto, settings, Instance};
use http::Request;
use serde_json::{json, Value};

fn post(path: &str, key: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn messages(gw: &TestGateway, body: Value) -> TestResponse {
    gw.send(post("/v1/messages", Some(MASTER_KEY), &body.to_string()))
        .await
}

fn ask(text: &str) -> Value {
    json!({"model":"claude-3-sonnet","max_tokens":100,
           "messages":[{"role":"user","content":text}]})
}

/// Asserts an Anthropic error body of this status and type; returns its message.
fn assert_anthropic_error(response: &TestResponse, status: u16, kind: &str) -> String {
    assert_eq!(response.status.as_u16(), status, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body.get("param").is_none() && body["error"].get("code").is_none());
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// (event name, data) of each SSE frame.
fn events(response: &TestResponse) -> Vec<(String, Value)> {
    let text = response.text();
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let (event, data) = frame
                .split_once('\n')
                .unwrap_or_else(|| panic!("{frame:?}"));
            let name = event.strip_prefix("event: ").unwrap().to_owned();
            let data = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_whole_answer_is_an_anthropic_message_and_bedrock_gets_the_request() {
    let gw = TestGateway::start().await;
    let response = messages(
        &gw,
        json!({"model":"claude-3-sonnet","max_tokens":50,"temperature":0.5,"top_p":0.9,
               "system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
               "metadata":{"user_id":"alice"},
               "messages":[{"role":"user","content":"Hello there"},
                           {"role":"assistant","content":"Hi."},
                           {"role":"user","content":[{"type":"text","text":"How are you"}]}]}),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(response.headers["x-request-id"], id);
    assert_eq!(
        body,
        json!({"id":id,"type":"message","role":"assistant","model":"claude-3-sonnet",
               "content":[{"type":"text","text":"Fake answer to: How are you"}],
               "stop_reason":"end_turn","stop_sequence":null,
               "usage":{"input_tokens":8,"output_tokens":6}})
    );
    let sent = gw.fake.last_request(SONNET).unwrap();
    // Claude 3 Sonnet has no prompt cache on Bedrock: the mark is dropped, not sent.
    assert_eq!(sent["system"], json!([{"text":"Be brief."}]));
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3);
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 50);
    assert!((sent["inferenceConfig"]["topP"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(gw.fake.converse_calls(SONNET), 1);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.request_id, id);
    assert_eq!(record.user.as_deref(), Some("alice"));
    assert_eq!((record.prompt_tokens, record.completion_tokens), (8, 6));
    assert_eq!((record.outcome, record.streamed), (Outcome::Success, false));
}

#[tokio::test]
async fn stop_sequences_reach_bedrock_and_come_back_as_the_stop_reason() {
    let gw = TestGateway::start().await;
    let mut body = ask("one two STOP three");
    body["stop_sequences"] = json!(["STOP"]);
    let response = messages(&gw, body).await;
    let body = response.json();
    assert_eq!(body["stop_reason"], "stop_sequence", "{body}");
    assert_eq!(body["stop_sequence"], "STOP");
    assert_eq!(body["content"][0]["text"], "Fake answer to: one two");
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["inferenceConfig"]["stopSequences"], json!(["STOP"]));

    let mut short = ask("LONG_ANSWER please");
    short["max_tokens"] = json!(3);
    let body = messages(&gw, short).await.json();
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn a_stream_is_anthropic_events_and_leaves_one_record() {
    let gw = TestGateway::start().await;
    let mut body = ask("How are you");
    body["stream"] = json!(true);
    let response = messages(&gw, body).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.headers["content-type"], "text/event-stream");
    let events = events(&response);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "event name and type agree");
    }
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Fake answer to: How are you");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 6);
    assert_eq!(delta["usage"]["input_tokens"], 3);
    let id = events[0].1["message"]["id"].as_str().unwrap().to_owned();
    assert_eq!(gw.fake.stream_calls(SONNET), 1);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].request_id, id);
    assert!(records[0].streamed);
    assert_eq!(
        (records[0].prompt_tokens, records[0].completion_tokens),
        (3, 6)
    );
}

#[tokio::test]
async fn tools_and_tool_results_round_trip_whole_and_streamed() {
    let gw = TestGateway::start().await;
    let tools = json!([{"name":"get_weather","description":"Weather of a city",
        "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]);
    let first = messages(
        &gw,
        json!({"model":"claude-3-sonnet","max_tokens":100,"tools":tools,
               "tool_choice":{"type":"tool","name":"get_weather"},
               "messages":[{"role":"user","content":"Weather in Paris?"}]}),
    )
    .await
    .json();
    assert_eq!(first["stop_reason"], "tool_use", "{first}");
    let call = &first["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city":"test"}));
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["toolConfig"]["toolChoice"],
        json!({"tool":{"name":"get_weather"}})
    );

    let follow_up = json!({"model":"claude-3-sonnet","max_tokens":100,"tools":tools,"stream":true,
        "messages":[{"role":"user","content":"Weather in Paris?"},
                    {"role":"assistant","content":[call]},
                    {"role":"user","content":[{"type":"tool_result","tool_use_id":call["id"],
                        "content":[{"type":"text","text":"sunny"}]}]}]});
    let response = messages(&gw, follow_up).await;
    let text: String = events(&response)
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Tool results: sunny");
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["name"],
        "get_weather"
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["content"],
        json!([{"text":"sunny"}])
    );

    // A streamed tool call: one tool_use block whose input_json_delta pieces make the input.
    let mut streamed = json!({"model":"claude-3-sonnet","max_tokens":100,"tools":tools,"stream":true,
        "messages":[{"role":"user","content":"Weather in Rome?"}]});
    streamed["tool_choice"] = json!({"type":"any"});
    let events = events(&messages(&gw, streamed).await);
    let start = events
        .iter()
        .find(|(n, _)| n == "content_block_start")
        .unwrap();
    assert_eq!(start.1["content_block"]["type"], "tool_use");
    let json_text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"city":"test"})
    );
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn images_reach_bedrock_as_image_blocks() {
    let gw = TestGateway::start().await;
    let body = json!({"model":"claude-3-sonnet","max_tokens":100,"messages":[{"role":"user","content":[
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
        {"type":"text","text":"What is this"}]}]});
    let answer = messages(&gw, body).await.json();
    assert_eq!(
        answer["content"][0]["text"],
        "Fake answer to: What is this (with 1 image(s))"
    );
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["image"]["format"], "png");

    let url = json!({"model":"claude-3-sonnet","max_tokens":100,"messages":[{"role":"user","content":[
        {"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}]}]});
    let message = assert_anthropic_error(&messages(&gw, url).await, 400, "invalid_request_error");
    assert!(message.contains("base64"), "{message}");
}

#[tokio::test]
async fn every_refusal_is_in_anthropics_shape_and_recorded() {
    let gw = TestGateway::start().await;
    let no_key = gw
        .send(post("/v1/messages", None, &ask("hi").to_string()))
        .await;
    assert_anthropic_error(&no_key, 401, "authentication_error");
    let bad_key = gw
        .send(post(
            "/v1/messages",
            Some("sk-wrong"),
            &ask("hi").to_string(),
        ))
        .await;
    assert_anthropic_error(&bad_key, 401, "authentication_error");
    let bearer = gw
        .send(
            Request::post("/v1/messages")
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .body(Body::from(ask("hi").to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(bearer.status, 200, "Authorization: Bearer works too");

    let no_max = json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":"hi"}]});
    let message =
        assert_anthropic_error(&messages(&gw, no_max).await, 400, "invalid_request_error");
    assert!(message.contains("max_tokens"), "{message}");
    let bad_json = gw
        .send(post("/v1/messages", Some(MASTER_KEY), "{not json"))
        .await;
    assert_anthropic_error(&bad_json, 400, "invalid_request_error");
    let mut unknown = ask("hi");
    unknown["model"] = json!("gpt-4");
    assert_anthropic_error(&messages(&gw, unknown).await, 404, "not_found_error");
    let mut thinking = ask("hi");
    thinking["thinking"] = json!({"type":"enabled","budget_tokens":1024});
    let message =
        assert_anthropic_error(&messages(&gw, thinking).await, 400, "invalid_request_error");
    assert!(message.contains("budget_tokens"), "{message}");
    let mut top_k = ask("hi");
    top_k["top_k"] = json!(5);
    assert_anthropic_error(&messages(&gw, top_k).await, 400, "invalid_request_error");
    let huge = format!(
        r#"{{"model":"claude-3-sonnet","max_tokens":5,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(7 * 1024 * 1024)
    );
    let too_large = gw.send(post("/v1/messages", Some(MASTER_KEY), &huge)).await;
    assert_anthropic_error(&too_large, 413, "request_too_large");
    let get = gw
        .send(Request::get("/v1/messages").body(Body::empty()).unwrap())
        .await;
    assert_anthropic_error(&get, 405, "invalid_request_error");

    assert_eq!(
        gw.fake.total_calls(),
        1,
        "only the bearer request reached Bedrock"
    );
    let records = gw.usage_records().await;
    let failed = records
        .iter()
        .filter(|r| r.outcome != Outcome::Success)
        .count();
    assert!(failed >= 5, "refused bodies are recorded: {records:#?}");
}

#[tokio::test]
async fn upstream_failures_map_to_anthropic_types_and_a_broken_stream_ends_with_an_error_event() {
    let gw = TestGateway::start().await;
    gw.fake.set_fault(SONNET, Fault::Unavailable);
    assert_anthropic_error(&messages(&gw, ask("hi")).await, 503, "overloaded_error");
    gw.fake.set_fault(SONNET, Fault::Throttle);
    let throttled = messages(&gw, ask("hi")).await;
    assert_anthropic_error(&throttled, 429, "rate_limit_error");
    assert!(throttled.headers.contains_key("retry-after"));
    gw.fake.set_fault(SONNET, Fault::ServerError);
    assert_anthropic_error(&messages(&gw, ask("hi")).await, 502, "api_error");

    gw.fake
        .set_fault(SONNET, Fault::StreamException { after_events: 3 });
    let mut body = ask("one two three four five six");
    body["stream"] = json!(true);
    let response = messages(&gw, body).await;
    assert_eq!(response.status, 200);
    let events = events(&response);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(events.iter().all(|(n, _)| n != "message_stop"));
    let records = gw.usage_records().await;
    assert_eq!(records.last().unwrap().outcome, Outcome::Failure);
}

#[tokio::test]
async fn a_guardrail_block_is_an_anthropic_invalid_request_and_bedrock_is_not_called() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let yaml = format!(
        "{}guardrails:\n  - guardrail_name: input-filter\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: pre_call\n      default_on: true\n      guardrailIdentifier: gin\n      guardrailVersion: '1'\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n",
        gateway_tests::harness::config_yaml(&endpoint)
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    for stream in [false, true] {
        let mut body = ask("please BLOCKME now");
        body["stream"] = json!(stream);
        let message =
            assert_anthropic_error(&messages(&gw, body).await, 400, "invalid_request_error");
        assert!(message.contains("content policy"), "{message}");
    }
    assert_eq!(gw.fake.guardrail_calls_from("gin", "1", "INPUT"), 2);
    assert_eq!(gw.fake.total_calls(), 0);
    let fine = messages(&gw, ask("hello")).await;
    assert_eq!(fine.status, 200, "{}", fine.text());
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].outcome, Outcome::Failure);
    assert_eq!(records[0].error_type, Some("guardrail_blocked.input"));
}

#[tokio::test]
async fn a_spent_budget_is_refused_in_anthropics_shape_with_the_key_in_x_api_key() {
    let table = moto().new_table("messages-budget").await;
    let gw = Instance::start(&table, "", settings(10.0, 900.0)).await;
    let key = gw.new_key(json!({"max_budget": 0.0000001})).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            gw.gw
                .send(post("/v1/messages", Some(&key), &ask("hi").to_string()))
                .await,
        );
    }
    let refused = answers.last().unwrap();
    let message = assert_anthropic_error(refused, 429, "rate_limit_error");
    assert!(message.contains("budget"), "{message}");
    assert!(gw.gw.fake.total_calls() < 3);
}

#[tokio::test]
async fn count_tokens_asks_bedrock_and_costs_nothing() {
    let gw = TestGateway::start().await;
    let body = json!({"model":"claude-3-sonnet","system":"Be brief.",
        "messages":[{"role":"user","content":"How are you today"}]});
    let counted = gw
        .send(post(
            "/v1/messages/count_tokens",
            Some(MASTER_KEY),
            &body.to_string(),
        ))
        .await;
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert_eq!(counted.json(), json!({"input_tokens": 6}));
    assert_eq!(gw.fake.count_tokens_calls(SONNET), 1);
    assert_eq!(gw.fake.total_calls(), 0, "no Converse call");
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["input"]["converse"]["system"],
        json!([{"text":"Be brief."}])
    );
    assert!(
        gw.usage_records().await.is_empty(),
        "nothing recorded or spent"
    );

    // What the answer's usage then reports agrees.
    let mut ask = body.clone();
    ask["max_tokens"] = json!(10);
    let answer = messages(&gw, ask).await.json();
    assert_eq!(answer["usage"]["input_tokens"], 6);

    // A failing count falls back to the estimate; a bad key is still refused.
    gw.fake.set_fault(SONNET, Fault::Validation("no".into()));
    let estimated = gw
        .send(post(
            "/v1/messages/count_tokens",
            Some(MASTER_KEY),
            &body.to_string(),
        ))
        .await;
    assert!(estimated.json()["input_tokens"].as_u64().unwrap() > 0);
    let refused = gw
        .send(post(
            "/v1/messages/count_tokens",
            Some("sk-nope"),
            &body.to_string(),
        ))
        .await;
    assert_anthropic_error(&refused, 401, "authentication_error");
}

#[tokio::test]
async fn behind_cloudfront_the_origin_secret_and_the_anthropic_key_live_side_by_side() {
    let mut gw = TestGateway::start().await;
    let secret = "cloudfront-origin-secret-0123456789";
    gw.router = require(gw.router, Some(OriginVerify::new(secret)));
    let mut request = post("/v1/messages", Some(MASTER_KEY), &ask("hi").to_string());
    request
        .headers_mut()
        .insert(ORIGIN_VERIFY_HEADER, secret.parse().unwrap());
    let served = gw.send(request).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.json()["content"][0]["text"], "Fake answer to: hi");
    let refused = gw
        .send(post(
            "/v1/messages",
            Some(MASTER_KEY),
            &ask("hi").to_string(),
        ))
        .await;
    assert_anthropic_error(&refused, 403, "permission_error");
    assert_eq!(gw.fake.total_calls(), 1);
}

#[tokio::test]
async fn a_message_is_traced_in_phoenix_like_a_chat_completion() {
    use gateway::env::Environment;
    use gateway::observability::{PhoenixExporter, Telemetry, TraceSettings};
    use gateway_tests::phoenix::{attr, of_kind, phoenix_url, unique_project, wait_for_spans};
    use std::sync::Arc;

    let project = unique_project("messages");
    let settings = TraceSettings::from_env(&Environment::from_pairs([
        ("PHOENIX_COLLECTOR_ENDPOINT", phoenix_url()),
        ("PHOENIX_PROJECT_NAME", project.as_str()),
    ]))
    .unwrap();
    let telemetry = Telemetry {
        phoenix: Some(Arc::new(PhoenixExporter::new(settings).unwrap())),
        metrics: None,
    };
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = gateway_tests::harness::config_yaml(&fake.endpoint());
    let gw = TestGateway::customized(fake, &yaml, move |b| b.telemetry(telemetry)).await;
    let answer = messages(&gw, ask("hello phoenix")).await.json();
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    let llm = of_kind(&spans, "LLM");
    assert_eq!(llm.len(), 1, "{spans:#?}");
    let text = |name: &str| {
        attr(llm[0], name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    assert_eq!(text("llm.model_name").as_deref(), Some(SONNET));
    assert_eq!(
        text("llm.input_messages.0.message.content").as_deref(),
        Some("hello phoenix")
    );
    assert_eq!(
        text("llm.output_messages.0.message.content").as_deref(),
        answer["content"][0]["text"].as_str()
    );
    assert_eq!(of_kind(&spans, "CHAIN").len(), 1);
}

#[tokio::test]
async fn a_post_call_guardrail_masks_whole_and_streamed_messages() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let yaml = format!(
        "{}guardrails:\n  - guardrail_name: out\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: post_call\n      default_on: true\n      mask_response_content: true\n      \
         guardrailIdentifier: gout\n      guardrailVersion: '1'\n      aws_region_name: us-east-1\n      \
         aws_bedrock_runtime_endpoint: {endpoint}\n      aws_access_key_id: test-access-key\n      \
         aws_secret_access_key: test-secret-key\n",
        gateway_tests::harness::config_yaml(&endpoint)
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let question = "write to alice.smith@example.com please";
    let whole = messages(&gw, ask(question)).await.json();
    assert_eq!(
        whole["content"][0]["text"],
        "Fake answer to: write to {EMAIL} please"
    );
    let mut body = ask(question);
    body["stream"] = json!(true);
    let streamed = messages(&gw, body).await;
    let events = events(&streamed);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Fake answer to: write to {EMAIL} please");
    assert!(!streamed.text().contains("alice.smith"));
    assert_eq!(events.last().unwrap().0, "message_stop");
    assert!(gw.fake.guardrail_calls_from("gout", "1", "OUTPUT") >= 2);
}
