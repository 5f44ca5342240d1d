//! The gateway both functions share: its parts, wired once at cold start by [`GatewayBuilder`].
//!
//! The request path itself is in `pipeline`. `main` picks the real parts (Bedrock providers,
//! and, as they land, DynamoDB stores and Bedrock guardrails); tests and the local server use
//! the in-memory ones.

use std::sync::Arc;

use crate::config::{GatewayConfig, RouterSettings};
use crate::env::Environment;
use crate::guardrails::Guardrail;
use crate::keys::{Authenticator, KeyStore, MemoryKeyStore};
use crate::observability::{Telemetry, TelemetryInitError};
use crate::pipeline::AfterResponse;
use crate::providers::bedrock::{self, ClientInitError};
use crate::router::{MissingProvider, ModelRouter, Providers};
use crate::usage::{sink_from_settings, UsageSink};

pub use crate::pipeline::{new_request_id, Answer, Completion, RequestContext};

pub struct Gateway {
    pub(crate) router: ModelRouter,
    pub(crate) settings: RouterSettings,
    pub(crate) auth: Authenticator,
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
    Telemetry(#[from] TelemetryInitError),
}

impl Gateway {
    /// The parts for `config`: `providers` by deployment id, the rest in memory unless set.
    pub fn builder(config: &GatewayConfig, providers: Providers) -> GatewayBuilder<'_> {
        GatewayBuilder {
            config,
            providers,
            key_store: None,
            usage_sink: None,
            input_guardrails: Vec::new(),
            output_guardrails: Vec::new(),
            telemetry: Telemetry::off(),
        }
    }

    /// Bedrock providers from the config, keys in memory, usage to the configured sink,
    /// traces and metrics as the config and environment say (`observability`).
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, GatewayInitError> {
        let providers = bedrock::providers(config, env).await?;
        let telemetry = Telemetry::from_config(config, env)?;
        Ok(Gateway::builder(config, providers)
            .telemetry(telemetry)
            .build()
            .await?)
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
    usage_sink: Option<Arc<dyn UsageSink>>,
    input_guardrails: Vec<Arc<dyn Guardrail>>,
    output_guardrails: Vec<Arc<dyn Guardrail>>,
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
            auth: Authenticator::new(config.master_key.clone(), store),
            input_guardrails: self.input_guardrails.into(),
            output_guardrails: self.output_guardrails.into(),
            after: AfterResponse::start_with_telemetry(
                config.usage.queue_capacity,
                sink,
                self.telemetry,
            ),
        })
    }
}
