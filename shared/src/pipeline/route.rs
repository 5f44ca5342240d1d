//! Step 4, route and call: the request's group first, then its fallbacks, each deployment
//! picked by the router's strategy, each failure retried as `num_retries` and `retry_policy`
//! allow, with exponential backoff and jitter.
//!
//! Fallbacks (LiteLLM's meaning): when a group's attempts are spent, the chain for the first
//! failure's kind is tried in order (`context_window_fallbacks` for an input too long for the
//! model, `content_policy_fallbacks` for content the model refused, else the request's
//! `fallbacks`, the group's `fallbacks`, or `default_fallbacks`), each group with its own
//! retries, at most `max_fallbacks` groups, never with `disable_fallbacks`.
//!
//! Every group in a chain is authorized like the first: a group the caller may not use (the
//! key's models narrowed by its team's) or that does not exist is skipped, so no fallback of
//! any kind reaches a model the caller could not have asked for ([`fallback_chain`]).

use std::future::Future;
use std::time::{Duration, Instant};

use super::account::Accounting;
use super::backoff::{backoff, retries_for};
use crate::chat::{ChatRequest, ContentBlock};
use crate::config::{FallbackKind, RouterSettings};
use crate::error::{GatewayError, ProviderError};
use crate::keys::Principal;
use crate::router::{Deployment, Estimate, InFlight, ModelGroup, ModelRouter};

/// Output tokens assumed for cost-based routing when the request sets no `max_tokens`.
pub const DEFAULT_OUTPUT_ESTIMATE: u32 = 512;

/// A call that answered, and how it got there.
pub(crate) struct Routed<'g, T> {
    pub deployment: &'g Deployment,
    pub value: T,
    pub in_flight: InFlight,
    /// When the answering call began.
    pub call_started: Instant,
    pub retries: u32,
    /// Groups fallen back to, in order.
    pub fallbacks: Vec<String>,
}

/// What the pipeline's route step needs from the gateway.
pub(crate) struct Route<'g> {
    pub router: &'g ModelRouter,
    pub settings: &'g RouterSettings,
    /// The caller: every group a request falls back to must be one it may use.
    pub principal: &'g Principal,
    /// The whole request's deadline: the invocation's or the request's `timeout`.
    pub deadline: Option<tokio::time::Instant>,
}

impl<'g> Route<'g> {
    pub(crate) async fn call<T, Fut>(
        &self,
        first: &'g ModelGroup,
        request: &ChatRequest,
        account: &mut Accounting,
        mut call: impl FnMut(&'g Deployment) -> Fut,
    ) -> Result<Routed<'g, T>, GatewayError>
    where
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let estimate = estimate(request);
        let mut group = first;
        let mut chain: Option<Vec<String>> = None;
        let mut fallbacks = Vec::new();
        let mut retries = 0;
        loop {
            let mut tried = Vec::new();
            let mut failures = 0;
            let err = loop {
                let pick = match group.pick(&estimate, &tried) {
                    Ok(pick) => pick,
                    Err(none) => {
                        break GatewayError::RateLimited {
                            limit: format!("every deployment of `{}` at its rpm/tpm", group.name)
                                .into(),
                            retry_after: none.retry_after,
                        }
                    }
                };
                account.attempt(pick.deployment);
                let in_flight = pick.deployment.start();
                let call_started = Instant::now();
                match call(pick.deployment).await {
                    Ok(value) => {
                        return Ok(Routed {
                            deployment: pick.deployment,
                            value,
                            in_flight,
                            call_started,
                            retries,
                            fallbacks,
                        })
                    }
                    Err(err) => {
                        in_flight.failed(&err);
                        account.attempt_failed(&err);
                        tracing::warn!(deployment = %pick.deployment.config.deployment_id, error = %err, "model call failed");
                        if !tried.contains(&pick.index) {
                            tried.push(pick.index);
                        }
                        let allowed = retries_for(&err, self.settings, request.routing.num_retries);
                        if failures >= allowed {
                            break err;
                        }
                        // Another deployment of the group is tried at once; the same one after
                        // a backoff.
                        let wait = if tried.len() < group.deployments.len() {
                            Duration::ZERO
                        } else {
                            backoff(failures + 1, &err, self.settings)
                        };
                        if !self.time_left_for(wait) {
                            break err;
                        }
                        tokio::time::sleep(wait).await;
                        failures += 1;
                        retries += 1;
                        account.retried();
                    }
                }
            };
            let chain = chain.get_or_insert_with(|| {
                fallback_chain(
                    &err,
                    first,
                    request,
                    self.settings,
                    self.router,
                    self.principal,
                )
            });
            let next = chain.get(fallbacks.len()).cloned();
            let Some(next) =
                next.filter(|_| fallbacks.len() < self.settings.max_fallbacks as usize)
            else {
                return Err(err);
            };
            let Some(next_group) = self.router.group(&next) else {
                return Err(err);
            };
            tracing::warn!(from = %group.name, to = %next, error = %err, "falling back");
            account.fell_back(&next);
            fallbacks.push(next);
            group = next_group;
        }
    }

    /// Whether a retry after `wait` still has time before the deadline.
    fn time_left_for(&self, wait: Duration) -> bool {
        self.deadline
            .is_none_or(|deadline| tokio::time::Instant::now() + wait < deadline)
    }
}

/// The groups to fall back to after `err` in `group`, in order: only groups that exist and
/// that `principal` may use (the one place a request's reachable groups are decided).
fn fallback_chain(
    err: &GatewayError,
    group: &ModelGroup,
    request: &ChatRequest,
    settings: &RouterSettings,
    router: &ModelRouter,
    principal: &Principal,
) -> Vec<String> {
    if request.routing.disable_fallbacks {
        return Vec::new();
    }
    let configured = |kind| settings.fallbacks_for(kind, &group.name).to_vec();
    let mut chain = match err {
        GatewayError::Provider(ProviderError::ContextWindowExceeded(_)) => {
            configured(FallbackKind::ContextWindow)
        }
        GatewayError::Provider(ProviderError::ContentFiltered(_)) => {
            configured(FallbackKind::ContentPolicy)
        }
        GatewayError::Provider(ProviderError::Rejected(_)) => Vec::new(),
        GatewayError::Provider(_) | GatewayError::RateLimited { .. } => request
            .routing
            .fallbacks
            .clone()
            .unwrap_or_else(|| configured(FallbackKind::General)),
        _ => Vec::new(),
    };
    chain.retain(|name| {
        let reachable = *name != group.name && router.group(name).is_some();
        let allowed = principal.may_use(name);
        if reachable && !allowed {
            tracing::warn!(group = %name, key = %principal.key_id, "fallback skipped: the key may not use it");
        }
        reachable && allowed
    });
    chain
}

/// The first group of the request's own `fallbacks` its caller may not use: such a request
/// is refused (403) before any model call, as if it had named the group as its model.
pub(crate) fn forbidden_requested_fallback<'r>(
    request: &'r ChatRequest,
    principal: &Principal,
) -> Option<&'r str> {
    request
        .routing
        .fallbacks
        .iter()
        .flatten()
        .find(|name| !principal.may_use(name))
        .map(String::as_str)
}

/// Tokens the request will likely use: its text at about four characters a token (images
/// count a flat 1,000), and `max_tokens` or [`DEFAULT_OUTPUT_ESTIMATE`] out.
pub fn estimate(request: &ChatRequest) -> Estimate {
    let chars: usize = request.system.iter().map(String::len).sum::<usize>()
        + request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .map(|block| match block {
                ContentBlock::Text(text) => text.len(),
                ContentBlock::Image { .. } => 4_000,
                // A PDF page is about 1,500 tokens; a byte of text about a quarter of one.
                ContentBlock::Document { data, .. } => data.len().max(4_000),
                ContentBlock::Reasoning(crate::chat::ReasoningBlock::Thinking { text, .. }) => {
                    text.len()
                }
                ContentBlock::Reasoning(crate::chat::ReasoningBlock::Redacted { data }) => {
                    data.len()
                }
                ContentBlock::CachePoint => 0,
                ContentBlock::ToolUse { input, .. } => input.to_string().len(),
                ContentBlock::ToolResult { content, .. } => content.len(),
            })
            .sum::<usize>();
    Estimate {
        input_tokens: u32::try_from(chars / 4 + 1).unwrap_or(u32::MAX),
        // Thinking without `max_tokens` may run to the budget and an answer beyond it.
        output_tokens: request.params.max_tokens.unwrap_or_else(|| {
            request.reasoning.map_or(DEFAULT_OUTPUT_ESTIMATE, |r| {
                r.budget_tokens()
                    .saturating_add(crate::chat::ANSWER_TOKENS_BEYOND_BUDGET)
            })
        }),
    }
}

#[cfg(test)]
mod estimate_tests {
    use super::*;
    use crate::chat::{Reasoning, ReasoningEffort};

    #[test]
    fn thinking_without_max_tokens_reserves_its_budget_and_an_answer() {
        let mut request = ChatRequest::default();
        assert_eq!(estimate(&request).output_tokens, DEFAULT_OUTPUT_ESTIMATE);
        request.reasoning = Some(Reasoning::Effort(ReasoningEffort::High));
        assert_eq!(estimate(&request).output_tokens, 4096 + 4096);
        request.params.max_tokens = Some(5000);
        assert_eq!(estimate(&request).output_tokens, 5000);
    }
}
