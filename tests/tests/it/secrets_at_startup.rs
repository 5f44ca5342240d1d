//! Secrets read from Secrets Manager at start-up (moto, real SDK), as the SAM template wires
//! them, so their values are not in the function's environment: Phoenix's API key
//! (`PHOENIX_API_KEY_SECRET_ID`, sent to the collector as the bearer token) and the CloudFront
//! origin-verify secret (`GATEWAY_ORIGIN_VERIFY_SECRET_ID`). An unreadable API key switches
//! traces off and the gateway answers; an unreadable origin secret stops the start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use gateway::env::Environment;
use gateway::http::origin_verify::{OriginVerify, ORIGIN_VERIFY_HEADER};
use gateway::observability::Telemetry;
use gateway_tests::collector::Collector;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, load_config, TestGateway};
use gateway_tests::moto::MotoServer;
use http::HeaderMap;
use serde_json::json;

async fn secret(name: &str, value: &str) -> String {
    MotoServer::shared().new_secret(name, value).await
}

/// moto's endpoints and credentials plus `extra`.
fn env(extra: &[(&str, &str)]) -> Environment {
    let mut pairs = MotoServer::shared().env_pairs();
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Environment::from_pairs(pairs)
}

#[tokio::test]
async fn the_phoenix_api_key_comes_from_its_secret_and_reaches_the_collector() {
    const KEY: &str = "phx-key-from-secrets-manager-7f3a";
    let id = secret("phoenix-api-key", &json!({ "api_key": KEY }).to_string()).await;
    let collector = Collector::start(Duration::ZERO).await;
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!(
        "{}litellm_settings:\n  callbacks: [\"arize_phoenix\"]\n",
        config_yaml(&fake.endpoint())
    );
    let config = load_config(&yaml);
    let env = env(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", collector.url().as_str()),
        ("PHOENIX_API_KEY_SECRET_ID", id.as_str()),
    ]);
    let telemetry = Telemetry::from_config(&config, &env).await.unwrap();
    assert!(telemetry.traces_enabled());
    let gw = TestGateway::customized(fake, &yaml, move |b| b.telemetry(telemetry)).await;
    let res = gw
        .chat(json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    gw.gateway.after_response().flush().await;
    let seen = collector.authorizations();
    assert!(!seen.is_empty(), "no export reached the collector");
    for authorization in seen {
        assert_eq!(authorization, Some(format!("Bearer {KEY}")));
    }
    assert!(
        !collector.text().contains(KEY),
        "the key is not in the spans"
    );

    // A secret that cannot be read: traces off, the gateway still builds and answers.
    let env = self::env(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", collector.url().as_str()),
        ("PHOENIX_API_KEY_SECRET_ID", "no-such-secret"),
    ]);
    let telemetry = Telemetry::from_config(&config, &env).await.unwrap();
    assert!(!telemetry.traces_enabled());
}

#[tokio::test]
async fn the_origin_verify_secret_comes_from_its_secret_and_a_missing_one_stops_the_start() {
    let id = secret("origin-verify", "cf-origin-secret-91b2").await;
    let verify = OriginVerify::load(&env(&[("GATEWAY_ORIGIN_VERIFY_SECRET_ID", id.as_str())]))
        .await
        .unwrap()
        .expect("a check is configured");
    let with = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_VERIFY_HEADER, value.parse().unwrap());
        headers
    };
    assert!(verify.verifies(&with("cf-origin-secret-91b2")));
    assert!(!verify.verifies(&with("cf-origin-secret-91b")));

    let err = OriginVerify::load(&env(&[(
        "GATEWAY_ORIGIN_VERIFY_SECRET_ID",
        "no-such-secret",
    )]))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no-such-secret"), "{err}");
    assert!(OriginVerify::load(&env(&[])).await.unwrap().is_none());

    // An empty secret (white space only) is no secret: the start stops, it never checks for "".
    let blank = secret("origin-verify-blank", "   ").await;
    let err = OriginVerify::load(&env(&[("GATEWAY_ORIGIN_VERIFY_SECRET_ID", blank.as_str())]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}
