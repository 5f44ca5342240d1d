//! A request's reasoning as Converse's `additionalModelRequestFields`, by model family: Claude
//! takes `thinking` with a token budget, Nova 2 takes `reasoningConfig` with an effort level.

use aws_sdk_bedrockruntime::types as bedrock;
use serde_json::{json, Value};

use super::document::to_document;
use crate::chat::{ChatRequest, Reasoning, ReasoningEffort};
use crate::providers::ProviderError;

/// LiteLLM's budgets for `reasoning_effort` on Claude.
fn budget_of(effort: ReasoningEffort) -> u32 {
    effort.budget_tokens()
}

pub use crate::chat::ANSWER_TOKENS_BEYOND_BUDGET;

/// Claude's smallest thinking budget.
const MIN_BUDGET: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Claude,
    Nova2,
    Other,
}

fn family(model_id: &str) -> Family {
    if model_id.contains("anthropic.claude") && super::capabilities::claude_thinking(model_id) {
        Family::Claude
    } else if model_id.contains("amazon.nova-2") {
        Family::Nova2
    } else {
        Family::Other
    }
}

/// The fields to add, and the `maxTokens` to send instead of the caller's (Claude needs
/// `maxTokens` above the budget). A model that cannot think is a 400 naming the field.
pub fn additional_fields(
    request: &ChatRequest,
    model_id: &str,
) -> Result<(Option<aws_smithy_types::Document>, Option<u32>), ProviderError> {
    let Some(reasoning) = request.reasoning else {
        return Ok((None, None));
    };
    let max_tokens = request.params.max_tokens;
    let (fields, max_tokens): (Value, Option<u32>) = match family(model_id) {
        Family::Claude => {
            let budget = match reasoning {
                Reasoning::Budget(budget) => budget,
                // An effort's budget shrinks to fit a smaller max_tokens, as far as Claude allows.
                Reasoning::Effort(effort) => match max_tokens {
                    Some(max) => budget_of(effort).min(max.saturating_sub(1)),
                    None => budget_of(effort),
                },
            };
            if budget < MIN_BUDGET || max_tokens.is_some_and(|max| max <= budget) {
                return Err(ProviderError::Rejected(format!(
                    "max_tokens must be greater than the thinking budget ({}), which is at least \
                     {MIN_BUDGET}",
                    budget.max(MIN_BUDGET)
                )));
            }
            (
                json!({"thinking": {"type": "enabled", "budget_tokens": budget}}),
                Some(max_tokens.unwrap_or(budget.saturating_add(ANSWER_TOKENS_BEYOND_BUDGET))),
            )
        }
        Family::Nova2 => {
            let effort = match reasoning {
                Reasoning::Effort(effort) => effort,
                Reasoning::Budget(budget) if budget <= budget_of(ReasoningEffort::Low) => {
                    ReasoningEffort::Low
                }
                Reasoning::Budget(budget) if budget <= budget_of(ReasoningEffort::Medium) => {
                    ReasoningEffort::Medium
                }
                Reasoning::Budget(_) => ReasoningEffort::High,
            };
            (
                json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort.as_str()}}),
                max_tokens,
            )
        }
        Family::Other => {
            return Err(ProviderError::Rejected(format!(
                "reasoning (`reasoning_effort`, `thinking`) is not available on `{model_id}`; \
                 Claude 3.7 Sonnet, the Claude 4 models and Nova 2 take it"
            )))
        }
    };
    Ok((Some(to_document(&fields)), max_tokens))
}

/// `inference` with `maxTokens` replaced (or added) when reasoning needs it.
pub fn with_max_tokens(
    inference: Option<bedrock::InferenceConfiguration>,
    max_tokens: Option<u32>,
) -> Option<bedrock::InferenceConfiguration> {
    let Some(max) = max_tokens else {
        return inference;
    };
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    let builder = match inference {
        Some(config) => bedrock::InferenceConfiguration::builder()
            .set_temperature(config.temperature)
            .set_top_p(config.top_p)
            .set_stop_sequences(config.stop_sequences),
        None => bedrock::InferenceConfiguration::builder(),
    };
    Some(builder.max_tokens(max).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::InferenceParams;
    use crate::providers::bedrock::document::to_json;

    fn request(reasoning: Reasoning, max_tokens: Option<u32>) -> ChatRequest {
        ChatRequest {
            reasoning: Some(reasoning),
            params: InferenceParams {
                max_tokens,
                ..InferenceParams::default()
            },
            ..ChatRequest::default()
        }
    }

    #[test]
    fn claude_gets_a_budget_and_room_to_answer() {
        let claude = "us.anthropic.claude-sonnet-4-20250514-v1:0";
        let (fields, max) = additional_fields(
            &request(Reasoning::Effort(ReasoningEffort::High), None),
            claude,
        )
        .unwrap();
        assert_eq!(
            to_json(&fields.unwrap()),
            json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
        );
        assert_eq!(max, Some(4096 + ANSWER_TOKENS_BEYOND_BUDGET));
        let (fields, max) = additional_fields(
            &request(Reasoning::Effort(ReasoningEffort::High), Some(3000)),
            claude,
        )
        .unwrap();
        assert_eq!(to_json(&fields.unwrap())["thinking"]["budget_tokens"], 2999);
        assert_eq!(max, Some(3000));
        assert!(additional_fields(&request(Reasoning::Budget(2000), Some(2000)), claude).is_err());
        assert!(additional_fields(
            &request(Reasoning::Effort(ReasoningEffort::Low), Some(500)),
            claude
        )
        .is_err());
    }

    #[test]
    fn nova_2_gets_an_effort_and_others_refuse() {
        let (fields, max) = additional_fields(
            &request(Reasoning::Budget(2048), Some(100)),
            "us.amazon.nova-2-lite-v1:0",
        )
        .unwrap();
        assert_eq!(
            to_json(&fields.unwrap()),
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}})
        );
        assert_eq!(max, Some(100));
        assert!(matches!(
            additional_fields(
                &request(Reasoning::Effort(ReasoningEffort::Low), None),
                "amazon.titan-text-express-v1"
            ),
            Err(ProviderError::Rejected(_))
        ));
    }
}
