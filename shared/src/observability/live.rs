//! The seam for work that judges finished requests on the after-response queue (the online
//! evaluator of `evaluation::online`): it sees each finished request's trace and may return a
//! piece of work, which the queue runs like a write (counted, flushed, never before the
//! response is sent).

use futures_util::future::BoxFuture;

use super::RequestTrace;

/// Picks the finished requests to judge.
pub trait LiveEvaluator: Send + Sync {
    /// The work for `trace`, when it is sampled (the evaluator's own limits already taken).
    fn sample(&self, trace: &RequestTrace) -> Option<BoxFuture<'static, Result<(), String>>>;
}
