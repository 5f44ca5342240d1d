//! Model access groups (issue 23, item 3) and LiteLLM's model discovery endpoints (item 5):
//! a key's `models: ["<group>"]` reaches the group's models and no other, `all-proxy-models`
//! reaches all, a team's list still narrows; `/v1/models`, `/model/info`, `/v2/model/info` and
//! `/model_group/info` show what the caller may use, and never a credential.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, TestGateway, TestResponse, HAIKU, MASTER_KEY};
use http::Request;
use serde_json::{json, Value};

async fn gateway() -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint()).replace(
        "  - model_name: claude-3-haiku\n",
        "  - model_name: claude-3-haiku\n    model_info:\n      access_groups: [\"cheap\"]\n      max_input_tokens: 200000\n",
    );
    TestGateway::with_yaml(fake, &yaml).await
}

async fn call(gw: &TestGateway, key: &str, path: &str, body: Option<Value>) -> TestResponse {
    let builder = match &body {
        Some(_) => Request::post(path).header("content-type", "application/json"),
        None => Request::get(path),
    };
    gw.send(
        builder
            .header("authorization", format!("Bearer {key}"))
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap(),
    )
    .await
}

async fn new_key(gw: &TestGateway, body: Value) -> String {
    let made = call(gw, MASTER_KEY, "/key/generate", Some(body)).await;
    assert_eq!(made.status, 200, "{}", made.text());
    made.json()["key"].as_str().unwrap().to_owned()
}

async fn ask(gw: &TestGateway, key: &str, model: &str) -> TestResponse {
    call(
        gw,
        key,
        "/v1/chat/completions",
        Some(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await
}

fn listed(response: &TestResponse) -> Vec<String> {
    response.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_access_group_reaches_its_models_and_no_other() {
    let gw = gateway().await;
    let cheap = new_key(&gw, json!({"models": ["cheap"]})).await;
    assert_eq!(ask(&gw, &cheap, "claude-3-haiku").await.status, 200);
    ask(&gw, &cheap, "claude-3-sonnet")
        .await
        .assert_error(403, "permission_error");
    assert_eq!(
        gw.fake.total_calls(),
        1,
        "the refused model was never called"
    );
    // Nor through a fallback it names.
    let fell_back = call(
        &gw,
        &cheap,
        "/v1/chat/completions",
        Some(
            json!({"model": "claude-3-haiku", "fallbacks": ["claude-3-sonnet"],
                    "messages": [{"role": "user", "content": "hi"}]}),
        ),
    )
    .await;
    fell_back.assert_error(403, "permission_error");
    assert_eq!(
        listed(&call(&gw, &cheap, "/v1/models", None).await),
        ["claude-3-haiku"]
    );

    let everything = new_key(&gw, json!({"models": ["all-proxy-models"]})).await;
    assert_eq!(ask(&gw, &everything, "claude-3-sonnet").await.status, 200);
    assert_eq!(
        listed(&call(&gw, &everything, "/v1/models", None).await),
        ["claude-3-sonnet", "claude-3-haiku"]
    );

    // A team that allows only sonnet: a key of it naming the group (or all models) gets
    // nothing the team does not allow.
    let team = call(
        &gw,
        MASTER_KEY,
        "/team/new",
        Some(json!({"team_id": "sonnet-only", "models": ["claude-3-sonnet"]})),
    )
    .await;
    assert_eq!(team.status, 200, "{}", team.text());
    let narrowed = new_key(&gw, json!({"team_id": "sonnet-only", "models": ["cheap"]})).await;
    ask(&gw, &narrowed, "claude-3-haiku")
        .await
        .assert_error(403, "permission_error");
    let all_in_team = new_key(
        &gw,
        json!({"team_id": "sonnet-only", "models": ["all-proxy-models"]}),
    )
    .await;
    ask(&gw, &all_in_team, "claude-3-haiku")
        .await
        .assert_error(403, "permission_error");
    assert_eq!(ask(&gw, &all_in_team, "claude-3-sonnet").await.status, 200);
    // A team naming the group: its keys reach the group's models.
    call(
        &gw,
        MASTER_KEY,
        "/team/new",
        Some(json!({"team_id": "cheap-team", "models": ["cheap"]})),
    )
    .await;
    let team_key = new_key(&gw, json!({"team_id": "cheap-team"})).await;
    assert_eq!(ask(&gw, &team_key, "claude-3-haiku").await.status, 200);
    ask(&gw, &team_key, "claude-3-sonnet")
        .await
        .assert_error(403, "permission_error");
}

#[tokio::test]
async fn model_info_shows_what_the_caller_may_use_and_no_credential() {
    let gw = gateway().await;
    let all = call(&gw, MASTER_KEY, "/model/info", None).await;
    assert_eq!(all.status, 200, "{}", all.text());
    let text = all.text();
    for secret in [
        "test-secret-key",
        "test-access-key",
        "127.0.0.1",
        MASTER_KEY,
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let data = all.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    let haiku = data
        .iter()
        .find(|d| d["model_name"] == "claude-3-haiku")
        .unwrap();
    assert_eq!(haiku["litellm_params"]["model"], format!("bedrock/{HAIKU}"));
    assert_eq!(haiku["model_info"]["access_groups"], json!(["cheap"]));
    assert_eq!(haiku["model_info"]["max_input_tokens"], 200000);
    assert_eq!(haiku["model_info"]["mode"], "chat");
    assert!(
        haiku["model_info"]["input_cost_per_token"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let v2 = call(
        &gw,
        MASTER_KEY,
        "/v2/model/info?model=claude-3-sonnet",
        None,
    )
    .await;
    assert_eq!(v2.json()["data"].as_array().unwrap().len(), 1);

    let cheap = new_key(&gw, json!({"models": ["cheap"]})).await;
    let mine = call(&gw, &cheap, "/model/info", None).await;
    let names: Vec<Value> = mine.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["model_name"].clone())
        .collect();
    assert_eq!(names, [json!("claude-3-haiku")]);
    let groups = call(&gw, &cheap, "/model_group/info", None).await;
    assert_eq!(groups.status, 200);
    let group = &groups.json()["data"][0];
    assert_eq!(group["model_group"], "claude-3-haiku");
    assert_eq!(group["providers"], json!(["bedrock"]));
    assert_eq!(group["max_input_tokens"], 200000);
    assert_eq!(groups.json()["data"].as_array().unwrap().len(), 1);
    // No key: 401.
    let anonymous = gw
        .send(Request::get("/model/info").body(Body::empty()).unwrap())
        .await;
    anonymous.assert_error(401, "authentication_error");
}
