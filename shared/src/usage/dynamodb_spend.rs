//! The spend API over the table: records by id (`GetItem`), by key or team and time (`gsi1`,
//! `gsi2`), and reports from the aggregates (`Query` on a team's or key's partition). A question
//! with no key, team or id (all records in a time range, all teams' reports) is a `Scan` with a
//! filter, paginated and bounded to [`MAX_SCAN_PAGES`] pages (the role grants `dynamodb:Scan`
//! for it; a larger table answers "filter by key_id, team or request_id" instead of reading on).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::billed::{Billed, NO_TEAM};
use super::dynamodb::DynamoUsageStore;
use super::item::{from_item, n, s};
use super::spend::{AggregateRow, GroupBy, LogQuery, Period, ReportQuery, SpendError};
use super::SpendStore;

/// Attributes of a record item that are the table's, not the record's.
const INDEX_ATTRIBUTES: [&str; 6] = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"];
type Item = HashMap<String, AttributeValue>;

/// The most `Scan` pages (up to 1 MB each) one spend question without a key, team or id reads.
pub const MAX_SCAN_PAGES: usize = 50;

fn failed(err: impl std::error::Error + 'static) -> SpendError {
    SpendError(DisplayErrorContext(&err).to_string())
}

impl DynamoUsageStore {
    async fn record_by_id(&self, id: &str) -> Result<Vec<Item>, SpendError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("REQ#{id}")))
            .key("sk", s("REQ"))
            .send()
            .await
            .map_err(failed)?;
        Ok(got.item().cloned().into_iter().collect())
    }

    /// Newest first, from an index partition, within the query's time range.
    async fn records_in(
        &self,
        index: &str,
        partition: String,
        query: &LogQuery,
    ) -> Result<Vec<Item>, SpendError> {
        let low = format!("{:013}", query.start_ms.unwrap_or(0));
        // Exclusive end: "<end>" sorts before "<end>#<id>".
        let high = format!("{:013}", query.end_ms.unwrap_or(9_999_999_999_999));
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", format!("{index}pk"))
                .expression_attribute_names("#sk", format!("{index}sk"))
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() || items.len() >= query.limit {
                return Ok(items);
            }
        }
    }

    /// Every item whose `pk` begins with `prefix` and passes `filter` (a `Scan`).
    async fn scan(
        &self,
        filter: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<Vec<Item>, SpendError> {
        let mut items = Vec::new();
        let mut start = None;
        for _ in 0..MAX_SCAN_PAGES {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
        Err(SpendError(format!(
            "the table holds more than {MAX_SCAN_PAGES} pages to scan: filter by key_id, team or request_id"
        )))
    }

    async fn find_logs(&self, query: &LogQuery) -> Result<Vec<Map<String, Value>>, SpendError> {
        let items = if let Some(id) = &query.request_id {
            self.record_by_id(id).await?
        } else if let Some(key) = &query.key_id {
            self.records_in("gsi1", format!("USAGE_KEY#{key}"), query)
                .await?
        } else if let Some(team) = &query.team {
            self.records_in("gsi2", format!("USAGE_TEAM#{team}"), query)
                .await?
        } else {
            let values = HashMap::from([
                (":req".to_owned(), s("REQ#")),
                (":low".to_owned(), n(query.start_ms.unwrap_or(0))),
                (":high".to_owned(), n(query.end_ms.unwrap_or(u64::MAX / 2))),
            ]);
            self.scan(
                "begins_with(pk, :req) AND started_at_ms >= :low AND started_at_ms < :high",
                values,
            )
            .await?
        };
        let mut found: Vec<(u64, Map<String, Value>)> = items
            .iter()
            .map(from_item)
            .filter_map(|mut json| {
                for attribute in INDEX_ATTRIBUTES {
                    json.remove(attribute);
                }
                let billed = Billed::from_json(&json).ok()?;
                query
                    .matches(&billed)
                    .then_some((billed.started_at_ms, json))
            })
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.0));
        found.truncate(query.limit);
        Ok(found.into_iter().map(|(_, json)| json).collect())
    }

    async fn find_report(&self, query: &ReportQuery) -> Result<Vec<AggregateRow>, SpendError> {
        let (first, last) = query.bucket_range();
        let prefix = match query.period {
            Period::Day => "DAY",
            Period::Month => "MONTH",
        };
        let low = format!("{prefix}#{first}");
        // "$" sorts right after "#": every model of the last bucket is inside.
        let high = format!("{prefix}#{last}$");
        let owner = match query.group_by {
            GroupBy::Team => query.team.as_ref().map(|t| format!("AGG#TEAM#{t}")),
            GroupBy::Key => query.key_id.as_ref().map(|k| format!("AGG#KEY#{k}")),
        };
        let items = match owner {
            Some(pk) => self.aggregates_of(pk, &low, &high).await?,
            None => {
                let all = match query.group_by {
                    GroupBy::Team => "AGG#TEAM#",
                    GroupBy::Key => "AGG#KEY#",
                };
                let values = HashMap::from([
                    (":agg".to_owned(), s(all)),
                    (":low".to_owned(), s(low)),
                    (":high".to_owned(), s(high)),
                ]);
                self.scan(
                    "begins_with(pk, :agg) AND sk BETWEEN :low AND :high",
                    values,
                )
                .await?
            }
        };
        let mut rows: Vec<AggregateRow> = items.iter().map(|i| row(i, query.group_by)).collect();
        rows.sort_by(|a, b| {
            (&a.period, &a.team, &a.key_id, &a.model)
                .cmp(&(&b.period, &b.team, &b.key_id, &b.model))
        });
        Ok(rows)
    }

    async fn aggregates_of(
        &self,
        pk: String,
        low: &str,
        high: &str,
    ) -> Result<Vec<Item>, SpendError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":low", s(low))
                .expression_attribute_values(":high", s(high))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

fn row(item: &Item, group_by: GroupBy) -> AggregateRow {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let count = |name: &str| match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().unwrap_or(0),
        _ => 0,
    };
    let spend = match item.get("cost_usd") {
        Some(AttributeValue::N(v)) => v.parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    };
    AggregateRow {
        period: text("period").unwrap_or_default(),
        team: match group_by {
            GroupBy::Team => Some(text("team").unwrap_or_else(|| NO_TEAM.to_owned())),
            GroupBy::Key => None,
        },
        key_id: match group_by {
            GroupBy::Key => text("key_id"),
            GroupBy::Team => None,
        },
        model: text("model"),
        requests: count("requests"),
        errors: count("errors"),
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
        total_tokens: count("total_tokens"),
        spend,
        unpriced_requests: count("unpriced_requests"),
    }
}

impl SpendStore for DynamoUsageStore {
    fn logs<'a>(
        &'a self,
        query: &'a LogQuery,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, SpendError>> {
        Box::pin(self.find_logs(query))
    }

    fn report<'a>(
        &'a self,
        query: &'a ReportQuery,
    ) -> BoxFuture<'a, Result<Vec<AggregateRow>, SpendError>> {
        Box::pin(self.find_report(query))
    }
}
