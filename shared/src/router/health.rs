//! Cooldowns: which failures say a deployment is unhealthy, and for how long it is skipped.
//!
//! Like LiteLLM's: throttling (429), a deployment that cannot work (401/404: access denied,
//! unknown model id) and a call timeout (408) cool the deployment down at once; other provider
//! failures (unavailable, 5xx, unreachable, a broken stream, the other timeouts) count, and the
//! deployment cools down when its failures this minute exceed `allowed_fails` (default 3).
//! Failures that are the request's fault (rejected, context window exceeded, content filtered)
//! and failures outside the provider never count, nor do timeouts the caller chose: the
//! request's deadline (its own `timeout`, or the invocation's) and a first-event timeout shorter
//! than the deployment's (the pipeline reports those as [`TimeoutKind::Deadline`]), so one key
//! with a tiny timeout cannot put a deployment into cooldown for everyone. A cooldown lasts `cooldown_time` (default
//! 5 s); then the deployment is usable again and its count of failures starts over.

use std::time::Duration;

use crate::config::RouterSettings;
use crate::error::{GatewayError, ProviderError, TimeoutKind};

/// LiteLLM's default `allowed_fails`.
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's default `cooldown_time`.
pub const DEFAULT_COOLDOWN_TIME: Duration = Duration::from_secs(5);

/// What one failure means for the deployment that answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Cool down now.
    CoolDown,
    /// Count toward `allowed_fails`.
    Count,
    /// Not the deployment's fault.
    Ignore,
}

pub(super) fn verdict(error: &GatewayError) -> Verdict {
    let GatewayError::Provider(error) = error else {
        return Verdict::Ignore;
    };
    match error {
        ProviderError::Throttled { .. }
        | ProviderError::Misconfigured(_)
        | ProviderError::Timeout(TimeoutKind::Call) => Verdict::CoolDown,
        ProviderError::Unavailable(_)
        | ProviderError::Upstream(_)
        | ProviderError::Connect(_)
        | ProviderError::StreamBroken(_)
        | ProviderError::Timeout(TimeoutKind::FirstEvent | TimeoutKind::Idle) => Verdict::Count,
        ProviderError::Timeout(TimeoutKind::Deadline)
        | ProviderError::Rejected(_)
        | ProviderError::ContextWindowExceeded(_)
        | ProviderError::ContentFiltered(_) => Verdict::Ignore,
    }
}

/// The router's cooldown settings, with LiteLLM's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Policy {
    /// Failures per minute a deployment may have without cooling down.
    pub(super) allowed_fails: u32,
    pub(super) cooldown_ms: u64,
}

impl Policy {
    pub(super) fn new(settings: &RouterSettings) -> Self {
        Policy {
            allowed_fails: settings.allowed_fails.unwrap_or(DEFAULT_ALLOWED_FAILS),
            cooldown_ms: super::clock::millis(
                settings.cooldown_time.unwrap_or(DEFAULT_COOLDOWN_TIME),
            ),
        }
    }
}
