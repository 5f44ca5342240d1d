//! OpenAI's wire format: the chat completion request, response, stream chunks and error body.

pub mod chunk;
pub mod content;
pub mod error_body;
pub mod request;
pub mod response;

pub use chunk::ChunkWriter;
pub use error_body::ErrorBody;
pub use request::ChatCompletionRequest;
pub use response::ChatCompletionResponse;
