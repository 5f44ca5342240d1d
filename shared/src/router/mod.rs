//! Model groups and their deployments; picks the deployments a request is tried on.
//!
//! Knows nothing of AWS: providers are built outside (`providers::bedrock::build`) and handed
//! in by deployment id. Retries, fallbacks, cooldowns and the cost-based strategies arrive with
//! the routing issue, behind [`ModelGroup::attempts`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{GatewayConfig, ModelDeployment, RoutingStrategy};
use crate::providers::ChatProvider;

/// A provider per deployment id.
pub type Providers = HashMap<String, Arc<dyn ChatProvider>>;

/// A deployment with its provider and its time limits, ready to call.
pub struct Deployment {
    pub config: ModelDeployment,
    pub provider: Arc<dyn ChatProvider>,
    /// The wait for a stream's first event: the deployment's `stream_timeout`, else the
    /// router's, else the call `timeout`; `None` for no limit but the deadline.
    pub stream_timeout: Option<Duration>,
    /// The longest pause between two events of a started stream.
    pub stream_idle_timeout: Duration,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The deployments that serve one `model_name`.
#[derive(Debug)]
pub struct ModelGroup {
    pub name: String,
    pub deployments: Vec<Deployment>,
    strategy: RoutingStrategy,
    next: AtomicUsize,
}

impl ModelGroup {
    pub fn new(name: String, deployments: Vec<Deployment>, strategy: RoutingStrategy) -> Self {
        ModelGroup {
            name,
            deployments,
            strategy,
            next: AtomicUsize::new(0),
        }
    }

    /// The deployments to try, in order. Today one: simple-shuffle spreads requests over the
    /// deployments in turn; the strategies that are not built yet use the first deployment
    /// (start-up warns about them).
    pub fn attempts(&self) -> impl Iterator<Item = &Deployment> {
        let first = match (self.strategy, self.deployments.len()) {
            (_, 0 | 1) => 0,
            (RoutingStrategy::SimpleShuffle, n) => self.next.fetch_add(1, Ordering::Relaxed) % n,
            _ => 0,
        };
        self.deployments.get(first).into_iter()
    }
}

/// A deployment in the config has no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no provider was built for deployment `{0}`")]
pub struct MissingProvider(pub String);

/// Every model group, by name, in config order.
#[derive(Debug)]
pub struct ModelRouter {
    groups: HashMap<String, ModelGroup>,
    names: Vec<String>,
}

impl ModelRouter {
    /// Groups the config's deployments, each with its provider from `providers`.
    pub fn new(config: &GatewayConfig, providers: &Providers) -> Result<Self, MissingProvider> {
        let mut router = ModelRouter::empty();
        let settings = &config.router;
        for name in config.model_groups() {
            let mut deployments = Vec::new();
            for deployment in config.deployments(name) {
                let provider = providers
                    .get(&deployment.deployment_id)
                    .ok_or_else(|| MissingProvider(deployment.deployment_id.clone()))?;
                deployments.push(Deployment {
                    config: deployment.clone(),
                    provider: Arc::clone(provider),
                    stream_timeout: deployment
                        .stream_timeout
                        .or(settings.stream_timeout)
                        .or(deployment.timeout)
                        .or(settings.timeout),
                    stream_idle_timeout: deployment
                        .stream_idle_timeout
                        .unwrap_or(settings.stream_idle_timeout),
                });
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
        }
    }

    pub fn insert(&mut self, group: ModelGroup) {
        if !self.groups.contains_key(&group.name) {
            self.names.push(group.name.clone());
        }
        self.groups.insert(group.name.clone(), group);
    }

    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        self.groups.get(name)
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}
