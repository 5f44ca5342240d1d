//! A cached answer: what a whole answer or a finished stream said, kept as JSON, served again as
//! a whole answer or replayed as a stream's events.
//!
//! Only answers the client received in full are kept: after `post_call` guardrails (a cached
//! answer was checked on output when it was stored), not blocked, not filtered, not broken, and
//! without reasoning (signed thinking blocks belong to the turn that made them).

use serde::{Deserialize, Serialize};

use crate::chat::{ChatResponse, FinishReason, StreamEvent, ToolCall, Usage};
use crate::embeddings::EmbeddingResponse;

/// Text deltas of a replayed stream are at most this many bytes.
pub const REPLAY_CHUNK_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CachedToolCall>,
    pub finish_reason: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

/// Cached embeddings: the vectors in input order and the tokens the model counted (`f32`s
/// round-trip through JSON exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedEmbeddings {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
}

impl CachedEmbeddings {
    pub fn from_response(response: &EmbeddingResponse) -> CachedEmbeddings {
        CachedEmbeddings {
            vectors: response.vectors.clone(),
            prompt_tokens: response.prompt_tokens,
        }
    }

    pub fn response(self) -> EmbeddingResponse {
        EmbeddingResponse {
            vectors: self.vectors,
            prompt_tokens: self.prompt_tokens,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl CachedAnswer {
    /// The answer worth keeping: `None` when it was filtered or carries reasoning.
    pub fn from_response(response: &ChatResponse) -> Option<CachedAnswer> {
        if response.finish_reason == FinishReason::ContentFilter || !response.reasoning.is_empty() {
            return None;
        }
        Some(CachedAnswer {
            content: response.content.clone(),
            tool_calls: response
                .tool_calls
                .iter()
                .map(|c| CachedToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                })
                .collect(),
            finish_reason: response.finish_reason.as_str().to_owned(),
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
            total_tokens: response.usage.total_tokens,
        })
    }

    pub fn finish_reason(&self) -> FinishReason {
        match self.finish_reason.as_str() {
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            _ => FinishReason::Stop,
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            ..Usage::default()
        }
    }

    pub fn response(&self) -> ChatResponse {
        ChatResponse {
            content: self.content.clone(),
            reasoning: Vec::new(),
            tool_calls: self
                .tool_calls
                .iter()
                .map(|c| ToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                })
                .collect(),
            finish_reason: self.finish_reason(),
            usage: self.usage(),
        }
    }

    /// The answer as a stream's events, in a model's order: text in small deltas, then each
    /// tool call, the finish reason and the usage.
    pub fn events(&self) -> Vec<StreamEvent> {
        let mut events = vec![StreamEvent::Start];
        if let Some(text) = &self.content {
            events.extend(chunks(text).map(|c| StreamEvent::TextDelta(c.to_owned())));
        }
        for (index, call) in (0u32..).zip(&self.tool_calls) {
            events.push(StreamEvent::ToolCallStart {
                index,
                id: call.id.clone(),
                name: call.name.clone(),
            });
            events.push(StreamEvent::ToolCallDelta {
                index,
                arguments: call.arguments.clone(),
            });
        }
        events.push(StreamEvent::Finish(self.finish_reason()));
        events.push(StreamEvent::Usage(self.usage()));
        events
    }
}

/// `text` in pieces of at most [`REPLAY_CHUNK_BYTES`], cut on character boundaries.
fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(REPLAY_CHUNK_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

/// Collects a stream's events into the answer it adds up to.
#[derive(Debug, Default)]
pub struct Recorder {
    content: Option<String>,
    tool_calls: Vec<CachedToolCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The stream carried reasoning: not kept.
    reasoned: bool,
}

impl Recorder {
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta(text) => {
                self.content.get_or_insert_with(String::new).push_str(text)
            }
            StreamEvent::ToolCallStart { id, name, .. } => self.tool_calls.push(CachedToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
            }),
            StreamEvent::ToolCallDelta { index, arguments } => {
                let index = usize::try_from(*index).unwrap_or(usize::MAX);
                if let Some(call) = self.tool_calls.get_mut(index) {
                    call.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish(reason) => self.finish = Some(*reason),
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::ReasoningDelta(_)
            | StreamEvent::ReasoningSignature(_)
            | StreamEvent::RedactedReasoning(_) => self.reasoned = true,
            StreamEvent::Start => {}
        }
    }

    /// The whole answer, if the stream finished and was not filtered.
    pub fn answer(self) -> Option<CachedAnswer> {
        let finish = self.finish.filter(|_| !self.reasoned)?;
        let usage = self.usage.unwrap_or_default();
        CachedAnswer::from_response(&ChatResponse {
            content: self.content,
            reasoning: Vec::new(),
            tool_calls: Vec::new(),
            finish_reason: finish,
            usage,
        })
        .map(|mut answer| {
            answer.tool_calls = self.tool_calls;
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_reasoning_are_not_kept() {
        let mut recorder = Recorder::default();
        for event in [
            StreamEvent::Start,
            StreamEvent::ReasoningDelta("thinking".into()),
            StreamEvent::TextDelta("answer".into()),
            StreamEvent::Finish(FinishReason::Stop),
        ] {
            recorder.observe(&event);
        }
        assert!(recorder.answer().is_none());
        let mut response = CachedAnswer {
            content: Some("answer".into()),
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
            total_tokens: 2,
        }
        .response();
        assert!(CachedAnswer::from_response(&response).is_some());
        response.reasoning = vec![crate::chat::ReasoningBlock::Redacted { data: "x".into() }];
        assert!(CachedAnswer::from_response(&response).is_none());
    }

    #[test]
    fn a_replayed_stream_records_back_to_the_same_answer() {
        let answer = CachedAnswer {
            content: Some("é".repeat(100)),
            tool_calls: vec![CachedToolCall {
                id: "t1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
            }],
            finish_reason: "tool_calls".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            total_tokens: 7,
        };
        let events = answer.events();
        assert!(events.len() > 6, "the text comes in several deltas");
        let mut recorder = Recorder::default();
        for event in &events {
            recorder.observe(event);
        }
        assert_eq!(recorder.answer(), Some(answer.clone()));
        assert_eq!(
            CachedAnswer::from_response(&answer.response()),
            Some(answer)
        );
    }

    #[test]
    fn unfinished_or_filtered_answers_are_not_kept() {
        let mut recorder = Recorder::default();
        recorder.observe(&StreamEvent::TextDelta("partial".into()));
        assert_eq!(recorder.answer(), None);
        let mut filtered = Recorder::default();
        filtered.observe(&StreamEvent::Finish(FinishReason::ContentFilter));
        assert_eq!(filtered.answer(), None);
    }
}
