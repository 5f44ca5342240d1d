//! What a Bedrock model accepts beyond plain Converse, by model id, so a request never carries a
//! field the model refuses: prompt caching (Bedrock's "Prompt caching" supported models) and
//! Claude's extended thinking (Claude 3.7 Sonnet and the Claude 4 family).
//!
//! Ids are matched on their model part, so cross-region profiles (`us.`, `eu.`, `apac.`,
//! `global.`) match like the base id. An ARN (a provisioned model, an application inference
//! profile) does not name its model: it is taken to support both, and Bedrock has the last word.

use crate::chat::{ChatRequest, ContentBlock};

/// Model parts that take `cachePoint` blocks (Claude 3.5 Sonnet v2 only had it in a closed
/// preview, so it is left out).
const PROMPT_CACHING: &[&str] = &[
    "anthropic.claude-3-7-sonnet",
    "anthropic.claude-3-5-haiku",
    "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4",
    "anthropic.claude-haiku-4",
    "amazon.nova-micro",
    "amazon.nova-lite",
    "amazon.nova-pro",
    "amazon.nova-premier",
    "amazon.nova-2",
];

/// Claude models with extended thinking (`additionalModelRequestFields.thinking`).
const CLAUDE_THINKING: &[&str] = &[
    "anthropic.claude-3-7-sonnet",
    "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4",
    "anthropic.claude-haiku-4",
];

fn named_by_arn(model_id: &str) -> bool {
    model_id.starts_with("arn:") && !model_id.contains(":foundation-model/")
}

fn listed(model_id: &str, list: &[&str]) -> bool {
    named_by_arn(model_id) || list.iter().any(|part| model_id.contains(part))
}

/// Whether `model_id` takes prompt-cache points.
pub fn prompt_caching(model_id: &str) -> bool {
    listed(model_id, PROMPT_CACHING)
}

/// Whether `model_id` (a Claude model) can think.
pub fn claude_thinking(model_id: &str) -> bool {
    listed(model_id, CLAUDE_THINKING)
}

/// Whether the request asks for any cache point.
pub fn has_cache_points(request: &ChatRequest) -> bool {
    !request.system_cache_points.is_empty()
        || request.tools.iter().any(|t| t.cache_point)
        || request.messages.iter().any(|m| {
            m.content
                .iter()
                .any(|b| matches!(b, ContentBlock::CachePoint))
        })
}

/// The request without its cache points, for a model that would refuse them (as LiteLLM drops
/// `cache_control` where a provider has no prompt cache): the answer is the same, uncached.
pub fn without_cache_points(request: &ChatRequest) -> ChatRequest {
    let mut request = request.clone();
    request.system_cache_points.clear();
    for tool in &mut request.tools {
        tool.cache_point = false;
    }
    for message in &mut request.messages {
        message
            .content
            .retain(|b| !matches!(b, ContentBlock::CachePoint));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caching_and_thinking_by_model() {
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
        ] {
            assert!(prompt_caching(id) && claude_thinking(id), "{id}");
        }
        for id in [
            "anthropic.claude-3-sonnet-20240229-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        ] {
            assert!(!prompt_caching(id) && !claude_thinking(id), "{id}");
        }
        assert!(prompt_caching("us.amazon.nova-2-lite-v1:0"));
        assert!(prompt_caching("amazon.nova-pro-v1:0"));
        assert!(!claude_thinking("anthropic.claude-3-5-haiku-20241022-v1:0"));
        assert!(prompt_caching("anthropic.claude-3-5-haiku-20241022-v1:0"));
    }

    #[test]
    fn cache_points_are_dropped_everywhere() {
        let request = ChatRequest {
            system: vec!["s".into()],
            system_cache_points: vec![0],
            messages: vec![crate::chat::Message {
                role: crate::chat::Role::User,
                content: vec![ContentBlock::Text("hi".into()), ContentBlock::CachePoint],
            }],
            ..ChatRequest::default()
        };
        assert!(has_cache_points(&request));
        let plain = without_cache_points(&request);
        assert!(!has_cache_points(&plain));
        assert_eq!(
            plain.messages[0].content,
            vec![ContentBlock::Text("hi".into())]
        );
        assert_eq!(plain.system, request.system);
    }
}
