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

/// `CloudFrontMode=oac`: CloudFront signs each request to the Function URL with SigV4, replacing
/// the viewer's `Authorization`; the caller's key travels in `x-api-key` and the signature is
/// never taken for a key.
fn chat_through_oac(api_key: Option<&str>, stream: bool) -> Request<Body> {
    let mut request = Request::post("/v1/chat/completions")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261207/us-east-1/lambda/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123abcd",
        )
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("content-type", "application/json");
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    let body = json!({"model": "claude-3-sonnet", "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]});
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn behind_oac_the_key_in_x_api_key_is_used_and_the_signature_is_not_a_key() {
    let gateway = TestGateway::start().await;
    let whole = gateway
        .send(chat_through_oac(Some(MASTER_KEY), false))
        .await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(
        whole.json()["choices"][0]["message"]["content"],
        "Fake answer to: hi"
    );
    let streamed = gateway.send(chat_through_oac(Some(MASTER_KEY), true)).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    assert!(streamed.text().contains("data: [DONE]"));
    assert_eq!(gateway.fake.calls(SONNET), 2);

    let unsigned_key = gateway.send(chat_through_oac(None, false)).await;
    let error = unsigned_key.assert_error(401, "authentication_error");
    assert!(!error.to_string().contains("Signature"), "{error}");
    assert_eq!(gateway.fake.calls(SONNET), 2);
}
