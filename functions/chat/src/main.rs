//! The `chat` Lambda function: the OpenAI-compatible API over Bedrock.
//!
//! Reads config and environment once, builds every client once, then serves the same router as a
//! Lambda behind a Function URL (streaming), behind an ALB (buffered), or as a local server.

use std::process::ExitCode;
use std::sync::Arc;

use gateway::config::GatewayConfig;
use gateway::env::Environment;
use gateway::gateway::Gateway;
use gateway::http::{self, origin_verify::OriginVerify, serve::RunMode};

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

async fn run(env: Environment) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = GatewayConfig::from_environment(&env)?;
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
    for warning in config.end_of_life_warnings(gateway::config::today_utc()) {
        tracing::warn!("config: {warning}");
    }
    if config.master_key.is_none() {
        tracing::warn!("no master key configured (general_settings.master_key or LITELLM_MASTER_KEY): every request will get 401");
    }
    let mode = RunMode::from_env(&env)?;
    let gateway = Arc::new(Gateway::from_config(&config, &env).await?);
    let after = gateway.after_response().clone();
    // Behind CloudFront with an origin-verify secret, requests that skip CloudFront get a 403.
    let verify = OriginVerify::load(&env).await?;
    let router = http::origin_verify::require(http::router(gateway), verify);
    http::serve::run(router, mode, after).await
}
