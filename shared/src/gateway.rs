//! The request path both functions call: authorize, route, call the model, account.
//!
//! The chat handler reaches it over HTTP, the Lex function directly, so both get the same
//! routing, limits and records as they are added.

use std::time::{Duration, Instant};

use crate::auth::{MasterKeyAuth, Principal};
use crate::chat::{ChatRequest, ChatResponse};
use crate::config::GatewayConfig;
use crate::env::Environment;
use crate::error::ApiError;
use crate::providers::bedrock::ClientInitError;
use crate::providers::{EventStream, ProviderError};
use crate::router::{Deployment, ModelRouter};

/// What one request runs with.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    /// A conversation id (Lex session, or a client-sent one) for traces.
    pub session_id: Option<String>,
    /// The call is abandoned (504) once this passes.
    pub deadline: Option<tokio::time::Instant>,
}

impl RequestContext {
    pub fn new(principal: Principal) -> Self {
        RequestContext {
            request_id: new_request_id(),
            principal,
            session_id: None,
            deadline: None,
        }
    }
}

/// `chatcmpl-` and 32 hex digits.
pub fn new_request_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// A whole answer and where it came from.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    pub response: ChatResponse,
    pub deployment_id: String,
    pub latency: Duration,
}

/// A streamed answer and where it comes from.
pub struct StreamOutcome {
    pub events: EventStream,
    pub deployment_id: String,
}

pub struct Gateway {
    router: ModelRouter,
    auth: MasterKeyAuth,
}

impl Gateway {
    pub fn new(router: ModelRouter, auth: MasterKeyAuth) -> Self {
        Gateway { router, auth }
    }

    /// Builds every client once; called at cold start.
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, ClientInitError> {
        let router = ModelRouter::from_config(config, env).await?;
        Ok(Gateway::new(
            router,
            MasterKeyAuth::new(config.master_key.clone()),
        ))
    }

    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, ApiError> {
        self.auth.authenticate(headers)
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.router.model_names()
    }

    fn deployment(&self, model: &str) -> Result<&Deployment, ApiError> {
        let group = self
            .router
            .group(model)
            .ok_or_else(|| ApiError::model_not_found(model))?;
        group.pick().ok_or_else(|| ApiError::model_not_found(model))
    }

    pub async fn chat(
        &self,
        ctx: &RequestContext,
        request: &ChatRequest,
    ) -> Result<ChatOutcome, ApiError> {
        let deployment = self.deployment(&request.model)?;
        let started = Instant::now();
        let result = within(ctx.deadline, deployment.provider.chat(request)).await;
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                tracing::info!(
                    request_id = %ctx.request_id, model = %request.model, deployment = %deployment.config.deployment_id,
                    key = %ctx.principal.key_id, latency_ms = latency.as_millis() as u64,
                    prompt_tokens = response.usage.prompt_tokens, completion_tokens = response.usage.completion_tokens,
                    "chat completed"
                );
                Ok(ChatOutcome {
                    response,
                    deployment_id: deployment.config.deployment_id.clone(),
                    latency,
                })
            }
            Err(err) => Err(failed(ctx, request, deployment, err)),
        }
    }

    /// Starts a stream; errors before its first event come back as an error, not a stream.
    pub async fn chat_stream(
        &self,
        ctx: &RequestContext,
        request: &ChatRequest,
    ) -> Result<StreamOutcome, ApiError> {
        let deployment = self.deployment(&request.model)?;
        match within(ctx.deadline, deployment.provider.chat_stream(request)).await {
            Ok(events) => Ok(StreamOutcome {
                events,
                deployment_id: deployment.config.deployment_id.clone(),
            }),
            Err(err) => Err(failed(ctx, request, deployment, err)),
        }
    }
}

fn failed(
    ctx: &RequestContext,
    request: &ChatRequest,
    deployment: &Deployment,
    err: ProviderError,
) -> ApiError {
    tracing::warn!(
        request_id = %ctx.request_id, model = %request.model, deployment = %deployment.config.deployment_id,
        error = %err, "model call failed"
    );
    ApiError::from(err)
}

async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    call: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match deadline {
        None => call.await,
        Some(deadline) => tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or_else(|_| {
                Err(ProviderError::Timeout(
                    "the request's deadline passed".into(),
                ))
            }),
    }
}
