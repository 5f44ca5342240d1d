//! OpenAI's wire format: the chat completion request, response, stream chunks and error body,
//! and the conversions between it and the provider-neutral `chat` types (`into_chat` for
//! requests; `response` and `chunk` for answers).

pub mod chunk;
pub mod content;
pub mod drop_params;
pub mod embeddings;
pub mod error_body;
pub mod files;
pub mod into_chat;
pub mod reasoning;
pub mod request;
pub mod response;

pub use chunk::ChunkWriter;
pub use drop_params::drop_params;
pub use error_body::ErrorBody;
pub use into_chat::from_openai;
pub use request::ChatCompletionRequest;
pub use response::ChatCompletionResponse;
