//! Attacks on model access with a valid but restricted key (issue 17, item 1): every group a
//! request can reach (its own `fallbacks`, configured fallbacks of each kind, default
//! fallbacks) is authorized like the first; the fake Bedrock sees no call to a forbidden one.
//! Keys and teams in DynamoDB (moto, real SDK); chat API whole and streamed, and Lex.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use gateway::lex::LexFulfillment;
use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{load_config, sample_event, HAIKU, SONNET};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance};
use serde_json::{json, Value};

async fn instance(prefix: &str, extra_yaml: &str) -> Instance {
    let table = moto().new_table(prefix).await;
    Instance::start(&table, extra_yaml, settings(10.0, 900.0)).await
}

fn haiku(stream: bool) -> Value {
    json!({
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "stream": stream
    })
}

#[tokio::test]
async fn a_haiku_only_key_with_body_fallbacks_to_sonnet_and_haiku_throttled_makes_no_sonnet_call() {
    let gw = instance("attack-body-fallbacks", "").await;
    let key = gw.new_key(json!({"models": ["claude-3-haiku"]})).await;
    gw.gw.fake.set_fault(HAIKU, Fault::Throttle);
    for stream in [false, true] {
        let mut body = haiku(stream);
        body["fallbacks"] = json!(["claude-3-sonnet"]);
        let refused = gw.ask_with(&key, body).await;
        let error = refused.assert_error(403, "permission_error");
        assert_eq!(error["error"]["code"], "model_not_allowed");
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-3-sonnet"));
    }
    assert_eq!(
        gw.gw.fake.calls(SONNET),
        0,
        "no call to the forbidden model"
    );
    assert_eq!(gw.gw.fake.total_calls(), 0, "refused before any model call");
}

/// Configured fallbacks of every kind, and default fallbacks, skip a group the key may not use.
#[tokio::test]
async fn a_haiku_only_key_never_reaches_sonnet_through_configured_or_default_fallbacks() {
    let cases = [
        (
            "router_settings:\n  num_retries: 0\n  fallbacks: [{claude-3-haiku: [claude-3-sonnet]}]\n",
            Fault::Throttle,
        ),
        (
            "router_settings:\n  num_retries: 0\n  default_fallbacks: [claude-3-sonnet]\n",
            Fault::Unavailable,
        ),
        (
            "router_settings:\n  num_retries: 0\n  context_window_fallbacks: [{\"*\": [claude-3-sonnet]}]\n",
            Fault::Validation("Input is too long for requested model.".into()),
        ),
    ];
    for (i, (yaml, fault)) in cases.into_iter().enumerate() {
        let gw = instance(&format!("attack-configured-{i}"), yaml).await;
        let key = gw.new_key(json!({"models": ["claude-3-haiku"]})).await;
        gw.gw.fake.set_fault(HAIKU, fault);
        for stream in [false, true] {
            let failed = gw.ask_with(&key, haiku(stream)).await;
            assert!(failed.status.is_client_error() || failed.status.is_server_error());
            assert_eq!(gw.gw.fake.calls(SONNET), 0, "{yaml} stream={stream}");
        }
        assert_eq!(gw.gw.fake.calls(HAIKU), 2, "{yaml}");
        // The master key may use sonnet: the same fallback runs for it (the skip is the key's).
        gw.gw.fake.clear_faults();
        gw.gw.fake.set_fault(HAIKU, Fault::Throttle);
        if i < 2 {
            let res = gw
                .ask_with(gateway_tests::harness::MASTER_KEY, haiku(false))
                .await;
            assert_eq!(res.status, 200, "{yaml}: {}", res.text());
            assert_eq!(gw.gw.fake.calls(SONNET), 1, "{yaml}");
        }
    }
}

/// A key's models narrow its team's: a key cannot name its way to a model its team may not use.
#[tokio::test]
async fn a_key_naming_a_model_its_team_forbids_is_refused_it() {
    let gw = instance("attack-team-models", "").await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "cheap", "models": ["claude-3-haiku"]})),
    )
    .await;
    let key = gw
        .new_key(json!({"team_id": "cheap", "models": ["claude-3-sonnet", "claude-3-haiku"]}))
        .await;
    for stream in [false, true] {
        let mut body = haiku(stream);
        body["model"] = json!("claude-3-sonnet");
        let refused = gw.ask_with(&key, body).await;
        assert_eq!(
            refused.assert_error(403, "permission_error")["error"]["code"],
            "model_not_allowed"
        );
        assert_eq!(gw.ask_with(&key, haiku(stream)).await.status, 200);
    }
    assert_eq!(gw.gw.fake.calls(SONNET), 0);
    assert_eq!(gw.gw.fake.calls(HAIKU), 2);
}

/// Lex: a conversation billed to a haiku-only team never falls back to sonnet.
#[tokio::test]
async fn a_lex_team_limited_to_haiku_never_falls_back_to_sonnet() {
    let lex_yaml = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n\
                    router_settings:\n  num_retries: 0\n  fallbacks: [{claude-3-haiku: [claude-3-sonnet]}]\n";
    let gw = instance("attack-lex-fallbacks", lex_yaml).await;
    let config = load_config(&priced_yaml(&gw.gw.fake.endpoint(), lex_yaml));
    let lex = LexFulfillment::new(gw.gw.gateway.clone(), &config).unwrap();
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "support", "models": ["claude-3-haiku"]})),
    )
    .await;
    gw.gw.fake.set_fault(HAIKU, Fault::Throttle);
    let response = lex
        .handle_json(sample_event("lex-first-turn.json"), None)
        .await;
    assert_eq!(
        response["sessionState"]["intent"]["state"], "Failed",
        "{response}"
    );
    assert_eq!(gw.gw.fake.calls(HAIKU), 1);
    assert_eq!(gw.gw.fake.calls(SONNET), 0, "the team may not use sonnet");
}

/// `/v1/models` and `/v1/models/{id}` show a key only the groups it may use (its own list
/// narrowed by its team's), so a restricted key cannot map what else the gateway serves.
#[tokio::test]
async fn a_restricted_key_lists_and_looks_up_only_the_groups_it_may_use() {
    let gw = instance("attack-models-list", "").await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "cheap", "models": ["claude-3-haiku"]})),
    )
    .await;
    let team_key = gw
        .new_key(json!({"team_id": "cheap", "models": ["claude-3-sonnet", "claude-3-haiku"]}))
        .await;
    let haiku_key = gw.new_key(json!({"models": ["claude-3-haiku"]})).await;
    let get = |key: &str, path: &str| {
        http::Request::get(path)
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for key in [&team_key, &haiku_key] {
        let list = gw.gw.send(get(key, "/v1/models")).await;
        assert_eq!(list.status, 200);
        let ids: Vec<Value> = list.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!("claude-3-haiku")]);
        let hidden = gw.gw.send(get(key, "/v1/models/claude-3-sonnet")).await;
        assert_eq!(
            hidden.assert_error(404, "invalid_request_error")["error"]["code"],
            "model_not_found"
        );
        let own = gw.gw.send(get(key, "/v1/models/claude-3-haiku")).await;
        assert_eq!(own.json()["id"], "claude-3-haiku");
    }
    assert_eq!(gw.gw.fake.total_calls(), 0);
}
