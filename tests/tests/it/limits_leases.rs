//! Leases (moto, real SDK): two gateway instances on one table hold one budget and one RPM
//! limit between them from slices of the counters (never over, the last slices exactly one
//! request); chat whole, streamed and Lex are charged what their records say; and a warm key
//! under its limits makes at most 0.1 DynamoDB calls per request before its model call.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use gateway::lex::LexFulfillment;
use gateway::limits::{
    DynamoLimitStore, LeasePolicy, LeasedLimits, LimitStore, Limits, ReservationPlan, Scope,
    Settlement,
};
use gateway_tests::harness::{load_config, sample_event, TestResponse};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance, ASK_COST};
use serde_json::json;

async fn ask(gw: &Instance, key: &str, streamed: bool) -> TestResponse {
    if !streamed {
        return gw.ask(key).await;
    }
    let response = gw
        .ask_with(
            key,
            json!({"model": "claude-3-sonnet", "stream": true, "max_tokens": 4,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    if response.status == 200 {
        response.sse_events();
    }
    response
}

async fn two(prefix: &str) -> (Instance, Instance) {
    let table = moto().new_table(prefix).await;
    let a = Instance::start(&table, "", settings(10.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(10.0, 900.0)).await;
    // One clock between them, at the start of a minute.
    b.clock.advance(a.start_of_a_minute());
    (a, b)
}

async fn spend_of(gw: &Instance, key: &str) -> f64 {
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    info["info"]["spend"].as_f64().unwrap()
}

#[tokio::test]
async fn two_instances_spend_one_budget_from_leases_never_over_and_to_the_last_request() {
    let (a, b) = two("lease-budget").await;
    let fits: u32 = 20;
    let budget = f64::from(fits) * ASK_COST + 1e-9;
    let key = a.new_key(json!({"max_budget": budget})).await;
    let mut admitted = 0;
    let mut refused = 0;
    for round in 0..30 {
        let gw = if round % 2 == 0 { &a } else { &b };
        let response = ask(gw, &key, round % 3 == 0).await;
        match response.status.as_u16() {
            200 => admitted += 1,
            _ => {
                response.assert_error(429, "budget_exceeded");
                refused += 1;
            }
        }
    }
    a.gw.gateway.after_response().flush().await;
    b.gw.gateway.after_response().flush().await;
    assert_eq!((admitted, refused), (fits, 30 - fits));
    let calls = a.gw.fake.total_calls() + b.gw.fake.total_calls();
    assert_eq!(calls, fits as usize, "only admitted requests reach a model");
    // Each instance spent from its slices: their records and the key's spend agree, and
    // neither passes the budget.
    let mut records = a.gw.usage_records().await;
    records.extend(b.gw.usage_records().await);
    let recorded: f64 = records.iter().filter_map(|r| r.cost_usd).sum();
    assert!((recorded - f64::from(fits) * ASK_COST).abs() < 1e-9);
    let spend = spend_of(&b, &key).await;
    assert!(
        (spend - recorded).abs() < 1e-9 && spend <= budget,
        "{spend} {recorded}"
    );
}

#[tokio::test]
async fn two_instances_hold_one_rpm_limit_with_leases() {
    let (a, b) = two("lease-rpm").await;
    let key = a.new_key(json!({"rpm_limit": 10})).await;
    let mut statuses = Vec::new();
    for round in 0..16 {
        let gw = if round % 2 == 0 { &a } else { &b };
        let response = ask(gw, &key, round % 4 == 1).await;
        if response.status != 200 {
            response.assert_error(429, "rate_limit_error");
        }
        statuses.push(response.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(a.gw.fake.total_calls() + b.gw.fake.total_calls(), 10);
    // The next minute has a fresh window for both.
    a.clock.advance(std::time::Duration::from_secs(60));
    b.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(a.ask(&key).await.status, 200);
    assert_eq!(b.ask(&key).await.status, 200);
}

const LEX: &str = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n";

#[tokio::test]
async fn lex_turns_spend_their_teams_budget_from_a_lease() {
    let table = moto().new_table("lease-lex").await;
    let gw = Instance::start(&table, LEX, settings(10.0, 900.0)).await;
    let config = load_config(&priced_yaml(&gw.gw.fake.endpoint(), LEX));
    let lex = LexFulfillment::new(gw.gw.gateway.clone(), &config).unwrap();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "support", "max_budget": 1000.0, "rpm_limit": 1000})),
    )
    .await;
    for _ in 0..3 {
        let reply = lex
            .handle_json(sample_event("lex-first-turn.json"), None)
            .await;
        assert_eq!(
            reply["sessionState"]["intent"]["state"], "Fulfilled",
            "{reply}"
        );
    }
    gw.gw.gateway.after_response().flush().await;
    let records = gw.gw.usage_records().await;
    let recorded: f64 = records.iter().filter_map(|r| r.cost_usd).sum();
    assert_eq!(records.len(), 3);
    assert!(recorded > 0.0);
    let info = gw.admin("/team/info?team_id=support", None).await.json();
    let spend = info["team_info"]["spend"]
        .as_f64()
        .or_else(|| info["spend"].as_f64())
        .unwrap();
    assert!((spend - recorded).abs() < 1e-9, "{info} {recorded}");
}

#[tokio::test]
async fn a_warm_key_under_its_limits_makes_at_most_a_tenth_of_a_call_per_request_before_the_model()
{
    let table = moto().new_table("lease-calls").await;
    let gw = Instance::start(&table, "", settings(10.0, 900.0)).await;
    gw.start_of_a_minute();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "t", "max_budget": 100.0, "rpm_limit": 100000, "tpm_limit": 100000000})),
    )
    .await;
    let key = gw
        .new_key(
            json!({"team_id": "t", "max_budget": 50.0, "budget_duration": "1d",
                        "rpm_limit": 100000, "tpm_limit": 100000000}),
        )
        .await;
    for _ in 0..150 {
        assert_eq!(gw.ask(&key).await.status, 200);
    }
    gw.gw.gateway.after_response().flush().await;
    gw.dynamo.clear();
    let requests = 100;
    for _ in 0..requests {
        assert_eq!(gw.ask(&key).await.status, 200);
    }
    gw.gw.gateway.after_response().flush().await;
    let calls = gw.dynamo.calls();
    // After the response each request writes its cost to a spend item of its key and of its
    // team; everything else is a slice taken before a model call.
    let spend_writes = 2 * requests;
    let updates = calls.iter().filter(|c| *c == "UpdateItem").count();
    // The key and its team are read again when their cache entries (10 s) run out, which a slow
    // machine reaches within the run: those reads are calls before the model too.
    let reads = calls.iter().filter(|c| *c == "GetItem").count();
    let others: Vec<&String> = calls
        .iter()
        .filter(|c| *c != "UpdateItem" && *c != "GetItem")
        .collect();
    let before_model = updates - spend_writes + reads;
    assert!(
        before_model * 10 <= requests,
        "{before_model} calls before the model for {requests} requests: {calls:?}"
    );
    assert!(others.iter().all(|c| *c == "PutItem"), "{others:?}");
    assert!((spend_of(&gw, &key).await - 250.0 * ASK_COST).abs() < 1e-9);
}

/// A counter's value in the table.
async fn counter(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str, attribute: &str) -> f64 {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S("BUDGET#all".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.get(attribute)
        .and_then(|v| v.as_n().ok())
        .map_or(0.0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn answers_that_cost_more_than_reserved_are_charged_to_the_counter_even_past_the_limit() {
    let table = moto().new_table("lease-overdraft").await;
    let (client, _) = gateway_tests::keys::counted_client(moto()).await;
    let limits = Limits::new(Some(2.0), None, 0, None, None);
    let plan = |id: &str| {
        ReservationPlan::new(
            id,
            1_800_000_000,
            1.0,
            10,
            Duration::from_secs(900),
            &[(Scope::Team("t".into()), &limits)],
        )
        .unwrap()
    };
    let store = LeasedLimits::new(
        DynamoLimitStore::new(client.clone(), &table),
        LeasePolicy::default(),
    );
    let first = plan("r1");
    store.reserve(&first).await.unwrap();
    // The answer cost 3 of its reserved 1: the slice is overdrawn, and giving it back charges
    // the counter 3 although the budget is 2 (unconditionally: the cost happened).
    store
        .settle(&Settlement {
            plan: first,
            cost: 3.0,
            tokens: 10,
        })
        .await
        .unwrap();
    store.return_all().await.unwrap();
    assert_eq!(counter(&client, &table, "LIMIT#team#t", "used").await, 3.0);
    // A settlement replayed by another process (no slice of its own) is charged as well.
    let other = LeasedLimits::new(
        DynamoLimitStore::new(client.clone(), &table),
        LeasePolicy::default(),
    );
    other
        .settle(&Settlement {
            plan: plan("r2"),
            cost: 2.0,
            tokens: 10,
        })
        .await
        .unwrap();
    assert_eq!(counter(&client, &table, "LIMIT#team#t", "used").await, 4.0);
    let spend = other
        .spend(&Scope::Team("t".into()), "BUDGET#all")
        .await
        .unwrap();
    assert_eq!(spend, 5.0);
    // Over its budget, the team is refused.
    assert!(other.reserve(&plan("r3")).await.is_err());
}
