//! The request path's state: the parts every step uses, built once at cold start by
//! `crate::gateway` (the wiring) and private to the pipeline's steps.

use std::sync::Arc;

use crate::after_response::AfterResponse;
use crate::config::RouterSettings;
use crate::guardrails::GuardrailSet;
use crate::keys::{Authenticator, KeySettings};
use crate::router::ModelRouter;
use crate::usage::{SpendStore, UsageSink};

pub struct Gateway {
    pub(super) router: ModelRouter,
    pub(super) settings: RouterSettings,
    pub(super) auth: Authenticator,
    pub(super) guardrails: GuardrailSet,
    pub(super) key_settings: KeySettings,
    pub(super) after: AfterResponse,
    pub(super) usage_sink: Arc<dyn UsageSink>,
    pub(super) cache: Option<Arc<crate::cache::ResponseCache>>,
    pub(super) models: super::models::ModelRefresh,
}

/// Everything a [`Gateway`] holds, as the wiring built it.
pub(crate) struct GatewayParts {
    pub router: ModelRouter,
    pub settings: RouterSettings,
    pub auth: Authenticator,
    pub guardrails: GuardrailSet,
    pub key_settings: KeySettings,
    pub after: AfterResponse,
    pub usage_sink: Arc<dyn UsageSink>,
    pub cache: Option<Arc<crate::cache::ResponseCache>>,
}

impl Gateway {
    /// The request path over `parts` (see `crate::gateway::GatewayBuilder`).
    pub(crate) fn from_parts(parts: GatewayParts) -> Self {
        let GatewayParts {
            router,
            settings,
            auth,
            guardrails,
            key_settings,
            after,
            usage_sink,
            cache,
        } = parts;
        let models = super::models::ModelRefresh::new(key_settings.cache_ttl);
        Gateway {
            models,
            router,
            settings,
            auth,
            guardrails,
            key_settings,
            after,
            usage_sink,
            cache,
        }
    }

    /// The authenticator (master key, key store, lookup caches): what the admin endpoints use.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The router's settings (retries, timeouts, `drop_params`) as configured.
    pub fn router_settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// The model group `name`, with its deployments (for the model info endpoints).
    pub fn model_group(&self, name: &str) -> Option<&crate::router::ModelGroup> {
        self.router.group(name)
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.router.model_names()
    }

    /// The after-response queue (Lambda's extension waits on it).
    pub fn after_response(&self) -> &AfterResponse {
        &self.after
    }

    /// The response cache, when `litellm_settings.cache` is on.
    pub fn response_cache(&self) -> Option<&crate::cache::ResponseCache> {
        self.cache.as_deref()
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
