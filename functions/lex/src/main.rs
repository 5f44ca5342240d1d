//! The `lex` Lambda function: Amazon Lex V2 fulfillment for the QAAssistant bot.
//!
//! Reads config and environment once, builds every client once, then answers each code-hook
//! event through the shared request path. Events are taken as raw JSON so that a malformed one
//! still gets a safe Lex response instead of a Lambda error.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use gateway::config::GatewayConfig;
use gateway::env::Environment;
use gateway::gateway::Gateway;
use gateway::lambda_extension::{self, InvocationLayer};
use gateway::lex::{invocation_deadline, LexFulfillment};
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    let env = Environment::from_process();
    gateway::telemetry::init(&env);
    match run(env).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(env: Environment) -> Result<(), Error> {
    let config = GatewayConfig::from_environment(&env)?;
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
    for warning in config.end_of_life_warnings(gateway::config::today_utc()) {
        tracing::warn!("config: {warning}");
    }
    let gateway = Arc::new(Gateway::from_config(&config, &env).await?);
    let after = gateway.after_response().clone();
    let lex = Arc::new(LexFulfillment::new(gateway, &config)?);
    tracing::info!(model = lex.model(), "lex function ready");
    // Registered before the runtime's first request for an invocation, as Lambda requires.
    lambda_extension::register(&after).await;
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let lex = Arc::clone(&lex);
        async move {
            let deadline = invocation_deadline(event.context.deadline, SystemTime::now());
            Ok::<Value, Error>(lex.handle_json(event.payload, deadline).await)
        }
    });
    // Each invocation's end (its reply sent) lets the extension wait for the usage record.
    Runtime::new(handler)
        .layer(InvocationLayer::new(after))
        .run()
        .await
}
