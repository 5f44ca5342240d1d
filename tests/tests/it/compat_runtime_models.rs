//! LiteLLM's model management at run time (issue 23): `/model/new`, `/model/update` and
//! `/model/delete`, master key only, stored in the one DynamoDB table (moto) and served by a
//! second instance on that table, whole and streamed; a key outside the model's access is
//! refused; the config's names, ids and credentials are refused.
#![allow(clippy::unwrap_used)]

use gateway_tests::harness::HAIKU;
use gateway_tests::keys::{moto, scan_text, settings, Instance};
use serde_json::json;

fn chat(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "max_tokens": 4,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn a_model_added_on_one_instance_is_served_by_another() {
    let table = moto().new_table("compat-runtime-models").await;
    let a = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let endpoint = b.gw.fake.endpoint();
    let entry = json!({
        "model_name": "runtime-haiku",
        "litellm_params": {"model": format!("bedrock/{HAIKU}"), "aws_region_name": "us-east-1",
                           "aws_bedrock_runtime_endpoint": endpoint,
                           "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002},
        "model_info": {"id": "rt-1"}
    });
    let key = a.new_key(json!({})).await;
    let sonnet_only = a.new_key(json!({"models": ["claude-3-sonnet"]})).await;

    // Attack: a valid key may not add a model; nothing is stored.
    a.admin_as(&key, "/model/new", Some(entry.clone()))
        .await
        .assert_error(403, "permission_error");
    assert!(!scan_text(moto(), &table).await.contains("MODEL#"));
    assert_ne!(
        b.ask_with(&key, chat("runtime-haiku", false)).await.status,
        200
    );

    let made = a.admin("/model/new", Some(entry.clone())).await;
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(made.json()["model_id"], "rt-1");
    assert_eq!(made.json()["model_info"]["id"], "rt-1");
    assert!(scan_text(moto(), &table).await.contains("MODEL#rt-1"));

    // Served by the other instance, whole and streamed, through its own fake Bedrock.
    let before = b.gw.fake.calls(HAIKU);
    let whole = b.ask_with(&key, chat("runtime-haiku", false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(whole.json()["model"], "runtime-haiku");
    assert!(whole.json()["choices"][0]["message"]["content"].is_string());
    let streamed = b.ask_with(&key, chat("runtime-haiku", true)).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    assert!(streamed.text().contains("data: [DONE]"));
    assert_eq!(b.gw.fake.calls(HAIKU), before + 2);
    let listed = b.admin_as(&key, "/v1/models", None).await.json();
    assert!(listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "runtime-haiku"));
    // Attack: a key limited to another model is refused it, and nothing is called.
    b.ask_with(&sonnet_only, chat("runtime-haiku", false))
        .await
        .assert_error(403, "permission_error");
    assert_eq!(b.gw.fake.calls(HAIKU), before + 2);

    // What a stored model may not be.
    for (bad, param) in [
        (
            json!({"model_name": "claude-3-sonnet", "litellm_params": {"model": format!("bedrock/{HAIKU}")}}),
            "model_name",
        ),
        (
            json!({"model_name": "x", "litellm_params": {"model": format!("bedrock/{HAIKU}"),
                   "aws_secret_access_key": "s3cret"}}),
            "litellm_params",
        ),
        (
            json!({"model_name": "x", "litellm_params": {"model": "openai/gpt-4o"}}),
            "litellm_params",
        ),
        (entry.clone(), "model_info"),
    ] {
        let refused = a.admin("/model/new", Some(bad)).await;
        let body = refused.assert_error(400, "invalid_request_error");
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    assert!(!scan_text(moto(), &table).await.contains("s3cret"));

    // Renamed on A: B serves the new name and no longer the old one.
    let renamed = a
        .admin(
            "/model/update",
            Some(json!({"model_name": "runtime-haiku-2", "model_info": {"id": "rt-1"}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(
        renamed.json()["litellm_params"]["aws_region_name"],
        "us-east-1",
        "params kept"
    );
    assert_eq!(
        b.ask_with(&key, chat("runtime-haiku-2", false))
            .await
            .status,
        200
    );
    assert_ne!(
        b.ask_with(&key, chat("runtime-haiku", false)).await.status,
        200
    );
    a.admin(
        "/model/update",
        Some(json!({"model_name": "y", "model_info": {"id": "nope"}})),
    )
    .await
    .assert_error(404, "invalid_request_error");

    // Deleted on A: gone from B.
    let deleted = a.admin("/model/delete", Some(json!({"id": "rt-1"}))).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        deleted.json()["message"],
        "Model: rt-1 deleted successfully"
    );
    let calls = b.gw.fake.calls(HAIKU);
    assert_ne!(
        b.ask_with(&key, chat("runtime-haiku-2", false))
            .await
            .status,
        200
    );
    assert_eq!(b.gw.fake.calls(HAIKU), calls);
    a.admin("/model/delete", Some(json!({"id": "rt-1"})))
        .await
        .assert_error(404, "invalid_request_error");
}

/// The refresh is bounded by the key cache's TTL: an instance that read the stored models a
/// moment ago serves a model added elsewhere only once the TTL has passed (here 2 s).
#[tokio::test]
async fn another_instance_picks_a_new_model_up_within_the_cache_ttl() {
    let table = moto().new_table("compat-runtime-refresh").await;
    let a = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(2.0, 900.0)).await;
    let key = a.new_key(json!({})).await;
    // B reads the (empty) stored models now: a request for a name the config does not have
    // (requests for the config's models never read them).
    assert_eq!(b.ask(&key).await.status, 200);
    assert_eq!(
        b.ask_with(&key, chat("late-haiku", false)).await.status,
        404
    );
    let entry = json!({
        "model_name": "late-haiku",
        "litellm_params": {"model": format!("bedrock/{HAIKU}"), "aws_region_name": "us-east-1",
                           "aws_bedrock_runtime_endpoint": b.gw.fake.endpoint()}
    });
    let made = a.admin("/model/new", Some(entry)).await;
    assert_eq!(made.status, 200, "{}", made.text());
    assert!(
        made.json()["model_id"].as_str().unwrap().len() >= 32,
        "a new UUID"
    );
    assert_eq!(
        b.ask_with(&key, chat("late-haiku", false)).await.status,
        404,
        "not before B's next refresh"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let served = b.ask_with(&key, chat("late-haiku", false)).await;
    assert_eq!(served.status, 200, "{}", served.text());
}

/// A model added at run time with `model_info.access_groups` joins those groups on every
/// instance: a key allowed the group is served it from the first request that names it (its
/// principal, authenticated before the stored models were read, is authenticated again), whole
/// and streamed, on `/v1/chat/completions` and `/v1/messages`; a key allowed another model is
/// refused it without a Bedrock call; `/model/info` shows the group; once the model is deleted
/// the group reaches nothing.
#[tokio::test]
async fn a_run_time_models_access_groups_reach_keys_on_every_instance() {
    let table = moto().new_table("compat-runtime-groups").await;
    let a = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let beta = a.new_key(json!({"models": ["beta"]})).await;
    let sonnet_only = a.new_key(json!({"models": ["claude-3-sonnet"]})).await;
    assert_ne!(
        b.ask_with(&beta, chat("beta-haiku", false)).await.status,
        200,
        "nothing in the group yet"
    );
    let entry = json!({
        "model_name": "beta-haiku",
        "litellm_params": {"model": format!("bedrock/{HAIKU}"), "aws_region_name": "us-east-1",
                           "aws_bedrock_runtime_endpoint": b.gw.fake.endpoint()},
        "model_info": {"id": "rt-beta", "access_groups": ["beta"]}
    });
    let made = a.admin("/model/new", Some(entry)).await;
    assert_eq!(made.status, 200, "{}", made.text());

    let before = b.gw.fake.calls(HAIKU);
    let whole = b.ask_with(&beta, chat("beta-haiku", false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    let streamed = b.ask_with(&beta, chat("beta-haiku", true)).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    assert!(streamed.text().contains("data: [DONE]"));
    let message = b
        .admin_as(
            &beta,
            "/v1/messages",
            Some(json!({"model": "beta-haiku", "max_tokens": 4,
                        "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(message.status, 200, "{}", message.text());
    assert_eq!(b.gw.fake.calls(HAIKU), before + 3);
    // Attacks: the group is not every model, and another key does not get the group's model.
    b.ask_with(&beta, chat("claude-3-sonnet", false))
        .await
        .assert_error(403, "permission_error");
    b.ask_with(&sonnet_only, chat("beta-haiku", false))
        .await
        .assert_error(403, "permission_error");
    assert_eq!(b.gw.fake.calls(HAIKU), before + 3, "refusals call nothing");

    let info = b.admin("/model/info", None).await.json();
    let listed = info["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model_name"] == "beta-haiku")
        .cloned()
        .unwrap();
    assert_eq!(listed["model_info"]["access_groups"], json!(["beta"]));

    // Taken out of the group (`/model/update` merges `model_info`; a `null` field is removed):
    // the key is refused from the next request on; put back, served again.
    let out = a
        .admin(
            "/model/update",
            Some(json!({"model_info": {"id": "rt-beta", "access_groups": null, "mode": "chat"}})),
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.text());
    assert_eq!(
        out.json()["model_info"],
        json!({"id": "rt-beta", "mode": "chat"})
    );
    b.ask_with(&beta, chat("beta-haiku", false))
        .await
        .assert_error(403, "permission_error");
    let back = a
        .admin(
            "/model/update",
            Some(json!({"model_info": {"id": "rt-beta", "access_groups": ["beta"]}})),
        )
        .await;
    assert_eq!(
        back.json()["model_info"],
        json!({"id": "rt-beta", "mode": "chat", "access_groups": ["beta"]}),
        "merged"
    );
    assert_eq!(
        b.ask_with(&beta, chat("beta-haiku", false)).await.status,
        200
    );
    a.admin(
        "/model/update",
        Some(json!({"model_info": {"id": "rt-beta"}, "litellm_params": "x"})),
    )
    .await
    .assert_error(400, "invalid_request_error");

    assert_eq!(
        a.admin("/model/delete", Some(json!({"id": "rt-beta"})))
            .await
            .status,
        200
    );
    assert_ne!(
        b.ask_with(&beta, chat("beta-haiku", false)).await.status,
        200
    );
    assert_eq!(b.gw.fake.calls(HAIKU), before + 4);
}
