//! Fault injection for the fake Bedrock: the `Fault` enum, faults chosen by model-id name, and REST JSON error answers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A failure the fake injects instead of (or in the middle of) a normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `ThrottlingException`.
    Throttle,
    /// 500 `InternalServerException`.
    ServerError,
    /// 503 `ServiceUnavailableException`.
    Unavailable,
    /// 408 `ModelTimeoutException`.
    ModelTimeout,
    /// 403 `AccessDeniedException`.
    AccessDenied,
    /// 404 `ResourceNotFoundException`.
    NotFound,
    /// 429 `ModelNotReadyException`.
    ModelNotReady,
    /// 400 `ValidationException` with this message.
    Validation(String),
    /// Never answers (until the fake shuts down).
    Hang,
    /// ConverseStream: sends `after_events` events, then a `modelStreamErrorException` frame.
    /// Converse answers normally.
    StreamException { after_events: usize },
    /// ConverseStream: sends `after_events` events, then drops the connection mid-body.
    /// Converse answers normally.
    StreamCut { after_events: usize },
    /// ConverseStream: sends the 200 head and `after_events` events (fewer if the answer has
    /// fewer), then nothing more with the connection kept open, until the fake shuts down
    /// (then the body ends). With 0 the client gets the head and waits for its first event.
    /// Converse answers normally.
    StreamStall { after_events: usize },
    /// 200 with stopReason `content_filtered` and an empty text block.
    ContentFiltered,
    /// 200 with stopReason `guardrail_intervened` and the text "Sorry, I can't help with that.".
    GuardrailIntervened,
    /// The first `n` calls fail with the inner fault, later calls succeed.
    FailTimes(usize, Box<Fault>),
}

/// Events a name-selected stream fault lets through before failing (messageStart + 2 deltas).
pub const NAME_FAULT_AFTER_EVENTS: usize = 3;

impl Fault {
    /// The fault selected by a model id (or guardrail id) containing a `fault-…` marker.
    pub fn from_name(id: &str) -> Option<Fault> {
        if !id.contains("fault-") {
            return None;
        }
        let after_events = NAME_FAULT_AFTER_EVENTS;
        let fault = if id.contains("fault-model-timeout") {
            Fault::ModelTimeout
        } else if id.contains("fault-timeout") {
            Fault::Hang
        } else if id.contains("fault-throttle") {
            Fault::Throttle
        } else if id.contains("fault-500") {
            Fault::ServerError
        } else if id.contains("fault-503") {
            Fault::Unavailable
        } else if id.contains("fault-stream-exception") {
            Fault::StreamException { after_events }
        } else if id.contains("fault-stream-cut") {
            Fault::StreamCut { after_events }
        } else if id.contains("fault-stall-before-first-event") {
            // Checked before `fault-stream-stall`; neither marker contains the other.
            Fault::StreamStall { after_events: 0 }
        } else if id.contains("fault-stream-stall") {
            Fault::StreamStall { after_events }
        } else if id.contains("fault-content-filtered") {
            Fault::ContentFiltered
        } else if id.contains("fault-guardrail") {
            Fault::GuardrailIntervened
        } else if id.contains("fault-denied") {
            Fault::AccessDenied
        } else if id.contains("fault-not-found") {
            Fault::NotFound
        } else if id.contains("fault-not-ready") {
            Fault::ModelNotReady
        } else if id.contains("fault-validation") {
            Fault::Validation("Fake validation failure (fault-validation).".to_owned())
        } else {
            return None;
        };
        Some(fault)
    }

    /// The REST error this fault answers with, if it is an HTTP-level error.
    pub(crate) fn rest_error(&self) -> Option<Response> {
        let (status, name, message) = match self {
            Fault::Throttle => (
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            Fault::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "The server encountered an internal error (fake).",
            ),
            Fault::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                "The service is temporarily unavailable (fake).",
            ),
            Fault::ModelTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "ModelTimeoutException",
                "Model has timed out in processing the request (fake).",
            ),
            Fault::AccessDenied => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID (fake).",
            ),
            Fault::NotFound => (
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "The requested resource was not found (fake).",
            ),
            Fault::ModelNotReady => (
                StatusCode::TOO_MANY_REQUESTS,
                "ModelNotReadyException",
                "The model is not ready to serve inference requests (fake).",
            ),
            Fault::Validation(message) => return Some(validation(message)),
            _ => return None,
        };
        Some(error_response(status, name, message))
    }
}

/// A REST JSON error: status, `x-amzn-errortype` header and `{"message": …}` body.
pub(crate) fn error_response(status: StatusCode, name: &'static str, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(name));
    response
}

/// A 400 `ValidationException`.
pub(crate) fn validation(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "ValidationException", message)
}
