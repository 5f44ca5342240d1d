//! One usage record per request: who asked for what, what it cost, how it went.

use serde::{Deserialize, Serialize};

/// How the request ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Of `prompt_tokens`, those read from the prompt cache (priced at the cache-read rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u32>,
    /// Of `prompt_tokens`, those written to the prompt cache (priced at the cache-write rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u32>,
    /// Of `completion_tokens`, those spent reasoning (estimated where the provider does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    /// US dollars, when the deployment's price is known (config, else the built-in table);
    /// `None` means unknown, never free.
    pub cost_usd: Option<f64>,
    /// Some of the tokens and cost are the gateway's estimate, not the model's count: a stream
    /// ended before its usage event, or a model call was abandoned (`pipeline::account`).
    pub usage_estimated: bool,
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
    /// The response cache: `true` answered from it (no model call, cost 0), `false` looked up
    /// and missed; absent when the cache was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<bool>,
}

/// The most characters a record keeps of one string field (ids, names, `user`, session id).
pub const MAX_FIELD_CHARS: usize = 512;
/// The most entries a record keeps in one list (fallbacks, guardrails, entity types).
pub const MAX_LIST_ITEMS: usize = 16;
/// The most characters a record keeps of one list entry.
pub const MAX_LIST_ITEM_CHARS: usize = 128;
/// Ends a string the record cut short.
pub const TRUNCATED: &str = "…[truncated]";

impl UsageRecord {
    /// The record with every string and list cut to the caps above, so its item and its
    /// fallback log line have a fixed worst-case size (far under DynamoDB's 400 KB item and
    /// CloudWatch Logs' 256 KB event; `usage::record` tests hold the figures).
    pub fn bounded(mut self) -> UsageRecord {
        for field in [&mut self.request_id, &mut self.key_id, &mut self.model] {
            cut(field, MAX_FIELD_CHARS);
        }
        for field in [
            &mut self.key_alias,
            &mut self.team,
            &mut self.user,
            &mut self.session_id,
            &mut self.deployment_id,
            &mut self.provider_model,
        ] {
            if let Some(text) = field.as_mut() {
                cut(text, MAX_FIELD_CHARS);
            }
        }
        for list in [
            &mut self.fallbacks,
            &mut self.guardrails,
            &mut self.guardrail_entities,
        ] {
            list.truncate(MAX_LIST_ITEMS);
            for item in list.iter_mut() {
                cut(item, MAX_LIST_ITEM_CHARS);
            }
        }
        self
    }
}

/// Cuts `text` to at most `max` characters, the last of them [`TRUNCATED`].
pub fn cut(text: &mut String, max: usize) {
    if text.chars().nth(max).is_none() {
        return;
    }
    let keep = max.saturating_sub(TRUNCATED.chars().count());
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    text.truncate(end);
    text.push_str(TRUNCATED);
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
