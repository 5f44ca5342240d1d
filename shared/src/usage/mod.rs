//! Usage records and where they go: a small async sink trait, with in-memory, log-line and
//! JSON-lines file sinks, and the DynamoDB store (records, aggregates, the spend API's queries).
//!
//! Records are written after the response, from the pipeline's after-response queue.
//! [`sink_from_environment`] picks the store: DynamoDB when `GATEWAY_TABLE_NAME` is set, else
//! the `usage` section's sink (with a memory copy for the spend API).

pub mod aggregator;
mod billed;
mod calendar;
mod dynamodb;
mod dynamodb_spend;
pub mod fallback;
mod item;
mod kept;
mod memory_spend;
mod record;
mod replay;
mod replay_check;
mod sinks;
mod spend;

use std::sync::Arc;
#[cfg(feature = "bench-knobs")]
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use billed::{Billed, NO_TEAM};
pub use calendar::{day, day_end_ms, day_start_ms, days_before, month, rfc3339};
pub use dynamodb::{DynamoUsageStore, Written, ATTEMPT_TIMEOUT};
pub use record::{
    Outcome, UsageRecord, MAX_FIELD_CHARS, MAX_LIST_ITEMS, MAX_LIST_ITEM_CHARS, TRUNCATED,
};
pub use replay::{replay_lines, ReplaySummary};
#[cfg(feature = "bench-knobs")]
pub use sinks::SlowUsageSink;
pub use sinks::{FileUsageSink, KeepingUsageSink, LogUsageSink, MemoryUsageSink};
pub use spend::{
    report_from_records, AggregateRow, GroupBy, LogQuery, Period, ReportQuery, SpendError,
    SpendStore,
};

use crate::config::{UsageSettings, UsageSinkKind};
use crate::env::Environment;
use crate::store::{create_table, AwsClients, TableError, CREATE_TABLES_VAR, TABLE_NAME_VAR};

/// A write failed; the queue logs and counts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage sink failed: {0}")]
pub struct UsageSinkError(pub String);

/// Takes one usage record.
pub trait UsageSink: Send + Sync {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>>;

    /// How many records this sink keeps in memory, and its bound (`None`: every one); `None`
    /// when it keeps none. `/health/readiness` shows it: the benchmark measures once it is full.
    fn kept_records(&self) -> Option<(usize, Option<usize>)> {
        None
    }

    /// The spend API's store for what this sink keeps; `None` when it keeps nothing readable.
    fn spend_store(&self) -> Option<&dyn SpendStore> {
        None
    }
}

/// The sink the `usage` config section asks for (a log line per record by default); the log
/// and file sinks keep a memory copy of the latest `keep_records` for the spend API.
pub fn sink_from_settings(settings: &UsageSettings) -> Arc<dyn UsageSink> {
    let sink: Arc<dyn UsageSink> = match &settings.sink {
        UsageSinkKind::Log => Arc::new(LogUsageSink),
        UsageSinkKind::Memory => return slowed(Arc::new(MemoryUsageSink::default()), settings),
        UsageSinkKind::File(path) => Arc::new(FileUsageSink::new(path.clone())),
    };
    let kept: Arc<dyn UsageSink> = match settings.keep_records {
        0 => sink,
        n => Arc::new(KeepingUsageSink::new(sink, n)),
    };
    slowed(kept, settings)
}

/// The sink behind `usage.simulated_latency_ms` (benchmark builds only; config refuses the
/// setting elsewhere, so without the feature there is nothing to slow).
#[cfg(feature = "bench-knobs")]
fn slowed(sink: Arc<dyn UsageSink>, settings: &UsageSettings) -> Arc<dyn UsageSink> {
    match settings.simulated_latency {
        Some(latency) if latency > Duration::ZERO => Arc::new(SlowUsageSink::new(sink, latency)),
        _ => sink,
    }
}

#[cfg(not(feature = "bench-knobs"))]
fn slowed(sink: Arc<dyn UsageSink>, _settings: &UsageSettings) -> Arc<dyn UsageSink> {
    sink
}

/// The table named by `GATEWAY_TABLE_NAME`, if set.
pub fn table_from_environment(env: &Environment) -> Option<&str> {
    env.get(TABLE_NAME_VAR)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `stream`: the table's stream consumer (`usage-aggregator`) builds the usage aggregates, and
/// request processes only write records (the deployed template sets it); anything else or unset:
/// each process adds its records to the aggregates itself, right after writing them.
pub const AGGREGATION_VAR: &str = "GATEWAY_USAGE_AGGREGATION";

/// The usage sink for this environment: the DynamoDB store when `GATEWAY_TABLE_NAME` is set
/// (`GATEWAY_CREATE_TABLES=1` creates the table first), else [`sink_from_settings`].
pub async fn sink_from_environment(
    settings: &UsageSettings,
    env: &Environment,
) -> Result<Arc<dyn UsageSink>, TableError> {
    sink_from_environment_with(settings, env, None).await
}

/// As [`sink_from_environment`], with the AWS clients the wiring loaded once at cold start
/// (`None`: load them here if needed).
pub async fn sink_from_environment_with(
    settings: &UsageSettings,
    env: &Environment,
    loaded: Option<&AwsClients>,
) -> Result<Arc<dyn UsageSink>, TableError> {
    let Some(table) = table_from_environment(env) else {
        return Ok(sink_from_settings(settings));
    };
    let clients = match loaded {
        Some(loaded) => loaded.clone(),
        None => AwsClients::load(env).await,
    };
    if env.get(CREATE_TABLES_VAR) == Some("1") {
        create_table(&clients.dynamodb, table).await?;
    }
    let store = DynamoUsageStore::new(&clients.dynamodb, table, settings);
    let store = match env.get(AGGREGATION_VAR).map(str::trim) {
        Some("stream") => store.aggregated_by_stream(),
        _ => store,
    };
    Ok(slowed(Arc::new(store), settings))
}
