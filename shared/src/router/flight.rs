//! A call in flight on a deployment, and what its end tells the router.

use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::health::{verdict, Policy};
use super::latency;
use super::state::State;
use crate::chat::Usage;
use crate::error::GatewayError;

/// A started call: counted in flight until it is finished or dropped. Owned (it shares the
/// deployment's state), so an answer stream can hold it to its end.
#[must_use = "a call leaves flight when this is finished or dropped"]
#[derive(Debug)]
pub struct InFlight {
    state: Arc<State>,
    clock: Clock,
    policy: Policy,
}

impl InFlight {
    pub(super) fn new(state: Arc<State>, clock: Clock, policy: Policy) -> Self {
        InFlight {
            state,
            clock,
            policy,
        }
    }

    /// The call answered after `latency`: its tokens count toward this minute's usage (tpm,
    /// usage-based routing) and its latency toward latency-based routing.
    pub fn succeeded(self, latency: Duration, usage: &Usage) {
        let prompt_and_completion = usage.prompt_tokens.saturating_add(usage.completion_tokens);
        let tokens = usage.total_tokens.max(prompt_and_completion);
        self.state.used(self.clock.now(), tokens);
        self.state
            .latency
            .record(latency::sample(latency, usage.completion_tokens));
    }

    /// The call failed with `error`: a failure that says the deployment is unhealthy counts
    /// toward its cooldown (the rules are in `health`).
    pub fn failed(self, error: &GatewayError) {
        self.state
            .failed(self.clock.now(), verdict(error), self.policy);
    }
}

impl Drop for InFlight {
    /// Leaves flight; a call dropped without `succeeded` or `failed` (the client left) counts
    /// for nothing else.
    fn drop(&mut self) {
        self.state.finish();
    }
}
