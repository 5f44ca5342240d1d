//! The `usage-aggregator` Lambda function (template.yaml's UsageAggregatorFunction): reads the
//! gateway table's stream in batches and adds the usage records it carries to their aggregates
//! (`gateway::usage::aggregator`), idempotently by request id, so requests write one item each
//! and never contend on an aggregate. A batch that fails is retried (and bisected) by Lambda;
//! what still fails goes to the function's on-failure queue.

use std::process::ExitCode;
use std::sync::Arc;

use gateway::env::Environment;
use gateway::store::AwsClients;
use gateway::usage::aggregator::{aggregate, records_from_stream_event};
use gateway::usage::{table_from_environment, DynamoUsageStore};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Environment::from_process();
    gateway::telemetry::init(&env);
    let Some(table) = table_from_environment(&env).map(str::to_owned) else {
        tracing::error!("GATEWAY_TABLE_NAME is not set");
        return ExitCode::FAILURE;
    };
    let clients = AwsClients::load(&env).await;
    let settings = gateway::config::UsageSettings::default();
    let store = Arc::new(DynamoUsageStore::new(&clients.dynamodb, table, &settings));
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let store = Arc::clone(&store);
        async move {
            let records = records_from_stream_event(&event.payload);
            let summary = aggregate(&store, &records).await.map_err(|err| {
                tracing::error!("usage aggregation: {err}");
                Error::from(err)
            })?;
            tracing::info!(
                records = records.len(),
                aggregated = summary.aggregated,
                duplicates = summary.duplicates,
                transactions = summary.transactions,
                "usage aggregated"
            );
            Ok::<Value, Error>(json!({
                "aggregated": summary.aggregated,
                "duplicates": summary.duplicates,
            }))
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
