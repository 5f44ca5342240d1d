//! The whole gateway in-process against a fake Bedrock: what the integration tests drive.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use gateway::config::{self, GatewayConfig};
use gateway::env::Environment;
use gateway::gateway::Gateway;
use gateway::usage::MemoryUsageSink;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::fake_bedrock::FakeBedrock;

pub const MASTER_KEY: &str = "sk-test-master-key";

/// Bedrock model ids of the test config's model groups.
pub const SONNET: &str = "anthropic.claude-3-sonnet-20240229-v1:0";
pub const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// The test config: the seed's models, pointed at the fake with static test credentials (so
/// the SDK never looks for real ones), and the master key.
pub fn config_yaml(endpoint: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: claude-3-sonnet
    litellm_params:
      model: bedrock/{SONNET}
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
  - model_name: claude-3-haiku
    litellm_params:
      model: bedrock/converse/{HAIKU}
      aws_region_name: us-west-2
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
general_settings:
  master_key: {MASTER_KEY}
"#
    )
}

/// Bedrock model ids and the price of the embedding groups of [`embedding_models`].
pub const TITAN_EMBED: &str = "amazon.titan-embed-text-v2:0";
pub const COHERE_EMBED: &str = "cohere.embed-english-v3";
pub const TITAN_EMBED_PRICE: f64 = 0.00000002;

/// Two embedding groups on the fake (`model_list` entries): `titan-embed` (priced) and
/// `cohere-embed` (unpriced).
pub fn embedding_models(endpoint: &str) -> String {
    format!(
        "  - model_name: titan-embed\n    litellm_params:\n      model: bedrock/{TITAN_EMBED}\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n      \
         input_cost_per_token: {TITAN_EMBED_PRICE}\n    model_info:\n      mode: embedding\n\
         \x20 - model_name: cohere-embed\n    litellm_params:\n      model: bedrock/{COHERE_EMBED}\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n"
    )
}

/// A fake Bedrock and the gateway's router in front of it, its usage records kept in memory.
pub struct TestGateway {
    pub fake: FakeBedrock,
    pub router: Router,
    pub gateway: Arc<Gateway>,
    pub usage: Arc<MemoryUsageSink>,
}

/// A sample Lambda event from `events/`, as JSON.
pub fn sample_event(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("event JSON")
}

/// The environment every test gateway is built with.
pub fn test_env() -> Environment {
    Environment::from_pairs([("AWS_REGION", "us-east-1")])
}

/// Parses the test config `yaml`.
pub fn load_config(yaml: &str) -> GatewayConfig {
    config::from_yaml_str(yaml, &test_env()).expect("test config loads")
}

/// The real Bedrock providers and guardrails for `config`, usage records into `usage`;
/// `customize` may add parts (key store, guardrails, another sink) to the builder.
pub async fn build_gateway(
    config: &GatewayConfig,
    usage: Arc<MemoryUsageSink>,
    customize: impl FnOnce(gateway::gateway::GatewayBuilder<'_>) -> gateway::gateway::GatewayBuilder<'_>,
) -> Arc<Gateway> {
    let (providers, guardrails) =
        gateway::providers::bedrock::providers_and_guardrails(config, &test_env())
            .await
            .expect("providers build");
    // Models added at run time carry no credentials: the wiring's (the function's role)
    // sign their calls; here, the fake's test credentials.
    let env = test_env();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test-access-key",
            "test-secret-key",
            None,
            None,
            "tests",
        ))
        .load()
        .await;
    let clients = gateway::providers::bedrock::BedrockClients::from_sdk(sdk, &env);
    let factory = gateway::providers::bedrock::provider_factory(clients, config.router.timeout);
    let builder = Gateway::builder(config, providers)
        .provider_factory(factory)
        .configured_guardrails(guardrails)
        .usage_sink(usage);
    Arc::new(customize(builder).build().await.expect("gateway builds"))
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        let fake = FakeBedrock::start().await.expect("fake bedrock starts");
        let yaml = config_yaml(&fake.endpoint());
        Self::with_yaml(fake, &yaml).await
    }

    pub async fn with_yaml(fake: FakeBedrock, yaml: &str) -> TestGateway {
        Self::customized(fake, yaml, |builder| builder).await
    }

    /// The gateway for `yaml` with parts added by `customize`.
    pub async fn customized(
        fake: FakeBedrock,
        yaml: &str,
        customize: impl FnOnce(
            gateway::gateway::GatewayBuilder<'_>,
        ) -> gateway::gateway::GatewayBuilder<'_>,
    ) -> TestGateway {
        let config = load_config(yaml);
        let usage = Arc::new(MemoryUsageSink::default());
        let gateway = build_gateway(&config, Arc::clone(&usage), customize).await;
        TestGateway {
            fake,
            router: gateway::http::router(Arc::clone(&gateway)),
            gateway,
            usage,
        }
    }

    /// Every usage record written so far, once all queued ones are written.
    pub async fn usage_records(&self) -> Vec<gateway::usage::UsageRecord> {
        self.gateway.after_response().flush().await;
        self.usage.records()
    }

    /// Sends a request through the router, as Lambda or the local server would.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// `POST /v1/embeddings` with `key`.
    pub async fn embed_as(&self, key: &str, body: Value) -> TestResponse {
        self.send(
            Request::post("/v1/embeddings")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }

    /// `POST /v1/chat/completions` with the master key.
    pub async fn chat(&self, body: Value) -> TestResponse {
        self.send(
            Request::post("/v1/chat/completions")
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON payloads of an SSE body, `[DONE]` excluded; panics unless it ends with `[DONE]`.
    pub fn sse_events(&self) -> Vec<Value> {
        let text = self.text();
        let data: Vec<&str> = text
            .split("\n\n")
            .filter(|frame| !frame.trim().is_empty())
            .map(|frame| {
                frame
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not an SSE frame: {frame:?}"))
            })
            .collect();
        assert_eq!(
            data.last(),
            Some(&"[DONE]"),
            "stream must end with [DONE]: {text}"
        );
        data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).expect("chunk JSON"))
            .collect()
    }

    /// Asserts an OpenAI error body of this status and type; returns it.
    pub fn assert_error(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        let body = self.json();
        let error = &body["error"];
        assert_eq!(error["type"], kind, "{body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(
            error.get("param").is_some() && error.get("code").is_some(),
            "{body}"
        );
        body
    }
}
