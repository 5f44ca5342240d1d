//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text locally.

use tracing_subscriber::EnvFilter;

use crate::env::Environment;

/// Installs the global subscriber once; `RUST_LOG` picks the level (default `info`).
pub fn init(env: &Environment) {
    let filter = EnvFilter::try_new(env.get("RUST_LOG").unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if env.get("AWS_LAMBDA_RUNTIME_API").is_some() {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
