//! Model groups and their deployments, built once from config; picks the deployment a request
//! goes to. Retries, fallbacks, cooldowns and cost-based routing arrive with the routing issue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::{GatewayConfig, ModelDeployment, RoutingStrategy};
use crate::env::Environment;
use crate::providers::bedrock::{BedrockClients, ClientInitError};
use crate::providers::{BedrockProvider, ChatProvider};

/// A deployment with its provider, ready to call.
pub struct Deployment {
    pub config: ModelDeployment,
    pub provider: Arc<dyn ChatProvider>,
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

    /// simple-shuffle spreads requests over the deployments in turn; the strategies that are
    /// not built yet use the first deployment (startup warns about them).
    pub fn pick(&self) -> Option<&Deployment> {
        match (self.strategy, self.deployments.len()) {
            (_, 0) => None,
            (_, 1) => self.deployments.first(),
            (RoutingStrategy::SimpleShuffle, n) => self
                .deployments
                .get(self.next.fetch_add(1, Ordering::Relaxed) % n),
            _ => self.deployments.first(),
        }
    }
}

/// Every model group, by name, in config order.
#[derive(Debug)]
pub struct ModelRouter {
    groups: HashMap<String, ModelGroup>,
    names: Vec<String>,
}

impl ModelRouter {
    /// Builds every SDK client the config needs, once.
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Self, ClientInitError> {
        let mut clients = BedrockClients::load(env).await;
        let mut router = ModelRouter {
            groups: HashMap::new(),
            names: Vec::new(),
        };
        for name in config.model_groups() {
            let mut deployments = Vec::new();
            for deployment in config.deployments(name) {
                let timeout = deployment.timeout.or(config.router.timeout);
                let client = clients.client_for(deployment, timeout)?;
                let provider = Arc::new(BedrockProvider::new(client, deployment.model_id.clone()));
                deployments.push(Deployment {
                    config: deployment.clone(),
                    provider,
                });
            }
            router.insert(ModelGroup::new(
                name.to_owned(),
                deployments,
                config.router.routing_strategy,
            ));
        }
        tracing::info!(
            groups = router.names.len(),
            clients = clients.len(),
            "model router ready"
        );
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
