//! The Messages API's `message` response body, and the stop reason and usage both the whole
//! answer and the stream report.

use serde::Serialize;
use serde_json::Value;

use crate::chat::{ChatResponse, FinishReason, ReasoningBlock, Usage};

#[derive(Debug, Serialize)]
pub struct MessageResponse<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub content: Vec<ResponseBlock<'a>>,
    pub model: &'a str,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: UsageBody,
}

/// A block of the answer.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock<'a> {
    Thinking {
        thinking: &'a str,
        /// Anthropic always sends one; empty when the provider gave none.
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct UsageBody {
    pub input_tokens: u32,
    pub output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
}

/// Anthropic's `input_tokens` leaves out the tokens read from and written to the prompt cache,
/// which the chat model's `prompt_tokens` counts.
impl From<Usage> for UsageBody {
    fn from(u: Usage) -> Self {
        let cached = u.cached_tokens.unwrap_or(0) + u.cache_write_tokens.unwrap_or(0);
        UsageBody {
            input_tokens: u.prompt_tokens.saturating_sub(cached),
            output_tokens: u.completion_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cached_tokens,
        }
    }
}

impl<'a> From<&'a ReasoningBlock> for ResponseBlock<'a> {
    fn from(block: &'a ReasoningBlock) -> Self {
        match block {
            ReasoningBlock::Thinking { text, signature } => ResponseBlock::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or_default(),
            },
            ReasoningBlock::Redacted { data } => ResponseBlock::RedactedThinking { data },
        }
    }
}

/// end_turn, stop_sequence, max_tokens, tool_use; a content filter is Anthropic's `refusal`.
pub fn stop_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// The stop sequence that ended the answer. Bedrock says that one did, not which: with one
/// requested sequence it is that one; with several it is not known (`null`).
pub fn stop_sequence(reason: FinishReason, requested: &[String]) -> Option<&str> {
    match (reason, requested) {
        (FinishReason::StopSequence, [only]) => Some(only),
        _ => None,
    }
}

impl<'a> MessageResponse<'a> {
    /// `model` is the name the client asked for, not the Bedrock model id.
    pub fn new(
        id: &'a str,
        model: &'a str,
        response: &'a ChatResponse,
        stop_sequences: &'a [String],
    ) -> Self {
        let mut content: Vec<ResponseBlock<'a>> =
            Vec::with_capacity(1 + response.reasoning.len() + response.tool_calls.len());
        content.extend(response.reasoning.iter().map(ResponseBlock::from));
        if let Some(text) = response.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(ResponseBlock::Text { text });
        }
        content.extend(
            response
                .tool_calls
                .iter()
                .map(|call| ResponseBlock::ToolUse {
                    id: &call.id,
                    name: &call.name,
                    input: tool_input(&call.arguments),
                }),
        );
        MessageResponse {
            id,
            kind: "message",
            role: "assistant",
            content,
            model,
            stop_reason: Some(stop_reason(response.finish_reason)),
            stop_sequence: stop_sequence(response.finish_reason, stop_sequences),
            usage: response.usage.into(),
        }
    }
}

/// A tool call's arguments (JSON text) as the object Anthropic sends; `{}` when empty.
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
}

/// `{"input_tokens": N}`, the answer of `/v1/messages/count_tokens`.
#[derive(Debug, Serialize)]
pub struct CountTokensResponse {
    pub input_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;
    use serde_json::json;

    #[test]
    fn whole_answer_is_anthropic_shaped() {
        let response = ChatResponse {
            content: Some("Let me check.".into()),
            tool_calls: vec![ToolCall {
                id: "toolu_1".into(),
                name: "weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15,
                ..Usage::default()
            },
            reasoning: Vec::new(),
        };
        let body =
            serde_json::to_value(MessageResponse::new("msg_1", "claude", &response, &[])).unwrap();
        assert_eq!(
            body,
            json!({"id":"msg_1","type":"message","role":"assistant","model":"claude",
                "content":[{"type":"text","text":"Let me check."},
                           {"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}],
                "stop_reason":"tool_use","stop_sequence":null,
                "usage":{"input_tokens":10,"output_tokens":5}})
        );
    }

    #[test]
    fn reasoning_comes_first_and_cache_tokens_leave_input_tokens() {
        let response = ChatResponse {
            content: Some("42".into()),
            reasoning: vec![
                ReasoningBlock::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                },
                ReasoningBlock::Redacted {
                    data: "b3BhcXVl".into(),
                },
            ],
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 5,
                total_tokens: 105,
                cached_tokens: Some(60),
                cache_write_tokens: Some(30),
                reasoning_tokens: Some(1),
            },
        };
        let body =
            serde_json::to_value(MessageResponse::new("m", "claude", &response, &[])).unwrap();
        assert_eq!(
            body["content"],
            json!([{"type":"thinking","thinking":"hmm","signature":"sig"},
                   {"type":"redacted_thinking","data":"b3BhcXVl"},
                   {"type":"text","text":"42"}])
        );
        assert_eq!(
            body["usage"],
            json!({"input_tokens":10,"output_tokens":5,
                   "cache_creation_input_tokens":30,"cache_read_input_tokens":60})
        );
    }

    #[test]
    fn stop_reasons_and_sequences() {
        assert_eq!(stop_reason(FinishReason::Stop), "end_turn");
        assert_eq!(stop_reason(FinishReason::Length), "max_tokens");
        assert_eq!(stop_reason(FinishReason::StopSequence), "stop_sequence");
        let one = vec!["END".to_owned()];
        assert_eq!(stop_sequence(FinishReason::StopSequence, &one), Some("END"));
        assert_eq!(stop_sequence(FinishReason::Stop, &one), None);
        let two = vec!["A".to_owned(), "B".to_owned()];
        assert_eq!(stop_sequence(FinishReason::StopSequence, &two), None);
    }
}
