//! The provider-neutral chat request, response and stream events that the request path uses.
//!
//! `openai::into_chat` turns an OpenAI request into a [`ChatRequest`]; providers turn a
//! `ChatRequest` into their own wire format and answer with a [`ChatResponse`] or a stream of [`StreamEvent`]s.

pub mod caps;

use serde_json::Value;

/// A validated chat request, in the shape every provider can take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model group the client asked for (the `model_name` in config).
    pub model: String,
    pub system: Vec<String>,
    /// Alternating user/assistant turns, starting with the user.
    pub messages: Vec<Message>,
    pub params: InferenceParams,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub stream: bool,
    pub include_usage: bool,
    pub user: Option<String>,
    /// How this request wants to be routed (LiteLLM's request fields and headers).
    pub routing: RouteOptions,
    /// Guardrail names the request adds (LiteLLM's body field `guardrails`); it cannot remove
    /// the ones on by default, on its model group, or on its key.
    pub guardrails: Vec<String>,
    /// The body's `metadata` (session id, tags, Phoenix project), for traces only.
    pub metadata: Option<Value>,
    /// Indices into `system` after which a prompt-cache point goes (`cache_control` on a system
    /// message or on one of its parts); ascending, no repeats.
    pub system_cache_points: Vec<usize>,
    /// Extended thinking, when the caller asked for it (`reasoning_effort`, `thinking`).
    pub reasoning: Option<Reasoning>,
    /// The shape the answer must take; `None` is free text.
    pub response_format: Option<ResponseFormat>,
}

/// Output tokens left for the answer beyond the thinking budget when the caller sets no
/// `max_tokens` and the provider needs one above the budget (Claude).
pub const ANSWER_TOKENS_BEYOND_BUDGET: u32 = 4096;

/// How much the model may think before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// A budget of thinking tokens (Anthropic's `thinking: {"type":"enabled","budget_tokens":N}`);
    /// it counts within `max_tokens`.
    Budget(u32),
    /// A level (OpenAI's `reasoning_effort`): a provider maps it to a budget (Claude, as
    /// LiteLLM does: low 1024, medium 2048, high 4096) or to its own levels (Nova 2).
    Effort(ReasoningEffort),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
}

impl Reasoning {
    /// The thinking budget in tokens: the one given, or LiteLLM's for the effort.
    pub fn budget_tokens(self) -> u32 {
        match self {
            Reasoning::Budget(budget) => budget,
            Reasoning::Effort(effort) => effort.budget_tokens(),
        }
    }
}

impl ReasoningEffort {
    /// LiteLLM's thinking budgets for Claude: low 1024, medium 2048, high 4096.
    pub fn budget_tokens(self) -> u32 {
        match self {
            ReasoningEffort::Low => 1024,
            ReasoningEffort::Medium => 2048,
            ReasoningEffort::High => 4096,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// A structured answer: the provider enforces it (Bedrock: through a forced tool) and the
/// answer's JSON comes back as the message content.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON matching `schema`.
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
    },
}

/// Per-request routing: LiteLLM's body fields `fallbacks`, `disable_fallbacks`, `num_retries`,
/// `timeout`, and headers `x-litellm-timeout`, `x-litellm-stream-timeout`,
/// `x-litellm-num-retries`. Each overrides the config for this request only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteOptions {
    pub fallbacks: Option<Vec<String>>,
    pub disable_fallbacks: bool,
    pub num_retries: Option<u32>,
    pub timeout: Option<std::time::Duration>,
    pub stream_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    Text(String),
    Image {
        format: ImageFormat,
        data: Vec<u8>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
    },
    /// A document (PDF, spreadsheet, text...) to read.
    Document {
        format: DocumentFormat,
        /// Already sanitized to what Converse accepts (letters, digits, single spaces, `-()[]`).
        name: String,
        data: Vec<u8>,
    },
    /// The model's reasoning from an earlier assistant turn, passed back unchanged (Claude
    /// checks the signature, and needs it before a tool use when thinking is on).
    Reasoning(ReasoningBlock),
    /// A prompt-cache point: the prompt up to here (tools, system, earlier blocks) may be cached.
    CachePoint,
}

/// One block of the model's reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasoningBlock {
    /// Readable thinking with its signature (Claude's `thinking` block).
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Thinking the provider encrypted (Claude's `redacted_thinking`): opaque data, as
    /// Anthropic shows it (base64 of Bedrock's `redactedContent` bytes).
    Redacted { data: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceParams {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// A prompt-cache point follows this tool (`cache_control` on the tool).
    pub cache_point: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
    Required,
    Tool(String),
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: Option<String>,
    /// The model's reasoning, in the order it came (before the content).
    pub reasoning: Vec<ReasoningBlock>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as OpenAI sends them.
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// One of the request's stop sequences ended the answer (`stop` to OpenAI callers).
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop | FinishReason::StopSequence => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input token, those read from and written to the prompt cache included (OpenAI's
    /// meaning; Anthropic's `input_tokens` is this less the two cache counts).
    pub prompt_tokens: u32,
    /// Every output token, reasoning included.
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// Input tokens read from the prompt cache.
    pub cached_tokens: Option<u32>,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: Option<u32>,
    /// Output tokens spent on reasoning, where known.
    pub reasoning_tokens: Option<u32>,
}

/// One event of a streamed answer, in the order the client must see them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The assistant's turn begins.
    Start,
    TextDelta(String),
    /// Reasoning text (OpenAI's `delta.reasoning_content`).
    ReasoningDelta(String),
    /// The signature that closes a reasoning block.
    ReasoningSignature(String),
    /// A redacted reasoning block, whole (opaque data, see [`ReasoningBlock::Redacted`]).
    RedactedReasoning(String),
    /// A tool call begins; `index` counts tool calls from 0.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    Finish(FinishReason),
    Usage(Usage),
}
