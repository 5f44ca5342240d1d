//! LiteLLM's `/health` model checks, on demand only: `GET /health?check_models=true` or
//! `GET /health/models`, master key only. LiteLLM's `/health` calls every model on each call;
//! here a plain `/health` (and `/health/liveliness`, `/health/readiness`) never calls a model,
//! so a load balancer's probe cannot run up a Bedrock bill. A check sends each deployment one
//! user turn with `max_tokens: 1`, at most [`CHECK_CONCURRENCY`] at a time, each bounded by
//! [`CHECK_TIMEOUT`]; the answer is LiteLLM's shape (`healthy_endpoints`,
//! `unhealthy_endpoints`, counts), with the error's kind, never its text (it may echo ids).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use http::HeaderMap;
use serde_json::{json, Value};

use super::master_only;
use crate::gateway::Gateway;
use crate::openai::{from_openai, ChatCompletionRequest};
use crate::router::Deployment;

/// Deployments checked at once.
pub const CHECK_CONCURRENCY: usize = 4;
/// The longest one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// `GET /health`: liveness, or with `check_models=true` the model checks.
pub async fn health(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match query.get("check_models").map(String::as_str) {
        Some("true" | "1") => check_models(State(gateway), headers, Query(query)).await,
        _ => Json(json!({"status": "healthy"})).into_response(),
    }
}

/// `GET /health/models[?model=]`: calls each deployment (of one group with `model`).
pub async fn check_models(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(err) = master_only(&gateway, &headers).await {
        return err.into_response();
    }
    let only = query.get("model").filter(|m| !m.is_empty());
    let deployments: Vec<&Deployment> = gateway
        .model_names()
        .filter(|name| only.is_none_or(|m| m == name))
        .filter_map(|name| gateway.model_group(name))
        .flat_map(|group| group.deployments.iter())
        .collect();
    let results: Vec<(bool, Value)> = stream::iter(deployments)
        .map(check)
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    let (healthy, unhealthy): (Vec<_>, Vec<_>) = results.into_iter().partition(|(ok, _)| *ok);
    let healthy: Vec<Value> = healthy.into_iter().map(|(_, v)| v).collect();
    let unhealthy: Vec<Value> = unhealthy.into_iter().map(|(_, v)| v).collect();
    Json(json!({
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
    }))
    .into_response()
}

/// One deployment's check: (healthy, its entry).
async fn check(deployment: &Deployment) -> (bool, Value) {
    let config = &deployment.config;
    let mut entry = json!({
        "model": format!("bedrock/{}", config.model_id),
        "model_name": config.model_name,
        "model_id": config.deployment_id,
    });
    let wire = serde_json::from_value::<ChatCompletionRequest>(json!({
        "model": config.model_name,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }));
    let request = match wire
        .map_err(|e| e.to_string())
        .and_then(|w| from_openai(w).map_err(|e| e.to_string()))
    {
        Ok(request) => request,
        Err(_) => return (false, entry),
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, deployment.provider.chat(&request)).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let error = match outcome {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(err.kind().to_owned()),
        Err(_) => Some("timeout".to_owned()),
    };
    if let Some(object) = entry.as_object_mut() {
        object.insert("latency_ms".into(), json!(elapsed_ms));
        if let Some(error) = &error {
            object.insert("error".into(), json!(error));
        }
    }
    (error.is_none(), entry)
}
