//! A Bedrock provider for every deployment of the config and a Bedrock guardrail for every
//! entry of its `guardrails` list, sharing SDK clients, built once at cold start.

use std::collections::HashMap;
use std::sync::Arc;

use super::clients::ClientPlace;
use super::{BedrockClients, BedrockProvider, ClientInitError};
use crate::config::GatewayConfig;
use crate::env::Environment;
use crate::guardrails::{BedrockGuardrail, Guardrail, GUARDRAIL_CALL_TIMEOUT};
use crate::router::Providers;

/// The configured guardrails by name.
pub type Guardrails = HashMap<String, Arc<dyn Guardrail>>;

pub async fn providers(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<Providers, ClientInitError> {
    let mut clients = BedrockClients::load(env).await;
    providers_with(&mut clients, config)
}

/// The config's guardrails, each an ApplyGuardrail client in its `aws_region_name`.
pub async fn guardrails(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<Guardrails, ClientInitError> {
    let mut clients = BedrockClients::load(env).await;
    guardrails_with(&mut clients, config)
}

/// Both, from one set of clients.
pub async fn providers_and_guardrails(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<(Providers, Guardrails), ClientInitError> {
    let mut clients = BedrockClients::load(env).await;
    let providers = providers_with(&mut clients, config)?;
    Ok((providers, guardrails_with(&mut clients, config)?))
}

fn guardrails_with(
    clients: &mut BedrockClients,
    config: &GatewayConfig,
) -> Result<Guardrails, ClientInitError> {
    let mut built = Guardrails::new();
    for g in &config.guardrails {
        let place = ClientPlace {
            region: g.region.as_deref(),
            endpoint_url: g.endpoint_url.as_deref(),
            credentials: g.credentials.as_ref(),
        };
        let client = clients.client(
            &format!("guardrail {}", g.name),
            place,
            Some(GUARDRAIL_CALL_TIMEOUT),
        )?;
        let guardrail = BedrockGuardrail::new(&g.name, &g.guardrail_id, &g.version, client);
        built.insert(g.name.clone(), Arc::new(guardrail));
    }
    Ok(built)
}

fn providers_with(
    clients: &mut BedrockClients,
    config: &GatewayConfig,
) -> Result<Providers, ClientInitError> {
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
