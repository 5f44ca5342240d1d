//! A Bedrock provider for every deployment of the config, sharing SDK clients, built once at
//! cold start and handed to the router.

use std::sync::Arc;

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
    for deployment in &config.model_list {
        let timeout = deployment.timeout.or(config.router.timeout);
        let client = clients.client_for(deployment, timeout)?;
        let provider = BedrockProvider::new(client, deployment.model_id.clone());
        providers.insert(deployment.deployment_id.clone(), Arc::new(provider));
    }
    tracing::info!(
        deployments = providers.len(),
        clients = clients.len(),
        "bedrock clients ready"
    );
    Ok(providers)
}
