//! The CloudFront origin-verify check in front of the whole API: without the secret header a
//! request gets OpenAI's 403 and never reaches Bedrock or the usage records; with it, it is served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use gateway::http::origin_verify::{require, OriginVerify, ORIGIN_VERIFY_HEADER};
use gateway_tests::harness::{TestGateway, MASTER_KEY, SONNET};
use http::Request;
use serde_json::json;

const SECRET: &str = "cloudfront-origin-secret-0123456789";

async fn gateway_behind_cloudfront() -> TestGateway {
    let mut gateway = TestGateway::start().await;
    gateway.router = require(gateway.router, Some(OriginVerify::new(SECRET)));
    gateway
}

fn chat(origin_header: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {MASTER_KEY}"))
        .header("content-type", "application/json");
    if let Some(value) = origin_header {
        request = request.header(ORIGIN_VERIFY_HEADER, value);
    }
    let body = json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": "hi"}]});
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn without_the_header_a_request_is_refused_before_anything_else() {
    let gateway = gateway_behind_cloudfront().await;
    for header in [None, Some("not-the-secret")] {
        let response = gateway.send(chat(header)).await;
        let error = response.assert_error(403, "permission_error");
        assert_eq!(error["error"]["code"], "origin_not_verified");
        assert!(!response.text().contains(SECRET));
    }
    let health = gateway
        .send(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, 403);
    assert_eq!(gateway.fake.calls(SONNET), 0);
    assert!(gateway.usage_records().await.is_empty());
}

#[tokio::test]
async fn with_the_header_the_request_is_served() {
    let gateway = gateway_behind_cloudfront().await;
    let response = gateway.send(chat(Some(SECRET))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["choices"][0]["message"]["content"],
        "Fake answer to: hi"
    );
    assert_eq!(gateway.fake.calls(SONNET), 1);
}
