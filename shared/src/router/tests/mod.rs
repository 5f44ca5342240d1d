//! Unit tests of selection, cooldowns and limits, on stub providers. The router's clock is
//! moved with `clock::advance` (tokio's `test-util`, needed for `start_paused`, is not enabled
//! in this crate).

mod cooldown;
mod cost;
mod latency;
mod limits;
mod load;
mod shuffle;
mod tried;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::{Deployment, Estimate, ModelGroup};
use crate::chat::{ChatRequest, ChatResponse, Usage};
use crate::config::{ModelDeployment, Provider, RouterSettings, RoutingStrategy};
use crate::providers::{ChatProvider, EventStream, ProviderError};

/// Never called: these tests pick, they do not call.
struct Stub;

impl ChatProvider for Stub {
    fn chat<'a>(
        &'a self,
        _: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(async { Err(ProviderError::Unavailable("stub".into())) })
    }

    fn chat_stream<'a>(
        &'a self,
        _: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, ProviderError>> + Send + 'a>> {
        Box::pin(async { Err(ProviderError::Unavailable("stub".into())) })
    }
}

/// A deployment `id` of a model the price table does not know.
fn config(id: &str) -> ModelDeployment {
    ModelDeployment {
        model_name: "m".into(),
        deployment_id: id.into(),
        provider: Provider::Bedrock,
        model_id: format!("custom.{id}-v1"),
        region: None,
        endpoint_url: None,
        credentials: None,
        input_cost_per_token: None,
        output_cost_per_token: None,
        cache_read_input_token_cost: None,
        cache_creation_input_token_cost: None,
        rpm: None,
        tpm: None,
        weight: None,
        timeout: None,
        stream_timeout: None,
        stream_idle_timeout: None,
        max_output_tokens: None,
        max_input_tokens: None,
        guardrails: Vec::new(),
        embedding: false,
    }
}

fn group_with(
    strategy: RoutingStrategy,
    settings: &RouterSettings,
    configs: Vec<ModelDeployment>,
) -> ModelGroup {
    let clock = Clock::start();
    let deployments = configs
        .into_iter()
        .map(|c| Deployment::new(c, Arc::new(Stub), settings, clock))
        .collect();
    ModelGroup::new("m".into(), deployments, strategy)
}

fn group(strategy: RoutingStrategy, configs: Vec<ModelDeployment>) -> ModelGroup {
    group_with(strategy, &RouterSettings::default(), configs)
}

/// The deployment id of a fresh pick.
fn pick_id(group: &ModelGroup, tried: &[usize]) -> String {
    let pick = group.pick(&Estimate::default(), tried).unwrap();
    pick.deployment.config.deployment_id.clone()
}

/// How often each deployment is picked in `n` picks, by index.
fn spread(group: &ModelGroup, estimate: &Estimate, n: usize) -> Vec<usize> {
    let mut counts = vec![0; group.deployments.len()];
    for _ in 0..n {
        counts[group.pick(estimate, &[]).unwrap().index] += 1;
    }
    counts
}

fn usage(prompt_tokens: u32, completion_tokens: u32) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ..Usage::default()
    }
}

/// One finished call on `group`'s deployment `index`.
fn succeed(group: &ModelGroup, index: usize, latency: Duration, usage: &Usage) {
    group.deployments[index].start().succeeded(latency, usage);
}
