//! One usage record per request: who asked for what, what it cost, how it went.

use serde::Serialize;

/// How the request ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Success,
    Failure,
    /// The client went away before a streamed answer ended.
    ClientClosed,
}

/// No prompt or answer text, no key: only the key's non-secret id and alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageRecord {
    pub request_id: String,
    /// Unix milliseconds when the request started.
    pub started_at_ms: u64,
    /// `api` or `lex`.
    pub caller: &'static str,
    pub key_id: String,
    pub key_alias: Option<String>,
    pub team: Option<String>,
    pub user: Option<String>,
    pub session_id: Option<String>,
    /// The model group asked for.
    pub model: String,
    /// The deployment that answered (or was last tried).
    pub deployment_id: Option<String>,
    /// The provider's model id of that deployment.
    pub provider_model: Option<String>,
    pub streamed: bool,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// US dollars, when the deployment's price is known (config, else the built-in table);
    /// `None` means unknown, never free.
    pub cost_usd: Option<f64>,
    pub latency_ms: u64,
    /// Streams: from the start of the request to the first text or tool-call chunk.
    pub time_to_first_token_ms: Option<u64>,
    pub finish_reason: Option<&'static str>,
    pub outcome: Outcome,
    /// `GatewayError::kind()` of a failure (`provider.timeout.idle`).
    pub error_type: Option<&'static str>,
    /// Model calls made, retries and fallbacks included.
    pub attempts: u32,
    /// Calls made again after a failure (on the same group).
    pub retries: u32,
    /// Model groups fallen back to, in order.
    pub fallbacks: Vec<String>,
    /// Guardrail results (`name:action`), each distinct one once, in order.
    pub guardrails: Vec<String>,
    /// Sensitive-information entity types guardrails found (`EMAIL`, `PHONE`), never the text.
    pub guardrail_entities: Vec<String>,
}
