//! The `POST /v1/chat/completions` request body, lenient: unknown fields are ignored.

use serde::Deserialize;

use super::content::MessageContent;

/// What a client sends. Every field beyond `model` and `messages` is optional; fields we do not
/// know are ignored, and fields we know but cannot honour are rejected in `openai::into_chat`.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    // LiteLLM's routing fields.
    /// Model groups to fall back to, in order (instead of the configured ones): names, or
    /// LiteLLM's object form `{"model": ..., ...}` (see [`fallback_names`]).
    #[serde(default, deserialize_with = "fallback_names")]
    pub fallbacks: Option<Vec<String>>,
    #[serde(default)]
    pub disable_fallbacks: Option<bool>,
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Seconds for the whole request.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// LiteLLM's: guardrail names to run on this request too.
    #[serde(default)]
    pub guardrails: Option<Vec<String>>,
    /// `low`, `medium`, `high` (and LiteLLM's `minimal`, `none`): extended thinking.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Anthropic's `{"type":"enabled","budget_tokens":N}` or `{"type":"disabled"}`, as LiteLLM
    /// takes it on chat completions.
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// LiteLLM's per-request response cache controls (`crate::cache::CacheControls`).
    #[serde(default)]
    pub cache: Option<crate::cache::CacheControls>,
    /// LiteLLM's: drop parameters the model cannot honour instead of refusing (`openai::drop_params`).
    #[serde(default)]
    pub drop_params: Option<bool>,
    /// LiteLLM's: parameters to drop from this request whatever they are.
    #[serde(default)]
    pub additional_drop_params: Option<Vec<String>>,
    // Known fields that Bedrock Converse cannot honour; `openai::into_chat` rejects non-defaults.
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub logit_bias: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    #[serde(default)]
    pub modalities: Option<Vec<String>>,
    #[serde(default)]
    pub audio: Option<serde_json::Value>,
}

/// One message of the conversation. A flat struct rather than a tagged enum, so a wrong field
/// is reported with its full path (`messages[2].content`).
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: MessageRole,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// An assistant message's reasoning from an earlier answer, sent back (LiteLLM's field).
    #[serde(default)]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// `{"type":"ephemeral"}` on the whole message: a cache point after it.
    #[serde(default)]
    pub cache_control: Option<CacheControl>,
}

/// `{"type":"thinking","thinking":..,"signature":..}` or `{"type":"redacted_thinking","data":..}`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlock {
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

#[derive(Debug, Deserialize)]
pub struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u32>,
}

/// Anthropic's prompt-cache marker; `ephemeral` is the only type.
#[derive(Debug, Deserialize)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// `stop`: one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDefinition,
    /// A cache point after this tool (LiteLLM takes it here or inside `function`).
    #[serde(default)]
    pub cache_control: Option<CacheControl>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice`: `"none" | "auto" | "required"` or `{"type":"function","function":{"name":..}}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

#[derive(Debug, Deserialize)]
pub struct NamedToolChoice {
    pub function: NamedFunction,
}

#[derive(Debug, Deserialize)]
pub struct NamedFunction {
    pub name: String,
}

/// An assistant's earlier tool call, sent back in the conversation.
#[derive(Debug, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub function: FunctionCall,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Deserialize)]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    /// For `json_schema`: `{"name","description","schema","strict"}`.
    #[serde(default)]
    pub json_schema: Option<JsonSchemaFormat>,
}

#[derive(Debug, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

/// One entry of `fallbacks`: a model group's name, or LiteLLM's object form whose `model` names
/// it. LiteLLM also sends an object's other fields (`messages`, ...) with that fallback's call;
/// this gateway sends the original request to every fallback (the README's compatibility
/// section says so), so the other fields are read and not used.
#[derive(Deserialize)]
#[serde(untagged)]
enum FallbackEntry {
    Name(String),
    Object { model: String },
}

/// `fallbacks` as the model groups' names, in order.
fn fallback_names<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let entries = Option::<Vec<FallbackEntry>>::deserialize(deserializer)?;
    Ok(entries.map(|entries| {
        entries
            .into_iter()
            .map(|entry| match entry {
                FallbackEntry::Name(name) | FallbackEntry::Object { model: name } => name,
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallbacks(body: serde_json::Value) -> Result<Option<Vec<String>>, serde_json::Error> {
        serde_json::from_value::<ChatCompletionRequest>(body).map(|r| r.fallbacks)
    }

    #[test]
    fn fallbacks_take_names_and_litellm_objects() {
        let base = |f: serde_json::Value| serde_json::json!({"model": "m", "messages": [], "fallbacks": f});
        assert_eq!(
            fallbacks(base(serde_json::json!(["a", {"model": "b", "messages": [{"role": "user", "content": "x"}]}]))).unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(fallbacks(base(serde_json::Value::Null)).unwrap(), None);
        assert!(fallbacks(base(serde_json::json!([{"messages": []}]))).is_err());
        assert!(fallbacks(base(serde_json::json!([1]))).is_err());
    }
}
