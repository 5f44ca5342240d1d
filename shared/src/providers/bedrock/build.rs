//! A Bedrock provider for every deployment of the config, sharing SDK clients, built once at
//! cold start and handed to the router.

use std::collections::HashSet;
use std::sync::Arc;

use super::warm_up::{self, WARM_UP_TIMEOUT};
use super::{BedrockClients, BedrockProvider, ClientInitError};
use crate::config::GatewayConfig;
use crate::env::Environment;
use crate::router::Providers;

pub async fn providers(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<Providers, ClientInitError> {
    let mut clients = BedrockClients::load(env).await;
    let mut providers = Providers::new();
    let warm = warm_up::wanted(env);
    let mut warm_targets = Vec::new();
    let mut warmed = HashSet::new();
    for deployment in &config.model_list {
        let timeout = deployment.timeout.or(config.router.timeout);
        let client = clients.client_for(deployment, timeout)?;
        // One call per region and credentials opens the connection every deployment there uses.
        let shared_by = (
            deployment.region.clone(),
            deployment
                .credentials
                .as_ref()
                .map(|c| c.access_key_id.clone()),
        );
        if warm && warm_up::reaches_aws(deployment) && warmed.insert(shared_by) {
            warm_targets.push((client.clone(), deployment.model_id.clone()));
        }
        let provider = BedrockProvider::new(client, deployment.model_id.clone());
        providers.insert(deployment.deployment_id.clone(), Arc::new(provider));
    }
    tracing::info!(
        deployments = providers.len(),
        clients = clients.len(),
        "bedrock clients ready"
    );
    if !warm_targets.is_empty() {
        let done = warm_up::warm_up(warm_targets, WARM_UP_TIMEOUT).await;
        tracing::info!(
            calls = done.calls,
            answered = done.answered,
            elapsed_ms = done.elapsed.as_millis() as u64,
            "bedrock connections warmed up"
        );
    }
    Ok(providers)
}
