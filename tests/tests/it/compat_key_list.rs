//! LiteLLM's `GET /key/list` and `POST /key/block` / `/key/unblock` against the DynamoDB store
//! (moto): filters, newest first, pages, hashes or full objects and never a key in plain text;
//! a user's key lists its user's keys and nobody else's; blocking takes effect at once on the
//! instance that blocked; attacks by valid but restricted keys.
#![allow(clippy::unwrap_used)]

use gateway_tests::keys::{moto, settings, Instance};
use serde_json::{json, Value};

fn hashes(listing: &Value) -> Vec<String> {
    listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_are_listed_filtered_paged_and_never_in_plain_text() {
    let table = moto().new_table("compat-key-list").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    assert_eq!(
        gw.admin("/team/new", Some(json!({"team_id": "ops"})))
            .await
            .status,
        200
    );
    let ann_1 = gw
        .new_key(json!({"user_id": "ann", "key_alias": "ann-ci"}))
        .await;
    let ann_2 = gw
        .new_key(json!({"user_id": "ann", "team_id": "ops"}))
        .await;
    let bob = gw
        .new_key(json!({"user_id": "bob", "team_id": "ops"}))
        .await;
    let loose = gw.new_key(json!({})).await;
    let mut h = Vec::new();
    for key in [&ann_1, &ann_2, &bob, &loose] {
        let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
        h.push(info["info"]["token"].as_str().unwrap().to_owned());
    }
    let [h_ann_1, h_ann_2, h_bob, h_loose]: [String; 4] = h.try_into().unwrap();

    // Every key, newest first, as hashes; no plain key anywhere in the answer.
    let all = gw.admin("/key/list", None).await;
    assert_eq!(all.status, 200, "{}", all.text());
    let all = all.json();
    assert_eq!(all["total_count"], 4);
    assert_eq!(all["current_page"], 1);
    assert_eq!(all["total_pages"], 1);
    let listed = hashes(&all);
    assert_eq!(listed.len(), 4);
    for key in [&ann_1, &ann_2, &bob, &loose] {
        assert!(!all.to_string().contains(key.as_str()));
    }
    assert_eq!(
        listed.iter().collect::<std::collections::BTreeSet<_>>(),
        [&h_ann_1, &h_ann_2, &h_bob, &h_loose].into_iter().collect()
    );
    // Filters.
    let gw = &gw;
    let by = |query: &str| {
        let path = format!("/key/list?{query}");
        async move { hashes(&gw.admin(&path, None).await.json()) }
    };
    let mut ann = by("user_id=ann").await;
    ann.sort();
    let mut want = vec![h_ann_1.clone(), h_ann_2.clone()];
    want.sort();
    assert_eq!(ann, want);
    let mut ops = by("team_id=ops").await;
    ops.sort();
    let mut want = vec![h_ann_2.clone(), h_bob.clone()];
    want.sort();
    assert_eq!(ops, want);
    assert_eq!(by("user_id=ann&team_id=ops").await, vec![h_ann_2.clone()]);
    assert_eq!(by("key_alias=ann-ci").await, vec![h_ann_1.clone()]);
    assert_eq!(by(&format!("key_hash={h_bob}")).await, vec![h_bob.clone()]);
    assert!(by("user_id=nobody").await.is_empty());
    // Pages of one: four pages, each key once.
    let mut paged = Vec::new();
    for page in 1..=4 {
        let one = gw
            .admin(&format!("/key/list?page={page}&size=1"), None)
            .await
            .json();
        assert_eq!(one["total_pages"], 4);
        paged.extend(hashes(&one));
    }
    assert_eq!(paged, listed, "pages in the same order as the whole list");
    assert!(hashes(&gw.admin("/key/list?page=5&size=1", None).await.json()).is_empty());
    gw.admin("/key/list?size=x", None)
        .await
        .assert_error(400, "invalid_request_error");
    // Full objects: what /key/info shows, still without the plain key.
    let full = gw
        .admin("/key/list?user_id=bob&return_full_object=true", None)
        .await
        .json();
    assert_eq!(full["keys"][0]["token"], h_bob.as_str());
    assert_eq!(full["keys"][0]["team_id"], "ops");
    assert_eq!(full["keys"][0]["user_id"], "bob");
    assert!(full["keys"][0]["spend"].is_number());
    assert!(!full.to_string().contains(bob.as_str()));

    // Self-service: a user's key lists its user's keys only.
    let own = gw.admin_as(&ann_2, "/key/list", None).await;
    assert_eq!(own.status, 200, "{}", own.text());
    let mut own = hashes(&own.json());
    own.sort();
    let mut want = vec![h_ann_1.clone(), h_ann_2.clone()];
    want.sort();
    assert_eq!(own, want);
    assert_eq!(
        hashes(
            &gw.admin_as(&ann_2, "/key/list?team_id=ops", None)
                .await
                .json()
        ),
        vec![h_ann_2.clone()],
        "a team filter does not widen a user's listing"
    );
    // Attacks: another user's keys, or a key with no user.
    gw.admin_as(&ann_1, "/key/list?user_id=bob", None)
        .await
        .assert_error(403, "permission_error");
    gw.admin_as(&loose, "/key/list", None)
        .await
        .assert_error(403, "permission_error");
}

#[tokio::test]
async fn blocked_keys_are_refused_until_unblocked_and_only_the_master_key_blocks() {
    let table = moto().new_table("compat-key-block").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let key = gw.new_key(json!({"user_id": "ann"})).await;
    let other = gw.new_key(json!({"user_id": "ann"})).await;
    assert_eq!(gw.ask(&key).await.status, 200);

    // Attack: a valid key may not block or unblock, its own or another.
    for path in ["/key/block", "/key/unblock"] {
        gw.admin_as(&other, path, Some(json!({"key": key})))
            .await
            .assert_error(403, "permission_error");
    }
    let blocked = gw.admin("/key/block", Some(json!({"key": key}))).await;
    assert_eq!(blocked.status, 200, "{}", blocked.text());
    assert_eq!(blocked.json()["blocked"], true);
    gw.ask(&key).await.assert_error(401, "authentication_error");
    assert_eq!(gw.ask(&other).await.status, 200, "only that key");
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    assert_eq!(info["info"]["blocked"], true);

    // By its hash, as LiteLLM's UI sends it.
    let hash = info["info"]["token"].as_str().unwrap().to_owned();
    let unblocked = gw.admin("/key/unblock", Some(json!({"key": hash}))).await;
    assert_eq!(unblocked.status, 200, "{}", unblocked.text());
    assert_eq!(unblocked.json()["blocked"], false);
    assert_eq!(gw.ask(&key).await.status, 200);

    gw.admin("/key/block", Some(json!({"key": "sk-no-such-key-123"})))
        .await
        .assert_error(404, "invalid_request_error");
    gw.admin("/key/block", Some(json!({})))
        .await
        .assert_error(400, "invalid_request_error");
}
