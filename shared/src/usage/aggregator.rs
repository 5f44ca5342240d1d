//! Usage aggregates built from the records, in batches, off the request path: a request writes
//! its record as ONE item (`dynamodb.rs`); [`aggregate`] adds records to the five aggregates of
//! each (`billed.rs`: team × day × model, team × month × model, key × day, key × month, key
//! total). In Lambda it runs in the `usage-aggregator` function on the table's stream
//! ([`records_from_stream_event`]); locally (the local server, tests) the store runs it right
//! after each record write, so `/spend/*` answers the same.
//!
//! Idempotent by request id: each record's contribution is one transaction item
//! `pk = AGGREGATED#<id>, sk = AGG` (with the record's TTL) put only if absent, in the same transaction as the aggregate
//! updates it takes part in. A batch delivered twice (a retry, a bisected batch, a replayed
//! record) finds its markers and drops those records, so nothing is counted twice. Records of
//! one batch that share an aggregate item are summed into one update of it, so a busy team's
//! day item takes one write per batch, not one per request.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde_json::Value;

use super::billed::{AggregateKey, Billed};
use super::dynamodb::DynamoUsageStore;
use super::item::{from_item, n, s};

/// Records per transaction: their markers plus at most five aggregates each stay within
/// DynamoDB's 100 items.
pub const RECORDS_PER_TRANSACTION: usize = 16;
/// Transactions tried again after a conflict with a concurrent one.
const CONFLICT_ATTEMPTS: u32 = 8;
/// The sort key of a record's "already aggregated" marker.
pub const MARKER_SORT_KEY: &str = "AGG";

/// The partition key of the marker of the record of `request_id`.
pub fn marker_pk(request_id: &str) -> String {
    format!("AGGREGATED#{request_id}")
}

/// What one call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregateSummary {
    /// Records added to their aggregates now.
    pub aggregated: usize,
    /// Records that had been added before (a batch delivered again).
    pub duplicates: usize,
    /// Transactions sent.
    pub transactions: usize,
}

/// The sums one aggregate item gets from a batch.
#[derive(Debug, Clone, Default)]
struct Sums {
    requests: u64,
    errors: u64,
    prompt: u64,
    completion: u64,
    total: u64,
    cost: f64,
    unpriced: u64,
}

impl Sums {
    fn add(&mut self, billed: &Billed) {
        self.requests += 1;
        self.errors += u64::from(billed.failed());
        self.prompt += billed.prompt_tokens;
        self.completion += billed.completion_tokens;
        self.total += billed.total_tokens;
        self.cost += billed.cost_usd.unwrap_or(0.0);
        self.unpriced += u64::from(billed.cost_usd.is_none());
    }
}

/// Adds `records` to their aggregates, each at most once ever.
pub async fn aggregate(
    store: &DynamoUsageStore,
    records: &[Billed],
) -> Result<AggregateSummary, String> {
    let mut summary = AggregateSummary::default();
    // The same request twice in one batch counts once.
    let mut unique: BTreeMap<&str, &Billed> = BTreeMap::new();
    for billed in records {
        if unique.insert(&billed.request_id, billed).is_some() {
            summary.duplicates += 1;
        }
    }
    let unique: Vec<&Billed> = unique.into_values().collect();
    for chunk in unique.chunks(RECORDS_PER_TRANSACTION) {
        let mut pending: Vec<&Billed> = chunk.to_vec();
        let mut conflicts = 0;
        while !pending.is_empty() {
            summary.transactions += 1;
            match send_chunk(store, &pending).await? {
                ChunkResult::Written => {
                    summary.aggregated += pending.len();
                    pending.clear();
                }
                ChunkResult::AlreadyAggregated(index) => {
                    pending.remove(index);
                    summary.duplicates += 1;
                }
                ChunkResult::Conflict => {
                    conflicts += 1;
                    if conflicts >= CONFLICT_ATTEMPTS {
                        return Err("aggregate items stayed contended".to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(conflicts))).await;
                }
            }
        }
    }
    Ok(summary)
}

enum ChunkResult {
    Written,
    /// The marker of the record at this index exists.
    AlreadyAggregated(usize),
    Conflict,
}

async fn send_chunk(store: &DynamoUsageStore, records: &[&Billed]) -> Result<ChunkResult, String> {
    let mut items = Vec::with_capacity(records.len() * 6);
    for billed in records {
        let marker = Put::builder()
            .table_name(&store.table)
            .item("pk", s(marker_pk(&billed.request_id)))
            .item("sk", s(MARKER_SORT_KEY))
            .item(
                "expires_at",
                n(billed.started_at_ms / 1000 + store.retention_secs),
            )
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| e.to_string())?;
        items.push(TransactWriteItem::builder().put(marker).build());
    }
    let mut sums: BTreeMap<(String, String), (AggregateKey, Sums)> = BTreeMap::new();
    for billed in records {
        for key in billed.aggregates() {
            sums.entry((key.pk.clone(), key.sk.clone()))
                .or_insert_with(|| (key, Sums::default()))
                .1
                .add(billed);
        }
    }
    for (key, sums) in sums.values() {
        let update = aggregate_update(&store.table, key, sums)?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    let sent = store
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    let err = match sent {
        Ok(_) => return Ok(ChunkResult::Written),
        Err(err) => err,
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        if let Some(index) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
            if index < records.len() {
                return Ok(ChunkResult::AlreadyAggregated(index));
            }
        }
        if codes.contains(&"TransactionConflict") {
            return Ok(ChunkResult::Conflict);
        }
        // No reasons given (moto): find an existing marker by reading them.
        if codes.is_empty() {
            for (index, billed) in records.iter().enumerate() {
                if marker_exists(store, billed).await? {
                    return Ok(ChunkResult::AlreadyAggregated(index));
                }
            }
            return Ok(ChunkResult::Conflict);
        }
    }
    Err(DisplayErrorContext(&err).to_string())
}

async fn marker_exists(store: &DynamoUsageStore, billed: &Billed) -> Result<bool, String> {
    let got = store
        .client
        .get_item()
        .table_name(&store.table)
        .key("pk", s(marker_pk(&billed.request_id)))
        .key("sk", s(MARKER_SORT_KEY))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(got.item().is_some())
}

fn aggregate_update(table: &str, key: &AggregateKey, sums: &Sums) -> Result<Update, String> {
    let mut names: HashMap<String, String> = [
        "requests",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost_usd",
        "unpriced_requests",
        "period",
    ]
    .into_iter()
    .map(|name| (format!("#{name}"), name.to_owned()))
    .collect();
    let mut values: HashMap<String, AttributeValue> = HashMap::from([
        (":requests".into(), n(sums.requests)),
        (":errors".into(), n(sums.errors)),
        (":prompt".into(), n(sums.prompt)),
        (":completion".into(), n(sums.completion)),
        (":total".into(), n(sums.total)),
        (":cost".into(), n(sums.cost)),
        (":unpriced".into(), n(sums.unpriced)),
        (":period".into(), s(key.period.clone())),
    ]);
    let mut set = vec!["#period = :period"];
    for (name, value) in [
        ("team", &key.team),
        ("key_id", &key.key_id),
        ("model", &key.model),
    ] {
        if let Some(value) = value {
            names.insert(format!("#{name}"), name.to_owned());
            values.insert(format!(":{name}"), s(value.clone()));
            set.push(match name {
                "team" => "#team = :team",
                "key_id" => "#key_id = :key_id",
                _ => "#model = :model",
            });
        }
    }
    Update::builder()
        .table_name(table)
        .key("pk", s(key.pk.clone()))
        .key("sk", s(key.sk.clone()))
        .update_expression(format!(
            "SET {} ADD #requests :requests, #errors :errors, #prompt_tokens :prompt, \
             #completion_tokens :completion, #total_tokens :total, #cost_usd :cost, \
             #unpriced_requests :unpriced",
            set.join(", ")
        ))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| e.to_string())
}

/// The usage records a DynamoDB stream event carries: the new images of inserted record items
/// (`sk = REQ`); everything else on the stream (markers, aggregates, counters, keys) is skipped.
/// Images that are not records are skipped too, with a warning (they cannot be aggregated).
pub fn records_from_stream_event(event: &Value) -> Vec<Billed> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| r.get("eventName").and_then(Value::as_str) == Some("INSERT"))
        .filter_map(|r| r.pointer("/dynamodb/NewImage"))
        .filter(|image| image.pointer("/sk/S").and_then(Value::as_str) == Some("REQ"))
        .filter_map(|image| {
            let item = image_to_item(image)?;
            match Billed::from_json(&from_item(&item)) {
                Ok(billed) => Some(billed),
                Err(err) => {
                    tracing::warn!(error = %err, "a stream record is not a usage record");
                    None
                }
            }
        })
        .collect()
}

/// A stream image (DynamoDB's JSON: `{"S": ..}`, `{"N": ..}`, ...) as an item.
fn image_to_item(image: &Value) -> Option<HashMap<String, AttributeValue>> {
    image
        .as_object()?
        .iter()
        .map(|(name, value)| Some((name.clone(), to_attribute(value)?)))
        .collect()
}

fn to_attribute(value: &Value) -> Option<AttributeValue> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(to_attribute)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(image_to_item(inner)?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        _ => return None,
    })
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A usage record item as a stream event would carry it (tests, the sample event).
pub fn stream_event_for(items: &[HashMap<String, AttributeValue>]) -> Value {
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::json!({
                "eventID": format!("{i}"),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {"NewImage": item_to_image(item), "StreamViewType": "NEW_IMAGE"},
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

fn item_to_image(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute_to_image(value)))
            .collect(),
    )
}

fn attribute_to_image(value: &AttributeValue) -> Value {
    use serde_json::json;
    match value {
        AttributeValue::S(v) => json!({ "S": v }),
        AttributeValue::N(v) => json!({ "N": v }),
        AttributeValue::Bool(v) => json!({ "BOOL": v }),
        AttributeValue::L(v) => {
            json!({ "L": v.iter().map(attribute_to_image).collect::<Vec<_>>() })
        }
        AttributeValue::M(v) => json!({ "M": item_to_image(v) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        _ => json!({ "NULL": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_stream_event_carries_one_record() {
        let text = include_str!("../../../events/dynamodb-stream-usage.json");
        let event: Value = serde_json::from_str(text).unwrap();
        let records = records_from_stream_event(&event);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].request_id, "chatcmpl-0a1b2c3d4e5f");
        assert_eq!(records[0].team.as_deref(), Some("search"));
        assert_eq!(records[0].total_tokens, 52);
        assert_eq!(records[0].cost_usd, Some(0.000636));
    }
    use crate::usage::item::to_item;
    use crate::usage::UsageRecord;

    #[test]
    fn stream_images_read_back_as_the_records_written() {
        let record = UsageRecord {
            request_id: "chatcmpl-9".into(),
            started_at_ms: 1_796_182_607_123,
            key_id: "abc".into(),
            team: Some("t".into()),
            model: "claude".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            total_tokens: 7,
            cost_usd: Some(0.25),
            ..UsageRecord::default()
        };
        let Value::Object(json) = serde_json::to_value(&record).unwrap() else {
            unreachable!()
        };
        let mut item = to_item(&json);
        item.insert("pk".into(), s("REQ#chatcmpl-9"));
        item.insert("sk".into(), s("REQ"));
        let mut marker = HashMap::new();
        marker.insert("pk".to_owned(), s(marker_pk("chatcmpl-9")));
        marker.insert("sk".to_owned(), s(MARKER_SORT_KEY));
        let event = stream_event_for(&[item, marker]);
        let billed = records_from_stream_event(&event);
        assert_eq!(billed.len(), 1, "the marker is not a record");
        assert_eq!(billed[0], Billed::from_json(&json).unwrap());
    }
}
