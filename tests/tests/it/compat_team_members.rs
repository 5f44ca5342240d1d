//! LiteLLM's team membership calls (issue 23, item 4, in part): `/team/member_add`,
//! `/team/member_delete` and `/team/delete` (which deletes the team's keys too, as LiteLLM
//! does), master key only, against the DynamoDB store in moto.
#![allow(clippy::unwrap_used)]

use gateway_tests::keys::{moto, settings, Instance};
use serde_json::json;

#[tokio::test]
async fn members_come_and_go_and_a_deleted_team_takes_its_keys() {
    let table = moto().new_table("compat-members").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    assert_eq!(
        gw.admin("/team/new", Some(json!({"team_id": "ops"})))
            .await
            .status,
        200
    );
    let added = gw
        .admin(
            "/team/member_add",
            Some(json!({"team_id": "ops", "member": {"role": "admin", "user_id": "ann"}})),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text());
    let listed = gw
        .admin(
            "/team/member_add",
            Some(json!({"team_id": "ops", "member": [{"user_id": "bob"}, {"user_id": "ann", "role": "user"}]})),
        )
        .await
        .json();
    assert_eq!(
        listed["members_with_roles"],
        json!([{"user_id": "bob", "role": "user"}, {"user_id": "ann", "role": "user"}])
    );
    let info = gw.admin("/team/info?team_id=ops", None).await.json();
    assert_eq!(
        info["team_info"]["members_with_roles"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let removed = gw
        .admin(
            "/team/member_delete",
            Some(json!({"team_id": "ops", "user_id": "bob"})),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(
        removed.json()["members_with_roles"],
        json!([{"user_id": "ann", "role": "user"}])
    );
    gw.admin(
        "/team/member_delete",
        Some(json!({"team_id": "ops", "user_id": "nobody"})),
    )
    .await
    .assert_error(404, "invalid_request_error");
    gw.admin(
        "/team/member_add",
        Some(json!({"team_id": "missing", "member": {"user_id": "x"}})),
    )
    .await
    .assert_error(404, "invalid_request_error");
    gw.admin(
        "/team/member_add",
        Some(json!({"team_id": "ops", "member": {"role": "user"}})),
    )
    .await
    .assert_error(400, "invalid_request_error");
    // LiteLLM's team roles are `admin` and `user`.
    gw.admin(
        "/team/member_add",
        Some(json!({"team_id": "ops", "member": {"user_id": "x", "role": "owner"}})),
    )
    .await
    .assert_error(400, "invalid_request_error");

    let key = gw.new_key(json!({"team_id": "ops"})).await;
    let outsider = gw.new_key(json!({})).await;
    // Not for a virtual key, even the team's own.
    for path in ["/team/member_add", "/team/member_delete", "/team/delete"] {
        gw.admin_as(
            &key,
            path,
            Some(json!({"team_id": "ops", "team_ids": ["ops"]})),
        )
        .await
        .assert_error(403, "permission_error");
    }
    gw.admin(
        "/team/delete",
        Some(json!({"team_ids": ["ops", "missing"]})),
    )
    .await
    .assert_error(404, "invalid_request_error");
    assert_eq!(
        gw.ask(&key).await.status,
        200,
        "nothing deleted by a refused call"
    );
    let deleted = gw
        .admin("/team/delete", Some(json!({"team_ids": ["ops"]})))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        deleted.json(),
        json!({"deleted_teams": ["ops"], "deleted_keys": 1})
    );
    gw.admin("/team/info?team_id=ops", None)
        .await
        .assert_error(404, "invalid_request_error");
    gw.ask(&key).await.assert_error(401, "authentication_error");
    assert_eq!(gw.ask(&outsider).await.status, 200, "other keys stay");
}
