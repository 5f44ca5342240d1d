//! LiteLLM's model management at run time (`/model/new`, `/model/update`, `/model/delete`,
//! its `store_model_in_db`): master key only. A model is a `model_list` entry, checked as the
//! config checks one, stored in the table under its `model_info.id`; every instance serves it
//! after its next refresh (`crate::pipeline` models: within the key cache's TTL), this one at
//! once. Differences from LiteLLM: a stored model may not take a name or deployment id of the
//! config, and may carry no credentials (the function's role calls Bedrock; a secret in the
//! table would be readable by everything that reads the table).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::{admin_error, master_only, AdminError};
use crate::config::runtime_deployment;
use crate::gateway::Gateway;
use crate::http::body::parse_json;
use crate::keys::WriteError;

/// `litellm_params` a stored model may not carry.
const CREDENTIAL_PARAMS: [&str; 6] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_role_name",
    "aws_profile_name",
    "api_key",
];

pub(super) async fn new_model(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&gateway, &headers, body, Op::New).await
}

pub(super) async fn update_model(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&gateway, &headers, body, Op::Update).await
}

pub(super) async fn delete_model(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&gateway, &headers, body, Op::Delete).await
}

#[derive(Clone, Copy)]
enum Op {
    New,
    Update,
    Delete,
}

async fn run(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    op: Op,
) -> Response {
    if let Err(err) = master_only(gateway, headers).await {
        return err.into_response();
    }
    let body = match parse_json::<Map<String, Value>>(body) {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let result = match op {
        Op::New => new(gateway, body).await,
        Op::Update => update(gateway, body).await,
        Op::Delete => delete(gateway, &body).await,
    };
    if result.is_ok() {
        gateway.refresh_models(true).await;
    }
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => admin_error(err).into_response(),
    }
}

/// `POST /model/new`: `{"model_name", "litellm_params", "model_info"}`; the stored entry.
async fn new(gateway: &Gateway, mut entry: Map<String, Value>) -> Result<Value, AdminError> {
    let id = match entry.get("model_info").and_then(|i| i.get("id")) {
        Some(Value::String(id)) if valid_id(id) => id.clone(),
        Some(Value::Null) | None => uuid::Uuid::new_v4().to_string(),
        Some(_) => {
            return Err(AdminError::bad(
                "`model_info.id` must be 1 to 128 letters, digits, `-`, `_`, `.` or `:`",
                "model_info",
            ))
        }
    };
    set_id(&mut entry, &id);
    let entry = check(gateway, entry)?;
    match gateway
        .authenticator()
        .store()
        .put_model(&id, &entry, false)
        .await
    {
        Ok(()) => Ok(view(&id, &entry)),
        Err(WriteError::Store(err)) => Err(err.into()),
        Err(_) => Err(AdminError::bad(
            format!("model `{id}` exists already"),
            "model_info",
        )),
    }
}

/// `POST /model/update`: `model_info.id` names the model; `model_name` replaces the stored one,
/// `litellm_params` and `model_info` are merged into the stored ones (a field set to `null` is
/// removed), as LiteLLM's update patches a model. The stored entry.
async fn update(gateway: &Gateway, body: Map<String, Value>) -> Result<Value, AdminError> {
    let Some(Value::String(id)) = body.get("model_info").and_then(|i| i.get("id")).cloned() else {
        return Err(AdminError::bad("`model_info.id` is required", "model_info"));
    };
    let store = gateway.authenticator().store();
    let Some(Value::Object(mut entry)) = store.find_model(&id).await? else {
        return Err(AdminError::NotFound(format!("model `{id}` not found")));
    };
    for (name, value) in body {
        match (name.as_str(), value) {
            ("litellm_params" | "model_info", Value::Object(fields)) => {
                let stored = entry
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(stored) = stored.as_object_mut() {
                    for (field, value) in fields {
                        if value.is_null() {
                            stored.remove(&field);
                        } else {
                            stored.insert(field, value);
                        }
                    }
                }
            }
            ("litellm_params", _) => {
                return Err(AdminError::bad(
                    "`litellm_params` must be an object",
                    "litellm_params",
                ))
            }
            ("model_info", _) => {
                return Err(AdminError::bad(
                    "`model_info` must be an object",
                    "model_info",
                ))
            }
            ("model_name", value) => {
                entry.insert(name, value);
            }
            _ => {}
        }
    }
    set_id(&mut entry, &id);
    let entry = check(gateway, entry)?;
    match store.put_model(&id, &entry, true).await {
        Ok(()) => Ok(view(&id, &entry)),
        Err(WriteError::Store(err)) => Err(err.into()),
        Err(_) => Err(AdminError::NotFound(format!("model `{id}` not found"))),
    }
}

/// `POST /model/delete`: `{"id"}`; LiteLLM's message.
async fn delete(gateway: &Gateway, body: &Map<String, Value>) -> Result<Value, AdminError> {
    let Some(Value::String(id)) = body.get("id") else {
        return Err(AdminError::bad("`id` is required", "id"));
    };
    let store = gateway.authenticator().store();
    if store.find_model(id).await?.is_none() {
        return Err(AdminError::NotFound(format!("model `{id}` not found")));
    }
    store.delete_model(id).await?;
    Ok(json!({"message": format!("Model: {id} deleted successfully")}))
}

/// The entry as the config would read it, with no credentials and no name or id of the
/// config's.
fn check(gateway: &Gateway, entry: Map<String, Value>) -> Result<Value, AdminError> {
    let params = entry.get("litellm_params").and_then(Value::as_object);
    if let Some(name) = params.and_then(|p| CREDENTIAL_PARAMS.iter().find(|c| p.contains_key(**c)))
    {
        return Err(AdminError::bad(
            format!("`litellm_params.{name}`: a model added at run time carries no credentials (the gateway's role calls Bedrock)"),
            "litellm_params",
        ));
    }
    if params.is_some_and(|p| {
        p.values()
            .any(|v| v.as_str().is_some_and(|s| s.starts_with("os.environ/")))
    }) {
        return Err(AdminError::bad(
            "`os.environ/` references are read from the config only",
            "litellm_params",
        ));
    }
    let entry = Value::Object(entry);
    let deployment = runtime_deployment(&entry)
        .map_err(|err| AdminError::bad(err.to_string(), "litellm_params"))?;
    if gateway.is_configured_model(&deployment.model_name) {
        return Err(AdminError::bad(
            format!("`{}` is a model group of the config; a model added at run time takes a name of its own", deployment.model_name),
            "model_name",
        ));
    }
    if gateway.is_configured_deployment(&deployment.deployment_id) {
        return Err(AdminError::bad(
            "`model_info.id` is a deployment id of the config",
            "model_info",
        ));
    }
    Ok(entry)
}

fn set_id(entry: &mut Map<String, Value>, id: &str) {
    let info = entry
        .entry("model_info")
        .or_insert_with(|| Value::Object(Map::new()));
    if !info.is_object() {
        *info = Value::Object(Map::new());
    }
    if let Some(info) = info.as_object_mut() {
        info.insert("id".into(), Value::String(id.to_owned()));
    }
}

fn view(id: &str, entry: &Value) -> Value {
    json!({
        "model_id": id,
        "model_name": entry.get("model_name"),
        "litellm_params": entry.get("litellm_params"),
        "model_info": entry.get("model_info"),
    })
}

fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}
