//! The usage sinks that need no AWS: memory (tests), log line (default), JSON-lines file, and a
//! slow wrapper that shows writes happen after the response.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(feature = "bench-knobs")]
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use super::kept::KeptRecords;
use super::{SpendStore, UsageRecord, UsageSink, UsageSinkError};

/// Keeps records in memory (every one, or the latest `limit` in a ring buffer of compact
/// records, see `kept`); tests read them back, and the spend API asks it when there is no
/// DynamoDB table.
#[derive(Debug)]
pub struct MemoryUsageSink {
    records: Mutex<KeptRecords>,
    written: Notify,
}

impl Default for MemoryUsageSink {
    fn default() -> Self {
        MemoryUsageSink {
            records: Mutex::new(KeptRecords::new(None)),
            written: Notify::new(),
        }
    }
}

impl MemoryUsageSink {
    /// Keeps only the latest `limit` records (the local server's copy for the spend API).
    pub fn keeping_latest(limit: usize) -> Self {
        MemoryUsageSink {
            records: Mutex::new(KeptRecords::new(Some(limit.max(1)))),
            written: Notify::new(),
        }
    }

    /// The kept records, oldest first.
    pub fn records(&self) -> Vec<UsageRecord> {
        self.kept().to_records()
    }

    /// How many records are kept (the benchmark checks its buffer is full before measuring).
    pub fn len(&self) -> usize {
        self.kept().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, KeptRecords> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `n` records have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<UsageRecord> {
        loop {
            let notified = self.written.notified();
            if self.len() >= n {
                return self.records();
            }
            notified.await;
        }
    }
}

impl UsageSink for MemoryUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        self.kept().push(record);
        self.written.notify_waiters();
        Box::pin(std::future::ready(Ok(())))
    }

    fn kept_records(&self) -> Option<(usize, Option<usize>)> {
        let kept = self.kept();
        Some((kept.len(), kept.limit()))
    }

    fn spend_store(&self) -> Option<&dyn SpendStore> {
        Some(self)
    }
}

/// Writes to a sink and keeps a copy in memory for the spend API (local runs with the log or
/// file sink).
pub struct KeepingUsageSink {
    inner: Arc<dyn UsageSink>,
    kept: MemoryUsageSink,
}

impl KeepingUsageSink {
    /// Keeps the latest `kept` records of what goes to `inner`.
    pub fn new(inner: Arc<dyn UsageSink>, kept: usize) -> Self {
        KeepingUsageSink {
            inner,
            kept: MemoryUsageSink::keeping_latest(kept),
        }
    }
}

impl UsageSink for KeepingUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            self.kept.write(record).await?;
            self.inner.write(record).await
        })
    }

    fn kept_records(&self) -> Option<(usize, Option<usize>)> {
        self.kept.kept_records()
    }

    fn spend_store(&self) -> Option<&dyn SpendStore> {
        Some(&self.kept)
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
/// setting, for tests and the benchmark (a slow store must not slow the answers). Only in
/// builds with the `bench-knobs` feature.
#[cfg(feature = "bench-knobs")]
pub struct SlowUsageSink {
    inner: Arc<dyn UsageSink>,
    latency: Duration,
}

#[cfg(feature = "bench-knobs")]
impl SlowUsageSink {
    pub fn new(inner: Arc<dyn UsageSink>, latency: Duration) -> Self {
        SlowUsageSink { inner, latency }
    }
}

#[cfg(feature = "bench-knobs")]
impl UsageSink for SlowUsageSink {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            tokio::time::sleep(self.latency).await;
            self.inner.write(record).await
        })
    }

    fn kept_records(&self) -> Option<(usize, Option<usize>)> {
        self.inner.kept_records()
    }

    fn spend_store(&self) -> Option<&dyn SpendStore> {
        self.inner.spend_store()
    }
}
