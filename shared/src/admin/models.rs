//! LiteLLM's model discovery endpoints: `/model/info` and `/v2/model/info` (one entry per
//! deployment) and `/model_group/info` (one per model group): names, Bedrock ids, prices,
//! context windows, modes and access groups. Any valid key may call them and sees only the
//! groups it may use (as LiteLLM's non-admin view); the master key sees all. No secret is ever
//! shown: `litellm_params` carries the model, region and time limits only, never credentials
//! or endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::HeaderMap;
use serde_json::{json, Value};

use super::caller;
use crate::gateway::Gateway;
use crate::keys::Principal;
use crate::router::{Deployment, ModelGroup};

/// The OpenAI parameters a Bedrock Converse model honours (LiteLLM's `supported_openai_params`).
const SUPPORTED_OPENAI_PARAMS: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "user",
];

/// `GET /model/info[?litellm_model_id=]` and `GET /v2/model/info[?model=]`.
pub async fn model_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    gateway.refresh_models_soon();
    let only_id = query.get("litellm_model_id").filter(|v| !v.is_empty());
    let only_group = query.get("model").filter(|v| !v.is_empty());
    let data: Vec<Value> = visible_groups(&gateway, &principal)
        .filter(|group| only_group.is_none_or(|name| *name == group.name))
        .flat_map(|group| group.deployments.iter())
        .filter(|d| only_id.is_none_or(|id| *id == d.config.deployment_id))
        .map(|d| deployment_info(&gateway, d))
        .collect();
    Json(json!({"data": data})).into_response()
}

/// `GET /model_group/info[?model_group=]`.
pub async fn model_group_info(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let principal = match caller(&gateway, &headers).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    gateway.refresh_models_soon();
    let only = query.get("model_group").filter(|v| !v.is_empty());
    let data: Vec<Value> = visible_groups(&gateway, &principal)
        .filter(|group| only.is_none_or(|name| *name == group.name))
        .map(|group| group_info(&gateway, group))
        .collect();
    Json(json!({"data": data})).into_response()
}

fn visible_groups<'g>(
    gateway: &'g Gateway,
    principal: &'g Principal,
) -> impl Iterator<Item = &'g ModelGroup> + 'g {
    gateway
        .model_names()
        .filter(|name| principal.may_use(name))
        .filter_map(|name| gateway.model_group(name))
}

fn access_groups(gateway: &Gateway, group: &str) -> Vec<String> {
    gateway
        .authenticator()
        .access_groups()
        .groups_of(group)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn deployment_info(gateway: &Gateway, d: &Deployment) -> Value {
    let config = &d.config;
    let price = d.price();
    json!({
        "model_name": config.model_name,
        "litellm_params": {
            "model": format!("bedrock/{}", config.model_id),
            "aws_region_name": config.region,
            "timeout": config.timeout.map(|t| t.as_secs_f64()),
            "stream_timeout": config.stream_timeout.map(|t| t.as_secs_f64()),
            "rpm": config.rpm,
            "tpm": config.tpm,
        },
        "model_info": {
            "id": config.deployment_id,
            "db_model": false,
            "key": config.model_id,
            "mode": "chat",
            "litellm_provider": "bedrock",
            "max_tokens": config.max_output_tokens,
            "max_input_tokens": config.max_input_tokens,
            "max_output_tokens": config.max_output_tokens,
            "input_cost_per_token": price.map(|p| p.input_per_token),
            "output_cost_per_token": price.map(|p| p.output_per_token),
            "cache_read_input_token_cost": price.and_then(|p| p.cache_read_per_token),
            "cache_creation_input_token_cost": price.and_then(|p| p.cache_write_per_token),
            "access_groups": access_groups(gateway, &config.model_name),
            "supports_function_calling": true,
            "supports_vision": true,
            "supported_openai_params": SUPPORTED_OPENAI_PARAMS,
        },
    })
}

fn group_info(gateway: &Gateway, group: &ModelGroup) -> Value {
    let smallest = |f: fn(&Deployment) -> Option<u32>| group.deployments.iter().filter_map(f).min();
    let highest = |f: fn(&Deployment) -> Option<f64>| {
        group
            .deployments
            .iter()
            .filter_map(f)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let total = |f: fn(&Deployment) -> Option<u64>| {
        let all: Option<Vec<u64>> = group.deployments.iter().map(f).collect();
        all.map(|v| v.into_iter().sum::<u64>())
    };
    json!({
        "model_group": group.name,
        "providers": ["bedrock"],
        "max_input_tokens": smallest(|d| d.config.max_input_tokens),
        "max_output_tokens": smallest(|d| d.config.max_output_tokens),
        "input_cost_per_token": highest(|d| d.price().map(|p| p.input_per_token)),
        "output_cost_per_token": highest(|d| d.price().map(|p| p.output_per_token)),
        "mode": "chat",
        "tpm": total(|d| d.config.tpm),
        "rpm": total(|d| d.config.rpm),
        "supports_parallel_function_calling": false,
        "supports_vision": true,
        "supports_function_calling": true,
        "supported_openai_params": SUPPORTED_OPENAI_PARAMS,
        "access_groups": access_groups(gateway, &group.name),
    })
}
