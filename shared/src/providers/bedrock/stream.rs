//! ConverseStream events as [`StreamEvent`]s, sent on as each arrives.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types as bedrock;
use aws_sdk_bedrockruntime::types::ConverseStreamOutput as Event;

use base64::Engine;

use super::request::JSON_TOOL_NAME;
use super::response::{estimate_tokens, finish_reason, usage};
use crate::chat::{FinishReason, StreamEvent};

/// Tracks which Bedrock content blocks are tool calls, so tool-call deltas get OpenAI's
/// tool-call index (0, 1, ...) rather than Bedrock's content-block index.
#[derive(Debug, Default)]
pub struct StreamConverter {
    tool_index_of_block: HashMap<i32, u32>,
    /// The index the next tool call gets: a block started twice still gets a new one.
    next_tool_index: u32,
    /// The request asked for a structured answer: the JSON tool's input streams as content.
    structured: bool,
    /// Content blocks that are the JSON tool's call.
    json_blocks: Vec<i32>,
    /// Characters of reasoning so far, to estimate reasoning tokens.
    reasoning_chars: usize,
}

impl StreamConverter {
    /// A converter for a request that asked (`structured`) or did not ask for a structured answer.
    pub fn new(structured: bool) -> Self {
        StreamConverter {
            structured,
            ..StreamConverter::default()
        }
    }

    /// The OpenAI-level event for one Bedrock event, if it carries anything the client sees.
    pub fn convert(&mut self, event: Event) -> Option<StreamEvent> {
        match event {
            Event::MessageStart(_) => Some(StreamEvent::Start),
            Event::ContentBlockStart(start) => match start.start {
                Some(bedrock::ContentBlockStart::ToolUse(tool))
                    if self.structured && tool.name == JSON_TOOL_NAME =>
                {
                    self.json_blocks.push(start.content_block_index);
                    None
                }
                Some(bedrock::ContentBlockStart::ToolUse(tool)) => {
                    let index = self.next_tool_index;
                    self.next_tool_index = index.saturating_add(1);
                    self.tool_index_of_block
                        .insert(start.content_block_index, index);
                    Some(StreamEvent::ToolCallStart {
                        index,
                        id: tool.tool_use_id,
                        name: tool.name,
                    })
                }
                _ => None,
            },
            Event::ContentBlockDelta(delta) => match delta.delta {
                Some(bedrock::ContentBlockDelta::Text(text)) if !text.is_empty() => {
                    Some(StreamEvent::TextDelta(text))
                }
                Some(bedrock::ContentBlockDelta::ToolUse(tool))
                    if self.json_blocks.contains(&delta.content_block_index) =>
                {
                    (!tool.input.is_empty()).then_some(StreamEvent::TextDelta(tool.input))
                }
                Some(bedrock::ContentBlockDelta::ReasoningContent(reasoning)) => match reasoning {
                    bedrock::ReasoningContentBlockDelta::Text(text) if !text.is_empty() => {
                        self.reasoning_chars += text.chars().count();
                        Some(StreamEvent::ReasoningDelta(text))
                    }
                    bedrock::ReasoningContentBlockDelta::Signature(signature) => {
                        Some(StreamEvent::ReasoningSignature(signature))
                    }
                    bedrock::ReasoningContentBlockDelta::RedactedContent(data) => {
                        Some(StreamEvent::RedactedReasoning(
                            base64::engine::general_purpose::STANDARD.encode(data.as_ref()),
                        ))
                    }
                    _ => None,
                },
                Some(bedrock::ContentBlockDelta::ToolUse(tool)) => {
                    let index = self
                        .tool_index_of_block
                        .get(&delta.content_block_index)
                        .copied()?;
                    Some(StreamEvent::ToolCallDelta {
                        index,
                        arguments: tool.input,
                    })
                }
                _ => None,
            },
            Event::MessageStop(stop) => {
                let mut reason = finish_reason(&stop.stop_reason);
                // Only the JSON tool was called: the answer is its content.
                if reason == FinishReason::ToolCalls
                    && !self.json_blocks.is_empty()
                    && self.tool_index_of_block.is_empty()
                {
                    reason = FinishReason::Stop;
                }
                Some(StreamEvent::Finish(reason))
            }
            Event::Metadata(meta) => meta.usage.as_ref().map(|u| {
                let mut usage = usage(u);
                if self.reasoning_chars > 0 {
                    usage.reasoning_tokens =
                        Some(estimate_tokens(self.reasoning_chars).min(usage.completion_tokens));
                }
                StreamEvent::Usage(usage)
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::FinishReason;

    fn tool_start(block: i32) -> Event {
        Event::ContentBlockStart(
            bedrock::ContentBlockStartEvent::builder()
                .content_block_index(block)
                .start(bedrock::ContentBlockStart::ToolUse(
                    bedrock::ToolUseBlockStart::builder()
                        .tool_use_id("t")
                        .name("w")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn a_block_started_twice_never_shares_a_tool_call_index() {
        // Found by the property test: indices came from the map's size, so block 2 started
        // twice then block 0 gave two calls index 1.
        let mut c = StreamConverter::default();
        let indices: Vec<u32> = [2, 2, 0]
            .into_iter()
            .filter_map(|block| match c.convert(tool_start(block)) {
                Some(StreamEvent::ToolCallStart { index, .. }) => Some(index),
                _ => None,
            })
            .collect();
        assert_eq!(indices, [0, 1, 2]);
    }

    #[test]
    fn tool_calls_are_indexed_from_zero_whatever_the_block_index() {
        let mut c = StreamConverter::default();
        let start = bedrock::ContentBlockStartEvent::builder()
            .content_block_index(1)
            .start(bedrock::ContentBlockStart::ToolUse(
                bedrock::ToolUseBlockStart::builder()
                    .tool_use_id("t1")
                    .name("w")
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(
            c.convert(Event::ContentBlockStart(start)),
            Some(StreamEvent::ToolCallStart {
                index: 0,
                id: "t1".into(),
                name: "w".into()
            })
        );
        let delta = bedrock::ContentBlockDeltaEvent::builder()
            .content_block_index(1)
            .delta(bedrock::ContentBlockDelta::ToolUse(
                bedrock::ToolUseBlockDelta::builder()
                    .input("{\"a\"")
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(
            c.convert(Event::ContentBlockDelta(delta)),
            Some(StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\"".into()
            })
        );
        let stop = bedrock::MessageStopEvent::builder()
            .stop_reason(bedrock::StopReason::MaxTokens)
            .build()
            .unwrap();
        assert_eq!(
            c.convert(Event::MessageStop(stop)),
            Some(StreamEvent::Finish(FinishReason::Length))
        );
    }

    #[test]
    fn reasoning_streams_and_the_json_tool_streams_as_text() {
        let mut c = StreamConverter::new(true);
        let reasoning = |delta: bedrock::ReasoningContentBlockDelta| {
            Event::ContentBlockDelta(
                bedrock::ContentBlockDeltaEvent::builder()
                    .content_block_index(0)
                    .delta(bedrock::ContentBlockDelta::ReasoningContent(delta))
                    .build()
                    .unwrap(),
            )
        };
        assert_eq!(
            c.convert(reasoning(bedrock::ReasoningContentBlockDelta::Text(
                "hmm ".into()
            ))),
            Some(StreamEvent::ReasoningDelta("hmm ".into()))
        );
        assert_eq!(
            c.convert(reasoning(bedrock::ReasoningContentBlockDelta::Signature(
                "sig".into()
            ))),
            Some(StreamEvent::ReasoningSignature("sig".into()))
        );
        let start = bedrock::ContentBlockStartEvent::builder()
            .content_block_index(1)
            .start(bedrock::ContentBlockStart::ToolUse(
                bedrock::ToolUseBlockStart::builder()
                    .tool_use_id("t")
                    .name(JSON_TOOL_NAME)
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(c.convert(Event::ContentBlockStart(start)), None);
        let delta = bedrock::ContentBlockDeltaEvent::builder()
            .content_block_index(1)
            .delta(bedrock::ContentBlockDelta::ToolUse(
                bedrock::ToolUseBlockDelta::builder()
                    .input("{\"a\":1}")
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(
            c.convert(Event::ContentBlockDelta(delta)),
            Some(StreamEvent::TextDelta("{\"a\":1}".into()))
        );
        let stop = bedrock::MessageStopEvent::builder()
            .stop_reason(bedrock::StopReason::ToolUse)
            .build()
            .unwrap();
        assert_eq!(
            c.convert(Event::MessageStop(stop)),
            Some(StreamEvent::Finish(FinishReason::Stop))
        );
        let usage = bedrock::ConverseStreamMetadataEvent::builder()
            .usage(
                bedrock::TokenUsage::builder()
                    .input_tokens(2)
                    .output_tokens(10)
                    .total_tokens(12)
                    .cache_read_input_tokens(5)
                    .build()
                    .unwrap(),
            )
            .build();
        let Some(StreamEvent::Usage(usage)) = c.convert(Event::Metadata(usage)) else {
            panic!("usage")
        };
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.cached_tokens,
                usage.reasoning_tokens
            ),
            (7, Some(5), Some(1))
        );
    }
}
