//! What can go wrong on the request path, said as what happened, not as which status to send.
//!
//! `http::error` maps a [`GatewayError`] to OpenAI's status, `type`, `code`, `param` and
//! `retry-after`; `lex::failure` maps it to a friendly spoken or written reply. Routing acts on
//! the classified [`ProviderError`] inside it.

use std::borrow::Cow;
use std::time::Duration;

mod provider;

pub use provider::{ProviderError, TimeoutKind};

/// Why a key was not accepted. Never carries the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` or `x-api-key`.
    NoKey,
    /// Neither the master key nor a known virtual key.
    UnknownKey,
    /// A virtual key past its expiry.
    Expired,
    /// A virtual key that was blocked.
    Blocked,
    /// The gateway has no master key and no key store entry: nothing is accepted.
    NoKeysConfigured,
}

/// Which side of the model call a guardrail stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailStage {
    Input,
    Output,
}

/// Every failure of the request path, for every caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed or asks for something the gateway cannot do; `param` is the
    /// field's path (`messages[2].content`), `body` for the body as a whole.
    #[error("invalid request: {message}")]
    InvalidRequest {
        message: Cow<'static, str>,
        param: Option<Cow<'static, str>>,
    },
    /// The body is larger than the gateway accepts.
    #[error("request body too large")]
    RequestTooLarge,
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    /// The key may not use this model group.
    #[error("model `{model}` not allowed for this key")]
    ModelNotAllowed { model: String },
    #[error("model `{model}` not found")]
    ModelNotFound { model: String },
    /// Over a requests- or tokens-per-minute limit; `limit` names it (`key rpm`).
    #[error("rate limited ({limit})")]
    RateLimited {
        limit: Cow<'static, str>,
        retry_after: Duration,
    },
    /// A key's or team's budget is spent; `scope` names it (`team support`).
    #[error("budget exceeded ({scope})")]
    BudgetExceeded {
        scope: Cow<'static, str>,
        retry_after: Option<Duration>,
    },
    /// A guardrail blocked the question or the answer.
    #[error("blocked by guardrail `{guardrail}` ({stage:?})")]
    GuardrailBlocked {
        stage: GuardrailStage,
        guardrail: String,
    },
    /// The model call failed, classified so routing can act on it.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// A service the gateway depends on (key store, guardrail service) failed; the request is
    /// refused rather than served unchecked.
    #[error("dependency unavailable: {0}")]
    DependencyUnavailable(Cow<'static, str>),
    /// A bug or an impossible state: logged in full, answered generically.
    #[error("internal: {0}")]
    Internal(Cow<'static, str>),
}

impl GatewayError {
    /// A 400-class error naming the field at `param`.
    pub fn invalid_request(
        message: impl Into<Cow<'static, str>>,
        param: impl Into<Cow<'static, str>>,
    ) -> Self {
        GatewayError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    pub fn model_not_found(model: &str) -> Self {
        GatewayError::ModelNotFound {
            model: model.to_owned(),
        }
    }

    /// The message of an invalid request (empty for other variants).
    pub fn message(&self) -> &str {
        match self {
            GatewayError::InvalidRequest { message, .. } => message,
            _ => "",
        }
    }

    /// The field an invalid request names.
    pub fn param(&self) -> Option<&str> {
        match self {
            GatewayError::InvalidRequest { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// A stable label for usage records, logs and metrics (`provider.throttled`).
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. } => "invalid_request",
            GatewayError::RequestTooLarge => "request_too_large",
            GatewayError::Unauthenticated(_) => "unauthenticated",
            GatewayError::ModelNotAllowed { .. } => "model_not_allowed",
            GatewayError::ModelNotFound { .. } => "model_not_found",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::BudgetExceeded { .. } => "budget_exceeded",
            GatewayError::GuardrailBlocked {
                stage: GuardrailStage::Input,
                ..
            } => "guardrail_blocked.input",
            GatewayError::GuardrailBlocked {
                stage: GuardrailStage::Output,
                ..
            } => "guardrail_blocked.output",
            GatewayError::Provider(err) => err.kind(),
            GatewayError::DependencyUnavailable(_) => "dependency_unavailable",
            GatewayError::Internal(_) => "internal",
        }
    }
}

impl From<TimeoutKind> for GatewayError {
    fn from(kind: TimeoutKind) -> Self {
        GatewayError::Provider(ProviderError::Timeout(kind))
    }
}
