//! The usage sinks that need no AWS: memory (tests), log line (default), JSON-lines file, and a
//! slow wrapper that shows writes happen after the response.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use super::{UsageRecord, UsageSink, UsageSinkError};

/// Keeps every record in memory; tests read them back.
#[derive(Debug, Default)]
pub struct MemoryUsageSink {
    records: Mutex<Vec<UsageRecord>>,
    written: Notify,
}

impl MemoryUsageSink {
    pub fn records(&self) -> Vec<UsageRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until at least `n` records have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<UsageRecord> {
        loop {
            let notified = self.written.notified();
            let records = self.records();
            if records.len() >= n {
                return records;
            }
            notified.await;
        }
    }
}

impl UsageSink for MemoryUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record.clone());
        self.written.notify_waiters();
        Box::pin(std::future::ready(Ok(())))
    }
}

/// One JSON log line per record (target `usage`): CloudWatch in Lambda, stderr locally.
#[derive(Debug, Default)]
pub struct LogUsageSink;

impl UsageSink for LogUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        let result = serde_json::to_string(record)
            .map(|line| tracing::info!(target: "usage", record = %line, "usage"))
            .map_err(|err| UsageSinkError(err.to_string()));
        Box::pin(std::future::ready(result))
    }
}

/// Appends one JSON line per record to a file.
#[derive(Debug)]
pub struct FileUsageSink {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileUsageSink {
    pub fn new(path: PathBuf) -> Self {
        FileUsageSink {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

impl UsageSink for FileUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            let fail = |err: std::io::Error| UsageSinkError(err.to_string());
            let mut line = serde_json::to_vec(record).map_err(|e| UsageSinkError(e.to_string()))?;
            line.push(b'\n');
            let _one_writer = self.lock.lock().await;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(fail)?;
            file.write_all(&line).await.map_err(fail)?;
            file.flush().await.map_err(fail)
        })
    }
}

/// Waits `latency` before each write of the inner sink: the `usage.simulated_latency_ms`
/// setting, for tests and the benchmark (a slow store must not slow the answers).
pub struct SlowUsageSink {
    inner: Arc<dyn UsageSink>,
    latency: Duration,
}

impl SlowUsageSink {
    pub fn new(inner: Arc<dyn UsageSink>, latency: Duration) -> Self {
        SlowUsageSink { inner, latency }
    }
}

impl UsageSink for SlowUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            tokio::time::sleep(self.latency).await;
            self.inner.write(record).await
        })
    }
}
