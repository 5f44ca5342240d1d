//! The serde mirror of a LiteLLM proxy `config.yaml`, field names exactly as LiteLLM spells them.
//!
//! Every section keeps the keys it does not know in `extra`, so they become warnings instead of
//! errors (`lex`, our own section, is strict). Values here are already `os.environ/`-resolved;
//! `environment_variables` is consumed by that resolution step, before deserialization.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::lenient::{opt_bool, opt_f64, opt_string, opt_u32, opt_u64};
use crate::secret::Secret;

/// Keys nobody recognises, kept so each one can be reported with its path.
pub(super) type Extra = BTreeMap<String, Value>;

/// One fallback list: `[{"group": ["other-group", ...]}, ...]`.
pub(super) type RawFallbacks = Vec<BTreeMap<String, Vec<String>>>;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConfig {
    pub model_list: Option<Vec<RawDeployment>>,
    pub router_settings: Option<RawRouterSettings>,
    pub litellm_settings: Option<RawLitellmSettings>,
    pub general_settings: Option<RawGeneralSettings>,
    pub guardrails: Option<Vec<RawGuardrail>>,
    pub lex: Option<RawLex>,
    pub usage: Option<RawUsage>,
    pub evaluation: Option<super::evaluation::RawEvaluation>,
    pub telemetry: Option<RawTelemetry>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDeployment {
    pub model_name: String,
    pub litellm_params: RawLitellmParams,
    pub model_info: Option<RawModelInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawLitellmParams {
    pub model: String,
    pub aws_region_name: Option<String>,
    pub aws_bedrock_runtime_endpoint: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret<String>>,
    pub aws_session_token: Option<Secret<String>>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub input_cost_per_token: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub output_cost_per_token: Option<f64>,
    /// USD per input token read from the prompt cache (LiteLLM's key).
    #[serde(default, deserialize_with = "opt_f64")]
    pub cache_read_input_token_cost: Option<f64>,
    /// USD per input token written to the prompt cache (LiteLLM's key).
    #[serde(default, deserialize_with = "opt_f64")]
    pub cache_creation_input_token_cost: Option<f64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub rpm: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub tpm: Option<u64>,
    /// simple-shuffle's weight for this deployment.
    #[serde(default, deserialize_with = "opt_f64")]
    pub weight: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub timeout: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub stream_timeout: Option<f64>,
    /// Ours: the longest pause between two events of a started stream.
    #[serde(default, deserialize_with = "opt_f64")]
    pub stream_idle_timeout: Option<f64>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_tokens: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub temperature: Option<f64>,
    /// Names from the `guardrails` list that run on every request to this model group.
    pub guardrails: Option<Vec<String>>,
    /// LiteLLM's: drop the OpenAI parameters this model cannot honour instead of refusing.
    #[serde(default, deserialize_with = "opt_bool")]
    pub drop_params: Option<bool>,
    /// LiteLLM's: OpenAI parameters dropped from every request to this model.
    pub additional_drop_params: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawModelInfo {
    #[serde(default, deserialize_with = "opt_string")]
    pub id: Option<String>,
    /// LiteLLM's `chat`, `embedding`, ...: `embedding` serves `/v1/embeddings` only.
    #[serde(default, deserialize_with = "opt_string")]
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_tokens: Option<u32>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_input_tokens: Option<u32>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub input_cost_per_token: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub output_cost_per_token: Option<f64>,
    /// USD per input token read from the prompt cache (LiteLLM's key).
    #[serde(default, deserialize_with = "opt_f64")]
    pub cache_read_input_token_cost: Option<f64>,
    /// USD per input token written to the prompt cache (LiteLLM's key).
    #[serde(default, deserialize_with = "opt_f64")]
    pub cache_creation_input_token_cost: Option<f64>,
    /// Accepted (LiteLLM prices by it) but not used: costs come from the cost fields.
    #[serde(rename = "base_model")]
    pub _base_model: Option<String>,
    /// LiteLLM's model access groups this deployment's model group belongs to.
    pub access_groups: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawRouterSettings {
    pub routing_strategy: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub num_retries: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub timeout: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub stream_timeout: Option<f64>,
    /// Ours: the longest pause between two events of a started stream.
    #[serde(default, deserialize_with = "opt_f64")]
    pub stream_idle_timeout: Option<f64>,
    pub fallbacks: Option<RawFallbacks>,
    pub context_window_fallbacks: Option<RawFallbacks>,
    pub content_policy_fallbacks: Option<RawFallbacks>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub allowed_fails: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub cooldown_time: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub retry_after: Option<f64>,
    /// LiteLLM's retries per error type: `{RateLimitErrorRetries: 3, ...}`.
    pub retry_policy: Option<BTreeMap<String, u32>>,
    /// Groups every group falls back to when it has no `fallbacks` entry of its own.
    pub default_fallbacks: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_fallbacks: Option<u32>,
    pub model_group_alias: Option<BTreeMap<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawLitellmSettings {
    #[serde(default, deserialize_with = "opt_u32")]
    pub num_retries: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub request_timeout: Option<f64>,
    pub fallbacks: Option<RawFallbacks>,
    pub context_window_fallbacks: Option<RawFallbacks>,
    pub content_policy_fallbacks: Option<RawFallbacks>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub drop_params: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub set_verbose: Option<bool>,
    pub callbacks: Option<Value>,
    pub success_callback: Option<Value>,
    pub failure_callback: Option<Value>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub json_logs: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub cache: Option<bool>,
    pub cache_params: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawGeneralSettings {
    pub master_key: Option<Secret<String>>,
    pub database_url: Option<Secret<String>>,
    pub alerting: Option<Value>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub disable_spend_logs: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawGuardrail {
    pub guardrail_name: String,
    pub litellm_params: RawGuardrailParams,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawGuardrailParams {
    pub guardrail: String,
    /// `pre_call`, or a list of modes.
    pub mode: Option<Value>,
    #[serde(
        rename = "guardrailIdentifier",
        default,
        deserialize_with = "opt_string"
    )]
    pub guardrail_identifier: Option<String>,
    #[serde(rename = "guardrailVersion", default, deserialize_with = "opt_string")]
    pub guardrail_version: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub mask_request_content: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub mask_response_content: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub default_on: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub disable_exception_on_block: Option<bool>,
    /// Ours: let text pass unchecked when ApplyGuardrail fails (default: refuse, 503).
    #[serde(default, deserialize_with = "opt_bool")]
    pub fail_open: Option<bool>,
    pub aws_region_name: Option<String>,
    pub aws_bedrock_runtime_endpoint: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret<String>>,
    pub aws_session_token: Option<Secret<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Our own section (not LiteLLM's): the Amazon Lex QAAssistant function's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLex {
    pub model: Option<String>,
    pub default_team: Option<String>,
    pub teams: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_history_turns: Option<u32>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_history_bytes: Option<u32>,
}

/// Our own section (not LiteLLM's): what callers may steer in traces.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    /// Phoenix projects a request may name in `metadata.project_name` (exact names, or a
    /// prefix ending in `*`); any other name goes to the default project.
    pub phoenix_projects: Option<Vec<String>>,
}

/// Our own section (not LiteLLM's): where usage records go when there is no DynamoDB table
/// (`GATEWAY_TABLE_NAME`), and the DynamoDB store's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsage {
    /// `log` (default), `memory` or `file`.
    pub sink: Option<String>,
    /// The file for `sink: file`.
    pub path: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub queue_capacity: Option<u32>,
    /// Benchmarks and tests (`bench-knobs` builds only): each write waits this long.
    #[serde(default, deserialize_with = "opt_u64")]
    pub simulated_latency_ms: Option<u64>,
    /// DynamoDB: days a usage record is kept (its TTL); aggregates are kept.
    #[serde(default, deserialize_with = "opt_u32")]
    pub retention_days: Option<u32>,
    /// DynamoDB: tries per record before it goes to the fallback log line.
    #[serde(default, deserialize_with = "opt_u32")]
    pub write_attempts: Option<u32>,
    /// Log and file sinks: the latest records kept in memory for the spend API (0: none).
    #[serde(default, deserialize_with = "opt_u32")]
    pub keep_records: Option<u32>,
    /// Lambda: after-response work stops this long before the invocation's deadline.
    #[serde(default, deserialize_with = "opt_u64")]
    pub deadline_margin_ms: Option<u64>,
}
