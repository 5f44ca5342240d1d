//! The key and team endpoints (`/key/*`, `/team/*`): thin handlers over [`KeyAdmin`], each
//! behind the admin guard, but for the self-service reads (`/key/info`, `/team/info`,
//! `/user/info`). The user endpoints (`/user/*`) too.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::key_list::{KeyFilter, DEFAULT_KEY_PAGE_SIZE};
use super::team_list::{TeamFilter, TeamOrder, DEFAULT_TEAM_PAGE_SIZE};
use super::users::DEFAULT_USER_PAGE_SIZE;
use super::{admin_error, caller, master_only, not_yours, AdminError, KeyAdmin};
use crate::gateway::Gateway;
use crate::http::body::parse_json;
use crate::http::ApiError;
use crate::keys::KeyHash;

/// The key and team routes.
pub(super) fn key_and_team_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/key/generate", post(generate_key))
        .route("/key/info", get(key_info))
        .route("/key/update", post(update_key))
        .route("/key/delete", post(delete_keys))
        .route("/key/list", get(list_keys))
        .route("/key/block", post(block_key))
        .route("/key/unblock", post(unblock_key))
        .route("/team/new", post(new_team))
        .route("/team/info", get(team_info))
        .route("/team/update", post(update_team))
        .route("/team/list", get(list_teams))
        .route("/v2/team/list", get(list_teams_page))
        .route("/team/member_add", post(add_members))
        .route("/team/member_delete", post(delete_member))
        .route("/team/delete", post(delete_teams))
        .route("/user/new", post(new_user))
        .route("/user/info", get(user_info))
        .route("/user/update", post(update_user))
        .route("/user/delete", post(delete_users))
        .route("/user/list", get(list_users))
}

fn answer(result: Result<Value, AdminError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => admin_error(err).into_response(),
    }
}

/// Runs `op` with a JSON object body once the master key is checked.
async fn with_body<F>(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    op: F,
) -> Response
where
    F: AsyncFnOnce(&KeyAdmin<'_>, &Map<String, Value>) -> Result<Value, AdminError>,
{
    if let Err(err) = master_only(gateway, headers).await {
        return err.into_response();
    }
    let body = match parse_json::<Map<String, Value>>(body) {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    answer(op(&KeyAdmin::new(gateway.authenticator()), &body).await)
}

/// A required query parameter, else a 400 naming it.
fn required<'q>(
    query: &'q HashMap<String, String>,
    name: &'static str,
) -> Result<&'q str, ApiError> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("The query parameter `{name}` is required."),
            )
            .with_param(name)
        })
}

async fn generate_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.generate_key(body).await
    })
    .await
}

async fn update_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.update_key(body).await
    })
    .await
}

async fn delete_keys(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.delete_keys(body).await
    })
    .await
}

async fn new_team(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.new_team(body).await
    })
    .await
}

async fn update_team(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.update_team(body).await
    })
    .await
}

/// `GET /key/info[?key=]`: the master key reads any key (`key` required); a virtual key reads
/// itself (with its own `key`, plain or hashed, or with none) and gets 403 for any other.
async fn key_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    let admin = KeyAdmin::new(gateway.authenticator());
    if principal.is_master() {
        return match required(&query, "key") {
            Ok(key) => answer(admin.key_info(key).await),
            Err(err) => err.into_response(),
        };
    }
    let Some(own) = principal.key_hash.as_ref() else {
        return not_yours("key").into_response();
    };
    match query
        .get("key")
        .map(String::as_str)
        .filter(|k| !k.is_empty())
    {
        None => answer(admin.key_info(own.as_str()).await),
        Some(given) if is_same_key(given, own) => answer(admin.key_info(given).await),
        Some(_) => not_yours("key").into_response(),
    }
}

/// Whether `given` (a key in plain text or its hash) names the key hashed `own`.
fn is_same_key(given: &str, own: &KeyHash) -> bool {
    KeyHash::parse(given).is_some_and(|h| &h == own) || &KeyHash::of(given) == own
}

/// `GET /team/info?team_id=`: the master key reads any team; a key of a team reads its own
/// (`team_id` may then be left out) and gets 403 for any other.
async fn team_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    let admin = KeyAdmin::new(gateway.authenticator());
    if principal.is_master() {
        return match required(&query, "team_id") {
            Ok(id) => answer(admin.team_info(id).await),
            Err(err) => err.into_response(),
        };
    }
    let own = principal.key_hash.as_ref().and(principal.team.as_deref());
    let asked = query
        .get("team_id")
        .map(String::as_str)
        .filter(|t| !t.is_empty());
    match (own, asked) {
        (Some(own), None) => answer(admin.team_info(own).await),
        (Some(own), Some(asked)) if asked == own => answer(admin.team_info(own).await),
        _ => not_yours("team").into_response(),
    }
}

/// `GET /team/list[?user_id=]`, master key only: every team, or those `user_id` is a member of.
async fn list_teams(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    let filter = TeamFilter {
        user_id: query_text(&query, "user_id"),
        ..TeamFilter::default()
    };
    answer(
        KeyAdmin::new(gateway.authenticator())
            .list_teams(&filter)
            .await,
    )
}

/// `GET /v2/team/list[?user_id=&team_id=&team_alias=&page=&page_size=&sort_by=&sort_order=]`,
/// master key only. `sort_by`: `created_at` (default), `team_id` or `team_alias`; `sort_order`:
/// `asc` (default) or `desc`; anything else is a 400 naming the parameter.
async fn list_teams_page(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    let filter = TeamFilter {
        user_id: query_text(&query, "user_id"),
        team_id: query_text(&query, "team_id"),
        team_alias: query_text(&query, "team_alias"),
    };
    let order = match query.get("sort_by").map(String::as_str) {
        None | Some("") => TeamOrder::default(),
        Some(by) => match TeamOrder::parse(by) {
            Some(order) => order,
            None => {
                return bad_query("sort_by", "created_at, team_id or team_alias").into_response()
            }
        },
    };
    let descending = match query.get("sort_order").map(String::as_str) {
        None | Some("" | "asc") => false,
        Some("desc") => true,
        Some(_) => return bad_query("sort_order", "asc or desc").into_response(),
    };
    let (page, size) = match paging(&query, "page_size", DEFAULT_TEAM_PAGE_SIZE) {
        Ok(paging) => paging,
        Err(err) => return err.into_response(),
    };
    answer(
        KeyAdmin::new(gateway.authenticator())
            .list_teams_page(&filter, order, descending, page, size)
            .await,
    )
}

/// A query parameter's value, `None` when absent or empty.
fn query_text(query: &HashMap<String, String>, name: &str) -> Option<String> {
    query.get(name).filter(|v| !v.is_empty()).cloned()
}

/// A 400 for a query parameter outside its `allowed` values.
fn bad_query(name: &'static str, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        format!("The query parameter `{name}` must be {allowed}."),
    )
    .with_param(name)
}

async fn add_members(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.add_members(body).await
    })
    .await
}

async fn delete_member(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.delete_member(body).await
    })
    .await
}

async fn delete_teams(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.delete_teams(body).await
    })
    .await
}

async fn new_user(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.new_user(body).await
    })
    .await
}

async fn update_user(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.update_user(body).await
    })
    .await
}

async fn delete_users(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.delete_users(body).await
    })
    .await
}

/// `GET /user/info?user_id=`: the master key reads any user; a key of a user reads its own
/// (`user_id` may then be left out) and gets 403 for any other.
async fn user_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    let admin = KeyAdmin::new(gateway.authenticator());
    if principal.is_master() {
        return match required(&query, "user_id") {
            Ok(id) => answer(admin.user_info(id).await),
            Err(err) => err.into_response(),
        };
    }
    let own = principal.key_hash.as_ref().and(principal.user.as_deref());
    let asked = query
        .get("user_id")
        .map(String::as_str)
        .filter(|u| !u.is_empty());
    match (own, asked) {
        (Some(own), None) => answer(admin.user_info(own).await),
        (Some(own), Some(asked)) if asked == own => answer(admin.user_info(own).await),
        _ => not_yours("user").into_response(),
    }
}

/// `GET /user/list[?page=&page_size=]`, master key only.
async fn list_users(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    let (page, size) = match paging(&query, "page_size", DEFAULT_USER_PAGE_SIZE) {
        Ok(paging) => paging,
        Err(err) => return err.into_response(),
    };
    answer(
        KeyAdmin::new(gateway.authenticator())
            .list_users(page, size)
            .await,
    )
}

/// `page` (from 1) and the page size named `size_name` (LiteLLM's listings differ: `page_size`
/// for users, `size` for keys), each a whole number or a 400 naming it.
fn paging(
    query: &HashMap<String, String>,
    size_name: &'static str,
    default_size: usize,
) -> Result<(usize, usize), ApiError> {
    Ok((
        whole_number(query, "page", 1)?,
        whole_number(query, size_name, default_size)?,
    ))
}

/// A whole-number query parameter, `default` when absent, else a 400 naming it.
fn whole_number(
    query: &HashMap<String, String>,
    name: &'static str,
    default: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("The query parameter `{name}` must be a whole number."),
            )
            .with_param(name)
        }),
    }
}

/// `GET /key/list[?page=&size=&user_id=&team_id=&key_alias=&key_hash=&return_full_object=]`:
/// the master key lists any keys; a virtual key with a user lists that user's keys (LiteLLM's
/// self-service listing: `user_id` may be left out, another user's is a 403); a key without a
/// user gets 403.
async fn list_keys(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    let text = |name: &str| query_text(&query, name);
    let mut filter = KeyFilter {
        user_id: text("user_id"),
        team_id: text("team_id"),
        key_alias: text("key_alias"),
        key_hash: text("key_hash"),
    };
    if !principal.is_master() {
        let own = principal.key_hash.as_ref().and(principal.user.clone());
        match (own, &filter.user_id) {
            (Some(own), Some(asked)) if *asked != own => return not_yours("user").into_response(),
            (Some(own), _) => filter.user_id = Some(own),
            (None, _) => return not_yours("user").into_response(),
        }
    }
    let full = matches!(
        query.get("return_full_object").map(String::as_str),
        Some("true" | "True" | "1")
    );
    let (page, size) = match paging(&query, "size", DEFAULT_KEY_PAGE_SIZE) {
        Ok(paging) => paging,
        Err(err) => return err.into_response(),
    };
    answer(
        KeyAdmin::new(gateway.authenticator())
            .list_keys(&filter, page, size, full)
            .await,
    )
}

async fn block_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.block_key(body, true).await
    })
    .await
}

async fn unblock_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    with_body(&gateway, &headers, body, async |admin, body| {
        admin.block_key(body, false).await
    })
    .await
}
