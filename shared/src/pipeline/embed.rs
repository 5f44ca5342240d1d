//! `POST /v1/embeddings` on the same path as chat: authenticate (the edge), resolve the group
//! (which the caller may use, and which must be an embedding group), reserve budget and rate,
//! `pre_call` guardrails on the input texts (masking reaches the model), route with retries,
//! and one usage record (prompt tokens, cost from `input_cost_per_token`). There are no output
//! guardrails: an answer is vectors, not text. With the response cache on for embeddings, the
//! texts as they reach the model (masked) are looked up first: a hit costs nothing and calls no
//! model; a miss stores the vectors it gets.

use std::time::Duration;

use super::account::Accounting;
use super::cached::{Found, Storing, CACHE_DEPLOYMENT};
use super::{failed, guard, within, RequestContext};
use crate::cache::{CacheStatus, CachedEmbeddings};
use crate::chat::{ChatRequest, ContentBlock, InferenceParams, Message, Role, Usage};
use crate::embeddings::{EmbeddingRequest, EmbeddingResponse};
use crate::error::{GatewayError, TimeoutKind};
use crate::providers::bedrock::embed;
use crate::router::ModelGroup;

/// Embeddings and where they came from.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub response: EmbeddingResponse,
    pub deployment_id: String,
    pub latency: Duration,
    pub cost: Option<f64>,
    pub retries: u32,
    /// How the response cache took part, when it did.
    pub cache: Option<CacheStatus>,
}

/// Whether every deployment of `group` serves embeddings.
pub(super) fn is_embedding_group(group: &ModelGroup) -> bool {
    !group.deployments.is_empty() && group.deployments.iter().all(|d| d.config.embedding)
}

impl super::Gateway {
    pub async fn embed(
        &self,
        ctx: &RequestContext,
        mut request: EmbeddingRequest,
    ) -> Result<Embedded, GatewayError> {
        let model = self.accounted_model(&request.model);
        let mut account = Accounting::start(&self.after, ctx, model, false);
        account.user(request.user.as_deref());
        let group = match self.embedding_group(ctx, &request) {
            Ok(group) => group,
            Err(err) => return Err(failed(account, err)),
        };
        // The request as the budget, rate limits and guardrails see it: its texts, one turn.
        let mut text = ChatRequest {
            model: request.model.clone(),
            messages: vec![Message {
                role: Role::User,
                content: request
                    .inputs
                    .iter()
                    .map(|t| ContentBlock::Text(t.clone()))
                    .collect(),
            }],
            params: InferenceParams {
                max_tokens: Some(1),
                ..InferenceParams::default()
            },
            user: request.user.clone(),
            ..ChatRequest::default()
        };
        let guards = match self
            .guardrails
            .select(&group.name, &ctx.principal.guardrails, &[])
        {
            Ok(guards) => guards,
            Err(err) => return Err(failed(account, err)),
        };
        match self.reserve(ctx, group, &text).await {
            Ok(Some(plan)) => account.reserved(plan, std::sync::Arc::clone(self.auth.store())),
            Ok(None) => {}
            Err(err) => return Err(failed(account, err)),
        }
        let log = account.guardrail_log();
        if let Err(err) = guard::input(&guards.pre_call, &mut text, &log).await {
            return Err(failed(account, err));
        }
        // Masked texts go to the model in place of the originals.
        let masked: Vec<String> = text
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        if masked.len() == request.inputs.len() {
            request.inputs = masked;
        }
        account.capture_embedding_inputs(&text);
        let mut storing = None;
        if let Some(cache) = self.cache.as_ref() {
            let plan =
                cache.plan_embeddings(&ctx.principal, ctx.cache.as_ref(), guards.names(), &request);
            if let Some(plan) = plan {
                match Storing::find::<CachedEmbeddings>(cache, &self.after, plan, ctx.deadline)
                    .await
                {
                    Found::Hit(cached, plan) => {
                        return Ok(self.embedded_from_cache(account, cached, plan.key))
                    }
                    Found::Miss(miss) => {
                        account.cache_miss();
                        storing = Some(miss);
                    }
                }
            }
        }
        let route = self.route(ctx, &text);
        let deadline = route.deadline;
        let asked = &request;
        let routed = route
            .call(group, &text, &mut account, |d| {
                within(deadline, TimeoutKind::Deadline, async move {
                    d.provider.embed(asked).await.map_err(GatewayError::from)
                })
            })
            .await;
        let routed = match routed {
            Ok(routed) => routed,
            Err(err) => return Err(failed(account, err)),
        };
        let latency = routed.call_started.elapsed();
        account.attempt_answered();
        let response = routed.value;
        let tokens = response.prompt_tokens;
        let usage = Usage {
            prompt_tokens: tokens,
            completion_tokens: 0,
            total_tokens: tokens,
            ..Usage::default()
        };
        routed.in_flight.succeeded(latency, &usage);
        let cost = account.cost(&usage);
        account.succeeded(Some(usage), None, None);
        let cache = storing.map(|storing| {
            let status = storing.status();
            storing.embeddings(&response);
            status
        });
        Ok(Embedded {
            response,
            deployment_id: routed.deployment.config.deployment_id.clone(),
            latency,
            cost,
            retries: routed.retries,
            cache,
        })
    }

    /// Embeddings answered from the cache: no model call, cost 0, recorded as a hit.
    fn embedded_from_cache(
        &self,
        mut account: Accounting,
        cached: CachedEmbeddings,
        key: String,
    ) -> Embedded {
        account.cache_hit();
        let response = cached.response();
        let usage = Usage {
            prompt_tokens: response.prompt_tokens,
            total_tokens: response.prompt_tokens,
            ..Usage::default()
        };
        account.succeeded(Some(usage), None, None);
        Embedded {
            response,
            deployment_id: CACHE_DEPLOYMENT.to_owned(),
            latency: Duration::ZERO,
            cost: Some(0.0),
            retries: 0,
            cache: Some(CacheStatus { key, hit: true }),
        }
    }

    /// The group `request` names: configured, allowed to the caller, and an embedding group
    /// whose model can honour the request's `dimensions`.
    fn embedding_group(
        &self,
        ctx: &RequestContext,
        request: &EmbeddingRequest,
    ) -> Result<&ModelGroup, GatewayError> {
        let model = request.model.as_str();
        let group = self
            .router
            .group(model)
            .ok_or_else(|| GatewayError::model_not_found(model))?;
        if !ctx.principal.may_use(model) {
            return Err(GatewayError::ModelNotAllowed {
                model: model.to_owned(),
            });
        }
        if !is_embedding_group(group) {
            return Err(GatewayError::invalid_request(
                format!("`{model}` is a chat model: use /v1/chat/completions, or an embedding model here"),
                "model",
            ));
        }
        for deployment in &group.deployments {
            if let Some(family) = embed::family(&deployment.config.model_id) {
                embed::check(family, request)
                    .map_err(|(param, message)| GatewayError::invalid_request(message, param))?;
            }
        }
        Ok(group)
    }
}
