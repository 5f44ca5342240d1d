//! OpenAI's error shape for the HTTP edge: every [`GatewayError`] becomes a status, `type`,
//! `code`, `param` and, for limits, `retry-after`. Internal failures are logged in full
//! elsewhere and answered generically here.

use std::borrow::Cow;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::error::{AuthFailure, GatewayError, GuardrailStage, ProviderError, TimeoutKind};
use crate::openai::error_body::{ErrorBody, ErrorDetail};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: Cow<'static, str>,
    param: Option<Cow<'static, str>>,
    code: Option<&'static str>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after_secs: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<Cow<'static, str>>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// `retry-after` in whole seconds, at least 1.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after_secs = Some(after.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn kind(&self) -> &'static str {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The body as OpenAI writes it.
    pub fn to_json(&self) -> String {
        let body = ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind,
                param: self.param(),
                code: self.code,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            String::from(
                r#"{"error":{"message":"error","type":"api_error","param":null,"code":null}}"#,
            )
        })
    }
}

const INVALID: &str = "invalid_request_error";
const UPSTREAM: &str = "api_error";

impl From<GatewayError> for ApiError {
    fn from(err: GatewayError) -> ApiError {
        use GatewayError as E;
        match err {
            E::InvalidRequest { message, param } => ApiError {
                param,
                ..ApiError::new(StatusCode::BAD_REQUEST, INVALID, message)
            },
            E::RequestTooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID,
                "The request body is too large.",
            ),
            E::Unauthenticated(failure) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                auth_message(failure),
            )
            .with_code("invalid_api_key"),
            E::ModelNotAllowed { model } => ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                format!("This key may not use the model `{model}`."),
            )
            .with_param("model")
            .with_code("model_not_allowed"),
            E::ModelNotFound { model } => ApiError::new(
                StatusCode::NOT_FOUND,
                INVALID,
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
            .with_param("model")
            .with_code("model_not_found"),
            E::RateLimited { limit, retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("Rate limit reached ({limit}); retry after the time in `retry-after`."),
            )
            .with_code("rate_limit_exceeded")
            .with_retry_after(retry_after),
            E::BudgetExceeded { scope, retry_after } => {
                let error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "budget_exceeded",
                    format!("The budget is exhausted ({scope})."),
                )
                .with_code("budget_exceeded");
                match retry_after {
                    Some(after) => error.with_retry_after(after),
                    None => error,
                }
            }
            E::GuardrailBlocked { stage, .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                INVALID,
                match stage {
                    GuardrailStage::Input => "The request was blocked by a content policy.",
                    GuardrailStage::Output => "The answer was blocked by a content policy.",
                },
            )
            .with_code("content_policy_violation"),
            E::Provider(err) => from_provider(err),
            E::DependencyUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                UPSTREAM,
                "A service the gateway depends on is unavailable; retry shortly.",
            )
            .with_code("dependency_unavailable")
            .with_retry_after(Duration::from_secs(1)),
            E::Internal(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                UPSTREAM,
                "The gateway failed to process the request.",
            ),
        }
    }
}

fn auth_message(failure: AuthFailure) -> &'static str {
    match failure {
        AuthFailure::NoKey => "No API key provided. Send it as `Authorization: Bearer <key>`.",
        AuthFailure::UnknownKey => "Incorrect API key provided.",
        AuthFailure::Expired => "This API key has expired.",
        AuthFailure::Blocked => "This API key is blocked.",
        AuthFailure::NoKeysConfigured => "This gateway has no keys configured.",
    }
}

fn from_provider(err: ProviderError) -> ApiError {
    use ProviderError as P;
    match err {
        P::Throttled { retry_after, .. } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "The model is receiving too many requests; retry shortly.",
        )
        .with_code("rate_limit_exceeded")
        .with_retry_after(retry_after.unwrap_or(Duration::from_secs(1))),
        P::Unavailable(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            UPSTREAM,
            "The model is temporarily unavailable; retry shortly.",
        )
        .with_code("upstream_unavailable")
        .with_retry_after(Duration::from_secs(1)),
        P::Timeout(kind) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            UPSTREAM,
            match kind {
                TimeoutKind::Call | TimeoutKind::Deadline => "The model did not answer in time.",
                TimeoutKind::FirstEvent => "The model did not start its answer in time.",
                TimeoutKind::Idle => "The model stopped sending its answer.",
            },
        )
        .with_code("upstream_timeout"),
        P::ContextWindowExceeded(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            "The messages are longer than the model's context window; shorten them.",
        )
        .with_param("messages")
        .with_code("context_length_exceeded"),
        P::ContentFiltered(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            "The model refused the content under its content policy.",
        )
        .with_code("content_policy_violation"),
        // Bedrock's validation messages describe the request, never our credentials.
        P::Rejected(message) => {
            ApiError::new(StatusCode::BAD_REQUEST, INVALID, message).with_code("upstream_rejected")
        }
        P::Misconfigured(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            "The model deployment rejected the gateway's call (access or model id); ask the \
             gateway's operators.",
        )
        .with_code("upstream_misconfigured"),
        P::Upstream(_) | P::Connect(_) | P::StreamBroken(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            "The model provider failed to answer.",
        )
        .with_code("upstream_error"),
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.to_json()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TimeoutKind;

    /// Status, `type`, `code`, `retry-after`.
    type Mapped = (u16, &'static str, Option<&'static str>, Option<u64>);

    fn map(err: GatewayError) -> Mapped {
        let api = ApiError::from(err);
        (
            api.status().as_u16(),
            api.kind(),
            api.code(),
            api.retry_after_secs(),
        )
    }

    #[test]
    fn body_is_openai_shaped() {
        let e = ApiError::from(GatewayError::invalid_request("bad `n`", "n"));
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"bad `n`","type":"invalid_request_error","param":"n","code":null}})
        );
    }

    #[test]
    fn every_core_error_has_its_status_type_code_and_retry_after() {
        let secs = Duration::from_secs;
        let cases: Vec<(GatewayError, Mapped)> = vec![
            (
                GatewayError::invalid_request("x", "n"),
                (400, INVALID, None, None),
            ),
            (GatewayError::RequestTooLarge, (413, INVALID, None, None)),
            (
                GatewayError::Unauthenticated(AuthFailure::UnknownKey),
                (401, "authentication_error", Some("invalid_api_key"), None),
            ),
            (
                GatewayError::ModelNotAllowed { model: "m".into() },
                (403, "permission_error", Some("model_not_allowed"), None),
            ),
            (
                GatewayError::model_not_found("m"),
                (404, INVALID, Some("model_not_found"), None),
            ),
            (
                GatewayError::RateLimited {
                    limit: "key rpm".into(),
                    retry_after: secs(7),
                },
                (
                    429,
                    "rate_limit_error",
                    Some("rate_limit_exceeded"),
                    Some(7),
                ),
            ),
            (
                GatewayError::BudgetExceeded {
                    scope: "team a".into(),
                    retry_after: Some(secs(3600)),
                },
                (429, "budget_exceeded", Some("budget_exceeded"), Some(3600)),
            ),
            (
                GatewayError::GuardrailBlocked {
                    stage: GuardrailStage::Input,
                    guardrail: "g".into(),
                },
                (400, INVALID, Some("content_policy_violation"), None),
            ),
            (
                GatewayError::GuardrailBlocked {
                    stage: GuardrailStage::Output,
                    guardrail: "g".into(),
                },
                (400, INVALID, Some("content_policy_violation"), None),
            ),
            (
                ProviderError::Throttled {
                    message: "x".into(),
                    retry_after: None,
                }
                .into(),
                (
                    429,
                    "rate_limit_error",
                    Some("rate_limit_exceeded"),
                    Some(1),
                ),
            ),
            (
                ProviderError::Throttled {
                    message: "x".into(),
                    retry_after: Some(Duration::from_millis(2500)),
                }
                .into(),
                (
                    429,
                    "rate_limit_error",
                    Some("rate_limit_exceeded"),
                    Some(3),
                ),
            ),
            (
                ProviderError::Unavailable("x".into()).into(),
                (503, UPSTREAM, Some("upstream_unavailable"), Some(1)),
            ),
            (
                ProviderError::ContextWindowExceeded("x".into()).into(),
                (400, INVALID, Some("context_length_exceeded"), None),
            ),
            (
                ProviderError::ContentFiltered("x".into()).into(),
                (400, INVALID, Some("content_policy_violation"), None),
            ),
            (
                ProviderError::Rejected("x".into()).into(),
                (400, INVALID, Some("upstream_rejected"), None),
            ),
            (
                ProviderError::Misconfigured("x".into()).into(),
                (502, UPSTREAM, Some("upstream_misconfigured"), None),
            ),
            (
                ProviderError::Upstream("x".into()).into(),
                (502, UPSTREAM, Some("upstream_error"), None),
            ),
            (
                ProviderError::Connect("x".into()).into(),
                (502, UPSTREAM, Some("upstream_error"), None),
            ),
            (
                ProviderError::StreamBroken("x".into()).into(),
                (502, UPSTREAM, Some("upstream_error"), None),
            ),
            (
                GatewayError::DependencyUnavailable("keys".into()),
                (503, UPSTREAM, Some("dependency_unavailable"), Some(1)),
            ),
            (
                GatewayError::Internal("bug".into()),
                (500, UPSTREAM, None, None),
            ),
        ];
        for kind in [
            TimeoutKind::Call,
            TimeoutKind::FirstEvent,
            TimeoutKind::Idle,
            TimeoutKind::Deadline,
        ] {
            let mapped = map(kind.into());
            assert_eq!(
                mapped,
                (504, UPSTREAM, Some("upstream_timeout"), None),
                "{kind:?}"
            );
        }
        for (err, expected) in cases {
            let label = err.kind();
            assert_eq!(map(err), expected, "{label}");
        }
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let api = ApiError::from(GatewayError::Internal("secret path /var/x".into()));
        assert!(!api.to_json().contains("secret"));
        let api = ApiError::from(GatewayError::from(ProviderError::Upstream(
            "Internal: token sk-1".into(),
        )));
        assert!(!api.to_json().contains("sk-1"));
    }

    #[test]
    fn rate_limit_sets_retry_after() {
        let r = GatewayError::RateLimited {
            limit: "key rpm".into(),
            retry_after: Duration::from_secs(2),
        }
        .into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
    }
}
