//! The key and team endpoints (`/key/*`, `/team/*`): thin handlers over [`KeyAdmin`], each
//! behind the admin guard.

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

use super::{admin_error, master_only, AdminError, KeyAdmin};
use crate::gateway::Gateway;
use crate::http::body::parse_json;
use crate::http::ApiError;

/// The key and team routes.
pub(super) fn key_and_team_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/key/generate", post(generate_key))
        .route("/key/info", get(key_info))
        .route("/key/update", post(update_key))
        .route("/key/delete", post(delete_keys))
        .route("/team/new", post(new_team))
        .route("/team/info", get(team_info))
        .route("/team/update", post(update_team))
        .route("/team/list", get(list_teams))
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

async fn key_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    match required(&query, "key") {
        Ok(key) => answer(KeyAdmin::new(gateway.authenticator()).key_info(key).await),
        Err(err) => err.into_response(),
    }
}

async fn team_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    match required(&query, "team_id") {
        Ok(id) => answer(KeyAdmin::new(gateway.authenticator()).team_info(id).await),
        Err(err) => err.into_response(),
    }
}

async fn list_teams(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    answer(KeyAdmin::new(gateway.authenticator()).list_teams().await)
}
