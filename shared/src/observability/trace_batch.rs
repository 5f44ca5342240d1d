//! Finished requests' traces held by the after-response drain task and exported together: in
//! the local server, one OTLP request per [`TRACE_BATCH_WINDOW`] (or per [`TRACE_BATCH_MAX`]
//! traces) instead of one per drain tick, like the OpenTelemetry SDK's batch processor; in
//! Lambda (window zero) every trace leaves on the tick it arrived, and a flush (the Lambda
//! extension's, a stopping server's) always takes everything held.

use std::time::{Duration, Instant};

use super::RequestTrace;

/// How long the local server holds a finished request's trace before exporting it.
pub const TRACE_BATCH_WINDOW: Duration = Duration::from_secs(2);
/// A batch this big leaves at once (a bound on the memory held).
pub const TRACE_BATCH_MAX: usize = 512;

/// Traces waiting to be exported, and when the oldest of them arrived.
#[derive(Debug, Default)]
pub struct TraceBatch {
    held: Vec<RequestTrace>,
    oldest: Option<Instant>,
}

impl TraceBatch {
    pub fn push(&mut self, trace: RequestTrace, now: Instant) {
        self.oldest.get_or_insert(now);
        self.held.push(trace);
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The traces to export now, if any: every held one when `flushing`, when the batch is
    /// full, or when its oldest has waited `window` (at once when `window` is zero).
    pub fn take_due(
        &mut self,
        now: Instant,
        window: Duration,
        flushing: bool,
    ) -> Option<Vec<RequestTrace>> {
        let oldest = self.oldest?;
        let due = flushing
            || self.held.len() >= TRACE_BATCH_MAX
            || now.saturating_duration_since(oldest) >= window;
        if !due {
            return None;
        }
        self.oldest = None;
        Some(std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observability::TraceCapture;
    use crate::usage::UsageRecord;

    fn trace(id: usize, now: Instant) -> RequestTrace {
        RequestTrace {
            record: UsageRecord {
                request_id: format!("req-{id}"),
                ..UsageRecord::default()
            },
            capture: TraceCapture::new(now, None),
            ended: now,
            cost_split: None,
        }
    }

    #[test]
    fn without_a_window_every_trace_leaves_at_once() {
        let now = Instant::now();
        let mut batch = TraceBatch::default();
        assert!(batch.take_due(now, Duration::ZERO, false).is_none());
        batch.push(trace(1, now), now);
        assert_eq!(batch.take_due(now, Duration::ZERO, false).unwrap().len(), 1);
        assert!(batch.is_empty());
    }

    #[test]
    fn traces_wait_for_the_window_then_leave_together_oldest_first() {
        let start = Instant::now();
        let window = Duration::from_secs(2);
        let mut batch = TraceBatch::default();
        batch.push(trace(1, start), start);
        let later = start + Duration::from_secs(1);
        batch.push(trace(2, later), later);
        assert!(batch.take_due(later, window, false).is_none());
        let due = batch.take_due(start + window, window, false).unwrap();
        let ids: Vec<_> = due.iter().map(|t| t.record.request_id.as_str()).collect();
        assert_eq!(ids, ["req-1", "req-2"]);
        // The window starts again with the next trace.
        let next = start + Duration::from_secs(3);
        batch.push(trace(3, next), next);
        assert!(batch
            .take_due(next + Duration::from_secs(1), window, false)
            .is_none());
    }

    #[test]
    fn a_flush_or_a_full_batch_takes_everything_held() {
        let now = Instant::now();
        let window = Duration::from_secs(3600);
        let mut batch = TraceBatch::default();
        batch.push(trace(1, now), now);
        assert_eq!(batch.take_due(now, window, true).unwrap().len(), 1);
        for id in 0..TRACE_BATCH_MAX - 1 {
            batch.push(trace(id, now), now);
        }
        assert!(batch.take_due(now, window, false).is_none());
        batch.push(trace(0, now), now);
        assert_eq!(
            batch.take_due(now, window, false).unwrap().len(),
            TRACE_BATCH_MAX
        );
    }
}
