//! `gateway-admin replay-usage`: reads log lines, finds the fallback records in them, and writes
//! each into the table exactly once (the record's conditional put makes a second replay, or a
//! record that did arrive after all, a counted duplicate, not a second count).
//!
//! A marker that does not start a log message, a record that does not parse, and one that fails
//! [`super::replay_check::check`] are refused: counted, with the reason, and never written.
//!
//! Budget settlements' lines (`fallback::SETTLEMENT_MARKER`) are applied to the same table's
//! limit counters, each at most once (`DynamoKeyStore::settle_once`: a `SETTLED#` marker per
//! request and scope), so a settlement replayed twice, or one whose write did land after all,
//! is a counted duplicate, never a second charge.

use std::collections::BTreeMap;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::dynamodb::{DynamoUsageStore, Written};
use super::{fallback, replay_check};
use crate::keys::{DynamoKeyStore, Settlement};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplaySummary {
    /// Lines read.
    pub lines: u64,
    /// Records written now.
    pub written: u64,
    /// Records already in the table (left as they were).
    pub duplicates: u64,
    /// Records that could not be written (the table refused them or did not answer).
    pub failed: u64,
    /// Markers whose record was refused: not at the start of a log message, unreadable, or
    /// failing validation (unknown fields, wrong types, negative cost, ...).
    pub refused: u64,
    /// How many were refused for each reason.
    pub refusals: BTreeMap<String, u64>,
    /// Budget settlements applied now.
    pub settled: u64,
    /// Budget settlements applied before (left as they were).
    pub settlement_duplicates: u64,
}

impl ReplaySummary {
    fn refuse(&mut self, line: u64, reason: String) {
        tracing::warn!(line, reason = %reason, "fallback record refused");
        self.refused += 1;
        *self.refusals.entry(reason).or_default() += 1;
    }
}

/// Replays every fallback record in `lines` into `store`'s table.
pub async fn replay_lines(
    store: &DynamoUsageStore,
    lines: impl AsyncBufRead + Unpin,
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let keys = DynamoKeyStore::new(store.client.clone(), store.table.clone());
    let mut lines = lines.lines();
    while let Some(line) = lines.next_line().await? {
        summary.lines += 1;
        for found in fallback::settlements_in_line(&line) {
            let settlement = match found.and_then(|s| replay_check::check_settlement(&s)) {
                Ok(settlement) => settlement,
                Err(reason) => {
                    summary.refuse(summary.lines, reason);
                    continue;
                }
            };
            settle(&keys, &settlement, &mut summary).await;
        }
        for found in fallback::records_in_line(&line) {
            let record = match found.and_then(|r| replay_check::check(&r).map(|()| r)) {
                Ok(record) => record,
                Err(reason) => {
                    summary.refuse(summary.lines, reason);
                    continue;
                }
            };
            match store.write_json(&record).await {
                Ok(Written::New) => summary.written += 1,
                Ok(Written::Duplicate) => summary.duplicates += 1,
                Err(err) => {
                    summary.failed += 1;
                    tracing::error!(line = summary.lines, error = %err, "fallback record not written");
                }
            }
        }
    }
    Ok(summary)
}

async fn settle(keys: &DynamoKeyStore, settlement: &Settlement, summary: &mut ReplaySummary) {
    match keys.settle_once(settlement).await {
        Ok(true) => summary.settled += 1,
        Ok(false) => summary.settlement_duplicates += 1,
        Err(err) => {
            summary.failed += 1;
            tracing::error!(line = summary.lines, request_id = %settlement.plan.request_id, error = %err, "fallback settlement not written");
        }
    }
}
