//! Usage records and where they go: a small async sink trait, with in-memory, log-line and
//! JSON-lines file sinks. The DynamoDB sink comes with the keys-and-budgets issue.
//!
//! Records are written after the response, from the pipeline's after-response queue.

mod record;
mod sinks;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use record::{Outcome, UsageRecord};
pub use sinks::{FileUsageSink, LogUsageSink, MemoryUsageSink, SlowUsageSink};

use crate::config::{UsageSettings, UsageSinkKind};

/// A write failed; the queue logs and counts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage sink failed: {0}")]
pub struct UsageSinkError(pub String);

/// Takes one usage record.
pub trait UsageSink: Send + Sync {
    fn write<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>>;
}

/// The sink the `usage` config section asks for (a log line per record by default).
pub fn sink_from_settings(settings: &UsageSettings) -> Arc<dyn UsageSink> {
    let sink: Arc<dyn UsageSink> = match &settings.sink {
        UsageSinkKind::Log => Arc::new(LogUsageSink),
        UsageSinkKind::Memory => Arc::new(MemoryUsageSink::default()),
        UsageSinkKind::File(path) => Arc::new(FileUsageSink::new(path.clone())),
    };
    match settings.simulated_latency {
        Some(latency) if latency > Duration::ZERO => Arc::new(SlowUsageSink::new(sink, latency)),
        _ => sink,
    }
}
