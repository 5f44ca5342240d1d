//! Work after the response: a bounded queue of usage records, their EMF metrics lines and
//! their trace spans, that never delays an answer.
//!
//! A background task drains the queue every [`DRAIN_INTERVAL`], writing up to
//! [`CONCURRENT_WRITES`] records at once. Submitting wakes nobody: a wake-up per request would
//! put the drain task on the CPU while the answer is still being written (measured: +0.6 ms at
//! p50 on one core), so the task wakes on its own timer, or at once when [`AfterResponse::flush`]
//! asks. In Lambda, the internal extension (`lambda_extension`) holds the sandbox open after
//! each response until `flush` says the queue is empty, so nothing is frozen in it. A full queue
//! or a failed write never touches the response: it is logged and counted, and a record or a
//! budget settlement the queue had no room for, or a settlement the store refused, goes to the
//! replayable fallback log line (`usage::fallback`). The local server holds traces for a batch
//! window (`observability::trace_batch`); a flush exports them.
//!
//! In Lambda the hold ends [`AfterResponse::deadline_margin`] before the invocation's deadline
//! (`usage.deadline_margin_ms`, default 500 ms), since past the deadline Lambda freezes the
//! sandbox and what is still pending may never finish: [`AfterResponse::flush_until`] then
//! [`spills`](AfterResponse::spill) every record and settlement still queued or being written
//! to the fallback line (traces are dropped and counted). A write that lands after all makes
//! its replay a counted duplicate: records and settlements are written at most once.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::Notify;

use crate::keys::{KeyStore, Settlement};
use crate::lambda_extension::invocations::Invocations;
use crate::observability::trace_batch::TraceBatch;
use crate::observability::{LiveEvaluator, RequestTrace, Telemetry};
use crate::usage::fallback;
use crate::usage::{UsageRecord, UsageSink};

/// Records written at the same time by the drain task.
pub const CONCURRENT_WRITES: usize = 128;
/// How often the drain task looks for new jobs when nobody asked for a flush.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(10);

/// One piece of after-response work.
pub enum Job {
    Usage(Box<UsageRecord>),
    /// A finished request's spans-to-be (only when tracing is on); the drain task exports the
    /// traces it finds together, in one request per project.
    Trace(Box<RequestTrace>),
    /// A request's budget reservation replaced by its actual cost (`pipeline::limits`).
    Settle(Box<SettleJob>),
}

/// A settlement and the store that holds its reservation.
pub struct SettleJob {
    pub store: Arc<dyn KeyStore>,
    pub settlement: Settlement,
}

impl Job {
    fn request_id(&self) -> &str {
        match self {
            Job::Usage(record) => &record.request_id,
            Job::Trace(trace) => &trace.record.request_id,
            Job::Settle(job) => &job.settlement.plan.request_id,
        }
    }
}

/// Counters of the queue since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub submitted: u64,
    pub written: u64,
    /// Not queued: the queue was full or closed.
    pub dropped: u64,
    /// Queued, but the write failed (or its task panicked).
    pub failed: u64,
    /// Records and settlements sent to the fallback line when the deadline came first (queued
    /// or still being written), and traces dropped then.
    pub spilled: u64,
}

/// A write under way, kept to spill it if the deadline comes first.
enum Spill {
    Usage(Box<UsageRecord>),
    Settle(Box<Settlement>),
}

impl Spill {
    fn log(&self) {
        match self {
            Spill::Usage(record) => fallback::log_unwritten_record(record),
            Spill::Settle(settlement) => fallback::log_unwritten_settlement(settlement),
        }
    }
}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    capacity: usize,
    /// Submitted and not yet finished (written, failed).
    pending: AtomicUsize,
    idle: Notify,
    /// A flush asks the drain task to look now.
    wake: Notify,
    submitted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Lambda: finished invocations by request id, waited for by the extension.
    invocations: Invocations,
    /// Lambda: the current invocation produced a response whose body signals its own end.
    body_will_signal: AtomicBool,
    traces_enabled: bool,
    /// Flushes waiting now: held traces leave at once.
    flushing: AtomicUsize,
    /// How long traces are held to be exported together, in ms (0: every drain tick).
    trace_window_ms: AtomicU64,
    /// Records and settlements being written, by write number.
    writing: Mutex<std::collections::HashMap<u64, Spill>>,
    next_write: AtomicU64,
    spilled: AtomicU64,
    /// How long before an invocation's deadline the work stops, in ms.
    deadline_margin_ms: AtomicU64,
}

/// The queue's handle: cheap to clone, shared by the pipeline and the Lambda extension.
#[derive(Clone)]
pub struct AfterResponse {
    shared: Arc<Shared>,
}

impl AfterResponse {
    /// Starts the drain task on the current Tokio runtime, without traces or metrics.
    #[cfg(test)]
    pub fn start(capacity: usize, sink: Arc<dyn UsageSink>) -> AfterResponse {
        Self::start_with_telemetry(capacity, sink, Telemetry::off())
    }

    /// Starts the drain task: usage records to `sink`, and `telemetry`'s traces and metrics.
    pub fn start_with_telemetry(
        capacity: usize,
        sink: Arc<dyn UsageSink>,
        telemetry: Telemetry,
    ) -> AfterResponse {
        Self::start_with_live(capacity, sink, telemetry, None)
    }

    /// As [`AfterResponse::start_with_telemetry`], and `live` may pick finished requests
    /// (traced ones) to judge, as more work on this queue.
    pub fn start_with_live(
        capacity: usize,
        sink: Arc<dyn UsageSink>,
        telemetry: Telemetry,
        live: Option<Arc<dyn LiveEvaluator>>,
    ) -> AfterResponse {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            wake: Notify::new(),
            submitted: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            invocations: Invocations::default(),
            body_will_signal: AtomicBool::new(false),
            traces_enabled: telemetry.traces_enabled(),
            flushing: AtomicUsize::new(0),
            trace_window_ms: AtomicU64::new(0),
            writing: Mutex::new(std::collections::HashMap::new()),
            next_write: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            deadline_margin_ms: AtomicU64::new(millis(
                crate::config::UsageSettings::DEFAULT_DEADLINE_MARGIN,
            )),
        });
        tokio::spawn(drain(Arc::clone(&shared), sink, telemetry, live));
        AfterResponse { shared }
    }

    /// Queues a job without waiting; when the queue is full the job is dropped, logged and
    /// counted.
    pub fn submit(&self, job: Job) {
        self.shared.submitted.fetch_add(1, Ordering::Relaxed);
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        let refused = {
            let mut queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if queue.len() < self.shared.capacity {
                queue.push_back(job);
                None
            } else {
                Some(job)
            }
        };
        if let Some(job) = refused {
            // Not lost: the fallback line is replayable into the store.
            match &job {
                Job::Usage(record) => fallback::log_unwritten_record(record),
                Job::Settle(settle) => fallback::log_unwritten_settlement(&settle.settlement),
                Job::Trace(_) => {}
            }
            let request_id = job.request_id();
            let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // The first loss, then every thousandth: a flood of lines would make things worse.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::error!(%request_id, dropped, "after-response queue full: job dropped");
            }
            self.finish_one();
        }
    }

    /// Waits until every job submitted so far has been written or has failed.
    pub async fn flush(&self) {
        let _flushing = Flushing::new(&self.shared);
        loop {
            let idle = self.shared.idle.notified();
            if self.shared.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            self.shared.wake.notify_one();
            idle.await;
        }
    }

    /// Waits as [`AfterResponse::flush`] does, until `deadline` at most; then spills what is
    /// left ([`AfterResponse::spill`]). `true` when everything was written in time.
    pub async fn flush_until(&self, deadline: tokio::time::Instant) -> bool {
        if tokio::time::timeout_at(deadline, self.flush())
            .await
            .is_ok()
        {
            return true;
        }
        self.spill();
        false
    }

    /// Sends every record and settlement still queued or being written to the fallback line
    /// (replayable: `gateway-admin replay-usage`), and drops queued traces; how many jobs it
    /// spilled. Writes under way go on, and one that lands makes its replay a duplicate.
    pub fn spill(&self) -> u64 {
        let queued: Vec<Job> = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        let mut spilled = 0;
        for job in queued {
            match &job {
                Job::Usage(record) => fallback::log_unwritten_record(record),
                Job::Settle(settle) => fallback::log_unwritten_settlement(&settle.settlement),
                Job::Trace(_) => {}
            }
            spilled += 1;
            self.finish_one();
        }
        for write in self
            .shared
            .writing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            write.log();
            spilled += 1;
        }
        if spilled > 0 {
            self.shared.spilled.fetch_add(spilled, Ordering::Relaxed);
            tracing::warn!(
                spilled,
                "after-response work unfinished before the deadline: sent to the fallback line"
            );
        }
        spilled
    }

    /// Lambda: how long before an invocation's deadline the after-response work stops.
    pub fn with_deadline_margin(self, margin: Duration) -> Self {
        self.shared
            .deadline_margin_ms
            .store(millis(margin), Ordering::Relaxed);
        self
    }

    pub fn deadline_margin(&self) -> Duration {
        Duration::from_millis(self.shared.deadline_margin_ms.load(Ordering::Relaxed))
    }

    /// Holds finished requests' traces up to `window` to export them together (the local
    /// server; Lambda exports each invocation's before the extension lets the sandbox freeze).
    pub fn batch_traces(&self, window: Duration) {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.shared.trace_window_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether requests should capture what their spans need.
    pub fn traces_enabled(&self) -> bool {
        self.shared.traces_enabled
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            submitted: self.shared.submitted.load(Ordering::Relaxed),
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            spilled: self.shared.spilled.load(Ordering::Relaxed),
        }
    }

    /// Lambda: an invocation's response has gone and its jobs are submitted; `request_id` as
    /// [`AfterResponse::current_invocation`] gave it, or `None` for the current one.
    pub fn invocation_done(&self, request_id: Option<String>) {
        self.shared.invocations.finished(request_id);
    }

    /// Lambda: an invocation begins (the runtime received it).
    pub fn invocation_started(&self, request_id: &str) {
        self.shared.body_will_signal.store(false, Ordering::Release);
        self.shared.invocations.started(request_id);
    }

    /// Lambda: the request id of the invocation the runtime is working on.
    pub fn current_invocation(&self) -> Option<String> {
        self.shared.invocations.current()
    }

    /// Lambda: the handler made a response whose body calls [`AfterResponse::invocation_done`]
    /// when it is dropped (a stream may outlive the runtime's call).
    pub fn response_body_will_signal(&self) {
        self.shared.body_will_signal.store(true, Ordering::Release);
    }

    /// Lambda: the runtime finished the invocation (response sent, or an error reported: the
    /// event did not parse, the handler panicked). Signals its end unless the body will.
    pub fn invocation_finished(&self) {
        if !self.shared.body_will_signal.swap(false, Ordering::AcqRel) {
            self.invocation_done(None);
        }
    }

    /// Lambda: waits until the invocation `request_id` is done.
    pub async fn invocation_done_for(&self, request_id: &str) {
        self.shared.invocations.wait_for(request_id).await;
    }

    fn finish_one(&self) {
        finish_one(&self.shared);
    }

    /// Work outside the queue that a flush must wait for (a response-cache write in DynamoDB,
    /// made in a task of its own): [`AfterResponse::flush`], and so the Lambda extension's hold,
    /// waits until the returned guard is dropped. Not counted in [`QueueStats`]; past the
    /// deadline it is abandoned like a trace (a cache write that never lands is a later miss).
    pub fn hold(&self) -> Held {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        Held(Arc::clone(&self.shared))
    }
}

/// Outside work a flush waits for ([`AfterResponse::hold`]); done when dropped.
pub struct Held(Arc<Shared>);

impl Drop for Held {
    fn drop(&mut self) {
        finish_one(&self.0);
    }
}

/// Counts a flush in progress while it lives (a flush given up on by a timeout too).
struct Flushing<'a>(&'a Shared);

impl<'a> Flushing<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.flushing.fetch_add(1, Ordering::AcqRel);
        Flushing(shared)
    }
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        self.0.flushing.fetch_sub(1, Ordering::AcqRel);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Keeps a copy of a write under way (to spill it); its number.
fn writing(shared: &Shared, spill: Spill) -> u64 {
    let id = shared.next_write.fetch_add(1, Ordering::Relaxed);
    shared
        .writing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, spill);
    id
}

fn written(shared: &Shared, id: Option<u64>) -> Option<Spill> {
    let id = id?;
    shared
        .writing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id)
}

fn finish_one(shared: &Shared) {
    if shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.idle.notify_waiters();
    }
}

/// How one write (a usage record, or a batch of traces) ended.
struct Written {
    what: &'static str,
    /// The request id (the first one of a trace batch).
    request_id: String,
    jobs: usize,
    result: Result<Result<(), String>, Box<dyn std::any::Any + Send>>,
    /// The write's number among those kept to spill.
    write: Option<u64>,
}

async fn drain(
    shared: Arc<Shared>,
    sink: Arc<dyn UsageSink>,
    telemetry: Telemetry,
    live: Option<Arc<dyn LiveEvaluator>>,
) {
    let mut writes = FuturesUnordered::new();
    let mut batch = TraceBatch::default();
    let mut tick = tokio::time::interval(DRAIN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = CONCURRENT_WRITES.saturating_sub(writes.len());
        let jobs: Vec<Job> = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let take = room.min(queue.len());
            queue.drain(..take).collect()
        };
        let now = Instant::now();
        for job in jobs {
            match job {
                Job::Usage(record) => {
                    if let Some(metrics) = &telemetry.metrics {
                        metrics.write(&record);
                    }
                    let sink = Arc::clone(&sink);
                    let write = writing(&shared, Spill::Usage(record.clone()));
                    writes.push(
                        async move {
                            // A panicking sink fails its record, not the drain task.
                            let result = AssertUnwindSafe(sink.write(&record))
                                .catch_unwind()
                                .await
                                .map(|r| r.map_err(|e| e.to_string()));
                            Written {
                                what: "usage record",
                                request_id: record.request_id,
                                jobs: 1,
                                result,
                                write: Some(write),
                            }
                        }
                        .boxed(),
                    );
                }
                Job::Trace(trace) => {
                    if let Some(work) = live.as_ref().and_then(|l| l.sample(&trace)) {
                        // One more piece of work the flush waits for.
                        shared.pending.fetch_add(1, Ordering::AcqRel);
                        let request_id = trace.record.request_id.clone();
                        writes.push(
                            async move {
                                let result = AssertUnwindSafe(work).catch_unwind().await;
                                Written {
                                    what: "live evaluation",
                                    request_id,
                                    jobs: 1,
                                    result,
                                    write: None,
                                }
                            }
                            .boxed(),
                        );
                    }
                    batch.push(*trace, now);
                }
                Job::Settle(job) => {
                    let write = writing(&shared, Spill::Settle(Box::new(job.settlement.clone())));
                    writes.push(
                        async move {
                            let request_id = job.settlement.plan.request_id.clone();
                            let result = AssertUnwindSafe(job.store.settle(&job.settlement))
                                .catch_unwind()
                                .await
                                .map(|r| {
                                    r.map_err(|e| {
                                        format!("{e} (kept in the fallback line to replay)")
                                    })
                                });
                            Written {
                                what: "budget settlement",
                                request_id,
                                jobs: 1,
                                result,
                                write: Some(write),
                            }
                        }
                        .boxed(),
                    );
                }
            }
        }
        let window = Duration::from_millis(shared.trace_window_ms.load(Ordering::Relaxed));
        let flushing = shared.flushing.load(Ordering::Acquire) > 0;
        if let Some(traces) = batch.take_due(now, window, flushing) {
            let phoenix = telemetry.phoenix.clone();
            writes.push(
                async move {
                    let request_id = traces[0].record.request_id.clone();
                    let jobs = traces.len();
                    let result = match phoenix {
                        Some(phoenix) => AssertUnwindSafe(phoenix.export(&traces))
                            .catch_unwind()
                            .await
                            .map(|r| r.map(drop)),
                        None => Ok(Ok(())),
                    };
                    Written {
                        what: "trace spans",
                        request_id,
                        jobs,
                        result,
                        write: None,
                    }
                }
                .boxed(),
            );
        }
        tokio::select! {
            Some(done) = writes.next(), if !writes.is_empty() => {
                let Written { what, request_id, jobs, result, write } = done;
                let jobs_u64 = u64::try_from(jobs).unwrap_or(u64::MAX);
                let kept = written(&shared, write);
                // A settlement the store refused is replayable from its fallback line; a record
                // is put there by its sink once its attempts are spent.
                if let (Some(spill @ Spill::Settle(_)), Ok(Err(_)) | Err(_)) = (&kept, &result) {
                    spill.log();
                }
                match result {
                    Ok(Ok(())) => {
                        shared.written.fetch_add(jobs_u64, Ordering::Relaxed);
                        tracing::debug!(%request_id, requests = jobs, "{what} written");
                    }
                    Ok(Err(err)) => {
                        shared.failed.fetch_add(jobs_u64, Ordering::Relaxed);
                        tracing::error!(%request_id, requests = jobs, error = %err, "{what} not written");
                    }
                    Err(_) => {
                        shared.failed.fetch_add(jobs_u64, Ordering::Relaxed);
                        tracing::error!(%request_id, requests = jobs, "the {what} writer panicked; lost");
                    }
                }
                for _ in 0..jobs {
                    finish_one(&shared);
                }
            }
            _ = tick.tick() => {}
            () = shared.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{MemoryUsageSink, UsageSinkError};
    use futures_util::future::BoxFuture;

    fn record(id: &str) -> UsageRecord {
        UsageRecord {
            request_id: id.to_owned(),
            ..UsageRecord::default()
        }
    }

    /// Holds every write until the gate opens.
    struct Gated {
        gate: tokio::sync::Semaphore,
        inner: MemoryUsageSink,
    }

    impl UsageSink for Gated {
        fn write<'a>(&'a self, r: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
            Box::pin(async move {
                let _open = self.gate.acquire().await;
                self.inner.write(r).await
            })
        }
    }

    struct Failing;
    impl UsageSink for Failing {
        fn write<'a>(&'a self, _: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
            Box::pin(std::future::ready(Err(UsageSinkError("down".into()))))
        }
    }

    struct Panicking;
    impl UsageSink for Panicking {
        fn write<'a>(&'a self, _: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
            Box::pin(async { panic!("a sink bug") })
        }
    }

    #[tokio::test]
    async fn submit_never_waits_and_flush_waits_for_the_writes() {
        let sink = Arc::new(Gated {
            gate: tokio::sync::Semaphore::new(0),
            inner: MemoryUsageSink::default(),
        });
        let queue = AfterResponse::start(8, sink.clone());
        queue.submit(Job::Usage(Box::new(record("a"))));
        queue.submit(Job::Usage(Box::new(record("b"))));
        let flushed = tokio::time::timeout(std::time::Duration::from_millis(50), queue.flush());
        assert!(flushed.await.is_err(), "flush returned with writes held");
        sink.gate.add_permits(2);
        queue.flush().await;
        assert_eq!(sink.inner.records().len(), 2);
        assert_eq!(
            queue.stats(),
            QueueStats {
                submitted: 2,
                written: 2,
                dropped: 0,
                failed: 0,
                spilled: 0,
            }
        );
    }

    #[tokio::test]
    async fn flush_waits_for_held_outside_work_which_is_not_counted_as_a_job() {
        let queue = AfterResponse::start(8, Arc::new(MemoryUsageSink::default()));
        let held = queue.hold();
        let flushed = tokio::time::timeout(std::time::Duration::from_millis(50), queue.flush());
        assert!(flushed.await.is_err(), "flush returned while work was held");
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.flush().await }
        });
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("flush returns once the work is done")
            .unwrap();
        assert_eq!(queue.stats(), QueueStats::default());
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_and_failures_are_counted() {
        let sink = Arc::new(Gated {
            gate: tokio::sync::Semaphore::new(0),
            inner: MemoryUsageSink::default(),
        });
        let queue = AfterResponse::start(1, sink.clone());
        // The drain task takes jobs out of the channel while their writes wait at the gate, so
        // more than the capacity is in flight; submit until one is dropped.
        for i in 0..(CONCURRENT_WRITES + 4) {
            queue.submit(Job::Usage(Box::new(record(&i.to_string()))));
            tokio::task::yield_now().await;
        }
        assert!(queue.stats().dropped >= 1, "{:?}", queue.stats());
        sink.gate.add_permits(1000);
        queue.flush().await;
        let stats = queue.stats();
        assert_eq!(stats.written + stats.dropped, stats.submitted);

        let failing = AfterResponse::start(4, Arc::new(Failing));
        failing.submit(Job::Usage(Box::new(record("x"))));
        failing.flush().await;
        assert_eq!(failing.stats().failed, 1);

        let panicking = AfterResponse::start(4, Arc::new(Panicking));
        panicking.submit(Job::Usage(Box::new(record("p"))));
        panicking.flush().await;
        panicking.submit(Job::Usage(Box::new(record("q"))));
        panicking.flush().await;
        assert_eq!(
            panicking.stats().failed,
            2,
            "the drain task survives a panicking sink"
        );
    }

    #[tokio::test]
    async fn batched_traces_wait_for_their_window_or_a_flush() {
        let trace = |id: &str| {
            Job::Trace(Box::new(RequestTrace {
                record: record(id),
                capture: crate::observability::TraceCapture::new(Instant::now(), None),
                ended: Instant::now(),
                cost_split: None,
            }))
        };
        // Lambda: no window, each trace leaves on the next tick.
        let lambda = AfterResponse::start(8, Arc::new(MemoryUsageSink::default()));
        lambda.submit(trace("a"));
        tokio::time::sleep(DRAIN_INTERVAL * 10).await;
        assert_eq!(lambda.stats().written, 1);
        // The local server: held for the window, all gone on a flush.
        let local = AfterResponse::start(8, Arc::new(MemoryUsageSink::default()));
        local.batch_traces(Duration::from_secs(3600));
        local.submit(trace("b"));
        local.submit(trace("c"));
        tokio::time::sleep(DRAIN_INTERVAL * 10).await;
        assert_eq!(local.stats().written, 0, "held for the window");
        local.flush().await;
        assert_eq!(local.stats().written, 2);
        // A short window lets them go on their own.
        local.batch_traces(Duration::from_millis(50));
        local.submit(trace("d"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(local.stats().written, 3);
    }

    #[tokio::test]
    async fn one_signal_per_invocation_whoever_finishes_last() {
        let queue = AfterResponse::start(1, Arc::new(MemoryUsageSink::default()));
        let signals = || queue.shared.invocations.finished_count();
        // An event the handler never saw (or a panic): the runtime's end signals.
        queue.invocation_started("a");
        queue.invocation_finished();
        assert_eq!(signals(), 1);
        // A response body that is dropped after the runtime's call returned (and after the
        // next invocation began): it names its own invocation.
        queue.invocation_started("b");
        queue.response_body_will_signal();
        let body = queue.current_invocation();
        queue.invocation_finished();
        assert_eq!(signals(), 1);
        queue.invocation_started("c");
        queue.invocation_done(body);
        assert_eq!(signals(), 2);
        queue.invocation_done_for("b").await;
        // A body dropped before the runtime's call returned.
        queue.response_body_will_signal();
        queue.invocation_done(queue.current_invocation());
        queue.invocation_finished();
        assert_eq!(signals(), 2);
        queue.invocation_done_for("c").await;
        queue.invocation_done_for("a").await;
        assert_eq!(signals(), 0);
    }

    #[tokio::test]
    async fn the_extension_waits_for_the_invocation_its_event_names() {
        let queue = AfterResponse::start(1, Arc::new(MemoryUsageSink::default()));
        let not_yet = |id: &'static str| {
            let queue = queue.clone();
            async move {
                tokio::time::timeout(
                    std::time::Duration::from_millis(20),
                    queue.invocation_done_for(id),
                )
                .await
                .is_err()
            }
        };
        queue.invocation_started("1");
        assert!(not_yet("1").await, "not finished yet");
        queue.invocation_finished();
        queue.invocation_done_for("1").await;
        assert!(not_yet("1").await, "each finish is taken once");
        // An INVOKE event the extension missed ("2") does not shift the next hold onto it.
        queue.invocation_started("2");
        queue.invocation_finished();
        queue.invocation_started("3");
        assert!(not_yet("3").await, "3 is still running");
        queue.invocation_finished();
        queue.invocation_done_for("3").await;
        // An event for an invocation this process never starts (an emulator's event for another
        // function) ends its hold after the grace, instead of holding forever.
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            queue.invocation_done_for("elsewhere"),
        );
        assert!(gave_up.await.is_ok());
    }
}
