//! SDK errors (modelled exceptions, timeouts, connection failures) as [`ProviderError`]s.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};

use crate::providers::{ProviderError, TimeoutKind};

pub fn from_sdk<E, R>(err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(context) => {
            let service_err = context.err();
            classify(
                service_err.code().unwrap_or("Unknown"),
                service_err.message().unwrap_or("no message"),
            )
        }
        SdkError::TimeoutError(_) => ProviderError::Timeout(TimeoutKind::Call),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            ProviderError::Connect("connection timed out".into())
        }
        SdkError::DispatchFailure(failure) => ProviderError::Connect(format!("{failure:?}")),
        SdkError::ResponseError(_) => ProviderError::Upstream("unreadable response".into()),
        SdkError::ConstructionFailure(_) => {
            ProviderError::Rejected("the request could not be built".into())
        }
        _ => ProviderError::Upstream(err.to_string()),
    }
}

/// By exception name (REST errors say `ThrottlingException`, stream frames `throttlingException`).
/// Bedrock says "input too long" only in a validation message, so that one is read from the text.
pub fn classify(code: &str, message: &str) -> ProviderError {
    let message = message.to_owned();
    match code.to_ascii_lowercase().trim_end_matches("exception") {
        "throttling" | "toomanyrequests" | "servicequotaexceeded" => ProviderError::Throttled {
            message,
            retry_after: None,
        },
        "validation" if is_context_window(&message) => {
            ProviderError::ContextWindowExceeded(message)
        }
        "validation" => ProviderError::Rejected(message),
        "accessdenied" | "resourcenotfound" | "unrecognizedclient" | "expiredtoken" => {
            ProviderError::Misconfigured(message)
        }
        "serviceunavailable" | "modelnotready" => ProviderError::Unavailable(message),
        "modeltimeout" => ProviderError::Timeout(TimeoutKind::Call),
        "modelstreamerror" => ProviderError::StreamBroken(message),
        _ => ProviderError::Upstream(format!("{code}: {message}")),
    }
}

/// Bedrock's wordings of "the prompt does not fit the model" across model families.
fn is_context_window(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "input is too long",
        "too many input tokens",
        "too many tokens",
        "prompt is too long",
        "context length",
        "context window",
        "maximum context",
        "max_tokens exceeds",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rest_and_stream_names() {
        assert!(matches!(
            classify("ThrottlingException", "x"),
            ProviderError::Throttled { .. }
        ));
        assert!(matches!(
            classify("throttlingException", "x"),
            ProviderError::Throttled { .. }
        ));
        assert_eq!(
            classify("ValidationException", "bad"),
            ProviderError::Rejected("bad".into())
        );
        assert!(matches!(
            classify(
                "ValidationException",
                "Input is too long for requested model."
            ),
            ProviderError::ContextWindowExceeded(_)
        ));
        assert!(matches!(
            classify(
                "ValidationException",
                "prompt is too long: 210000 tokens > 200000 maximum"
            ),
            ProviderError::ContextWindowExceeded(_)
        ));
        assert_eq!(
            classify("ModelTimeoutException", "x"),
            ProviderError::Timeout(TimeoutKind::Call)
        );
        assert!(matches!(
            classify("ServiceUnavailableException", "x"),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            classify("AccessDeniedException", "x"),
            ProviderError::Misconfigured(_)
        ));
        assert!(matches!(
            classify("InternalServerException", "x"),
            ProviderError::Upstream(_)
        ));
        assert!(matches!(
            classify("modelStreamErrorException", "x"),
            ProviderError::StreamBroken(_)
        ));
    }
}
