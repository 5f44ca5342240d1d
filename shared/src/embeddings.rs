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
    /// Cohere's `input_type` (`search_document` when not given); Titan has none.
    pub input_type: Option<InputType>,
    pub user: Option<String>,
}

/// What the texts are for (Cohere Embed's `input_type`, as LiteLLM passes it through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    SearchDocument,
    SearchQuery,
    Classification,
    Clustering,
}

impl InputType {
    pub const ALL: [InputType; 4] = [
        InputType::SearchDocument,
        InputType::SearchQuery,
        InputType::Classification,
        InputType::Clustering,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputType::SearchDocument => "search_document",
            InputType::SearchQuery => "search_query",
            InputType::Classification => "classification",
            InputType::Clustering => "clustering",
        }
    }
}

/// One vector per input, in input order, and the input tokens the model counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingResponse {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
}
