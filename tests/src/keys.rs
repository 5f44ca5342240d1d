//! Support for the keys tests: gateways whose keys live in a moto DynamoDB table (the real
//! `DynamoKeyStore` through the real SDK), a count of the DynamoDB calls they make, and admin
//! calls with the master key.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use axum::body::Body;
use gateway::clock::WallClock;
use gateway::keys::{DynamoKeyStore, KeySettings, MasterKey};
use gateway::limits::LeasePolicy;
use http::Request;
use serde_json::Value;

use crate::fake_bedrock::FakeBedrock;
use crate::harness::{TestGateway, TestResponse, HAIKU, MASTER_KEY, SONNET};
use crate::moto::MotoServer;

/// The moto server the keys tests share: one per test process, serialized
/// ([`MotoServer::spawn_serialized`]) so races between requests see DynamoDB's atomicity.
pub fn moto() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(MotoServer::spawn_serialized)
}

/// USD per token, input and output alike, in the keys tests' config.
pub const PRICE_PER_TOKEN: f64 = 0.01;

/// The test config with a price on every deployment, a fallback-free Lex model, and `extra`.
/// `extra` may name the fake's address as `{endpoint}` (a guardrail entry, say).
/// [`priced_yaml`] with the embedding groups (`titan-embed`, `cohere-embed`) in its `model_list`.
pub fn priced_embedding_yaml(endpoint: &str, extra: &str) -> String {
    priced_yaml(endpoint, extra).replacen(
        "general_settings:",
        &format!(
            "{}general_settings:",
            crate::harness::embedding_models(endpoint)
        ),
        1,
    )
}

pub fn priced_yaml(endpoint: &str, extra: &str) -> String {
    let extra = extra.replace("{endpoint}", endpoint);
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
      input_cost_per_token: {PRICE_PER_TOKEN}
      output_cost_per_token: {PRICE_PER_TOKEN}
  - model_name: claude-3-haiku
    litellm_params:
      model: bedrock/converse/{HAIKU}
      aws_region_name: us-west-2
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
      input_cost_per_token: {PRICE_PER_TOKEN}
      output_cost_per_token: {PRICE_PER_TOKEN}
general_settings:
  master_key: {MASTER_KEY}
{extra}
"#
    )
}

/// The DynamoDB operations a client sent (`GetItem`, `TransactWriteItems`), in order, and
/// their request bodies.
#[derive(Debug, Default)]
pub struct CallLog(Mutex<Vec<String>>, Mutex<Vec<String>>);

impl CallLog {
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The JSON bodies of the calls, in the same order.
    pub fn bodies(&self) -> Vec<String> {
        self.1.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
        self.1.lock().unwrap().clear();
    }
}

#[derive(Debug)]
struct Counting(Arc<CallLog>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "CountDynamoCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let body = context
            .request()
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.0 .0.lock().unwrap().push(operation);
        self.0 .1.lock().unwrap().push(body);
        Ok(())
    }
}

/// A DynamoDB client of `moto` whose every call is logged.
pub async fn counted_client(moto: &MotoServer) -> (aws_sdk_dynamodb::Client, Arc<CallLog>) {
    let clients = moto.clients().await;
    let log = Arc::new(CallLog::default());
    let config = clients
        .dynamodb
        .config()
        .to_builder()
        .interceptor(Counting(Arc::clone(&log)))
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), log)
}

/// A DynamoDB key store on `table` whose every call is logged (limits from leases).
pub async fn counted_store(moto: &MotoServer, table: &str) -> (Arc<DynamoKeyStore>, Arc<CallLog>) {
    counted_store_with(moto, table, Some(LeasePolicy::default())).await
}

/// As [`counted_store`], with limits from leases by `leases`, or reserved per request (`None`).
pub async fn counted_store_with(
    moto: &MotoServer,
    table: &str,
    leases: Option<LeasePolicy>,
) -> (Arc<DynamoKeyStore>, Arc<CallLog>) {
    let (client, log) = counted_client(moto).await;
    (
        Arc::new(DynamoKeyStore::with_leases(client, table, leases)),
        log,
    )
}

/// A gateway instance over `table`: its own fake Bedrock, its own caches, the shared table.
pub struct Instance {
    pub gw: TestGateway,
    pub dynamo: Arc<CallLog>,
    /// The instance's wall clock (key expiry, budget periods, rate-limit windows): tests move
    /// it forward instead of sleeping.
    pub clock: WallClock,
}

impl Instance {
    pub async fn start(table: &str, extra_yaml: &str, settings: KeySettings) -> Instance {
        Self::with_master(table, extra_yaml, settings, None).await
    }

    /// An instance whose limits come from leases by `leases`, or per request (`None`).
    pub async fn with_leases(
        table: &str,
        settings: KeySettings,
        leases: Option<LeasePolicy>,
    ) -> Instance {
        let (store, dynamo) = counted_store_with(moto(), table, leases).await;
        Self::on_store(store, dynamo, "", settings, None).await
    }

    pub async fn with_master(
        table: &str,
        extra_yaml: &str,
        settings: KeySettings,
        master: Option<MasterKey>,
    ) -> Instance {
        let (store, dynamo) = counted_store(moto(), table).await;
        Self::on_store(store, dynamo, extra_yaml, settings, master).await
    }

    async fn on_store(
        store: Arc<DynamoKeyStore>,
        dynamo: Arc<CallLog>,
        extra_yaml: &str,
        settings: KeySettings,
        master: Option<MasterKey>,
    ) -> Instance {
        let fake = FakeBedrock::start().await.expect("fake bedrock");
        let yaml = priced_yaml(&fake.endpoint(), extra_yaml);
        let clock = WallClock::system();
        let instance_clock = clock.clone();
        let gw = TestGateway::customized(fake, &yaml, move |b| {
            let b = b
                .key_store(store)
                .key_settings(settings)
                .clock(instance_clock);
            match master {
                Some(master) => b.master_key(master),
                None => b,
            }
        })
        .await;
        Instance { gw, dynamo, clock }
    }

    /// Moves the clock to the start of the next minute, so a test counting requests in one
    /// rate-limit window (Unix minutes) has the whole minute; how far it moved.
    pub fn start_of_a_minute(&self) -> std::time::Duration {
        let into_minute = self.clock.unix_ms() % 60_000;
        let by = std::time::Duration::from_millis(60_000 - into_minute);
        self.clock.advance(by);
        by
    }

    /// An admin call with the master key; `body` is sent as JSON unless `None` (a GET).
    pub async fn admin(&self, path: &str, body: Option<Value>) -> TestResponse {
        self.admin_as(MASTER_KEY, path, body).await
    }

    pub async fn admin_as(&self, key: &str, path: &str, body: Option<Value>) -> TestResponse {
        let request = match body {
            Some(body) => Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => Request::get(path).body(Body::empty()),
        };
        let mut request = request.unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        self.gw.send(request).await
    }

    /// A new key from `/key/generate` with `body`; its plain text.
    pub async fn new_key(&self, body: Value) -> String {
        let response = self.admin("/key/generate", Some(body)).await;
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()["key"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/chat/completions` with `key`: "hi" to claude-3-sonnet, `max_tokens` 4.
    pub async fn ask(&self, key: &str) -> TestResponse {
        self.ask_with(
            key,
            serde_json::json!({
                "model": "claude-3-sonnet",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4
            }),
        )
        .await
    }

    pub async fn ask_with(&self, key: &str, body: Value) -> TestResponse {
        self.gw
            .send(
                Request::post("/v1/chat/completions")
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
    }
}

/// Each "hi" request with `max_tokens` 4 reserves and (with the fake's 4-word answer) costs:
/// 1 input token and 4 output tokens.
pub const ASK_COST: f64 = 5.0 * PRICE_PER_TOKEN;

/// Every item of `table`, as JSON text (for "the plain key is stored nowhere").
pub async fn scan_text(moto: &MotoServer, table: &str) -> String {
    let clients = moto.clients().await;
    let items = clients
        .dynamodb
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    format!("{items:?}")
}

/// Settings with a short cache (tests that change keys between requests) or the default.
pub fn settings(cache_secs: f64, reservation_secs: f64) -> KeySettings {
    KeySettings {
        cache_ttl: std::time::Duration::from_secs_f64(cache_secs),
        reservation_ttl: std::time::Duration::from_secs_f64(reservation_secs),
    }
}
