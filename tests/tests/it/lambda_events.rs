//! Every `events/chat-*.json`, `events/messages-*.json` and `events/embeddings-*.json` through the real `lambda_http` adapters: buffered (as behind an
//! ALB) and streaming (as behind a Function URL), with the answer each one must get.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use futures_util::StreamExt;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{
    config_yaml, embedding_models, TestGateway, MASTER_KEY, SONNET, TITAN_EMBED,
};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, StreamAdapter};
use serde_json::Value;

/// The key the sample events carry (and that `scripts/local.sh` starts the gateway with).
const EVENTS_KEY: &str = "sk-local-dev-key";

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn chat_events() -> Vec<(String, String)> {
    let mut events: Vec<_> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap().to_str().is_some_and(|n| {
                ["chat-", "messages-", "embeddings-"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    events.sort();
    events
}

/// What each event must get: status and a check on the body text.
fn expectation(name: &str) -> (u16, fn(&str) -> bool) {
    match name {
        "chat-function-url.json" | "chat-function-url-base64.json" => (200, |b| {
            json(b)["choices"][0]["message"]["content"] == "Fake answer to: What is Amazon Bedrock?"
        }),
        "chat-alb.json" => (200, |b| {
            json(b)["choices"][0]["message"]["content"]
                == "Fake answer to: What is the capital of France?"
        }),
        "chat-function-url-stream.json" | "chat-alb-stream.json" => (200, |b| {
            b.starts_with("data: {")
                && b.contains("\"usage\":{\"prompt_tokens\"")
                && b.ends_with("data: [DONE]\n\n")
        }),
        "chat-function-url-models.json" => (200, |b| json(b)["data"][0]["id"] == "claude-3-sonnet"),
        "chat-function-url-no-key.json" => {
            (401, |b| json(b)["error"]["type"] == "authentication_error")
        }
        "chat-function-url-malformed.json" => (400, |b| {
            let error = &json(b)["error"];
            error["message"]
                .as_str()
                .unwrap()
                .contains("not valid JSON")
                && error["param"] == "body"
        }),
        "chat-function-url-invalid.json" => (400, |b| json(b)["error"]["param"] == "n"),
        "chat-alb-health.json" => (200, |b| json(b)["status"] == "healthy"),
        "messages-function-url.json" => (200, |b| {
            let body = json(b);
            body["type"] == "message"
                && body["content"][0]["text"] == "Fake answer to: What is Amazon Bedrock?"
        }),
        "messages-alb.json" => (200, |b| {
            json(b)["content"][0]["text"] == "Fake answer to: What is the capital of France?"
        }),
        "messages-function-url-stream.json" | "messages-alb-stream.json" => (200, |b| {
            b.starts_with("event: message_start\ndata: {")
                && b.contains("\"text_delta\"")
                && b.contains("\"stop_reason\":\"end_turn\"")
                && b.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        }),
        "messages-function-url-no-max-tokens.json" => (400, |b| {
            let body = json(b);
            body["type"] == "error"
                && body["error"]["type"] == "invalid_request_error"
                && body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("max_tokens")
        }),
        "embeddings-function-url.json" => (200, |b| {
            let body = json(b);
            let data = body["data"].as_array().unwrap();
            body["object"] == "list"
                && body["model"] == "titan-embed"
                && data.len() == 2
                && data.iter().enumerate().all(|(i, d)| {
                    d["index"] == i && d["embedding"].as_array().is_some_and(|v| v.len() == 256)
                })
                && body["usage"]["prompt_tokens"]
                    .as_u64()
                    .is_some_and(|n| n > 0)
        }),
        "embeddings-alb.json" => (200, |b| {
            use base64::Engine;
            let body = json(b);
            let vector = body["data"][0]["embedding"].as_str().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(vector)
                .unwrap_or_default();
            body["data"].as_array().unwrap().len() == 1 && bytes.len() == 1024 * 4
        }),
        other => {
            panic!("events/{other} has no expectation in tests/tests/lambda_events.rs: add one")
        }
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn gateway() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint())
        .replace(MASTER_KEY, EVENTS_KEY)
        .replacen(
            "general_settings:",
            &format!("{}general_settings:", embedding_models(&fake.endpoint())),
            1,
        );
    TestGateway::with_yaml(fake, &yaml).await
}

#[tokio::test]
async fn every_event_through_the_buffered_adapter() {
    let gw = gateway().await;
    let events = chat_events();
    assert!(events.len() >= 17, "the sample events are there");
    for (name, raw) in &events {
        let request: LambdaRequest =
            serde_json::from_str(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut adapter = Adapter::from(gw.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .unwrap();
        let response = serde_json::to_value(&response).unwrap();
        let (status, check) = expectation(name);
        assert_eq!(response["statusCode"], status, "{name}: {response}");
        let mut body = response["body"].as_str().unwrap_or_default().to_owned();
        if response["isBase64Encoded"] == true {
            use base64::Engine;
            body = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap(),
            )
            .unwrap();
        }
        assert!(check(&body), "{name}: unexpected body {body}");
        if name.contains("alb") {
            assert!(
                response.get("statusDescription").is_some(),
                "{name}: an ALB response: {response}"
            );
        }
    }
    assert_eq!(
        gw.fake.calls(SONNET),
        9,
        "the five answered chat events and four messages events each called Bedrock once"
    );
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        3,
        "one InvokeModel per embedded input: two in the Function URL event, one in the ALB's"
    );
}

#[tokio::test]
async fn function_url_events_through_the_streaming_adapter() {
    let gw = gateway().await;
    for (name, raw) in chat_events()
        .iter()
        .filter(|(n, _)| n.contains("-function-url"))
    {
        let request: LambdaRequest = serde_json::from_str(raw).unwrap();
        let mut adapter = StreamAdapter::from(gw.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .unwrap();
        let (status, check) = expectation(name);
        assert_eq!(
            response.metadata_prelude.status_code.as_u16(),
            status,
            "{name}"
        );
        let chunks: Vec<_> = response.stream.collect().await;
        let body: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        let body = String::from_utf8(body).unwrap();
        assert!(check(&body), "{name}: unexpected body {body}");
        if name.contains("stream") {
            assert_eq!(
                response.metadata_prelude.headers["content-type"],
                "text/event-stream"
            );
        }
    }
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        2,
        "the embeddings event ran in streaming mode too"
    );
}

#[tokio::test]
async fn a_hanging_model_answers_504_before_the_invocation_times_out() {
    let gw = gateway().await;
    gw.fake
        .set_fault(SONNET, gateway_tests::fake_bedrock::Fault::Hang);
    let raw = std::fs::read_to_string(events_dir().join("chat-function-url.json")).unwrap();
    let request: LambdaRequest = serde_json::from_str(&raw).unwrap();
    let mut context = Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + 2_000; // the invocation times out in 2 s
    let started = std::time::Instant::now();
    let mut adapter = Adapter::from(gw.router.clone());
    // Bounded, so a missing deadline fails the test instead of hanging it.
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        adapter.call(LambdaEvent::new(request, context)),
    )
    .await
    .expect("answered before the test's own timeout")
    .unwrap();
    let elapsed = started.elapsed();
    let response = serde_json::to_value(&response).unwrap();
    assert_eq!(response["statusCode"], 504, "{response}");
    assert_eq!(
        json(response["body"].as_str().unwrap())["error"]["code"],
        "upstream_timeout"
    );
    assert!(
        elapsed < std::time::Duration::from_millis(2_000),
        "answered before the deadline: {elapsed:?}"
    );
    assert_eq!(gw.fake.calls(SONNET), 1);
}

/// The response cache in both Lambda modes: the same chat and embeddings events, sent twice
/// through the buffered adapter and then through the streaming one, call the model once each.
#[tokio::test]
async fn repeated_events_are_cache_hits_in_both_lambda_modes() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!(
        "{}litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n",
        config_yaml(&fake.endpoint())
            .replace(MASTER_KEY, EVENTS_KEY)
            .replacen(
                "general_settings:",
                &format!("{}general_settings:", embedding_models(&fake.endpoint())),
                1,
            )
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let event = |name: &str| -> LambdaRequest {
        serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap()).unwrap()
    };
    for name in ["chat-function-url.json", "embeddings-function-url.json"] {
        let mut hits = Vec::new();
        for _ in 0..2 {
            let mut adapter = Adapter::from(gw.router.clone());
            let response = adapter
                .call(LambdaEvent::new(event(name), Context::default()))
                .await
                .unwrap();
            let response = serde_json::to_value(&response).unwrap();
            assert_eq!(response["statusCode"], 200, "{name}: {response}");
            let headers = &response["headers"];
            hits.push(headers["x-litellm-cache-hit"].as_str().unwrap().to_owned());
        }
        let mut adapter = StreamAdapter::from(gw.router.clone());
        let streamed = adapter
            .call(LambdaEvent::new(event(name), Context::default()))
            .await
            .unwrap();
        let prelude = &streamed.metadata_prelude;
        hits.push(
            prelude.headers["x-litellm-cache-hit"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let body: Vec<u8> = streamed
            .stream
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        let (_, check) = expectation(name);
        assert!(
            check(&String::from_utf8(body).unwrap()),
            "{name}: the hit's body"
        );
        assert_eq!(hits, ["False", "True", "True"], "{name}");
    }
    assert_eq!(
        gw.fake.calls(SONNET),
        1,
        "one chat model call for three events"
    );
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        2,
        "one InvokeModel per input of the first embeddings event only"
    );
    let records = gw.usage_records().await;
    let hits = records.iter().filter(|r| r.cache_hit == Some(true)).count();
    assert_eq!((records.len(), hits), (6, 4));
}
