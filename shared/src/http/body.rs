//! Request bodies parsed with errors in OpenAI's shape, naming the field that was wrong.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::GatewayError;

/// Parses JSON; a type error names its path (`messages[0].content`) as `param`.
pub fn parse_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, GatewayError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::RequestTooLarge
        } else {
            GatewayError::invalid_request("The request body could not be read.", "body")
        }
    })?;
    if body.is_empty() {
        return Err(GatewayError::invalid_request(
            "The request body is empty; send a JSON object.",
            "body",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let message = if syntax {
            format!("The request body is not valid JSON: {inner}")
        } else {
            // A data error names its field through `param`; the byte position adds nothing.
            let text = inner.to_string();
            let text = text
                .rfind(" at line ")
                .map_or(text.as_str(), |end| &text[..end]);
            format!("Invalid request: {text}")
        };
        let param = if syntax {
            "body".to_owned()
        } else {
            param_of(&path, &message)
        };
        GatewayError::invalid_request(message, param)
    })?;
    deserializer.end().map_err(|_| {
        GatewayError::invalid_request(
            "The request body has trailing characters after the JSON.",
            "body",
        )
    })?;
    Ok(value)
}

/// The field's path; for a missing field, the missing field itself.
fn param_of(path: &str, message: &str) -> String {
    let missing = message
        .split_once("missing field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field);
    match (path, missing) {
        (".", Some(field)) => field.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(field)) => format!("{path}.{field}"),
        (path, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ChatCompletionRequest;

    fn parse(body: &'static str) -> GatewayError {
        parse_json::<ChatCompletionRequest>(Ok(Bytes::from_static(body.as_bytes()))).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            parse(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#).param(),
            Some("messages[0].content")
        );
        assert_eq!(
            parse(r#"{"messages":[]}"#).message(),
            "Invalid request: missing field `model`"
        );
        assert_eq!(parse(r#"{"messages":[]}"#).param(), Some("model"));
        assert_eq!(
            parse(r#"{"model":"m","messages":[{"content":"x"}]}"#).param(),
            Some("messages[0].role")
        );
        assert_eq!(
            parse(r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#).param(),
            Some("messages[0].role")
        );
        assert!(parse("{not json").message().contains("not valid JSON"));
        assert_eq!(
            parse(r#"{"model":"m","messages":[{"role":"user","content":"unterminated"#).param(),
            Some("body")
        );
        assert_eq!(parse("").param(), Some("body"));
    }
}
