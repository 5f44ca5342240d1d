//! The `evaluate-scheduled` Lambda function: on each EventBridge scheduled event, runs the
//! deployment's experiment (`gateway::evaluation::scheduled`: a Phoenix dataset through the
//! gateway against model groups, scored) and publishes its scores as EMF metrics.

use std::process::ExitCode;
use std::sync::Arc;

use gateway::env::Environment;
use gateway::evaluation::scheduled;
use gateway::observability::settings::MetricsSettings;
use gateway::observability::EmfMetrics;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    let env = Arc::new(Environment::from_process());
    gateway::telemetry::init(&env);
    // The scores are this function's output: EMF unless GATEWAY_METRICS=off.
    let metrics = MetricsSettings::from_env(&env).map(|s| Arc::new(EmfMetrics::stdout(s)));
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let (env, metrics) = (Arc::clone(&env), metrics.clone());
        async move {
            let summary = scheduled::handle(&env, &event.payload, metrics.as_deref()).await;
            summary.map_err(|err| {
                tracing::error!("scheduled evaluation: {err}");
                Error::from(err.to_string())
            })
        }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
