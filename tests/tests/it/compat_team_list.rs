//! LiteLLM's team listings against the DynamoDB store (moto): `GET /team/list` (every team, or
//! a user's teams with `user_id`) and `GET /v2/team/list` (filters, partial alias match, sort,
//! pages, clear 400s), master key only: a team's own key cannot list teams.
#![allow(clippy::unwrap_used)]

use gateway_tests::keys::{moto, settings, Instance};
use serde_json::{json, Value};

fn ids(teams: &Value) -> Vec<&str> {
    teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn teams_are_listed_filtered_sorted_and_paged() {
    let table = moto().new_table("compat-team-list").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    for (id, alias) in [
        ("alpha", "Platform Alpha"),
        ("beta", "Data Beta"),
        ("gamma", "platform gamma"),
    ] {
        let made = gw
            .admin(
                "/team/new",
                Some(json!({"team_id": id, "team_alias": alias})),
            )
            .await;
        assert_eq!(made.status, 200, "{}", made.text());
    }
    for team in ["alpha", "gamma"] {
        let added = gw
            .admin(
                "/team/member_add",
                Some(json!({"team_id": team, "member": {"role": "user", "user_id": "ann"}})),
            )
            .await;
        assert_eq!(added.status, 200, "{}", added.text());
    }

    let all = gw.admin("/team/list", None).await;
    assert_eq!(all.status, 200, "{}", all.text());
    let all = all.json();
    assert_eq!(
        ids(&all),
        ["alpha", "beta", "gamma"],
        "created order, ties by id"
    );
    assert_eq!(all[0]["team_alias"], "Platform Alpha");
    assert_eq!(all[0]["spend"], 0.0);
    let anns = gw.admin("/team/list?user_id=ann", None).await.json();
    assert_eq!(ids(&anns), ["alpha", "gamma"]);
    let nobody = gw.admin("/team/list?user_id=zed", None).await.json();
    assert_eq!(nobody, json!([]));

    let first = gw.admin("/v2/team/list?page_size=2", None).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert_eq!(ids(&first["teams"]), ["alpha", "beta"]);
    assert_eq!(
        (
            &first["total"],
            &first["page"],
            &first["page_size"],
            &first["total_pages"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(2))
    );
    let second = gw
        .admin("/v2/team/list?page_size=2&page=2", None)
        .await
        .json();
    assert_eq!(ids(&second["teams"]), ["gamma"]);
    let past = gw
        .admin("/v2/team/list?page_size=2&page=9", None)
        .await
        .json();
    assert_eq!((ids(&past["teams"]).len(), &past["total"]), (0, &json!(3)));

    let by_id_desc = gw
        .admin("/v2/team/list?sort_by=team_id&sort_order=desc", None)
        .await
        .json();
    assert_eq!(ids(&by_id_desc["teams"]), ["gamma", "beta", "alpha"]);
    let by_alias = gw
        .admin("/v2/team/list?sort_by=team_alias", None)
        .await
        .json();
    assert_eq!(ids(&by_alias["teams"]), ["beta", "alpha", "gamma"]);
    let platform = gw
        .admin("/v2/team/list?team_alias=PLATFORM", None)
        .await
        .json();
    assert_eq!(
        ids(&platform["teams"]),
        ["alpha", "gamma"],
        "partial, any case"
    );
    let one = gw.admin("/v2/team/list?team_id=beta", None).await.json();
    assert_eq!(
        (ids(&one["teams"]), &one["total"]),
        (vec!["beta"], &json!(1))
    );
    let anns = gw
        .admin("/v2/team/list?user_id=ann&team_alias=gamma", None)
        .await
        .json();
    assert_eq!(ids(&anns["teams"]), ["gamma"]);
    let capped = gw
        .admin("/v2/team/list?page_size=100000", None)
        .await
        .json();
    assert_eq!(capped["page_size"], 100);
}

#[tokio::test]
async fn bad_parameters_are_400s_and_only_the_master_key_lists_teams() {
    let table = moto().new_table("compat-team-list-errors").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    assert_eq!(
        gw.admin("/team/new", Some(json!({"team_id": "ops"})))
            .await
            .status,
        200
    );
    for (query, param) in [
        ("sort_by=spend", "sort_by"),
        ("sort_order=sideways", "sort_order"),
        ("page=first", "page"),
        ("page_size=-1", "page_size"),
    ] {
        let res = gw.admin(&format!("/v2/team/list?{query}"), None).await;
        let err = res.assert_error(400, "invalid_request_error");
        assert_eq!(err["error"]["param"], param, "{query}");
    }
    // A key of the team itself may read its own /team/info, never the list of teams.
    let member = gw.new_key(json!({"team_id": "ops"})).await;
    for path in ["/team/list", "/v2/team/list", "/team/list?user_id=ann"] {
        let refused = gw.admin_as(&member, path, None).await;
        let err = refused.assert_error(403, "permission_error");
        assert_eq!(err["error"]["code"], "admin_only", "{path}");
        assert!(
            !refused.text().contains("\"team_id\""),
            "{path}: nothing listed"
        );
    }
    let own = gw.admin_as(&member, "/team/info", None).await;
    assert_eq!(own.status, 200, "{}", own.text());
}
