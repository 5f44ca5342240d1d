//! `/health` model checks on demand only (issue 23, item 7): the plain probes never call a
//! model; `/health?check_models=true` and `/health/models` call each deployment once with
//! `max_tokens: 1`, master key only, and answer LiteLLM's shape.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{TestGateway, TestResponse, HAIKU, MASTER_KEY, SONNET};
use http::Request;
use serde_json::json;

async fn get(gw: &TestGateway, key: Option<&str>, path: &str) -> TestResponse {
    let mut request = Request::get(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    gw.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn probes_never_call_a_model_and_checks_are_the_admins_opt_in() {
    let gw = TestGateway::start().await;
    for path in [
        "/health",
        "/health/liveliness",
        "/health/liveness",
        "/health/readiness",
    ] {
        let probe = get(&gw, None, path).await;
        assert_eq!(probe.status, 200, "{path}");
    }
    assert_eq!(
        get(&gw, None, "/health").await.json(),
        json!({"status": "healthy"})
    );
    assert_eq!(gw.fake.total_calls(), 0, "no probe calls a model");

    get(&gw, None, "/health?check_models=true")
        .await
        .assert_error(401, "authentication_error");
    let key = {
        let made = gw
            .send(
                Request::post("/key/generate")
                    .header("authorization", format!("Bearer {MASTER_KEY}"))
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        made.json()["key"].as_str().unwrap().to_owned()
    };
    get(&gw, Some(&key), "/health/models")
        .await
        .assert_error(403, "permission_error");
    assert_eq!(gw.fake.total_calls(), 0);

    gw.fake.set_fault(HAIKU, Fault::AccessDenied);
    let checked = get(&gw, Some(MASTER_KEY), "/health?check_models=true").await;
    assert_eq!(checked.status, 200, "{}", checked.text());
    let body = checked.json();
    assert_eq!(body["healthy_count"], 1, "{body}");
    assert_eq!(body["unhealthy_count"], 1, "{body}");
    assert_eq!(
        body["healthy_endpoints"][0]["model_name"],
        "claude-3-sonnet"
    );
    assert_eq!(
        body["unhealthy_endpoints"][0]["model_name"],
        "claude-3-haiku"
    );
    assert!(body["unhealthy_endpoints"][0]["error"].is_string());
    assert!(!checked.text().contains("test-secret-key"));
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 1, "a cheap call");

    let one = get(
        &gw,
        Some(MASTER_KEY),
        "/health/models?model=claude-3-sonnet",
    )
    .await;
    assert_eq!(one.json()["healthy_count"], 1);
    assert_eq!(one.json()["unhealthy_count"], 0);
}
