//! OpenAI's `reasoning_effort`, Anthropic's `thinking` (as LiteLLM takes it on chat
//! completions) and the `thinking_blocks` an assistant message sends back, in chat terms.

use crate::chat::{Reasoning, ReasoningBlock, ReasoningEffort};
use crate::error::GatewayError;
use crate::openai::request::{ChatCompletionRequest, Thinking, ThinkingBlock};

/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// The reasoning the request asks for; `thinking` wins over `reasoning_effort` when both come.
/// Thinking rules every model that thinks shares are checked here, so they fail before any
/// model call: temperature stays at its default (or 1), and `max_tokens` leaves room beyond
/// the budget.
pub fn reasoning(req: &ChatCompletionRequest) -> Result<Option<Reasoning>, GatewayError> {
    let reasoning = match (&req.thinking, req.reasoning_effort.as_deref()) {
        (Some(thinking), _) => from_thinking(thinking)?,
        (None, Some(effort)) => from_effort(effort)?,
        (None, None) => None,
    };
    let Some(reasoning) = reasoning else {
        return Ok(None);
    };
    let field = if req.thinking.is_some() {
        "thinking"
    } else {
        "reasoning_effort"
    };
    if req.temperature.is_some_and(|t| t != 1.0) {
        return Err(GatewayError::invalid_request(
            format!("`temperature` may only be 1 (or left out) when `{field}` turns thinking on"),
            "temperature",
        ));
    }
    if let (Reasoning::Budget(budget), Some(max)) =
        (reasoning, req.max_completion_tokens.or(req.max_tokens))
    {
        if max <= budget {
            let param = if req.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            return Err(GatewayError::invalid_request(
                format!(
                    "`{param}` ({max}) must be greater than `thinking.budget_tokens` ({budget})"
                ),
                param,
            ));
        }
    }
    Ok(Some(reasoning))
}

fn from_thinking(thinking: &Thinking) -> Result<Option<Reasoning>, GatewayError> {
    match thinking.kind.as_str() {
        "disabled" => Ok(None),
        "enabled" => match thinking.budget_tokens {
            Some(budget) if budget >= MIN_THINKING_BUDGET => Ok(Some(Reasoning::Budget(budget))),
            Some(_) => Err(GatewayError::invalid_request(
                format!("`thinking.budget_tokens` must be at least {MIN_THINKING_BUDGET}"),
                "thinking.budget_tokens",
            )),
            None => Err(GatewayError::invalid_request(
                "`thinking` of type `enabled` needs `budget_tokens`",
                "thinking.budget_tokens",
            )),
        },
        other => Err(GatewayError::invalid_request(
            format!("`thinking.type` must be `enabled` or `disabled`; got `{other}`"),
            "thinking.type",
        )),
    }
}

/// LiteLLM's values: `minimal` thinks as little as `low` allows, `none` turns thinking off.
fn from_effort(effort: &str) -> Result<Option<Reasoning>, GatewayError> {
    let effort = match effort {
        "none" | "disable" => return Ok(None),
        "minimal" | "low" => ReasoningEffort::Low,
        "medium" => ReasoningEffort::Medium,
        "high" => ReasoningEffort::High,
        other => {
            return Err(GatewayError::invalid_request(
                format!(
                    "`reasoning_effort` must be none, minimal, low, medium or high; got `{other}`"
                ),
                "reasoning_effort",
            ))
        }
    };
    Ok(Some(Reasoning::Effort(effort)))
}

/// An assistant message's `thinking_blocks`, in order.
pub fn blocks(blocks: Option<Vec<ThinkingBlock>>) -> Vec<ReasoningBlock> {
    blocks
        .unwrap_or_default()
        .into_iter()
        .filter_map(|block| match block {
            ThinkingBlock::Thinking {
                thinking,
                signature,
            } => {
                (!thinking.is_empty() || signature.is_some()).then_some(ReasoningBlock::Thinking {
                    text: thinking,
                    signature,
                })
            }
            ThinkingBlock::RedactedThinking { data } => Some(ReasoningBlock::Redacted { data }),
        })
        .collect()
}
