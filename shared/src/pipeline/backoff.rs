//! How many times a failure is retried, and how long to wait before the same deployment again.

use std::time::Duration;

use crate::config::RouterSettings;
use crate::error::{GatewayError, ProviderError};

/// The first backoff; each retry doubles it, up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// Retries allowed for this kind of failure: the `retry_policy` entry, else the request's
/// `num_retries` up to the router's (a caller may ask for fewer retries, never for more: one
/// key's retries must not multiply the load on a deployment every caller shares), else the
/// router's; failures that are the request's own fault are not retried unless the policy says so.
pub fn retries_for(err: &GatewayError, settings: &RouterSettings, requested: Option<u32>) -> u32 {
    let policy = &settings.retry_policy;
    let default = requested.map_or(settings.num_retries, |n| n.min(settings.num_retries));
    let GatewayError::Provider(provider) = err else {
        return match err {
            GatewayError::RateLimited { .. } => policy.rate_limit.unwrap_or(0),
            _ => 0,
        };
    };
    match provider {
        ProviderError::Throttled { .. } => policy.rate_limit.unwrap_or(default),
        ProviderError::Timeout(_) => policy.timeout.unwrap_or(default),
        ProviderError::Misconfigured(_) => policy.authentication.unwrap_or(default),
        ProviderError::Unavailable(_)
        | ProviderError::Upstream(_)
        | ProviderError::Connect(_)
        | ProviderError::StreamBroken(_) => policy.internal_server.unwrap_or(default),
        ProviderError::Rejected(_) | ProviderError::ContextWindowExceeded(_) => {
            policy.bad_request.unwrap_or(0)
        }
        ProviderError::ContentFiltered(_) => policy.content_policy.unwrap_or(0),
    }
}

/// The wait before retry number `attempt` (from 1): exponential with full jitter in its upper
/// half, never below `router_settings.retry_after` or the provider's own Retry-After.
pub fn backoff(attempt: u32, err: &GatewayError, settings: &RouterSettings) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let jittered = exp.mul_f64(0.5 + 0.5 * jitter());
    let told = match err {
        GatewayError::Provider(ProviderError::Throttled { retry_after, .. }) => *retry_after,
        GatewayError::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    [Some(jittered), settings.retry_after, told]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(jittered)
}

/// A number in [0, 1) from the clock's nanoseconds: jitter needs spread, not secrecy.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryPolicy;
    use crate::error::TimeoutKind;

    fn throttled() -> GatewayError {
        ProviderError::Throttled {
            message: "x".into(),
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn retries_follow_policy_then_request_then_router() {
        let mut settings = RouterSettings {
            num_retries: 2,
            ..RouterSettings::default()
        };
        assert_eq!(retries_for(&throttled(), &settings, None), 2);
        assert_eq!(
            retries_for(&throttled(), &settings, Some(5)),
            2,
            "a caller cannot ask for more retries than the router's"
        );
        assert_eq!(retries_for(&throttled(), &settings, Some(1)), 1);
        let rejected: GatewayError = ProviderError::Rejected("bad".into()).into();
        assert_eq!(
            retries_for(&rejected, &settings, Some(5)),
            0,
            "the request's own fault"
        );
        settings.retry_policy = RetryPolicy {
            rate_limit: Some(7),
            bad_request: Some(1),
            ..RetryPolicy::default()
        };
        assert_eq!(retries_for(&throttled(), &settings, Some(5)), 7);
        assert_eq!(retries_for(&rejected, &settings, None), 1);
        assert_eq!(retries_for(&TimeoutKind::Call.into(), &settings, None), 2);
        assert_eq!(
            retries_for(&GatewayError::model_not_found("m"), &settings, None),
            0
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_respects_retry_after() {
        let settings = RouterSettings::default();
        for attempt in 1..=3 {
            let exp = BACKOFF_BASE * (1 << (attempt - 1));
            let wait = backoff(attempt, &throttled(), &settings);
            assert!(wait >= exp / 2 && wait <= exp, "{attempt}: {wait:?}");
        }
        assert!(backoff(30, &throttled(), &settings) <= BACKOFF_MAX);
        let settings = RouterSettings {
            retry_after: Some(Duration::from_secs(2)),
            ..RouterSettings::default()
        };
        assert!(backoff(1, &throttled(), &settings) >= Duration::from_secs(2));
        let told: GatewayError = ProviderError::Throttled {
            message: "x".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
        .into();
        assert!(backoff(1, &told, &RouterSettings::default()) >= Duration::from_secs(3));
    }
}
