//! The gateway both functions share: its parts, wired once at cold start by [`GatewayBuilder`].
//!
//! The request path itself is in `pipeline`. `main` picks the real parts (Bedrock providers
//! and guardrails, DynamoDB key and usage stores, Secrets Manager's master key); tests and the
//! local server use the in-memory ones.

use std::collections::HashMap;
use std::sync::Arc;

use crate::after_response::AfterResponse;
use crate::clock::WallClock;
use crate::config::GatewayConfig;
use crate::config::GuardrailMode;
use crate::env::Environment;
use crate::guardrails::{Attached, Guardrail, GuardrailPolicy, GuardrailSet, MissingGuardrail};
use crate::keys::{
    self, Authenticator, KeyParts, KeySettings, KeyStore, MasterKey, MemoryKeyStore,
};
use crate::observability::{Telemetry, TelemetryInitError};
use crate::providers::bedrock::{self, BedrockClients, ClientInitError};
use crate::router::{MissingProvider, ModelRouter, ProviderFactory, Providers};
use crate::store::{load_sdk_config, AwsClients};
use crate::usage::{self, sink_from_settings, UsageSink};

use crate::pipeline::GatewayParts;
pub use crate::pipeline::{new_request_id, Answer, Completion, Gateway, RequestContext};

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
            clock: WallClock::system(),
            live: None,
            cache: None,
            provider_factory: None,
        }
    }

    /// Bedrock providers and guardrails from the config (sharing SDK clients), keys as the
    /// environment says (`keys::from_environment`), usage to DynamoDB when `GATEWAY_TABLE_NAME`
    /// is set, else to the configured sink, traces and metrics as the config and environment
    /// say (`observability`). The AWS configuration is loaded once, here, and every client
    /// (Bedrock, DynamoDB, Secrets Manager) is made from it.
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, GatewayInitError> {
        let sdk = load_sdk_config(env).await;
        let aws = AwsClients::from_sdk(&sdk, env);
        let factory = bedrock::provider_factory(
            BedrockClients::from_sdk(sdk.clone(), env),
            config.router.timeout,
        );
        let bedrock = BedrockClients::from_sdk(sdk, env);
        let (providers, guardrails) =
            bedrock::providers_and_guardrails_from(bedrock, config, env).await?;
        let keys = keys::from_environment_with(config, env, Some(&aws)).await?;
        let usage = usage::sink_from_environment_with(&config.usage, env, Some(&aws)).await?;
        let telemetry = Telemetry::from_config(config, env).await?;
        let live = crate::evaluation::online::from_config(
            config,
            &providers,
            &guardrails,
            &telemetry,
            Arc::clone(&usage),
        )
        .await?;
        let clock = WallClock::system();
        let cache =
            crate::cache::ResponseCache::from_environment(&config.cache, env, &aws, clock.clone());
        let mut builder = Gateway::builder(config, providers)
            .clock(clock)
            .response_cache(cache)
            .provider_factory(factory)
            .configured_guardrails(guardrails)
            .keys(keys)
            .usage_sink(Arc::clone(&usage))
            .telemetry(telemetry);
        if let Some(live) = live {
            builder = builder.live_evaluator(live);
        }
        builder.build().await
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
    clock: WallClock,
    live: Option<Arc<dyn crate::observability::LiveEvaluator>>,
    /// `None` until set: the config's, in memory (see `response_cache`).
    cache: Option<Option<Arc<crate::cache::ResponseCache>>>,
    provider_factory: Option<ProviderFactory>,
}

impl GatewayBuilder<'_> {
    /// Judges a sample of finished (traced) requests after their response
    /// (`evaluation::online`).
    pub fn live_evaluator(mut self, live: Arc<dyn crate::observability::LiveEvaluator>) -> Self {
        self.live = Some(live);
        self
    }

    /// The response cache (`from_config` picks DynamoDB or memory by the environment); unset,
    /// the config's `litellm_settings.cache` in memory, on this builder's clock.
    pub fn response_cache(mut self, cache: Option<Arc<crate::cache::ResponseCache>>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Traces and metrics written after each response (default: neither).
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The wall clock of key expiry, budget periods and rate-limit windows (default: the
    /// system's; tests pass one they move forward).
    pub fn clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
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

    /// Serves models added at run time (`/model/new`), building their providers with
    /// `factory`; without it they are stored but not served by this instance.
    pub fn provider_factory(mut self, factory: ProviderFactory) -> Self {
        self.provider_factory = Some(factory);
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
        let mut router = ModelRouter::new(config, &self.providers)?;
        if let Some(factory) = self.provider_factory {
            router.set_provider_factory(factory);
        }
        let store = self
            .key_store
            .unwrap_or_else(|| Arc::new(MemoryKeyStore::new()));
        let sink = self
            .usage_sink
            .unwrap_or_else(|| sink_from_settings(&config.usage));
        let cache = self.cache.unwrap_or_else(|| {
            crate::cache::ResponseCache::from_settings(&config.cache, None, self.clock.clone())
        });
        Ok(Gateway::from_parts(GatewayParts {
            router,
            settings: config.router.clone(),
            auth: Authenticator::new(
                self.master_key
                    .unwrap_or_else(|| MasterKey::from_config(config.master_key.clone())),
                store,
                self.key_settings.cache_ttl,
            )
            .with_clock(self.clock)
            .with_access_groups(keys::AccessGroups::new(config.access_groups.clone())),
            key_settings: self.key_settings,
            guardrails: GuardrailSet::new(config, &self.configured, self.always)?,
            after: AfterResponse::start_with_live(
                config.usage.queue_capacity,
                Arc::clone(&sink),
                self.telemetry,
                self.live,
            )
            .with_deadline_margin(config.usage.deadline_margin),
            usage_sink: sink,
            cache,
        }))
    }
}
