//! OpenAI's `POST /v1/embeddings` request and response, and the conversion of the request to
//! the provider-neutral [`EmbeddingRequest`].

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::embeddings::{EmbeddingRequest, EmbeddingResponse, InputType};
use crate::error::GatewayError;

/// The most inputs in one request (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;
/// The longest `user` (as for chat completions).
pub const MAX_USER_CHARS: usize = 256;

/// What a client sends; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string, or a list of strings (token arrays are refused).
    pub input: Value,
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// `float` (default) or `base64` (little-endian `f32`s, as OpenAI sends them).
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Cohere's (LiteLLM passes it through): search_document, search_query, classification or
    /// clustering.
    #[serde(default)]
    pub input_type: Option<String>,
    /// LiteLLM's per-request response cache controls (`crate::cache::CacheControls`).
    #[serde(default)]
    pub cache: Option<crate::cache::CacheControls>,
}

/// How the vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Float,
    Base64,
}

fn invalid(message: impl Into<String>, param: &'static str) -> GatewayError {
    GatewayError::invalid_request(message.into(), param)
}

/// The request, validated, and the encoding its answer wants.
pub fn from_openai(wire: EmbeddingsRequest) -> Result<(EmbeddingRequest, Encoding), GatewayError> {
    let encoding = match wire.encoding_format.as_deref() {
        None | Some("float") => Encoding::Float,
        Some("base64") => Encoding::Base64,
        Some(other) => {
            return Err(invalid(
                format!("`encoding_format` must be float or base64, not {other:?}"),
                "encoding_format",
            ))
        }
    };
    let tokens = "token arrays are not supported: send the text as a string or a list of strings";
    let inputs = match wire.input {
        Value::String(text) => vec![text],
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid("`input` must not be an empty list", "input"));
            }
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(text) => texts.push(text),
                    Value::Number(_) | Value::Array(_) => return Err(invalid(tokens, "input")),
                    _ => return Err(invalid("`input` must be strings", "input")),
                }
            }
            texts
        }
        _ => {
            return Err(invalid(
                "`input` must be a string or a list of strings",
                "input",
            ))
        }
    };
    if inputs.len() > MAX_INPUTS {
        return Err(invalid(
            format!("`input` has more than {MAX_INPUTS} entries"),
            "input",
        ));
    }
    if inputs.iter().any(|t| t.trim().is_empty()) {
        return Err(invalid("`input` must not contain empty strings", "input"));
    }
    let input_type = match wire.input_type.as_deref() {
        None => None,
        Some(name) => Some(
            InputType::ALL
                .into_iter()
                .find(|t| t.as_str() == name)
                .ok_or_else(|| {
                    invalid(
                        format!(
                            "`input_type` must be search_document, search_query, classification \
                             or clustering, not {name:?}"
                        ),
                        "input_type",
                    )
                })?,
        ),
    };
    if wire.dimensions == Some(0) {
        return Err(invalid("`dimensions` must be positive", "dimensions"));
    }
    if wire
        .user
        .as_ref()
        .is_some_and(|u| u.chars().count() > MAX_USER_CHARS)
    {
        return Err(invalid(
            format!("`user` is longer than {MAX_USER_CHARS} characters"),
            "user",
        ));
    }
    Ok((
        EmbeddingRequest {
            model: wire.model,
            inputs,
            dimensions: wire.dimensions,
            input_type,
            user: wire.user,
        },
        encoding,
    ))
}

#[derive(Debug, Serialize)]
pub struct EmbeddingsResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingObject>,
    pub model: String,
    pub usage: EmbeddingsUsage,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingObject {
    pub object: &'static str,
    pub index: usize,
    /// A list of floats, or base64 text.
    pub embedding: Value,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u32,
    pub total_tokens: u32,
}

impl EmbeddingsResponse {
    pub fn new(model: &str, answer: &EmbeddingResponse, encoding: Encoding) -> Self {
        let data = answer
            .vectors
            .iter()
            .enumerate()
            .map(|(index, vector)| EmbeddingObject {
                object: "embedding",
                index,
                embedding: match encoding {
                    Encoding::Float => Value::from(vector.clone()),
                    Encoding::Base64 => Value::String(base64_of(vector)),
                },
            })
            .collect();
        EmbeddingsResponse {
            object: "list",
            data,
            model: model.to_owned(),
            usage: EmbeddingsUsage {
                prompt_tokens: answer.prompt_tokens,
                total_tokens: answer.prompt_tokens,
            },
        }
    }
}

/// The vector's little-endian `f32` bytes in standard base64, as OpenAI encodes them.
pub fn base64_of(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<(EmbeddingRequest, Encoding), GatewayError> {
        from_openai(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn strings_and_lists_become_inputs() {
        let (one, enc) = parse(json!({"model": "m", "input": "hi"})).unwrap();
        assert_eq!((one.inputs, enc), (vec!["hi".to_owned()], Encoding::Float));
        let (two, enc) = parse(json!({"model": "m", "input": ["a", "b"],
            "encoding_format": "base64", "dimensions": 256}))
        .unwrap();
        assert_eq!(two.inputs.len(), 2);
        assert_eq!((two.dimensions, enc), (Some(256), Encoding::Base64));
    }

    #[test]
    fn token_arrays_and_bad_values_are_refused_by_name() {
        for (body, param) in [
            (json!({"model": "m", "input": [1, 2, 3]}), "input"),
            (json!({"model": "m", "input": [[1, 2]]}), "input"),
            (json!({"model": "m", "input": []}), "input"),
            (json!({"model": "m", "input": ""}), "input"),
            (
                json!({"model": "m", "input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (
                json!({"model": "m", "input": "x", "dimensions": 0}),
                "dimensions",
            ),
            (
                json!({"model": "m", "input": "x", "input_type": "query"}),
                "input_type",
            ),
        ] {
            let err = parse(body.clone()).unwrap_err();
            assert!(
                matches!(&err, GatewayError::InvalidRequest { param: Some(p), .. } if p == param),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let text = base64_of(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        assert_eq!(bytes.len(), 8);
        assert_eq!(f32::from_le_bytes(bytes[4..8].try_into().unwrap()), -2.5);
    }
}
