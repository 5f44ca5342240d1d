//! Counting a request's input tokens without answering it (Anthropic's `count_tokens`): the
//! model group is resolved and authorized as for an answer, then the deployment's provider
//! counts (Bedrock's CountTokens) or, when it cannot, the router's estimate stands in. Nothing
//! is reserved, spent or recorded: a count costs the caller nothing.

use super::route;
use super::Gateway;
use crate::chat::ChatRequest;
use crate::error::GatewayError;
use crate::pipeline::RequestContext;

impl Gateway {
    /// The request's input tokens as the model would count them, else as estimated.
    pub async fn count_tokens(
        &self,
        ctx: &RequestContext,
        request: &ChatRequest,
    ) -> Result<u32, GatewayError> {
        let group = self.resolve(ctx, request)?;
        let estimate = route::estimate(request);
        if let Ok(pick) = group.pick(&estimate, &[]) {
            match pick.deployment.provider.count_tokens(request).await {
                Ok(Some(tokens)) => return Ok(tokens),
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    deployment = %pick.deployment.config.deployment_id,
                    error = %err,
                    "token count failed; answering with the estimate"
                ),
            }
        }
        Ok(estimate.input_tokens)
    }
}
