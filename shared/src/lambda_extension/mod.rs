//! An internal Lambda extension that holds the sandbox open after each response until the
//! after-response queue has been written.
//!
//! Lambda freezes a sandbox once the runtime has sent its response and every extension has
//! asked for its next event. This extension, registered from inside the function's own process
//! for INVOKE events, waits for the invocation to be finished ([`InvocationLayer`] on the
//! runtime, or the chat API's response body when it is dropped) and then for
//! [`AfterResponse::flush`]: the answer has already gone, and the records leave before the
//! freeze. It must be registered before the runtime first asks for an invocation.
//!
//! `invocations` keeps the bookkeeping of which invocations have finished, by request id.

pub(crate) mod invocations;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_extension::{service_fn, Extension, LambdaEvent, NextEvent};
use lambda_runtime::{LambdaInvocation, Service};
use tower::Layer;

use crate::after_response::AfterResponse;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps the Lambda runtime's service: every invocation, including one whose event does not
/// parse or whose handler panics, tells the queue when the runtime is done with it.
#[derive(Clone)]
pub struct InvocationLayer {
    after: AfterResponse,
}

impl InvocationLayer {
    pub fn new(after: AfterResponse) -> Self {
        InvocationLayer { after }
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            after: self.after.clone(),
        }
    }
}

pub struct InvocationService<S> {
    inner: S,
    after: AfterResponse,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
{
    type Response = ();
    type Error = BoxError;
    type Future = InvocationFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        self.after
            .invocation_started(&invocation.context.request_id);
        InvocationFuture {
            call: Box::pin(self.inner.call(invocation)),
            finished: Some(self.after.clone()),
        }
    }
}

/// The runtime's work on one invocation; reports it finished when done, or when dropped.
pub struct InvocationFuture<F> {
    call: Pin<Box<F>>,
    finished: Option<AfterResponse>,
}

impl<F: Future> Future for InvocationFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let output = std::task::ready!(self.call.as_mut().poll(cx));
        if let Some(after) = self.finished.take() {
            after.invocation_finished();
        }
        Poll::Ready(output)
    }
}

impl<F> Drop for InvocationFuture<F> {
    fn drop(&mut self) {
        if let Some(after) = self.finished.take() {
            after.invocation_finished();
        }
    }
}

/// The name Lambda lists the extension under.
pub const NAME: &str = "gateway-after-response";

/// Set by Lambda (and its emulators) to the function's name.
pub const FUNCTION_NAME_VAR: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// Whether an INVOKE event's function ARN names a function other than `ours`. Lambda sends an
/// extension only its own function's events; an emulator running several functions (`cargo
/// lambda watch`) sends every event to every extension.
fn for_another_function(arn: &str, ours: Option<&str>) -> bool {
    let Some(ours) = ours else { return false };
    let mut parts = arn
        .split(':')
        .skip_while(|part| *part != "function")
        .skip(1);
    parts.next().is_some_and(|name| name != ours)
}

/// Registers the extension and runs its event loop in the background. Without it (an
/// emulator that has no Extensions API), the queue still drains in the background, but a
/// frozen sandbox may hold records until its next invocation; that is logged.
pub async fn register(after: &AfterResponse) -> bool {
    let queue = after.clone();
    let function: Option<std::sync::Arc<str>> = crate::env::Environment::from_process()
        .get(FUNCTION_NAME_VAR)
        .map(Into::into);
    let events = service_fn(move |event: LambdaEvent| {
        let queue = queue.clone();
        let function = function.clone();
        async move {
            if let NextEvent::Invoke(invoke) = event.next {
                if for_another_function(&invoke.invoked_function_arn, function.as_deref()) {
                    tracing::debug!(arn = %invoke.invoked_function_arn, "INVOKE event for another function; not held");
                } else {
                    hold_until_written(&queue, &invoke.request_id, invoke.deadline_ms).await;
                }
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });
    let extension = Extension::new()
        .with_extension_name(NAME)
        .with_events(&["INVOKE"])
        .with_events_processor(events);
    match extension.register().await {
        Ok(registered) => {
            tokio::spawn(async move {
                if let Err(err) = registered.run().await {
                    tracing::warn!(error = %err, "after-response extension stopped");
                }
            });
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "after-response extension not registered; records are written in the background without holding the sandbox");
            false
        }
    }
}

/// Waits for the invocation `request_id`'s response to finish and its jobs to be written, at
/// most until [`stop_at`]: the deadline less the queue's margin. What is left then goes to the
/// replayable fallback line ([`AfterResponse::spill`]) before the sandbox may freeze.
async fn hold_until_written(after: &AfterResponse, request_id: &str, deadline_ms: u64) {
    let work = async {
        after.invocation_done_for(request_id).await;
        after.flush().await;
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // `cargo lambda`'s emulator sends a duration here rather than an epoch instant.
    if deadline_ms < crate::deadline::PLAUSIBLE_EPOCH_MS {
        work.await;
    } else {
        let left = stop_at(deadline_ms, now_ms, after.deadline_margin());
        if tokio::time::timeout(left, work).await.is_err() {
            let spilled = after.spill();
            tracing::warn!(spilled, stats = ?after.stats(), "after-response work unfinished before the invocation's deadline; the rest is in the fallback line");
            return;
        }
    }
    tracing::debug!(stats = ?after.stats(), "after-response work written; the sandbox may freeze");
}

/// How long the hold may last: until `margin` before the deadline (none when less is left).
fn stop_at(deadline_ms: u64, now_ms: u64, margin: Duration) -> Duration {
    let margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(deadline_ms.saturating_sub(margin_ms).saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::{for_another_function, stop_at};
    use std::time::Duration;

    #[test]
    fn the_hold_stops_its_margin_before_the_deadline() {
        let margin = Duration::from_millis(500);
        assert_eq!(stop_at(10_000, 7_000, margin), Duration::from_millis(2_500));
        assert_eq!(stop_at(10_000, 9_600, margin), Duration::ZERO);
        assert_eq!(stop_at(10_000, 12_000, margin), Duration::ZERO);
        assert_eq!(
            stop_at(10_000, 7_000, Duration::ZERO),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn events_for_other_functions_are_told_apart_by_their_arn() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:lex";
        assert!(for_another_function(arn, Some("chat")));
        assert!(!for_another_function(arn, Some("lex")));
        assert!(!for_another_function(&format!("{arn}:live"), Some("lex")));
        assert!(!for_another_function(arn, None));
        assert!(!for_another_function("not-an-arn", Some("chat")));
    }
}
