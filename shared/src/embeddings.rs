//! The provider-neutral embeddings request and answer (`POST /v1/embeddings`): what
//! `openai::embeddings` parses into and what providers answer.

/// Texts to embed with one model group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingRequest {
    /// The model group (`model_name` in config).
    pub model: String,
    /// At least one text; none empty.
    pub inputs: Vec<String>,
    /// The vector length asked for (Titan V2: 256, 512 or 1024).
    pub dimensions: Option<u32>,
    pub user: Option<String>,
}

/// One vector per input, in input order, and the input tokens the model counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingResponse {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
}
