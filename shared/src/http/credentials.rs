//! What an HTTP request says about its caller: the key it presents and its session.

use http::HeaderMap;

/// The key a request presents: `Authorization: Bearer <key>`, else `x-api-key: <key>`.
///
/// An `Authorization` that is an AWS SigV4 signature (`AWS4-HMAC-SHA256 Credential=...`) is never
/// a key: behind CloudFront with origin access control (`CloudFrontMode=oac`), CloudFront replaces
/// the viewer's `Authorization` with its own signature for the Function URL, so callers send
/// their key in `x-api-key` (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !is_sigv4(v))
    {
        let value = value.trim();
        let key = match value.split_once(char::is_whitespace) {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
            _ if value.eq_ignore_ascii_case("bearer") => "",
            _ => value,
        };
        return (!key.is_empty()).then_some(key);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// An AWS Signature Version 4 `Authorization` value (its algorithm names the scheme).
fn is_sigv4(value: &str) -> bool {
    value
        .trim_start()
        .get(..4)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("AWS4"))
}

/// The conversation a request belongs to, from `x-session-id` (at most 128 characters).
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map(str::to_owned)
}

/// The caller's W3C `traceparent`, when valid.
pub fn traceparent(headers: &HeaderMap) -> Option<crate::observability::TraceParent> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::observability::TraceParent::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_then_x_api_key() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer sk-1")])),
            Some("sk-1")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  sk-2 ")])),
            Some("sk-2")
        );
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "sk-3")])),
            Some("sk-3")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn a_sigv4_authorization_is_never_a_key() {
        let signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123";
        assert_eq!(
            presented_key(&headers(&[
                ("authorization", signed),
                ("x-api-key", "sk-oac")
            ])),
            Some("sk-oac")
        );
        assert_eq!(presented_key(&headers(&[("authorization", signed)])), None);
    }

    #[test]
    fn session_ids_are_bounded() {
        assert_eq!(
            session_id(&headers(&[("x-session-id", "abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            session_id(&headers(&[("x-session-id", &"x".repeat(129))])),
            None
        );
    }
}
