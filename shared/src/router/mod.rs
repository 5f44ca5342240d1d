//! Model groups and their deployments; picks the deployment for each attempt of a request.
//!
//! Knows nothing of AWS: providers are built outside (`providers::bedrock::build`) and handed
//! in by deployment id. The pipeline asks [`ModelGroup::pick`] for each attempt, calls the
//! deployment inside [`Deployment::start`], and reports the end with
//! [`InFlight::succeeded`] or [`InFlight::failed`].
//!
//! # Picking
//!
//! A deployment is usable when the request has not tried it yet, it is not cooling down
//! (`health`: `allowed_fails`, `cooldown_time`) and it is under its `rpm` (requests started
//! this minute) and `tpm` (tokens of answers this minute). Among the usable ones,
//! `router_settings.routing_strategy` chooses:
//!
//! - `simple-shuffle` (default): weighted random by `weight` (1 if unset); when no deployment
//!   of the group has a weight, by `rpm`, else by `tpm`, as LiteLLM does (one without the
//!   `rpm` or `tpm` the others have gets their mean, where LiteLLM gives it 0).
//! - `cost-based-routing`: the lowest cost of this request, input tokens × input price +
//!   output tokens × output price (LiteLLM sums the two per-token prices instead); prices from
//!   the config, else the built-in Bedrock table (`pricing`); unknown prices after all known.
//! - `latency-based-routing`: the lowest moving average of latency per completion token
//!   (`latency`: answers under 50 tokens count as their whole latency); never-measured
//!   deployments first, and 1 pick in 10 to another usable deployment at random, so one that
//!   recovered is noticed.
//! - `least-busy`: the fewest calls in flight.
//! - `usage-based-routing`, `usage-based-routing-v2`: the fewest tokens this minute.
//!
//! Ties go at random. With nothing usable: the tried deployments again (a retry on the same
//! one); else, if all that are under their limits are cooling down, the one whose last failure
//! is oldest (never hang, never refuse while something might answer); else [`NoDeployment`],
//! with the time until the minute window rolls over.
//!
//! # State, and what it means in Lambda
//!
//! Each deployment's state is in atomics (no lock on the hot path), timed by the router's
//! clock (`clock`: `tokio::time::Instant` since the router was built; minute windows are whole
//! minutes since then, not wall-clock minutes). It lives in one Lambda execution environment,
//! which runs one invocation at a time, and it is lost when the environment is recycled (a cold
//! start begins with nothing measured, nothing cooling down, zero counts). Many concurrent
//! environments each keep their own latency averages, calls in flight, cooldowns and rpm/tpm
//! counts: a deployment throttled in one environment is still tried by the others until they
//! see their own failures; least-busy sees only its own environment's calls (mostly 0 or 1);
//! and an `rpm` of 100 holds per environment, not in total. Limits shared by every environment
//! come with the DynamoDB counters of another issue (keys and budgets).

mod clock;
mod deployment;
mod flight;
mod group;
mod health;
mod latency;
mod pick;
mod rng;
mod runtime;
mod state;
mod strategy;
mod window;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use deployment::Deployment;
pub use flight::InFlight;
pub use group::ModelGroup;
pub use health::{DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN_TIME};
pub use pick::{Estimate, NoDeployment, Pick};
pub use runtime::{capture as wildcard_capture, ProviderFactory, MAX_WILDCARD_GROUPS};

pub use crate::providers::Providers;

use crate::config::GatewayConfig;

/// A deployment in the config has no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no provider was built for deployment `{0}`")]
pub struct MissingProvider(pub String);

/// Every model group, by name, in config order.
#[derive(Debug)]
pub struct ModelRouter {
    groups: HashMap<String, ModelGroup>,
    names: Vec<String>,
    /// Groups added at run time (`/model/new`), after the config's.
    runtime: runtime::RuntimeGroups,
}

impl ModelRouter {
    /// Groups the config's deployments, each with its provider from `providers`.
    pub fn new(config: &GatewayConfig, providers: &Providers) -> Result<Self, MissingProvider> {
        let settings = &config.router;
        let clock = clock::Clock::start();
        let mut router = ModelRouter {
            groups: HashMap::new(),
            names: Vec::new(),
            runtime: runtime::RuntimeGroups::new(settings.clone(), clock),
        };
        for name in config.model_groups() {
            let mut deployments = Vec::new();
            for deployment in config.deployments(name) {
                let provider = providers
                    .get(&deployment.deployment_id)
                    .ok_or_else(|| MissingProvider(deployment.deployment_id.clone()))?;
                deployments.push(Deployment::new(
                    deployment.clone(),
                    Arc::clone(provider),
                    settings,
                    clock,
                ));
            }
            router.insert(ModelGroup::new(
                name.to_owned(),
                deployments,
                settings.routing_strategy,
            ));
        }
        Ok(router)
    }

    pub fn empty() -> Self {
        ModelRouter {
            groups: HashMap::new(),
            names: Vec::new(),
            runtime: runtime::RuntimeGroups::new(
                crate::config::RouterSettings::default(),
                clock::Clock::start(),
            ),
        }
    }

    pub fn insert(&mut self, group: ModelGroup) {
        if !self.groups.contains_key(&group.name) {
            self.names.push(group.name.clone());
        }
        self.groups.insert(group.name.clone(), group);
    }

    /// The config's group `name`, else the one added at run time.
    /// A name with a `*` is a wildcard route, never a group a request names itself; a name
    /// no group has may fit one (`bedrock/*`), when this instance builds providers.
    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        if name.contains('*') {
            return None;
        }
        self.groups
            .get(name)
            .or_else(|| self.runtime.group(name))
            .or_else(|| {
                let patterns = self.groups.values().filter(|g| g.name.contains('*'));
                self.runtime.wildcard(name, patterns)
            })
    }

    /// The config's groups in config order, then those added at run time.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .chain(self.runtime.names())
    }

    /// Whether `name` is a group of the config (which a model added at run time may not be).
    pub fn is_configured(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    /// Whether a deployment id is the config's.
    pub fn is_configured_deployment(&self, id: &str) -> bool {
        self.groups
            .values()
            .any(|g| g.deployments.iter().any(|d| d.config.deployment_id == id))
    }

    /// How models added at run time get their providers; without one they are stored but
    /// not served.
    pub fn set_provider_factory(&mut self, factory: ProviderFactory) {
        self.runtime.set_factory(factory);
    }

    pub fn serves_runtime_models(&self) -> bool {
        self.runtime.can_build()
    }

    /// Makes the stored model entries (`model_list` entries as JSON) the run-time groups.
    pub fn replace_runtime_models(&self, entries: &[serde_json::Value]) {
        self.runtime
            .replace(entries, &|name| self.groups.contains_key(name));
    }
}
