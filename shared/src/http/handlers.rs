//! Thin handlers: authenticate, parse, run the pipeline, shape the answer.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use tracing::{field, Instrument};

use super::body::parse_json;
use super::credentials::{presented_key, session_id, traceparent};
use super::error::ApiError;
use super::litellm_headers::{apply_request_headers, AnswerHeaders, RequestLimits};
use super::sse;
use crate::deadline::invocation_deadline;
use crate::gateway::{new_request_id, Answer, Gateway, RequestContext};
use crate::keys::{Caller, ParallelPermit};
use crate::openai::response::unix_now;
use crate::openai::{self, ChatCompletionRequest, ChatCompletionResponse};

pub async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    lambda: Option<Extension<lambda_http::Context>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let deadline = lambda_deadline(lambda);
    let request_id = new_request_id();
    let header = HeaderValue::from_str(&request_id).ok();
    let span = request_span(&request_id);
    let mut response = chat_completion(&gateway, &headers, body, deadline, request_id)
        .instrument(span)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    // Errors too, so a failed request can be found in the usage records and logs.
    if let Some(id) = header {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// In Lambda the call is abandoned before the invocation times out, so the client gets a 504
/// in its API's shape rather than the platform's bare timeout.
pub(super) fn lambda_deadline(
    lambda: Option<Extension<lambda_http::Context>>,
) -> Option<tokio::time::Instant> {
    lambda.and_then(|Extension(context)| invocation_deadline(context.deadline, SystemTime::now()))
}

/// The span a model-calling request runs in; `key` and `model` are recorded once known.
pub(super) fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %request_id,
        key = field::Empty,
        model = field::Empty
    )
}

/// Step 1 at the HTTP edge, for every API: the presented key becomes a principal, and the
/// request's context carries it with the deadline, session and caller's trace.
pub(super) async fn admit(
    gateway: &Gateway,
    headers: &HeaderMap,
    deadline: Option<tokio::time::Instant>,
    request_id: String,
) -> Result<RequestContext, crate::error::GatewayError> {
    let principal = gateway.authenticate(presented_key(headers)).await?;
    tracing::Span::current().record("key", field::display(&principal.key_id));
    let mut ctx = RequestContext::new(Caller::Api, principal)
        .with_deadline(deadline)
        .with_session(session_id(headers))
        .with_traceparent(traceparent(headers));
    ctx.request_id = request_id;
    Ok(ctx)
}

/// After the body named `model`: when reading the stored models changed the access groups,
/// the principal (authenticated before the model was known) is authenticated again, so a model
/// added at run time to a key's access group is served from the first request that names it.
pub(super) async fn reauthenticate_if_stale(
    gateway: &Gateway,
    headers: &HeaderMap,
    ctx: &mut RequestContext,
    model: &str,
) -> Result<(), crate::error::GatewayError> {
    if gateway.refresh_models_for(model).await {
        ctx.principal = gateway.authenticate(presented_key(headers)).await?;
    }
    Ok(())
}

async fn chat_completion(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: Option<tokio::time::Instant>,
    request_id: String,
) -> Result<Response, ApiError> {
    let span = tracing::Span::current();
    let mut ctx = admit(gateway, headers, deadline, request_id).await?;
    let mut wire = parse_json::<ChatCompletionRequest>(body)
        .inspect_err(|err| gateway.reject(&ctx, "", err))?;
    let settings = gateway.router_settings();
    let (drop_all, drop_names) = settings.drop_params.for_request(
        &wire.model,
        wire.drop_params,
        wire.additional_drop_params.as_deref().unwrap_or_default(),
    );
    let dropped = openai::drop_params(&mut wire, drop_all, &drop_names);
    if !dropped.is_empty() {
        tracing::debug!(?dropped, "parameters dropped (drop_params)");
    }
    span.record("model", field::display(&wire.model));
    let model = wire.model.clone();
    reauthenticate_if_stale(gateway, headers, &mut ctx, &model).await?;
    ctx.cache = wire.cache.take();
    if let Some(controls) = &ctx.cache {
        controls
            .validate()
            .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    }
    let request = openai::from_openai(wire)
        .and_then(|mut request| {
            apply_request_headers(headers, &mut request.routing)?;
            Ok(request)
        })
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    let include_usage = request.include_usage;
    let limits = RequestLimits::of(&request.routing, settings);
    // `max_parallel_requests`: held until the answer is whole, or with the stream's body.
    let permit = gateway
        .authenticator()
        .hold_parallel(&ctx.principal, ctx.deadline)
        .await
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    match gateway.chat(&ctx, request).await? {
        Answer::Stream(events) => {
            let routing = events.routing().clone();
            let id = ctx.request_id.clone();
            let mut response = holding(
                sse::response(id, model.clone(), include_usage, events),
                permit,
            );
            cache_header(routing.cache.as_deref(), response.headers_mut());
            AnswerHeaders {
                request_id: &ctx.request_id,
                model_group: &model,
                deployment_id: &routing.deployment_id,
                cost: None,
                retries: routing.retries,
                fallbacks: routing.fallbacks.len(),
                overhead: None,
            }
            .write(response.headers_mut());
            limits.write(response.headers_mut());
            Ok(response)
        }
        Answer::Whole(completion) => {
            let body = ChatCompletionResponse::new(
                &ctx.request_id,
                unix_now(),
                &model,
                &completion.response,
            );
            let mut response = Json(body).into_response();
            cache_header(completion.cache.as_ref(), response.headers_mut());
            AnswerHeaders {
                request_id: &ctx.request_id,
                model_group: &model,
                deployment_id: &completion.deployment_id,
                cost: completion.cost,
                retries: completion.retries,
                fallbacks: completion.fallbacks.len(),
                overhead: ctx.started.elapsed().checked_sub(completion.latency),
            }
            .write(response.headers_mut());
            limits.write(response.headers_mut());
            Ok(response)
        }
    }
}

pub async fn embeddings(
    State(gateway): State<Arc<Gateway>>,
    lambda: Option<Extension<lambda_http::Context>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let deadline = lambda
        .and_then(|Extension(context)| invocation_deadline(context.deadline, SystemTime::now()));
    let request_id = new_request_id();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        key = field::Empty,
        model = field::Empty
    );
    let header = HeaderValue::from_str(&request_id).ok();
    let mut response = embedding(&gateway, &headers, body, deadline, request_id)
        .instrument(span)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(id) = header {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

async fn embedding(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: Option<tokio::time::Instant>,
    request_id: String,
) -> Result<Response, ApiError> {
    let span = tracing::Span::current();
    let principal = gateway.authenticate(presented_key(headers)).await?;
    span.record("key", field::display(&principal.key_id));
    let mut ctx = RequestContext::new(Caller::Api, principal)
        .with_deadline(deadline)
        .with_session(session_id(headers))
        .with_traceparent(traceparent(headers));
    ctx.request_id = request_id;
    let mut wire = parse_json::<openai::embeddings::EmbeddingsRequest>(body)
        .inspect_err(|err| gateway.reject(&ctx, "", err))?;
    span.record("model", field::display(&wire.model));
    let model = wire.model.clone();
    reauthenticate_if_stale(gateway, headers, &mut ctx, &model).await?;
    ctx.cache = wire.cache.take();
    if let Some(controls) = &ctx.cache {
        controls
            .validate()
            .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    }
    let (request, encoding) = openai::embeddings::from_openai(wire)
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    // `max_parallel_requests` holds here as on chat completions: no route escapes it.
    let _permit = gateway
        .authenticator()
        .hold_parallel(&ctx.principal, ctx.deadline)
        .await
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    let embedded = gateway.embed(&ctx, request).await?;
    let body = openai::embeddings::EmbeddingsResponse::new(&model, &embedded.response, encoding);
    let mut response = Json(body).into_response();
    cache_header(embedded.cache.as_ref(), response.headers_mut());
    AnswerHeaders {
        request_id: &ctx.request_id,
        model_group: &model,
        deployment_id: &embedded.deployment_id,
        cost: embedded.cost,
        retries: embedded.retries,
        fallbacks: 0,
        overhead: ctx.started.elapsed().checked_sub(embedded.latency),
    }
    .write(response.headers_mut());
    Ok(response)
}

/// LiteLLM's `x-litellm-cache-key` (the key the answer is or was stored under), and
/// `x-litellm-cache-hit`, when the response cache took part.
fn cache_header(status: Option<&crate::cache::CacheStatus>, headers: &mut HeaderMap) {
    let Some(status) = status else {
        return;
    };
    if let Ok(key) = HeaderValue::from_str(&status.key) {
        headers.insert("x-litellm-cache-key", key);
    }
    headers.insert(
        "x-litellm-cache-hit",
        HeaderValue::from_static(if status.hit { "True" } else { "False" }),
    );
}

/// `response` whose body keeps `permit` (its parallel-request slots) until the body ends or
/// is dropped: a stream holds its slots for as long as it runs.
pub(super) fn holding(response: Response, permit: ParallelPermit) -> Response {
    use futures_util::StreamExt;
    response.map(|body| {
        axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _held = &permit;
            chunk
        }))
    })
}

pub async fn models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let principal = match gateway.authenticate(presented_key(&headers)).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    gateway.refresh_models_soon();
    let data: Vec<_> = gateway
        .model_names()
        .filter(|name| principal.may_use(name))
        .map(model_object)
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn model(
    State(gateway): State<Arc<Gateway>>,
    Path(model): Path<String>,
    headers: HeaderMap,
) -> Response {
    let principal = match gateway.authenticate(presented_key(&headers)).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    match gateway
        .model_names()
        .find(|name| *name == model && principal.may_use(name))
    {
        Some(name) => Json(model_object(name)).into_response(),
        None => crate::error::GatewayError::model_not_found(&model).into_response(),
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
    let queue = gateway.after_response().stats();
    let kept = gateway
        .kept_records()
        .map(|(len, limit)| json!({"len": len, "limit": limit}));
    Json(json!({
        "status": "ready",
        "models": models,
        "after_response": {
            "submitted": queue.submitted,
            "written": queue.written,
            "dropped": queue.dropped,
            "failed": queue.failed,
        },
        "kept_usage_records": kept,
    }))
    .into_response()
}

pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "Unknown path. See /v1/chat/completions, /v1/embeddings and /v1/models.",
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
