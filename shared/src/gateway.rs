//! The gateway both functions share: its parts, wired once at cold start by [`GatewayBuilder`].
//!
//! The request path itself is in `pipeline`. `main` picks the real parts (Bedrock providers
//! and guardrails, and, as they land, DynamoDB stores); tests and the local server use the
//! in-memory ones.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::GuardrailMode;
use crate::config::{GatewayConfig, RouterSettings};
use crate::env::Environment;
use crate::guardrails::{Attached, Guardrail, GuardrailPolicy, GuardrailSet, MissingGuardrail};
use crate::keys::{
    self, Authenticator, KeyParts, KeySettings, KeyStore, MasterKey, MemoryKeyStore,
};
use crate::observability::{Telemetry, TelemetryInitError};
use crate::pipeline::AfterResponse;
use crate::providers::bedrock::{self, ClientInitError};
use crate::router::{MissingProvider, ModelRouter, Providers};
use crate::usage::{self, sink_from_settings, SpendStore, UsageSink};

pub use crate::pipeline::{new_request_id, Answer, Completion, RequestContext};

pub struct Gateway {
    pub(crate) router: ModelRouter,
    pub(crate) settings: RouterSettings,
    pub(crate) auth: Authenticator,
    pub(crate) guardrails: GuardrailSet,
    pub(crate) key_settings: KeySettings,
    pub(crate) after: AfterResponse,
    pub(crate) usage_sink: Arc<dyn UsageSink>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayInitError {
    #[error(transparent)]
    Client(#[from] ClientInitError),
    #[error(transparent)]
    Provider(#[from] MissingProvider),
    #[error(transparent)]
    Guardrail(#[from] MissingGuardrail),
    #[error(transparent)]
    Store(#[from] crate::store::TableError),
    #[error(transparent)]
    Telemetry(#[from] TelemetryInitError),
    #[error(transparent)]
    Keys(#[from] keys::KeysInitError),
}

impl Gateway {
    /// The parts for `config`: `providers` by deployment id, the rest in memory unless set.
    pub fn builder(config: &GatewayConfig, providers: Providers) -> GatewayBuilder<'_> {
        GatewayBuilder {
            config,
            providers,
            key_store: None,
            master_key: None,
            key_settings: KeySettings::default(),
            usage_sink: None,
            always: Vec::new(),
            configured: HashMap::new(),
            telemetry: Telemetry::off(),
        }
    }

    /// Bedrock providers and guardrails from the config (sharing SDK clients), keys as the
    /// environment says (`keys::from_environment`), usage to DynamoDB when `GATEWAY_TABLE_NAME`
    /// is set, else to the configured sink, traces and metrics as the config and environment
    /// say (`observability`).
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, GatewayInitError> {
        let (providers, guardrails) = bedrock::providers_and_guardrails(config, env).await?;
        let keys = keys::from_environment(config, env).await?;
        let usage = usage::sink_from_environment(&config.usage, env).await?;
        let telemetry = Telemetry::from_config(config, env).await?;
        Gateway::builder(config, providers)
            .configured_guardrails(guardrails)
            .keys(keys)
            .usage_sink(usage)
            .telemetry(telemetry)
            .build()
            .await
    }

    /// The authenticator (master key, key store, lookup caches): what the admin endpoints use.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.router.model_names()
    }

    /// The after-response queue (Lambda's extension waits on it).
    pub fn after_response(&self) -> &AfterResponse {
        &self.after
    }

    /// The usage records kept in memory and their bound, if the sink keeps any.
    pub fn kept_records(&self) -> Option<(usize, Option<usize>)> {
        self.usage_sink.kept_records()
    }

    /// What the spend API reads (the usage sink's records), if the sink keeps any.
    pub fn spend_store(&self) -> Option<&dyn SpendStore> {
        self.usage_sink.spend_store()
    }
}

pub struct GatewayBuilder<'a> {
    config: &'a GatewayConfig,
    providers: Providers,
    key_store: Option<Arc<dyn KeyStore>>,
    master_key: Option<MasterKey>,
    key_settings: KeySettings,
    usage_sink: Option<Arc<dyn UsageSink>>,
    always: Vec<Arc<Attached>>,
    configured: HashMap<String, Arc<dyn Guardrail>>,
    telemetry: Telemetry,
}

impl GatewayBuilder<'_> {
    /// Traces and metrics written after each response (default: neither).
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    pub fn key_store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.key_store = Some(store);
        self
    }

    /// The master key's source; without it, the config's `master_key`.
    pub fn master_key(mut self, master: MasterKey) -> Self {
        self.master_key = Some(master);
        self
    }

    pub fn key_settings(mut self, settings: KeySettings) -> Self {
        self.key_settings = settings;
        self
    }

    /// Store, master key and settings together (`keys::from_environment`).
    pub fn keys(self, parts: KeyParts) -> Self {
        self.key_store(parts.store)
            .master_key(parts.master)
            .key_settings(parts.settings)
    }

    pub fn usage_sink(mut self, sink: Arc<dyn UsageSink>) -> Self {
        self.usage_sink = Some(sink);
        self
    }

    /// Runs on every request's input (`pre_call`), in the order added, before configured ones.
    pub fn input_guardrail(self, guardrail: Arc<dyn Guardrail>) -> Self {
        self.guardrail(guardrail, GuardrailPolicy::always(GuardrailMode::PreCall))
    }

    /// Runs on every answer, whole or streamed (`post_call`), in the order added.
    pub fn output_guardrail(self, guardrail: Arc<dyn Guardrail>) -> Self {
        self.guardrail(guardrail, GuardrailPolicy::always(GuardrailMode::PostCall))
    }

    /// Runs on every request as `policy` says, in the order added, before configured ones.
    pub fn guardrail(mut self, guardrail: Arc<dyn Guardrail>, policy: GuardrailPolicy) -> Self {
        self.always.push(Attached::new(guardrail, policy));
        self
    }

    /// The implementations of the config's `guardrails` list, by name (see
    /// `providers::bedrock::guardrails`); each configured one must be here.
    pub fn configured_guardrails(mut self, built: HashMap<String, Arc<dyn Guardrail>>) -> Self {
        self.configured = built;
        self
    }

    /// Wires the parts and starts the after-response queue's drain task on this runtime.
    pub async fn build(self) -> Result<Gateway, GatewayInitError> {
        let config = self.config;
        let router = ModelRouter::new(config, &self.providers)?;
        let store = self
            .key_store
            .unwrap_or_else(|| Arc::new(MemoryKeyStore::new()));
        let sink = self
            .usage_sink
            .unwrap_or_else(|| sink_from_settings(&config.usage));
        Ok(Gateway {
            router,
            settings: config.router.clone(),
            auth: Authenticator::new(
                self.master_key
                    .unwrap_or_else(|| MasterKey::from_config(config.master_key.clone())),
                store,
                self.key_settings.cache_ttl,
            ),
            key_settings: self.key_settings,
            guardrails: GuardrailSet::new(config, &self.configured, self.always)?,
            after: AfterResponse::start_with_telemetry(
                config.usage.queue_capacity,
                Arc::clone(&sink),
                self.telemetry,
            ),
            usage_sink: sink,
        })
    }
}
