//! LiteLLM's users (issue 23): `/user/new` (with its auto-created key), `/user/info` (the
//! master key's view and a user key's self-service view), `/user/update`, `/user/list`,
//! `/user/delete` (which deletes the user's keys and takes it out of its teams), master key
//! only, against the DynamoDB store in moto; attacks by a valid but restricted key.
#![allow(clippy::unwrap_used)]

use gateway_tests::keys::{moto, settings, Instance};
use serde_json::json;

#[tokio::test]
async fn users_own_keys_join_teams_and_take_their_keys_with_them() {
    let table = moto().new_table("compat-users").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    assert_eq!(
        gw.admin("/team/new", Some(json!({"team_id": "ops"})))
            .await
            .status,
        200
    );

    // A user with a key made for it and a place in a team.
    let made = gw
        .admin(
            "/user/new",
            Some(
                json!({"user_id": "ann", "user_email": "ann@example.com", "max_budget": 5.0,
                        "models": ["claude-3-sonnet"], "team_id": "ops"}),
            ),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text());
    let made = made.json();
    assert_eq!(made["user_id"], "ann");
    assert_eq!(made["user_role"], "internal_user");
    assert_eq!(made["max_budget"], 5.0);
    assert_eq!(made["teams"], json!(["ops"]));
    let ann_key = made["key"].as_str().unwrap().to_owned();
    assert!(ann_key.starts_with("sk-"));
    assert_eq!(gw.ask(&ann_key).await.status, 200);
    // Without a key, and a second user with the same id refused.
    let bob = gw
        .admin(
            "/user/new",
            Some(json!({"user_id": "bob", "auto_create_key": false, "user_role": "internal_user_viewer"})),
        )
        .await
        .json();
    assert_eq!(bob["key"], json!(null));
    gw.admin("/user/new", Some(json!({"user_id": "ann"})))
        .await
        .assert_error(400, "invalid_request_error");
    gw.admin(
        "/user/new",
        Some(json!({"user_id": "eve", "user_role": "root"})),
    )
    .await
    .assert_error(400, "invalid_request_error");
    gw.admin(
        "/user/new",
        Some(json!({"user_id": "eve", "team_id": "missing"})),
    )
    .await
    .assert_error(404, "invalid_request_error");
    let bob_key = gw.new_key(json!({"user_id": "bob"})).await;
    // `/key/generate` for a user the table does not know creates it, as LiteLLM does: no
    // budget, no limits, the key among its keys; a user that exists is left as it is.
    let carl_key = gw.new_key(json!({"user_id": "carl"})).await;
    let carl = gw.admin("/user/info?user_id=carl", None).await;
    assert_eq!(carl.status, 200, "{}", carl.text());
    let carl = carl.json();
    assert_eq!(carl["user_info"]["user_role"], "internal_user");
    assert_eq!(carl["user_info"]["max_budget"], json!(null));
    assert_eq!(carl["keys"].as_array().unwrap().len(), 1);
    assert_eq!(gw.ask(&carl_key).await.status, 200);
    assert_eq!(
        gw.admin("/user/info?user_id=bob", None).await.json()["user_info"]["user_role"],
        "internal_user_viewer",
        "bob's second key left bob as he was"
    );
    assert_eq!(
        gw.admin("/user/delete", Some(json!({"user_ids": ["carl"]})))
            .await
            .json()["deleted_keys"],
        1
    );

    // The master key's view: the user, its keys (not in plain text) and its teams.
    let info = gw.admin("/user/info?user_id=ann", None).await;
    assert_eq!(info.status, 200, "{}", info.text());
    let info = info.json();
    assert_eq!(info["user_info"]["user_email"], "ann@example.com");
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    assert_eq!(info["keys"][0]["team_id"], "ops");
    assert!(!info.to_string().contains(&ann_key));
    assert_eq!(info["teams"][0]["team_id"], "ops");
    assert!(info["user_info"]["spend"].is_f64());
    gw.admin("/user/info?user_id=nobody", None)
        .await
        .assert_error(404, "invalid_request_error");

    // Self-service: a user's key reads its own user, and nobody else's.
    let own = gw.admin_as(&ann_key, "/user/info", None).await;
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json()["user_id"], "ann");
    assert_eq!(
        gw.admin_as(&ann_key, "/user/info?user_id=ann", None)
            .await
            .status,
        200
    );
    gw.admin_as(&ann_key, "/user/info?user_id=bob", None)
        .await
        .assert_error(403, "permission_error");
    let teamless = gw.new_key(json!({})).await;
    gw.admin_as(&teamless, "/user/info", None)
        .await
        .assert_error(403, "permission_error");
    // Attack: a valid key on the admin routes.
    for (path, body) in [
        ("/user/new", Some(json!({"user_id": "mallory"}))),
        (
            "/user/update",
            Some(json!({"user_id": "ann", "user_role": "proxy_admin"})),
        ),
        ("/user/delete", Some(json!({"user_ids": ["bob"]}))),
        ("/user/list", None),
    ] {
        gw.admin_as(&ann_key, path, body)
            .await
            .assert_error(403, "permission_error");
    }
    assert_eq!(
        gw.admin("/user/info?user_id=ann", None).await.json()["user_info"]["user_role"],
        "internal_user",
        "a refused update changed nothing"
    );

    // Update and list.
    let updated = gw
        .admin(
            "/user/update",
            Some(json!({"user_id": "bob", "user_alias": "Bob", "max_budget": 1.5})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["data"]["user_alias"], "Bob");
    assert_eq!(updated.json()["data"]["user_role"], "internal_user_viewer");
    gw.admin("/user/update", Some(json!({"user_id": "nobody"})))
        .await
        .assert_error(404, "invalid_request_error");
    let listed = gw.admin("/user/list?page=1&page_size=1", None).await.json();
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["total_pages"], 2);
    assert_eq!(listed["users"].as_array().unwrap().len(), 1);
    assert_eq!(listed["users"][0]["user_id"], "ann");
    gw.admin("/user/list?page=x", None)
        .await
        .assert_error(400, "invalid_request_error");

    // Delete: every user must exist; the user's keys go, and it leaves its teams.
    gw.admin("/user/delete", Some(json!({"user_ids": ["ann", "nobody"]})))
        .await
        .assert_error(404, "invalid_request_error");
    assert_eq!(gw.ask(&ann_key).await.status, 200, "nothing deleted");
    let deleted = gw
        .admin("/user/delete", Some(json!({"user_ids": ["ann"]})))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        deleted.json(),
        json!({"deleted_users": ["ann"], "deleted_keys": 1})
    );
    gw.ask(&ann_key)
        .await
        .assert_error(401, "authentication_error");
    let team = gw.admin("/team/info?team_id=ops", None).await.json();
    assert_eq!(team["team_info"]["members_with_roles"], json!([]));
    assert_eq!(gw.ask(&bob_key).await.status, 200, "other users' keys stay");
}

/// A user's `rpm_limit` and `max_budget` hold across all of its keys (LiteLLM's user limits):
/// a second key of the same user cannot get around them, whole or streamed; another user's key
/// is not affected; the refusals never reach Bedrock.
#[tokio::test]
async fn a_users_limits_hold_across_its_keys() {
    use gateway_tests::harness::SONNET;
    let table = moto().new_table("compat-user-limits").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    gw.start_of_a_minute();
    let made = gw
        .admin("/user/new", Some(json!({"user_id": "cap", "rpm_limit": 2})))
        .await
        .json();
    let first = made["key"].as_str().unwrap().to_owned();
    let second = gw.new_key(json!({"user_id": "cap"})).await;
    assert_eq!(gw.ask(&first).await.status, 200);
    assert_eq!(gw.ask(&second).await.status, 200);
    let refused = gw.ask(&second).await;
    let body = refused.assert_error(429, "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user cap"),
        "{body}"
    );
    let streamed = gw
        .ask_with(
            &first,
            json!({"model": "claude-3-sonnet", "stream": true, "max_tokens": 4,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed.status, 429, "{}", streamed.text());
    assert_eq!(gw.gw.fake.calls(SONNET), 2);
    let other = gw.new_key(json!({"user_id": "someone-else"})).await;
    assert_eq!(gw.ask(&other).await.status, 200);

    // A budget below one request's reservation: every key of the user is refused.
    gw.admin(
        "/user/new",
        Some(json!({"user_id": "broke", "max_budget": 0.0000001})),
    )
    .await;
    let broke = gw.new_key(json!({"user_id": "broke"})).await;
    let body = gw.ask(&broke).await.assert_error(429, "budget_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user broke"),
        "{body}"
    );
    assert_eq!(gw.gw.fake.calls(SONNET), 3);
}
