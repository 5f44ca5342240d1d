//! Keys under attack (DynamoDB in moto, the real SDK): random keys cannot flood the store or evict
//! known keys, concurrent lookups of one key share one store call, a delete or block on one
//! gateway is refused by another within the key cache TTL, `/key/update` cannot undo a concurrent
//! `blocked: true`, and a stored key whose policy does not parse is refused.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use gateway::keys::KeyHash;
use gateway_tests::keys::{moto, settings, Instance};
use serde_json::json;

async fn instance(prefix: &str, cache_secs: f64) -> (Instance, String) {
    let table = moto().new_table(prefix).await;
    let gw = Instance::start(&table, "", settings(cache_secs, 900.0)).await;
    (gw, table)
}

fn get_items(gw: &Instance) -> usize {
    gw.dynamo.calls().iter().filter(|c| *c == "GetItem").count()
}

/// Key `i` of the flood: a quarter each of wrong prefix, too short, too long and bad characters
/// for odd `i`; well-formed but unknown (300 distinct, each sent many times) for even `i`.
fn flood_key(i: usize) -> String {
    if i.is_multiple_of(2) {
        return format!("sk-unknown-{:05}", (i / 2) % 300);
    }
    match (i / 2) % 4 {
        0 => format!("pk-{i:040}"),
        1 => format!("sk-{}", i % 10_000),
        2 => format!("sk-{i}{}", "x".repeat(200)),
        _ => format!("sk-{i:08} or 1=1"),
    }
}

#[tokio::test]
async fn twenty_thousand_random_keys_cost_bounded_lookups_and_keep_the_known_key_cached() {
    let (gw, _) = instance("attack-flood", 60.0).await;
    let known = gw.new_key(json!({})).await;
    assert_eq!(gw.ask(&known).await.status, 200);
    gw.dynamo.clear();

    let gw = Arc::new(gw);
    let keys: Vec<String> = (0..20_000).map(flood_key).collect();
    for chunk in keys.chunks(100) {
        let answers = join_all(chunk.iter().map(|key| {
            let gw = Arc::clone(&gw);
            let key = key.clone();
            async move { gw.ask(&key).await }
        }))
        .await;
        for answer in answers {
            answer.assert_error(401, "authentication_error");
        }
    }
    // Malformed keys cost no lookup; each distinct well-formed one costs one, repeats none.
    assert_eq!(get_items(&gw), 300, "{} calls", gw.dynamo.calls().len());
    assert_eq!(gw.gw.fake.total_calls(), 1, "only the known key's question");

    // The known key is still cached: answered without a store call.
    gw.dynamo.clear();
    assert_eq!(gw.ask(&known).await.status, 200);
    assert_eq!(gw.dynamo.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn fifty_concurrent_requests_with_one_uncached_key_make_one_lookup() {
    let (gw, _) = instance("attack-single-flight", 60.0).await;
    let real = gw.new_key(json!({})).await;
    gw.gw
        .fake
        .set_latency(Duration::from_millis(50), Duration::ZERO);
    let gw = Arc::new(gw);
    for key in [real.as_str(), "sk-not-a-key-of-ours-0001"] {
        gw.dynamo.clear();
        let answers = join_all((0..50).map(|_| {
            let gw = Arc::clone(&gw);
            let key = key.to_owned();
            async move { gw.ask(&key).await.status.as_u16() }
        }))
        .await;
        let expected = if key == real { 200 } else { 401 };
        assert!(answers.iter().all(|s| *s == expected), "{answers:?}");
        assert_eq!(get_items(&gw), 1, "{key}: {:?}", gw.dynamo.calls());
        // Lookups read consistently: a key deleted a moment ago is not read as it was.
        let bodies = gw.dynamo.bodies();
        assert!(
            bodies.iter().any(|b| b.contains("\"ConsistentRead\":true")),
            "{bodies:?}"
        );
    }
}

#[tokio::test]
async fn a_key_deleted_or_blocked_on_one_gateway_is_refused_by_another_within_the_ttl() {
    let ttl = Duration::from_secs(1);
    let (a, table) = instance("attack-revoke", ttl.as_secs_f64()).await;
    let b = Instance::start(&table, "", settings(ttl.as_secs_f64(), 900.0)).await;
    for revoke in ["delete", "block"] {
        let key = a.new_key(json!({})).await;
        assert_eq!(b.ask(&key).await.status, 200, "b caches the key");
        let revoked_at = Instant::now();
        let done = match revoke {
            "delete" => a.admin("/key/delete", Some(json!({"keys": [key]}))).await,
            _ => {
                a.admin("/key/update", Some(json!({"key": key, "blocked": true})))
                    .await
            }
        };
        assert_eq!(done.status, 200, "{}", done.text());
        a.ask(&key).await.assert_error(401, "authentication_error");
        loop {
            let status = b.ask(&key).await.status.as_u16();
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                revoked_at.elapsed() <= ttl + Duration::from_millis(500),
                "{revoke}: b still answers after {:?}",
                revoked_at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_concurrent_key_update_cannot_undo_blocked() {
    let (gw, _) = instance("attack-update-race", 0.0).await;
    let key = gw.new_key(json!({"max_budget": 1.0})).await;
    for round in 0..15 {
        let unblocked = gw
            .admin("/key/update", Some(json!({"key": key, "blocked": false})))
            .await;
        assert_eq!(unblocked.status, 200, "{}", unblocked.text());
        let (block, budget) = tokio::join!(
            gw.admin("/key/update", Some(json!({"key": key, "blocked": true}))),
            gw.admin(
                "/key/update",
                Some(json!({"key": key, "max_budget": 2.0 + f64::from(round)}))
            ),
        );
        assert_eq!(block.status, 200, "{}", block.text());
        assert_eq!(budget.status, 200, "{}", budget.text());
        let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
        assert_eq!(info["info"]["blocked"], true, "round {round}: {info}");
        assert_eq!(info["info"]["max_budget"], 2.0 + f64::from(round));
        gw.ask(&key).await.assert_error(401, "authentication_error");
    }
    // An update of a key that is not there creates nothing.
    let missing = gw
        .admin(
            "/key/update",
            Some(json!({"key": "sk-never-generated-0001", "blocked": false})),
        )
        .await;
    missing.assert_error(404, "invalid_request_error");
}

#[tokio::test]
async fn a_stored_key_whose_policy_does_not_parse_is_refused() {
    let (gw, table) = instance("attack-malformed", 0.0).await;
    let clients = moto().clients().await;
    for (name, value) in [
        ("blocked", AttributeValue::S("false".into())),
        ("max_budget", AttributeValue::S("unlimited".into())),
        ("rpm_limit", AttributeValue::N("2.5".into())),
    ] {
        let key = gw.new_key(json!({})).await;
        assert_eq!(gw.ask(&key).await.status, 200);
        clients
            .dynamodb
            .update_item()
            .table_name(&table)
            .key(
                "pk",
                AttributeValue::S(format!("KEY#{}", KeyHash::of(&key).as_str())),
            )
            .key("sk", AttributeValue::S("KEY".into()))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
        gw.ask(&key).await.assert_error(401, "authentication_error");
    }
}

#[tokio::test]
async fn generated_keys_are_32_random_bytes_and_custom_keys_must_look_like_keys() {
    let (gw, _) = instance("attack-generate", 0.0).await;
    let key = gw.new_key(json!({})).await;
    assert_eq!(key.len(), 46, "sk- and 43 base64url characters: {key}");
    assert!(key[3..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(gw.new_key(json!({})).await, key);
    let custom = gw
        .admin("/key/generate", Some(json!({"key": "not a key at all"})))
        .await;
    let body = custom.assert_error(400, "invalid_request_error");
    assert_eq!(body["error"]["param"], "key");
}

#[tokio::test]
async fn a_concurrent_team_update_cannot_undo_blocked() {
    let (gw, _) = instance("attack-team-race", 0.0).await;
    gw.admin("/team/new", Some(json!({"team_id": "t"}))).await;
    let key = gw.new_key(json!({"team_id": "t"})).await;
    for round in 0..15 {
        let unblocked = gw
            .admin(
                "/team/update",
                Some(json!({"team_id": "t", "blocked": false})),
            )
            .await;
        assert_eq!(unblocked.status, 200, "{}", unblocked.text());
        let (block, alias) = tokio::join!(
            gw.admin(
                "/team/update",
                Some(json!({"team_id": "t", "blocked": true}))
            ),
            gw.admin(
                "/team/update",
                Some(json!({"team_id": "t", "team_alias": format!("round {round}")}))
            ),
        );
        assert_eq!(block.status, 200, "{}", block.text());
        assert_eq!(alias.status, 200, "{}", alias.text());
        let info = gw.admin("/team/info?team_id=t", None).await.json();
        assert_eq!(info["team_info"]["blocked"], true, "round {round}: {info}");
        assert_eq!(info["team_info"]["team_alias"], format!("round {round}"));
        gw.ask(&key).await.assert_error(401, "authentication_error");
    }
}
