//! The spend API's questions, asked of whatever keeps the records: [`SpendStore`], answered by
//! the memory sink (local runs, tests) and by the DynamoDB store (from the record items and
//! their aggregates).

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value};

use super::billed::Billed;
use super::calendar;

/// The store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spend store unavailable: {0}")]
pub struct SpendError(pub String);

/// `GET /spend/logs`: records matching every filter given, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub request_id: Option<String>,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub user: Option<String>,
    /// Unix ms, inclusive.
    pub start_ms: Option<u64>,
    /// Unix ms, exclusive.
    pub end_ms: Option<u64>,
    pub limit: usize,
}

impl LogQuery {
    /// Whether a record (JSON form) passes every filter.
    pub fn matches(&self, record: &Billed) -> bool {
        let is = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        is(&self.request_id, Some(&record.request_id))
            && is(&self.key_id, Some(&record.key_id))
            && is(&self.team, record.team.as_deref())
            && is(&self.user, record.user.as_deref())
            && self.start_ms.is_none_or(|s| record.started_at_ms >= s)
            && self.end_ms.is_none_or(|e| record.started_at_ms < e)
    }
}

/// Day or month buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
}

/// Per team and model, or per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Team,
    #[serde(rename = "api_key")]
    Key,
}

/// A spend report: buckets of `period` from `start_day` to `end_day` (inclusive, `YYYY-MM-DD`;
/// months include the months those days fall in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub period: Period,
    pub group_by: GroupBy,
    pub team: Option<String>,
    pub key_id: Option<String>,
    pub start_day: String,
    pub end_day: String,
}

impl ReportQuery {
    /// The first and last bucket names (`YYYY-MM-DD` or `YYYY-MM`).
    pub fn bucket_range(&self) -> (String, String) {
        match self.period {
            Period::Day => (self.start_day.clone(), self.end_day.clone()),
            Period::Month => (
                self.start_day.chars().take(7).collect(),
                self.end_day.chars().take(7).collect(),
            ),
        }
    }
}

/// One bucket of one team and model (or one key).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AggregateRow {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    #[serde(rename = "team_id", skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(rename = "api_key", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// US dollars of the requests whose price was known.
    pub spend: f64,
    /// Requests whose price was unknown (not counted as free).
    pub unpriced_requests: u64,
}

impl AggregateRow {
    pub fn add(&mut self, record: &Billed) {
        self.requests += 1;
        self.errors += u64::from(record.failed());
        self.prompt_tokens += record.prompt_tokens;
        self.completion_tokens += record.completion_tokens;
        self.total_tokens += record.total_tokens;
        match record.cost_usd {
            Some(cost) => self.spend += cost,
            None => self.unpriced_requests += 1,
        }
    }
}

/// Answers the spend API's questions.
pub trait SpendStore: Send + Sync {
    /// Records (as JSON objects, every field) matching `query`, newest first, at most `limit`.
    fn logs<'a>(
        &'a self,
        query: &'a LogQuery,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, SpendError>>;

    /// Aggregate rows for `query`, ordered by period, then team or key, then model.
    fn report<'a>(
        &'a self,
        query: &'a ReportQuery,
    ) -> BoxFuture<'a, Result<Vec<AggregateRow>, SpendError>>;
}

/// The report computed from records (what the memory store does; the DynamoDB store reads the
/// aggregates it kept while writing, and tests compare the two).
pub fn report_from_records<'a>(
    records: impl IntoIterator<Item = &'a Billed>,
    query: &ReportQuery,
) -> Vec<AggregateRow> {
    let (first, last) = query.bucket_range();
    let mut rows: BTreeMap<(String, String, String), AggregateRow> = BTreeMap::new();
    for record in records {
        let bucket = match query.period {
            Period::Day => calendar::day(record.started_at_ms),
            Period::Month => calendar::month(record.started_at_ms),
        };
        if bucket < first || bucket > last {
            continue;
        }
        let (who, model) = match query.group_by {
            GroupBy::Team => {
                let team = record.team_or_none();
                if query.team.as_deref().is_some_and(|t| t != team) {
                    continue;
                }
                (team.to_owned(), record.model.clone())
            }
            GroupBy::Key => {
                if query.key_id.as_deref().is_some_and(|k| k != record.key_id) {
                    continue;
                }
                (record.key_id.clone(), String::new())
            }
        };
        let row = rows
            .entry((bucket.clone(), who.clone(), model.clone()))
            .or_insert_with(|| AggregateRow {
                period: bucket,
                team: (query.group_by == GroupBy::Team).then(|| who.clone()),
                key_id: (query.group_by == GroupBy::Key).then(|| who.clone()),
                model: (query.group_by == GroupBy::Team).then_some(model),
                ..AggregateRow::default()
            });
        row.add(record);
    }
    rows.into_values().collect()
}
