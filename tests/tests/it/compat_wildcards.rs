//! LiteLLM's wildcard routes (issue 23): a config group named `bedrock/*` (or `anthropic.*`)
//! reaches any Bedrock model by its id, whole and streamed; the most specific pattern wins; a
//! key allowed the route reaches its models and a key allowed another model does not; a name
//! that would pick another route, or a request for the pattern itself, is not found.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{TestGateway, HAIKU, MASTER_KEY, SONNET};
use http::Request;
use serde_json::{json, Value};

fn yaml(endpoint: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: claude-3-sonnet
    litellm_params:
      model: bedrock/{SONNET}
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
  - model_name: "bedrock/*"
    litellm_params:
      model: "bedrock/*"
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
  - model_name: "anthropic.*"
    litellm_params:
      model: "bedrock/anthropic.*"
      aws_region_name: us-west-2
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
general_settings:
  master_key: {MASTER_KEY}
"#
    )
}

async fn call(
    gw: &TestGateway,
    key: &str,
    path: &str,
    body: Value,
) -> gateway_tests::harness::TestResponse {
    gw.send(
        Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 4,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn wildcard_routes_reach_bedrock_models_by_id() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let gw = TestGateway::with_yaml(fake, &yaml(&endpoint)).await;
    let new_key = |body: Value| {
        let gw = &gw;
        async move {
            let made = call(gw, MASTER_KEY, "/key/generate", body).await;
            assert_eq!(made.status, 200, "{}", made.text());
            made.json()["key"].as_str().unwrap().to_owned()
        }
    };
    let any = new_key(json!({})).await;
    let routed = new_key(json!({"models": ["bedrock/*"]})).await;
    let sonnet_only = new_key(json!({"models": ["claude-3-sonnet"]})).await;

    // `bedrock/<id>`: the id goes to Bedrock as it is, whole and streamed.
    let by_id = format!("bedrock/{HAIKU}");
    let whole = call(&gw, &any, "/v1/chat/completions", chat(&by_id, false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(whole.json()["model"], by_id.as_str());
    let streamed = call(&gw, &routed, "/v1/chat/completions", chat(&by_id, true)).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    assert!(streamed.text().contains("data: [DONE]"));
    assert_eq!(gw.fake.calls(HAIKU), 2);
    // `anthropic.<rest>` through the more specific pattern's deployment.
    let short = HAIKU.strip_prefix("anthropic.").unwrap();
    let answered = call(
        &gw,
        &any,
        "/v1/chat/completions",
        chat(&format!("anthropic.{short}"), false),
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert_eq!(gw.fake.calls(HAIKU), 3);

    // Attack: a key allowed one model does not reach the route's; a key allowed the route
    // does not reach the other pattern's names.
    call(
        &gw,
        &sonnet_only,
        "/v1/chat/completions",
        chat(&by_id, false),
    )
    .await
    .assert_error(403, "permission_error");
    call(
        &gw,
        &routed,
        "/v1/chat/completions",
        chat(&format!("anthropic.{short}"), false),
    )
    .await
    .assert_error(403, "permission_error");
    assert_eq!(
        gw.fake.calls(HAIKU),
        3,
        "no model called for a refused request"
    );
    // Names that would pick another route, or the pattern itself, are no model.
    for name in ["bedrock/*", "bedrock/converse/x", "bedrock/", "bedrock/a b"] {
        let refused = call(&gw, &any, "/v1/chat/completions", chat(name, false)).await;
        assert_eq!(refused.status, 404, "{name}: {}", refused.text());
    }
    assert_eq!(gw.fake.calls(HAIKU), 3);
}
