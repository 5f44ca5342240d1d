//! LiteLLM's self-service reads and `/key/generate`'s answer (issue 23, item 1), against the
//! DynamoDB store in moto: a key reads its own `/key/info` and its team's `/team/info`, never
//! another's (403 before any lookup); unknown keys are 404 for the admin; the admin may mint a
//! key for a team not created yet; LiteLLM's object-form `fallbacks` are accepted.
#![allow(clippy::unwrap_used)]

use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{HAIKU, SONNET};
use gateway_tests::keys::{moto, settings, Instance};
use serde_json::json;

async fn instance(prefix: &str) -> Instance {
    let table = moto().new_table(prefix).await;
    Instance::start(&table, "", settings(0.0, 900.0)).await
}

fn token(key: &str) -> String {
    gateway::keys::KeyHash::of(key).as_str().to_owned()
}

#[tokio::test]
async fn a_key_reads_its_own_info_and_never_another_keys() {
    let gw = instance("compat-self").await;
    assert_eq!(
        gw.admin(
            "/team/new",
            Some(json!({"team_id": "t1", "max_budget": 3.0}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        gw.admin("/team/new", Some(json!({"team_id": "t2"})))
            .await
            .status,
        200
    );
    let mine = gw
        .new_key(json!({"team_id": "t1", "key_alias": "mine"}))
        .await;
    let theirs = gw.new_key(json!({"team_id": "t2"})).await;

    // Its own, with no query, with itself, and with its hash.
    for path in [
        "/key/info".to_owned(),
        format!("/key/info?key={mine}"),
        format!("/key/info?key={}", token(&mine)),
    ] {
        let own = gw.admin_as(&mine, &path, None).await;
        assert_eq!(own.status, 200, "{path}: {}", own.text());
        let info = own.json();
        assert_eq!(info["info"]["token"], token(&mine), "{path}");
        assert_eq!(info["info"]["key_alias"], "mine");
        assert_eq!(info["info"]["team_id"], "t1");
        assert!(!own.text().contains(&theirs));
    }
    // Another key's, by plain text or by hash, even one that does not exist: 403, no lookup.
    for other in [
        theirs.clone(),
        token(&theirs),
        "sk-does-not-exist-0000".to_owned(),
    ] {
        let denied = gw
            .admin_as(&mine, &format!("/key/info?key={other}"), None)
            .await;
        denied.assert_error(403, "permission_error");
        assert!(!denied.text().contains(&token(&theirs)));
    }
    // The admin: any key; an unknown one is a 404.
    let admin_view = gw.admin(&format!("/key/info?key={theirs}"), None).await;
    assert_eq!(admin_view.json()["info"]["team_id"], "t2");
    gw.admin("/key/info?key=sk-does-not-exist-0000", None)
        .await
        .assert_error(404, "invalid_request_error");

    // Its own team, with or without `team_id`; never another team.
    for path in ["/team/info", "/team/info?team_id=t1"] {
        let team = gw.admin_as(&mine, path, None).await;
        assert_eq!(team.status, 200, "{path}: {}", team.text());
        assert_eq!(team.json()["team_id"], "t1");
        assert_eq!(team.json()["team_info"]["max_budget"], 3.0);
    }
    gw.admin_as(&mine, "/team/info?team_id=t2", None)
        .await
        .assert_error(403, "permission_error");
    let teamless = gw.new_key(json!({})).await;
    gw.admin_as(&teamless, "/team/info?team_id=t1", None)
        .await
        .assert_error(403, "permission_error");
    gw.admin_as(&teamless, "/team/info", None)
        .await
        .assert_error(403, "permission_error");

    // Self-service is read-only: the rest of the admin API stays the master key's.
    for (path, body) in [
        ("/key/generate", Some(json!({}))),
        (
            "/key/update",
            Some(json!({"key": mine.clone(), "max_budget": 100})),
        ),
        ("/key/delete", Some(json!({"keys": [theirs.clone()]}))),
        ("/team/list", None),
    ] {
        gw.admin_as(&mine, path, body)
            .await
            .assert_error(403, "permission_error");
    }
    assert_eq!(
        gw.admin(&format!("/key/info?key={theirs}"), None)
            .await
            .status,
        200,
        "the other key was not deleted"
    );
}

#[tokio::test]
async fn generate_answers_litellms_fields_and_takes_a_team_not_created_yet() {
    let gw = instance("compat-generate").await;
    let made = gw
        .admin(
            "/key/generate",
            Some(json!({
                "team_id": "not-yet", "key_alias": "ci", "models": ["claude-3-sonnet"],
                "max_budget": 1.5, "user_id": "ann", "metadata": {"env": "ci"}, "duration": "1d",
                "max_parallel_requests": 2, "tags": ["a"]
            })),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text());
    let body = made.json();
    let key = body["key"].as_str().unwrap().to_owned();
    assert_eq!(body["token"], token(&key));
    assert_eq!(body["token_id"], token(&key));
    for (field, value) in [
        ("team_id", json!("not-yet")),
        ("key_alias", json!("ci")),
        ("models", json!(["claude-3-sonnet"])),
        ("max_budget", json!(1.5)),
        ("user_id", json!("ann")),
        ("metadata", json!({"env": "ci"})),
        ("spend", json!(0.0)),
        ("duration", json!("1d")),
        ("max_parallel_requests", json!(2)),
        ("tags", json!(["a"])),
    ] {
        assert_eq!(body[field], value, "{field}: {body}");
    }
    for field in ["created_at", "updated_at", "expires"] {
        assert!(
            body[field].as_str().is_some_and(|t| t.ends_with('Z')),
            "{field}: {body}"
        );
    }
    // The key works before its team exists, and takes the team's limits once it does.
    assert_eq!(gw.ask(&key).await.status, 200);
    assert_eq!(
        gw.admin(
            "/team/new",
            Some(json!({"team_id": "not-yet", "blocked": true}))
        )
        .await
        .status,
        200
    );
    gw.ask(&key).await.assert_error(401, "authentication_error");
    // A malformed team id is still refused.
    gw.admin("/key/generate", Some(json!({"team_id": "no spaces"})))
        .await
        .assert_error(400, "invalid_request_error");
}

#[tokio::test]
async fn object_form_fallbacks_are_followed_by_their_model() {
    let gw = instance("compat-fallbacks").await;
    gw.gw.fake.set_fault(SONNET, Fault::ServerError);
    let key = gw.new_key(json!({})).await;
    let answered = gw
        .ask_with(
            &key,
            json!({
                "model": "claude-3-sonnet",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4,
                "fallbacks": [{"model": "claude-3-haiku",
                               "messages": [{"role": "user", "content": "hello"}]}]
            }),
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text());
    assert_eq!(gw.gw.fake.calls(HAIKU), 1);
    assert_eq!(answered.headers["x-litellm-attempted-fallbacks"], "1");
    // An object without `model` is still a 400 naming the field path.
    gw.ask_with(
        &key,
        json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": "hi"}],
               "fallbacks": [{"messages": []}]}),
    )
    .await
    .assert_error(400, "invalid_request_error");
}
