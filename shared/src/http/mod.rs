//! The OpenAI-compatible HTTP API (and Anthropic's Messages API): routes, handlers, and the
//! three ways to serve them.

pub(crate) mod body;
pub mod credentials;
mod done_signal;
pub mod error;
mod handlers;
pub mod litellm_headers;
pub mod messages;
pub mod origin_verify;
pub mod serve;
mod sse;

#[cfg(test)]
pub(crate) use body::parse_json;
pub use error::ApiError;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::gateway::Gateway;

/// Requests above this are refused with a 413 (Lambda's own limit is 6 MB).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The whole API as one axum router; the same value serves Lambda and the local server.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/chat/completions", post(handlers::chat_completions))
        .route(
            "/v1/messages",
            post(messages::messages).fallback(messages::method_not_allowed),
        )
        .route(
            "/v1/messages/count_tokens",
            post(messages::count_tokens).fallback(messages::method_not_allowed),
        )
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/embeddings", post(handlers::embeddings))
        .route("/v1/models", get(handlers::models))
        .route("/models", get(handlers::models))
        .route("/v1/models/{model}", get(handlers::model))
        .route("/models/{model}", get(handlers::model))
        .route("/health", get(crate::admin::health))
        .route("/health/liveness", get(handlers::health))
        .route("/health/liveliness", get(handlers::health))
        .route("/health/readiness", get(handlers::readiness))
        .merge(crate::admin::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}
