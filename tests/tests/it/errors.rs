//! Every failure a client can meet arrives in OpenAI's error shape with the right status, and
//! the number of Bedrock calls says nothing was retried or sent that should not have been.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Body;
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{config_yaml, TestGateway, MASTER_KEY, SONNET};
use serde_json::json;

fn hello(model: &str) -> serde_json::Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn missing_or_wrong_keys_get_401_and_never_reach_bedrock() {
    let gw = TestGateway::start().await;
    for auth in [
        None,
        Some("Bearer sk-wrong"),
        Some("Bearer "),
        Some("Basic abc"),
    ] {
        let mut request = http::Request::post("/v1/chat/completions");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let res = gw
            .send(
                request
                    .body(Body::from(hello("claude-3-sonnet").to_string()))
                    .unwrap(),
            )
            .await;
        let body = res.assert_error(401, "authentication_error");
        assert!(
            !res.text().contains("sk-wrong"),
            "the presented key is never echoed"
        );
        assert_eq!(body["error"]["code"], "invalid_api_key");
    }
    let res = gw
        .send(
            http::Request::get("/v1/models")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    res.assert_error(401, "authentication_error");
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn invalid_requests_get_400_naming_the_field() {
    let gw = TestGateway::start().await;
    let cases = [
        (json!({"messages":[{"role":"user","content":"x"}]}), "model"),
        (json!({"model":"claude-3-sonnet"}), "messages"),
        (json!({"model":"claude-3-sonnet","messages":[]}), "messages"),
        (
            json!({"model":"claude-3-sonnet","messages":"hi"}),
            "messages",
        ),
        (
            json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":42}]}),
            "messages[0].content",
        ),
        (
            json!({"model":"claude-3-sonnet","messages":[{"role":"wizard","content":"x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model":"claude-3-sonnet","messages":[{"role":"user"}]}),
            "messages[0].content",
        ),
        (
            json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"tool","content":"z"}]}),
            "messages[2].tool_call_id",
        ),
        (
            json!({"model":"claude-3-sonnet","n":3,"messages":[{"role":"user","content":"x"}]}),
            "n",
        ),
        (
            json!({"model":"claude-3-sonnet","temperature":"hot","messages":[{"role":"user","content":"x"}]}),
            "temperature",
        ),
        (
            json!({"model":"claude-3-sonnet","stream":"yes","messages":[{"role":"user","content":"x"}]}),
            "stream",
        ),
        (
            json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://169.254.169.254/"}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
    ];
    for (body, param) in cases {
        let res = gw.chat(body.clone()).await;
        let error = res.assert_error(400, "invalid_request_error");
        let got = error["error"]["param"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            got == param || got.starts_with(&format!("{param}.")),
            "{body}: param {got:?}, want {param}"
        );
    }
    for raw in ["", "{", "[1,2]", "{\"model\":\"claude-3-sonnet\"} trailing"] {
        let res = gw
            .send(
                http::Request::post("/v1/chat/completions")
                    .header("authorization", format!("Bearer {MASTER_KEY}"))
                    .body(Body::from(raw))
                    .unwrap(),
            )
            .await;
        res.assert_error(400, "invalid_request_error");
    }
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn an_unknown_model_is_404_and_unknown_paths_too() {
    let gw = TestGateway::start().await;
    let body = gw
        .chat(hello("gpt-4"))
        .await
        .assert_error(404, "invalid_request_error");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");
    let res = gw
        .send(
            http::Request::get("/v2/nothing")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    res.assert_error(404, "invalid_request_error");
    let res = gw
        .send(
            http::Request::get("/v1/chat/completions")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    res.assert_error(405, "invalid_request_error");
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gw = TestGateway::start().await;
    let big = "x".repeat(gateway::http::MAX_BODY_BYTES + 1);
    let res = gw
        .chat(json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":big}]}))
        .await;
    res.assert_error(413, "invalid_request_error");
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn bedrock_failures_map_to_429_400_502_503_504() {
    let gw = TestGateway::start().await;
    let cases = [
        (Fault::Throttle, 429, "rate_limit_error"),
        (Fault::ModelNotReady, 503, "api_error"),
        (
            Fault::Validation("messages: too long".into()),
            400,
            "invalid_request_error",
        ),
        (Fault::ServerError, 502, "api_error"),
        (Fault::AccessDenied, 502, "api_error"),
        (Fault::Unavailable, 503, "api_error"),
        (Fault::ModelTimeout, 504, "api_error"),
    ];
    for (i, (fault, status, kind)) in cases.into_iter().enumerate() {
        gw.fake.set_fault(SONNET, fault);
        for stream in [false, true] {
            let mut body = hello("claude-3-sonnet");
            body["stream"] = json!(stream);
            let res = gw.chat(body).await;
            let error = res.assert_error(status, kind);
            if status == 429 {
                assert_eq!(res.headers["retry-after"], "1");
            }
            if status == 400 {
                assert_eq!(
                    error["error"]["message"], "messages: too long",
                    "Bedrock's validation message is kept"
                );
            }
        }
        assert_eq!(
            gw.fake.calls(SONNET),
            2 * (i + 1),
            "one call per request, no hidden retries"
        );
    }
}

#[tokio::test]
async fn a_stream_that_breaks_midway_ends_with_an_error_event() {
    let gw = TestGateway::start().await;
    for fault in [
        Fault::StreamException { after_events: 3 },
        Fault::StreamCut { after_events: 3 },
    ] {
        gw.fake.set_fault(SONNET, fault);
        let mut body = hello("claude-3-sonnet");
        body["stream"] = json!(true);
        let res = gw.chat(body).await;
        assert_eq!(res.status, 200);
        let text = res.text();
        let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert!(frames.len() >= 2, "{text}");
        assert!(frames[0].contains("\"role\":\"assistant\""), "{text}");
        let last: serde_json::Value =
            serde_json::from_str(frames.last().unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(last["error"]["type"], "api_error", "{text}");
        assert!(
            !text.contains("[DONE]"),
            "a broken stream does not claim to be complete"
        );
    }
}

#[tokio::test]
async fn a_hanging_model_times_out_with_504() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint()).replace(
        "      aws_region_name: us-east-1\n",
        "      aws_region_name: us-east-1\n      timeout: 0.3\n",
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    gw.fake.set_fault(SONNET, Fault::Hang);
    let started = std::time::Instant::now();
    let res = gw.chat(hello("claude-3-sonnet")).await;
    res.assert_error(504, "api_error");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_bedrock_is_502() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    fake.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gw =
        TestGateway::with_yaml(FakeBedrock::start().await.unwrap(), &config_yaml(&endpoint)).await;
    gw.chat(hello("claude-3-sonnet"))
        .await
        .assert_error(502, "api_error");
}
