//! SDK errors (modelled exceptions, timeouts, connection failures) as [`ProviderError`]s.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};

use crate::providers::ProviderError;

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
        SdkError::TimeoutError(_) => {
            ProviderError::Timeout("no answer within the deployment's timeout".into())
        }
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            ProviderError::Timeout("connection timed out".into())
        }
        SdkError::DispatchFailure(failure) => ProviderError::Connect(format!("{failure:?}")),
        SdkError::ResponseError(_) => ProviderError::Upstream("unreadable response".into()),
        SdkError::ConstructionFailure(_) => {
            ProviderError::InvalidRequest("the request could not be built".into())
        }
        _ => ProviderError::Upstream(err.to_string()),
    }
}

/// By exception name (REST errors say `ThrottlingException`, stream frames `throttlingException`).
pub fn classify(code: &str, message: &str) -> ProviderError {
    let message = message.to_owned();
    match code.to_ascii_lowercase().trim_end_matches("exception") {
        "throttling" | "toomanyrequests" => ProviderError::Throttled(message),
        "validation" => ProviderError::InvalidRequest(message),
        "accessdenied" | "resourcenotfound" | "unrecognizedclient" | "expiredtoken" => {
            ProviderError::Misconfigured(message)
        }
        "servicequotaexceeded" => ProviderError::Throttled(message),
        "serviceunavailable" | "modelnotready" => ProviderError::Unavailable(message),
        "modeltimeout" => ProviderError::Timeout(message),
        "modelstreamerror" => ProviderError::StreamInterrupted(message),
        _ => ProviderError::Upstream(format!("{code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rest_and_stream_names() {
        assert!(matches!(
            classify("ThrottlingException", "x"),
            ProviderError::Throttled(_)
        ));
        assert!(matches!(
            classify("throttlingException", "x"),
            ProviderError::Throttled(_)
        ));
        assert_eq!(
            classify("ValidationException", "bad"),
            ProviderError::InvalidRequest("bad".into())
        );
        assert!(matches!(
            classify("ModelTimeoutException", "x"),
            ProviderError::Timeout(_)
        ));
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
            ProviderError::StreamInterrupted(_)
        ));
    }
}
