//! Anthropic's error body: `{"type":"error","error":{"type":...,"message":...}}`, its `type`
//! chosen by the HTTP status as Anthropic's API does.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
}

/// The error `type` for a status: 400 `invalid_request_error`, 401 `authentication_error`,
/// 403 `permission_error`, 404 `not_found_error`, 413 `request_too_large`, 429
/// `rate_limit_error` (budgets too), 503 and 529 `overloaded_error`, other 5xx `api_error`.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The body as JSON text.
pub fn to_json(status: u16, message: &str) -> String {
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind: error_type(status),
            message,
        },
    };
    serde_json::to_string(&body).unwrap_or_else(|_| {
        String::from(r#"{"type":"error","error":{"type":"api_error","message":"error"}}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_pick_anthropic_types() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (405, "invalid_request_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "api_error"),
        ] {
            assert_eq!(error_type(status), kind, "{status}");
        }
        let body: serde_json::Value = serde_json::from_str(&to_json(401, "bad key")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type":"error","error":{"type":"authentication_error","message":"bad key"}})
        );
    }
}
