//! Model providers: a small trait the request path calls, and the Bedrock implementation.

pub mod bedrock;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;

pub use crate::error::{ProviderError, TimeoutKind};
pub use bedrock::BedrockProvider;

use crate::chat::{ChatRequest, ChatResponse, StreamEvent};

/// A provider per deployment id.
pub type Providers = HashMap<String, Arc<dyn ChatProvider>>;

/// A streamed answer: events as the provider sends them, ending on the first error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// What the router needs from a provider. One instance per deployment, holding a client that
/// was built once at start-up.
pub trait ChatProvider: Send + Sync {
    /// The whole answer.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>>;

    /// The answer as a stream. Errors before the first event come back here, so the caller can
    /// still answer with the right status code.
    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, ProviderError>> + Send + 'a>>;

    /// The request's input tokens as the model counts them, without answering it; `None`
    /// when the provider cannot count (the caller estimates instead).
    fn count_tokens<'a>(
        &'a self,
        _request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Option<u32>, ProviderError>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Embeddings of `request.inputs`, in order; a provider without them refuses.
    fn embed<'a>(
        &'a self,
        request: &'a crate::embeddings::EmbeddingRequest,
    ) -> Pin<
        Box<
            dyn Future<Output = Result<crate::embeddings::EmbeddingResponse, ProviderError>>
                + Send
                + 'a,
        >,
    > {
        let _ = request;
        Box::pin(async {
            Err(ProviderError::Rejected(
                "this deployment does not serve embeddings".into(),
            ))
        })
    }
}
