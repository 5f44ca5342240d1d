//! The fake checks SigV4 signatures as Bedrock does, for the test credentials it knows: a request
//! signed with a known access key id must carry the signature its method, path, signed headers
//! and body imply (recomputed with `aws-sigv4`), or it is refused with Bedrock's 403
//! `InvalidSignatureException`. Requests without a signature (the benchmark's direct call) and
//! unknown key ids pass unchecked. So a client that signs wrongly fails here, not first in AWS.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use super::faults::error_response;

/// The test suites' access key ids and their secrets.
const KNOWN: &[(&str, &str)] = &[
    ("test-access-key", "test-secret-key"),
    ("testing", "testing"),
    ("local", "local"),
    ("test", "test"),
];

pub(crate) async fn check(request: Request<Body>, next: Next) -> Response {
    let Some(auth) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let Some(parsed) = Authorization::parse(&auth) else {
        return refuse("Authorization header is malformed.");
    };
    let Some(secret) = KNOWN
        .iter()
        .find(|(id, _)| *id == parsed.key_id)
        .map(|(_, s)| *s)
    else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(collected) = body.collect().await else {
        return refuse("Request body could not be read.");
    };
    let bytes = collected.to_bytes();
    match expected_signature(&parts, &bytes, &parsed, secret) {
        Some(expected) if expected == parsed.signature => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => {
            refuse("The request signature we calculated does not match the signature you provided.")
        }
    }
}

fn refuse(message: &str) -> Response {
    error_response(StatusCode::FORBIDDEN, "InvalidSignatureException", message)
}

struct Authorization {
    key_id: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    /// `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request,
    /// SignedHeaders=a;b, Signature=<hex>`
    fn parse(header: &str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',').map(str::trim) {
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let mut scope = credential?.split('/');
        let key_id = scope.next()?.to_owned();
        let _date = scope.next()?;
        let region = scope.next()?.to_owned();
        let service = scope.next()?.to_owned();
        Some(Authorization {
            key_id,
            region,
            service,
            signed_headers: signed?.split(';').map(str::to_owned).collect(),
            signature: signature?.to_owned(),
        })
    }
}

fn expected_signature(
    parts: &axum::http::request::Parts,
    body: &[u8],
    auth: &Authorization,
    secret: &str,
) -> Option<String> {
    let time = amz_date(parts.headers.get("x-amz-date")?.to_str().ok()?)?;
    let token = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let identity = Credentials::new(&auth.key_id, secret, token, None, "fake").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(&auth.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .ok()?
        .into();
    let host = parts.headers.get("host")?.to_str().ok()?;
    let uri = format!("http://{host}{}", parts.uri.path_and_query()?.as_str());
    let headers: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .filter(|name| !matches!(name.as_str(), "x-amz-date" | "x-amz-security-token"))
        .filter_map(|name| {
            Some((
                name.as_str(),
                parts.headers.get(name.as_str())?.to_str().ok()?,
            ))
        })
        .collect();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let (_, signature) = sign(signable, &params).ok()?.into_parts();
    Some(signature)
}

/// `20261207T071500Z` as a time.
fn amz_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| value.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_are_read_as_utc() {
        let t = amz_date("20261207T071500Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_796_627_700);
        assert!(amz_date("2026-12-07").is_none());
    }
}
