//! Anthropic's Messages API wire format (`POST /v1/messages`, `/v1/messages/count_tokens`):
//! the request, the response, the stream's events and the error body, and the conversion of a
//! request into the provider-neutral `chat` types (`into_chat`). Depends on `chat`, serde and
//! two limits `openai` also applies (cache points, thinking budget); `http::messages` is its
//! edge.

pub mod error_body;
pub mod into_chat;
pub mod request;
pub mod response;
pub mod stream;

pub use into_chat::{from_anthropic, from_count_tokens, reasoning};
pub use request::{CountTokensRequest, MessagesRequest};
pub use response::{CountTokensResponse, MessageResponse};
pub use stream::EventWriter;
