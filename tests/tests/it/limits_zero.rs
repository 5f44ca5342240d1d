//! Limits that admit nothing, with keys and teams in DynamoDB (moto, real SDK): a zero budget,
//! a zero RPM limit and a first request whose reservation alone exceeds its budget are refused
//! before any model call, for chat whole and streamed and for Lex. (A condition of the form
//! `attribute_not_exists(counter) OR ...` used to admit each of these once per period.)
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use gateway::lex::{LexFulfillment, ASSISTANT_BUSY, LIMIT_REACHED};
use gateway_tests::harness::{load_config, sample_event, TestResponse};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance, ASK_COST};
use serde_json::{json, Value};

async fn instance(prefix: &str, extra: &str) -> Instance {
    let table = moto().new_table(prefix).await;
    Instance::start(&table, extra, settings(10.0, 900.0)).await
}

async fn ask_streamed(gw: &Instance, key: &str) -> TestResponse {
    gw.ask_with(
        key,
        json!({"model": "claude-3-sonnet", "stream": true, "max_tokens": 4,
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
}

/// Whole and streamed, the key is refused with `status`/`kind` and no model is called.
async fn assert_refused_both_ways(gw: &Instance, key: &str, status: u16, kind: &str) {
    let whole = gw.ask(key).await;
    let body = whole.assert_error(status, kind);
    assert!(body["error"]["message"].is_string(), "{body}");
    let streamed = ask_streamed(gw, key).await;
    streamed.assert_error(status, kind);
    assert_eq!(
        gw.gw.fake.total_calls(),
        0,
        "a refused request reached a model"
    );
}

#[tokio::test]
async fn a_zero_budget_refuses_the_first_request() {
    let gw = instance("zero-budget", "").await;
    let key = gw.new_key(json!({"max_budget": 0.0})).await;
    assert_refused_both_ways(&gw, &key, 429, "budget_exceeded").await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "broke", "max_budget": 0})),
    )
    .await;
    let member = gw.new_key(json!({"team_id": "broke"})).await;
    assert_refused_both_ways(&gw, &member, 429, "budget_exceeded").await;
}

#[tokio::test]
async fn a_first_request_over_its_budget_is_refused() {
    let gw = instance("first-over", "").await;
    // Each ask reserves ASK_COST: half of it fits nothing, even in a fresh period.
    let key = gw
        .new_key(json!({"max_budget": ASK_COST / 2.0, "budget_duration": "30d"}))
        .await;
    assert_refused_both_ways(&gw, &key, 429, "budget_exceeded").await;
    let fits = gw.new_key(json!({"max_budget": ASK_COST})).await;
    assert_eq!(gw.ask(&fits).await.status, 200);
    assert_eq!(gw.gw.fake.total_calls(), 1);
}

#[tokio::test]
async fn zero_rpm_and_tpm_limits_refuse_the_first_request() {
    let gw = instance("zero-rate", "").await;
    let rpm = gw.new_key(json!({"rpm_limit": 0})).await;
    assert_refused_both_ways(&gw, &rpm, 429, "rate_limit_error").await;
    let tpm = gw.new_key(json!({"tpm_limit": 0})).await;
    assert_refused_both_ways(&gw, &tpm, 429, "rate_limit_error").await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "still", "rpm_limit": 0})),
    )
    .await;
    let member = gw.new_key(json!({"team_id": "still"})).await;
    let body = gw.ask(&member).await.assert_error(429, "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team still rpm"),
        "{body}"
    );
    assert_eq!(gw.gw.fake.total_calls(), 0);
}

const LEX: &str = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n";

fn lex_reply(response: &Value) -> (&str, &str) {
    (
        response["sessionState"]["intent"]["state"]
            .as_str()
            .unwrap(),
        response["messages"][0]["content"].as_str().unwrap(),
    )
}

async fn lex(prefix: &str, team: Value) -> (Instance, LexFulfillment) {
    let gw = instance(prefix, LEX).await;
    let config = load_config(&priced_yaml(&gw.gw.fake.endpoint(), LEX));
    let lex = LexFulfillment::new(gw.gw.gateway.clone(), &config).unwrap();
    gw.admin("/team/new", Some(team)).await;
    (gw, lex)
}

#[tokio::test]
async fn lex_is_refused_by_a_zero_team_budget() {
    let (gw, lex) = lex(
        "zero-lex-budget",
        json!({"team_id": "support", "max_budget": 0}),
    )
    .await;
    let refused = lex
        .handle_json(sample_event("lex-first-turn.json"), None)
        .await;
    assert_eq!(lex_reply(&refused), ("Failed", LIMIT_REACHED));
    assert_eq!(gw.gw.fake.total_calls(), 0, "Lex reached a model");
}

#[tokio::test]
async fn lex_is_refused_by_a_zero_team_rpm_limit() {
    let (gw, lex) = lex(
        "zero-lex-rpm",
        json!({"team_id": "support", "rpm_limit": 0}),
    )
    .await;
    let busy = lex
        .handle_json(sample_event("lex-first-turn.json"), None)
        .await;
    assert_eq!(lex_reply(&busy), ("Failed", ASSISTANT_BUSY));
    assert_eq!(gw.gw.fake.total_calls(), 0, "Lex reached a model");
    let records = gw.gw.usage_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_type, Some("rate_limited"));
}
