//! LiteLLM's `drop_params` (issue 23, item 2): parameters Bedrock cannot honour are dropped
//! instead of refused when the config (`litellm_settings.drop_params`, a deployment's
//! `drop_params`) or the request (`drop_params: true`) says so; `additional_drop_params` drops
//! named parameters whatever they are. And the `x-litellm-timeout` / `x-litellm-max-retries`
//! answer headers.
#![allow(clippy::unwrap_used)]

use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, TestGateway, HAIKU, SONNET};
use serde_json::{json, Value};

async fn gateway(extra: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!("{}{extra}", config_yaml(&fake.endpoint())).replace(
        "      aws_region_name: us-west-2\n",
        "      aws_region_name: us-west-2\n      additional_drop_params: [\"temperature\"]\n",
    );
    TestGateway::with_yaml(fake, &yaml).await
}

fn body(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn unsupported_parameters_are_refused_unless_dropped() {
    let gw = gateway("").await;
    let unsupported = json!({"n": 2, "presence_penalty": 0.5, "logit_bias": {"50256": -100},
                             "temperature": 0.2});
    let refused = gw.chat(body("claude-3-sonnet", unsupported.clone())).await;
    assert_eq!(
        refused.assert_error(400, "invalid_request_error")["error"]["param"],
        "n"
    );
    assert_eq!(gw.fake.total_calls(), 0);

    let mut dropped = unsupported.clone();
    dropped["drop_params"] = json!(true);
    let answered = gw.chat(body("claude-3-sonnet", dropped)).await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(
        sent["inferenceConfig"]["temperature"]
            .as_f64()
            .map(|t| (t * 10.0).round()),
        Some(2.0),
        "a supported parameter is still sent: {sent}"
    );

    // Streams too.
    let mut streamed = unsupported;
    streamed["drop_params"] = json!(true);
    streamed["stream"] = json!(true);
    let stream = gw.chat(body("claude-3-sonnet", streamed)).await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    assert!(!stream.sse_events().is_empty());
}

#[tokio::test]
async fn the_config_drops_for_every_request_and_a_request_may_say_no() {
    let gw = gateway("litellm_settings:\n  drop_params: true\n").await;
    let answered = gw
        .chat(body(
            "claude-3-sonnet",
            json!({"n": 2, "frequency_penalty": 1.0}),
        ))
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    gw.chat(body(
        "claude-3-sonnet",
        json!({"n": 2, "drop_params": false}),
    ))
    .await
    .assert_error(400, "invalid_request_error");
}

#[tokio::test]
async fn additional_drop_params_drop_named_parameters_of_a_model_and_a_request() {
    let gw = gateway("").await;
    // The haiku deployment drops `temperature` (litellm_params.additional_drop_params).
    let answered = gw
        .chat(body(
            "claude-3-haiku",
            json!({"temperature": 0.5, "top_p": 0.5}),
        ))
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    let sent = gw.fake.last_request(HAIKU).unwrap();
    assert!(
        sent["inferenceConfig"].get("temperature").is_none(),
        "{sent}"
    );
    assert!(sent["inferenceConfig"].get("topP").is_some(), "{sent}");
    // Sonnet does not, unless the request names it.
    gw.chat(body("claude-3-sonnet", json!({"temperature": 0.5})))
        .await;
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert!(
        sent["inferenceConfig"].get("temperature").is_some(),
        "{sent}"
    );
    gw.chat(body(
        "claude-3-sonnet",
        json!({"temperature": 0.5, "additional_drop_params": ["temperature"]}),
    ))
    .await;
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert!(
        sent["inferenceConfig"].get("temperature").is_none(),
        "{sent}"
    );
    // Naming an unsupported parameter drops it without `drop_params`.
    let named = gw
        .chat(body(
            "claude-3-sonnet",
            json!({"n": 3, "additional_drop_params": ["n"]}),
        ))
        .await;
    assert_eq!(named.status, 200, "{}", named.text());
}

#[tokio::test]
async fn answers_say_the_timeout_and_retries_they_ran_under() {
    let gw = gateway("router_settings:\n  num_retries: 3\n  timeout: 30\n").await;
    let whole = gw.chat(body("claude-3-sonnet", json!({}))).await;
    assert_eq!(whole.headers["x-litellm-timeout"], "30");
    assert_eq!(whole.headers["x-litellm-max-retries"], "3");
    let asked = gw
        .chat(body(
            "claude-3-sonnet",
            json!({"timeout": 2.5, "num_retries": 1, "stream": true}),
        ))
        .await;
    assert_eq!(asked.headers["x-litellm-timeout"], "2.5");
    assert_eq!(asked.headers["x-litellm-max-retries"], "1");
    // A request cannot ask for more retries than the router allows.
    let more = gw
        .chat(body("claude-3-sonnet", json!({"num_retries": 9})))
        .await;
    assert_eq!(more.headers["x-litellm-max-retries"], "3");
}
