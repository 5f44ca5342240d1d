//! `chat.completion.chunk` server-sent events, written straight into bytes.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::response::{FunctionBody, ThinkingBlockBody, ToolCallBody, UsageBody};
use crate::chat::StreamEvent;

/// Writes one SSE frame per event for one streamed answer.
#[derive(Debug)]
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Skip::skip")]
    usage: Skip<Option<UsageBody>>,
}

/// `usage` appears (as null or a value) only when the client asked for it.
struct Skip<T>(bool, T);
impl<T> Skip<T> {
    fn skip(&self) -> bool {
        self.0
    }
}
impl<T: Serialize> Serialize for Skip<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.serialize(s)
    }
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<[ThinkingBlockBody<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallBody<'a>; 1]>,
}

impl ChunkWriter {
    pub fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        ChunkWriter {
            id,
            created,
            model,
            include_usage,
        }
    }

    /// The SSE frame for an event.
    pub fn event(&self, event: &StreamEvent) -> Bytes {
        match event {
            StreamEvent::Start => self.frame(
                &[choice(
                    Delta {
                        role: Some("assistant"),
                        content: Some(""),
                        ..Delta::default()
                    },
                    None,
                )],
                None,
            ),
            StreamEvent::TextDelta(text) => self.frame(
                &[choice(
                    Delta {
                        content: Some(text),
                        ..Delta::default()
                    },
                    None,
                )],
                None,
            ),
            StreamEvent::ReasoningDelta(text) => self.delta(Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            }),
            // LiteLLM sends the signature as a thinking block with empty text.
            StreamEvent::ReasoningSignature(signature) => self.delta(Delta {
                thinking_blocks: Some([ThinkingBlockBody::Thinking {
                    thinking: "",
                    signature: Some(signature),
                }]),
                ..Delta::default()
            }),
            StreamEvent::RedactedReasoning(data) => self.delta(Delta {
                thinking_blocks: Some([ThinkingBlockBody::RedactedThinking { data }]),
                ..Delta::default()
            }),
            StreamEvent::ToolCallStart { index, id, name } => {
                let call = ToolCallBody {
                    index: Some(*index),
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionBody {
                        name: Some(name),
                        arguments: "",
                    },
                };
                self.frame(
                    &[choice(
                        Delta {
                            tool_calls: Some([call]),
                            ..Delta::default()
                        },
                        None,
                    )],
                    None,
                )
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let call = ToolCallBody {
                    index: Some(*index),
                    id: None,
                    kind: None,
                    function: FunctionBody {
                        name: None,
                        arguments,
                    },
                };
                self.frame(
                    &[choice(
                        Delta {
                            tool_calls: Some([call]),
                            ..Delta::default()
                        },
                        None,
                    )],
                    None,
                )
            }
            StreamEvent::Finish(reason) => {
                self.frame(&[choice(Delta::default(), Some(reason.as_str()))], None)
            }
            StreamEvent::Usage(usage) if self.include_usage => {
                self.frame(&[], Some((*usage).into()))
            }
            StreamEvent::Usage(_) => Bytes::new(),
        }
    }

    /// The frame that tells the client the stream failed after it began.
    pub fn error(&self, error_json: &str) -> Bytes {
        sse(error_json.as_bytes())
    }

    /// The last frame.
    pub fn done() -> Bytes {
        Bytes::from_static(b"data: [DONE]\n\n")
    }
}

fn choice<'a>(delta: Delta<'a>, finish_reason: Option<&'static str>) -> ChunkChoice<'a> {
    ChunkChoice {
        index: 0,
        delta,
        finish_reason,
    }
}

impl ChunkWriter {
    fn delta(&self, delta: Delta<'_>) -> Bytes {
        self.frame(&[choice(delta, None)], None)
    }

    fn frame(&self, choices: &[ChunkChoice<'_>], usage: Option<UsageBody>) -> Bytes {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: Skip(!self.include_usage, usage),
        };
        let mut buf = BytesMut::with_capacity(256).writer();
        buf.get_mut().put_slice(b"data: ");
        if serde_json::to_writer(&mut buf, &chunk).is_err() {
            return Bytes::new();
        }
        let mut buf = buf.into_inner();
        buf.put_slice(b"\n\n");
        buf.freeze()
    }
}

fn sse(json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + 8);
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{FinishReason, Usage};
    use serde_json::{json, Value};

    fn parse(frame: &Bytes) -> Value {
        let text = std::str::from_utf8(frame).unwrap();
        serde_json::from_str(text.strip_prefix("data: ").unwrap().trim_end()).unwrap()
    }

    #[test]
    fn chunks_follow_openai() {
        let w = ChunkWriter::new("chatcmpl-1".into(), 7, "claude".into(), true);
        let start = parse(&w.event(&StreamEvent::Start));
        assert_eq!(
            start["choices"][0]["delta"],
            json!({"role":"assistant","content":""})
        );
        assert_eq!(start["usage"], Value::Null);
        assert_eq!(start["object"], "chat.completion.chunk");
        let tool = parse(&w.event(&StreamEvent::ToolCallStart {
            index: 0,
            id: "t".into(),
            name: "f".into(),
        }));
        assert_eq!(
            tool["choices"][0]["delta"]["tool_calls"][0],
            json!({"index":0,"id":"t","type":"function","function":{"name":"f","arguments":""}})
        );
        let finish = parse(&w.event(&StreamEvent::Finish(FinishReason::ToolCalls)));
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        let usage = parse(&w.event(&StreamEvent::Usage(Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            ..Usage::default()
        })));
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 3);
    }

    #[test]
    fn usage_is_left_out_unless_asked_for() {
        let w = ChunkWriter::new("c".into(), 7, "m".into(), false);
        assert!(parse(&w.event(&StreamEvent::TextDelta("hi".into())))
            .get("usage")
            .is_none());
        assert!(w.event(&StreamEvent::Usage(Usage::default())).is_empty());
    }
}
