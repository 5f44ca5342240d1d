//! Enforcement on every request with keys and teams in DynamoDB (moto, real SDK): model, expiry,
//! budgets and RPM/TPM of keys and teams, their errors, the 50-request race, crashed
//! reservations, one DynamoDB call before the model call, and two instances sharing limits.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gateway::keys::limits::Scope;
use gateway::keys::{KeyHash, KeyStore, Limits, ReservationPlan};
use gateway_tests::keys::{
    counted_store, counted_store_with, moto, scan_text, settings, Instance, ASK_COST,
};
use gateway_tests::moto::MotoServer;
use serde_json::json;

async fn instance(prefix: &str) -> (Instance, String) {
    let table = moto().new_table(prefix).await;
    (
        Instance::start(&table, "", settings(10.0, 900.0)).await,
        table,
    )
}

fn retry_after(response: &gateway_tests::harness::TestResponse) -> Option<u64> {
    response
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

#[tokio::test]
async fn model_and_expiry_are_checked() {
    let (gw, _) = instance("limits-model").await;
    let haiku_only = gw.new_key(json!({"models": ["claude-3-haiku"]})).await;
    let refused = gw.ask(&haiku_only).await;
    assert_eq!(
        refused.assert_error(403, "permission_error")["error"]["code"],
        "model_not_allowed"
    );
    assert_eq!(gw.gw.fake.total_calls(), 0);
    let short = gw.new_key(json!({"duration": "2s"})).await;
    assert_eq!(gw.ask(&short).await.status, 200);
    gw.clock.advance(Duration::from_millis(3100));
    let expired = gw.ask(&short).await;
    assert!(expired
        .assert_error(401, "authentication_error")
        .to_string()
        .contains("expired"));
}

#[tokio::test]
async fn key_rpm_and_tpm_limits_answer_429_with_retry_after() {
    let (gw, _) = instance("limits-rate").await;
    // Rate-limit windows are Unix minutes: the test counts in one whole minute.
    gw.start_of_a_minute();
    let rpm = gw.new_key(json!({"rpm_limit": 2})).await;
    assert_eq!(gw.ask(&rpm).await.status, 200);
    assert_eq!(gw.ask(&rpm).await.status, 200);
    let limited = gw.ask(&rpm).await;
    let body = limited.assert_error(429, "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("rpm"),
        "{body}"
    );
    let after = retry_after(&limited).unwrap();
    assert!((1..=60).contains(&after), "{after}");
    assert_eq!(
        gw.gw.fake.total_calls(),
        2,
        "the refused request reached no model"
    );

    // Each request counts 5 tokens (1 in, 4 out): the second finds the window full.
    let tpm = gw.new_key(json!({"tpm_limit": 3})).await;
    assert_eq!(gw.ask(&tpm).await.status, 200);
    let limited = gw.ask(&tpm).await;
    let body = limited.assert_error(429, "rate_limit_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("tpm"),
        "{body}"
    );
    assert!(retry_after(&limited).is_some());
}

#[tokio::test]
async fn key_budget_is_exhausted_then_resets_with_its_duration() {
    let (gw, _) = instance("limits-budget").await;
    let key = gw
        .new_key(json!({"max_budget": 2.0 * ASK_COST + 1e-9}))
        .await;
    assert_eq!(gw.ask(&key).await.status, 200);
    assert_eq!(gw.ask(&key).await.status, 200);
    let spent = gw.ask(&key).await;
    let body = spent.assert_error(429, "budget_exceeded");
    assert_eq!(body["error"]["code"], "budget_exceeded");
    assert_eq!(
        retry_after(&spent),
        None,
        "a budget without a duration never resets"
    );
    gw.gw.gateway.after_response().flush().await;
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!((spend - 2.0 * ASK_COST).abs() < 1e-9, "{info}");

    let resetting = gw
        .new_key(json!({"max_budget": ASK_COST, "budget_duration": "2s"}))
        .await;
    assert_eq!(gw.ask(&resetting).await.status, 200);
    let spent = gw.ask(&resetting).await;
    spent.assert_error(429, "budget_exceeded");
    let wait = retry_after(&spent).unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    gw.clock
        .advance(Duration::from_secs(wait) + Duration::from_millis(300));
    assert_eq!(
        gw.ask(&resetting).await.status,
        200,
        "a new period, a new budget"
    );
}

#[tokio::test]
async fn team_budget_and_rpm_hold_across_its_keys() {
    let (gw, _) = instance("limits-team").await;
    gw.start_of_a_minute();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "money", "max_budget": ASK_COST})),
    )
    .await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "busy", "rpm_limit": 1, "tpm_limit": 1000})),
    )
    .await;
    let (a, b) = (
        gw.new_key(json!({"team_id": "money"})).await,
        gw.new_key(json!({"team_id": "money"})).await,
    );
    assert_eq!(gw.ask(&a).await.status, 200);
    let refused = gw.ask(&b).await;
    let body = refused.assert_error(429, "budget_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team money"),
        "{body}"
    );

    let (c, d) = (
        gw.new_key(json!({"team_id": "busy"})).await,
        gw.new_key(json!({"team_id": "busy"})).await,
    );
    assert_eq!(gw.ask(&c).await.status, 200);
    let limited = gw.ask(&d).await;
    let body = limited.assert_error(429, "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team busy rpm"),
        "{body}"
    );
    gw.gw.gateway.after_response().flush().await;
    let team = gw.admin("/team/info?team_id=money", None).await.json();
    assert!(
        (team["team_info"]["spend"].as_f64().unwrap() - ASK_COST).abs() < 1e-9,
        "{team}"
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_against_a_budget_that_fits_five() {
    let (gw, _) = instance("limits-race").await;
    let budget = 5.0 * ASK_COST;
    let key = gw.new_key(json!({"max_budget": budget})).await;
    let gw = std::sync::Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let gw = std::sync::Arc::clone(&gw);
        let key = key.clone();
        tasks.push(tokio::spawn(async move { gw.ask(&key).await }));
    }
    let mut ok = 0;
    for task in tasks {
        let response = task.await.unwrap();
        if response.status == 200 {
            ok += 1;
        } else {
            let body = response.json();
            assert_eq!(response.status, 429, "{body}");
            let kind = body["error"]["type"].as_str().unwrap().to_owned();
            assert!(
                kind == "budget_exceeded" || kind == "rate_limit_error",
                "{body}"
            );
        }
    }
    assert_eq!(ok, 5, "exactly the five that fit succeed");
    assert_eq!(
        gw.gw.fake.total_calls(),
        ok,
        "only admitted requests reach the model"
    );
    let records = gw.gw.usage_records().await;
    let recorded: f64 = records.iter().filter_map(|r| r.cost_usd).sum();
    assert!(recorded <= budget + 1e-9, "recorded {recorded} > {budget}");
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!(
        spend <= budget + 1e-9 && (spend - recorded).abs() < 1e-9,
        "{ok} succeeded, recorded {recorded}, {info}, {:?}",
        gw.gw.gateway.after_response().stats()
    );
}

#[tokio::test]
async fn a_crashed_reservation_is_released_after_its_ttl() {
    // Without leases: every request reserves in the table.
    let table = moto().new_table("limits-crash").await;
    let gw = Instance::with_leases(&table, settings(10.0, 1.0), None).await;
    let key = gw.new_key(json!({"max_budget": ASK_COST})).await;
    // A request that reserved the whole budget and crashed before settling.
    let hash = KeyHash::of(&key);
    let limits = Limits::new(Some(ASK_COST), None, 0, None, None);
    let now = gw.clock.unix_secs();
    let plan = ReservationPlan::new(
        "crashed-request",
        now,
        ASK_COST,
        5,
        Duration::from_secs(1),
        &[(Scope::Key(hash.as_str().to_owned()), &limits)],
    )
    .unwrap();
    let (store, _) = counted_store_with(moto(), &table, None).await;
    store.reserve(&plan).await.unwrap();
    assert!(scan_text(moto(), &table)
        .await
        .contains("RES#crashed-request"));
    gw.ask(&key).await.assert_error(429, "budget_exceeded");
    gw.clock.advance(Duration::from_millis(2100));
    let answered = gw.ask(&key).await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert!(!scan_text(moto(), &table)
        .await
        .contains("RES#crashed-request"));
}

#[tokio::test]
async fn without_leases_a_cached_key_makes_one_dynamodb_call_before_the_model_call() {
    let table = moto().new_table("limits-calls").await;
    let gw = Instance::with_leases(&table, settings(10.0, 900.0), None).await;
    gw.start_of_a_minute();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "t", "max_budget": 100.0, "rpm_limit": 100, "tpm_limit": 100000})),
    )
    .await;
    let key = gw
        .new_key(json!({"team_id": "t", "max_budget": 50.0, "budget_duration": "1d", "rpm_limit": 100, "tpm_limit": 100000}))
        .await;
    // Cold: the key and its team are read, then the reservation.
    gw.dynamo.clear();
    assert_eq!(gw.ask(&key).await.status, 200);
    gw.gw.gateway.after_response().flush().await;
    assert_eq!(
        gw.dynamo.calls()[..3],
        ["GetItem", "GetItem", "TransactWriteItems"],
        "{:?}",
        gw.dynamo.calls()
    );
    // Warm: while the model is still answering, exactly one call has been made.
    gw.dynamo.clear();
    gw.gw
        .fake
        .set_latency(Duration::from_millis(400), Duration::ZERO);
    let gw = std::sync::Arc::new(gw);
    let asking = {
        let (gw, key) = (std::sync::Arc::clone(&gw), key.clone());
        tokio::spawn(async move { gw.ask(&key).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gw.dynamo.calls(), ["TransactWriteItems"]);
    assert_eq!(asking.await.unwrap().status, 200);
    // Settling (key and team) happens after the response.
    gw.gw.gateway.after_response().flush().await;
    assert_eq!(
        gw.dynamo.calls(),
        [
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems"
        ]
    );
    // A key without limits in a team without limits makes none.
    let free = gw.new_key(json!({})).await;
    gw.ask(&free).await;
    gw.dynamo.clear();
    gw.gw.fake.set_latency(Duration::ZERO, Duration::ZERO);
    assert_eq!(gw.ask(&free).await.status, 200);
    gw.gw.gateway.after_response().flush().await;
    assert_eq!(gw.dynamo.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn two_instances_hold_one_rpm_limit_and_one_budget_between_them() {
    let table = moto().new_table("limits-two").await;
    let a = Instance::start(&table, "", settings(10.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(10.0, 900.0)).await;
    // One clock between them, at the start of a minute.
    b.clock.advance(a.start_of_a_minute());
    let rpm = a.new_key(json!({"rpm_limit": 3})).await;
    assert_eq!(a.ask(&rpm).await.status, 200);
    assert_eq!(b.ask(&rpm).await.status, 200);
    assert_eq!(a.ask(&rpm).await.status, 200);
    b.ask(&rpm).await.assert_error(429, "rate_limit_error");
    a.ask(&rpm).await.assert_error(429, "rate_limit_error");

    let budget = b
        .new_key(json!({"max_budget": 2.0 * ASK_COST + 1e-9}))
        .await;
    assert_eq!(a.ask(&budget).await.status, 200);
    assert_eq!(b.ask(&budget).await.status, 200);
    a.gw.gateway.after_response().flush().await;
    b.gw.gateway.after_response().flush().await;
    a.ask(&budget).await.assert_error(429, "budget_exceeded");
    b.ask(&budget).await.assert_error(429, "budget_exceeded");
    let info = a
        .admin(&format!("/key/info?key={budget}"), None)
        .await
        .json();
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!((spend - 2.0 * ASK_COST).abs() < 1e-9, "{info}");
}

#[tokio::test]
async fn streamed_answers_are_reserved_and_settled_too() {
    let (gw, _) = instance("limits-stream").await;
    let key = gw.new_key(json!({"max_budget": 1.0})).await;
    let streamed = gw
        .ask_with(
            &key,
            json!({"model": "claude-3-sonnet", "stream": true, "max_tokens": 4,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    streamed.sse_events();
    gw.gw.gateway.after_response().flush().await;
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!((spend - ASK_COST).abs() < 1e-9, "{info}");
}

#[tokio::test]
async fn an_unreachable_key_store_refuses_with_503() {
    let mut moto = MotoServer::spawn();
    let table = moto.new_table("limits-down").await;
    let (store, _) = counted_store(&moto, &table).await;
    let fake = gateway_tests::fake_bedrock::FakeBedrock::start()
        .await
        .unwrap();
    let yaml = gateway_tests::keys::priced_yaml(&fake.endpoint(), "");
    let gw =
        gateway_tests::harness::TestGateway::customized(fake, &yaml, move |b| b.key_store(store))
            .await;
    moto.stop();
    let response = gw
        .send(
            http::Request::post("/v1/chat/completions")
                .header("authorization", "Bearer sk-some-virtual-key")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    let body = response.assert_error(503, "api_error");
    assert_eq!(body["error"]["code"], "dependency_unavailable");
    assert_eq!(gw.fake.total_calls(), 0);
}
