//! Thin handlers: authenticate, parse, call the gateway, shape the answer.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use super::body::parse_json;
use super::sse;
use crate::chat;
use crate::deadline::invocation_deadline;
use crate::error::ApiError;
use crate::gateway::{Gateway, RequestContext};
use crate::openai::response::unix_now;
use crate::openai::{ChatCompletionRequest, ChatCompletionResponse};

pub async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    lambda: Option<Extension<lambda_http::Context>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // In Lambda the call is abandoned before the invocation times out, so the client gets a 504
    // in OpenAI's shape rather than the platform's bare timeout.
    let deadline = lambda
        .and_then(|Extension(context)| invocation_deadline(context.deadline, SystemTime::now()));
    chat_completion(&gateway, &headers, body, deadline)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn chat_completion(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Response, ApiError> {
    let principal = gateway.authenticate(headers)?;
    let request = chat::from_openai(parse_json::<ChatCompletionRequest>(body)?)?;
    let mut ctx = RequestContext::new(principal);
    ctx.deadline = deadline;
    if request.stream {
        let outcome = gateway.chat_stream(&ctx, &request).await?;
        return Ok(sse::response(
            ctx.request_id,
            request.model,
            request.include_usage,
            outcome.events,
        ));
    }
    let outcome = gateway.chat(&ctx, &request).await?;
    let body = ChatCompletionResponse::new(
        &ctx.request_id,
        unix_now(),
        &request.model,
        &outcome.response,
    );
    let mut response = Json(body).into_response();
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    Ok(response)
}

pub async fn models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(err) = gateway.authenticate(&headers) {
        return err.into_response();
    }
    let data: Vec<_> = gateway.model_names().map(model_object).collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn model(
    State(gateway): State<Arc<Gateway>>,
    Path(model): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(err) = gateway.authenticate(&headers) {
        return err.into_response();
    }
    match gateway.model_names().find(|name| *name == model) {
        Some(name) => Json(model_object(name)).into_response(),
        None => ApiError::model_not_found(&model).into_response(),
    }
}

fn model_object(id: &str) -> serde_json::Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "aws-bedrock"})
}

pub async fn health() -> Response {
    Json(json!({"status": "healthy"})).into_response()
}

pub async fn readiness(State(gateway): State<Arc<Gateway>>) -> Response {
    let models = gateway.model_names().count();
    Json(json!({"status": "ready", "models": models})).into_response()
}

pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "Unknown path. See /v1/chat/completions and /v1/models.",
    )
    .with_code("not_found")
    .into_response()
}

pub async fn method_not_allowed() -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "This method is not allowed on this path.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}
