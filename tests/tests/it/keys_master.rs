//! The master key from Secrets Manager (moto, real SDK): plain or JSON secrets, rotation without
//! a restart, the previous key accepted for the grace period and refused after it, and the
//! wiring from the environment (`GATEWAY_MASTER_KEY_SECRET_ID`, `GATEWAY_TABLE_NAME`).
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use gateway::clock::WallClock;
use gateway::keys::{self, MasterKey, SecretsManagerMasterKey};
use gateway_tests::harness::{load_config, TestGateway};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance};
use serde_json::json;

const OLD: &str = "sk-old-master-key-0001";
const NEW: &str = "sk-new-master-key-0002";

async fn secret(name: &str, value: &str) -> String {
    moto().new_secret(name, value).await
}

async fn rotate(id: &str, value: &str) {
    let clients = moto().clients().await;
    clients
        .secrets_manager
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

async fn from_secret(id: &str, grace: Duration, clock: &WallClock) -> MasterKey {
    let clients = moto().clients().await;
    MasterKey::SecretsManager(Arc::new(
        SecretsManagerMasterKey::new(
            clients.secrets_manager,
            id.to_owned(),
            Duration::ZERO,
            grace,
        )
        .with_clock(clock.clone()),
    ))
}

async fn status(gw: &Instance, key: &str) -> u16 {
    gw.admin_as(key, "/team/list", None).await.status.as_u16()
}

#[tokio::test]
async fn a_rotated_master_key_works_at_once_and_the_old_one_only_for_the_grace_period() {
    let table = moto().new_table("master-rotation").await;
    let id = secret("gw-master", OLD).await;
    let grace = Duration::from_secs(3);
    // The master keys' clock: the grace period passes when the test moves it.
    let clock = WallClock::system();
    let a = Instance::with_master(
        &table,
        "",
        settings(10.0, 900.0),
        Some(from_secret(&id, grace, &clock).await),
    )
    .await;
    assert_eq!(status(&a, OLD).await, 200);
    assert_eq!(status(&a, NEW).await, 401);
    // The config's master key is not the master when the secret is configured.
    assert_eq!(status(&a, gateway_tests::harness::MASTER_KEY).await, 401);

    rotate(&id, &json!({"master_key": NEW}).to_string()).await;
    // The refresh runs in the background, started by a request that finds it due: the new key
    // works within the refresh interval (zero here) and one fetch, without a restart.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while status(&a, NEW).await != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new key works without a restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&a, OLD).await,
        200,
        "the old key works during the grace period"
    );
    // A cold start during the grace period accepts the previous version too (AWSPREVIOUS).
    let b = Instance::with_master(
        &table,
        "",
        settings(10.0, 900.0),
        Some(from_secret(&id, grace, &clock).await),
    )
    .await;
    assert_eq!(status(&b, NEW).await, 200);
    assert_eq!(status(&b, OLD).await, 200);

    clock.advance(grace + Duration::from_millis(1500));
    assert_eq!(status(&a, OLD).await, 401, "refused after the grace period");
    assert_eq!(status(&b, OLD).await, 401);
    assert_eq!(status(&a, NEW).await, 200);
    let refused = a.admin_as(OLD, "/team/list", None).await;
    refused.assert_error(401, "authentication_error");
    // The master key also calls models.
    let answered = a.ask(NEW).await;
    assert_eq!(answered.status, 200, "{}", answered.text());
}

#[tokio::test]
async fn the_environment_wires_the_secret_and_the_dynamodb_store() {
    let table = format!("master-env-{}", std::process::id());
    let id = secret(
        "gw-master-env",
        &json!({"LITELLM_MASTER_KEY": NEW}).to_string(),
    )
    .await;
    let fake = gateway_tests::fake_bedrock::FakeBedrock::start()
        .await
        .unwrap();
    let yaml = priced_yaml(&fake.endpoint(), "");
    let config = load_config(&yaml);
    let mut pairs = moto().env_pairs();
    pairs.extend(
        [
            (keys::MASTER_KEY_SECRET_ID_VAR, id.as_str()),
            ("GATEWAY_TABLE_NAME", table.as_str()),
            ("GATEWAY_CREATE_TABLES", "1"),
            (keys::KEY_CACHE_TTL_VAR, "0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let env = gateway::env::Environment::from_pairs(pairs);
    let parts = keys::from_environment(&config, &env).await.unwrap();
    assert_eq!(parts.settings.cache_ttl, Duration::ZERO);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.keys(parts)).await;
    let generate = |key: &str| {
        http::Request::post("/key/generate")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap()
    };
    let made = gw.send(generate(NEW)).await;
    assert_eq!(made.status, 200, "{}", made.text());
    gw.send(generate(gateway_tests::harness::MASTER_KEY))
        .await
        .assert_error(401, "authentication_error");
    // The key went to the table the environment named (created at start-up).
    let clients = moto().clients().await;
    let count = clients
        .dynamodb
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .count;
    assert_eq!(count, 1);

    let bad = gateway::env::Environment::from_pairs([(keys::RESERVATION_TTL_VAR, "later")]);
    let err = keys::from_environment(&config, &bad).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "GATEWAY_RESERVATION_TTL_SECS must be a number of seconds, not `later`"
    );
}
