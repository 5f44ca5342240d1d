//! CloudFront origin verification: when a secret is configured, every request must carry it in
//! `x-origin-verify` (CloudFront adds the header; callers that go around CloudFront cannot).
//!
//! The comparison is constant-time over SHA-256 digests, so neither the content nor the length
//! of the secret leaks through timing. A refused request gets a 403 in OpenAI's error shape
//! (Anthropic's on the Messages routes). The secret has its own header, so a caller's key may
//! arrive in `x-api-key` (as Anthropic's SDKs send it) beside it.

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::env::Environment;
use crate::secret::Secret;

/// The header CloudFront adds to each request it forwards to the Function URL.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// The variable holding the secret; absent or empty means no check.
pub const ORIGIN_VERIFY_SECRET_VAR: &str = "GATEWAY_ORIGIN_VERIFY_SECRET";

/// The Secrets Manager secret holding it, read once at start-up when
/// [`ORIGIN_VERIFY_SECRET_VAR`] is unset (what the SAM template sets, so the value is not in the
/// function's environment). A secret that cannot be read stops the function: the check is
/// never skipped.
pub const ORIGIN_VERIFY_SECRET_ID_VAR: &str = "GATEWAY_ORIGIN_VERIFY_SECRET_ID";

/// The secret a request must present, kept only as its digest.
#[derive(Clone)]
pub struct OriginVerify {
    digest: Secret<[u8; 32]>,
}

impl std::fmt::Debug for OriginVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginVerify(*****)")
    }
}

impl OriginVerify {
    pub fn new(secret: &str) -> Self {
        OriginVerify {
            digest: Secret::new(Sha256::digest(secret.as_bytes()).into()),
        }
    }

    /// `Some` when [`ORIGIN_VERIFY_SECRET_VAR`] is set to a non-empty value.
    pub fn from_env(env: &Environment) -> Option<Self> {
        env.get(ORIGIN_VERIFY_SECRET_VAR)
            .filter(|secret| !secret.is_empty())
            .map(Self::new)
    }

    /// From [`ORIGIN_VERIFY_SECRET_VAR`], else from the secret [`ORIGIN_VERIFY_SECRET_ID_VAR`]
    /// names (plain, or JSON `secret`); `None` when neither is set.
    pub async fn load(env: &Environment) -> Result<Option<Self>, crate::store::SecretReadError> {
        if let Some(verify) = Self::from_env(env) {
            return Ok(Some(verify));
        }
        let Some(id) = env
            .get(ORIGIN_VERIFY_SECRET_ID_VAR)
            .map(str::trim)
            .filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let secret = crate::store::read_secret(env, id, &["secret"]).await?;
        Ok(Some(Self::new(secret.expose())))
    }

    /// Whether `headers` carry the secret (one header value, compared in constant time).
    pub fn verifies(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(ORIGIN_VERIFY_HEADER).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        bool::from(presented.ct_eq(self.digest.expose()))
    }
}

/// `router` with the check in front of every route when `verify` is set; unchanged otherwise.
pub fn require(router: Router, verify: Option<OriginVerify>) -> Router {
    match verify {
        Some(verify) => router.layer(middleware::from_fn_with_state(verify, check)),
        None => router,
    }
}

async fn check(State(verify): State<OriginVerify>, request: Request, next: Next) -> Response {
    if verify.verifies(request.headers()) {
        return next.run(request).await;
    }
    tracing::warn!("request without a valid {ORIGIN_VERIFY_HEADER} header refused");
    if request.uri().path().starts_with("/v1/messages") {
        return super::messages::anthropic_error(not_verified());
    }
    not_verified().into_response()
}

fn not_verified() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        "This endpoint only accepts requests through its CloudFront distribution.",
    )
    .with_code("origin_not_verified")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(verify: Option<OriginVerify>) -> Router {
        require(
            Router::new().route("/health", get(|| async { "ok" })),
            verify,
        )
    }

    async fn call(app: Router, header: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::builder().uri("/health");
        if let Some(value) = header {
            request = request.header(ORIGIN_VERIFY_HEADER, value);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn right_secret_passes() {
        let (status, body) = call(app(Some(OriginVerify::new("s3cret"))), Some("s3cret")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
    }

    #[tokio::test]
    async fn missing_wrong_or_longer_secret_is_403_in_openai_shape() {
        for header in [
            None,
            Some("wrong"),
            Some("s3cret "),
            Some("s3cre"),
            Some(""),
        ] {
            let (status, body) = call(app(Some(OriginVerify::new("s3cret"))), header).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{header:?}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"]["type"], "permission_error");
            assert_eq!(json["error"]["code"], "origin_not_verified");
            assert!(!body.contains("s3cret"), "the secret must not be echoed");
        }
    }

    #[tokio::test]
    async fn two_header_values_are_refused() {
        let verify = OriginVerify::new("s3cret");
        let mut headers = HeaderMap::new();
        headers.append(ORIGIN_VERIFY_HEADER, "s3cret".parse().unwrap());
        headers.append(ORIGIN_VERIFY_HEADER, "s3cret".parse().unwrap());
        assert!(!verify.verifies(&headers));
    }

    #[tokio::test]
    async fn no_secret_means_no_check() {
        let env = Environment::from_pairs([(ORIGIN_VERIFY_SECRET_VAR, "")]);
        let verify = OriginVerify::from_env(&env);
        assert!(verify.is_none());
        let (status, _) = call(app(verify), None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn from_env_reads_the_secret_and_debug_hides_it() {
        let env = Environment::from_pairs([(ORIGIN_VERIFY_SECRET_VAR, "s3cret")]);
        let verify = OriginVerify::from_env(&env).unwrap();
        assert!(!format!("{verify:?}").contains("s3cret"));
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_VERIFY_HEADER, "s3cret".parse().unwrap());
        assert!(verify.verifies(&headers));
    }
}
