//! The gateway both functions share: its parts, wired once at cold start by [`GatewayBuilder`].
//!
//! The request path itself is in `pipeline`. `main` picks the real parts (Bedrock providers,
//! and, as they land, DynamoDB stores and Bedrock guardrails); tests and the local server use
//! the in-memory ones.

use std::sync::Arc;

use crate::config::{GatewayConfig, RouterSettings};
use crate::env::Environment;
use crate::guardrails::Guardrail;
use crate::keys::{
    self, Authenticator, KeyParts, KeySettings, KeyStore, MasterKey, MemoryKeyStore,
};
use crate::pipeline::AfterResponse;
use crate::providers::bedrock::{self, ClientInitError};
use crate::router::{MissingProvider, ModelRouter, Providers};
use crate::usage::{sink_from_settings, UsageSink};

pub use crate::pipeline::{new_request_id, Answer, Completion, RequestContext};

pub struct Gateway {
    pub(crate) router: ModelRouter,
    pub(crate) settings: RouterSettings,
    pub(crate) auth: Authenticator,
    pub(crate) key_settings: KeySettings,
    pub(crate) input_guardrails: Arc<[Arc<dyn Guardrail>]>,
    pub(crate) output_guardrails: Arc<[Arc<dyn Guardrail>]>,
    pub(crate) after: AfterResponse,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayInitError {
    #[error(transparent)]
    Client(#[from] ClientInitError),
    #[error(transparent)]
    Provider(#[from] MissingProvider),
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
            input_guardrails: Vec::new(),
            output_guardrails: Vec::new(),
        }
    }

    /// Bedrock providers from the config, keys as the environment says (`keys::from_environment`),
    /// usage to the configured sink.
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, GatewayInitError> {
        let providers = bedrock::providers(config, env).await?;
        let keys = keys::from_environment(config, env).await?;
        Ok(Gateway::builder(config, providers)
            .keys(keys)
            .build()
            .await?)
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
}

pub struct GatewayBuilder<'a> {
    config: &'a GatewayConfig,
    providers: Providers,
    key_store: Option<Arc<dyn KeyStore>>,
    master_key: Option<MasterKey>,
    key_settings: KeySettings,
    usage_sink: Option<Arc<dyn UsageSink>>,
    input_guardrails: Vec<Arc<dyn Guardrail>>,
    output_guardrails: Vec<Arc<dyn Guardrail>>,
}

impl GatewayBuilder<'_> {
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

    /// Runs on every request's input, in the order added.
    pub fn input_guardrail(mut self, guardrail: Arc<dyn Guardrail>) -> Self {
        self.input_guardrails.push(guardrail);
        self
    }

    /// Runs on every answer, whole or streamed, in the order added.
    pub fn output_guardrail(mut self, guardrail: Arc<dyn Guardrail>) -> Self {
        self.output_guardrails.push(guardrail);
        self
    }

    /// Wires the parts and starts the after-response queue's drain task on this runtime.
    pub async fn build(self) -> Result<Gateway, MissingProvider> {
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
            input_guardrails: self.input_guardrails.into(),
            output_guardrails: self.output_guardrails.into(),
            after: AfterResponse::start(config.usage.queue_capacity, sink),
        })
    }
}
