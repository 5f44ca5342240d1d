//! ConverseStream events as [`StreamEvent`]s, sent on as each arrives.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types as bedrock;
use aws_sdk_bedrockruntime::types::ConverseStreamOutput as Event;

use super::response::{finish_reason, usage};
use crate::chat::StreamEvent;

/// Tracks which Bedrock content blocks are tool calls, so tool-call deltas get OpenAI's
/// tool-call index (0, 1, ...) rather than Bedrock's content-block index.
#[derive(Debug, Default)]
pub struct StreamConverter {
    tool_index_of_block: HashMap<i32, u32>,
    /// The index the next tool call gets: a block started twice still gets a new one.
    next_tool_index: u32,
}

impl StreamConverter {
    /// The OpenAI-level event for one Bedrock event, if it carries anything the client sees.
    pub fn convert(&mut self, event: Event) -> Option<StreamEvent> {
        match event {
            Event::MessageStart(_) => Some(StreamEvent::Start),
            Event::ContentBlockStart(start) => match start.start {
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
            Event::MessageStop(stop) => Some(StreamEvent::Finish(finish_reason(&stop.stop_reason))),
            Event::Metadata(meta) => meta.usage.as_ref().map(|u| StreamEvent::Usage(usage(u))),
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
}
