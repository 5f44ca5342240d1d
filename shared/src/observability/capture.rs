//! What a request's spans are built from, captured while it runs (cheap: clones and
//! timestamps, no formatting) and handed to the after-response queue when it is finished.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::TraceParent;
use crate::chat::{ChatRequest, ToolCall};
use crate::usage::UsageRecord;

/// One model call: a retry or a fallback makes another.
#[derive(Debug, Clone)]
pub struct AttemptCapture {
    /// The model group the deployment belongs to.
    pub group: String,
    pub deployment_id: String,
    /// The provider's model id (`anthropic.claude-3-haiku-...`).
    pub model_id: String,
    pub started: Instant,
    /// `None` while running; a stream's last attempt ends with the stream.
    pub ended: Option<Instant>,
    /// `GatewayError::kind()` and its message, when the call failed.
    pub error: Option<(&'static str, String)>,
}

/// One guardrail run. The guardrails branch's `GuardrailCheck` carries the same fields.
#[derive(Debug, Clone)]
pub struct GuardrailCapture {
    pub name: String,
    /// `pre_call` (input) or `post_call` (output).
    pub mode: &'static str,
    /// `none`, `masked` or `blocked`.
    pub action: &'static str,
    /// Entity types found (PII kinds, words), when the guardrail says.
    pub entities: Vec<String>,
    pub started: Instant,
    pub elapsed: Duration,
}

/// The answer as the client received it (after output guardrails).
#[derive(Debug, Clone, Default)]
pub struct OutputCapture {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

/// Everything a request's spans need beyond its usage record.
#[derive(Debug, Clone)]
pub struct TraceCapture {
    /// The request's start, as a monotonic and a wall-clock time.
    pub started: Instant,
    pub wall_started: SystemTime,
    pub parent: Option<TraceParent>,
    /// The request after input guardrails; `None` when it never got that far.
    pub request: Option<ChatRequest>,
    /// The request body's `metadata` object.
    pub metadata: Option<Value>,
    pub attempts: Vec<AttemptCapture>,
    pub guardrails: Vec<GuardrailCapture>,
    pub output: Option<OutputCapture>,
    /// An embeddings request: its model calls are EMBEDDING spans, its texts `request`'s text
    /// blocks in order.
    pub embedding: bool,
}

impl TraceCapture {
    pub fn new(started: Instant, parent: Option<TraceParent>) -> TraceCapture {
        let wall_started = SystemTime::now()
            .checked_sub(started.elapsed())
            .unwrap_or_else(SystemTime::now);
        TraceCapture {
            started,
            wall_started,
            parent,
            request: None,
            metadata: None,
            attempts: Vec::new(),
            guardrails: Vec::new(),
            output: None,
            embedding: false,
        }
    }

    /// The wall-clock time of `instant`.
    pub fn wall(&self, instant: Instant) -> SystemTime {
        self.wall_started + instant.saturating_duration_since(self.started)
    }
}

/// A finished request, as the after-response queue exports it.
#[derive(Debug, Clone)]
pub struct RequestTrace {
    pub record: UsageRecord,
    pub capture: TraceCapture,
    /// When the request finished.
    pub ended: Instant,
    /// US dollars for the prompt and the completion, when the price is known.
    pub cost_split: Option<(f64, f64)>,
}

impl RequestTrace {
    /// `metadata.project_name`, the per-request Phoenix project.
    pub fn project(&self) -> Option<&str> {
        self.metadata_str("project_name")
    }

    /// The conversation: the context's (`x-session-id` or Lex), else `metadata.session_id`.
    pub fn session_id(&self) -> Option<&str> {
        self.record
            .session_id
            .as_deref()
            .or_else(|| self.metadata_str("session_id"))
    }

    /// `metadata.tags`, strings only.
    pub fn tags(&self) -> Vec<String> {
        self.capture
            .metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn metadata_str(&self, name: &str) -> Option<&str> {
        self.capture
            .metadata
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}
