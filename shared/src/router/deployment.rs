//! A deployment: its config, provider, time limits and price, and what the router has seen of
//! it (state private to the router).

use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::flight::InFlight;
use super::health::Policy;
use super::state::State;
use crate::config::{ModelDeployment, RouterSettings};
use crate::pricing::{deployment_price, Price};
use crate::providers::ChatProvider;

/// A deployment with its provider and its time limits, ready to call.
pub struct Deployment {
    pub config: ModelDeployment,
    pub provider: Arc<dyn ChatProvider>,
    /// The wait for a stream's first event: the deployment's `stream_timeout`, else the
    /// router's, else the call `timeout`; `None` for no limit but the deadline.
    pub stream_timeout: Option<Duration>,
    /// The longest pause between two events of a started stream.
    pub stream_idle_timeout: Duration,
    price: Option<Price>,
    pub(super) clock: Clock,
    pub(super) policy: Policy,
    pub(super) state: Arc<State>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("config", &self.config)
            .field("price", &self.price)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// `config` served by `provider`, under the router's `settings` and `clock`.
    pub(crate) fn new(
        config: ModelDeployment,
        provider: Arc<dyn ChatProvider>,
        settings: &RouterSettings,
        clock: Clock,
    ) -> Self {
        Deployment {
            stream_timeout: config
                .stream_timeout
                .or(settings.stream_timeout)
                .or(config.timeout)
                .or(settings.timeout),
            stream_idle_timeout: config
                .stream_idle_timeout
                .unwrap_or(settings.stream_idle_timeout),
            // An embedding model has input tokens only: its input price is its whole price.
            price: deployment_price(
                config.input_cost_per_token,
                config.output_cost_per_token.or(config
                    .input_cost_per_token
                    .filter(|_| config.embedding)
                    .map(|_| 0.0)),
                &config.model_id,
            )
            .map(|price| {
                price.with_cache_prices(
                    config.cache_read_input_token_cost,
                    config.cache_creation_input_token_cost,
                )
            }),
            config,
            provider,
            clock,
            policy: Policy::new(settings),
            state: Arc::default(),
        }
    }

    /// USD per token: the config's prices, else the built-in Bedrock table's; `None` if unknown.
    pub fn price(&self) -> Option<&Price> {
        self.price.as_ref()
    }

    /// Counts the call in flight (and in this minute's requests) until finished. The
    /// [`InFlight`] owns its share of the deployment's state, so a stream can carry it.
    pub fn start(&self) -> InFlight {
        self.state.start(self.clock.now());
        InFlight::new(Arc::clone(&self.state), self.clock, self.policy)
    }
}
