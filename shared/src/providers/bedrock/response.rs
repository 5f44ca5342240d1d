//! Bedrock's answer in OpenAI's terms: content, tool calls, finish reason and usage.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as bedrock;

use super::document::to_json;
use crate::chat::{ChatResponse, FinishReason, ToolCall, Usage};

pub fn chat_response(output: ConverseOutput) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    if let Some(bedrock::ConverseOutput::Message(message)) = output.output {
        for block in message.content {
            match block {
                bedrock::ContentBlock::Text(t) => text.push_str(&t),
                bedrock::ContentBlock::ToolUse(tool) => tool_calls.push(ToolCall {
                    arguments: to_json(tool.input()).to_string(),
                    id: tool.tool_use_id,
                    name: tool.name,
                }),
                _ => {}
            }
        }
    }
    ChatResponse {
        content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
        tool_calls,
        finish_reason: finish_reason(&output.stop_reason),
        usage: output.usage.as_ref().map(usage).unwrap_or_default(),
    }
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

pub fn usage(usage: &bedrock::TokenUsage) -> Usage {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Usage {
        prompt_tokens: count(usage.input_tokens),
        completion_tokens: count(usage.output_tokens),
        total_tokens: count(usage.total_tokens),
        cached_tokens: usage.cache_read_input_tokens.map(count),
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
        let response = chat_response(output);
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
                cached_tokens: None
            }
        );
    }
}
