//! Lex conversations are billed to a team (`lex.teams`) and held to its budget and limits, like
//! API keys: keys and teams in DynamoDB (moto, real SDK).
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use gateway::lex::{LexFulfillment, ASSISTANT_BUSY, LIMIT_REACHED};
use gateway_tests::harness::{load_config, sample_event};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance};
use serde_json::{json, Value};

const LEX: &str = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n";

async fn lex_instance(prefix: &str) -> (Instance, LexFulfillment) {
    let table = moto().new_table(prefix).await;
    let gw = Instance::start(&table, LEX, settings(10.0, 900.0)).await;
    let config = load_config(&priced_yaml(&gw.gw.fake.endpoint(), LEX));
    let lex = LexFulfillment::new(gw.gw.gateway.clone(), &config).unwrap();
    (gw, lex)
}

fn reply(response: &Value) -> (&str, &str) {
    (
        response["sessionState"]["intent"]["state"]
            .as_str()
            .unwrap(),
        response["messages"][0]["content"].as_str().unwrap(),
    )
}

async fn ask(lex: &LexFulfillment) -> Value {
    lex.handle_json(sample_event("lex-first-turn.json"), None)
        .await
}

#[tokio::test]
async fn a_lex_team_budget_is_spent_settled_and_then_refused() {
    let (gw, lex) = lex_instance("lex-budget").await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "support", "max_budget": 1000.0})),
    )
    .await;
    assert_eq!(reply(&ask(&lex).await).0, "Fulfilled");
    let records = gw.gw.usage_records().await;
    assert_eq!(records[0].team.as_deref(), Some("support"));
    let cost = records[0].cost_usd.unwrap();
    let team = gw.admin("/team/info?team_id=support", None).await.json();
    let spend = team["team_info"]["spend"].as_f64().unwrap();
    assert!((spend - cost).abs() < 1e-9, "settled {spend}, cost {cost}");

    // A budget no larger than what was spent admits no other question.
    gw.admin(
        "/team/update",
        Some(json!({"team_id": "support", "max_budget": spend})),
    )
    .await;
    let refused = ask(&lex).await;
    assert_eq!(reply(&refused), ("Failed", LIMIT_REACHED));
    assert_eq!(
        gw.gw.fake.total_calls(),
        1,
        "the refused question reached no model"
    );
}

#[tokio::test]
async fn a_lex_team_rpm_limit_answers_busy() {
    let (gw, lex) = lex_instance("lex-rpm").await;
    // Rate-limit windows are Unix minutes: the test counts in one whole minute.
    gw.start_of_a_minute();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "support", "rpm_limit": 1})),
    )
    .await;
    assert_eq!(reply(&ask(&lex).await).0, "Fulfilled");
    assert_eq!(reply(&ask(&lex).await), ("Failed", ASSISTANT_BUSY));
    let records = gw.gw.usage_records().await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].error_type, Some("rate_limited"));
}

#[tokio::test]
async fn a_lex_team_that_is_not_in_the_store_is_not_limited() {
    let (_gw, lex) = lex_instance("lex-free").await;
    assert_eq!(reply(&ask(&lex).await).0, "Fulfilled");
}
