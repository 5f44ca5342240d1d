//! A streamed answer as the Messages API's server-sent events: `message_start`, `ping`,
//! `content_block_start`/`_delta`/`_stop` per block, `message_delta` (stop reason and usage),
//! `message_stop`; a failure after the start is an `error` event.
//!
//! The pipeline sends the stop reason before the usage, and Anthropic sends them together, so
//! the writer holds the reason until the stream ends.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::json;

use super::response::{stop_reason, stop_sequence, UsageBody};
use crate::chat::{FinishReason, StreamEvent, Usage};

/// Writes the events of one streamed answer.
#[derive(Debug)]
pub struct EventWriter {
    id: String,
    model: String,
    stop_sequences: Vec<String>,
    started: bool,
    /// The index of the next block, and the kind of the open one.
    next_index: u32,
    open: Option<OpenBlock>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    /// Reasoning, until its signature.
    Thinking,
    /// A tool call, by the pipeline's tool-call index.
    Tool(u32),
}

impl EventWriter {
    pub fn new(id: String, model: String, stop_sequences: Vec<String>) -> Self {
        EventWriter {
            id,
            model,
            stop_sequences,
            started: false,
            next_index: 0,
            open: None,
            finish: None,
            usage: None,
        }
    }

    /// The frames for one event (possibly none).
    pub fn event(&mut self, event: &StreamEvent) -> Bytes {
        let mut out = BytesMut::new();
        self.start(&mut out);
        match event {
            StreamEvent::Start => {}
            StreamEvent::TextDelta(text) => {
                if text.is_empty() {
                    return out.freeze();
                }
                if self.open != Some(OpenBlock::Text) {
                    self.close(&mut out);
                    self.open_block(&mut out, OpenBlock::Text, json!({"type":"text","text":""}));
                }
                let index = self.index();
                frame(
                    &mut out,
                    "content_block_delta",
                    &json!({"type":"content_block_delta","index":index,
                            "delta":{"type":"text_delta","text":text}}),
                );
            }
            StreamEvent::ReasoningDelta(text) => {
                if text.is_empty() {
                    return out.freeze();
                }
                self.open_thinking(&mut out);
                let index = self.index();
                frame(
                    &mut out,
                    "content_block_delta",
                    &json!({"type":"content_block_delta","index":index,
                            "delta":{"type":"thinking_delta","thinking":text}}),
                );
            }
            StreamEvent::ReasoningSignature(signature) => {
                // The signature ends its thinking block, as in Anthropic's streams.
                self.open_thinking(&mut out);
                let index = self.index();
                frame(
                    &mut out,
                    "content_block_delta",
                    &json!({"type":"content_block_delta","index":index,
                            "delta":{"type":"signature_delta","signature":signature}}),
                );
                self.close(&mut out);
            }
            StreamEvent::RedactedReasoning(data) => {
                self.close(&mut out);
                self.open_block(
                    &mut out,
                    OpenBlock::Thinking,
                    json!({"type":"redacted_thinking","data":data}),
                );
                self.close(&mut out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(&mut out);
                self.open_block(
                    &mut out,
                    OpenBlock::Tool(*index),
                    json!({"type":"tool_use","id":id,"name":name,"input":{}}),
                );
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if arguments.is_empty() || self.open != Some(OpenBlock::Tool(*index)) {
                    return out.freeze();
                }
                let block = self.index();
                frame(
                    &mut out,
                    "content_block_delta",
                    &json!({"type":"content_block_delta","index":block,
                            "delta":{"type":"input_json_delta","partial_json":arguments}}),
                );
            }
            StreamEvent::Finish(reason) => {
                self.close(&mut out);
                self.finish = Some(*reason);
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
        }
        out.freeze()
    }

    /// The frames that end a stream that ran to its end.
    pub fn end(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        self.start(&mut out);
        self.close(&mut out);
        let reason = self.finish.unwrap_or(FinishReason::Stop);
        let usage = UsageBody::from(self.usage.unwrap_or_default());
        frame(
            &mut out,
            "message_delta",
            &json!({"type":"message_delta",
                    "delta":{"stop_reason":stop_reason(reason),
                             "stop_sequence":stop_sequence(reason, &self.stop_sequences)},
                    "usage":usage}),
        );
        frame(&mut out, "message_stop", &json!({"type":"message_stop"}));
        out.freeze()
    }

    /// The `error` event for a stream that failed after it began; `error_json` is the
    /// `{"type":"error","error":{...}}` body.
    pub fn error(&mut self, error_json: &str) -> Bytes {
        let mut out = BytesMut::new();
        out.put_slice(b"event: error\ndata: ");
        out.put_slice(error_json.as_bytes());
        out.put_slice(b"\n\n");
        out.freeze()
    }

    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        frame(
            out,
            "message_start",
            &json!({"type":"message_start","message":{
                "id":self.id,"type":"message","role":"assistant","content":[],
                "model":self.model,"stop_reason":null,"stop_sequence":null,
                "usage":{"input_tokens":0,"output_tokens":0}}}),
        );
        frame(out, "ping", &json!({"type":"ping"}));
    }

    /// Opens a thinking block unless one is open.
    fn open_thinking(&mut self, out: &mut BytesMut) {
        if self.open != Some(OpenBlock::Thinking) {
            self.close(out);
            self.open_block(
                out,
                OpenBlock::Thinking,
                json!({"type":"thinking","thinking":""}),
            );
        }
    }

    fn open_block(
        &mut self,
        out: &mut BytesMut,
        block: OpenBlock,
        content_block: serde_json::Value,
    ) {
        self.open = Some(block);
        let index = self.index();
        frame(
            out,
            "content_block_start",
            &json!({"type":"content_block_start","index":index,"content_block":content_block}),
        );
    }

    fn close(&mut self, out: &mut BytesMut) {
        if self.open.take().is_some() {
            let index = self.next_index;
            self.next_index += 1;
            frame(
                out,
                "content_block_stop",
                &json!({"type":"content_block_stop","index":index}),
            );
        }
    }

    /// The open block's index.
    fn index(&self) -> u32 {
        self.next_index
    }
}

/// `event: <name>\ndata: <json>\n\n`.
fn frame(out: &mut BytesMut, name: &str, data: &impl Serialize) {
    let Ok(json) = serde_json::to_vec(data) else {
        return;
    };
    out.reserve(json.len() + name.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(&json);
    out.put_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// (event name, data) of each frame.
    fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
        std::str::from_utf8(bytes)
            .unwrap()
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                (
                    event.strip_prefix("event: ").unwrap().to_owned(),
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn text_then_tool_call_then_stop_and_usage() {
        let mut w = EventWriter::new("msg_1".into(), "claude".into(), vec![]);
        let mut all = Vec::new();
        for event in [
            StreamEvent::Start,
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "t1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
                total_tokens: 10,
                ..Usage::default()
            }),
        ] {
            all.extend_from_slice(&w.event(&event));
        }
        all.extend_from_slice(&w.end());
        let frames = frames(&all);
        let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(frames[0].1["message"]["id"], "msg_1");
        assert_eq!(
            frames[3].1["delta"],
            json!({"type":"text_delta","text":"Hel"})
        );
        assert_eq!(frames[6].1["index"], 1);
        assert_eq!(
            frames[6].1["content_block"],
            json!({"type":"tool_use","id":"t1","name":"f","input":{}})
        );
        assert_eq!(frames[8].1["delta"]["partial_json"], "1}");
        assert_eq!(frames[9].1, json!({"type":"content_block_stop","index":1}));
        assert_eq!(
            frames[10].1,
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
                   "usage":{"input_tokens":7,"output_tokens":3}})
        );
    }

    #[test]
    fn reasoning_streams_as_thinking_blocks_before_the_text() {
        let mut w = EventWriter::new("m".into(), "c".into(), vec![]);
        let mut all = Vec::new();
        for event in [
            StreamEvent::Start,
            StreamEvent::ReasoningDelta("hm".into()),
            StreamEvent::ReasoningDelta("m".into()),
            StreamEvent::ReasoningSignature("sig".into()),
            StreamEvent::RedactedReasoning("b3BhcXVl".into()),
            StreamEvent::TextDelta("42".into()),
            StreamEvent::Finish(FinishReason::Stop),
        ] {
            all.extend_from_slice(&w.event(&event));
        }
        all.extend_from_slice(&w.end());
        let blocks: Vec<Value> = frames(&all)
            .into_iter()
            .filter(|(n, _)| n.starts_with("content_block"))
            .map(|(_, d)| d)
            .collect();
        assert_eq!(
            blocks,
            vec![
                json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"m"}}),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}),
                json!({"type":"content_block_stop","index":0}),
                json!({"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"b3BhcXVl"}}),
                json!({"type":"content_block_stop","index":1}),
                json!({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}),
                json!({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"42"}}),
                json!({"type":"content_block_stop","index":2}),
            ]
        );
    }

    #[test]
    fn an_empty_stream_still_starts_and_stops() {
        let mut w = EventWriter::new("m".into(), "c".into(), vec!["END".into()]);
        let mut all = w
            .event(&StreamEvent::Finish(FinishReason::StopSequence))
            .to_vec();
        all.extend_from_slice(&w.end());
        let frames = frames(&all);
        assert_eq!(frames.first().unwrap().0, "message_start");
        assert_eq!(frames[2].1["delta"]["stop_sequence"], "END");
        assert_eq!(frames.last().unwrap().0, "message_stop");
    }
}
