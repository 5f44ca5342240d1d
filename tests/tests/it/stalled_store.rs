//! A stalled store (a SIGSTOPped `moto_server`: connections open, nothing answers) fails closed
//! within 2 s: 503 `dependency_unavailable` for a virtual key, whole and streamed, Lex's friendly
//! reply, and the master key is still answered from the value held while its background refresh
//! waits on a stalled Secrets Manager. Before every store call had a deadline, each hung until
//! Lambda's timeout.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use gateway::keys::{DynamoKeyStore, MasterKey, SecretsManagerMasterKey};
use gateway::lex::{LexFulfillment, ASSISTANT_UNAVAILABLE};
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{load_config, sample_event, TestGateway, TestResponse, MASTER_KEY};
use gateway_tests::keys::{priced_yaml, settings};
use gateway_tests::moto::MotoServer;
use http::Request;
use serde_json::{json, Value};

const LEX: &str = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n";
/// The documented bound on a fail-closed answer.
const WITHIN: Duration = Duration::from_secs(2);
/// How long a test waits before calling it a hang.
const HANG: Duration = Duration::from_secs(10);

/// A gateway whose keys live on `moto` (the real store clients, with their production deadlines), its
/// master key from the config, no key cache (every request asks the store).
async fn gateway_on(moto: &MotoServer, master: Option<MasterKey>) -> TestGateway {
    let table = moto.new_table("stalled").await;
    let clients = moto.clients_with_default_timeouts().await;
    let store = Arc::new(DynamoKeyStore::new(clients.dynamodb, table));
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_yaml(&fake.endpoint(), LEX);
    TestGateway::customized(fake, &yaml, move |b| {
        let b = b.key_store(store).key_settings(settings(0.0, 900.0));
        match master {
            Some(master) => b.master_key(master),
            None => b,
        }
    })
    .await
}

async fn post(gw: &TestGateway, path: &str, key: &str, body: Value) -> TestResponse {
    gw.send(
        Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// `future`'s output and how long it took; a hang fails the test after [`HANG`].
async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(HANG, future)
        .await
        .expect("the gateway hung on a stalled store");
    (output, started.elapsed())
}

#[tokio::test]
async fn a_stalled_key_store_answers_503_within_two_seconds_whole_streamed_and_on_lex() {
    let mut moto = MotoServer::spawn();
    let gw = gateway_on(&moto, None).await;
    let made = post(&gw, "/key/generate", MASTER_KEY, json!({})).await;
    assert_eq!(made.status, 200, "{}", made.text());
    let key = made.json()["key"].as_str().unwrap().to_owned();
    let ask = |stream: bool| {
        json!({"model": "claude-3-sonnet", "stream": stream, "max_tokens": 4,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    assert_eq!(
        post(&gw, "/v1/chat/completions", &key, ask(false))
            .await
            .status,
        200
    );
    let calls_before = gw.fake.total_calls();

    moto.freeze();
    for stream in [false, true] {
        let (answer, took) = timed(post(&gw, "/v1/chat/completions", &key, ask(stream))).await;
        let body = answer.assert_error(503, "api_error");
        assert_eq!(body["error"]["code"], "dependency_unavailable", "{body}");
        assert!(took < WITHIN, "stream={stream}: answered after {took:?}");
    }
    let config = load_config(&priced_yaml(&gw.fake.endpoint(), LEX));
    let lex = LexFulfillment::new(gw.gateway.clone(), &config).unwrap();
    let (reply, took) = timed(lex.handle_json(sample_event("lex-first-turn.json"), None)).await;
    assert_eq!(
        reply["sessionState"]["intent"]["state"], "Failed",
        "{reply}"
    );
    assert_eq!(
        reply["messages"][0]["content"], ASSISTANT_UNAVAILABLE,
        "{reply}"
    );
    assert!(took < WITHIN, "lex answered after {took:?}");
    assert_eq!(
        gw.fake.total_calls(),
        calls_before,
        "no model call on a stalled store"
    );

    // The store answering again: so does the gateway.
    moto.thaw();
    assert_eq!(
        post(&gw, "/v1/chat/completions", &key, ask(false))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_stalled_secrets_manager_does_not_hold_master_key_requests() {
    let mut moto = MotoServer::spawn();
    let id = moto
        .new_secret("stalled-master", "sk-stalled-master-0001")
        .await;
    let source = Arc::new(SecretsManagerMasterKey::new(
        moto.clients_with_default_timeouts().await.secrets_manager,
        id,
        // Every request finds the refresh due.
        Duration::ZERO,
        Duration::from_secs(60),
    ));
    source.prefetch().await;
    let gw = gateway_on(&moto, Some(MasterKey::SecretsManager(source))).await;
    let models = |key: &'static str| {
        gw.send(
            Request::get("/v1/models")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(models("sk-stalled-master-0001").await.status, 200);

    moto.freeze();
    // The refresh is due on every request, and Secrets Manager does not answer: requests are
    // answered from the value held, at once, while one refresh waits in the background.
    for _ in 0..3 {
        let (answer, took) = timed(models("sk-stalled-master-0001")).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(took < Duration::from_millis(500), "answered after {took:?}");
    }
    let (refused, took) = timed(models("sk-not-the-master-0002")).await;
    refused.assert_error(503, "api_error");
    assert!(took < WITHIN, "answered after {took:?}");
}
