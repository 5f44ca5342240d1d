//! Embeddings through Bedrock's InvokeModel: Titan Text Embeddings V2 (one call per input:
//! `inputText`, `dimensions` 256/512/1024, `normalize: true`) and Cohere Embed v3 (up to 96
//! texts per call: `texts`, `input_type` (the request's, else `search_document`),
//! `embedding_types: ["float"]`).
//! Input tokens come from Titan's `inputTextTokenCount`, else from the
//! `X-Amzn-Bedrock-Input-Token-Count` response header Bedrock sends for every model.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::error::BoxError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::Client;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

use super::error;
use crate::embeddings::{EmbeddingRequest, EmbeddingResponse, InputType};
use crate::error::ProviderError;

/// Cohere Embed's most texts per call.
pub const COHERE_BATCH: usize = 96;
/// Titan calls (one per input) in flight at once for one request.
const TITAN_CONCURRENCY: usize = 8;
/// Titan Text Embeddings V2's vector lengths.
pub const TITAN_DIMENSIONS: [u32; 3] = [256, 512, 1024];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Titan,
    Cohere,
}

/// The embedding family of a Bedrock model id.
pub fn family(model_id: &str) -> Option<Family> {
    if model_id.contains("titan-embed") {
        Some(Family::Titan)
    } else if model_id.contains("cohere.embed") {
        Some(Family::Cohere)
    } else {
        None
    }
}

/// What a family cannot honour, as a client error (param, message).
pub fn check(family: Family, request: &EmbeddingRequest) -> Result<(), (&'static str, String)> {
    match (family, request.dimensions) {
        (Family::Titan, Some(d)) if !TITAN_DIMENSIONS.contains(&d) => Err((
            "dimensions",
            format!("this model's `dimensions` are 256, 512 or 1024, not {d}"),
        )),
        (Family::Cohere, Some(d)) if d != 1024 => Err((
            "dimensions",
            format!("this model's vectors have 1024 dimensions, not {d}"),
        )),
        _ => Ok(()),
    }
}

/// The Titan V2 body for one text.
pub fn titan_body(text: &str, dimensions: Option<u32>) -> Value {
    let mut body = json!({"inputText": text, "normalize": true});
    if let Some(d) = dimensions {
        body["dimensions"] = json!(d);
    }
    body
}

/// The Cohere body for one batch.
pub fn cohere_body(texts: &[String], input_type: Option<InputType>) -> Value {
    let input_type = input_type.unwrap_or(InputType::SearchDocument).as_str();
    json!({"texts": texts, "input_type": input_type, "embedding_types": ["float"]})
}

fn floats(value: &Value) -> Option<Vec<f32>> {
    value
        .as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

/// Titan's answer: the vector and its token count.
pub fn titan_answer(body: &Value) -> Option<(Vec<f32>, Option<u32>)> {
    let vector = floats(body.get("embedding")?)?;
    let tokens = body
        .get("inputTextTokenCount")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    Some((vector, tokens))
}

/// Cohere's answer: `embeddings` as a list (`embeddings_floats`) or by type.
pub fn cohere_answer(body: &Value) -> Option<Vec<Vec<f32>>> {
    let embeddings = body.get("embeddings")?;
    let list = embeddings.get("float").unwrap_or(embeddings);
    list.as_array()?.iter().map(floats).collect()
}

/// Captures `X-Amzn-Bedrock-Input-Token-Count` of one call.
#[derive(Debug, Default, Clone)]
struct TokenHeader(Arc<Mutex<Option<u32>>>);

impl Intercept for TokenHeader {
    fn name(&self) -> &'static str {
        "InputTokenCountHeader"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let count = context
            .response()
            .headers()
            .get("x-amzn-bedrock-input-token-count")
            .and_then(|v| v.trim().parse::<u32>().ok());
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = count;
        Ok(())
    }
}

/// One InvokeModel call: the answer's JSON and the header's token count.
async fn invoke(
    client: &Client,
    model_id: &str,
    body: &Value,
) -> Result<(Value, Option<u32>), ProviderError> {
    let header = TokenHeader::default();
    let output = client
        .invoke_model()
        .model_id(model_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.to_string()))
        .customize()
        .interceptor(header.clone())
        .send()
        .await
        .map_err(error::from_sdk)?;
    let answer: Value = serde_json::from_slice(output.body.as_ref())
        .map_err(|e| ProviderError::Upstream(format!("unreadable embedding answer: {e}")))?;
    let tokens = *header.0.lock().unwrap_or_else(PoisonError::into_inner);
    Ok((answer, tokens))
}

fn malformed() -> ProviderError {
    ProviderError::Upstream("the embedding answer has no vectors".into())
}

async fn titan_one(
    client: &Client,
    model_id: &str,
    text: &str,
    dimensions: Option<u32>,
) -> Result<(Vec<f32>, u32), ProviderError> {
    let (body, header) = invoke(client, model_id, &titan_body(text, dimensions)).await?;
    let (vector, tokens) = titan_answer(&body).ok_or_else(malformed)?;
    Ok((vector, tokens.or(header).unwrap_or(0)))
}

pub(super) async fn embed(
    client: &Client,
    model_id: &str,
    request: &EmbeddingRequest,
) -> Result<EmbeddingResponse, ProviderError> {
    let family = family(model_id).ok_or_else(|| {
        ProviderError::Misconfigured(format!("`{model_id}` is not a Bedrock embedding model"))
    })?;
    match family {
        Family::Titan => {
            let calls: Vec<_> = request
                .inputs
                .iter()
                .map(|text| titan_one(client, model_id, text, request.dimensions))
                .collect();
            let answers: Vec<(Vec<f32>, u32)> = futures_util::stream::iter(calls)
                .buffered(TITAN_CONCURRENCY)
                .try_collect()
                .await?;
            let prompt_tokens = answers.iter().map(|(_, t)| *t).sum();
            Ok(EmbeddingResponse {
                vectors: answers.into_iter().map(|(v, _)| v).collect(),
                prompt_tokens,
            })
        }
        Family::Cohere => {
            let mut out = EmbeddingResponse::default();
            for batch in request.inputs.chunks(COHERE_BATCH) {
                let (body, tokens) =
                    invoke(client, model_id, &cohere_body(batch, request.input_type)).await?;
                let vectors = cohere_answer(&body).ok_or_else(malformed)?;
                if vectors.len() != batch.len() {
                    return Err(malformed());
                }
                out.vectors.extend(vectors);
                out.prompt_tokens = out.prompt_tokens.saturating_add(tokens.unwrap_or(0));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_what_bedrock_documents() {
        assert_eq!(
            titan_body("hi", Some(256)),
            json!({"inputText": "hi", "normalize": true, "dimensions": 256})
        );
        assert_eq!(
            cohere_body(&["a".into(), "b".into()], None),
            json!({"texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"]})
        );
        assert_eq!(
            cohere_body(&["q".into()], Some(InputType::SearchQuery))["input_type"],
            "search_query"
        );
        let titan = json!({"embedding": [0.5, -0.25], "inputTextTokenCount": 3,
                           "embeddingsByType": {"float": [0.5, -0.25]}});
        assert_eq!(titan_answer(&titan), Some((vec![0.5, -0.25], Some(3))));
        let by_type = json!({"id": "x", "embeddings": {"float": [[1.0], [2.0]]},
                             "response_type": "embeddings_by_type"});
        assert_eq!(cohere_answer(&by_type), Some(vec![vec![1.0], vec![2.0]]));
        let floats =
            json!({"id": "x", "embeddings": [[1.0]], "response_type": "embeddings_floats"});
        assert_eq!(cohere_answer(&floats), Some(vec![vec![1.0]]));
    }

    #[test]
    fn families_and_their_dimensions() {
        assert_eq!(family("amazon.titan-embed-text-v2:0"), Some(Family::Titan));
        assert_eq!(family("cohere.embed-multilingual-v3"), Some(Family::Cohere));
        assert_eq!(family("anthropic.claude-3-haiku-20240307-v1:0"), None);
        let asked = |d| EmbeddingRequest {
            dimensions: Some(d),
            ..EmbeddingRequest::default()
        };
        assert!(check(Family::Titan, &asked(512)).is_ok());
        assert_eq!(
            check(Family::Titan, &asked(300)).unwrap_err().0,
            "dimensions"
        );
        assert!(check(Family::Cohere, &asked(256)).is_err());
    }
}
