//! A Bedrock provider for every deployment of the config and a Bedrock guardrail for every
//! entry of its `guardrails` list, sharing SDK clients, built once at cold start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::clients::ClientPlace;
use super::warm_up::{self, WARM_UP_TIMEOUT};
use super::{BedrockClients, BedrockProvider, ClientInitError};
use crate::config::GatewayConfig;
use crate::env::Environment;
use crate::guardrails::{BedrockGuardrail, Guardrail, GUARDRAIL_CALL_TIMEOUT};
use crate::providers::Providers;

/// The configured guardrails by name.
pub type Guardrails = HashMap<String, Arc<dyn Guardrail>>;

pub async fn providers(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<Providers, ClientInitError> {
    let mut clients = BedrockClients::load(env).await;
    providers_with(&mut clients, config, env).await
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
    providers_and_guardrails_from(BedrockClients::load(env).await, config, env).await
}

/// Both, from `clients` (made from the AWS configuration the wiring loaded once).
pub async fn providers_and_guardrails_from(
    mut clients: BedrockClients,
    config: &GatewayConfig,
    env: &Environment,
) -> Result<(Providers, Guardrails), ClientInitError> {
    let providers = providers_with(&mut clients, config, env).await?;
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
        let client = clients.signed(
            &format!("guardrail {}", g.name),
            place,
            GUARDRAIL_CALL_TIMEOUT,
        )?;
        let guardrail = BedrockGuardrail::new(&g.name, &g.guardrail_id, &g.version, client);
        built.insert(g.name.clone(), Arc::new(guardrail));
    }
    Ok(built)
}

async fn providers_with(
    clients: &mut BedrockClients,
    config: &GatewayConfig,
    env: &Environment,
) -> Result<Providers, ClientInitError> {
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

/// How a model added at run time (`/model/new`) gets its provider: a client from `clients`
/// (shared with the deployments of its region and credentials), with its `timeout` or the
/// router's.
pub fn provider_factory(
    clients: BedrockClients,
    default_timeout: Option<std::time::Duration>,
) -> crate::router::ProviderFactory {
    let clients = std::sync::Mutex::new(clients);
    Arc::new(move |deployment: &crate::config::ModelDeployment| {
        let mut clients = clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let client = clients
            .client_for(deployment, deployment.timeout.or(default_timeout))
            .map_err(|err| err.to_string())?;
        let provider = BedrockProvider::new(client, deployment.model_id.clone());
        Ok(Arc::new(provider) as Arc<dyn crate::providers::ChatProvider>)
    })
}
