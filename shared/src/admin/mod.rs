//! LiteLLM's admin API, in one place: keys (`/key/*`), teams (`/team/*`) and spend
//! (`/spend/logs`, `/spend/report`, `/global/spend/report`).
//!
//! One guard ([`master_only`]): only the master key passes; another valid key gets 403
//! `permission_error` (code `admin_only`), no key or an unknown one 401. One error mapping
//! ([`AdminError`] to OpenAI's error shape): a bad field is a 400 naming it, a missing key or
//! team a 404, a store that does not answer the documented 503 `dependency_unavailable`.
//! `operations` does the work apart from HTTP; `routes` and `spend` are the thin handlers.

mod fields;
mod operations;
mod routes;
mod spend;
mod views;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use http::{HeaderMap, StatusCode};

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::http::credentials::presented_key;
use crate::http::ApiError;

pub use operations::{AdminError, KeyAdmin};
pub use spend::{DEFAULT_LOG_LIMIT, DEFAULT_REPORT_DAYS, MAX_LOG_LIMIT};

/// Every admin route, to merge into the API's router.
pub fn routes() -> Router<Arc<Gateway>> {
    routes::key_and_team_routes()
        .route("/spend/logs", get(spend::logs))
        .route("/spend/report", get(spend::report))
        .route("/global/spend/report", get(spend::global_report))
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
