//! `gateway-admin replay-usage`: reads log lines, finds the fallback records in them, and writes
//! each into the table exactly once (the record's conditional put makes a second replay, or a
//! record that did arrive after all, a counted duplicate, not a second count).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::dynamodb::{DynamoUsageStore, Written};
use super::fallback;

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplaySummary {
    /// Lines read.
    pub lines: u64,
    /// Records written now.
    pub written: u64,
    /// Records already in the table (left as they were).
    pub duplicates: u64,
    /// Lines with the marker whose record could not be read, or could not be written.
    pub failed: u64,
}

/// Replays every fallback record in `lines` into `store`'s table.
pub async fn replay_lines(
    store: &DynamoUsageStore,
    lines: impl AsyncBufRead + Unpin,
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut lines = lines.lines();
    while let Some(line) = lines.next_line().await? {
        summary.lines += 1;
        for found in fallback::records_in_line(&line) {
            let record = match found {
                Ok(record) => record,
                Err(err) => {
                    summary.failed += 1;
                    tracing::error!(line = summary.lines, error = %err, "unreadable fallback record");
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
