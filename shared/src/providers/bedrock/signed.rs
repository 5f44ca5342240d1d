//! A lean SigV4-signed JSON client for Bedrock Runtime's hot REST JSON calls (ApplyGuardrail).
//!
//! Why not the SDK here: with guardrails on, a request makes three Bedrock calls, and the
//! profile (`bench/profile/profile.sh --features`, BENCHMARKS.md) put the SDK's orchestrator,
//! interceptors, config bags and builders at a quarter of the gateway's CPU, the largest item.
//! This client does only what the call needs: sign with `aws-sigv4` (the SDK's own signer, same
//! settings: double percent-encoding, normalized path, session token signed), POST over a
//! shared hyper connection pool, read the JSON answer. Converse stays on the SDK.
//!
//! Credentials come from the same provider the SDK clients use (the default chain, or a
//! deployment's static keys) and are cached until five minutes before they expire.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;

use super::clients::CONNECT_TIMEOUT;

/// Bedrock Runtime's SigV4 signing name.
const SIGNING_NAME: &str = "bedrock";
/// Cached credentials are renewed this long before they expire.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One connection pool for every signed client of the process (like the SDK's shared client).
#[derive(Clone)]
pub struct SignedHttp(HttpsClient);

impl std::fmt::Debug for SignedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignedHttp")
    }
}

impl SignedHttp {
    pub fn new() -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(SignedHttp(
            Client::builder(TokioExecutor::new()).build(connector),
        ))
    }
}

/// Calls one Bedrock Runtime endpoint in one region as one principal.
#[derive(Clone)]
pub struct SignedClient {
    http: SignedHttp,
    /// `https://bedrock-runtime.<region>.amazonaws.com`, or the configured endpoint, no `/` at
    /// the end.
    endpoint: Arc<str>,
    region: Arc<str>,
    credentials: SharedCredentialsProvider,
    cached: Arc<RwLock<Option<CachedCredentials>>>,
    /// Held while credentials are renewed, so concurrent calls wait for one renewal.
    renewing: Arc<Mutex<()>>,
    timeout: Duration,
}

#[derive(Clone)]
struct CachedCredentials {
    credentials: Credentials,
    /// `None`: credentials that do not expire (environment or static keys).
    renew_at: Option<SystemTime>,
}

impl std::fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A call that got no answer, or an answer that is not a success.
#[derive(Debug, thiserror::Error)]
pub enum SignedCallError {
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("call failed: {0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Bedrock's error: HTTP status, `x-amzn-errortype` and its message.
    #[error("{status} {kind}: {message}")]
    Service {
        status: StatusCode,
        kind: String,
        message: String,
    },
}

impl SignedClient {
    pub fn new(
        http: SignedHttp,
        endpoint: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
        timeout: Duration,
    ) -> Self {
        SignedClient {
            http,
            endpoint: endpoint.trim_end_matches('/').into(),
            region: region.into(),
            credentials,
            cached: Arc::new(RwLock::new(None)),
            renewing: Arc::new(Mutex::new(())),
            timeout,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POSTs `body` (JSON) to `path` (already percent-encoded) and returns the answer's body.
    pub async fn post_json(&self, path: &str, body: Vec<u8>) -> Result<Bytes, SignedCallError> {
        match tokio::time::timeout(self.timeout, self.call(path, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(SignedCallError::Timeout(self.timeout)),
        }
    }

    async fn call(&self, path: &str, body: Vec<u8>) -> Result<Bytes, SignedCallError> {
        let credentials = self.credentials().await?;
        let uri = format!("{}{path}", self.endpoint);
        let body = Bytes::from(body);
        let mut request = Request::post(&uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| SignedCallError::Signing(e.to_string()))?;
        self.sign(&mut request, &body, &credentials)?;
        let response = self
            .http
            .0
            .request(request)
            .await
            .map_err(|e| SignedCallError::Transport(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| SignedCallError::Transport(e.to_string()))?
            .to_bytes();
        if parts.status.is_success() {
            return Ok(bytes);
        }
        Err(service_error(parts.status, &parts.headers, &bytes))
    }

    fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        body: &[u8],
        credentials: &Credentials,
    ) -> Result<(), SignedCallError> {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| SignedCallError::Signing(format!("no host in {}", self.endpoint)))?;
        let host = HeaderValue::from_str(&host)
            .map_err(|e| SignedCallError::Signing(format!("host: {e}")))?;
        request.headers_mut().insert(http::header::HOST, host);
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignedCallError::Signing(e.to_string()))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
        let signable = SignableRequest::new("POST", &uri, headers, SignableBody::Bytes(body))
            .map_err(|e| SignedCallError::Signing(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SignedCallError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// The cached credentials, renewed from the provider when missing or about to expire.
    async fn credentials(&self) -> Result<Credentials, SignedCallError> {
        if let Some(fresh) = self.cached_if_fresh() {
            return Ok(fresh);
        }
        let _renewing = self.renewing.lock().await;
        if let Some(fresh) = self.cached_if_fresh() {
            return Ok(fresh);
        }
        let fresh = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| SignedCallError::Credentials(error_chain(&e)))?;
        let renew_at = fresh
            .expiry()
            .map(|at| at.checked_sub(RENEW_BEFORE_EXPIRY).unwrap_or(at));
        *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(CachedCredentials {
            credentials: fresh.clone(),
            renew_at,
        });
        Ok(fresh)
    }

    fn cached_if_fresh(&self) -> Option<Credentials> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        let entry = cached.as_ref()?;
        let now = SystemTime::now();
        entry
            .renew_at
            .is_none_or(|at| now < at)
            .then(|| entry.credentials.clone())
    }
}

fn service_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SignedCallError {
    #[derive(serde::Deserialize)]
    struct Message {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let kind = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned())
        .unwrap_or_else(|| "UnknownError".to_owned());
    let message = serde_json::from_slice::<Message>(body)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_default();
    SignedCallError::Service {
        status,
        kind,
        message,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::provider::future;

    use super::*;

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                "id", "secret", None, expiry, "t",
            )))
        }
    }

    async fn calls_after_three(lifetime: Option<Duration>) -> usize {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: Arc::clone(&calls),
            lifetime,
        });
        let client = SignedClient::new(
            SignedHttp::new().unwrap(),
            "http://127.0.0.1:1",
            "us-east-1",
            provider,
            Duration::from_secs(1),
        );
        for _ in 0..3 {
            client.credentials().await.unwrap();
        }
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn credentials_are_cached_until_five_minutes_before_they_expire() {
        assert_eq!(calls_after_three(None).await, 1, "static keys: once");
        assert_eq!(calls_after_three(Some(Duration::from_secs(3600))).await, 1);
        // Inside the renewal margin: asked again on every call.
        assert_eq!(calls_after_three(Some(Duration::from_secs(60))).await, 3);
    }

    #[test]
    fn service_errors_keep_the_type_and_message_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ThrottlingException:http://internal.amazon.com/"),
        );
        let err = service_error(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"message":"Too many requests"}"#,
        );
        assert_eq!(
            err.to_string(),
            "429 Too Many Requests ThrottlingException: Too many requests"
        );
    }
}
