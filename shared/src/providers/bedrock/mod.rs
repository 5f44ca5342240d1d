//! Amazon Bedrock through the Converse and ConverseStream APIs of `aws-sdk-bedrockruntime`.

mod build;
pub mod capabilities;
mod clients;
mod document;
pub mod embed;
mod error;
#[cfg(test)]
mod proptests;
mod reasoning;
mod request;
mod response;
pub mod signed;
mod stream;
pub mod warm_up;

use std::future::Future;
use std::pin::Pin;

use aws_sdk_bedrockruntime::types as bedrock;
use aws_sdk_bedrockruntime::Client;
use futures_util::StreamExt;

pub use build::{
    guardrails, provider_factory, providers, providers_and_guardrails,
    providers_and_guardrails_from, Guardrails,
};
pub use clients::{BedrockClients, ClientInitError, ClientPlace};
pub use error::classify;

use super::{ChatProvider, EventStream, ProviderError};
use crate::chat::{ChatRequest, ChatResponse};

/// One Bedrock deployment: a shared SDK client (one per region, endpoint and credentials) and
/// the model id to call.
#[derive(Debug, Clone)]
pub struct BedrockProvider {
    client: Client,
    model_id: String,
}

impl BedrockProvider {
    pub fn new(client: Client, model_id: impl Into<String>) -> Self {
        BedrockProvider {
            client,
            model_id: model_id.into(),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The request in Converse's terms, without cache points where this model has no prompt
    /// cache (Bedrock would refuse them).
    fn converse_parts(
        &self,
        request: &ChatRequest,
    ) -> Result<request::ConverseParts, ProviderError> {
        let stripped;
        let request = if capabilities::has_cache_points(request)
            && !capabilities::prompt_caching(&self.model_id)
        {
            stripped = capabilities::without_cache_points(request);
            &stripped
        } else {
            request
        };
        request::converse_parts(request).map_err(|e| ProviderError::Rejected(e.to_string()))
    }

    /// The request in Converse's terms, with this model's reasoning fields.
    fn parts(&self, request: &ChatRequest) -> Result<request::ConverseParts, ProviderError> {
        let mut parts = self.converse_parts(request)?;
        let (fields, max_tokens) = reasoning::additional_fields(request, &self.model_id)?;
        parts.inference = reasoning::with_max_tokens(parts.inference, max_tokens);
        parts.additional_fields = fields;
        Ok(parts)
    }

    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let parts = self.parts(request)?;
        let output = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(parts.messages))
            .set_system((!parts.system.is_empty()).then_some(parts.system))
            .set_inference_config(parts.inference)
            .set_tool_config(parts.tools)
            .set_additional_model_request_fields(parts.additional_fields)
            .send()
            .await
            .map_err(error::from_sdk)?;
        Ok(response::chat_response(
            output,
            request.response_format.is_some(),
        ))
    }

    /// Bedrock's CountTokens over the Converse form of the request (free of charge).
    async fn count(&self, request: &ChatRequest) -> Result<Option<u32>, ProviderError> {
        let parts = self.converse_parts(request)?;
        let converse = bedrock::ConverseTokensRequest::builder()
            .set_messages(Some(parts.messages))
            .set_system((!parts.system.is_empty()).then_some(parts.system))
            .set_tool_config(parts.tools)
            .build();
        let output = self
            .client
            .count_tokens()
            .model_id(&self.model_id)
            .input(bedrock::CountTokensInput::Converse(converse))
            .send()
            .await
            .map_err(error::from_sdk)?;
        Ok(u32::try_from(output.input_tokens).ok())
    }

    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
        let parts = self.parts(request)?;
        let output = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_messages(Some(parts.messages))
            .set_system((!parts.system.is_empty()).then_some(parts.system))
            .set_inference_config(parts.inference)
            .set_tool_config(parts.tools)
            .set_additional_model_request_fields(parts.additional_fields)
            .send()
            .await
            .map_err(error::from_sdk)?;
        let mut receiver = output.stream;
        let mut converter = stream::StreamConverter::new(request.response_format.is_some());
        // Wait for the first event, so an exception frame at the start still becomes a proper
        // HTTP status instead of an error inside a 200 stream.
        let first = match receiver.recv().await.map_err(error::from_sdk)? {
            Some(event) => converter.convert(event),
            None => {
                return Err(ProviderError::Upstream(
                    "the stream ended before it began".into(),
                ))
            }
        };
        let rest = futures_util::stream::unfold(Some((receiver, converter)), |state| async move {
            let (mut receiver, mut converter) = state?;
            loop {
                match receiver.recv().await {
                    Ok(Some(event)) => {
                        if let Some(converted) = converter.convert(event) {
                            return Some((Ok(converted), Some((receiver, converter))));
                        }
                    }
                    Ok(None) => return None,
                    Err(err) => return Some((Err(broken(error::from_sdk(err))), None)),
                }
            }
        });
        Ok(Box::pin(
            futures_util::stream::iter(first.map(Ok)).chain(rest),
        ))
    }
}

/// A connection that drops or a frame that cannot be read once the stream has started is a
/// broken stream, whatever the SDK calls it.
fn broken(err: ProviderError) -> ProviderError {
    match err {
        ProviderError::Connect(m) | ProviderError::Upstream(m) => ProviderError::StreamBroken(m),
        other => other,
    }
}

impl ChatProvider for BedrockProvider {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(self.converse(request))
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, ProviderError>> + Send + 'a>> {
        Box::pin(self.converse_stream(request))
    }

    fn count_tokens<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Option<u32>, ProviderError>> + Send + 'a>> {
        Box::pin(self.count(request))
    }

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
        Box::pin(embed::embed(&self.client, &self.model_id, request))
    }
}
