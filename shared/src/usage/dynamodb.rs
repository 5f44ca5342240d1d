//! Usage records in DynamoDB: [`DynamoUsageStore`] writes each record and its five aggregates
//! in ONE `TransactWriteItems`, whose record `Put` is conditioned on `attribute_not_exists(pk)`:
//! a record written twice (a retry after a lost answer, a replayed log line) is counted once.
//!
//! Item layout: see `billed.rs`. A failed write is tried again `usage.write_attempts` times in
//! all, with backoff (100 ms, 400 ms, 1.6 s, ...), off the response path (the after-response
//! queue calls the sink); if DynamoDB still refuses, the record goes to the fallback log line
//! (`fallback.rs`) and `gateway-admin replay-usage` writes it later.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

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
    /// The record and its aggregates are in the table now.
    New,
    /// The record was already there; nothing was counted again.
    Duplicate,
}

/// The usage sink and spend store over the gateway's table.
#[derive(Clone, Debug)]
pub struct DynamoUsageStore {
    pub(super) client: Client,
    pub(super) table: String,
    retention_secs: u64,
    attempts: u32,
    /// One transaction in flight per process: concurrent transactions on the same aggregate
    /// items conflict (DynamoDB cancels them with `TransactionConflict`; moto_server fails
    /// them with a 500), so they would only be retried. A Lambda instance serves one request
    /// at a time anyway; the local server's throughput to DynamoDB is one round trip per record.
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
            one_at_a_time: Arc::new(Semaphore::new(1)),
        }
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
            let result = {
                let _turn = self.one_at_a_time.acquire().await;
                tokio::time::timeout(ATTEMPT_TIMEOUT, self.try_write(&billed, record))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {ATTEMPT_TIMEOUT:?}")))
            };
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

    async fn try_write(
        &self,
        billed: &Billed,
        record: &Map<String, Value>,
    ) -> Result<Written, String> {
        let mut items = vec![TransactWriteItem::builder()
            .put(self.record_put(billed, record)?)
            .build()];
        for update in self.aggregate_updates(billed)? {
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Written::New),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let first = cancelled.cancellation_reasons().first();
            if first.and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                return Ok(Written::Duplicate);
            }
            // No reasons given: the record's presence tells.
            if cancelled.cancellation_reasons().is_empty() && self.exists(billed).await? {
                return Ok(Written::Duplicate);
            }
        }
        Err(DisplayErrorContext(&err).to_string())
    }

    async fn exists(&self, billed: &Billed) -> Result<bool, String> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(billed.pk()))
            .key("sk", s("REQ"))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        Ok(got.item().is_some())
    }

    fn record_put(&self, billed: &Billed, record: &Map<String, Value>) -> Result<Put, String> {
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
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| e.to_string())
    }

    fn aggregate_updates(&self, billed: &Billed) -> Result<Vec<Update>, String> {
        let names: HashMap<String, String> = [
            "requests",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cost_usd",
            "unpriced_requests",
            "period",
            "team",
            "key_id",
            "model",
        ]
        .into_iter()
        .map(|name| (format!("#{name}"), name.to_owned()))
        .collect();
        let values: HashMap<String, AttributeValue> = HashMap::from([
            (":one".into(), n(1)),
            (":errors".into(), n(u8::from(billed.failed()))),
            (":prompt".into(), n(billed.prompt_tokens)),
            (":completion".into(), n(billed.completion_tokens)),
            (":total".into(), n(billed.total_tokens)),
            (":cost".into(), n(billed.cost_usd.unwrap_or(0.0))),
            (":unpriced".into(), n(u8::from(billed.cost_usd.is_none()))),
        ]);
        let counters = "ADD #requests :one, #errors :errors, #prompt_tokens :prompt, \
                        #completion_tokens :completion, #total_tokens :total, #cost_usd :cost, \
                        #unpriced_requests :unpriced";
        billed
            .aggregates()
            .into_iter()
            .map(|agg| {
                let mut values = values.clone();
                let mut set = vec!["#period = :period"];
                values.insert(":period".into(), s(agg.period));
                if let Some(team) = agg.team {
                    set.push("#team = :team");
                    values.insert(":team".into(), s(team));
                }
                if let Some(key_id) = agg.key_id {
                    set.push("#key_id = :key_id");
                    values.insert(":key_id".into(), s(key_id));
                }
                if let Some(model) = agg.model {
                    set.push("#model = :model");
                    values.insert(":model".into(), s(model));
                }
                let used = |name: &str| set.iter().any(|s| s.contains(name));
                let names: HashMap<String, String> = names
                    .iter()
                    .filter(|(k, _)| counters.contains(k.as_str()) || used(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(agg.pk))
                    .key("sk", s(agg.sk))
                    .update_expression(format!("SET {} {counters}", set.join(", ")))
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
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
