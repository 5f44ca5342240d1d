//! The memory sink answers the spend API from the records it keeps.

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::billed::Billed;
use super::spend::{report_from_records, AggregateRow, LogQuery, ReportQuery, SpendError};
use super::{MemoryUsageSink, SpendStore};

impl MemoryUsageSink {
    /// Every kept record in JSON form with its counted fields, oldest first.
    fn billed(&self) -> Vec<(Billed, Map<String, Value>)> {
        self.records()
            .iter()
            .filter_map(|record| match serde_json::to_value(record) {
                Ok(Value::Object(json)) => Billed::from_json(&json).ok().map(|b| (b, json)),
                _ => None,
            })
            .collect()
    }
}

impl SpendStore for MemoryUsageSink {
    fn logs<'a>(
        &'a self,
        query: &'a LogQuery,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, SpendError>> {
        let mut found: Vec<_> = self
            .billed()
            .into_iter()
            .filter(|(billed, _)| query.matches(billed))
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.0.started_at_ms));
        found.truncate(query.limit);
        Box::pin(std::future::ready(Ok(found
            .into_iter()
            .map(|(_, json)| json)
            .collect())))
    }

    fn report<'a>(
        &'a self,
        query: &'a ReportQuery,
    ) -> BoxFuture<'a, Result<Vec<AggregateRow>, SpendError>> {
        let billed: Vec<Billed> = self.billed().into_iter().map(|(b, _)| b).collect();
        Box::pin(std::future::ready(Ok(report_from_records(&billed, query))))
    }
}
