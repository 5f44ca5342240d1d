//! The typed, validated configuration the rest of the gateway codes against.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::secret::Secret;

/// The whole gateway configuration, loaded once at cold start.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Every deployment, in file order.
    pub model_list: Vec<ModelDeployment>,
    pub router: RouterSettings,
    pub guardrails: Vec<GuardrailSettings>,
    /// `general_settings.master_key`, else the `LITELLM_MASTER_KEY` variable; `None` if neither.
    pub master_key: Option<Secret<String>>,
    pub lex: LexSettings,
    pub usage: UsageSettings,
    /// Our `evaluation` section: the online evaluator of live answers.
    pub evaluation: super::evaluation::EvaluationSettings,
    /// `litellm_settings.callbacks` and `success_callback` names the gateway implements
    /// (`arize_phoenix`); others are warned about and ignored.
    pub callbacks: Vec<String>,
    /// Our `telemetry.phoenix_projects`: the Phoenix projects a request may name in
    /// `metadata.project_name` (exact names, or a prefix ending in `*`). Empty (the default):
    /// every request's spans go to the default project.
    pub phoenix_projects: Vec<String>,
    /// `litellm_settings.cache` and `cache_params`: the response cache.
    pub cache: super::cache::CacheSettings,
    /// Settings that are ignored or not applied yet; the caller logs each once. No secrets.
    pub warnings: Vec<String>,
    /// `model_info.access_groups`: access group name to its model groups, in file order.
    pub access_groups: std::collections::BTreeMap<String, Vec<String>>,
}

impl GatewayConfig {
    /// The distinct model group names (`model_name`), in file order.
    pub fn model_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for deployment in &self.model_list {
            if !groups.contains(&deployment.model_name.as_str()) {
                groups.push(&deployment.model_name);
            }
        }
        groups
    }

    /// The deployments of one model group, in file order.
    pub fn deployments<'a>(
        &'a self,
        model_name: &'a str,
    ) -> impl Iterator<Item = &'a ModelDeployment> + 'a {
        self.model_list
            .iter()
            .filter(move |deployment| deployment.model_name == model_name)
    }
}

/// One `model_list` entry: a model group name bound to one Bedrock model.
#[derive(Debug, Clone)]
pub struct ModelDeployment {
    /// The group name clients send as `model`.
    pub model_name: String,
    /// `model_info.id`, else `"<model_name>-<index in model_list>"`.
    pub deployment_id: String,
    pub provider: Provider,
    /// The Bedrock model id (what follows `bedrock/` or `bedrock/converse/`).
    pub model_id: String,
    pub region: Option<String>,
    /// `aws_bedrock_runtime_endpoint`.
    pub endpoint_url: Option<String>,
    pub credentials: Option<StaticCredentials>,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    /// USD per token read from the prompt cache; overrides the built-in table's.
    pub cache_read_input_token_cost: Option<f64>,
    /// USD per token written to the prompt cache; overrides the built-in table's.
    pub cache_creation_input_token_cost: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// simple-shuffle's weight (LiteLLM's `weight`); `None` means 1, or `rpm`/`tpm` when set.
    pub weight: Option<f64>,
    pub timeout: Option<Duration>,
    /// The wait for a stream's first event (LiteLLM's `stream_timeout`).
    pub stream_timeout: Option<Duration>,
    /// The longest pause between two events once a stream has started (ours).
    pub stream_idle_timeout: Option<Duration>,
    pub max_output_tokens: Option<u32>,
    pub max_input_tokens: Option<u32>,
    /// `litellm_params.guardrails`: names from the `guardrails` list run on every request to
    /// this deployment's model group.
    pub guardrails: Vec<String>,
    /// Serves `/v1/embeddings` (not chat): `model_info.mode: embedding`, or an embedding model id.
    pub embedding: bool,
}

/// The model provider of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Amazon Bedrock, through the Converse API.
    Bedrock,
}

/// Explicit AWS credentials from `litellm_params`; without them the default chain is used.
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    pub session_token: Option<Secret<String>>,
}

/// The longest pause between two stream events when no `stream_idle_timeout` is configured.
/// Models pause while they think or call tools; a minute is far beyond a healthy pause and
/// well inside Lambda's 15-minute limit (the invocation deadline bounds a stream anyway).
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `router_settings`, with `litellm_settings` filling in what the router section leaves out.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub routing_strategy: RoutingStrategy,
    /// `router_settings.num_retries`, else `litellm_settings.num_retries`, else 0.
    pub num_retries: u32,
    /// `router_settings.timeout`, else `litellm_settings.request_timeout`.
    pub timeout: Option<Duration>,
    /// `router_settings.stream_timeout`: the wait for a stream's first event, unless the
    /// deployment sets its own; else `timeout` bounds it.
    pub stream_timeout: Option<Duration>,
    /// `router_settings.stream_idle_timeout`, else [`DEFAULT_STREAM_IDLE_TIMEOUT`].
    pub stream_idle_timeout: Duration,
    /// `(model group, [fallback groups in order])`, in file order.
    pub fallbacks: Vec<(String, Vec<String>)>,
    pub context_window_fallbacks: Vec<(String, Vec<String>)>,
    pub content_policy_fallbacks: Vec<(String, Vec<String>)>,
    /// Failures of a deployment per minute before it cools down (LiteLLM default 3).
    pub allowed_fails: Option<u32>,
    /// How long a failing deployment is skipped (LiteLLM default 5 s).
    pub cooldown_time: Option<Duration>,
    /// The least time to wait before a retry, whatever the backoff says.
    pub retry_after: Option<Duration>,
    /// Retries per kind of failure, overriding `num_retries`.
    pub retry_policy: RetryPolicy,
    /// Groups tried when a group has no `fallbacks` entry of its own.
    pub default_fallbacks: Vec<String>,
    /// The most fallback groups one request tries (LiteLLM default 5).
    pub max_fallbacks: u32,
    /// `drop_params` and `additional_drop_params`: what to drop instead of refusing.
    pub drop_params: super::DropParams,
}

/// LiteLLM's `retry_policy`: retries per kind of failure; `None` means `num_retries`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `BadRequestErrorRetries`: the provider rejected the request.
    pub bad_request: Option<u32>,
    /// `AuthenticationErrorRetries`: access denied, unknown model id, bad credentials.
    pub authentication: Option<u32>,
    /// `TimeoutErrorRetries`.
    pub timeout: Option<u32>,
    /// `RateLimitErrorRetries`.
    pub rate_limit: Option<u32>,
    /// `ContentPolicyViolationErrorRetries`.
    pub content_policy: Option<u32>,
    /// `InternalServerErrorRetries`: 5xx, unavailable, unreachable, broken stream.
    pub internal_server: Option<u32>,
}

impl RetryPolicy {
    /// LiteLLM's key names, in the order of the fields.
    pub const KEYS: [&'static str; 6] = [
        "BadRequestErrorRetries",
        "AuthenticationErrorRetries",
        "TimeoutErrorRetries",
        "RateLimitErrorRetries",
        "ContentPolicyViolationErrorRetries",
        "InternalServerErrorRetries",
    ];
}

/// LiteLLM's default `max_fallbacks`.
pub const DEFAULT_MAX_FALLBACKS: u32 = 5;

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            routing_strategy: RoutingStrategy::default(),
            num_retries: 0,
            timeout: None,
            stream_timeout: None,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            allowed_fails: None,
            cooldown_time: None,
            retry_after: None,
            retry_policy: RetryPolicy::default(),
            default_fallbacks: Vec::new(),
            max_fallbacks: DEFAULT_MAX_FALLBACKS,
            drop_params: super::DropParams::default(),
        }
    }
}

/// LiteLLM's `router_settings.routing_strategy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingStrategy {
    #[default]
    SimpleShuffle,
    LeastBusy,
    UsageBasedRouting,
    UsageBasedRoutingV2,
    LatencyBasedRouting,
    CostBasedRouting,
}

impl RoutingStrategy {
    /// Every strategy, for parsing and error messages.
    pub const ALL: [RoutingStrategy; 6] = [
        Self::SimpleShuffle,
        Self::LeastBusy,
        Self::UsageBasedRouting,
        Self::UsageBasedRoutingV2,
        Self::LatencyBasedRouting,
        Self::CostBasedRouting,
    ];

    /// The name as written in `config.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SimpleShuffle => "simple-shuffle",
            Self::LeastBusy => "least-busy",
            Self::UsageBasedRouting => "usage-based-routing",
            Self::UsageBasedRoutingV2 => "usage-based-routing-v2",
            Self::LatencyBasedRouting => "latency-based-routing",
            Self::CostBasedRouting => "cost-based-routing",
        }
    }

    /// Parse a `config.yaml` name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One Bedrock guardrail from the `guardrails` list.
#[derive(Debug, Clone)]
pub struct GuardrailSettings {
    /// `guardrail_name`.
    pub name: String,
    /// `guardrailIdentifier`.
    pub guardrail_id: String,
    /// `guardrailVersion`.
    pub version: String,
    pub modes: Vec<GuardrailMode>,
    /// Runs on every request, not only where attached.
    pub default_on: bool,
    /// Anonymized input goes on masked (else the original goes on; the entities are recorded).
    pub mask_request_content: bool,
    /// Anonymized output is returned masked (else unchanged; the entities are recorded).
    pub mask_response_content: bool,
    /// An answer blocked by it ends with finish_reason `content_filter` instead of an error.
    pub disable_exception_on_block: bool,
    /// Ours: when ApplyGuardrail fails, let the text pass (logged and recorded) instead of
    /// refusing the request with a 503. Off by default.
    pub fail_open: bool,
    /// `aws_region_name`; else the function's region.
    pub region: Option<String>,
    /// `aws_bedrock_runtime_endpoint`.
    pub endpoint_url: Option<String>,
    pub credentials: Option<StaticCredentials>,
}

/// When a guardrail runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailMode {
    PreCall,
    PostCall,
    DuringCall,
}

impl GuardrailMode {
    /// The name as written in `config.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreCall => "pre_call",
            Self::PostCall => "post_call",
            Self::DuringCall => "during_call",
        }
    }

    /// Parse a `config.yaml` name (`pre_call`, `post_call`, `during_call`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pre_call" => Some(Self::PreCall),
            "post_call" => Some(Self::PostCall),
            "during_call" => Some(Self::DuringCall),
            _ => None,
        }
    }
}

/// Our own `lex` section: the Amazon Lex QAAssistant function's settings.
#[derive(Debug, Clone)]
pub struct LexSettings {
    /// The model group Lex questions go to, if set (must be a `model_name` in `model_list`).
    pub model: Option<String>,
    pub default_team: Option<String>,
    /// Bot id or bot alias id → team.
    pub teams: BTreeMap<String, String>,
    pub max_history_turns: u32,
    pub max_history_bytes: u32,
}

impl LexSettings {
    pub const DEFAULT_MAX_HISTORY_TURNS: u32 = 6;
    pub const DEFAULT_MAX_HISTORY_BYTES: u32 = 4000;
}

impl Default for LexSettings {
    fn default() -> Self {
        Self {
            model: None,
            default_team: None,
            teams: BTreeMap::new(),
            max_history_turns: Self::DEFAULT_MAX_HISTORY_TURNS,
            max_history_bytes: Self::DEFAULT_MAX_HISTORY_BYTES,
        }
    }
}

/// Our own `usage` section: where usage records go, and the after-response queue.
#[derive(Debug, Clone)]
pub struct UsageSettings {
    pub sink: UsageSinkKind,
    /// Records waiting to be written; beyond it new ones are dropped (logged and counted).
    pub queue_capacity: usize,
    /// Testing and benchmarks: every write waits this long first.
    pub simulated_latency: Option<Duration>,
    /// DynamoDB: how long a usage record is kept (`expires_at` = start + this).
    pub retention_days: u32,
    /// DynamoDB: tries per record (with backoff) before the record goes to the fallback log.
    pub write_attempts: u32,
    /// Log and file sinks: the latest records kept in memory for the spend API (0: none).
    pub keep_records: usize,
    /// Lambda: after-response work stops this long before the invocation's deadline, and what
    /// is left goes to the replayable fallback line (`after_response`).
    pub deadline_margin: Duration,
}

impl UsageSettings {
    pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
    pub const DEFAULT_RETENTION_DAYS: u32 = 90;
    pub const MAX_RETENTION_DAYS: u32 = 3650;
    pub const DEFAULT_WRITE_ATTEMPTS: u32 = 4;
    pub const MAX_WRITE_ATTEMPTS: u32 = 10;
    /// About 5 MB of records.
    pub const DEFAULT_KEEP_RECORDS: usize = 10_000;
    pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(500);
    /// A margin longer than this would leave no time for the work itself.
    pub const MAX_DEADLINE_MARGIN: Duration = Duration::from_secs(60);
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            sink: UsageSinkKind::Log,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            simulated_latency: None,
            retention_days: Self::DEFAULT_RETENTION_DAYS,
            write_attempts: Self::DEFAULT_WRITE_ATTEMPTS,
            keep_records: Self::DEFAULT_KEEP_RECORDS,
            deadline_margin: Self::DEFAULT_DEADLINE_MARGIN,
        }
    }
}

/// Where usage records are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageSinkKind {
    /// One JSON log line per record (target `usage`).
    Log,
    /// Kept in memory (tests).
    Memory,
    /// Appended as JSON lines to a file.
    File(std::path::PathBuf),
}
