//! HTTP routes of the fake Bedrock Runtime (Converse, ConverseStream, CountTokens, ApplyGuardrail, `/_fake/*` control).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::answer::{self, Answer, Block, Forced};
use super::faults::{error_response, validation, Fault};
use super::features;
use super::state::State;
use super::stream::{self, End};
use super::validate;

type Shared = AxumState<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .route("/model/{model_id}/count-tokens", post(count_tokens))
        .route("/model/{model_id}/invoke", post(super::embeddings::invoke))
        .route(
            "/guardrail/{id}/version/{version}/apply",
            post(apply_guardrail),
        )
        .route("/_fake/calls", get(calls))
        .route("/_fake/reset", post(reset))
        .route("/_fake/latency", post(latency))
        .route("/_fake/last-request/{model_id}", get(last_request))
        .layer(axum::middleware::from_fn(super::sigv4::check))
        .with_state(state)
}

/// Sleeps the configured latency, then answers a hang or REST fault if there is one.
async fn delay_and_fault(state: &State, fault: Option<&Fault>) -> Option<Response> {
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = fault?;
    if *fault == Fault::Hang {
        state.shutting_down().await;
        let name = "ServiceUnavailableException";
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            name,
            "Fake shut down.",
        ));
    }
    fault.rest_error()
}

/// Shared front half of Converse and ConverseStream: count, record, delay, faults, validate, answer.
async fn prepare(
    state: &State,
    model_id: &str,
    body: &[u8],
    streaming: bool,
) -> Result<(Answer, Option<Fault>), Response> {
    let entry = state.model(model_id);
    let counter = if streaming {
        &entry.stream
    } else {
        &entry.converse
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let parsed = serde_json::from_slice::<Value>(body).map(Arc::new);
    if let Ok(request) = &parsed {
        entry.set_last(Arc::clone(request));
    }
    let fault = state.take_fault(model_id);
    if let Some(response) = delay_and_fault(state, fault.as_ref()).await {
        return Err(response);
    }
    let request = parsed.map_err(|e| validation(&format!("Malformed request body: {e}")))?;
    validate::converse(&request).map_err(|message| validation(&message))?;
    features::check_cache_points(&request).map_err(|message| validation(&message))?;
    features::check_model_features(model_id, &request).map_err(|message| validation(&message))?;
    let thinking = features::thinking(&request).map_err(|message| validation(&message))?;
    let forced = match fault {
        Some(Fault::ContentFiltered) => Some(Forced::ContentFiltered),
        Some(Fault::GuardrailIntervened) => Some(Forced::GuardrailIntervened),
        _ if request.get("guardrailConfig").is_some() && has_blocked_text(state, &request) => {
            Some(Forced::GuardrailIntervened)
        }
        _ => None,
    };
    let mut answer = answer::compute(&request, forced);
    if let Some(thinking) = thinking.filter(|_| forced.is_none()) {
        let (text, signature) = match thinking {
            features::Thinking::Claude => (
                "The user wants an answer. I will give it plainly.",
                Some(features::FAKE_SIGNATURE.to_owned()),
            ),
            features::Thinking::Nova => ("[REDACTED]", None),
        };
        answer.output_tokens += text.split_whitespace().count() as u64;
        answer.reasoning = Some((text.to_owned(), signature));
    }
    if let Some((prefix, tokens)) = features::cached_prefix(&request) {
        let tokens = tokens.min(answer.input_tokens);
        let (read, written) = state.prompt_cache.use_prefix(model_id, &prefix, tokens);
        answer.input_tokens -= read + written;
        answer.cache_read_tokens = read;
        answer.cache_write_tokens = written;
    }
    Ok((answer, fault))
}

fn has_blocked_text(state: &State, request: &Value) -> bool {
    let messages = request.get("messages").and_then(Value::as_array);
    let blocks = messages
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content")?.as_array());
    let mut texts = blocks.flatten().filter_map(|b| b.get("text")?.as_str());
    texts.any(|t| state.is_blocked(t))
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn converse(AxumState(state): Shared, Path(model_id): Path<String>, body: Bytes) -> Response {
    let started = Instant::now();
    let (answer, _) = match prepare(&state, &model_id, &body, false).await {
        Ok(prepared) => prepared,
        Err(response) => return response,
    };
    let block = match &answer.block {
        Block::Text(text) => json!({"text": text}),
        Block::ToolUse { id, name, input } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
        }
    };
    let mut content = Vec::with_capacity(2);
    if let Some((text, signature)) = &answer.reasoning {
        let mut reasoning = json!({"text": text});
        if let Some(signature) = signature {
            reasoning["signature"] = json!(signature);
        }
        content.push(json!({"reasoningContent": {"reasoningText": reasoning}}));
    }
    content.push(block);
    Json(json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": answer.stop_reason,
        "usage": answer.usage(),
        "metrics": {"latencyMs": millis(started)},
    }))
    .into_response()
}

/// CountTokens over a Converse input: the `inputTokens` Converse would report for it. Counted,
/// recorded as the last request, delayed and faulted like Converse.
async fn count_tokens(
    AxumState(state): Shared,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    let entry = state.model(&model_id);
    entry.count_tokens.fetch_add(1, Ordering::Relaxed);
    let parsed = serde_json::from_slice::<Value>(&body).map(Arc::new);
    if let Ok(request) = &parsed {
        entry.set_last(Arc::clone(request));
    }
    let fault = state.take_fault(&model_id);
    if let Some(response) = delay_and_fault(&state, fault.as_ref()).await {
        return response;
    }
    let request = match parsed {
        Ok(request) => request,
        Err(e) => return validation(&format!("Malformed request body: {e}")),
    };
    let Some(converse) = request.pointer("/input/converse") else {
        return validation("input.converse is required");
    };
    if let Err(message) = validate::converse(converse) {
        return validation(&message);
    }
    let answer = answer::compute(converse, None);
    Json(json!({"inputTokens": answer.input_tokens})).into_response()
}

async fn converse_stream(
    AxumState(state): Shared,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (answer, fault) = match prepare(&state, &model_id, &body, true).await {
        Ok(prepared) => prepared,
        Err(response) => return response,
    };
    let end = match fault {
        Some(Fault::StreamException { after_events }) => End::Exception {
            after: after_events,
            kind: "modelStreamErrorException",
        },
        Some(Fault::StreamCut { after_events }) => End::Cut {
            after: after_events,
        },
        Some(Fault::StreamStall { after_events }) => End::Stall {
            after: after_events,
        },
        _ => End::Complete,
    };
    let chunk_bytes = state.chunk_bytes.load(Ordering::Relaxed);
    stream::response(
        stream::events(&answer, millis(started), chunk_bytes),
        end,
        state,
    )
}

async fn apply_guardrail(
    AxumState(state): Shared,
    Path((id, version)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    state.count_guardrail(&format!("{id}:{version}"));
    let fault = state.take_fault(&id);
    if let Some(response) = delay_and_fault(&state, fault.as_ref()).await {
        return response;
    }
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(request) => request,
        Err(e) => return validation(&format!("Malformed request body: {e}")),
    };
    if let Some(source) = request.get("source").and_then(Value::as_str) {
        state.count_guardrail_source(&format!("{id}:{version}:{source}"));
    }
    match super::guardrail::apply(&request, &state) {
        Ok(answer) => Json(answer).into_response(),
        Err(message) => validation(&message),
    }
}

async fn calls(AxumState(state): Shared) -> Json<Value> {
    let (models, guardrails) = state.snapshot();
    let models: Map<String, Value> = models
        .into_iter()
        .map(|(id, (converse, stream))| {
            let invoke = state
                .find_model(&id)
                .map_or(0, |e| e.invoke.load(Ordering::Relaxed));
            let counts = json!({"converse": converse, "converse_stream": stream, "invoke": invoke});
            (id, counts)
        })
        .collect();
    Json(json!({"models": models, "guardrails": guardrails}))
}

async fn reset(AxumState(state): Shared) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LatencyQuery {
    before_ms: Option<u64>,
    per_event_ms: Option<u64>,
}

/// `POST /_fake/latency?before_ms=N&per_event_ms=M` (a missing value keeps its current setting).
async fn latency(AxumState(state): Shared, Query(q): Query<LatencyQuery>) -> StatusCode {
    let before = q
        .before_ms
        .map_or_else(|| state.latency(), Duration::from_millis);
    let per_event = q
        .per_event_ms
        .map_or_else(|| state.event_delay(), Duration::from_millis);
    state.set_latency(before, per_event);
    StatusCode::NO_CONTENT
}

async fn last_request(AxumState(state): Shared, Path(model_id): Path<String>) -> Response {
    match state.last_request(&model_id) {
        Some(body) => Json(body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
