//! Provider failures, classified by what happened so routing can act on them (retry, fall back,
//! cool down) and the edges can tell the caller.

use std::time::Duration;

/// What the gateway was waiting for when time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The whole call, bounded by the deployment's `timeout`, or the model's own timeout.
    Call,
    /// A stream's first event, bounded by `stream_timeout`.
    FirstEvent,
    /// The next event of a stream that has started, bounded by `stream_idle_timeout`.
    Idle,
    /// The Lambda invocation's deadline (less a margin to answer).
    Deadline,
}

impl TimeoutKind {
    /// What was awaited, for messages: "timed out waiting for {}".
    pub fn awaited(self) -> &'static str {
        match self {
            TimeoutKind::Call => "the model's answer",
            TimeoutKind::FirstEvent => "the stream's first event (stream_timeout)",
            TimeoutKind::Idle => "the stream's next event (stream_idle_timeout)",
            TimeoutKind::Deadline => "the model before the invocation's deadline",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Call => "call",
            TimeoutKind::FirstEvent => "first_event",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Deadline => "deadline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider throttled us (429 upstream, quota).
    #[error("throttled: {message}")]
    Throttled {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The provider is temporarily unavailable or the model is not ready.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer (or no next event) in time.
    #[error("timed out waiting for {}", .0.awaited())]
    Timeout(TimeoutKind),
    /// The input is longer than the model's context window.
    #[error("context window exceeded: {0}")]
    ContextWindowExceeded(String),
    /// The provider refused the content (its own filter, not a gateway guardrail).
    #[error("content filtered: {0}")]
    ContentFiltered(String),
    /// The provider rejected the request as invalid (another 4xx); its message is safe to show.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The deployment itself is unusable: access denied, unknown model id, bad credentials.
    #[error("deployment unusable: {0}")]
    Misconfigured(String),
    /// The provider failed (5xx) or sent something we could not read.
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// The provider could not be reached.
    #[error("connection failure: {0}")]
    Connect(String),
    /// A stream broke after it had started.
    #[error("stream broken: {0}")]
    StreamBroken(String),
}

impl ProviderError {
    /// A stable label for usage records, logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Throttled { .. } => "provider.throttled",
            ProviderError::Unavailable(_) => "provider.unavailable",
            ProviderError::Timeout(TimeoutKind::Call) => "provider.timeout",
            ProviderError::Timeout(TimeoutKind::FirstEvent) => "provider.timeout.first_event",
            ProviderError::Timeout(TimeoutKind::Idle) => "provider.timeout.idle",
            ProviderError::Timeout(TimeoutKind::Deadline) => "provider.timeout.deadline",
            ProviderError::ContextWindowExceeded(_) => "provider.context_window_exceeded",
            ProviderError::ContentFiltered(_) => "provider.content_filtered",
            ProviderError::Rejected(_) => "provider.rejected",
            ProviderError::Misconfigured(_) => "provider.misconfigured",
            ProviderError::Upstream(_) => "provider.upstream",
            ProviderError::Connect(_) => "provider.connect",
            ProviderError::StreamBroken(_) => "provider.stream_broken",
        }
    }
}
