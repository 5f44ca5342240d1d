//! Anthropic's Messages API at the HTTP edge: `POST /v1/messages` and
//! `/v1/messages/count_tokens`. The same pipeline as chat completions (keys, limits, routing,
//! guardrails, usage, traces); only the wire shapes differ, and every error on these routes is
//! in Anthropic's shape.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};
use tracing::{field, Instrument};

use super::body::parse_json;
use super::error::ApiError;
use super::handlers::{admit, lambda_deadline, reauthenticate_if_stale, request_span};
use super::litellm_headers::{apply_request_headers, AnswerHeaders};
use super::sse::{self, Framer};
use crate::anthropic::{self, error_body, CountTokensRequest, EventWriter, MessagesRequest};
use crate::chat::StreamEvent;
use crate::error::GatewayError;
use crate::gateway::{Answer, Gateway};

/// `msg_` and 32 hex digits: the message's `id`, the request id in records and headers.
fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

pub async fn messages(
    State(gateway): State<Arc<Gateway>>,
    lambda: Option<Extension<lambda_http::Context>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let deadline = lambda_deadline(lambda);
    let request_id = new_message_id();
    let header = HeaderValue::from_str(&request_id).ok();
    let span = request_span(&request_id);
    let mut response = message(&gateway, &headers, body, deadline, request_id)
        .instrument(span)
        .await
        .unwrap_or_else(error_response);
    if let Some(id) = header {
        response.headers_mut().insert("x-request-id", id.clone());
        response.headers_mut().insert("request-id", id);
    }
    response
}

async fn message(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: Option<tokio::time::Instant>,
    request_id: String,
) -> Result<Response, GatewayError> {
    let span = tracing::Span::current();
    let mut ctx = admit(gateway, headers, deadline, request_id).await?;
    let wire =
        parse_json::<MessagesRequest>(body).inspect_err(|err| gateway.reject(&ctx, "", err))?;
    span.record("model", field::display(&wire.model));
    let model = wire.model.clone();
    reauthenticate_if_stale(gateway, headers, &mut ctx, &model).await?;
    let request = anthropic::from_anthropic(wire)
        .and_then(|mut request| {
            apply_request_headers(headers, &mut request.routing)?;
            Ok(request)
        })
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    let stop_sequences = request.params.stop.clone();
    // `max_parallel_requests`: held until the answer is whole, or with the stream's body.
    let permit = gateway
        .authenticator()
        .hold_parallel(&ctx.principal, ctx.deadline)
        .await
        .inspect_err(|err| gateway.reject(&ctx, &model, err))?;
    match gateway.chat(&ctx, request).await? {
        Answer::Stream(events) => {
            let routing = events.routing().clone();
            let writer = EventWriter::new(ctx.request_id.clone(), model.clone(), stop_sequences);
            let mut response =
                super::handlers::holding(sse::framed(events, AnthropicEvents(writer)), permit);
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
            Ok(response)
        }
        Answer::Whole(completion) => {
            let body = anthropic::MessageResponse::new(
                &ctx.request_id,
                &model,
                &completion.response,
                &stop_sequences,
            );
            let mut response = Json(body).into_response();
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
            Ok(response)
        }
    }
}

/// `POST /v1/messages/count_tokens`: a key is needed (and the model must be one it may use),
/// but nothing is reserved, spent or recorded.
pub async fn count_tokens(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = new_message_id();
    let span = request_span(&request_id);
    async {
        let mut ctx = admit(&gateway, &headers, None, request_id).await?;
        let wire = parse_json::<CountTokensRequest>(body)?;
        reauthenticate_if_stale(&gateway, &headers, &mut ctx, &wire.model).await?;
        tracing::Span::current().record("model", field::display(&wire.model));
        let request = anthropic::from_count_tokens(wire)?;
        let input_tokens = gateway.count_tokens(&ctx, &request).await?;
        Ok::<_, GatewayError>(Json(anthropic::CountTokensResponse { input_tokens }).into_response())
    }
    .instrument(span)
    .await
    .unwrap_or_else(error_response)
}

/// A [`GatewayError`] as Anthropic's error body, with the status (and `retry-after`) the
/// OpenAI edge would give it.
pub fn error_response(err: GatewayError) -> Response {
    anthropic_error(ApiError::from(err))
}

/// An [`ApiError`] re-shaped as Anthropic's: the same status and message.
pub fn anthropic_error(api: ApiError) -> Response {
    let status = api.status();
    let mut response =
        (status, error_body::to_json(status.as_u16(), api.message())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = api.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Anthropic's stream events; a failure after the start is an `error` event.
struct AnthropicEvents(EventWriter);

impl Framer for AnthropicEvents {
    fn event(&mut self, event: &StreamEvent) -> Bytes {
        self.0.event(event)
    }
    fn error(&mut self, err: GatewayError) -> Bytes {
        let api = ApiError::from(err);
        let json = error_body::to_json(api.status().as_u16(), api.message());
        self.0.error(&json)
    }
    fn end(&mut self) -> Bytes {
        self.0.end()
    }
}

/// Unknown methods on the Messages routes, in Anthropic's shape.
pub async fn method_not_allowed() -> Response {
    let mut response = anthropic_error(ApiError::new(
        http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "This method is not allowed on this path; use POST.",
    ));
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
