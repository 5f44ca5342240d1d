//! LiteLLM's admin API, in one place: keys (`/key/*`, with `/key/list` in `key_list`), teams (`/team/*`, listings in `team_list`), users (`/user/*`), spend
//! (`/spend/logs`, `/spend/report`, `/global/spend/report`) and model discovery
//! (`/model/info`, `/v2/model/info`, `/model_group/info`).
//!
//! One guard ([`master_only`]): only the master key passes; another valid key gets 403
//! `permission_error` (code `admin_only`), no key or an unknown one 401. Self-service, as
//! LiteLLM allows it: a virtual key reads its own `/key/info` and its own team's `/team/info`
//! ([`caller`]); asking about another key or team is a 403 before any lookup, so a key cannot
//! probe which keys exist. One error mapping
//! ([`AdminError`] to OpenAI's error shape): a bad field is a 400 naming it, a missing key or
//! team a 404, a store that does not answer the documented 503 `dependency_unavailable`.
//! `operations` does the work apart from HTTP; `routes` and `spend` are the thin handlers.

mod fields;
mod health;
mod key_list;
mod model_admin;
mod models;
mod operations;
mod routes;
mod spend;
mod team_list;
mod users;
mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use http::{HeaderMap, StatusCode};

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::http::credentials::presented_key;
use crate::http::ApiError;
use crate::keys::Principal;

pub use health::{health, CHECK_CONCURRENCY, CHECK_TIMEOUT};
pub use key_list::{KeyFilter, DEFAULT_KEY_PAGE_SIZE, MAX_KEY_PAGE_SIZE};
pub use operations::{AdminError, KeyAdmin};
pub use spend::{DEFAULT_LOG_LIMIT, DEFAULT_REPORT_DAYS, MAX_LOG_LIMIT};
pub use team_list::{TeamFilter, TeamOrder, DEFAULT_TEAM_PAGE_SIZE, MAX_TEAM_PAGE_SIZE};

/// Every admin route, to merge into the API's router.
pub fn routes() -> Router<Arc<Gateway>> {
    routes::key_and_team_routes()
        .route("/spend/logs", get(spend::logs))
        .route("/spend/report", get(spend::report))
        .route("/global/spend/report", get(spend::global_report))
        .route("/model/info", get(models::model_info))
        .route("/v1/model/info", get(models::model_info))
        .route("/v2/model/info", get(models::model_info))
        .route("/model_group/info", get(models::model_group_info))
        .route("/health/models", get(health::check_models))
        .route("/model/new", post(model_admin::new_model))
        .route("/model/update", post(model_admin::update_model))
        .route("/model/delete", post(model_admin::delete_model))
}

/// The one admin guard: only the master key passes.
pub(crate) async fn master_only(gateway: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let principal = gateway.authenticate(presented_key(headers)).await?;
    if principal.is_master() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        "Only the master key may call the admin API (keys, teams and spend).",
    )
    .with_code("admin_only"))
}

/// The caller of a self-service route (`/key/info`, `/team/info`): any valid key; the
/// handler decides what it may see.
pub(crate) async fn caller(gateway: &Gateway, headers: &HeaderMap) -> Result<Principal, ApiError> {
    Ok(gateway.authenticate(presented_key(headers)).await?)
}

/// The 403 for a key asking about what is not its own (LiteLLM's wording and status).
pub(crate) fn not_yours(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        format!("You are not allowed to access this {what}'s info: only your own, or with the master key."),
    )
    .with_code("not_allowed")
}

/// The one error mapping of the admin API.
pub(crate) fn admin_error(err: AdminError) -> ApiError {
    match err {
        AdminError::BadRequest { message, param } => {
            let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
            match param {
                Some(param) => error.with_param(param),
                None => error,
            }
        }
        AdminError::NotFound(message) => {
            ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
                .with_code("not_found")
        }
        AdminError::Store(err) => {
            tracing::error!(error = %err, "admin call failed in the key store");
            GatewayError::DependencyUnavailable("key store".into()).into()
        }
        AdminError::Unavailable(err) => {
            tracing::error!(error = %err, "admin call failed in the usage store");
            GatewayError::DependencyUnavailable("usage store".into()).into()
        }
    }
}
