//! Provider failures, classified by what the client should see.

use http::StatusCode;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider throttled us (429 upstream).
    #[error("throttled: {0}")]
    Throttled(String),
    /// The provider rejected the request as invalid; its message is safe to show.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The deployment itself is misconfigured or not permitted (access denied, unknown model id).
    #[error("deployment unusable: {0}")]
    Misconfigured(String),
    /// The provider is temporarily unavailable or the model is not ready.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The provider failed or sent something we could not read.
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// The provider could not be reached.
    #[error("connection failure: {0}")]
    Connect(String),
    /// A stream broke after it had started.
    #[error("stream interrupted: {0}")]
    StreamInterrupted(String),
}

impl ProviderError {
    /// Whether another attempt (on this or another deployment) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ProviderError::InvalidRequest(_))
    }
}

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> ApiError {
        match err {
            ProviderError::Throttled(_) => {
                ApiError::rate_limited("The model is receiving too many requests; retry shortly.", 1)
            }
            ProviderError::InvalidRequest(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            }
            ProviderError::Misconfigured(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                "The model deployment rejected the gateway's call (access or model id); ask the gateway's operators.",
            )
            .with_code("upstream_misconfigured"),
            ProviderError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "The model is temporarily unavailable; retry shortly.",
            )
            .with_code("upstream_unavailable"),
            ProviderError::Timeout(_) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                "The model did not answer in time.",
            )
            .with_code("upstream_timeout"),
            ProviderError::Upstream(_) | ProviderError::Connect(_) | ProviderError::StreamInterrupted(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "api_error", "The model provider failed to answer.")
                    .with_code("upstream_error")
            }
        }
    }
}
