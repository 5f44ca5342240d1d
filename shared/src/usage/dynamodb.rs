//! Usage records in DynamoDB: [`DynamoUsageStore`] writes each record as ONE item (a `PutItem`
//! conditioned on `attribute_not_exists(pk)`: a record written twice, by a retry after a lost
//! answer or a replayed log line, is stored once). Its aggregates are built from the records
//! (`aggregator.rs`): by the `usage-aggregator` function on the table's stream in Lambda
//! ([`DynamoUsageStore::aggregated_by_stream`], `GATEWAY_USAGE_AGGREGATION=stream`), or right
//! after the write in this process (the default: the local server and tests), idempotently
//! either way.
//!
//! Item layout: see `billed.rs`. A failed write is tried again `usage.write_attempts` times in
//! all, with backoff (100 ms, 400 ms, 1.6 s, ...), off the response path (the after-response
//! queue calls the sink); if DynamoDB still refuses, the record goes to the fallback log line
//! (`fallback.rs`) and `gateway-admin replay-usage` writes it later.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::aggregator::aggregate;
use super::billed::Billed;
use super::item::{n, s, to_item};
use super::{fallback, SpendStore, UsageRecord, UsageSink, UsageSinkError};
use crate::config::UsageSettings;

/// One attempt may take this long before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The record is in the table now.
    New,
    /// The record was already there; nothing was counted again.
    Duplicate,
}

/// The usage sink and spend store over the gateway's table.
#[derive(Clone, Debug)]
pub struct DynamoUsageStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) retention_secs: u64,
    attempts: u32,
    /// Whether this process adds each record to its aggregates after writing it (`false`: the
    /// stream consumer does).
    aggregate_inline: bool,
    /// One inline aggregation in flight per process: concurrent transactions on the same
    /// aggregate items conflict (moto_server fails them with a 500), so they would only be
    /// retried. The stream consumer does not need it.
    one_at_a_time: Arc<Semaphore>,
}

impl DynamoUsageStore {
    /// The SDK's own retries are switched off for this client: the store retries whole
    /// transactions itself, bounded, and then falls back to the log line.
    pub fn new(client: &Client, table: impl Into<String>, settings: &UsageSettings) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        DynamoUsageStore {
            client: Client::from_conf(config),
            table: table.into(),
            retention_secs: u64::from(settings.retention_days) * 24 * 60 * 60,
            attempts: settings.write_attempts.max(1),
            aggregate_inline: true,
            one_at_a_time: Arc::new(Semaphore::new(1)),
        }
    }

    /// Records are only written; the table's stream consumer (`usage-aggregator`) builds the
    /// aggregates.
    pub fn aggregated_by_stream(mut self) -> Self {
        self.aggregate_inline = false;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes one record (JSON form) with retries; the error is the last attempt's.
    pub async fn write_json(&self, record: &Map<String, Value>) -> Result<Written, String> {
        let billed = Billed::from_json(record).map_err(|e| format!("not a usage record: {e}"))?;
        let mut wait = BACKOFF_FIRST;
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.try_write(&billed, record))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {ATTEMPT_TIMEOUT:?}")));
            match result {
                Ok(written) => return Ok(written),
                Err(err) if attempt >= self.attempts => return Err(err),
                Err(err) => {
                    tracing::warn!(request_id = %billed.request_id, attempt, error = %err, "usage write failed; retrying");
                }
            }
            // Full jitter in the upper half, so instances that conflicted do not meet again.
            let jitter = f64::from(uuid::Uuid::new_v4().as_fields().0) / f64::from(u32::MAX);
            tokio::time::sleep(wait.mul_f64(0.5 + jitter / 2.0)).await;
            wait = (wait * 4).min(BACKOFF_MAX);
            attempt += 1;
        }
    }

    /// The record's put, then (inline) its aggregation; both are idempotent, so a retry after
    /// either failed counts nothing twice.
    async fn try_write(
        &self,
        billed: &Billed,
        record: &Map<String, Value>,
    ) -> Result<Written, String> {
        let written = self.put_record(billed, record).await?;
        if self.aggregate_inline {
            let _turn = self.one_at_a_time.acquire().await;
            aggregate(self, std::slice::from_ref(billed)).await?;
        }
        Ok(written)
    }

    async fn put_record(
        &self,
        billed: &Billed,
        record: &Map<String, Value>,
    ) -> Result<Written, String> {
        let mut item = to_item(record);
        let sort = billed.time_sort_key();
        item.insert("pk".into(), s(billed.pk()));
        item.insert("sk".into(), s("REQ"));
        item.insert("gsi1pk".into(), s(billed.gsi1pk()));
        item.insert("gsi1sk".into(), s(sort.clone()));
        item.insert("gsi2pk".into(), s(billed.gsi2pk()));
        item.insert("gsi2sk".into(), s(sort));
        let expires = billed.started_at_ms / 1000 + self.retention_secs;
        item.insert("expires_at".into(), n(expires));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::New),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Written::Duplicate)
            }
            Err(err) => Err(DisplayErrorContext(&err).to_string()),
        }
    }
}

impl UsageSink for DynamoUsageStore {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            let json = match serde_json::to_value(record) {
                Ok(Value::Object(json)) => json,
                Ok(_) => return Err(UsageSinkError("a record is not a JSON object".into())),
                Err(err) => return Err(UsageSinkError(err.to_string())),
            };
            match self.write_json(&json).await {
                Ok(_) => Ok(()),
                Err(err) => {
                    fallback::log_unwritten(&json);
                    // Not the marker itself: only the record's own line may carry it.
                    Err(UsageSinkError(format!(
                        "DynamoDB refused it {} times ({err}); kept in the fallback log line",
                        self.attempts
                    )))
                }
            }
        })
    }

    fn spend_store(&self) -> Option<&dyn SpendStore> {
        Some(self)
    }
}
