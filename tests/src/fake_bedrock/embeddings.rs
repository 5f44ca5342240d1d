//! InvokeModel for Bedrock's text embedding models: Titan Text Embeddings V2
//! (`amazon.titan-embed-text-v2:0`: `inputText`, `dimensions` 256/512/1024, `normalize`,
//! `embeddingTypes`) and Cohere Embed v3 (`cohere.embed-*`: `texts` 1 to 96 of at most 2,048
//! characters, `input_type`, `truncate`, `embedding_types`). Bodies are validated as Bedrock
//! validates them (unknown keys refused); vectors are deterministic (from a hash of the text);
//! the input token count (one per word) is in the body (Titan) and in the
//! `X-Amzn-Bedrock-Input-Token-Count` header (both), as Bedrock returns it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::faults::validation;
use super::state::State;

/// Cohere Embed v3's vector length.
pub const COHERE_DIMENSIONS: usize = 1024;
/// Cohere's most texts per call.
pub const COHERE_MAX_TEXTS: usize = 96;

pub(crate) async fn invoke(
    AxumState(state): AxumState<Arc<State>>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    let entry = state.model(&model_id);
    entry.invoke.fetch_add(1, Ordering::Relaxed);
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return validation("Malformed input request, please reformat your input and try again.");
    };
    entry.set_last(Arc::new(Value::Object(request.clone())));
    let answered = if model_id.contains("titan-embed-text-v2") {
        titan(&request)
    } else if model_id.contains("cohere.embed") {
        cohere(&request)
    } else {
        Err(format!(
            "The model {model_id} does not support InvokeModel embeddings here."
        ))
    };
    match answered {
        Ok((body, tokens)) => {
            let mut response = Json(body).into_response();
            if let Ok(value) = HeaderValue::from_str(&tokens.to_string()) {
                response
                    .headers_mut()
                    .insert("x-amzn-bedrock-input-token-count", value);
            }
            response
        }
        Err(message) => validation(&message),
    }
}

fn unknown_keys(request: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match request.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("extraneous key [{key}] is not permitted")),
        None => Ok(()),
    }
}

fn titan(request: &Map<String, Value>) -> Result<(Value, u64), String> {
    unknown_keys(
        request,
        &["inputText", "dimensions", "normalize", "embeddingTypes"],
    )?;
    let text = request
        .get("inputText")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("#/inputText: expected minLength: 1")?;
    let dimensions = match request.get("dimensions") {
        None => 1024,
        Some(d) => match d.as_u64() {
            Some(n @ (256 | 512 | 1024)) => n as usize,
            _ => return Err("#/dimensions: 256, 512 or 1024 expected".into()),
        },
    };
    let normalize = match request.get("normalize") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("#/normalize: expected type: Boolean".into()),
    };
    let vector = vector(text, dimensions, normalize);
    let tokens = words(text);
    Ok((
        json!({"embedding": vector, "inputTextTokenCount": tokens,
               "embeddingsByType": {"float": vector}}),
        tokens,
    ))
}

fn cohere(request: &Map<String, Value>) -> Result<(Value, u64), String> {
    unknown_keys(
        request,
        &[
            "texts",
            "images",
            "input_type",
            "truncate",
            "embedding_types",
        ],
    )?;
    let texts: Vec<&str> = request
        .get("texts")
        .and_then(Value::as_array)
        .ok_or("texts: required")?
        .iter()
        .map(|t| t.as_str().ok_or("texts: expected strings"))
        .collect::<Result<_, _>>()?;
    if texts.is_empty() || texts.len() > COHERE_MAX_TEXTS {
        return Err(format!("texts: between 1 and {COHERE_MAX_TEXTS} items"));
    }
    if texts.iter().any(|t| t.chars().count() > 2048) {
        return Err("texts: each at most 2048 characters".into());
    }
    match request.get("input_type").and_then(Value::as_str) {
        Some("search_document" | "search_query" | "classification" | "clustering") => {}
        _ => {
            return Err(
                "input_type: search_document, search_query, classification or clustering required"
                    .into(),
            )
        }
    }
    if let Some(t) = request.get("truncate") {
        if !matches!(t.as_str(), Some("NONE" | "START" | "END")) {
            return Err("truncate: NONE, START or END".into());
        }
    }
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| vector(t, COHERE_DIMENSIONS, false))
        .collect();
    let tokens = texts.iter().map(|t| words(t)).sum();
    let by_type = match request.get("embedding_types") {
        None => false,
        Some(Value::Array(types)) => {
            if types.iter().any(|t| t.as_str() != Some("float")) {
                return Err("embedding_types: the fake serves float only".into());
            }
            true
        }
        Some(_) => return Err("embedding_types: expected a list".into()),
    };
    let body = if by_type {
        json!({"id": "fake-embed", "embeddings": {"float": vectors},
               "response_type": "embeddings_by_type", "texts": texts})
    } else {
        json!({"id": "fake-embed", "embeddings": vectors,
               "response_type": "embeddings_floats", "texts": texts})
    };
    Ok((body, tokens))
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

/// A deterministic vector for `text`: values in [-1, 1) from its SHA-256 chain, unit length
/// when `normalize`.
pub fn vector(text: &str, dimensions: usize, normalize: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(dimensions);
    let mut block = Sha256::digest(text.as_bytes());
    while out.len() < dimensions {
        for pair in block.chunks(2) {
            if out.len() == dimensions {
                break;
            }
            let n = u16::from_le_bytes([pair[0], pair[1]]);
            out.push(f32::from(n) / 32768.0 - 1.0);
        }
        block = Sha256::digest(block);
    }
    if normalize {
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}
