//! Traces, metrics and the per-request data they are built from, all written after the response.
//!
//! During a request, `pipeline::account` fills a [`TraceCapture`] (only when tracing is on):
//! timings of each model attempt and guardrail, the request as the model saw it (after input
//! guardrails) and the answer as the client saw it (after output guardrails). When the request
//! is finished, a [`RequestTrace`] goes on the after-response queue beside the usage record;
//! the drain task turns it into OpenInference spans (`spans`) and exports them to Arize Phoenix
//! over OTLP/HTTP (`phoenix`), and turns each usage record into a CloudWatch EMF line (`emf`).
//! Nothing here runs before the response is sent.

mod capture;
pub mod emf;
mod live;
mod messages;
pub mod phoenix;
pub mod settings;
pub mod spans;
#[cfg(test)]
mod spans_tests;
pub mod trace_batch;
pub mod traceparent;

use std::sync::Arc;

pub use capture::{AttemptCapture, GuardrailCapture, OutputCapture, RequestTrace, TraceCapture};
pub use emf::EmfMetrics;
pub use live::LiveEvaluator;
pub use phoenix::PhoenixExporter;
pub use settings::{MetricsSettings, TelemetryInitError, TraceSettings};
pub use traceparent::TraceParent;

use crate::config::GatewayConfig;
use crate::env::Environment;

/// What the after-response queue does with finished requests beside writing usage records.
#[derive(Clone, Default)]
pub struct Telemetry {
    /// OpenInference spans to Phoenix; `None` when tracing is off.
    pub phoenix: Option<Arc<PhoenixExporter>>,
    /// One EMF line per request; `None` when metrics are off.
    pub metrics: Option<Arc<EmfMetrics>>,
}

impl Telemetry {
    /// Neither traces nor metrics.
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// Traces when `litellm_settings.callbacks` names `arize_phoenix`; metrics in Lambda (or
    /// when `GATEWAY_METRICS=emf`). An API key secret that cannot be read switches traces off
    /// (logged as an error): the gateway still answers.
    pub async fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Telemetry, TelemetryInitError> {
        let settings = match TraceSettings::from_config(config, env)? {
            Some(settings) => match settings.with_secret_api_key(env).await {
                Ok(settings) => Some(settings),
                Err(err) => {
                    tracing::error!(error = %err, "traces off: the Phoenix API key could not be read");
                    None
                }
            },
            None => None,
        };
        let phoenix = match settings {
            Some(settings) => {
                tracing::info!(
                    endpoint = %settings.endpoint,
                    project = %settings.project,
                    hide_inputs = settings.hide_inputs,
                    hide_outputs = settings.hide_outputs,
                    "traces to Arize Phoenix, after each response"
                );
                Some(Arc::new(PhoenixExporter::new(settings)?))
            }
            None => None,
        };
        let metrics =
            MetricsSettings::from_env(env).map(|settings| Arc::new(EmfMetrics::stdout(settings)));
        Ok(Telemetry { phoenix, metrics })
    }

    pub fn traces_enabled(&self) -> bool {
        self.phoenix.is_some()
    }
}
