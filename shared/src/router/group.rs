//! A model group: the deployments that serve one `model_name`, and simple-shuffle's weights.

use super::clock::Clock;
use super::deployment::Deployment;
use crate::config::{ModelDeployment, RoutingStrategy};

/// The deployments that serve one `model_name`.
#[derive(Debug)]
pub struct ModelGroup {
    pub name: String,
    pub deployments: Vec<Deployment>,
    pub(super) strategy: RoutingStrategy,
    /// simple-shuffle's weight of each deployment, by index.
    pub(super) weights: Vec<f64>,
    pub(super) clock: Clock,
}

impl ModelGroup {
    pub fn new(name: String, deployments: Vec<Deployment>, strategy: RoutingStrategy) -> Self {
        let configs: Vec<&ModelDeployment> = deployments.iter().map(|d| &d.config).collect();
        ModelGroup {
            name,
            weights: weights(&configs),
            clock: deployments.first().map_or_else(Clock::start, |d| d.clock),
            deployments,
            strategy,
        }
    }
}

/// simple-shuffle's weights, as LiteLLM's: `weight` if any deployment of the group has one
/// (1 for those without); else `rpm` if any has one, else `tpm` if any has one; else all 1.
/// Unlike LiteLLM, a deployment without the `rpm` (`tpm`) the others are weighted by gets their
/// mean rather than 0: no limit is no reason never to be picked.
pub(super) fn weights(configs: &[&ModelDeployment]) -> Vec<f64> {
    if configs.iter().any(|c| c.weight.is_some()) {
        return configs.iter().map(|c| c.weight.unwrap_or(1.0)).collect();
    }
    let rpm: Vec<Option<u64>> = configs.iter().map(|c| c.rpm).collect();
    let tpm: Vec<Option<u64>> = configs.iter().map(|c| c.tpm).collect();
    let limits = if rpm.iter().any(Option::is_some) {
        rpm
    } else {
        tpm
    };
    let set: Vec<f64> = limits.iter().flatten().map(|&v| v as f64).collect();
    if set.is_empty() {
        return vec![1.0; configs.len()];
    }
    let mean = set.iter().sum::<f64>() / set.len() as f64;
    limits
        .iter()
        .map(|limit| limit.map_or(mean, |v| v as f64))
        .collect()
}
