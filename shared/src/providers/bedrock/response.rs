//! Bedrock's answer in OpenAI's terms: content, reasoning, tool calls, finish reason and usage.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as bedrock;
use base64::Engine;

use super::document::to_json;
use super::request::JSON_TOOL_NAME;
use crate::chat::{ChatResponse, FinishReason, ReasoningBlock, ToolCall, Usage};

/// `structured`: the request asked for a structured answer, so a call of the JSON tool is the
/// answer's content (finish reason `stop`), not a tool call.
pub fn chat_response(output: ConverseOutput, structured: bool) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = Vec::new();
    let mut answered_by_json_tool = false;
    if let Some(bedrock::ConverseOutput::Message(message)) = output.output {
        for block in message.content {
            match block {
                bedrock::ContentBlock::Text(t) => text.push_str(&t),
                bedrock::ContentBlock::ToolUse(tool)
                    if structured && tool.name == JSON_TOOL_NAME =>
                {
                    // The JSON replaces any preamble the model wrote before calling the tool.
                    text = to_json(tool.input()).to_string();
                    answered_by_json_tool = true;
                }
                bedrock::ContentBlock::ToolUse(tool) => tool_calls.push(ToolCall {
                    arguments: to_json(tool.input()).to_string(),
                    id: tool.tool_use_id,
                    name: tool.name,
                }),
                bedrock::ContentBlock::ReasoningContent(block) => {
                    reasoning.extend(reasoning_block(block))
                }
                _ => {}
            }
        }
    }
    let mut finish_reason = finish_reason(&output.stop_reason);
    if answered_by_json_tool && tool_calls.is_empty() && finish_reason == FinishReason::ToolCalls {
        finish_reason = FinishReason::Stop;
    }
    let mut usage = output.usage.as_ref().map(usage).unwrap_or_default();
    usage.reasoning_tokens = reasoning_tokens(&reasoning, usage.completion_tokens);
    ChatResponse {
        content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
        reasoning,
        tool_calls,
        finish_reason,
        usage,
    }
}

fn reasoning_block(block: bedrock::ReasoningContentBlock) -> Option<ReasoningBlock> {
    match block {
        bedrock::ReasoningContentBlock::ReasoningText(t) => Some(ReasoningBlock::Thinking {
            text: t.text,
            signature: t.signature,
        }),
        bedrock::ReasoningContentBlock::RedactedContent(data) => Some(ReasoningBlock::Redacted {
            data: base64::engine::general_purpose::STANDARD.encode(data.as_ref()),
        }),
        _ => None,
    }
}

/// Bedrock does not count reasoning tokens apart; like LiteLLM, estimate them from the
/// reasoning's text (about four characters a token), never above the output tokens.
pub fn reasoning_tokens(reasoning: &[ReasoningBlock], completion_tokens: u32) -> Option<u32> {
    if reasoning.is_empty() {
        return None;
    }
    let chars: usize = reasoning
        .iter()
        .map(|block| match block {
            ReasoningBlock::Thinking { text, .. } => text.chars().count(),
            ReasoningBlock::Redacted { .. } => 0,
        })
        .sum();
    Some(estimate_tokens(chars).min(completion_tokens))
}

/// About four characters a token, rounded up.
pub fn estimate_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// end_turn → stop, stop_sequence → stop sequence (`stop` to OpenAI callers), max_tokens → length, tool_use → tool_calls,
/// guardrail_intervened/content_filtered → content_filter.
pub fn finish_reason(reason: &bedrock::StopReason) -> FinishReason {
    match reason {
        bedrock::StopReason::MaxTokens | bedrock::StopReason::ModelContextWindowExceeded => {
            FinishReason::Length
        }
        bedrock::StopReason::ToolUse => FinishReason::ToolCalls,
        bedrock::StopReason::StopSequence => FinishReason::StopSequence,
        bedrock::StopReason::GuardrailIntervened | bedrock::StopReason::ContentFiltered => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Stop,
    }
}

/// Bedrock's `inputTokens` leaves out the tokens read from and written to the prompt cache;
/// OpenAI's `prompt_tokens` counts them (as LiteLLM reports Bedrock's usage).
pub fn usage(usage: &bedrock::TokenUsage) -> Usage {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    let cache_read = usage.cache_read_input_tokens.map(count);
    let cache_write = usage.cache_write_input_tokens.map(count);
    let prompt_tokens = count(usage.input_tokens)
        .saturating_add(cache_read.unwrap_or(0))
        .saturating_add(cache_write.unwrap_or(0));
    let completion_tokens = count(usage.output_tokens);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
        cached_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_stop_reason() {
        use bedrock::StopReason as S;
        for (reason, expected) in [
            (S::EndTurn, FinishReason::Stop),
            (S::StopSequence, FinishReason::StopSequence),
            (S::MaxTokens, FinishReason::Length),
            (S::ToolUse, FinishReason::ToolCalls),
            (S::GuardrailIntervened, FinishReason::ContentFilter),
            (S::ContentFiltered, FinishReason::ContentFilter),
        ] {
            assert_eq!(finish_reason(&reason), expected);
        }
    }

    #[test]
    fn collects_text_tool_calls_and_usage() {
        let tool = bedrock::ToolUseBlock::builder()
            .tool_use_id("t1")
            .name("w")
            .input(aws_smithy_types::Document::Object(
                [("c".to_string(), "P".into())].into(),
            ))
            .build()
            .unwrap();
        let message = bedrock::Message::builder()
            .role(bedrock::ConversationRole::Assistant)
            .content(bedrock::ContentBlock::Text("Let me check. ".into()))
            .content(bedrock::ContentBlock::ToolUse(tool))
            .build()
            .unwrap();
        let output = ConverseOutput::builder()
            .output(bedrock::ConverseOutput::Message(message))
            .stop_reason(bedrock::StopReason::ToolUse)
            .usage(
                bedrock::TokenUsage::builder()
                    .input_tokens(3)
                    .output_tokens(4)
                    .total_tokens(7)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let response = chat_response(output, false);
        assert_eq!(response.content.as_deref(), Some("Let me check. "));
        assert_eq!(
            response.tool_calls,
            vec![ToolCall {
                id: "t1".into(),
                name: "w".into(),
                arguments: r#"{"c":"P"}"#.into()
            }]
        );
        assert_eq!(response.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            response.usage,
            Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                total_tokens: 7,
                ..Usage::default()
            }
        );
    }
}
